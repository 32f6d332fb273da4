import { useEffect, useRef, useState } from 'react';
import { actionTitle } from '../../../shared/actions';
import type { KeyRecord } from '../../../shared/keys';
import type { CertificateRecord, CrlText } from '../../../shared/pki';
import { ErrorNotice } from '../app/ErrorNotice';
import { NextStep } from '../app/NextStep';
import { QuorumScreen } from '../app/QuorumScreen';
import { PageBody, PageLinks, useOpenPage, type ScreenPage } from '../app/SubPage';
import { caKeyIds } from '../store/certificates-slice';
import { useCustos } from '../store/context';
import { isCertificateCeremony } from '../store/quorum-slice';
import {
  caKeys,
  issuingCas,
  IssueCertificateForm,
  RevocationListForm,
  RootCertificateForm,
  rootSigners,
  shortSerial,
} from './CertificateForms';

/**
 * The certificate authority's work: what waits for approval, what it has issued (list → detail), its revocation lists,
 * then its three ceremonies, each on its own page.
 */
export function CertificatesScreen() {
  const loadCertificates = useCustos((s) => s.loadCertificates);
  const loadKeys = useCustos((s) => s.loadKeys);
  const certificates = useCustos((s) => s.certificates);
  const keys = useCustos((s) => s.keys) ?? [];
  const error = useCustos((s) => s.certificateError);
  const proposals = useCustos((s) => s.proposals);
  // A ceremony that ran since (on Approvals) changes the list: read it again whenever the proposals change.
  useEffect(() => {
    void loadCertificates();
    void loadKeys();
  }, [loadCertificates, loadKeys, proposals]);
  const groups = useCeremonyPages(keys, certificates ?? []);
  const open = useOpenPage(groups);
  return (
    <QuorumScreen title="Certificates" page={open?.title ?? null} errorTitle="The ceremony was not proposed">
      {open ? (
        <PageBody page={open} />
      ) : (
        <>
          {error && <ErrorNotice error={error} title="Certificates could not be read" />}
          <Waiting />
          <section className="card" aria-labelledby="certificates-title">
            <h2 id="certificates-title">Issued certificates</h2>
            {certificates && certificates.length === 0 ? (
              <>
                <p>
                  No certificate yet. A certificate authority starts with a root certificate, made for an active signing
                  key and approved by the holders of its token.
                </p>
                <FirstStep keys={keys} />
              </>
            ) : (
              <CertificateTable certificates={certificates ?? []} />
            )}
          </section>
          <RevocationLists certificates={certificates ?? []} keys={keys} />
          <PageLinks title="Certificate ceremonies" id="ceremonies-title" groups={groups} />
        </>
      )}
    </QuorumScreen>
  );
}

/** The three ceremonies, each a page; what is missing first is said instead of the way in. */
function useCeremonyPages(
  keys: KeyRecord[],
  certificates: CertificateRecord[],
): { title: string; pages: ScreenPage[] }[] {
  const custodies = useCustos((s) => s.custodies) ?? [];
  const cas = caKeys(keys, certificates, custodies);
  const issuers = issuingCas(cas);
  const noCa = 'Needs a CA key with its CA certificate: make a root certificate first.';
  return [
    {
      title: 'Certificates',
      pages: [
        {
          id: 'root',
          title: actionTitle('cert.self-sign'),
          summary: 'An active signing key signs its own certificate: the root of a certificate authority.',
          unavailable: !custodies.some((c) => c.state === 'active')
            ? 'Needs a token in custody first (Ceremonies screen).'
            : rootSigners(keys, custodies).length === 0
              ? 'Needs an active signing key, within its usage period, in a token in custody (Keys screen).'
              : null,
          render: () => <RootCertificateForm keys={keys} certificates={certificates} />,
        },
        {
          id: 'issue',
          title: actionTitle('cert.issue'),
          summary: 'A CA key signs a certificate for the key in a PKCS#10 request pasted as text.',
          unavailable:
            cas.length === 0
              ? noCa
              : issuers.length === 0
                ? 'The usage period of every CA key here has ended: rotate it on the Keys screen (it still signs revocation lists).'
                : null,
          render: () => <IssueCertificateForm cas={issuers} />,
        },
      ],
    },
    {
      title: 'Revocation',
      pages: [
        {
          id: 'crl',
          title: actionTitle('crl.issue'),
          summary: 'A CA key signs its next revocation list, revoking the certificates chosen, or renewing it.',
          unavailable: cas.length === 0 ? noCa : null,
          render: () => <RevocationListForm cas={cas} certificates={certificates} />,
        },
      ],
    },
  ];
}

