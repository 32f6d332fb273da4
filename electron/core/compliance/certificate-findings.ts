import type { Finding } from '../../../shared/compliance';

/** What the trust-store audit looks at: the certificates Custos issued, its CAs' CRLs, and what the tokens hold. */
export interface CertificateInputs {
  certificates: {
    serial: string;
    subject: string;
    /** The certified key when it is in the inventory; null for a key known only from its request. */
    keyId: string | null;
    issuerKeyId: string;
    notAfter: string;
    /** On its issuer's latest CRL; null when that list was refused (changed outside Custos), so nobody can say. */
    revoked: boolean | null;
    ca: boolean;
    /**
     * The stored DER no longer verifies under its issuer's key, its row no longer matches the DER, or it is not the
     * certificate the audit log recorded under its serial.
     */
    tampered: boolean;
    /** The audit log records it and the database no longer holds it (then tampered too; serial and CA from the log). */
    deleted?: boolean;
  }[];
  /** Each CA key's latest CRL; tampered: its stored list was changed, deleted or put back (refused where read). */
  crls: { issuerKeyId: string; number: number; nextUpdate: string; tampered?: boolean }[];
  /** Certificate objects on the tokens Custos sees, and whether each is one Custos issued (by its SHA-256). */
  onTokens: { token: string; label: string; subject: string; notAfter: string; sha256: string; issuedHere: boolean }[];
}

const DAY = 86_400_000;
const CONTROLS = ['NIST SP 800-57 Part 2', 'NIST SP 800-53 SC-12', 'PCI DSS 4.0 3.7'];

/**
 * The trust-store audit (issue #15 §6): expired and expiring certificates, certificates whose key —
 * or whose issuing CA key — is compromised or destroyed and that no CRL revokes yet, overdue CRLs,
 * and certificate objects on a token that Custos did not issue (an anchor nobody recorded).
 */
