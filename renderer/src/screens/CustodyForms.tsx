import { useState, type FormEvent } from 'react';
import {
  chosenTwice,
  ErrorSummary,
  factorIds,
  factorProblem,
  missingFactors,
  personProblem,
  type Problem,
} from '../app/ErrorSummary';
import { emptyProof, FactorFields } from '../app/FactorFields';
import { NextStep } from '../app/NextStep';
import { PAGE_TITLE_ID } from '../app/SubPage';
import { useCustos } from '../store/context';
import { CUSTODY_FORMS, type Proof } from '../store/quorum-slice';

/**
 * What the people of a custody form (each typing their factors in turn) have left out, each named by their place in
 * the form ("Share holder 2: type the passphrase"), and anyone chosen twice.
 */
export function missingHolders(proofs: readonly Proof[], prefix: string, place: string): Problem[] {
  return [
    ...proofs.flatMap((proof, i) =>
      missingFactors(proof, `${prefix}-${i}`, 'it is').map((p) => ({
        field: p.field,
        text: `${place} ${i + 1}: ${p.text.charAt(0).toLowerCase()}${p.text.slice(1)}`,
      })),
    ),
    ...chosenTwice(proofs, (i) => factorIds(`${prefix}-${i}`).who),
  ];
}

/** The holder's fields a refusal from the core points at: the holder whose factors it names. */
const holderProblem = (error: Parameters<typeof personProblem>[0], proofs: readonly Proof[], prefix: string) =>
  personProblem(error, proofs, (i) => factorIds(`${prefix}-${i}`))?.problem ?? null;