/** Before the first certificate: what to do first, one keypress from where it is done. */
function FirstStep({ keys }: { keys: KeyRecord[] }) {
  const custodies = (useCustos((s) => s.custodies) ?? []).filter((c) => c.state === 'active');
  const loaded = useCustos((s) => s.keys !== null && s.custodies !== null);
  if (!loaded) return null;
  if (custodies.length === 0)
    return (
      <NextStep screen="ceremonies" action="Go to Ceremonies">
        Certificates are signed by keys in a token held in custody, and no token is in custody yet. Take a token into
        custody on the Ceremonies screen first.
      </NextStep>
    );
  if (rootSigners(keys, custodies).length === 0)
    return (
      <NextStep screen="keys" action="Go to Keys">
        A root certificate is made for an active signing key within its usage period, and there is none. Propose a
        signing key (EC P-384, for example) on the Keys screen and activate it once generated.
      </NextStep>
    );
  return (
    <NextStep screen="certificates" page="root" action={actionTitle('cert.self-sign')}>
      The holders of the signing key’s token approve the root certificate exactly as it is proposed.
    </NextStep>
  );
}

/** Certificate ceremonies proposed and not yet decided: who must act now, and where. */
function Waiting() {
  const open = (useCustos((s) => s.proposals) ?? []).filter(
    (p) => p.state === 'open' && isCertificateCeremony(p.action),
  );
  if (open.length === 0) return null;
  return (
    <section className="card" aria-labelledby="waiting-title">
      <h2 id="waiting-title">Waiting for approval ({open.length})</h2>
      <ul>
        {open.map((p) => (
          <li key={p.id}>
            {actionTitle(p.action)} on “{p.token.label}”: fingerprint <code>{p.shortFingerprint}</code>,{' '}
            {p.approvals.filter((a) => a.held).length} of {p.threshold} approvals held.
          </li>
        ))}
      </ul>
      <NextStep screen="approvals" action="Go to Approvals">
        The holders of the token read the fingerprint aloud and approve on the Approvals screen. Nothing is signed
        before the quorum is met.
      </NextStep>
    </section>
  );
}

