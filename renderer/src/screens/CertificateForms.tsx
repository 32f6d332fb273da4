import { useState, type FormEvent, type ReactNode } from 'react';
import type { KeyRecord } from '../../../shared/keys';
import { RevocationReason, type CertificateRecord } from '../../../shared/pki';
import type { CustodyView } from '../../../shared/quorum';
import { ErrorSummary, missingFactors, type Problem } from '../app/ErrorSummary';
import { emptyProof, FactorFields } from '../app/FactorFields';
import { PAGE_TITLE_ID } from '../app/SubPage';
import { useCustos } from '../store/context';
import { certificateFormOf, type CertificateCeremony } from '../store/quorum-slice';
import {
  caDraft,
  lastDayBefore,
  ProfileFields,
  profileOf,
  profileProblems,
  refusalProblem,
  type ProfileDraft,
} from './CertificateProfileFields';

/** The token in custody that holds a key: its holders approve what the key signs. */
const custodyOf = (key: KeyRecord, custodies: readonly CustodyView[]) =>
  custodies.find(
    (c) => c.state === 'active' && c.token.serial === key.token.serial && c.token.label === key.token.label,
  );

const keyChoice = (k: KeyRecord) => `${k.label} (${k.algorithm}, in ${k.token.label})`;

/** What every certificate form shares: the proposer, the error summary, the one submit button. */
function useCeremonyForm(action: CertificateCeremony, prefix: string) {
  const custodians = useCustos((s) => s.custodians) ?? [];
  const custodies = useCustos((s) => s.custodies) ?? [];
  const propose = useCustos((s) => s.proposeCertificateCeremony);
  const busy = useCustos((s) => s.quorumBusy);
  const error = useCustos((s) => (s.quorumErrorAt === certificateFormOf(action) ? s.quorumError : null));
  const [proof, setProof] = useState(emptyProof());
  const [problems, setProblems] = useState<Problem[]>([]);
  const proposers = custodians.filter((c) => c.roles.some((r) => r !== 'auditor'));
  /** Checks the fields, then proposes; the factors are cleared whatever the answer, the whole form on success. */
  const submit = async (
    key: KeyRecord | undefined,
    fieldProblems: Problem[],
    params: () => Parameters<typeof propose>[2],
  ): Promise<boolean> => {
    const custody = key ? custodyOf(key, custodies) : undefined;
    const missing = [...fieldProblems, ...missingFactors(proof, `${prefix}-requester`, 'proposes it')];
    setProblems(missing);
    if (missing.length > 0 || !custody) return false;
    const ok = await propose(custody.id, action, params(), proof);
    setProof(ok ? emptyProof() : { ...proof, passphrase: '', code: '' });
    return ok;
  };
  const factors = (
    <FactorFields
      id={`${prefix}-requester`}
      label="Proposed by"
      proof={proof}
      onChange={setProof}
      choices={proposers}
    />
  );
  const summary = <ErrorSummary problems={problems} error={error} link={refusalProblem(error, prefix)} />;
  return { submit, factors, summary, busy };
}

/** A ceremony's form, the whole of its page and named by the page's title. */
function CeremonyForm({ onSubmit, children }: { onSubmit: () => Promise<unknown>; children: ReactNode }) {
  return (
    <form
      className="card"
      aria-labelledby={PAGE_TITLE_ID}
      onSubmit={(e: FormEvent) => {
        e.preventDefault();
        void onSubmit();
      }}
      noValidate
    >
      {children}
    </form>
  );
}

function KeySelect({
  id,
  label,
  keys,
  value,
  onChange,
  'aria-describedby': describedBy,
}: {
  id: string;
  label: string;
  keys: KeyRecord[];
  value: string;
  onChange: (id: string) => void;
  'aria-describedby'?: string;
}) {
  return (
    <>
      <label htmlFor={id}>{label}</label>
      <select id={id} value={value} onChange={(e) => onChange(e.target.value)} aria-describedby={describedBy}>
        {keys.map((k) => (
          <option key={k.id} value={k.id}>
            {keyChoice(k)}
          </option>
        ))}
      </select>
    </>
  );
}

/** The keys that may sign their own root: active signing keys within their usage period, in a token in custody. */
export const rootSigners = (keys: KeyRecord[], custodies: readonly CustodyView[]) =>
  keys.filter(
    (k) =>
      k.state === 'active' &&
      !k.usagePeriodEnded &&
      k.usage === 'sign' &&
      k.fingerprint !== null &&
      custodyOf(k, custodies),
  );

