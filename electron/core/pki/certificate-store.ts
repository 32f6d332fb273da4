import { createHash, createPublicKey, X509Certificate } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import { Certificate, CertificateList, CRLReason, CRLReasons, id_ce_cRLReasons } from '@peculiar/asn1-x509';
import pkcs11js from 'pkcs11js';
import type { CertificateRecord, RevocationReason } from '../../../shared/pki';
import type { TokenRef } from '../../../shared/tokens';
import { CustosError } from '../errors';
import { everyObject } from '../hsm/find-objects';
import { tokenStep } from '../hsm/pkcs11-errors';
import type { KeyInventory } from '../keys/key-inventory';
import type { Store } from '../store/database';
import { sql } from '../store/sql';
import { pem } from './certificate';
import { nameText } from './csr';
import type { CrlEntry } from './crl';
import type { CertificateInputs } from '../compliance/certificate-findings';
import { signatureScheme } from './token-signer';
import { verify } from 'node:crypto';
import type { AuditService } from '../audit/audit-service';
import { canonicalJson, sha256Hex } from '../canonical-json';
import { refuseTampered } from '../store/signed-state';
import { CRLNumber, id_ce_cRLNumber } from '@peculiar/asn1-x509';

interface CertificateRow {
  serial: string;
  der: Buffer;
  sha256: string;
  key_id: string | null;
  spki: Buffer;
  issuer_key_id: string;
  subject: string;
  issuer: string;
  not_before: string;
  not_after: string;
  ca: number;
  token_serial: string;
  token_label: string;
  proposal_id: string;
  issued_at: string;
}

/**
 * A stored certificate whose DER verified under its issuer's key, with what the DER says: subject, issuer,
 * validity, CA or not and the certified public key come from the signed bytes, never from the row's columns.
 */
interface VerifiedCertificate {
  row: CertificateRow;
  subject: string;
  issuer: string;
  notBefore: string;
  notAfter: string;
  ca: boolean;
  spki: Buffer;
}

/** A certificate just made, as it is registered. */
export interface IssuedCertificate {
  der: Buffer;
  keyId: string | null;
  issuerKeyId: string;
  subject: string;
  issuer: string;
  token: TokenRef;
  proposalId: string;
}

/** DER INTEGER of a serial drawn as Custos draws them (first byte 0x01–0x7f), as CKA_SERIAL_NUMBER holds it. */
export const serialInteger = (serial: string) =>
  Buffer.concat([Buffer.from([0x02, serial.length / 2]), Buffer.from(serial, 'hex')]);

/**
 * The certificates Custos issued. The certificate itself is the record: each one read is checked
 * against its issuer's public key from the inventory, so a row changed outside Custos is refused;
 * issued_at, proposal_id and the token columns are not signed and only order and annotate the list.
 */
export class CertificateStore {
  constructor(
    private readonly store: Store,
    private readonly keys: KeyInventory,
    private readonly audit: AuditService,
  ) {}

  list(): CertificateRecord[] {
    const recorded = this.recordedCertificates();
    return this.store
      .all<{ serial: string }>(sql`SELECT serial FROM certificates ORDER BY issued_at DESC, serial`)
      .map(({ serial }) => this.get(serial, recorded));
  }

  get(serial: string, recorded?: Map<string, RecordedCertificate>): CertificateRecord {
    const c = this.row(serial, recorded);
    const { row } = c;
    const revoked = this.latestCrl(row.issuer_key_id)?.entries.find((e) => e.serial === row.serial);
    return {
      serial: row.serial,
      // A key_id is checked against the DER; an empty one may have been cleared, so the DER's public key names the key.
      keyId: row.key_id ?? this.inventoryKeysBySpki().get(c.spki.toString('hex')) ?? '',
      issuerKeyId: row.issuer_key_id,
      subject: c.subject,
      issuer: c.issuer,
      notBefore: c.notBefore,
      notAfter: c.notAfter,
      ca: c.ca,
      selfSigned: c.spki.equals(this.publicSpki(row.issuer_key_id)),
      sha256: row.sha256,
      status: revoked ? 'revoked' : 'valid',
      revocation: revoked
        ? { reason: revoked.reason, revokedAt: revoked.revokedAt, crlNumber: this.latestCrl(row.issuer_key_id)!.number }
        : null,
      token: { serial: row.token_serial, label: row.token_label },
      issuedAt: row.issued_at,
    };
  }

