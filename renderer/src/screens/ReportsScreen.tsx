import { useEffect, useState, type FormEvent } from 'react';
import { actionTitle } from '../../../shared/actions';
import type { ComplianceView, Finding } from '../../../shared/compliance';
import { emptyProof, FactorFields } from '../app/FactorFields';
import { MarkdownDocument } from '../app/MarkdownDocument';
import { Outcome } from '../app/Outcome';
import { useCustos } from '../store/context';

/** Reports and compliance: signed ceremony reports, the policy analyzer, controls and the practice statement. */
export function ReportsScreen() {
  const load = useCustos((s) => s.loadReports);
  const loadQuorum = useCustos((s) => s.loadQuorum);
  const loadKeys = useCustos((s) => s.loadKeys);
  const compliance = useCustos((s) => s.compliance);
  const error = useCustos((s) => s.reportError);
  const notice = useCustos((s) => s.reportNotice);
  const [asOf, setAsOf] = useState('');
  useEffect(() => {
    void load();
    void loadQuorum();
    void loadKeys();
  }, [load, loadQuorum, loadKeys]);
  return (
    <section aria-labelledby="screen-title">
      <h1 id="screen-title">Reports and compliance</h1>
      <Outcome error={error} errorTitle="That did not work" notice={notice} />
      <section className="card" aria-labelledby="compliance-title">
        <h2 id="compliance-title">Compliance findings{compliance ? ` as of ${compliance.asOf.slice(0, 10)}` : ''}</h2>
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
      <ReportMaker />
      <Modules />
      <Controls />
      <PracticeStatement />
    </section>
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

function ReportMaker() {
  const proposals = (useCustos((s) => s.proposals) ?? []).filter((p) => p.state === 'executed' || p.state === 'failed');
  const custodies = useCustos((s) => s.custodies) ?? [];
  const reports = useCustos((s) => s.reports) ?? [];
  const create = useCustos((s) => s.createReport);
  const busy = useCustos((s) => s.reportBusy);
  const made = new Set(reports.map((r) => r.ceremonyId));
  // A key once marked compromised stays reportable: its impact report also says where copies went after.
  const compromised = (useCustos((s) => s.keys) ?? []).filter((k) => k.compromiseReason !== null);
  return (
    <section className="card" aria-labelledby="reports-title">
      <h2 id="reports-title">Signed reports</h2>
      <p className="muted">
        Each report is signed by the audit key and carries every entry of its ceremony with a proof; an auditor checks
        it with openssl or custos report verify.
      </p>
      <button type="button" disabled={busy} onClick={() => void create({ inventory: true })}>
        Make a key inventory report
      </button>
      <table className="data">
        <thead>
          <tr>
            <th scope="col">Ceremony</th>
            <th scope="col">Outcome</th>
            <th scope="col">Report</th>
          </tr>
        </thead>
        <tbody>
          {proposals.map((p) => (
            <tr key={p.id}>
              <th scope="row">
                {actionTitle(p.action)} on “{p.token.label}” <code>{p.shortFingerprint}</code>
              </th>
              <td>{p.state}</td>
              <td>
                <button
                  type="button"
                  disabled={busy}
                  onClick={() => void create({ proposalId: p.id })}
                  aria-label={`Make the signed report of ${actionTitle(p.action)} ${p.shortFingerprint}`}
                >
                  {made.has(p.id) ? 'Make it again' : 'Make the signed report'}
                </button>
              </td>
            </tr>
          ))}
          {compromised.map((k) => (
            <tr key={k.id}>
              <th scope="row">
                compromised key “{k.label}” ({k.algorithm}, {k.token.label})
              </th>
              <td>{k.state}</td>
              <td className="actions">
                <button
                  type="button"
                  disabled={busy}
                  onClick={() => void create({ impact: { keyId: k.id } })}
                  aria-label={`Make the compromise impact report of ${k.label}`}
                >
                  Impact report
                </button>
                <button
                  type="button"
                  disabled={busy}
                  onClick={() => void create({ revocation: { keyId: k.id } })}
                  aria-label={`Sign the revocation notice of ${k.label} again`}
                >
                  Revocation notice
                </button>
              </td>
            </tr>
          ))}
          {custodies.map((c) => (
            <tr key={c.id}>
              <th scope="row">
                custody of “{c.token.label}” ({c.threshold} of {c.holders.length})
              </th>
              <td>{c.state}</td>
              <td>
                <button
                  type="button"
                  disabled={busy}
                  onClick={() => void create({ custodyId: c.id })}
                  aria-label={`Make the signed report of the custody of ${c.token.label}`}
                >
                  {made.has(c.id) ? 'Make it again' : 'Make the signed report'}
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <WitnessForm
        ceremonies={[
          ...proposals.map((p) => ({
            id: p.id,
            label: `${actionTitle(p.action)} on “${p.token.label}” ${p.shortFingerprint}`,
          })),
          ...custodies.map((c) => ({ id: c.id, label: `custody of “${c.token.label}”` })),
        ]}
      />
      {reports.length > 0 && (
        <ul aria-label="Reports made">
          {reports.map((r) => (
            <li key={r.id}>
              {r.createdAt.slice(0, 16).replace('T', ' ')} — {r.type} — report <code>{r.id}</code>, SHA-256{' '}
              <code>{r.sha256.slice(0, 16)}…</code>
            </li>
          ))}
        </ul>
      )}
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

function PracticeStatement() {
  const text = useCustos((s) => s.practiceStatement);
  const show = useCustos((s) => s.showPracticeStatement);
  const write = useCustos((s) => s.writePracticeStatement);
  const busy = useCustos((s) => s.reportBusy);
  return (
    <section className="card" aria-labelledby="kmps-title">
      <h2 id="kmps-title">Key Management Practice Statement (draft)</h2>
      <p className="muted">
        SP 800-57 Part 2’s sections, each saying what Custos enforces here (quorums, algorithms and their dates,
        cryptoperiods, waiting periods, modules and their validation) and highlighting what your organisation must
        decide. Write it as Markdown and PDF to edit and approve.
      </p>
      <div className="actions">
        <button type="button" onClick={() => void show()}>
          Show the draft
        </button>
        <button type="button" disabled={busy} onClick={() => void write()}>
          Write Markdown and PDF files
        </button>
      </div>
      {text && <MarkdownDocument source={text} topLevel={3} label="Practice statement draft" />}
    </section>
  );
}

/** A witness who watched a ceremony signs off on it; the sign-off goes into its reports. */
function WitnessForm({ ceremonies }: { ceremonies: { id: string; label: string }[] }) {
  const witness = useCustos((s) => s.witness);
  const busy = useCustos((s) => s.reportBusy);
  const [ceremonyId, setCeremonyId] = useState('');
  const [name, setName] = useState('');
  const [role, setRole] = useState('');
  if (ceremonies.length === 0) return null;
  const submit = (event: FormEvent) => {
    event.preventDefault();
    void witness(ceremonyId || ceremonies[0]!.id, name, role);
    setName('');
  };
  return (
    <form onSubmit={submit} aria-label="Witness sign-off">
      <h3>Witness sign-off</h3>
      <label htmlFor="witness-ceremony">Ceremony</label>
      <select id="witness-ceremony" value={ceremonyId} onChange={(e) => setCeremonyId(e.target.value)}>
        {ceremonies.map((c) => (
          <option key={c.id} value={c.id}>
            {c.label}
          </option>
        ))}
      </select>
      <label htmlFor="witness-name">Witness’s name</label>
      <input id="witness-name" type="text" value={name} onChange={(e) => setName(e.target.value)} />
      <label htmlFor="witness-role">In what capacity</label>
      <input
        id="witness-role"
        type="text"
        value={role}
        onChange={(e) => setRole(e.target.value)}
        placeholder="e.g. internal audit"
      />
      <button type="submit" disabled={busy || name.trim().length === 0 || role.trim().length === 0}>
        Record the sign-off
      </button>
    </form>
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
