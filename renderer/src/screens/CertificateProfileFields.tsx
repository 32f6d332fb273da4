import {
  EXTENDED_KEY_USAGES,
  KEY_USAGE_WORDS,
  KEY_USAGES,
  type CertExtendedKeyUsage,
  type CertificateProfile,
  type CertKeyUsage,
} from '../../../shared/pki';
import type { WireError } from '../../../shared/errors';
import { factorIds, factorProblem, type Problem } from '../app/ErrorSummary';

/** A certificate profile as typed into a form: text until it is proposed. */
export interface ProfileDraft {
  commonName: string;
  organization: string;
  organizationalUnit: string;
  country: string;
  /** Days as the date fields hold them (YYYY-MM-DD, UTC); `to` empty means the latest the signer allows. */
  from: string;
  to: string;
  ca: boolean;
  pathLength: string;
  keyUsage: CertKeyUsage[];
  extendedKeyUsage: CertExtendedKeyUsage[];
  crlUrl: string;
}

export const today = () => new Date().toISOString().slice(0, 10);

/** A CA's profile to start from: what RFC 5280 asks of a CA, nothing more. */
export const caDraft = (): ProfileDraft => ({
  commonName: '',
  organization: '',
  organizationalUnit: '',
  country: '',
  from: today(),
  to: '',
  ca: true,
  pathLength: '',
  keyUsage: ['keyCertSign', 'cRLSign'],
  extendedKeyUsage: [],
  crlUrl: '',
});

/** The last day a certificate may be valid to: the day before the instant its signer's validity ends. */
export const lastDayBefore = (...instants: string[]) =>
  new Date(Math.min(...instants.map((i) => Date.parse(i) - 1))).toISOString().slice(0, 10);

const EKU_WORDS: Record<CertExtendedKeyUsage, string> = {
  serverAuth: 'TLS servers',
  clientAuth: 'TLS clients',
  codeSigning: 'signing code',
  emailProtection: 'e-mail protection',
  timeStamping: 'time stamping',
  OCSPSigning: 'signing OCSP responses',
};

const URL_PATTERN = /^(https?|ldap):\/\/[^\s]+$/;

/** The profile the core checks, from the draft (empty optional fields left out). */
export function profileOf(d: ProfileDraft, lastDay: string): CertificateProfile {
  const text = (v: string) => (v.trim() ? v.trim() : undefined);
  const subject = {
    commonName: d.commonName.trim(),
    ...(text(d.organization) ? { organization: text(d.organization) } : {}),
    ...(text(d.organizationalUnit) ? { organizationalUnit: text(d.organizationalUnit) } : {}),
    ...(text(d.country) ? { country: d.country.trim() } : {}),
  };
  return {
    subject,
    notBefore: `${d.from}T00:00:00Z`,
    notAfter: `${d.to || lastDay}T00:00:00Z`,
    ca: d.ca,
    ...(d.ca && d.pathLength.trim() !== '' ? { pathLength: Number(d.pathLength) } : {}),
    keyUsage: KEY_USAGES.filter((u) => d.keyUsage.includes(u)),
    ...(d.extendedKeyUsage.length ? { extendedKeyUsage: d.extendedKeyUsage } : {}),
    ...(d.crlUrl.trim() ? { crlDistributionPoints: [d.crlUrl.trim()] } : {}),
  };
}

/** What must be fixed before the core is asked: each problem links to its field. */
export function profileProblems(d: ProfileDraft, prefix: string, lastDay: string): Problem[] {
  const to = d.to || lastDay;
  return [
    ...(d.commonName.trim() ? [] : [{ field: `${prefix}-cn`, text: 'Type the common name (CN)' }]),
    ...(d.country.trim() === '' || /^[A-Z]{2}$/.test(d.country.trim())
      ? []
      : [{ field: `${prefix}-c`, text: 'Type the country as two capital letters, for example NL' }]),
    ...(d.from ? [] : [{ field: `${prefix}-from`, text: 'Choose the first day it is valid' }]),
    ...(d.from && to && to <= d.from ? [{ field: `${prefix}-to`, text: 'Choose a last day after the first day' }] : []),
    ...(d.ca && d.pathLength.trim() !== '' && !/^[0-8]$/.test(d.pathLength.trim())
      ? [{ field: `${prefix}-path`, text: 'Type a path length from 0 to 8, or leave it empty' }]
      : []),
    ...(d.keyUsage.length > 0
      ? []
      : [{ field: `${prefix}-usage-${KEY_USAGES[0]}`, text: 'Choose at least one use of the key' }]),
    ...(d.crlUrl.trim() === '' || URL_PATTERN.test(d.crlUrl.trim())
      ? []
      : [{ field: `${prefix}-crl`, text: 'Type the revocation list’s address starting http://, https:// or ldap://' }]),
  ];
}

/**
 * Which field a refusal from the core points at. A refused profile names each reason in its remedy (the summary lists
 * them); the link goes to the field the first reason is about.
 */
export function refusalProblem(error: WireError | null, prefix: string): Problem | null {
  if (!error) return null;
  switch (error.code) {
    case 'CSR_INVALID':
      return { field: `${prefix}-csr`, text: 'Paste the request again, exactly as its file holds it' };
    case 'CA_CERT_MISSING':
      return { field: `${prefix}-key`, text: 'Choose a CA key that has its CA certificate' };
    case 'CERT_PROFILE_REFUSED': {
      const first = error.remedy[0] ?? '';
      const field = /valid until|expired|outlive/.test(first)
        ? `${prefix}-to`
        : /path length/i.test(first)
          ? `${prefix}-path`
          : /RSA/.test(first)
            ? `${prefix}-csr`
            : `${prefix}-usage-${KEY_USAGES[0]}`;
      return { field, text: 'Change the profile as each reason below says' };
    }
    default:
      return factorProblem(error.code, factorIds(`${prefix}-requester`));
  }
}

