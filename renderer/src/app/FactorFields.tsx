import type { CustodianSummary } from '../../../shared/custodians';
import type { Proof } from '../store/quorum-slice';

/** One custodian proving passphrase + code: the same three fields in every ceremony step. */
export function FactorFields({
  id,
  label,
  proof,
  onChange,
  choices,
}: {
  id: string;
  label: string;
  proof: Proof;
  onChange: (proof: Proof) => void;
  choices: CustodianSummary[];
}) {
  // Nobody retired can prove factors any more (the core refuses them): no picker offers them.
  const serving = choices.filter((c) => c.retiredAt === null);
  const chosen = serving.find((c) => c.id === proof.custodianId);
  return (
    <fieldset>
      <legend>{label}</legend>
      <label htmlFor={`${id}-who`}>Who</label>
      <select
        id={`${id}-who`}
        value={proof.custodianId}
        onChange={(e) => onChange({ ...proof, custodianId: e.target.value })}
        aria-required
      >
        <option value="">Choose…</option>
        {serving.map((c) => (
          <option key={c.id} value={c.id}>
            {c.name}
          </option>
        ))}
      </select>
      <FactorInputs
        id={id}
        labels={chosen ? [`${chosen.name}’s passphrase`, `${chosen.name}’s code`] : ['Passphrase', 'Code']}
        proof={proof}
        onChange={(change) => onChange({ ...proof, ...change })}
      />
    </fieldset>
  );
}

/**
 * The passphrase and the six-digit code one person types (`${id}-passphrase`, `${id}-code`). Both are always needed,
 * and say so to assistive technology; the form's own error summary, not the browser's pop-up, says what is missing.
 */
export function FactorInputs({
  id,
  labels: [passphraseLabel, codeLabel],
  proof,
  onChange,
}: {
  id: string;
  labels: readonly [string, string];
  proof: Pick<Proof, 'passphrase' | 'code'>;
  onChange: (change: Partial<Proof>) => void;
}) {
  return (
    <>
      <label htmlFor={`${id}-passphrase`}>{passphraseLabel}</label>
      <input
        id={`${id}-passphrase`}
        type="password"
        value={proof.passphrase}
        onChange={(e) => onChange({ passphrase: e.target.value })}
        autoComplete="off"
        aria-required
      />
      <label htmlFor={`${id}-code`}>{codeLabel}</label>
      <input
        id={`${id}-code`}
        type="text"
        inputMode="numeric"
        maxLength={6}
        value={proof.code}
        onChange={(e) => onChange({ code: e.target.value.replace(/\D/g, '') })}
        autoComplete="one-time-code"
        aria-required
      />
    </>
  );
}

export const emptyProof = (custodianId = ''): Proof => ({ custodianId, passphrase: '', code: '' });