  /** A certificate here for this public key (SPKI DER) that a CRL revoked because the key was compromised, if any. */
  compromisedFor(spki: Buffer): CertificateRecord | null {
    const recorded = this.recordedCertificates();
    const compromised = this.store
      .all<{ serial: string }>(sql`SELECT serial FROM certificates ORDER BY issued_at, serial`)
      .filter(({ serial }) => this.row(serial, recorded).spki.equals(spki))
      .map(({ serial }) => this.get(serial, recorded))
      .find((c) => c.revocation?.reason === 'keyCompromise' || c.revocation?.reason === 'cACompromise');
    return compromised ?? null;
  }

  /** The end-entity certificates here for this public key (SPKI DER), revoked or not. */
  endEntitiesFor(spki: Buffer): CertificateRecord[] {
    return this.certifiedAs(spki, false);
  }

  /** The CA certificates here for this public key (SPKI DER), its key in the inventory or not, revoked or not. */
  caCertificatesFor(spki: Buffer): CertificateRecord[] {
    return this.certifiedAs(spki, true);
  }

  private certifiedAs(spki: Buffer, ca: boolean): CertificateRecord[] {
    const recorded = this.recordedCertificates();
    return this.store
      .all<{ serial: string }>(sql`SELECT serial FROM certificates ORDER BY issued_at, serial`)
      .filter(({ serial }) => {
        const c = this.row(serial, recorded);
        return c.ca === ca && c.spki.equals(spki);
      })
      .map(({ serial }) => this.get(serial, recorded));
  }

  /** The certificate as PEM or DER; refused if it no longer verifies under its issuer's key. */
  export(serial: string, format: 'pem' | 'der'): string {
    const der = this.row(serial).row.der;
    return format === 'pem' ? pem(der) : der.toString('base64');
  }

  /**
   * The newest CA certificate for this key (by the notBefore it carries), which certificates it issues name as their
   * issuer: chosen by what each DER says, so a row whose key or CA columns were edited is never picked; any stored
   * certificate that does not verify refuses the choice (KEY_TAMPERED) rather than let an older one stand in.
   */
  caCertificateOf(keyId: string): { serial: string; der: Buffer; notAfter: string; issuerKeyId: string } | null {
    const spki = this.publicSpki(keyId);
    const recorded = this.recordedCertificates();
    const newest = this.store
      .all<{ serial: string }>(sql`SELECT serial FROM certificates ORDER BY serial`)
      .map(({ serial }) => this.verified(serial, recorded))
      .filter((c) => c.ca && c.spki.equals(spki))
      .reduce<VerifiedCertificate | null>((a, c) => (a && a.notBefore >= c.notBefore ? a : c), null);
    if (!newest) return null;
    const c = this.row(newest.row.serial, recorded);
    return { serial: c.row.serial, der: c.row.der, notAfter: c.notAfter, issuerKeyId: c.row.issuer_key_id };
  }

  /**
   * Every CA certificate here that certifies a key of the inventory (each verified, as caCertificateOf reads them):
   * the names the CAs this installation holds go by, older certificates included.
   */
  heldCaCertificates(): { keyId: string; der: Buffer; spki: Buffer }[] {
    const keys = this.inventoryKeysBySpki();
    const recorded = this.recordedCertificates();
    return this.store
      .all<{ serial: string }>(sql`SELECT serial FROM certificates ORDER BY serial`)
      .map(({ serial }) => this.verified(serial, recorded))
      .flatMap((c) => {
        const keyId = c.ca ? keys.get(c.spki.toString('hex')) : undefined;
        return keyId ? [{ keyId, der: c.row.der, spki: c.spki }] : [];
      });
  }

  /** Certificates this CA key issued (not its own self-signed root), each verified under the key. */
  issuedBy(issuerKeyId: string): string[] {
    const own = this.publicSpki(issuerKeyId);
    const recorded = this.recordedCertificates();
    return this.store
      .all<{ serial: string }>(sql`SELECT serial FROM certificates WHERE issuer_key_id = ${issuerKeyId}`)
      .map(({ serial }) => this.verified(serial, recorded))
      .filter((c) => !c.spki.equals(own))
      .map((c) => c.row.serial);
  }