export function certificateFindings(
  inputs: CertificateInputs,
  keys: { id: string; label: string; state: string }[],
  now: Date,
): Finding[] {
  const findings: Finding[] = [];
  const keyOf = new Map(keys.map((k) => [k.id, k]));
  const gone = (id: string | null) => {
    const k = id ? keyOf.get(id) : undefined;
    return k && (k.state === 'compromised' || k.state === 'destroyed') ? k : null;
  };
  for (const c of inputs.certificates) {
    if (c.tampered) {
      const what = c.deleted ? 'deleted' : 'changed';
      findings.push({
        rule: 'CERT_RECORD_TAMPERED',
        subject: c.serial,
        severity: 'high',
        title: `The stored certificate ${c.serial.slice(0, 16)}… was ${what} outside Custos`,
        evidence: [
          c.deleted
            ? `the audit log records certificate ${c.serial} issued by key ${c.issuerKeyId}; ` +
              'the database no longer holds it'
            : `certificates row ${c.serial} was changed outside Custos`,
        ],
        fix: 'Compare it with the copy in the token (pkcs11-tool -O) and the ceremony report; restore the database from a verified copy.',
        controls: CONTROLS,
      });
      continue;
    }
    const days = Math.ceil((Date.parse(c.notAfter) - now.getTime()) / DAY);
    if (c.revoked !== true && days <= 30)
      findings.push({
        rule: days < 0 ? 'CERT_EXPIRED' : 'CERT_EXPIRING',
        subject: c.serial,
        severity: days < 0 ? 'medium' : 'low',
        title:
          days < 0
            ? `Certificate “${c.subject}” expired on ${c.notAfter.slice(0, 10)}`
            : `Certificate “${c.subject}” expires in ${days} days`,
        evidence: [`serial ${c.serial}, notAfter ${c.notAfter}`],
        fix: 'Issue its successor (cert.self-sign or cert.issue), then retire the old one.',
        controls: CONTROLS,
      });
    const subjectGone = gone(c.keyId);
    const issuerGone = c.keyId === c.issuerKeyId ? null : gone(c.issuerKeyId);
    if (c.revoked !== true && (subjectGone || issuerGone)) {
      const why = subjectGone
        ? `its key “${subjectGone.label}” is ${subjectGone.state}`
        : `its issuing CA key “${issuerGone!.label}” is ${issuerGone!.state}`;
      findings.push({
        rule: 'CERT_KEY_COMPROMISED',
        subject: c.serial,
        severity: 'high',
        title: `Certificate “${c.subject}” is not ${c.revoked === null ? 'known to be ' : ''}revoked, but ${why}`,
        evidence: [
          c.revoked === null
            ? `the latest CRL of key ${c.issuerKeyId} was changed outside Custos, so none shows serial ${c.serial}`
            : `serial ${c.serial} appears on no CRL of key ${c.issuerKeyId}`,
        ],
        fix:
          c.keyId === c.issuerKeyId
            ? 'A root cannot be revoked by a CRL: tell relying parties to remove it from their trust stores (the revocation notice).'
            : `Revoke it: custos proposal create --action crl.issue --param issuerKeyId=${c.issuerKeyId} --param revoke=${c.serial}:keyCompromise`,
        controls: CONTROLS,
      });
    }
  }
  const latest = new Map<string, { number: number; nextUpdate: string }>();
  for (const crl of inputs.crls) {
    if (crl.tampered) {
      findings.push({
        rule: 'CRL_RECORD_TAMPERED',
        subject: crl.issuerKeyId,
        severity: 'high',
        title: `The stored revocation list of “${keyOf.get(crl.issuerKeyId)?.label ?? crl.issuerKeyId}” was changed outside Custos`,
        evidence: [`the latest CRL in the database is not the one the audit log recorded for key ${crl.issuerKeyId}`],
        fix: 'Restore the database from a verified copy; the signed ceremony reports hold each list Custos issued.',
        controls: CONTROLS,
      });
      continue;
    }
    if ((latest.get(crl.issuerKeyId)?.number ?? 0) < crl.number) latest.set(crl.issuerKeyId, crl);
  }
  for (const [issuerKeyId, crl] of latest) {
    if (Date.parse(crl.nextUpdate) >= now.getTime() || gone(issuerKeyId)) continue;
    // What the list still speaks for: the certificates this CA issued (not its own root certificate, which no list
    // of its own revokes) that have not expired. Once none is left, an old list misleads nobody. One deleted outside
    // Custos counts: nobody can say it expired.
    const covered = inputs.certificates
      .filter(
        (c) =>
          c.issuerKeyId === issuerKeyId &&
          c.keyId !== issuerKeyId &&
          (c.deleted === true || Date.parse(c.notAfter) > now.getTime()),
      )
      .map((c) => c.notAfter)
      .sort();
    if (covered.length === 0) continue;
    const last = covered.at(-1)!;
    const label = keyOf.get(issuerKeyId)?.label ?? issuerKeyId;
    const state = keyOf.get(issuerKeyId)?.state;
    const next = `custos proposal create --action crl.issue --param issuerKeyId=${issuerKeyId}`;
    findings.push({
      rule: 'CRL_OVERDUE',
      subject: issuerKeyId,
      severity: 'medium',
      title: `Revocation list ${crl.number} of “${label}” was due to be replaced on ${crl.nextUpdate.slice(0, 10)}`,
      evidence: [
        `latest CRL number ${crl.number}, nextUpdate ${crl.nextUpdate}`,
        `${covered.length} certificate${covered.length === 1 ? '' : 's'} it issued still valid, the last until ` +
          (last ? last.slice(0, 10) : 'a date nobody can read (deleted outside Custos)'),
      ],
      // Only an active key signs a list: a crl.issue proposed for a key in any other state is refused.
      fix:
        state === 'suspended'
          ? `“${label}” is suspended and signs nothing: reactivate it (key.reactivate, a quorum action), then ${next}`
          : state === 'deactivated'
            ? `“${label}” is deactivated and never signs again, so nobody can learn that a certificate it issued ` +
              'was revoked: tell relying parties, and replace those certificates under a CA key that is active.'
            : `Issue the next one: ${next}`,
      controls: CONTROLS,
    });
  }
  for (const t of inputs.onTokens.filter((c) => !c.issuedHere))
    findings.push({
      rule: 'TOKEN_CERT_UNKNOWN',
      subject: t.sha256,
      severity: 'medium',
      title: `Token ${t.token} holds a certificate Custos did not issue: “${t.subject}”`,
      evidence: [`object “${t.label}”, SHA-256 ${t.sha256}, valid until ${t.notAfter.slice(0, 10)}`],
      fix: 'Find out who put it there and why; Custos trusts only the certificates it issued, so delete the object if nobody can account for it.',
      controls: CONTROLS,
    });
  return findings;
}