function CertificateTable({ certificates }: { certificates: CertificateRecord[] }) {
  const show = useCustos((s) => s.showCertificate);
  const shown = useCustos((s) => s.shownCertificate);
  // Read once when the list appears: validity is in days, so it need not tick.
  const [now] = useState(() => new Date().toISOString());
  const detail = certificates.find((c) => c.serial === shown?.serial);
  return (
    <>
      <table className="data">
        <thead>
          <tr>
            <th scope="col">Serial</th>
            <th scope="col">Subject</th>
            <th scope="col">Issuer</th>
            <th scope="col">Valid</th>
            <th scope="col">Status</th>
            <th scope="col">Token</th>
            <th scope="col">Certificate</th>
          </tr>
        </thead>
        <tbody>
          {certificates.map((c) => (
            <tr key={c.serial} data-serial={c.serial}>
              <td>
                <code>{shortSerial(c.serial)}</code>
              </td>
              <th scope="row">
                {c.subject}
                <div className="muted">{c.ca ? 'certificate authority' : 'end entity'}</div>
              </th>
              <td>{c.selfSigned ? 'self-signed' : c.issuer}</td>
              <td>
                {c.notBefore.slice(0, 10)} to {c.notAfter.slice(0, 10)}
              </td>
              <td>
                <StatusChip certificate={c} now={now} />
              </td>
              <td>{c.token.label}</td>
              <td>
                <button
                  type="button"
                  onClick={() => void show(c.serial)}
                  aria-label={`Show the certificate of ${c.subject}, serial ${shortSerial(c.serial)}`}
                >
                  Show
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {detail && shown && <CertificateDetail certificate={detail} pem={shown.text} />}
    </>
  );
}

function StatusChip({ certificate: c, now }: { certificate: CertificateRecord; now: string }) {
  if (c.revocation)
    return (
      <>
        <span className="chip chip-rejected">revoked</span>
        <div>
          {c.revocation.reason}, {c.revocation.revokedAt.slice(0, 10)} (list {c.revocation.crlNumber})
        </div>
      </>
    );
  if (c.notAfter < now) return <span className="chip chip-expired">expired</span>;
  return <span className="chip chip-executed">valid</span>;
}

/** One certificate: what it says, and its PEM to copy or print. It takes focus so it can be read at once. */
function CertificateDetail({ certificate: c, pem }: { certificate: CertificateRecord; pem: string }) {
  const hide = useCustos((s) => s.hideCertificate);
  const ref = useRef<HTMLElement>(null);
  useEffect(() => ref.current?.focus(), [pem]);
  return (
    <section className="card inset" aria-labelledby="certificate-detail-title" ref={ref} tabIndex={-1}>
      <h3 id="certificate-detail-title">{c.subject}</h3>
      <dl className="facts">
        <dt>Serial</dt>
        <dd>
          <code>{c.serial}</code>
        </dd>
        <dt>Issued by</dt>
        <dd>{c.selfSigned ? `${c.issuer} (self-signed: a root)` : c.issuer}</dd>
        <dt>Valid</dt>
        <dd>
          {c.notBefore.replace('T', ' ').slice(0, 16)} to {c.notAfter.replace('T', ' ').slice(0, 16)} UTC
        </dd>
        <dt>Status</dt>
        <dd>
          {c.revocation
            ? `Revoked (${c.revocation.reason}) on ${c.revocation.revokedAt.slice(0, 10)}, in revocation list ${c.revocation.crlNumber}`
            : 'Not revoked by any list its issuer signed here'}
        </dd>
        <dt>Stored in</dt>
        <dd>token {c.token.label}</dd>
        <dt>SHA-256</dt>
        <dd>
          <code>{c.sha256}</code>
        </dd>
      </dl>
      <figure className="exported">
        <figcaption>
          The certificate as PEM text. Certificates are public: copy it, or print it, for whoever must trust it. Check
          it with <code>openssl x509 -in cert.pem -noout -text</code>.
        </figcaption>
        <pre>{pem}</pre>
      </figure>
      <div className="actions">
        <button type="button" onClick={() => window.print()}>
          Print
        </button>
        <button type="button" onClick={hide}>
          Close
        </button>
      </div>
    </section>
  );
}

/** The latest list of each CA key that holds a CA certificate, or that it has signed none yet. */
function RevocationLists({ certificates, keys }: { certificates: CertificateRecord[]; keys: KeyRecord[] }) {
  const crls = useCustos((s) => s.crls);
  const ids = caKeyIds(certificates);
  if (ids.length === 0) return null;
  const label = (id: string) => keys.find((k) => k.id === id)?.label ?? id;
  return (
    <section className="card" aria-labelledby="crls-title">
      <h2 id="crls-title">Revocation lists</h2>
      <ul className="crl-list">
        {ids.map((id) => {
          const crl = crls.find((c) => c.issuerKeyId === id);
          return (
            <li key={id}>
              <strong>{label(id)}</strong>: {crl ? <LatestList crl={crl} /> : 'has signed no revocation list yet.'}
            </li>
          );
        })}
      </ul>
    </section>
  );
}

function LatestList({ crl }: { crl: CrlText }) {
  const overdue = crl.nextUpdate < new Date().toISOString();
  return (
    <>
      list number {crl.number}, next due {crl.nextUpdate.slice(0, 10)}
      {overdue && <span className="chip chip-rejected">overdue</span>}
      <details>
        <summary>The list as PEM text, to publish</summary>
        <pre>{crl.text}</pre>
      </details>
    </>
  );
}