  /**
   * The newest CRL this CA key signed: checked under the key, and the one the log's latest `crl.issued` entry for
   * the key names, so a deleted, renumbered or older list put back is refused (KEY_TAMPERED), never built upon.
   */
  latestCrl(issuerKeyId: string): StoredCrl | null {
    const row = this.store.get<CrlRow>(
      sql`SELECT number, der, sha256 FROM crls WHERE issuer_key_id = ${issuerKeyId} ORDER BY number DESC LIMIT 1`,
    );
    const recorded = this.recordedCrl(issuerKeyId);
    if (!row && recorded === null) return null;
    if (row && recorded === crlRecordHash(issuerKeyId, row)) {
      const checked = this.attempt(() => this.checkedCrl(issuerKeyId, row), ['KEY_TAMPERED']);
      if (checked) return checked;
    }
    const listed = this.store.all<CrlRow>(
      sql`SELECT number, der, sha256 FROM crls WHERE issuer_key_id = ${issuerKeyId}`,
    );
    // The recorded list is gone (an older one now reads as the latest), or a row or bytes the log never recorded.
    const gone = !listed.some((r) => crlRecordHash(issuerKeyId, r) === recorded);
    return refuseTampered(
      this.audit,
      'KEY_TAMPERED',
      { type: 'crl', id: issuerKeyId },
      `The stored revocation list of key ${issuerKeyId}`,
      gone ? 'replayed' : 'forged',
    );
  }

  /**
   * Records the CRL with its own entry (object crl:<CA key>), nested in the transaction of the execution entry: the
   * latest such entry is what every later read of the CA's list must match.
   */
  registerCrl(c: {
    issuerKeyId: string;
    number: number;
    der: Buffer;
    thisUpdate: string;
    nextUpdate: string;
    proposalId: string;
  }): void {
    this.audit.record(
      {
        actor: { type: 'system', id: 'system' },
        action: 'crl.issued',
        object: { type: 'crl', id: c.issuerKeyId },
        params: crlRecord(c.issuerKeyId, { number: c.number, sha256: sha256(c.der) }),
      },
      () =>
        this.store.execute(sql`
          INSERT INTO crls (issuer_key_id, number, der, sha256, this_update, next_update, proposal_id)
          VALUES (${c.issuerKeyId}, ${c.number}, ${c.der}, ${sha256(c.der)}, ${c.thisUpdate}, ${c.nextUpdate}, ${c.proposalId})`),
    );
  }

  /**
   * Records each CA's latest CRL from before CRLs were recorded in the log, once: only while the audit token does not
   * say this was done and the log holds no CRL entry at all, so a list a database writer removes or puts back later is
   * refused, never recorded. How many.
   */
  sealUnrecordedCrlsOnce(): number {
    // The token's marker first: the log's rows could have been edited to hide every CRL entry. Set once this has run.
    if (this.audit.crlsRecorded()) return 0;
    const sealed = this.sealUnrecordedCrls();
    this.audit.markCrlsRecorded();
    return sealed;
  }

  private sealUnrecordedCrls(): number {
    if (this.store.get(sql`SELECT 1 AS yes FROM audit_entries WHERE action IN ('crl.issued', 'crl.seal') LIMIT 1`))
      return 0;
    const latest = this.store.all<CrlRow & { issuer_key_id: string }>(sql`
      SELECT issuer_key_id, number, der, sha256 FROM crls c
      WHERE number = (SELECT max(number) FROM crls WHERE issuer_key_id = c.issuer_key_id) ORDER BY issuer_key_id`);
    if (latest.length === 0) return 0;
    this.audit.log();
    this.store.transaction(() => {
      for (const row of latest) {
        this.checkedCrl(row.issuer_key_id, row);
        this.audit.record({
          actor: { type: 'system', id: 'system' },
          action: 'crl.seal',
          object: { type: 'crl', id: row.issuer_key_id },
          params: crlRecord(row.issuer_key_id, row),
        });
      }
    });
    return latest.length;
  }

  /** The params hash of the latest CRL entry the log holds for this CA key; null when it holds none. */
  private recordedCrl(issuerKeyId: string): string | null {
    this.audit.log();
    for (const stored of this.store.iterate<{ seq: number; entry: string; signature: Buffer }>(sql`
      SELECT seq, entry, signature FROM audit_entries WHERE object = ${`crl:${issuerKeyId}`} ORDER BY seq DESC`)) {
      let signed: { seq?: unknown; action?: unknown; params?: unknown; result?: { status?: unknown } | null };
      try {
        signed = JSON.parse(stored.entry) as typeof signed;
      } catch {
        return 'unreadable';
      }
      // An entry that does not verify, or sits at another seq than it was signed for, names no list: refused.
      if (signed.seq !== stored.seq || !this.audit.verifyDocument(Buffer.from(stored.entry, 'utf8'), stored.signature))
        return 'unverified';
      if ((signed.action === 'crl.issued' || signed.action === 'crl.seal') && signed.result?.status === 'ok')
        return typeof signed.params === 'string' ? signed.params : 'unreadable';
    }
    return null;
  }

