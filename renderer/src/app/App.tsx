import { useEffect, useState } from 'react';
import { screens, type ScreenId } from '../store/navigation-slice';
import { useCustos } from '../store/context';
import { ReportsScreen } from '../screens/ReportsScreen';
import { ApprovalsScreen } from '../screens/ApprovalsScreen';
import { AuditScreen } from '../screens/AuditScreen';
import { CeremoniesScreen } from '../screens/CeremoniesScreen';
import { CertificatesScreen } from '../screens/CertificatesScreen';
import { CustodiansScreen } from '../screens/CustodiansScreen';
import { KeysScreen } from '../screens/KeysScreen';
import { SettingsScreen } from '../screens/SettingsScreen';
import { TokensScreen } from '../screens/TokensScreen';
import { ErrorNotice } from './ErrorNotice';
import { RehearsalBanner } from './RehearsalBanner';

export function App() {
  const snapshot = useCustos((s) => s.snapshot);
  const startupError = useCustos((s) => s.startupError);
  const load = useCustos((s) => s.load);
  const screen = useCustos((s) => s.screen);
  const page = useCustos((s) => s.page);
  const navigate = useCustos((s) => s.navigate);
  const status = useCustos((s) => s.status);
  const loadRehearsal = useCustos((s) => s.loadRehearsal);
  const rehearsing = useCustos((s) => s.rehearsal.active !== null);

  useEffect(() => {
    void load();
    void loadRehearsal();
  }, [load, loadRehearsal]);

  useEffect(() => {
    // The window's title too, so that nobody mistakes a rehearsal's window for the real installation.
    document.title = rehearsing ? 'REHEARSAL — Custos' : 'Custos';
  }, [rehearsing]);

  useEffect(() => {
    // Alt+1…Alt+9 jump between sections, for custodians working from the keyboard.
    const onKey = (event: KeyboardEvent) => {
      const index = Number(event.key) - 1;
      if (event.altKey && index >= 0 && index < screens.length) {
        event.preventDefault();
        navigate(screens[index]!.id);
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [navigate]);

  useEffect(() => {
    // A page of a screen focuses its own title (SubPage); a screen's list starts at the top of the content.
    if (page === null) document.getElementById('main')?.focus();
  }, [screen, page]);

  if (startupError) {
    return (
      <main className="startup-error">
        <h1>Custos could not start</h1>
        <ErrorNotice error={startupError} title="Custos cannot open its data" />
        <p>Nothing has been written or changed. Fix the cause above, then restart Custos.</p>
      </main>
    );
  }
  if (!snapshot) return <Starting />;

  const software = status?.state === 'ready' ? status.module.software : null;
  const audit = snapshot.audit;
  return (
    <div className={rehearsing ? 'shell rehearsing' : 'shell'}>
      <a
        className="skip-link"
        href="#main"
        onClick={(event) => {
          event.preventDefault();
          document.getElementById('main')?.focus();
        }}
      >
        Skip to the screen’s content
      </a>
      <header className="topbar">
        <span className="brand">Custos</span>
        {rehearsing && <span className="badge badge-rehearsal">REHEARSAL</span>}
        {software && (
          <span className="badge badge-warning" role="note">
            Software token ({software.product}) for practice, not a FIPS-validated HSM
          </span>
        )}
      </header>
      <RehearsalBanner />
      <nav aria-label="Sections" className="sidebar">
        <ul>
          {screens.map((s, i) => (
            <li key={s.id}>
              <button
                type="button"
                aria-current={screen === s.id ? 'page' : undefined}
                onClick={() => navigate(s.id)}
                aria-keyshortcuts={`Alt+${i + 1}`}
              >
                {s.title}
              </button>
            </li>
          ))}
        </ul>
      </nav>
      <main id="main" tabIndex={-1} className="content">
        {audit.state === 'unavailable' && <ErrorNotice error={audit} title="Audit log unavailable" />}
        <Screen id={screen} />
      </main>
    </div>
  );
}

function Screen({ id }: { id: ScreenId }) {
  switch (id) {
    case 'tokens':
      return <TokensScreen />;
    case 'settings':
      return <SettingsScreen />;
    case 'audit':
      return <AuditScreen />;
    case 'custodians':
      return <CustodiansScreen />;
    case 'ceremonies':
      return <CeremoniesScreen />;
    case 'keys':
      return <KeysScreen />;
    case 'approvals':
      return <ApprovalsScreen />;
    case 'reports':
      return <ReportsScreen />;
    case 'certificates':
      return <CertificatesScreen />;
  }
}

/**
 * Until the core answers. Before it reads anything, Custos checks its whole database (seconds for a long audit log),
 * so a start that takes more than a moment says what it is waiting for and shows that it is still working.
 */
function Starting() {
  const [slow, setSlow] = useState(false);
  useEffect(() => {
    const timer = setTimeout(() => setSlow(true), 1000);
    return () => clearTimeout(timer);
  }, []);
  return (
    <main className="loading">
      <h1>Starting Custos…</h1>
      {slow && (
        <>
          <progress aria-label="Checking the database" />
          <p role="status">
            Checking the database before anything is read from it. With a long audit log this takes a few seconds.
          </p>
        </>
      )}
    </main>
  );
}
