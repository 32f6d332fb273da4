import { useEffect, useRef, useState, type FormEvent } from 'react';
import { keyIdentity, type KeyRecord } from '../../../shared/keys';
import { emptyProof, FactorFields } from '../app/FactorFields';
import { NextStep } from '../app/NextStep';
import { Outcome } from '../app/Outcome';
import { KeyTransportPanel } from './KeyTransportPanel';
import { useCustos } from '../store/context';
import { ActionName } from '../../../shared/actions';

const ALGORITHMS = ['EC-P256', 'EC-P384', 'Ed25519', 'RSA-3072', 'RSA-4096', 'AES-256'] as const;

export function KeysScreen() {
  const loadKeys = useCustos((s) => s.loadKeys);
  const loadQuorum = useCustos((s) => s.loadQuorum);
  const loadCustodians = useCustos((s) => s.loadCustodians);
  const keys = useCustos((s) => s.keys);
  const error = useCustos((s) => s.keyError);
  const notice = useCustos((s) => s.keyNotice);
  useEffect(() => {
    void loadKeys();
    void loadQuorum();
    void loadCustodians();
  }, [loadKeys, loadQuorum, loadCustodians]);
  return (
    <section aria-labelledby="screen-title">
      <h1 id="screen-title">Keys</h1>
      <Outcome error={error} errorTitle="Nothing was changed" notice={notice} />
      <ProposeKey />
      <section className="card" aria-labelledby="inventory-title">
        <h2 id="inventory-title">Inventory</h2>
        {!keys || keys.length === 0 ? (
          <p>No keys yet. A key is proposed above and generated in its token once the quorum approves it.</p>
        ) : (
          <KeyTable keys={keys} />
        )}
      </section>
      <KeyTransportPanel keys={keys ?? []} />
    </section>
  );
}