  /** The CRL's DER, checked: its hash, its signature under the CA key, and the CRL number it carries. */
  private checkedCrl(issuerKeyId: string, row: CrlRow): StoredCrl {
    const list = AsnConvert.parse(row.der, CertificateList);
    const key = this.keys.get(issuerKeyId);
    const signed = Buffer.from(list.tbsCertListRaw ?? AsnConvert.serialize(list.tbsCertList));
    const publicKey = createPublicKey(this.keys.exportPublic(issuerKeyId, 'pem'));
    const numberExtension = list.tbsCertList.crlExtensions?.find((e) => e.extnID === id_ce_cRLNumber);
    const number = numberExtension ? Number(AsnConvert.parse(numberExtension.extnValue, CRLNumber).value) : null;
    if (
      sha256(row.der) !== row.sha256 ||
      number !== row.number ||
      !verify(signatureScheme(key.algorithm).hash, signed, publicKey, Buffer.from(list.signature))
    )
      throw new CustosError(
        'KEY_TAMPERED',
        `The stored CRL ${row.number} does not verify under its CA key: it was changed outside Custos.`,
      );
    const entries = (list.tbsCertList.revokedCertificates ?? []).map((r) => {
      const reasonExtension = r.crlEntryExtensions?.find((e) => e.extnID === id_ce_cRLReasons);
      const reason = reasonExtension
        ? (CRLReasons[AsnConvert.parse(reasonExtension.extnValue, CRLReason).reason] as RevocationReason)
        : 'unspecified';
      return {
        serial: Buffer.from(r.userCertificate).toString('hex'),
        reason,
        revokedAt: r.revocationDate.getTime().toISOString(),
      };
    });
    const nextUpdate = list.tbsCertList.nextUpdate?.getTime().toISOString() ?? '';
    const thisUpdate = list.tbsCertList.thisUpdate.getTime().toISOString();
    return { number: row.number, der: row.der, entries, thisUpdate, nextUpdate };
  }

  /**
   * What the trust-store audit reads: every certificate as its DER says, its key the inventory key whose public key
   * it certifies (not the key_id column); one that fails any check is named tampered, not thrown.
   */
  audited(): CertificateInputs['certificates'] {
    const keyOf = this.inventoryKeysBySpki();
    const lists = new Map<string, StoredCrl | null | 'refused'>();
    // Unknown (null) when the issuer's latest list is refused: crls() names that list (CRL_RECORD_TAMPERED), and the
    // certificate's own record is intact. Read as part of the certificate, every certificate of the CA was named
    // changed outside Custos, sending the auditor to rows nobody touched.
    const revoked = (issuerKeyId: string, serial: string): boolean | null => {
      if (!lists.has(issuerKeyId))
        lists.set(
          issuerKeyId,
          this.attempt(() => this.latestCrl(issuerKeyId), ['KEY_TAMPERED'], 'refused'),
        );
      const list = lists.get(issuerKeyId);
      return list === 'refused' ? null : (list?.entries.some((e) => e.serial === serial) ?? false);
    };
    const recorded = this.recordedCertificates();
    const rows = this.store.all<{ serial: string; issuer_key_id: string }>(
      sql`SELECT serial, issuer_key_id FROM certificates ORDER BY issued_at`,
    );
    const kept = new Set(rows.map((r) => r.serial));
    // What the log records and the table no longer holds: named, with the serial and CA key its entry carries.
    const deleted = [...recorded.values()]
      .filter((r) => !kept.has(r.serial))
      .map((r) => {
        this.attempt(() => this.refuseDeleted(r));
        return {
          serial: r.serial,
          subject: '',
          keyId: null,
          issuerKeyId: r.issuerKeyId,
          notAfter: '',
          ca: false,
          revoked: revoked(r.issuerKeyId, r.serial),
          tampered: true,
          deleted: true,
        };
      });
    const listed = rows.map(({ serial, issuer_key_id: issuerKeyId }) => {
      try {
        const c = this.row(serial, recorded);
        return {
          serial,
          subject: c.subject,
          keyId: keyOf.get(c.spki.toString('hex')) ?? null,
          issuerKeyId,
          notAfter: c.notAfter,
          ca: c.ca,
          revoked: revoked(issuerKeyId, serial),
          tampered: false,
        };
      } catch (error) {
        if (error instanceof CustosError && error.code === 'KEY_TAMPERED')
          return {
            serial,
            subject: '',
            keyId: null,
            issuerKeyId,
            notAfter: '',
            ca: false,
            revoked: false,
            tampered: true,
          };
        throw error;
      }
    });
    return [...listed, ...deleted];
  }

