import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import './bridge';
import { App } from './app/App';
import { createCustosStore } from './store';
import { StoreProvider } from './store/context';
import './styles.css';

const store = createCustosStore(window.custos);
createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <StoreProvider store={store}>
      <App />
    </StoreProvider>
  </StrictMode>,
);
