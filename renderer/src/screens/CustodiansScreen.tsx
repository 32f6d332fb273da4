import { useEffect, useRef, useState, type FormEvent } from 'react';
import type { CustodianSummary, Role } from '../../../shared/custodians';
import type { WireError } from '../../../shared/errors';
import type { Proof } from '../store/quorum-slice';
import { ErrorSummary, factorIds, factorProblem, missingFactors, type Problem } from '../app/ErrorSummary';
import { emptyProof, FactorInputs } from '../app/FactorFields';
import {
  approvalProblem,
  missingApprovals,
  officerFieldIds,
  OfficerApprovalFields,
  useOfficerApprovals,
} from '../app/OfficerApprovals';
import { Outcome } from '../app/Outcome';
import { useCustos } from '../store/context';
import { useFocusOnOpen } from '../app/focus-on-open';
import { RetireForm } from './RetireCustodian';
import { UnlockForm } from './UnlockCustodian';

const CHECK_ID = 'check';
const APPROVER_ID = 'approver';
const FIRST_ROLE_ID = 'enrol-role-custodian';
const NO_OFFICER_ID = 'enrol-no-officer';

const roleNames: Record<Role, string> = {
  custodian: 'Custodian',
  'security-officer': 'Security officer',
  auditor: 'Auditor',
};

export function CustodiansScreen() {
  const load = useCustos((s) => s.loadCustodians);
  // A refusal a form shows itself, next to its fields, is not shown twice.
  const error = useCustos((s) => (s.custodianErrorAt === null ? s.custodianError : null));
  const notice = useCustos((s) => s.custodianNotice);
  const enrolment = useCustos((s) => s.enrolment);
  useEffect(() => {
    void load();
  }, [load]);
  return (
    <section aria-labelledby="screen-title">
      <h1 id="screen-title">Custodians</h1>
      <p>
        Each custodian proves two factors for every approval: a passphrase only they know, and a code from an
        authenticator app on their phone. Neither is stored where a copy of the database could reveal it.
      </p>
      <Outcome error={error} notice={notice} />
      {enrolment ? <ConfirmEnrolment /> : <EnrolForm />}
      <CustodianList />
    </section>
  );
}

/** What the enrolment form still lacks, each linked to the field that fixes it (the core checks it all again). */
export function enrolmentProblems(form: {
  name: string;
  roles: readonly Role[];
  passphrase: string;
  again: string;
  approvals: { approvers: readonly Proof[]; sameOfficer: boolean };
  /** Why no officer can approve, when none can (all locked out); null when they can. */
  noOfficer: string | null;
}): Problem[] {
  return [
    ...(form.name.trim() ? [] : [{ field: 'enrol-name', text: 'Type the custodian’s full name' }]),
    ...(form.roles.length ? [] : [{ field: FIRST_ROLE_ID, text: 'Choose at least one role' }]),
    ...(form.passphrase ? [] : [{ field: 'enrol-passphrase', text: 'Type the custodian’s passphrase' }]),
    ...(form.passphrase && form.again !== form.passphrase
      ? [{ field: 'enrol-passphrase-again', text: 'Type the same passphrase again' }]
      : []),
    ...(form.noOfficer
      ? [{ field: NO_OFFICER_ID, text: form.noOfficer }]
      : missingApprovals(form.approvals, APPROVER_ID)),
    ...(form.approvals.sameOfficer
      ? [{ field: officerFieldIds(APPROVER_ID, 1).who, text: 'Choose two different security officers' }]
      : []),
  ];
}

/** Which enrolment field a refusal from the core points at: the passphrase, the name, or that officer's factors. */
function enrolmentProblem(error: WireError, approvals: { approvers: readonly Proof[] }): Problem | null {
  if (error.code === 'PASSPHRASE_WEAK') return { field: 'enrol-passphrase', text: 'Choose a harder passphrase' };
  if (error.code === 'CUSTODIAN_EXISTS') return { field: 'enrol-name', text: 'Check the name' };
  return approvalProblem(error, approvals, APPROVER_ID);
}

