import { useEffect, useState, type FormEvent } from 'react';
import { ErrorSummary, missingFactors, type Problem } from '../app/ErrorSummary';
import { NextStep } from '../app/NextStep';
import { Outcome } from '../app/Outcome';
import { emptyProof, FactorFields } from '../app/FactorFields';
import { useCustos } from '../store/context';

export function SettingsScreen() {
  const snapshot = useCustos((s) => s.snapshot);
  const status = useCustos((s) => s.status);
  const busy = useCustos((s) => s.busy);
  const error = useCustos((s) => s.tokenError);
  const setModule = useCustos((s) => s.setModule);
  const custodians = useCustos((s) => s.custodians);
  const loadCustodians = useCustos((s) => s.loadCustodians);
  const officers = (custodians ?? []).filter((c) => c.roles.includes('security-officer'));
  const current = status?.state === 'ready' ? status.module : null;
  const [officer, setOfficer] = useState(emptyProof());
  const [saved, setSaved] = useState<string | null>(null);
  const [problems, setProblems] = useState<Problem[]>([]);

  useEffect(() => {
    if (custodians === null) void loadCustodians();
  }, [custodians, loadCustodians]);

  const change = async (source: 'picked' | 'built-in') => {
    setSaved(null);
    // Said before the core is asked: a refused try would cost the officer an attempt.
    const missing = missingFactors(officer, 'module-officer', 'changes the module');
    setProblems(missing);
    if (missing.length > 0) return;
    const proof = officer;
    // The factors are used once; the next attempt needs a fresh code anyway.
    setOfficer({ ...officer, passphrase: '', code: '' });
    if (await setModule(source, proof))
      setSaved(
        source === 'built-in' ? 'Now using the built-in SoftHSM2 rehearsal store.' : 'Token module saved and loaded.',
      );
  };
  const submit = (event: FormEvent) => {
    event.preventDefault();
    void change('picked');
  };

  return (
    <section aria-labelledby="screen-title">
      <h1 id="screen-title">Settings</h1>
      <section aria-labelledby="module-settings" className="card">
        <h2 id="module-settings">Token module</h2>
        <p>
          Custos talks to your HSM or smartcard through its vendor’s PKCS#11 library. The built-in SoftHSM2 software
          token is for rehearsal and evaluation only.
        </p>
        <p>
          In use now: {current ? <code>{current.path}</code> : <strong>none</strong>}
          {current?.kind === 'embedded-softhsm' && ' (built-in default)'}
        </p>
        <form onSubmit={submit} aria-label="Change the token module" noValidate>
          <ErrorSummary problems={problems} error={null} link={null} />
          <p id="module-help" className="muted">
            A security officer changes the module with both factors; the change is recorded in the audit log. After the
            factors are checked, Custos asks for the library file itself. Examples: OpenSC <code>opensc-pkcs11.so</code>
            , YubiHSM 2 <code>yubihsm_pkcs11.so</code>, Thales Luna <code>libCryptoki2_64.so</code>, Entrust nShield{' '}
            <code>libcknfast.so</code>.
          </p>
          <FactorFields
            id="module-officer"
            label="Security officer"
            proof={officer}
            onChange={setOfficer}
            choices={officers}
          />
          {officers.length === 0 && custodians !== null && (
            <NextStep screen="custodians" action="Go to Custodians">
              No security officer is enrolled yet, so nobody can change the module. Enrol one on the Custodians screen
              first.
            </NextStep>
          )}
          <div className="actions">
            <button type="submit" disabled={busy === 'module'} aria-describedby="module-help">
              {busy === 'module' ? 'Loading the module…' : 'Choose a library file…'}
            </button>
            <button type="button" onClick={() => void change('built-in')} disabled={busy === 'module'}>
              Use built-in SoftHSM2
            </button>
          </div>
        </form>
        <Outcome error={error} errorTitle="The token module was not changed" notice={saved} />
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
