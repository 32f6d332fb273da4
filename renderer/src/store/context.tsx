import { createContext, useContext, type ReactNode } from 'react';
import { useStore, type StoreApi } from 'zustand';
import type { CustosState } from './index';

const StoreContext = createContext<StoreApi<CustosState> | null>(null);

export function StoreProvider({ store, children }: { store: StoreApi<CustosState>; children: ReactNode }) {
  return <StoreContext.Provider value={store}>{children}</StoreContext.Provider>;
}

export function useCustos<T>(selector: (state: CustosState) => T): T {
  const store = useContext(StoreContext);
  if (!store) throw new Error('useCustos outside StoreProvider');
  return useStore(store, selector);
}