/** cert.self-sign: an active signing key in a token in custody signs its own certificate. */
export function RootCertificateForm({ keys, certificates }: { keys: KeyRecord[]; certificates: CertificateRecord[] }) {
  const custodies = useCustos((s) => s.custodies) ?? [];
  const proposals = useCustos((s) => s.proposals) ?? [];
  const form = useCeremonyForm('cert.self-sign', 'root');
  const [keyId, setKeyId] = useState('');
  const [draft, setDraft] = useState<ProfileDraft>(caDraft);
  const signers = rootSigners(keys, custodies);
  const key = signers.find((k) => k.id === keyId) ?? signers[0];
  if (!key) return null;
  const lastDay = lastDayBefore(key.expiresAt);
  // A second root for the same key is allowed (a renewal), but never by accident.
  const waiting = proposals.find(
    (p) => p.state === 'open' && p.action === 'cert.self-sign' && p.params.keyId === key.id,
  );
  const existing = certificates.find((c) => c.selfSigned && c.keyId === key.id && c.status === 'valid');
  const submit = async () => {
    const ok = await form.submit(key, profileProblems(draft, 'root', lastDay), () => ({
      keyId: key.id,
      profile: profileOf(draft, lastDay),
    }));
    if (ok) setDraft(caDraft());
  };
  return (
    <CeremonyForm onSubmit={submit}>
      {form.summary}
      <p>
        The key signs its own certificate inside its token; the private key never leaves it. The holders of the key’s
        token approve the certificate exactly as written here, with a serial Custos draws from the token.
      </p>
      <KeySelect
        id="root-key"
        label="Signing key"
        keys={signers}
        value={key.id}
        onChange={(id) => {
          setKeyId(id);
          setDraft({ ...draft, to: '' });
        }}
        aria-describedby={waiting || existing ? 'root-key-state' : undefined}
      />
      {(waiting || existing) && (
        <p id="root-key-state" className="notice" role="note">
          {waiting
            ? `A root certificate for “${key.label}” already waits for approval (fingerprint ${waiting.shortFingerprint}). `
            : `“${key.label}” already has a root certificate, ${existing!.subject}, valid until ${existing!.notAfter.slice(0, 10)}. `}
          Propose another only to replace it: both would stay valid until revoked or expired.
        </p>
      )}
      <ProfileFields prefix="root" draft={draft} onChange={setDraft} lastDay={lastDay} chooseCa={false} />
      {form.factors}
      <button type="submit" disabled={form.busy}>
        Propose the root certificate
      </button>
    </CeremonyForm>
  );
}

/** The CA keys that may issue and revoke: active signing keys in custody that hold a CA certificate here. */
export function caKeys(keys: KeyRecord[], certificates: CertificateRecord[], custodies: readonly CustodyView[]) {
  return keys.flatMap((k) => {
    const own = certificates.find((c) => c.ca && c.keyId === k.id && c.status === 'valid');
    return own && k.state === 'active' && custodyOf(k, custodies) ? [{ key: k, certificate: own }] : [];
  });
}

/** The CA keys that may issue now: past its usage period a CA key issues nothing, yet still signs its CRLs. */
export const issuingCas = (cas: ReturnType<typeof caKeys>) => cas.filter((c) => !c.key.usagePeriodEnded);

/** cert.issue: a CA key issues a certificate for the key in a PKCS#10 request pasted as text. */
export function IssueCertificateForm({ cas }: { cas: ReturnType<typeof caKeys> }) {
  const form = useCeremonyForm('cert.issue', 'issue');
  const [keyId, setKeyId] = useState('');
  const [csr, setCsr] = useState('');
  const [draft, setDraft] = useState<ProfileDraft>(caDraft);
  const ca = cas.find((c) => c.key.id === keyId) ?? cas[0];
  if (!ca) return null;
  const lastDay = lastDayBefore(ca.key.expiresAt, ca.certificate.notAfter);
  const submit = async () => {
    const text = csr.trim();
    const csrProblems = !text
      ? [{ field: 'issue-csr', text: 'Paste the certificate request' }]
      : !/^-----BEGIN (NEW )?CERTIFICATE REQUEST-----[\s\S]+-----END (NEW )?CERTIFICATE REQUEST-----$/.test(text)
        ? [{ field: 'issue-csr', text: 'Paste the whole request, from its BEGIN line to its END line' }]
        : [];
    const ok = await form.submit(ca.key, [...csrProblems, ...profileProblems(draft, 'issue', lastDay)], () => ({
      issuerKeyId: ca.key.id,
      csr: text,
      profile: profileOf(draft, lastDay),
    }));
    if (ok) {
      setDraft(caDraft());
      setCsr('');
    }
  };
  return (
    <CeremonyForm onSubmit={submit}>
      {form.summary}
      <p>
        The CA key signs a certificate for the key in the request. Custos checks the request’s signature before anyone’s
        factors are asked, and the approvers see its subject and public key fingerprint beside the profile below.
      </p>
      <KeySelect
        id="issue-key"
        label="CA key that signs"
        keys={cas.map((c) => c.key)}
        value={ca.key.id}
        onChange={(id) => {
          setKeyId(id);
          setDraft({ ...draft, to: '' });
        }}
      />
      <p className="hint">Its CA certificate: {ca.certificate.subject}.</p>
      <label htmlFor="issue-csr">The certificate request (PEM text)</label>
      <textarea
        id="issue-csr"
        rows={8}
        spellCheck={false}
        value={csr}
        onChange={(e) => setCsr(e.target.value)}
        aria-describedby="issue-csr-hint"
      />
      <p id="issue-csr-hint" className="hint">
        Open the request file in a text editor and paste all of it, from -----BEGIN CERTIFICATE REQUEST----- to the END
        line. A request is public: it holds no secret.
      </p>
      <ProfileFields prefix="issue" draft={draft} onChange={setDraft} lastDay={lastDay} chooseCa />
      {form.factors}
      <button type="submit" disabled={form.busy}>
        Propose issuing the certificate
      </button>
    </CeremonyForm>
  );
}