/** Tokens in custody: who holds each token's PINs, and how many of them open it. */
export function CustodyList() {
  const custodies = useCustos((s) => s.custodies);
  const enough = useCustos(
    (s) => (s.custodians ?? []).filter((c) => c.roles.includes('custodian') && c.retiredAt === null).length >= 2,
  );
  const navigate = useCustos((s) => s.navigate);
  return (
    <section className="card" aria-labelledby="custody-list-title">
      <h2 id="custody-list-title">Tokens in custody</h2>
      {!custodies || custodies.length === 0 ? (
        enough ? (
          <div className="next-step">
            <p>No token is in custody yet. Take one into custody: its new PINs are split among its holders.</p>
            <button type="button" onClick={() => navigate('ceremonies', 'take-custody')}>
              Take a token into custody
            </button>
          </div>
        ) : (
          <HoldersFirst />
        )
      ) : (
        <table className="data">
          <thead>
            <tr>
              <th scope="col">Token</th>
              <th scope="col">Quorum</th>
              <th scope="col">Holders</th>
              <th scope="col">State</th>
            </tr>
          </thead>
          <tbody>
            {custodies.map((c) => (
              <tr key={c.id}>
                <th scope="row">
                  {c.token.label} <code>{c.token.serial}</code>
                </th>
                <td>
                  {c.threshold} of {c.holders.length}
                  {c.pinBits !== null && c.pinBits < 64 && (
                    <p className="warnings" role="note">
                      PINs of {c.pinBits} bits: this token caps PIN length, so each PIN is weaker than the 64 bits
                      Custos asks for. Keep the token physically guarded; its PIN retry limit is the main protection.
                    </p>
                  )}
                </td>
                <td>{c.holders.map((h) => h.name).join(', ')}</td>
                <td>{c.state}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

/** Custody needs two holders at least: where to enrol them. */
export function HoldersFirst() {
  const holders = useCustos(
    (s) => (s.custodians ?? []).filter((c) => c.roles.includes('custodian') && c.retiredAt === null).length,
  );
  return (
    <NextStep screen="custodians" action="Go to Custodians">
      A token is taken into custody by at least two share holders, and{' '}
      {holders === 0 ? 'no custodian is' : 'only one custodian is'} enrolled with the custodian role. Enrol the holders
      on the Custodians screen first.
    </NextStep>
  );
}

/** Take a token into custody: new PINs from the token, split among its holders. The whole of its page. */
export function CustodyForm() {
  const status = useCustos((s) => s.status);
  const audit = useCustos((s) => s.snapshot?.audit);
  const custodians = useCustos((s) => s.custodians) ?? [];
  const take = useCustos((s) => s.takeCustody);
  const busy = useCustos((s) => s.quorumBusy);
  const holdersAvailable = custodians.filter((c) => c.roles.includes('custodian') && c.retiredAt === null);
  const loaded = useCustos((s) => s.custodians !== null);
  const tokens = status?.state === 'ready' ? status.slots.flatMap((s) => (s.token ? [s.token] : [])) : [];
  const held = (useCustos((s) => s.custodies) ?? []).filter((c) => c.state === 'active');
  // The audit token and tokens already in custody are not offered: their PINs are held already (a change of holders
  // re-deals them).
  const choices = tokens.filter(
    (t) =>
      !(audit?.state === 'ready' && audit.token.serial === t.serial && audit.token.label === t.label) &&
      !held.some((c) => c.token.serial === t.serial && c.token.label === t.label),
  );
  const [tokenIndex, setTokenIndex] = useState(0);
  const [label, setLabel] = useState('');
  const [soPin, setSoPin] = useState('');
  const [pinAlphabet, setPinAlphabet] = useState<'alphanumeric' | 'digits' | 'hex'>('alphanumeric');
  const [threshold, setThreshold] = useState(2);
  const [proofs, setProofs] = useState<Proof[]>([emptyProof(), emptyProof(), emptyProof()]);
  const [problems, setProblems] = useState<Problem[]>([]);
  const error = useCustos((s) => (s.quorumErrorAt === CUSTODY_FORMS.take ? s.quorumError : null));
  const token = choices[tokenIndex];
  if (loaded && holdersAvailable.length < 2) return <HoldersFirst />;
  const needsSoPin = token ? token.initialized || token.blankInitNeedsSoPin : false;
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    // Said before the core is asked: a holder's refused try would cost them an attempt.
    const missing = [
      ...(token ? [] : [{ field: 'custody-token', text: 'Attach a token that is not in custody yet' }]),
      ...(token && !token.initialized && !label.trim()
        ? [{ field: 'custody-label', text: 'Type a label for the token' }]
        : []),
      ...(needsSoPin && !soPin ? [{ field: 'custody-so-pin', text: 'Type the SO PIN' }] : []),
      ...missingHolders(proofs, 'holder', 'Share holder'),
    ];
    setProblems(missing);
    if (!token || missing.length > 0) return;
    const ok = await take({
      token: { serial: token.serial, label: token.label },
      threshold,
      holders: proofs,
      ...(needsSoPin ? { currentSoPin: soPin } : {}),
      ...(token.initialized ? {} : { label }),
      ...(pinAlphabet !== 'alphanumeric' ? { pinAlphabet } : {}),
    });
    setProofs(proofs.map((p) => ({ ...p, passphrase: '', code: '' })));
    setSoPin('');
    if (ok) setLabel('');
  };
  return (
    <form className="card" aria-labelledby={PAGE_TITLE_ID} onSubmit={(e) => void submit(e)} noValidate>
      <ErrorSummary
        problems={problems}
        error={error}
        link={
          error &&
          (error.code === 'PIN_INCORRECT' || error.code === 'SO_PIN_REQUIRED'
            ? { field: 'custody-so-pin', text: 'Type the SO PIN the token has now' }
            : holderProblem(error, proofs, 'holder'))
        }
      />
      <p>
        Custos draws new user and SO PINs from the token itself, splits each among the holders so that any {threshold}{' '}
        of them together can use the token, and seals each share under its holder’s passphrase. Nobody — not even the
        person running the ceremony — ever sees a PIN.
      </p>
      <label htmlFor="custody-token">Token</label>
      <select id="custody-token" value={tokenIndex} onChange={(e) => setTokenIndex(Number(e.target.value))}>
        {choices.map((t, i) => (
          <option key={`${t.serial}/${t.label}/${i}`} value={i}>
            {t.initialized ? `${t.label} (${t.serial})` : `Blank token in ${t.slotDescription}`}
          </option>
        ))}
      </select>
      {token && !token.initialized && (
        <>
          <label htmlFor="custody-label">Label for the token</label>
          <input
            id="custody-label"
            type="text"
            maxLength={32}
            value={label}
            onChange={(e) => setLabel(e.target.value)}
            aria-required
          />
        </>
      )}
      {token && (token.initialized || token.blankInitNeedsSoPin) && (
        <>
          <label htmlFor="custody-so-pin">
            {token.initialized
              ? 'Current SO PIN (entered once, replaced at once)'
              : 'Factory SO PIN: this token wants it even when blank (replaced at once)'}
          </label>
          <input
            id="custody-so-pin"
            type="password"
            value={soPin}
            onChange={(e) => setSoPin(e.target.value)}
            autoComplete="off"
            aria-required
          />
        </>
      )}
      <label htmlFor="custody-pin-alphabet">Characters the token accepts in a PIN</label>
      <select
        id="custody-pin-alphabet"
        value={pinAlphabet}
        onChange={(e) => setPinAlphabet(e.target.value as typeof pinAlphabet)}
        aria-describedby="custody-pin-alphabet-help"
      >
        <option value="alphanumeric">Letters and digits (most tokens)</option>
        <option value="digits">Digits only (for example PIV cards)</option>
        <option value="hex">Hexadecimal digits only</option>
      </select>
      <p id="custody-pin-alphabet-help" className="muted">
        {token ? `This token takes PINs of ${token.minPinLength} to ${token.maxPinLength} characters. ` : ''}
        Tokens do not report which characters they accept; check the vendor’s documentation if unsure.
      </p>
      <label htmlFor="custody-threshold">Approvals needed (t)</label>
      <select id="custody-threshold" value={threshold} onChange={(e) => setThreshold(Number(e.target.value))}>
        {Array.from({ length: Math.max(1, proofs.length - 1) }, (_, i) => i + 2).map((t) => (
          <option key={t} value={t}>
            {t} of {proofs.length}
          </option>
        ))}
      </select>
      {proofs.map((proof, i) => (
        <FactorFields
          key={i}
          id={`holder-${i}`}
          label={`Share holder ${i + 1}`}
          proof={proof}
          choices={holdersAvailable}
          onChange={(next) => setProofs(proofs.map((p, j) => (j === i ? next : p)))}
        />
      ))}
      <div className="actions">
        <button
          type="button"
          onClick={() => setProofs([...proofs, emptyProof()])}
          disabled={proofs.length >= holdersAvailable.length}
        >
          Add a holder
        </button>
        <button type="submit" disabled={busy}>
          {busy ? 'Setting the new PINs…' : 'Take into custody'}
        </button>
      </div>
    </form>
  );
}

/** Turnover: a new set of holders or a new threshold, proposed here and approved in Approvals. */
export function TurnoverForm() {
  const custodies = (useCustos((s) => s.custodies) ?? []).filter((c) => c.state === 'active');
  const custodians = useCustos((s) => s.custodians) ?? [];
  const propose = useCustos((s) => s.proposeTurnover);
  const busy = useCustos((s) => s.quorumBusy);
  const [custodyId, setCustodyId] = useState('');
  const [holders, setHolders] = useState<string[] | null>(null);
  const [threshold, setThreshold] = useState(2);
  const [proof, setProof] = useState(emptyProof());
  const [problems, setProblems] = useState<Problem[]>([]);
  const error = useCustos((s) => (s.quorumErrorAt === CUSTODY_FORMS.turnover ? s.quorumError : null));
  const custody = custodies.find((c) => c.id === custodyId) ?? custodies[0];
  if (!custody) return null;
  const chosen = holders ?? custody.holders.map((h) => h.id);
  const eligible = custodians.filter((c) => c.roles.includes('custodian') && c.retiredAt === null);
  const toggle = (id: string) => setHolders(chosen.includes(id) ? chosen.filter((h) => h !== id) : [...chosen, id]);
  const firstHolder = eligible[0] ? `turnover-holder-${eligible[0].id}` : 'turnover-custody';
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const missing = [
      ...(chosen.length < 2 ? [{ field: firstHolder, text: 'Choose at least two new holders' }] : []),
      ...(threshold > chosen.length
        ? [{ field: 'turnover-threshold', text: `Choose at most ${chosen.length} approvals` }]
        : []),
      ...missingFactors(proof, 'turnover-requester', 'proposes it'),
    ];
    setProblems(missing);
    if (missing.length > 0) return;
    const ok = await propose(custody.id, chosen, threshold, proof);
    setProof({ ...proof, passphrase: '', code: '' });
    if (ok) setHolders(null);
  };
  return (
    <form className="card" aria-labelledby={PAGE_TITLE_ID} onSubmit={(e) => void submit(e)} noValidate>
      <ErrorSummary
        problems={problems}
        error={error}
        link={error && factorProblem(error.code, factorIds('turnover-requester'))}
      />
      <p>
        Add, remove or replace holders, or change how many must approve. {custody.threshold} of the current holders
        approve; each new holder confirms with their passphrase and code. The token then gets new PINs, split among the
        new holders, and every old share stops working.
      </p>
      <label htmlFor="turnover-custody">Token</label>
      <select
        id="turnover-custody"
        value={custody.id}
        onChange={(e) => {
          setCustodyId(e.target.value);
          setHolders(null);
        }}
      >
        {custodies.map((c) => (
          <option key={c.id} value={c.id}>
            {c.token.label} ({c.threshold} of {c.holders.length}: {c.holders.map((h) => h.name).join(', ')})
          </option>
        ))}
      </select>
      <fieldset>
        <legend>New holders</legend>
        {eligible.map((c) => (
          <label key={c.id} className="checkbox">
            <input
              id={`turnover-holder-${c.id}`}
              type="checkbox"
              checked={chosen.includes(c.id)}
              onChange={() => toggle(c.id)}
            />{' '}
            {c.name}
          </label>
        ))}
      </fieldset>
      <label htmlFor="turnover-threshold">Approvals needed afterwards (t)</label>
      <select id="turnover-threshold" value={threshold} onChange={(e) => setThreshold(Number(e.target.value))}>
        {Array.from({ length: Math.max(1, chosen.length - 1) }, (_, i) => i + 2).map((t) => (
          <option key={t} value={t}>
            {t} of {chosen.length}
          </option>
        ))}
      </select>
      <FactorFields
        id="turnover-requester"
        label="Proposed by"
        proof={proof}
        onChange={setProof}
        choices={custodians}
      />
      <button type="submit" disabled={busy}>
        Propose the change
      </button>
    </form>
  );
}

/** A custody a crash left half-done: its holders try its PINs on the token to settle it. */
export function SettleForm() {
  const pending = (useCustos((s) => s.custodies) ?? []).filter((c) => c.state === 'pending');
  const custodians = useCustos((s) => s.custodians) ?? [];
  const settle = useCustos((s) => s.settleCustody);
  const busy = useCustos((s) => s.quorumBusy);
  const custody = pending[0];
  const [proofs, setProofs] = useState<Proof[]>([]);
  const [problems, setProblems] = useState<Problem[]>([]);
  const error = useCustos((s) => (s.quorumErrorAt === CUSTODY_FORMS.settle ? s.quorumError : null));
  if (!custody) return null;
  const shown =
    proofs.length >= custody.threshold
      ? proofs
      : Array.from({ length: custody.threshold }, (_, i) => proofs[i] ?? emptyProof());
  const holders = custodians.filter((c) => custody.holders.some((h) => h.id === c.id));
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const missing = missingHolders(shown, 'settle', 'Holder');
    setProblems(missing);
    if (missing.length > 0) return;
    await settle(custody.id, shown);
    setProofs(shown.map((p) => ({ ...p, passphrase: '', code: '' })));
  };
  return (
    <form className="card" aria-labelledby={PAGE_TITLE_ID} onSubmit={(e) => void submit(e)} noValidate>
      <ErrorSummary problems={problems} error={error} link={error && holderProblem(error, shown, 'settle')} />
      <p>
        <strong>“{custody.token.label}” cannot be used until this is settled.</strong> Custos stopped after sealing the
        shares of this custody and before the token confirmed its new PINs. {custody.threshold} of its holders prove
        their factors; Custos tries the rebuilt PINs on the token and either makes this custody the active one or sets
        it aside. Nothing else is changed.
      </p>
      {shown.map((proof, i) => (
        <FactorFields
          key={i}
          id={`settle-${i}`}
          label={`Holder ${i + 1}`}
          proof={proof}
          choices={holders}
          onChange={(next) => setProofs(shown.map((p, j) => (j === i ? next : p)))}
        />
      ))}
      <button type="submit" disabled={busy}>
        {busy ? 'Trying the PINs on the token…' : 'Settle this custody'}
      </button>
    </form>
  );
}
