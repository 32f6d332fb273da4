import { useState, type FormEvent } from 'react';
import { ErrorNotice } from '../app/ErrorNotice';
import { useCustos } from '../store/context';

export function SettingsScreen() {
  const snapshot = useCustos((s) => s.snapshot);
  const status = useCustos((s) => s.status);
  const busy = useCustos((s) => s.busy);
  const error = useCustos((s) => s.tokenError);
  const setModule = useCustos((s) => s.setModule);
  const current = status?.state === 'ready' ? status.module : null;
  const [path, setPath] = useState(current?.kind === 'configured' ? current.path : '');
  const [saved, setSaved] = useState<string | null>(null);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setSaved(null);
    if (await setModule(path.trim() === '' ? null : path.trim())) setSaved('Token module saved and loaded.');
  };
  const chooseBuiltIn = async () => {
    setSaved(null);
    setPath('');
    if (await setModule(null)) setSaved('Now using the built-in SoftHSM2 rehearsal store.');
  };

  return (
    <section aria-labelledby="screen-title">
      <h1 id="screen-title">Settings</h1>
      <section aria-labelledby="module-settings" className="card">
        <h2 id="module-settings">Token module</h2>
        <p>
          Custos talks to your HSM or smartcard through its vendor’s PKCS#11 library. Leave the path empty to use the built-in SoftHSM2 software token, which is for
          rehearsal and evaluation only.
        </p>
        <p>
          In use now: {current ? <code>{current.path}</code> : <strong>none</strong>}
          {current?.kind === 'embedded-softhsm' && ' (built-in default)'}
        </p>
        <form onSubmit={(e) => void submit(e)}>
          <label htmlFor="module-path">PKCS#11 library path</label>
          <input
            id="module-path"
            type="text"
            value={path}
            onChange={(e) => setPath(e.target.value)}
            placeholder="/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so"
            spellCheck={false}
            autoComplete="off"
            aria-describedby="module-help"
          />
          <p id="module-help" className="muted">
            Examples: OpenSC <code>opensc-pkcs11.so</code>, YubiHSM 2 <code>yubihsm_pkcs11.so</code>, Thales Luna <code>libCryptoki2_64.so</code>, Entrust nShield <code>libcknfast.so</code>.
          </p>
          <div className="actions">
            <button type="submit" disabled={busy === 'module'}>
              {busy === 'module' ? 'Loading the module…' : 'Save and load'}
            </button>
            <button type="button" onClick={() => void chooseBuiltIn()} disabled={busy === 'module'}>
              Use built-in SoftHSM2
            </button>
          </div>
        </form>
        {error && <ErrorNotice error={error} title="The token module was not changed" />}
        {saved && (
          <p role="status" className="notice notice-ok">
            {saved}
          </p>
        )}
      </section>
      <section aria-labelledby="about-title" className="card">
        <h2 id="about-title">About this installation</h2>
        <dl className="facts">
          <dt>Version</dt>
          <dd>{snapshot?.version}</dd>
          <dt>Data directory</dt>
          <dd>
            <code>{snapshot?.dataDir}</code>
          </dd>
        </dl>
      </section>
    </section>
  );
}
