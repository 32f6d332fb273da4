import { useState, type FormEvent } from 'react';
import type { ComplianceView, Finding } from '../../../shared/compliance';
import { emptyProof, FactorFields } from '../app/FactorFields';
import { useCustos } from '../store/context';

/** The compliance page: the findings as of a date (signed on demand), the keys charted, controls and modules. */
export function CompliancePage() {
  const load = useCustos((s) => s.loadReports);
  const compliance = useCustos((s) => s.compliance);
  const [asOf, setAsOf] = useState('');
  return (
    <>
      <section className="card" aria-labelledby="compliance-title">
        <h2 id="compliance-title">Findings{compliance ? ` as of ${compliance.asOf.slice(0, 10)}` : ''}</h2>
        <form
          className="inline"
          onSubmit={(e) => {
            e.preventDefault();
            void load(asOf || undefined);
          }}
        >
          <label htmlFor="as-of">Look at another date (YYYY-MM-DD)</label>
          {/* A text field: a date input shows the browser's locale format, not the one the label asks for. */}
          <input
            id="as-of"
            type="text"
            inputMode="numeric"
            pattern="\d{4}-\d{2}-\d{2}"
            placeholder="2030-12-31"
            value={asOf}
            onChange={(e) => setAsOf(e.target.value)}
          />
          <button type="submit">Analyse</button>
        </form>
        {compliance && <Findings findings={compliance.findings} />}
        <SignCompliance asOf={asOf} />
      </section>
      {compliance && <Charts view={compliance} />}
      <Controls />
      <Modules />
    </>
  );
}

function Findings({ findings }: { findings: Finding[] }) {
  if (findings.length === 0) return <p className="good">Nothing to report: no finding.</p>;
  return (
    <ul className="findings" aria-label="Findings">
      {findings.map((f) => (
        <li key={`${f.rule}/${f.subject}`} className={`finding severity-${f.severity}`}>
          <strong>
            <span className="badge">{f.severity}</span> {f.title}
          </strong>
          <div className="muted">Evidence: {f.evidence.join('; ')}</div>
          <div>What to do: {f.fix}</div>
          <div className="muted">Controls: {f.controls.join(', ')}</div>
        </li>
      ))}
    </ul>
  );
}

/** Keys by state and the expiry timeline, as simple SVG with the same numbers in text beside it. */
function Charts({ view }: { view: ComplianceView }) {
  const states = Object.entries(view.keysByState);
  const max = Math.max(1, ...states.map(([, n]) => n));
  const now = new Date(view.asOf).getTime();
  const horizon = 3 * 365 * 86_400_000;
  if (states.length === 0) {
    return (
      <section className="card" aria-labelledby="charts-title">
        <h2 id="charts-title">Keys at a glance</h2>
        <p>
          No keys yet, so there is nothing to chart. Keys are proposed on the Keys screen; they appear here once the
          quorum has generated them.
        </p>
      </section>
    );
  }
  return (
    <section className="card" aria-labelledby="charts-title">
      <h2 id="charts-title">Keys at a glance</h2>
      <div className="charts">
        <figure>
          <figcaption>Keys by state</figcaption>
          <svg
            role="img"
            aria-label={`Keys by state: ${states.map(([s, n]) => `${s} ${n}`).join(', ') || 'no keys'}`}
            width="320"
            height={Math.max(24, states.length * 24)}
          >
            {states.map(([state, n], i) => (
              <g key={state} transform={`translate(0 ${i * 24})`}>
                <text x="0" y="15" fontSize="12">
                  {state}
                </text>
                <rect x="110" y="4" width={(n / max) * 180} height="14" fill="#3b6ea5" />
                <text x={116 + (n / max) * 180} y="15" fontSize="12">
                  {n}
                </text>
              </g>
            ))}
          </svg>
        </figure>
        <figure>
          <figcaption>Cryptoperiod ends over the next three years</figcaption>
          <svg
            role="img"
            aria-label={`Expiry timeline: ${view.expiries.map((k) => `${k.label} ${k.expiresAt.slice(0, 10)}`).join(', ') || 'no keys'}`}
            width="420"
            height={Math.max(24, view.expiries.length * 22 + 20)}
          >
            <line x1="150" x2="410" y1="4" y2="4" stroke="#999" />
            {view.expiries.map((k, i) => {
              const left = Math.max(0, Math.min(1, (new Date(k.expiresAt).getTime() - now) / horizon));
              return (
                <g key={k.id} transform={`translate(0 ${i * 22 + 12})`}>
                  <text x="0" y="12" fontSize="12">
                    {k.label.slice(0, 20)}
                  </text>
                  <rect
                    x="150"
                    y="3"
                    width={Math.max(2, left * 260)}
                    height="12"
                    fill={left < 30 / (3 * 365) ? '#b3261e' : '#3b6ea5'}
                  />
                  <text x={156 + left * 260} y="12" fontSize="11">
                    {k.expiresAt.slice(0, 10)}
                  </text>
                </g>
              );
            })}
          </svg>
        </figure>
      </div>
    </section>
  );
}

