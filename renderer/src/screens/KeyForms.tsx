import { useState, type FormEvent } from 'react';
import { ActionName } from '../../../shared/actions';
import { KEY_CHANGES, keyChangeRefusal, type KeyChange } from '../../../shared/key-lifecycle';
import type { KeyRecord } from '../../../shared/keys';
import {
  ErrorSummary,
  factorIds,
  factorProblem,
  fieldProblem,
  missingFactors,
  type Problem,
} from '../app/ErrorSummary';
import { emptyProof, FactorFields } from '../app/FactorFields';
import type { Proof } from '../store/quorum-slice';
import { PAGE_TITLE_ID } from '../app/SubPage';
import { useCustos } from '../store/context';
import { KEY_FORMS } from '../store/keys-slice';

const ALGORITHMS = ['EC-P256', 'EC-P384', 'Ed25519', 'RSA-3072', 'RSA-4096', 'AES-256'] as const;

/** What each change is called on the form, with who makes it. */
const CHANGE_NAMES: Record<KeyChange, string> = {
  'key.activate': 'Activate (quorum)',
  'key.deactivate': 'Deactivate (quorum)',
  'key.rotate': 'Rotate: generate its successor in the same token (quorum)',
  'key.reactivate': 'Reactivate after suspension (quorum)',
  'key.schedule-destruction': 'Schedule destruction (quorum)',
  'key.cancel-destruction': 'Cancel the scheduled destruction (quorum)',
  'key.destroy': 'Destroy once the wait is over (quorum)',
  suspend: 'Suspend now (one security officer, emergency)',
  compromise: 'Mark compromised now (one security officer, emergency)',
};

/**
 * A key's change of state, the whole of its page: a quorum proposal, or an officer's emergency at the token. Only the
 * changes the key's state allows are offered (the core's rule, shared/key-lifecycle.ts); the others are named with why.
 */
export function KeyStateForm({ keyRecord }: { keyRecord: KeyRecord }) {
  const custodians = useCustos((s) => s.custodians) ?? [];
  const custodies = (useCustos((s) => s.custodies) ?? []).filter(
    (c) => c.state === 'active' && c.token.serial === keyRecord.token.serial,
  );
  const propose = useCustos((s) => s.proposeKey);
  const emergency = useCustos((s) => s.emergency);
  // An officer acts at the token in front of them (the selected one), and only on that token's keys.
  const atToken = useCustos((s) => s.selected);
  const offered = KEY_CHANGES.filter((change) => keyChangeRefusal(keyRecord, change) === null);
  const [chosen, setChoice] = useState<KeyChange | undefined>(offered[0]);
  // The key may change while the page is open (a proposal runs): a choice it no longer allows falls back.
  const choice = chosen !== undefined && offered.includes(chosen) ? chosen : offered[0];
  const [waitDays, setWaitDays] = useState(30);
  const [proof, setProof] = useState(emptyProof());
  const [reason, setReason] = useState('');
  const [problems, setProblems] = useState<Problem[]>([]);
  const emergencyChoice = choice === 'suspend' || choice === 'compromise';
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (choice === undefined || (emergencyChoice && !atToken)) return;
    const missing = missingForChange(choice, reason, proof);
    setProblems(missing);
    if (missing.length > 0) return;
    const ok = emergencyChoice
      ? await emergency(keyRecord.id, choice, atToken!, proof, choice === 'compromise' ? reason : undefined)
      : await propose(
          custodies[0]?.id ?? '',
          choice === 'key.schedule-destruction' ? { keyId: keyRecord.id, waitDays } : { keyId: keyRecord.id },
          ActionName.parse(choice),
          proof,
        );
    // The next person starts from an empty form; after a refusal only the factors are typed again.
    setProof(ok ? emptyProof() : { ...proof, passphrase: '', code: '' });
    if (ok) setReason('');
  };
  return (
    <form className="card" aria-labelledby={PAGE_TITLE_ID} onSubmit={(e) => void submit(e)} noValidate>
      <h2>
        {keyRecord.label} is {keyRecord.state}
      </h2>
      <ErrorSummary problems={problems} error={null} link={null} />
      {choice === undefined ? (
        <p id="key-no-change">Nothing can change a {keyRecord.state} key: SP 800-57 allows no way back.</p>
      ) : (
        <>
          <label htmlFor="key-transition">Change</label>
          <select
            id="key-transition"
            value={choice}
            onChange={(e) => {
              // Another change asks for other things: what was missing for the last one no longer stands.
              setProblems([]);
              setChoice(e.target.value as KeyChange);
            }}
          >
            {offered.map((change) => (
              <option key={change} value={change}>
                {CHANGE_NAMES[change]}
              </option>
            ))}
          </select>
        </>
      )}
      <NotOffered keyRecord={keyRecord} />
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
            aria-required
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
      {choice !== undefined && (
        <>
          <FactorFields
            id="key-actor"
            label={emergencyChoice ? 'Security officer' : 'Proposed by'}
            proof={proof}
            onChange={setProof}
            choices={emergencyChoice ? custodians.filter((c) => c.roles.includes('security-officer')) : custodians}
          />
          <button type="submit" disabled={emergencyChoice && !atToken}>
            {emergencyChoice ? 'Do it now' : 'Propose'}
          </button>
        </>
      )}
    </form>
  );
}

