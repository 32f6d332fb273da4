import type { Migration } from '../migrate';

/**
 * Certificates Custos issued (issue #15). The DER is the record: it carries the issuing key's
 * signature, so a row edited outside Custos fails verification when read rather than being believed.
 * The subject key is one of the inventory's (key_id) or, for a certificate issued from a request,
 * known only by its public key (spki). CRLs are kept the same way: the DER, signed by the CA key, is the record.
 */
export const certificates: Migration = {
  version: 20,
  name: 'certificates',
  up(db) {
    db.exec(`
      CREATE TABLE certificates (
        serial TEXT PRIMARY KEY NOT NULL,
        der BLOB NOT NULL,
        sha256 TEXT NOT NULL UNIQUE,
        key_id TEXT REFERENCES keys (id),
        spki BLOB NOT NULL,
        issuer_key_id TEXT NOT NULL REFERENCES keys (id),
        subject TEXT NOT NULL,
        issuer TEXT NOT NULL,
        not_before TEXT NOT NULL,
        not_after TEXT NOT NULL,
        ca INTEGER NOT NULL,
        token_serial TEXT NOT NULL,
        token_label TEXT NOT NULL,
        proposal_id TEXT NOT NULL REFERENCES proposals (id),
        issued_at TEXT NOT NULL
      ) STRICT;
      CREATE INDEX certificates_by_issuer ON certificates (issuer_key_id);
      -- Each CRL a CA key signed; a certificate's revocation is what its issuer's latest CRL says.
      CREATE TABLE crls (
        issuer_key_id TEXT NOT NULL REFERENCES keys (id),
        number INTEGER NOT NULL,
        der BLOB NOT NULL,
        sha256 TEXT NOT NULL,
        this_update TEXT NOT NULL,
        next_update TEXT NOT NULL,
        proposal_id TEXT NOT NULL REFERENCES proposals (id),
        PRIMARY KEY (issuer_key_id, number)
      ) STRICT;
    `);
  },
};
