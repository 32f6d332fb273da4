import { createPublicKey } from 'node:crypto';
import type { AuditActor } from '../../../shared/audit';
import type { TransportRecipient } from '../../../shared/transport';
import type { AuditService } from '../audit/audit-service';
import type { CustodianService } from '../custodians/custodian-service';
import { CustosError } from '../errors';
import type { Store } from '../store/database';
import { signState, stateDocument, stateVerdict, type SignedColumns } from '../store/signed-state';
import { sql } from '../store/sql';
import { recipientKey, type RecipientKey } from './package';

interface RecipientRow extends SignedColumns {
  fingerprint: string;
  label: string;
  algorithm: string;
  public_key: Buffer;
  recorded_by: string;
  recorded_at: string;
}

const document = (row: RecipientRow, seq: number) =>
  stateDocument(
    'transport-recipient',
    {
      fingerprint: row.fingerprint,
      label: row.label,
      algorithm: row.algorithm,
      publicKey: row.public_key.toString('base64'),
      recordedBy: row.recorded_by,
      recordedAt: row.recorded_at,
    },
    seq,
  );

/**
 * The recipient public keys a key may be wrapped for. A security officer records each with both
 * factors; the row is signed by the audit key with the seq of the entry that recorded it, so a key
 * a database writer slips into the table is not trusted.
 */
export class TransportRecipients {
  constructor(
    private readonly options: { store: Store; audit: AuditService; custodians: CustodianService; clock: () => Date },
  ) {}

  list(): TransportRecipient[] {
    return this.options.store
      .all<RecipientRow>(sql`SELECT * FROM transport_recipients ORDER BY recorded_at`)
      .map((row) => this.summary(row));
  }

  /** Records a recipient key as trusted; the officer's factors were proven by the caller. Again: the same answer. */
  record(pem: string, label: string, officer: AuditActor & { type: 'custodian' }): TransportRecipient {
    const recipient = recipientKey(pem);
    const { store, audit } = this.options;
    const existing = this.row(recipient.fingerprint);
    if (existing) return this.summary(existing);
    const recordedAt = this.options.clock().toISOString();
    audit.record(
      {
        actor: officer,
        action: 'transport.recipient.trusted',
        object: { type: 'transport-recipient', id: recipient.fingerprint },
        params: { label, algorithm: recipient.algorithm },
      },
      () => {
        store.execute(sql`
          INSERT INTO transport_recipients (fingerprint, label, algorithm, public_key, recorded_by, recorded_at)
          VALUES (${recipient.fingerprint}, ${label}, ${recipient.algorithm}, ${recipient.spki}, ${officer.id}, ${recordedAt})`);
        const row = this.row(recipient.fingerprint)!;
        const { seq, signature } = signState(audit, (at) => document(row, at), {
          table: 'transport_recipients',
          id: row.fingerprint,
        });
        store.execute(
          sql`UPDATE transport_recipients SET state_seq = ${seq}, state_sig = ${signature} WHERE fingerprint = ${recipient.fingerprint}`,
        );
      },
    );
    return this.summary(this.row(recipient.fingerprint)!);
  }

  /** The recipient key, if a security officer recorded it and its record is as signed; refused otherwise. */
  trusted(fingerprint: string): RecipientKey & { label: string } {
    const row = this.row(fingerprint);
    if (!row)
      throw new CustosError(
        'TRANSPORT_RECIPIENT_UNTRUSTED',
        `No security officer has recorded the recipient key ${fingerprint.slice(0, 16)}… as trusted; nothing is wrapped for it.`,
        ['A security officer records it first: custos transport trust --file KEY.pem --label NAME --as OFFICER.'],
      );
    if (this.verdict(row) !== 'authentic')
      throw new CustosError(
        'TRANSPORT_RECIPIENT_TAMPERED',
        `The trusted-recipient record of ${row.label} was changed outside Custos; it is not used.`,
        ['Treat this as a security incident: someone wrote to the database file.'],
      );
    return { ...recipientKey(this.pem(row)), label: row.label };
  }

  private verdict(row: RecipientRow) {
    const entry = this.options.store.get<{ seq: number | null }>(
      sql`SELECT max(seq) AS seq FROM audit_entries WHERE object = ${`transport-recipient:${row.fingerprint}`} AND action = 'transport.recipient.trusted' AND result = 'ok'`,
    );
    return stateVerdict(this.options.audit, row, (seq) => document(row, seq), entry?.seq, {
      table: 'transport_recipients',
      id: row.fingerprint,
    });
  }

  private row(fingerprint: string): RecipientRow | undefined {
    return this.options.store.get<RecipientRow>(
      sql`SELECT * FROM transport_recipients WHERE fingerprint = ${fingerprint}`,
    );
  }

  private pem(row: RecipientRow): string {
    return createPublicKey({ key: row.public_key, format: 'der', type: 'spki' })
      .export({ format: 'pem', type: 'spki' })
      .toString();
  }

  private summary(row: RecipientRow): TransportRecipient {
    let name = row.recorded_by;
    try {
      name = this.options.custodians.get(row.recorded_by).name;
    } catch {
      // A custodian record that cannot be read still leaves the recipient's record readable.
    }
    return {
      fingerprint: row.fingerprint,
      label: row.label,
      algorithm: row.algorithm as TransportRecipient['algorithm'],
      publicKeyPem: this.pem(row),
      recordedBy: { id: row.recorded_by, name },
      recordedAt: row.recorded_at,
      status: this.verdict(row) === 'authentic' ? 'trusted' : 'tampered',
    };
  }
}
