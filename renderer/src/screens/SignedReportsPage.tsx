import { useState, type FormEvent } from 'react';
import { actionTitle } from '../../../shared/actions';
import { NextStep } from '../app/NextStep';
import { useCustos } from '../store/context';

/** The signed reports page: every ceremony that ran, its report made on demand, and witnesses' sign-offs. */
export function SignedReportsPage() {
  const proposals = (useCustos((s) => s.proposals) ?? []).filter((p) => p.state === 'executed' || p.state === 'failed');
  const custodies = useCustos((s) => s.custodies) ?? [];
  const reports = useCustos((s) => s.reports) ?? [];
  const create = useCustos((s) => s.createReport);
  const busy = useCustos((s) => s.reportBusy);
  const made = new Set(reports.map((r) => r.ceremonyId));
  // A key once marked compromised stays reportable: its impact report also says where copies went after.
  const compromised = (useCustos((s) => s.keys) ?? []).filter((k) => k.compromiseReason !== null);
  return (
    <div className="card">
      <p className="muted">
        Each report is signed by the audit key and carries every entry of its ceremony with a proof; an auditor checks
        it with openssl or custos report verify.
      </p>
      <button type="button" disabled={busy} onClick={() => void create({ inventory: true })}>
        Make a key inventory report
      </button>
      {proposals.length + compromised.length + custodies.length === 0 ? (
        <NextStep screen="approvals" action="Go to Approvals">
          No ceremony has run yet, so there is no ceremony report to make. A ceremony’s report is made here once the
          quorum has carried it out on the Approvals screen.
        </NextStep>
      ) : (
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
      )}
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
    </div>
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