export function EnrolForm() {
  const begin = useCustos((s) => s.beginEnrolment);
  const busy = useCustos((s) => s.custodianBusy);
  const custodians = useCustos((s) => s.custodians);
  const error = useCustos((s) => (s.custodianErrorAt === 'enrol' ? s.custodianError : null));
  const [name, setName] = useState('');
  const [roles, setRoles] = useState<Role[]>(['custodian']);
  const [passphrase, setPassphrase] = useState('');
  const [again, setAgain] = useState('');
  const [problems, setProblems] = useState<Problem[]>([]);
  // With nobody enrolled, this is the installation's setup: the first person is its security officer.
  const setup = custodians !== null && custodians.length === 0;
  const chosen: Role[] = setup && !roles.includes('security-officer') ? [...roles, 'security-officer'] : roles;
  // A retired officer counts nowhere (the core refuses their factors).
  const allOfficers = (custodians ?? []).filter((c) => c.roles.includes('security-officer') && c.retiredAt === null);
  const officers = allOfficers.filter((c) => !c.locked);
  // A locked-out officer still counts towards the two a new officer needs (the core refuses otherwise).
  const needed = setup ? 0 : chosen.includes('security-officer') ? Math.min(2, allOfficers.length) : 1;
  const approvals = useOfficerApprovals(needed, officers);
  const mismatch = again.length > 0 && passphrase !== again;
  const noOfficer = setup
    ? null
    : officers.length === 0
      ? 'Every security officer is locked out, so nobody can approve an enrolment. Unlock a security officer first.'
      : officers.length < needed
        ? 'A security officer is locked out, and a new security officer needs two officers. Unlock them first.'
        : null;
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const missing = enrolmentProblems({ name, roles: chosen, passphrase, again, approvals, noOfficer });
    setProblems(missing);
    if (missing.length > 0) return;
    const ok = await begin(name, chosen, passphrase, approvals.approvers);
    // Officers type in turn at the same console: their factors never stay in the form.
    approvals.clearFactors();
    if (ok) {
      setPassphrase('');
      setAgain('');
    }
  };
  return (
    <form className="card" aria-labelledby="enrol-title" onSubmit={(e) => void submit(e)} noValidate>
      <ErrorSummary problems={problems} error={error} link={error && enrolmentProblem(error, approvals)} />
      <h2 id="enrol-title">{setup ? 'Set up Custos: enrol its first security officer' : 'Enrol a custodian'}</h2>
      {setup ? (
        <p>
          Nobody is enrolled yet. The first person enrolled is this installation’s security officer, recorded as its
          setup. From then on every enrolment needs a security officer’s passphrase and code, and a new security officer
          needs two officers once two exist.
        </p>
      ) : (
        <p className="muted">
          The custodian types their own passphrase; nobody else should see it. A security officer approves with both
          factors
          {chosen.includes('security-officer') && allOfficers.length >= 2
            ? ' — two officers for a new security officer'
            : ''}
          . Step 2 shows the code to add to the custodian’s authenticator app.
        </p>
      )}
      <label htmlFor="enrol-name">Full name</label>
      <input id="enrol-name" type="text" value={name} onChange={(e) => setName(e.target.value)} autoComplete="off" />
      <fieldset>
        <legend>Roles</legend>
        {(Object.keys(roleNames) as Role[]).map((role) => (
          <label key={role} className="checkbox">
            <input
              id={`enrol-role-${role}`}
              type="checkbox"
              checked={chosen.includes(role)}
              disabled={setup && role === 'security-officer'}
              onChange={(e) => setRoles(e.target.checked ? [...roles, role] : roles.filter((r) => r !== role))}
            />{' '}
            {roleNames[role]}
          </label>
        ))}
      </fieldset>
      <label htmlFor="enrol-passphrase">Passphrase</label>
      <input
        id="enrol-passphrase"
        type="password"
        value={passphrase}
        onChange={(e) => setPassphrase(e.target.value)}
        autoComplete="new-password"
        aria-describedby="passphrase-help"
      />
      <p id="passphrase-help" className="muted">
        Five or more unrelated words picked at random (dice or a word list) are easy to remember and hard to guess.
        Custos checks it against dictionaries of words, names and common passwords and says why when it is too easy.
      </p>
      <label htmlFor="enrol-passphrase-again">Passphrase again</label>
      <input
        id="enrol-passphrase-again"
        type="password"
        value={again}
        onChange={(e) => setAgain(e.target.value)}
        autoComplete="new-password"
        aria-invalid={mismatch}
        aria-describedby={mismatch ? 'enrol-passphrase-mismatch' : undefined}
      />
      {mismatch && (
        <p id="enrol-passphrase-mismatch" className="bad">
          The two passphrases differ.
        </p>
      )}
      {noOfficer && (
        <p id={NO_OFFICER_ID} tabIndex={-1} className="bad">
          {noOfficer}
        </p>
      )}
      <OfficerApprovalFields idPrefix={APPROVER_ID} approvals={approvals} officers={officers} />
      <div className="actions">
        <button type="submit" disabled={busy}>
          {busy ? 'Protecting the passphrase…' : 'Continue to the authenticator'}
        </button>
      </div>
    </form>
  );
}