  /**
   * Each CA key's latest CRL as its checked DER says (number, next update), for every key with a CRL row or a CRL
   * entry in the log; one refused (changed, deleted or put back) is named tampered, not thrown.
   */
  crls(): CertificateInputs['crls'] {
    const issuers = this.store.all<{ id: string }>(sql`
      SELECT issuer_key_id AS id FROM crls
      UNION SELECT substr(object, 5) AS id FROM audit_entries WHERE action IN ('crl.issued', 'crl.seal')
      ORDER BY id`);
    return issuers.flatMap(({ id }): CertificateInputs['crls'] => {
      try {
        const latest = this.latestCrl(id);
        return latest
          ? [{ issuerKeyId: id, number: latest.number, nextUpdate: latest.nextUpdate, tampered: false }]
          : [];
      } catch (error) {
        if (error instanceof CustosError && error.code === 'KEY_TAMPERED')
          return [{ issuerKeyId: id, number: 0, nextUpdate: '', tampered: true }];
        throw error;
      }
    });
  }

  /**
   * The key's certificates that another CA here issued and no CRL of it revokes yet, by issuing CA key: found by the
   * public key each DER certifies, not the key_id column. One whose DER no longer verifies cannot be attributed; the
   * trust-store audit names it (CERT_RECORD_TAMPERED).
   */
  unrevokedIssuedFor(keyId: string): Map<string, string[]> {
    const spki = this.publicSpki(keyId);
    const byIssuer = new Map<string, string[]>();
    const rows = this.store.all<{ serial: string; issuer_key_id: string }>(
      sql`SELECT serial, issuer_key_id FROM certificates WHERE issuer_key_id != ${keyId} ORDER BY serial`,
    );
    const recorded = this.recordedCertificates();
    for (const { serial, issuer_key_id: issuerKeyId } of rows) {
      const certified = this.attempt(() => this.verified(serial, recorded).spki.equals(spki));
      if (!certified || this.latestCrl(issuerKeyId)?.entries.some((e) => e.serial === serial)) continue;
      byIssuer.set(issuerKeyId, [...(byIssuer.get(issuerKeyId) ?? []), serial]);
    }
    return byIssuer;
  }

  /**
   * Whether Custos issued the certificate with this SHA-256 (of its DER) and serial: a row claiming it must verify as
   * well, or the log must record exactly these bytes under the serial (its row deleted outside Custos, which the
   * trust-store audit names on its own: the token's copy is still Custos's).
   */
  issuedHere(sha: string, serial: string): boolean {
    const found = this.store.get<{ serial: string }>(sql`SELECT serial FROM certificates WHERE sha256 = ${sha}`);
    if (found !== undefined && this.attempt(() => this.verified(found.serial)) !== null) return true;
    const record = this.recordedCertificate(serial.toLowerCase());
    return record !== undefined && record.params === certificateRecordHash(record.serial, record.issuerKeyId, sha);
  }

  /**
   * Refuses a serial that the log records as issued by this CA key and whose row is gone (KEY_TAMPERED, recorded), so
   * a revocation naming it is not told the CA never issued it. Does nothing otherwise.
   */
  refuseIfDeleted(serial: string, issuerKeyId: string): void {
    const record = this.recordedCertificate(serial.toLowerCase());
    if (record?.issuerKeyId === issuerKeyId && !this.has(record.serial)) this.refuseDeleted(record);
  }

  /**
   * Records, once, each certificate kept before certificates were recorded in the log (one that verifies under its CA
   * key and has no entry yet); later, a row that goes missing or changes is named. How many.
   */
  sealUnrecordedCertificatesOnce(): number {
    // The token's marker: once set, a row with no entry is never recorded again, whatever the log's rows say.
    if (this.audit.certificatesRecorded()) return 0;
    const recorded = this.recordedCertificates();
    const unrecorded = this.store
      .all<{ serial: string }>(sql`SELECT serial FROM certificates ORDER BY serial`)
      .filter(({ serial }) => !recorded.has(serial))
      .flatMap(({ serial }) => {
        const c = this.attempt(() => this.verified(serial, recorded));
        return c ? [c.row] : [];
      });
    if (unrecorded.length > 0)
      this.store.transaction(() => {
        for (const row of unrecorded)
          this.audit.record({
            actor: { type: 'system', id: 'system' },
            action: 'certificate.seal',
            object: certificateObject(row.serial, row.issuer_key_id),
            params: certificateRecord(row.serial, row.issuer_key_id, row.sha256),
          });
      });
    this.audit.markCertificatesRecorded();
    return unrecorded.length;
  }