function Modules() {
  const compliance = useCustos((s) => s.compliance);
  const record = useCustos((s) => s.recordValidation);
  const review = useCustos((s) => s.recordPolicyReview);
  const busy = useCustos((s) => s.reportBusy);
  const [modulePath, setModulePath] = useState('');
  const [standard, setStandard] = useState<'FIPS 140-3' | 'FIPS 140-2'>('FIPS 140-3');
  const [certificate, setCertificate] = useState('');
  const [level, setLevel] = useState(3);
  const [officer, setOfficer] = useState(emptyProof());
  const [reviewer, setReviewer] = useState(emptyProof());
  const officers = (useCustos((s) => s.custodians) ?? []).filter((c) => c.roles.includes('security-officer'));
  if (!compliance) return null;
  const submit = (event: FormEvent) => {
    event.preventDefault();
    void record({ modulePath: modulePath || compliance.modules[0]?.path || '', standard, certificate, level }, officer);
    setOfficer({ ...officer, passphrase: '', code: '' });
  };
  const submitReview = (event: FormEvent) => {
    event.preventDefault();
    void review(reviewer);
    setReviewer({ ...reviewer, passphrase: '', code: '' });
  };
  return (
    <section className="card" aria-labelledby="modules-title">
      <h2 id="modules-title">Token module validation</h2>
      <ul>
        {compliance.modules.map((m) => (
          <li key={m.path}>
            {m.description} <code>{m.path}</code>: {m.validation}
          </li>
        ))}
      </ul>
      <form onSubmit={submit} aria-label="Record a module validation">
        <p className="muted">Check the certificate on the NIST CMVP list first; Custos records what you enter.</p>
        <label htmlFor="validation-module">Module</label>
        <select id="validation-module" value={modulePath} onChange={(e) => setModulePath(e.target.value)}>
          {compliance.modules.map((m) => (
            <option key={m.path} value={m.path}>
              {m.description}
            </option>
          ))}
        </select>
        <label htmlFor="validation-standard">Standard</label>
        <select id="validation-standard" value={standard} onChange={(e) => setStandard(e.target.value as 'FIPS 140-3')}>
          <option>FIPS 140-3</option>
          <option>FIPS 140-2</option>
        </select>
        <label htmlFor="validation-certificate">Certificate number</label>
        <input
          id="validation-certificate"
          type="text"
          value={certificate}
          onChange={(e) => setCertificate(e.target.value)}
        />
        <label htmlFor="validation-level">Level</label>
        <select id="validation-level" value={level} onChange={(e) => setLevel(Number(e.target.value))}>
          {[1, 2, 3, 4].map((l) => (
            <option key={l}>{l}</option>
          ))}
        </select>
        <FactorFields
          id="validation-officer"
          label="Security officer"
          proof={officer}
          onChange={setOfficer}
          choices={officers}
        />
        <button type="submit" disabled={busy || certificate.trim().length === 0}>
          Record the validation
        </button>
      </form>
      <form onSubmit={submitReview} aria-label="Annual policy review">
        <FactorFields
          id="review-officer"
          label="Security officer recording the review"
          proof={reviewer}
          onChange={setReviewer}
          choices={officers}
        />
        <button type="submit" disabled={busy}>
          Record today’s annual policy review
        </button>
      </form>
    </section>
  );
}

function Controls() {
  const controls = useCustos((s) => s.controls) ?? [];
  if (controls.length === 0) return null;
  return (
    <section className="card" aria-labelledby="controls-title">
      <h2 id="controls-title">Controls: evidence and gaps</h2>
      <table className="data">
        <thead>
          <tr>
            <th scope="col">Control</th>
            <th scope="col">Evidence Custos holds</th>
            <th scope="col">Missing</th>
          </tr>
        </thead>
        <tbody>
          {controls.map((c) => (
            <tr key={c.control}>
              <th scope="row">
                {c.control}
                <div className="muted">{c.what}</div>
              </th>
              <td>{c.evidence.join('; ')}</td>
              <td>{c.missing.length ? c.missing.join('; ') : 'nothing found'}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

function SignCompliance({ asOf }: { asOf: string }) {
  const create = useCustos((s) => s.createReport);
  const busy = useCustos((s) => s.reportBusy);
  return (
    <button type="button" disabled={busy} onClick={() => void create({ compliance: asOf ? { asOf } : {} })}>
      Sign a compliance report (findings and controls)
    </button>
  );
}
