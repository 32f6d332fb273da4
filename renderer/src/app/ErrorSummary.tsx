import { useEffect, useRef } from 'react';
import type { ErrorCode, WireError } from '../../../shared/errors';
import type { Proof } from '../store/quorum-slice';
import { errorTitle } from './ErrorNotice';

/** One thing to fix in a form, linked to the field that fixes it. */
export interface Problem {
  field: string;
  text: string;
}

/**
 * The GOV.UK error summary: at the top of the form, focused when it appears, each problem a link
 * to its field. A refusal from the core keeps its code and remedy, and links to the field it is about.
 */
export function ErrorSummary({
  problems,
  error,
  link,
}: {
  problems: Problem[];
  error: WireError | null;
  link: Problem | null;
}) {
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (problems.length > 0 || error) ref.current?.focus();
  }, [problems, error]);
  if (problems.length === 0 && !error) return null;
  return (
    <div
      ref={ref}
      tabIndex={-1}
      className="notice notice-error error-summary"
      role="alert"
      data-error-code={error?.code}
    >
      <p className="notice-title">
        {error ? errorTitle(error.code, 'There is a problem') : 'There is a problem'}{' '}
        {error && <code className="error-code">{error.code}</code>}
      </p>
      {error && <p>{error.message}</p>}
      <ul className="remedy">
        {[...problems, ...(error && link ? [link] : [])].map((p) => (
          <li key={p.field + p.text}>
            <a
              href={`#${p.field}`}
              onClick={(event) => {
                event.preventDefault();
                document.getElementById(p.field)?.focus();
              }}
            >
              {p.text}
            </a>
          </li>
        ))}
        {error?.remedy.map((step) => (
          <li key={step}>{step}</li>
        ))}
      </ul>
    </div>
  );
}

/**
 * The field a refusal names (WireError.field, a parameter of the request) as the form calls it, with what to do there;
 * null when it names none, or one the form has no field for.
 */
export function fieldProblem(error: WireError, fields: Readonly<Record<string, Problem>>): Problem | null {
  return error.field !== undefined && Object.hasOwn(fields, error.field) ? fields[error.field]! : null;
}

/** Which of a custodian's factor fields a refusal points at; other refusals point at nothing. */
export function factorProblem(
  code: ErrorCode,
  fields: { who: string; passphrase: string; code: string },
): Problem | null {
  switch (code) {
    case 'PASSPHRASE_INCORRECT':
      return { field: fields.passphrase, text: 'Type the passphrase again' };
    case 'TOTP_INCORRECT':
    case 'TOTP_REPLAYED':
      return { field: fields.code, text: 'Type the code the authenticator shows now' };
    case 'NOT_AUTHORIZED':
    case 'SELF_APPROVAL':
    case 'ALREADY_APPROVED':
    case 'CUSTODIAN_LOCKED':
    case 'CUSTODIAN_RETIRED':
    case 'FACTORS_THROTTLED':
      return { field: fields.who, text: 'Choose who is at the keyboard' };
    default:
      return null;
  }
}

/** The factor fields' ids of a form, so that problems can link to them. */
export const factorIds = (prefix: string) => ({
  who: `${prefix}-who`,
  passphrase: `${prefix}-passphrase`,
  code: `${prefix}-code`,
});
export type FactorIds = ReturnType<typeof factorIds>;

/**
 * Which person's fields a refusal points at, where several people type in turn (holders, approving officers): the
 * one whose factors the core names, or the only one when it names nobody. Null when it cannot tell.
 */
export function personProblem(
  error: WireError,
  people: readonly Pick<Proof, 'custodianId'>[],
  idsOf: (i: number) => FactorIds,
): { problem: Problem | null; index: number } | null {
  const index =
    error.custodianId === undefined
      ? people.length === 1
        ? 0
        : -1
      : people.findIndex((p) => p.custodianId === error.custodianId);
  return index < 0 ? null : { problem: factorProblem(error.code, idsOf(index)), index };
}

/** The people of a form named twice: a link to each later choice of someone already chosen. */
export function chosenTwice(people: readonly Pick<Proof, 'custodianId'>[], whoId: (i: number) => string): Problem[] {
  return people.flatMap((p, i) => {
    const first = people.findIndex((q) => q.custodianId === p.custodianId);
    return p.custodianId && first < i ? [{ field: whoId(i), text: `Choose someone else: already chosen above` }] : [];
  });
}

/** What is missing before the core is asked at all: a refused try would cost the person a code. */
export function missingFactors(proof: Proof, prefix: string, verb: string): Problem[] {
  const ids = factorIds(prefix);
  return [
    ...(proof.custodianId ? [] : [{ field: ids.who, text: `Choose who ${verb}` }]),
    ...(proof.passphrase ? [] : [{ field: ids.passphrase, text: 'Type the passphrase' }]),
    ...(/^\d{6}$/.test(proof.code) ? [] : [{ field: ids.code, text: 'Type the 6-digit code the authenticator shows' }]),
  ];
}