  /**
   * The certificates the log records (its signed `certificate.issued` and `certificate.seal` entries), by serial: one
   * query by action for all of them. An entry that does not verify names nothing here (`custos audit verify` names it).
   */
  recordedCertificates(): Map<string, RecordedCertificate> {
    this.audit.log();
    const recorded = new Map<string, RecordedCertificate>();
    for (const stored of this.store.iterate<StoredEntryRow>(sql`
      SELECT seq, entry, signature FROM audit_entries
      WHERE action IN ('certificate.issued', 'certificate.seal') AND result = 'ok' ORDER BY seq`)) {
      const r = this.recordedEntry(stored);
      if (r) recorded.set(r.serial, r);
    }
    return recorded;
  }

  /** The log's latest record of this serial, if any: one lookup by object. */
  private recordedCertificate(serial: string): RecordedCertificate | undefined {
    this.audit.log();
    const prefix = `certificate:${serial}/`;
    let latest: RecordedCertificate | undefined;
    for (const stored of this.store.iterate<StoredEntryRow>(sql`
      SELECT seq, entry, signature FROM audit_entries
      WHERE object >= ${prefix} AND object < ${`${prefix}\u{10ffff}`}
        AND action IN ('certificate.issued', 'certificate.seal') AND result = 'ok' ORDER BY seq`))
      latest = this.recordedEntry(stored) ?? latest;
    return latest?.serial === serial ? latest : undefined;
  }

  private recordedEntry(stored: StoredEntryRow): RecordedCertificate | null {
    let signed: { seq?: unknown; object?: { type?: unknown; id?: unknown } | null; params?: unknown };
    try {
      signed = JSON.parse(stored.entry) as typeof signed;
    } catch {
      return null;
    }
    if (signed.seq !== stored.seq || !this.audit.verifyDocument(Buffer.from(stored.entry, 'utf8'), stored.signature))
      return null;
    const [serial, issuerKeyId] = typeof signed.object?.id === 'string' ? signed.object.id.split('/') : [];
    if (signed.object?.type !== 'certificate' || !serial || !issuerKeyId || typeof signed.params !== 'string')
      return null;
    return { serial, issuerKeyId, params: signed.params };
  }

  private refuseDeleted(record: RecordedCertificate): never {
    return refuseTampered(
      this.audit,
      'KEY_TAMPERED',
      { type: 'certificate', id: record.serial.slice(0, 64) },
      `The certificate ${record.serial} that key ${record.issuerKeyId} issued`,
      'deleted',
    );
  }

  has(serial: string): boolean {
    return this.store.get(sql`SELECT 1 AS one FROM certificates WHERE serial = ${serial}`) !== undefined;
  }

  /**
   * Keeps the certificate with its own entry (object certificate:<serial>/<CA key>), nested in the transaction of the
   * execution entry: the log, not the table, says which certificates Custos issued, so a row deleted or replaced later
   * is named, never forgotten.
   */
  register(issued: IssuedCertificate, at: Date): CertificateRecord {
    const serial = new X509Certificate(issued.der).serialNumber.toLowerCase();
    this.audit.record(
      {
        actor: { type: 'system', id: 'system' },
        action: 'certificate.issued',
        object: certificateObject(serial, issued.issuerKeyId),
        params: certificateRecord(serial, issued.issuerKeyId, sha256(issued.der)),
      },
      () => this.insert(issued, at),
    );
    return this.get(serial);
  }

  /**
   * Keeps a certificate without reading it back or an entry of its own: for one whose key is registered in the same
   * transaction (a rehearsal's stand-in CA), whose record verifies only once the execution's entry is written, which an
   * entry of its own would push to a later seq.
   */
  insert(issued: IssuedCertificate, at: Date): void {
    const x = new X509Certificate(issued.der);
    const spki = x.publicKey.export({ format: 'der', type: 'spki' });
    const serial = x.serialNumber.toLowerCase();
    // A request for a key in the inventory (made with the token's key by another tool) certifies that key.
    const keyId =
      issued.keyId ??
      this.store.get<{ id: string }>(sql`SELECT id FROM keys WHERE fingerprint = ${sha256(spki)} LIMIT 1`)?.id ??
      null;
    this.store.execute(sql`
      INSERT INTO certificates (serial, der, sha256, key_id, spki, issuer_key_id, subject, issuer, not_before, not_after,
                                ca, token_serial, token_label, proposal_id, issued_at)
      VALUES (${serial}, ${issued.der}, ${sha256(issued.der)}, ${keyId}, ${spki}, ${issued.issuerKeyId},
              ${issued.subject}, ${issued.issuer}, ${new Date(x.validFrom).toISOString()},
              ${new Date(x.validTo).toISOString()}, ${x.ca ? 1 : 0}, ${issued.token.serial}, ${issued.token.label},
              ${issued.proposalId}, ${at.toISOString()})`);
  }

