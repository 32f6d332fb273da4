import { useState, type FormEvent } from 'react';
import type { KeyRecord } from '../../../shared/keys';
import type { TransportPackageSummary } from '../../../shared/transport';
import { emptyProof, FactorFields } from '../app/FactorFields';
import { NextStep } from '../app/NextStep';
import { PAGE_TITLE_ID } from '../app/SubPage';
import { useCustos } from '../store/context';

/** A fingerprint in groups of four, to compare with the recipient's by eye. */
const grouped = (fingerprint: string) => fingerprint.match(/.{1,4}/g)!.join(' ');

/**
 * Key transport (docs/key-transport.md): a security officer trusts a recipient key; the quorum
 * exports a key wrapped for it, or imports a package wrapped for one of this installation's keys.
 * Export and import are proposals, approved on the Approvals screen like any other. Each is a page of the Keys screen.
 */

/** The lists page: who keys may be wrapped for, and the packages sent and received. */
export function TransportLists() {
  return (
    <>
      <p className="muted">
        A key leaves a token only wrapped for a recipient public key a security officer trusts, and enters one only
        unwrapped inside it. Both need the quorum.
      </p>
      <Recipients />
      <Packages />
    </>
  );
}

function Recipients() {
  const recipients = useCustos((s) => s.recipients) ?? [];
  return (
    <section className="card" aria-labelledby="recipients-title">
      <h2 id="recipients-title">Trusted recipients</h2>
      {recipients.length === 0 ? (
        <NextStep screen="keys" page="trust-recipient" action="Trust a recipient key">
          No recipient key is trusted yet. A security officer records one.
        </NextStep>
      ) : (
        <table className="data">
          <thead>
            <tr>
              <th scope="col">Recipient</th>
              <th scope="col">Algorithm</th>
              <th scope="col">Status</th>
              <th scope="col">Fingerprint (SHA-256)</th>
              <th scope="col">Recorded by</th>
            </tr>
          </thead>
          <tbody>
            {recipients.map((r) => (
              <tr key={r.fingerprint}>
                <td>{r.label}</td>
                <td>{r.algorithm}</td>
                <td>
                  <span className={`chip ${r.status === 'trusted' ? 'chip-executed' : 'chip-failed'}`}>
                    {r.status === 'trusted' ? 'trusted' : 'changed outside Custos'}
                  </span>
                </td>
                <td>
                  {/* Two lines of eight groups: the whole of it in one line would push the table off the screen. */}
                  <code>{grouped(r.fingerprint.slice(0, 32))}</code>
                  <br />
                  <code>{grouped(r.fingerprint.slice(32))}</code>
                </td>
                <td>
                  {r.recordedBy.name}, {r.recordedAt.slice(0, 10)}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

/** The whole of its page: a security officer records a recipient key as trusted. */
export function TrustRecipient() {
  const officers = (useCustos((s) => s.custodians) ?? []).filter((c) => c.roles.includes('security-officer'));
  const trust = useCustos((s) => s.trustRecipient);
  const [label, setLabel] = useState('');
  const [pem, setPem] = useState('');
  const [proof, setProof] = useState(emptyProof());
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const ok = await trust(label, pem, proof);
    setProof({ ...proof, passphrase: '', code: '' });
    if (ok) {
      setLabel('');
      setPem('');
    }
  };
  return (
    <form className="card" aria-labelledby={PAGE_TITLE_ID} onSubmit={(e) => void submit(e)}>
      <p className="muted">
        Compare the key’s SHA-256 fingerprint with the recipient over a second channel before you record it.
      </p>
      <label htmlFor="trust-label">Recipient</label>
      <input id="trust-label" type="text" maxLength={64} value={label} onChange={(e) => setLabel(e.target.value)} />
      <label htmlFor="trust-pem">Public key (PEM: RSA 2048 bits or more, or EC P-256 / P-384)</label>
      <textarea id="trust-pem" rows={5} spellCheck={false} value={pem} onChange={(e) => setPem(e.target.value)} />
      <FactorFields id="trust-officer" label="Security officer" proof={proof} onChange={setProof} choices={officers} />
      <button type="submit">Record as trusted</button>
    </form>
  );
}

/** A proposal from a transport page: its answer is the keys' one, at the top of the page, which takes focus. */
function useProposal() {
  const propose = useCustos((s) => s.proposeKey);
  const forget = useCustos((s) => s.forgetTransportOutcome);
  return (...args: Parameters<typeof propose>) => {
    forget();
    return propose(...args);
  };
}

/** The custody whose token holds a key: where a proposal about it is made. */
function useCustodyOf() {
  const custodies = (useCustos((s) => s.custodies) ?? []).filter((c) => c.state === 'active');
  return (key: KeyRecord | undefined) => custodies.find((c) => key && c.token.serial === key.token.serial);
}

/** The keys that may leave their token, wrapped: generated backup-able, and neither compromised nor destroyed. */
const exportableKeys = (keys: KeyRecord[]) =>
  keys.filter((k) => k.backupable && !['compromised', 'destroyed'].includes(k.state));

/** Why no export can be proposed now, or null when one can. */
export function exportUnavailable(keys: KeyRecord[], trustedRecipients: number): string | null {
  if (exportableKeys(keys).length === 0)
    return 'No key can be exported: only keys generated backup-able can leave their token, wrapped.';
  if (trustedRecipients === 0) return 'No recipient is trusted yet: a security officer records one first.';
  return null;
}

/** key.export-wrapped, the whole of its page: offered once a key can leave and a recipient is trusted. */
export function ExportForRecipient({ keys }: { keys: KeyRecord[] }) {
  const custodians = useCustos((s) => s.custodians) ?? [];
  const recipients = (useCustos((s) => s.recipients) ?? []).filter((r) => r.status === 'trusted');
  const propose = useProposal();
  const custodyOf = useCustodyOf();
  const exportable = exportableKeys(keys);
  const [keyId, setKeyId] = useState('');
  const [recipient, setRecipient] = useState('');
  const [proof, setProof] = useState(emptyProof());
  const key = exportable.find((k) => k.id === keyId);
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    await propose(custodyOf(key)?.id ?? '', { keyId, recipient }, 'key.export-wrapped', proof);
    setProof({ ...proof, passphrase: '', code: '' });
  };
  return (
    <form className="card" aria-labelledby={PAGE_TITLE_ID} onSubmit={(e) => void submit(e)}>
      <label htmlFor="export-key">Key</label>
      <select id="export-key" value={keyId} onChange={(e) => setKeyId(e.target.value)}>
        <option value="">Choose…</option>
        {exportable.map((k) => (
          <option key={k.id} value={k.id}>
            {k.label} ({k.algorithm}, {k.state}, token {k.token.label})
          </option>
        ))}
      </select>
      <label htmlFor="export-recipient">Recipient</label>
      <select id="export-recipient" value={recipient} onChange={(e) => setRecipient(e.target.value)}>
        <option value="">Choose…</option>
        {recipients.map((r) => (
          <option key={r.fingerprint} value={r.fingerprint}>
            {r.label} ({r.algorithm}, {r.fingerprint.slice(0, 16)}…)
          </option>
        ))}
      </select>
      <FactorFields id="export-requester" label="Proposed by" proof={proof} onChange={setProof} choices={custodians} />
      <button type="submit">Propose the export</button>
    </form>
  );
}

/** The whole of its page: a package is checked and kept, then the import of the package just kept is proposed. */
export function ReceivePackage({ keys }: { keys: KeyRecord[] }) {
  const custodians = useCustos((s) => s.custodians) ?? [];
  const receive = useCustos((s) => s.receivePackage);
  const received = useCustos((s) => s.received);
  const propose = useProposal();
  const custodyOf = useCustodyOf();
  const [text, setText] = useState('');
  const [cryptoperiodDays, setCryptoperiodDays] = useState(730);
  const [proof, setProof] = useState(emptyProof());
  const submitPackage = async (event: FormEvent) => {
    event.preventDefault();
    if (await receive(text)) setText('');
  };
  const submitImport = async (event: FormEvent) => {
    event.preventDefault();
    if (!received) return;
    const unwrapping = keys.find((k) => k.fingerprint === received.recipient.fingerprint);
    await propose(
      custodyOf(unwrapping)?.id ?? '',
      { package: received.sha256, cryptoperiodDays },
      'key.import-wrapped',
      proof,
    );
    setProof({ ...proof, passphrase: '', code: '' });
  };
  return (
    <>
      <form className="card" aria-labelledby={PAGE_TITLE_ID} onSubmit={(e) => void submitPackage(e)}>
        <label htmlFor="receive-text">The package (package.json, pasted)</label>
        <textarea
          id="receive-text"
          rows={5}
          spellCheck={false}
          value={text}
          onChange={(e) => setText(e.target.value)}
        />
        <button type="submit">Check and keep the package</button>
      </form>
      {received && (
        <form className="card" aria-labelledby="import-wrapped-title" onSubmit={(e) => void submitImport(e)}>
          <h2 id="import-wrapped-title">
            Import “{received.key.label}” ({received.key.algorithm}, {received.key.usage}) (quorum)
          </h2>
          <p>
            From {received.madeBy ? `installation ${received.madeBy.installation}` : 'a sender outside Custos'}. It is
            unwrapped inside the token and never leaves it.
          </p>
          <label htmlFor="import-period">Cryptoperiod in days</label>
          <input
            id="import-period"
            type="text"
            inputMode="numeric"
            value={cryptoperiodDays}
            onChange={(e) => setCryptoperiodDays(Number(e.target.value.replace(/\D/g, '')) || 0)}
          />
          <FactorFields
            id="import-requester"
            label="Proposed by"
            proof={proof}
            onChange={setProof}
            choices={custodians}
          />
          <button type="submit">Propose the import</button>
        </form>
      )}
    </>
  );
}

function Packages() {
  const packages = useCustos((s) => s.packages) ?? [];
  const write = useCustos((s) => s.writePackage);
  const where = (p: TransportPackageSummary) =>
    p.direction === 'out'
      ? `for recipient ${p.recipient.fingerprint.slice(0, 16)}…`
      : `from ${p.madeBy ? p.madeBy.installation : 'outside Custos'}${p.importedAs ? `, imported as ${p.importedAs.slice(0, 8)}…` : ', not imported'}`;
  return (
    <section className="card" aria-labelledby="packages-title">
      <h2 id="packages-title">Packages</h2>
      {packages.length === 0 ? (
        <p>No package yet. One is listed here once the quorum approves an export, or once one is received.</p>
      ) : (
        <ul>
          {packages.map((p) => (
            <li key={p.sha256}>
              {p.direction === 'out' ? 'Sent' : 'Received'}: “{p.key.label}” ({p.key.algorithm}) {where(p)}{' '}
              {p.direction === 'out' && (
                <button type="button" onClick={() => void write(p.sha256)}>
                  Write the package for “{p.key.label}”
                </button>
              )}
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