const CODE_PROBLEM: Problem = { field: 'enrol-code', text: 'Type the 6-digit code the authenticator app shows now' };

function ConfirmEnrolment() {
  const enrolment = useCustos((s) => s.enrolment)!;
  const confirm = useCustos((s) => s.confirmEnrolment);
  const cancel = useCustos((s) => s.cancelEnrolment);
  const busy = useCustos((s) => s.custodianBusy);
  const error = useCustos((s) => (s.custodianErrorAt === 'enrol-confirm' ? s.custodianError : null));
  const [code, setCode] = useState('');
  const [problems, setProblems] = useState<Problem[]>([]);
  const heading = useFocusOnOpen();
  const grouped = enrolment.secret.match(/.{1,4}/g)?.join(' ') ?? enrolment.secret;
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const missing = /^\d{6}$/.test(code) ? [] : [CODE_PROBLEM];
    setProblems(missing);
    if (missing.length > 0) return;
    if (!(await confirm(code))) setCode('');
  };
  return (
    <form className="card" aria-labelledby="confirm-title" onSubmit={(e) => void submit(e)} noValidate>
      <ErrorSummary problems={problems} error={error} link={error?.code === 'TOTP_INCORRECT' ? CODE_PROBLEM : null} />
      <h2 id="confirm-title" tabIndex={-1} ref={heading}>
        Add {enrolment.name} to the authenticator app
      </h2>
      <p>
        Scan this code with the authenticator app (shown only now), or type the key below into it. Then type the 6-digit
        code the app shows.
      </p>
      <img
        className="qr"
        alt={`QR code for ${enrolment.name}'s authenticator`}
        src={`data:image/svg+xml;base64,${btoa(enrolment.qrSvg)}`}
        width={200}
        height={200}
      />
      <p>
        Key: <code className="secret">{grouped}</code>
      </p>
      <label htmlFor="enrol-code">6-digit code</label>
      <input
        id="enrol-code"
        type="text"
        inputMode="numeric"
        pattern="[0-9]{6}"
        maxLength={6}
        value={code}
        onChange={(e) => setCode(e.target.value.replace(/\D/g, ''))}
        autoComplete="one-time-code"
      />
      <div className="actions">
        <button type="submit" disabled={busy}>
          Confirm enrolment
        </button>
        <button type="button" onClick={() => void cancel()}>
          Cancel
        </button>
      </div>
    </form>
  );
}

type FormKind = 'check' | 'unlock' | 'retire';