/** The fields of a certificate profile, the same for a root and for a certificate issued from a request. */
export function ProfileFields({
  prefix,
  draft,
  onChange,
  lastDay,
  chooseCa,
}: {
  prefix: string;
  draft: ProfileDraft;
  onChange: (draft: ProfileDraft) => void;
  lastDay: string;
  /** A root is always a CA; a certificate from a request may be a CA (intermediate) or an end entity. */
  chooseCa: boolean;
}) {
  const field = (name: keyof ProfileDraft) => (value: string) => onChange({ ...draft, [name]: value });
  const toggle = <T extends string>(list: T[], item: T) =>
    list.includes(item) ? list.filter((i) => i !== item) : [...list, item];
  return (
    <>
      <fieldset>
        <legend>Subject</legend>
        <TextField
          id={`${prefix}-cn`}
          label="Common name (CN)"
          value={draft.commonName}
          onChange={field('commonName')}
        />
        <TextField
          id={`${prefix}-o`}
          label="Organisation (O), optional"
          value={draft.organization}
          onChange={field('organization')}
        />
        <TextField
          id={`${prefix}-ou`}
          label="Organisational unit (OU), optional"
          value={draft.organizationalUnit}
          onChange={field('organizationalUnit')}
        />
        <TextField
          id={`${prefix}-c`}
          label="Country (C), two capital letters, optional"
          value={draft.country}
          onChange={(v) => field('country')(v.toUpperCase())}
          maxLength={2}
        />
      </fieldset>
      <fieldset>
        <legend>Valid (UTC)</legend>
        <label htmlFor={`${prefix}-from`}>From</label>
        <input id={`${prefix}-from`} type="date" value={draft.from} onChange={(e) => field('from')(e.target.value)} />
        <label htmlFor={`${prefix}-to`}>Until</label>
        <input
          id={`${prefix}-to`}
          type="date"
          value={draft.to || lastDay}
          max={lastDay}
          onChange={(e) => field('to')(e.target.value)}
          aria-describedby={`${prefix}-to-hint`}
        />
        <p id={`${prefix}-to-hint`} className="hint">
          At most {lastDay}: nothing a key signs may outlive its cryptoperiod, nor its issuer’s certificate.
        </p>
      </fieldset>
      {chooseCa && (
        <label className="checkbox">
          <input
            type="checkbox"
            checked={draft.ca}
            onChange={(e) => onChange({ ...draft, ca: e.target.checked })}
            aria-describedby={`${prefix}-ca-hint`}
          />{' '}
          A certificate authority (an intermediate CA)
        </label>
      )}
      {chooseCa && (
        <p id={`${prefix}-ca-hint`} className="hint">
          Leave it unticked for an end-entity certificate (a server, a person, a code signer).
        </p>
      )}
      {draft.ca && (
        <>
          <label htmlFor={`${prefix}-path`}>Path length: how many CAs may follow below it (0–8, optional)</label>
          <input
            id={`${prefix}-path`}
            type="text"
            inputMode="numeric"
            maxLength={1}
            value={draft.pathLength}
            onChange={(e) => field('pathLength')(e.target.value)}
          />
        </>
      )}
      <fieldset>
        <legend>The key may be used for</legend>
        {KEY_USAGES.map((u) => (
          <label key={u} className="checkbox">
            <input
              id={`${prefix}-usage-${u}`}
              type="checkbox"
              checked={draft.keyUsage.includes(u)}
              onChange={() => onChange({ ...draft, keyUsage: toggle(draft.keyUsage, u) })}
            />{' '}
            {KEY_USAGE_WORDS[u]} <span className="muted">({u})</span>
          </label>
        ))}
      </fieldset>
      {chooseCa && (
        <fieldset>
          <legend>Extended purposes (optional)</legend>
          {(Object.keys(EXTENDED_KEY_USAGES) as CertExtendedKeyUsage[]).map((u) => (
            <label key={u} className="checkbox">
              <input
                type="checkbox"
                checked={draft.extendedKeyUsage.includes(u)}
                onChange={() => onChange({ ...draft, extendedKeyUsage: toggle(draft.extendedKeyUsage, u) })}
              />{' '}
              {EKU_WORDS[u]} <span className="muted">({u})</span>
            </label>
          ))}
        </fieldset>
      )}
      <TextField
        id={`${prefix}-crl`}
        label="Where its revocation lists are published (a URL, optional)"
        value={draft.crlUrl}
        onChange={field('crlUrl')}
        maxLength={512}
      />
    </>
  );
}

function TextField({
  id,
  label,
  value,
  onChange,
  maxLength = 64,
}: {
  id: string;
  label: string;
  value: string;
  onChange: (value: string) => void;
  maxLength?: number;
}) {
  return (
    <>
      <label htmlFor={id}>{label}</label>
      <input
        id={id}
        type="text"
        value={value}
        maxLength={maxLength}
        onChange={(e) => onChange(e.target.value)}
        autoComplete="off"
      />
    </>
  );
}