/** What a change of state still needs, said before the core is asked: a refused try would cost the person a code. */
export function missingForChange(choice: KeyChange, reason: string, proof: Proof): Problem[] {
  const emergency = choice === 'suspend' || choice === 'compromise';
  return [
    ...(choice === 'compromise' && !reason.trim()
      ? [{ field: 'compromise-reason', text: 'Say why the key is compromised' }]
      : []),
    ...missingFactors(proof, 'key-actor', emergency ? 'does it' : 'proposes it'),
  ];
}

/** The changes the key's state rules out, each with why in plain words, so nobody hunts for a missing one. */
export function NotOffered({ keyRecord }: { keyRecord: KeyRecord }) {
  const ruledOut = KEY_CHANGES.flatMap((change) => {
    const why = keyChangeRefusal(keyRecord, change)?.message;
    return why === undefined ? [] : [{ change, why }];
  });
  if (ruledOut.length === 0) return null;
  return (
    <div className="not-offered">
      <p>Not offered for this key:</p>
      <ul>
        {ruledOut.map(({ change, why }) => (
          <li key={change}>
            {CHANGE_NAMES[change].replace(/[:(].*$/, '').trim()}: {why}
          </li>
        ))}
      </ul>
    </div>
  );
}

/** The generation form's fields a refusal may name (WireError.field: the request's parameter), as links to them. */
const GENERATE_FIELDS = { label: { field: 'gen-label', text: 'Choose a label of its own' } };

/**
 * key.generate, the whole of its page: offered only while a token is in custody. A refusal is said at the top of the
 * form, linked to the field it names (the label) or to the proposer's factors, and the label's refusal at the label.
 */
export function ProposeKey() {
  const custodians = useCustos((s) => s.custodians) ?? [];
  const custodies = (useCustos((s) => s.custodies) ?? []).filter((c) => c.state === 'active');
  const propose = useCustos((s) => s.proposeKey);
  const error = useCustos((s) => (s.keyErrorAt === KEY_FORMS.generate ? s.keyError : null));
  const labelError = error?.field === 'label' ? error.message : null;
  const [custodyId, setCustodyId] = useState('');
  const [algorithm, setAlgorithm] = useState<(typeof ALGORITHMS)[number]>('EC-P256');
  const [label, setLabel] = useState('');
  const [usage, setUsage] = useState('sign');
  const [backupable, setBackupable] = useState(false);
  const [acceptUnrestrictedExport, setAcceptUnrestrictedExport] = useState(false);
  const [cryptoperiodDays, setCryptoperiodDays] = useState(730);
  const [proof, setProof] = useState(emptyProof());
  const [problems, setProblems] = useState<Problem[]>([]);
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    // What is missing is said before the core is asked: a refused try would cost the proposer a code.
    const missing = [
      ...(label.trim() ? [] : [{ field: 'gen-label', text: 'Give the key a label' }]),
      ...(cryptoperiodDays >= 1 && cryptoperiodDays <= 3650
        ? []
        : [{ field: 'gen-period', text: 'Give the cryptoperiod as 1 to 3,650 days' }]),
      ...missingFactors(proof, 'gen-requester', 'proposes it'),
    ];
    setProblems(missing);
    if (missing.length > 0) return;
    const ok = await propose(
      custodyId || (custodies[0]?.id ?? ''),
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
      KEY_FORMS.generate,
    );
    setProof({ ...proof, passphrase: '', code: '' });
    if (ok) setLabel('');
  };
  return (
    <form className="card" aria-labelledby={PAGE_TITLE_ID} onSubmit={(e) => void submit(e)} noValidate>
      <ErrorSummary
        problems={problems}
        error={error}
        link={error && (fieldProblem(error, GENERATE_FIELDS) ?? factorProblem(error.code, factorIds('gen-requester')))}
      />
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
      {labelError && (
        <p id="gen-label-error" className="field-error">
          {labelError}
        </p>
      )}
      <input
        id="gen-label"
        type="text"
        maxLength={64}
        value={label}
        onChange={(e) => setLabel(e.target.value)}
        aria-describedby={labelError ? 'gen-label-error' : undefined}
        aria-invalid={labelError ? true : undefined}
        aria-required
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