const REASON_WORDS: Record<RevocationReason, string> = {
  unspecified: 'no reason stated',
  keyCompromise: 'its key is compromised',
  cACompromise: 'its CA is compromised',
  affiliationChanged: 'its subject changed affiliation',
  superseded: 'it is replaced',
  cessationOfOperation: 'it is no longer used',
  privilegeWithdrawn: 'its privilege is withdrawn',
};

/** crl.issue: a CA key signs its next revocation list, revoking the certificates chosen here. */
export function RevocationListForm({
  cas,
  certificates,
}: {
  cas: ReturnType<typeof caKeys>;
  certificates: CertificateRecord[];
}) {
  const form = useCeremonyForm('crl.issue', 'crl');
  const [keyId, setKeyId] = useState('');
  const [revoke, setRevoke] = useState<Record<string, RevocationReason | null>>({});
  const [days, setDays] = useState('30');
  const ca = cas.find((c) => c.key.id === keyId) ?? cas[0];
  if (!ca) return null;
  const issued = certificates.filter((c) => c.issuerKeyId === ca.key.id && !c.selfSigned && c.status === 'valid');
  const chosen = issued.flatMap((c) => {
    const reason = revoke[c.serial];
    return reason ? [{ serial: c.serial, reason }] : [];
  });
  const submit = async () => {
    const dayProblems =
      /^\d{1,3}$/.test(days) && Number(days) >= 1 && Number(days) <= 366
        ? []
        : [{ field: 'crl-days', text: 'Type the days until the next list, from 1 to 366' }];
    const ok = await form.submit(ca.key, dayProblems, () => ({
      issuerKeyId: ca.key.id,
      revoke: chosen.map((r) => `${r.serial}:${r.reason}`),
      nextUpdateDays: Number(days),
    }));
    if (ok) setRevoke({});
  };
  return (
    <CeremonyForm onSubmit={submit}>
      {form.summary}
      <p>
        The CA key signs its next revocation list. Certificates it revoked before stay on the list; choose those to
        revoke now. With none chosen, the list is renewed.
      </p>
      <KeySelect
        id="crl-key"
        label="CA key that signs"
        keys={cas.map((c) => c.key)}
        value={ca.key.id}
        onChange={(id) => {
          setKeyId(id);
          setRevoke({});
        }}
      />
      <fieldset>
        <legend>Revoke now</legend>
        {issued.length === 0 && <p className="muted">This CA has issued no certificate that is still valid.</p>}
        {issued.map((c) => (
          <div key={c.serial} className="revoke-choice">
            <label className="checkbox">
              <input
                type="checkbox"
                checked={Boolean(revoke[c.serial])}
                onChange={(e) => setRevoke({ ...revoke, [c.serial]: e.target.checked ? 'unspecified' : null })}
              />{' '}
              {c.subject} <span className="muted">(serial {shortSerial(c.serial)})</span>
            </label>
            {revoke[c.serial] && (
              <>
                <label htmlFor={`crl-reason-${c.serial}`}>Why is {c.subject} revoked?</label>
                <select
                  id={`crl-reason-${c.serial}`}
                  value={revoke[c.serial]!}
                  onChange={(e) => setRevoke({ ...revoke, [c.serial]: RevocationReason.parse(e.target.value) })}
                >
                  {RevocationReason.options.map((r) => (
                    <option key={r} value={r}>
                      {REASON_WORDS[r]} ({r})
                    </option>
                  ))}
                </select>
              </>
            )}
          </div>
        ))}
      </fieldset>
      <label htmlFor="crl-days">Days until the next list is due (1–366)</label>
      <input
        id="crl-days"
        type="text"
        inputMode="numeric"
        maxLength={3}
        value={days}
        onChange={(e) => setDays(e.target.value.replace(/\D/g, ''))}
      />
      {form.factors}
      <button type="submit" disabled={form.busy}>
        Propose the revocation list
      </button>
    </CeremonyForm>
  );
}

/** A serial as people compare it by eye: its first and last groups. */
export const shortSerial = (serial: string) => `${serial.slice(0, 8)}…${serial.slice(-4)}`;