  /**
   * The certificate, verified, with every column that says what it is checked against its DER: validity, CA, the
   * certified public key and the inventory key it names (that key's signed public key). Any difference is refused.
   */
  private row(serial: string, recorded?: Map<string, RecordedCertificate>): VerifiedCertificate {
    const c = this.verified(serial, recorded);
    const { row } = c;
    const keyMatches = row.key_id === null || this.attempt(() => this.publicSpki(row.key_id!).equals(c.spki));
    if (
      row.not_before !== c.notBefore ||
      row.not_after !== c.notAfter ||
      (row.ca === 1) !== c.ca ||
      !row.spki.equals(c.spki) ||
      !keyMatches
    )
      throw tampered(this.audit, row.serial, 'its record no longer matches the signed certificate');
    return c;
  }

  /**
   * The stored DER, verified under its issuer's key (with its hash and serial), and what it says; one the log records
   * must be the one it records (serial, CA key, bytes), and its row gone is refused as deleted, not as never issued.
   * `recorded`: the log's certificates read once (recordedCertificates), for callers reading many.
   */
  private verified(serial: string, recorded?: Map<string, RecordedCertificate>): VerifiedCertificate {
    const row = this.store.get<CertificateRow>(sql`SELECT * FROM certificates WHERE serial = ${serial.toLowerCase()}`);
    const record = recorded ? recorded.get(serial.toLowerCase()) : this.recordedCertificate(serial.toLowerCase());
    if (!row && record) this.refuseDeleted(record);
    if (!row)
      throw new CustosError('CERT_NOT_FOUND', `No certificate with serial ${serial.slice(0, 16)}… was issued here.`, [
        'custos cert list shows the certificates Custos issued.',
      ]);
    const issuer = createPublicKey(this.keys.exportPublic(row.issuer_key_id, 'pem'));
    const x = new X509Certificate(row.der);
    if (!x.verify(issuer) || sha256(row.der) !== row.sha256 || x.serialNumber.toLowerCase() !== row.serial)
      throw tampered(this.audit, row.serial, "it does not verify under its issuer's key");
    if (record && record.params !== certificateRecordHash(row.serial, row.issuer_key_id, row.sha256))
      throw tampered(this.audit, row.serial, 'it is not the certificate the audit log recorded under its serial');
    const tbs = AsnConvert.parse(row.der, Certificate).tbsCertificate;
    return {
      row,
      subject: nameText(tbs.subject),
      issuer: nameText(tbs.issuer),
      notBefore: new Date(x.validFrom).toISOString(),
      notAfter: new Date(x.validTo).toISOString(),
      ca: x.ca,
      spki: x.publicKey.export({ format: 'der', type: 'spki' }),
    };
  }

  /** The key's public key as SPKI DER, read from its signed inventory record. */
  private publicSpki(keyId: string): Buffer {
    return createPublicKey(this.keys.exportPublic(keyId, 'pem')).export({ format: 'der', type: 'spki' });
  }

  /** Each inventory key's public key (hex SPKI) to its id; a key whose own record is refused certifies nothing here. */
  private inventoryKeysBySpki(): Map<string, string> {
    const ids = this.store.all<{ id: string }>(sql`SELECT id FROM keys ORDER BY id`);
    return new Map(
      ids.flatMap(({ id }) => {
        const spki = this.attempt(() => this.publicSpki(id), ['KEY_TAMPERED', 'KEY_TYPE_UNSUITED']);
        return spki ? [[spki.toString('hex'), id] as const] : [];
      }),
    );
  }

  /** The value, or null when the check it needs is refused with one of these codes (a tampered record, a key gone). */
  private attempt<T, R = null>(
    read: () => T,
    codes: string[] = ['KEY_TAMPERED', 'KEY_NOT_FOUND'],
    refused: R = null as R,
  ): T | R {
    try {
      return read();
    } catch (error) {
      if (error instanceof CustosError && codes.includes(error.code)) return refused;
      throw error;
    }
  }
}

