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
      >
        <option value="">Choose…</option>
        {serving.map((c) => (
          <option key={c.id} value={c.id}>
            {c.name}
          </option>
        ))}
      </select>
      <label htmlFor={`${id}-passphrase`}>{chosen ? `${chosen.name}’s passphrase` : 'Passphrase'}</label>
      <input
        id={`${id}-passphrase`}
        type="password"
        value={proof.passphrase}
        onChange={(e) => onChange({ ...proof, passphrase: e.target.value })}
        autoComplete="off"
      />
      <label htmlFor={`${id}-code`}>{chosen ? `${chosen.name}’s code` : 'Code'}</label>
      <input
        id={`${id}-code`}
        type="text"
        inputMode="numeric"
        maxLength={6}
        value={proof.code}
        onChange={(e) => onChange({ ...proof, code: e.target.value.replace(/\D/g, '') })}
        autoComplete="one-time-code"
      />
    </fieldset>
  );
}

export const emptyProof = (custodianId = ''): Proof => ({ custodianId, passphrase: '', code: '' });