function KeyTable({ keys }: { keys: KeyRecord[] }) {
  const exportKey = useCustos((s) => s.exportKey);
  const exported = useCustos((s) => s.exported);
  const shown = keys.find((k) => k.id === exported?.keyId);
  const [acting, setActing] = useState<KeyRecord | null>(null);
  // Read once when the list appears: the countdown is in days, so it need not tick.
  const [now] = useState(() => Date.now());
  const days = (iso: string) => Math.ceil((new Date(iso).getTime() - now) / 86_400_000);
  return (
    <>
      <table className="data">
        <thead>
          <tr>
            <th scope="col">Label</th>
            <th scope="col">Algorithm</th>
            <th scope="col">Version</th>
            <th scope="col">State</th>
            <th scope="col">Rotate by</th>
            <th scope="col">Check value or fingerprint</th>
            <th scope="col">Actions</th>
          </tr>
        </thead>
        {families(keys).map((family) => (
          <tbody key={family[0]!.family} data-family={family[0]!.family}>
            {family.map((k) => (
              <tr key={k.id} data-key={k.id}>
                <th scope="row">{k.label}</th>
                <td>
                  {k.algorithm}
                  {k.policy.status !== 'acceptable' && <span className="badge badge-warning"> {k.policy.status}</span>}
                  {k.policy.notes.map((n) => (
                    <div key={n} className="muted">
                      {n}
                    </div>
                  ))}
                </td>
                <td>
                  v{k.version}
                  {k.version > 1 && <div className="muted">replaces v{k.version - 1}</div>}
                  {k.rotatedTo && <PostOperational keyRecord={k} successor={keys.find((n) => n.id === k.rotatedTo)} />}
                </td>
                <td>
                  {k.state}
                  {k.compromiseReason && <div className="bad">Reason: {k.compromiseReason}</div>}
                  {k.destructionNotBefore && (
                    <div className="bad">
                      Destruction scheduled: can be carried out from {k.destructionNotBefore.slice(0, 10)}; until then
                      it can be cancelled.
                    </div>
                  )}
                </td>
                <td>
                  {k.rotateBy === null
                    ? 'no longer applies protection'
                    : `${k.rotateBy.slice(0, 10)} (${days(k.rotateBy) > 0 ? `${days(k.rotateBy)} days left` : 'overdue'})`}
                </td>
                <td>
                  <code>{keyIdentity(k)}</code>
                </td>
                <td className="actions">
                  {k.fingerprint && (
                    <button
                      type="button"
                      onClick={() => void exportKey(k.id, 'pem')}
                      aria-label={`Export the public key of ${k.label} as PEM`}
                    >
                      PEM
                    </button>
                  )}
                  <button type="button" onClick={() => setActing(k)} aria-label={`Change the state of ${k.label}`}>
                    State…
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        ))}
      </table>
      {shown && <ExportedKey keyRecord={shown} text={exported!.text} />}
      {acting && <KeyStateForm keyRecord={acting} onDone={() => setActing(null)} />}
    </>
  );
}

/** The inventory by key family, newest family first, each family's current version first. */
function families(keys: KeyRecord[]): KeyRecord[][] {
  const byFamily = new Map<string, KeyRecord[]>();
  for (const k of keys) byFamily.set(k.family, [...(byFamily.get(k.family) ?? []), k]);
  return [...byFamily.values()].map((family) => family.sort((a, b) => b.version - a.version));
}

/** What a rotated key may still do, and who keeps it from doing more. */
function PostOperational({ keyRecord, successor }: { keyRecord: KeyRecord; successor: KeyRecord | undefined }) {
  return (
    <div className="muted">
      Rotated to v{successor?.version ?? keyRecord.version + 1}: it only verifies, decrypts or unwraps.{' '}
      {keyRecord.postOperational === 'token'
        ? 'The token itself refuses it new protection.'
        : 'The token would still let it sign, encrypt or wrap; Custos refuses to.'}
    </div>
  );
}

/**
 * An exported public key, right under the table, named by its key's label; it takes focus so it can be read or copied.
 */
function ExportedKey({ keyRecord, text }: { keyRecord: KeyRecord; text: string }) {
  const ref = useRef<HTMLElement>(null);
  useEffect(() => ref.current?.focus(), [text]);
  return (
    <figure className="exported" aria-labelledby="exported-title" ref={ref} tabIndex={-1}>
      <figcaption id="exported-title">
        Public key of <strong>{keyRecord.label}</strong> ({keyRecord.algorithm}, in {keyRecord.token.label}), PEM: give
        it to whoever checks this key’s signatures.
      </figcaption>
      <pre>{text}</pre>
    </figure>
  );
}

function KeyStateForm({ keyRecord, onDone }: { keyRecord: KeyRecord; onDone: () => void }) {
  const custodians = useCustos((s) => s.custodians) ?? [];
  const custodies = (useCustos((s) => s.custodies) ?? []).filter(
    (c) => c.state === 'active' && c.token.serial === keyRecord.token.serial,
  );
  const propose = useCustos((s) => s.proposeKey);
  const emergency = useCustos((s) => s.emergency);
  // An officer acts at the token in front of them (the selected one), and only on that token's keys.
  const atToken = useCustos((s) => s.selected);
  const [choice, setChoice] = useState('key.activate');
  const [waitDays, setWaitDays] = useState(30);
  const [proof, setProof] = useState(emptyProof());
  const [reason, setReason] = useState('');
  const emergencyChoice = choice === 'suspend' || choice === 'compromise';
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (emergencyChoice && !atToken) return;
    const ok = emergencyChoice
      ? await emergency(keyRecord.id, choice, atToken!, proof, choice === 'compromise' ? reason : undefined)
      : await propose(
          custodies[0]?.id ?? '',
          choice === 'key.schedule-destruction' ? { keyId: keyRecord.id, waitDays } : { keyId: keyRecord.id },
          ActionName.parse(choice),
          proof,
        );
    setProof({ ...proof, passphrase: '', code: '' });
    if (ok) onDone();
  };
  return (
    <form className="card inset" aria-label={`Change the state of ${keyRecord.label}`} onSubmit={(e) => void submit(e)}>
      <h3>
        {keyRecord.label} is {keyRecord.state}
      </h3>
      <label htmlFor="key-transition">Change</label>
      <select id="key-transition" value={choice} onChange={(e) => setChoice(e.target.value)}>
        <option value="key.activate">Activate (quorum)</option>
        <option value="key.deactivate">Deactivate (quorum)</option>
        <option value="key.rotate">Rotate: generate its successor in the same token (quorum)</option>
        <option value="key.reactivate">Reactivate after suspension (quorum)</option>
        <option value="key.schedule-destruction">Schedule destruction (quorum)</option>
        <option value="key.cancel-destruction">Cancel the scheduled destruction (quorum)</option>
        <option value="key.destroy">Destroy now that the wait is over (quorum)</option>
        <option value="suspend">Suspend now (one security officer, emergency)</option>
        <option value="compromise">Mark compromised now (one security officer, emergency)</option>
      </select>
      {choice === 'key.schedule-destruction' && (
        <>
          <label htmlFor="wait-days">Waiting period in days (7–30)</label>
          <input
            id="wait-days"
            type="text"
            inputMode="numeric"
            value={waitDays}
            onChange={(e) => setWaitDays(Number(e.target.value.replace(/\D/g, '')) || 0)}
          />
        </>
      )}
      {choice === 'compromise' && (
        <>
          <label htmlFor="compromise-reason">
            Why is it compromised? (required; relying parties read it in the notice)
          </label>
          <textarea
            id="compromise-reason"
            required
            maxLength={500}
            value={reason}
            onChange={(e) => setReason(e.target.value)}
          />
        </>
      )}
      {emergencyChoice && (
        <p id="emergency-token">
          {atToken
            ? `At token ${atToken.label} (${atToken.serial}). The key must live in this token.`
            : 'No token is selected. Select the key’s token on the Tokens screen first.'}
        </p>
      )}
      <FactorFields
        id="key-actor"
        label={emergencyChoice ? 'Security officer' : 'Proposed by'}
        proof={proof}
        onChange={setProof}
        choices={emergencyChoice ? custodians.filter((c) => c.roles.includes('security-officer')) : custodians}
      />
      <div className="actions">
        <button type="submit" disabled={emergencyChoice && !atToken}>
          {emergencyChoice ? 'Do it now' : 'Propose'}
        </button>
        <button type="button" onClick={onDone}>
          Close
        </button>
      </div>
    </form>
  );
}

function ProposeKey() {
  const custodians = useCustos((s) => s.custodians) ?? [];
  const custodies = (useCustos((s) => s.custodies) ?? []).filter((c) => c.state === 'active');
  const propose = useCustos((s) => s.proposeKey);
  const [custodyId, setCustodyId] = useState('');
  const [algorithm, setAlgorithm] = useState<(typeof ALGORITHMS)[number]>('EC-P256');
  const [label, setLabel] = useState('');
  const [usage, setUsage] = useState('sign');
  const [backupable, setBackupable] = useState(false);
  const [acceptUnrestrictedExport, setAcceptUnrestrictedExport] = useState(false);
  const [cryptoperiodDays, setCryptoperiodDays] = useState(730);
  const [proof, setProof] = useState(emptyProof());
  if (custodies.length === 0) {
    return (
      <NextStep screen="ceremonies" action="Go to Ceremonies">
        Keys are generated inside a token held in custody, and no token is in custody yet. Take a token into custody on
        the Ceremonies screen first.
      </NextStep>
    );
  }
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const ok = await propose(
      custodyId || custodies[0]!.id,
      {
        algorithm,
        label,
        usage: algorithm === 'AES-256' && usage === 'sign' ? 'encrypt' : usage,
        backupable,
        cryptoperiodDays,
        ...(backupable && acceptUnrestrictedExport ? { acceptUnrestrictedExport } : {}),
      },
      'key.generate',
      proof,
    );
    setProof({ ...proof, passphrase: '', code: '' });
    if (ok) setLabel('');
  };
  return (
    <form className="card" aria-labelledby="generate-title" onSubmit={(e) => void submit(e)}>
      <h2 id="generate-title">Propose a new key</h2>
      <p className="muted">
        The key is generated inside the token once the quorum approves, and starts in pre-activation.
      </p>
      <label htmlFor="gen-custody">Token</label>
      <select id="gen-custody" value={custodyId} onChange={(e) => setCustodyId(e.target.value)}>
        {custodies.map((c) => (
          <option key={c.id} value={c.id}>
            {c.token.label} ({c.threshold} of {c.holders.length})
          </option>
        ))}
      </select>
      <label htmlFor="gen-algorithm">Algorithm</label>
      <select
        id="gen-algorithm"
        value={algorithm}
        onChange={(e) => setAlgorithm(e.target.value as (typeof ALGORITHMS)[number])}
      >
        {ALGORITHMS.map((a) => (
          <option key={a}>{a}</option>
        ))}
      </select>
      <label htmlFor="gen-label">Label</label>
      <input
        id="gen-label"
        type="text"
        maxLength={64}
        value={label}
        onChange={(e) => setLabel(e.target.value)}
        required
      />
      <label htmlFor="gen-usage">Usage</label>
      <select id="gen-usage" value={usage} onChange={(e) => setUsage(e.target.value)}>
        <option value="sign">Sign</option>
        <option value="encrypt">Encrypt</option>
        <option value="wrap">Wrap other keys</option>
      </select>
      <label className="checkbox">
        <input type="checkbox" checked={backupable} onChange={(e) => setBackupable(e.target.checked)} /> Can be backed
        up (only wrapped under a trusted key)
      </label>
      {backupable && (
        <label className="checkbox">
          <input
            type="checkbox"
            checked={acceptUnrestrictedExport}
            onChange={(e) => setAcceptUnrestrictedExport(e.target.checked)}
          />{' '}
          If this token cannot restrict the key’s export to trusted wrapping keys (CKA_WRAP_WITH_TRUSTED), accept that.
          The approvers see and approve this; where the token can restrict it, Custos still does.
        </label>
      )}
      {backupable && algorithm === 'Ed25519' && (
        <p className="notice">
          Some tokens cannot wrap Ed25519 private keys (SoftHSM2 2.6 among them): such a key could not be backed up
          there. EC P-256 can.
        </p>
      )}
      <label htmlFor="gen-period">Cryptoperiod in days (SP 800-57 default: 730)</label>
      <input
        id="gen-period"
        type="text"
        inputMode="numeric"
        value={cryptoperiodDays}
        onChange={(e) => setCryptoperiodDays(Number(e.target.value.replace(/\D/g, '')) || 0)}
      />
      <FactorFields id="gen-requester" label="Proposed by" proof={proof} onChange={setProof} choices={custodians} />
      <button type="submit">Propose</button>
    </form>
  );
}