function CustodianList() {
  const custodians = useCustos((s) => s.custodians);
  const [open, setOpen] = useState<{ id: string; kind: FormKind } | null>(null);
  // A form closed unused hands focus back to the button that opened it, not to the top of the page.
  const reopen = useRef<{ id: string; kind: FormKind } | null>(null);
  useEffect(() => {
    if (open || !reopen.current) return;
    const { id, kind } = reopen.current;
    reopen.current = null;
    document.querySelector<HTMLElement>(`tr[data-custodian="${id}"] button[data-form="${kind}"]`)?.focus();
  }, [open]);
  const close = () => {
    reopen.current = open;
    setOpen(null);
  };
  if (!custodians) return <p role="status">Loading custodians…</p>;
  const serving = custodians.filter((c) => c.retiredAt === null);
  const retired = custodians.filter((c) => c.retiredAt !== null);
  const person = open && serving.find((c) => c.id === open.id);
  return (
    <section className="card" aria-labelledby="list-title">
      <h2 id="list-title">Enrolled custodians ({serving.length})</h2>
      {serving.length === 0 ? (
        <p>Nobody is enrolled yet.</p>
      ) : (
        <table className="data">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Roles</th>
              <th scope="col">Enrolled</th>
              <th scope="col">Status</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {serving.map((c) => (
              <tr key={c.id} data-custodian={c.id}>
                <th scope="row">{c.name}</th>
                <td>{c.roles.map((r) => roleNames[r]).join(', ')}</td>
                <td>{c.enrolledAt.slice(0, 10)}</td>
                <td>{status(c)}</td>
                <td className="actions">
                  <button
                    type="button"
                    onClick={() => setOpen({ id: c.id, kind: 'check' })}
                    data-form="check"
                    aria-label={`Check the factors of ${c.name}`}
                  >
                    Check factors
                  </button>
                  {c.locked && (
                    <button
                      type="button"
                      onClick={() => setOpen({ id: c.id, kind: 'unlock' })}
                      data-form="unlock"
                      aria-label={`Unlock ${c.name}`}
                    >
                      Unlock
                    </button>
                  )}
                  <button
                    type="button"
                    onClick={() => setOpen({ id: c.id, kind: 'retire' })}
                    data-form="retire"
                    aria-label={`Retire ${c.name}`}
                  >
                    Retire
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {person && open.kind === 'retire' && (
        <RetireForm
          key={person.id}
          person={person}
          everyone={custodians}
          onDone={() => setOpen(null)}
          onClose={close}
        />
      )}
      {person && open.kind === 'unlock' && (
        <UnlockForm
          key={person.id}
          person={person}
          everyone={custodians}
          onDone={() => setOpen(null)}
          onClose={close}
        />
      )}
      {person && open.kind === 'check' && (
        <CheckFactorsForm key={person.id} custodian={person} onDone={() => setOpen(null)} onClose={close} />
      )}
      {retired.length > 0 && <RetiredList retired={retired} />}
    </section>
  );
}

/** People who left: kept on record by name, never asked for factors again, so no actions. */
function RetiredList({ retired }: { retired: CustodianSummary[] }) {
  return (
    <>
      <h3 id="retired-title">Retired ({retired.length})</h3>
      <p className="muted">
        They have left. Their names stay in the records; their passphrases and codes approve nothing.
      </p>
      <table className="data" aria-labelledby="retired-title">
        <thead>
          <tr>
            <th scope="col">Name</th>
            <th scope="col">Roles</th>
            <th scope="col">Enrolled</th>
            <th scope="col">Retired</th>
          </tr>
        </thead>
        <tbody>
          {retired.map((c) => (
            <tr key={c.id} data-custodian={c.id}>
              <th scope="row">{c.name}</th>
              <td>{c.roles.map((r) => roleNames[r]).join(', ')}</td>
              <td>{c.enrolledAt.slice(0, 10)}</td>
              <td>{c.retiredAt!.slice(0, 10)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}

function status(c: CustodianSummary): string {
  if (c.locked) return 'Locked out — a security officer must unlock';
  if (c.throttledUntil && new Date(c.throttledUntil) > new Date())
    return `Waiting after failed attempts (until ${c.throttledUntil.slice(11, 19)} UTC)`;
  if (c.failures > 0) return `${c.failures} failed attempt${c.failures === 1 ? '' : 's'}`;
  return 'Ready';
}

/** A custodian proves both factors, to learn they still work; nothing else happens. */
export function CheckFactorsForm({
  custodian,
  onDone,
  onClose,
}: {
  custodian: CustodianSummary;
  onDone: () => void;
  onClose: () => void;
}) {
  const check = useCustos((s) => s.checkFactors);
  const busy = useCustos((s) => s.custodianBusy);
  const error = useCustos((s) => (s.custodianErrorAt === `check:${custodian.id}` ? s.custodianError : null));
  const [proof, setProof] = useState(emptyProof(custodian.id));
  const [problems, setProblems] = useState<Problem[]>([]);
  const heading = useFocusOnOpen();
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const missing = missingFactors(proof, CHECK_ID, 'checks');
    setProblems(missing);
    if (missing.length > 0) return;
    const ok = await check(custodian.id, proof.passphrase, proof.code);
    setProof(emptyProof(custodian.id));
    if (ok) onDone();
  };
  // Nobody is chosen here (the custodian is the row's): a refusal about who links to nothing.
  const fromCore = error && factorProblem(error.code, factorIds(CHECK_ID));
  return (
    <form className="card inset" aria-labelledby="check-title" onSubmit={(e) => void submit(e)} noValidate>
      <ErrorSummary
        problems={problems}
        error={error}
        link={fromCore?.field === factorIds(CHECK_ID).who ? null : fromCore}
      />
      <h3 id="check-title" tabIndex={-1} ref={heading}>
        {custodian.name}: check both factors
      </h3>
      <p className="muted">
        Only a check: it approves nothing. A wrong try counts towards a lockout like any other, and a code used here
        cannot be used again.
      </p>
      <FactorInputs
        id={CHECK_ID}
        labels={[`${custodian.name}’s passphrase`, `${custodian.name}’s code from the authenticator`]}
        proof={proof}
        onChange={(change) => setProof({ ...proof, ...change })}
      />
      <div className="actions">
        <button type="submit" disabled={busy}>
          {busy ? 'Checking…' : 'Check both factors'}
        </button>
        <button type="button" onClick={onClose}>
          Close
        </button>
      </div>
    </form>
  );
}