/** A stored certificate that is not what Custos kept: recorded (best effort, like every tampered record), refused. */
const tampered = (audit: AuditService, serial: string, why: string) => {
  void audit.tryRecord({
    actor: { type: 'system', id: 'system' },
    action: 'certificate.tampered',
    object: { type: 'certificate', id: serial.slice(0, 64) },
    result: { status: 'refused', code: 'KEY_TAMPERED' },
  });
  return new CustosError(
    'KEY_TAMPERED',
    `The stored certificate ${serial.slice(0, 16)}… was changed outside Custos: ${why}.`,
    ['Compare with the copy in the token (pkcs11-tool -O) and in the ceremony report.'],
  );
};

export const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

/** A CA's CRL as its checked DER says. */
export interface StoredCrl {
  number: number;
  der: Buffer;
  entries: CrlEntry[];
  thisUpdate: string;
  nextUpdate: string;
}

interface CrlRow {
  number: number;
  der: Buffer;
  sha256: string;
}

/** What a CRL entry of the log binds (by its params hash): which CA's list, its number and its bytes. */
const crlRecord = (issuerKeyId: string, row: { number: number; sha256: string }) => ({
  issuerKeyId,
  number: row.number,
  sha256: row.sha256,
});
const crlRecordHash = (issuerKeyId: string, row: CrlRow) => sha256Hex(canonicalJson(crlRecord(issuerKeyId, row)));

/** A certificate the log records: its serial and CA key (the entry's object) and the hash of what it binds. */
export interface RecordedCertificate {
  serial: string;
  issuerKeyId: string;
  params: string;
}

interface StoredEntryRow {
  seq: number;
  entry: string;
  signature: Buffer;
}

/** Serial first, so one serial's entries are one range of the object index. */
const certificateObject = (serial: string, issuerKeyId: string) => ({
  type: 'certificate',
  id: `${serial}/${issuerKeyId}`,
});
/** What a certificate entry of the log binds (by its params hash): its serial, its CA key and its bytes. */
const certificateRecord = (serial: string, issuerKeyId: string, sha: string) => ({ serial, issuerKeyId, sha256: sha });
const certificateRecordHash = (serial: string, issuerKeyId: string, sha: string) =>
  sha256Hex(canonicalJson(certificateRecord(serial, issuerKeyId, sha)));

/**
 * Puts the certificate in the token beside its key (same CKA_ID), so `pkcs11-tool -O` and any
 * PKCS#11 application find it; public, and not modifiable where the token allows.
 */
export function storeInToken(
  lib: pkcs11js.PKCS11,
  session: Buffer,
  der: Buffer,
  c: { ckaId: Buffer; label: string },
): void {
  const x = new X509Certificate(der);
  const t = (type: number, value: pkcs11js.Template[number]['value']) => ({ type, value });
  const template = [
    t(pkcs11js.CKA_CLASS, pkcs11js.CKO_CERTIFICATE),
    t(pkcs11js.CKA_CERTIFICATE_TYPE, pkcs11js.CKC_X_509),
    t(pkcs11js.CKA_TOKEN, true),
    t(pkcs11js.CKA_PRIVATE, false),
    t(pkcs11js.CKA_LABEL, c.label),
    t(pkcs11js.CKA_ID, c.ckaId),
    t(pkcs11js.CKA_SUBJECT, nameDer(der, 'subject')),
    t(pkcs11js.CKA_ISSUER, nameDer(der, 'issuer')),
    t(pkcs11js.CKA_SERIAL_NUMBER, serialInteger(x.serialNumber.toLowerCase())),
    t(pkcs11js.CKA_VALUE, der),
  ];
  tokenStep('C_CreateObject', { attribute: 'CKO_CERTIFICATE' }, () => lib.C_CreateObject(session, template));
}

/**
 * The values of the token's certificate objects with this serial, if a run got as far as storing it. Every one: anyone
 * can create a certificate object with any serial and no PIN, and the token may list it first.
 */
export function certificatesInToken(lib: pkcs11js.PKCS11, session: Buffer, serial: string): Buffer[] {
  return everyObject(lib, session, [
    { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_CERTIFICATE },
    { type: pkcs11js.CKA_SERIAL_NUMBER, value: serialInteger(serial) },
  ]).flatMap((handle) => {
    const [value] = lib.C_GetAttributeValue(session, handle, [{ type: pkcs11js.CKA_VALUE }]);
    return value?.value instanceof Buffer ? [value.value] : [];
  });
}

/** The DER of the certificate's subject or issuer Name, as CKA_SUBJECT / CKA_ISSUER hold it. */
function nameDer(der: Buffer, which: 'subject' | 'issuer'): Buffer {
  const tbs = AsnConvert.parse(der, Certificate).tbsCertificate;
  return Buffer.from(AsnConvert.serialize(which === 'subject' ? tbs.subject : tbs.issuer));
}
