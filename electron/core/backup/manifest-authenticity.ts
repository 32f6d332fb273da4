import { createHmac, hkdfSync, timingSafeEqual, verify } from 'node:crypto';
import { AuditKeyFingerprint, type BackupAuthentication, type BackupSummary } from '../../../shared/backups';
import type { AuditService } from '../audit/audit-service';
import { auditKeyFingerprint, ed25519PublicKeyObject } from '../audit/checkpoint';

export { auditKeyFingerprint };
import { canonicalJson } from '../canonical-json';
import { CustosError } from '../errors';
import type { Manifest, ManifestV2 } from './manifest';

/** How a backup manifest was found authentic (declared with the IPC schema, which carries it). */
export type Authentication = BackupAuthentication;

/** Which installation made a backup: its audit log origin and audit key fingerprint (null for format 1). */
export type Maker = BackupSummary['madeBy'];

const MAC_LABEL = 'custos/backup-manifest-mac/v2';

/** A fingerprint as people copy it from a printout: case, colons and spaces do not matter. */
export function normaliseFingerprint(text: string): string {
  const parsed = AuditKeyFingerprint.safeParse(text);
  if (!parsed.success) {
    const message = parsed.error.issues[0]?.message ?? 'This is not an audit key fingerprint.';
    throw new CustosError('IPC_INVALID_PAYLOAD', message, [
      'Copy it from the report or printout of the installation that made the backup.',
    ]);
  }
  return parsed.data;
}

/** A format-2 manifest's MAC: HMAC-SHA256 under HKDF-SHA256(KEK, salt = set id), over all but the MAC itself. */
export function manifestMac(kek: Uint8Array, manifest: Omit<ManifestV2, 'mac'>): string {
  const key = Buffer.from(hkdfSync('sha256', kek, Buffer.from(manifest.setId, 'hex'), MAC_LABEL, 32));
  try {
    return createHmac('sha256', key).update(canonicalJson(manifest)).digest('hex');
  } finally {
    key.fill(0);
  }
}

/** Whether the rebuilt KEK vouches for this manifest (constant-time comparison). */
export function macMatches(kek: Uint8Array, manifest: ManifestV2): boolean {
  const { mac, ...rest } = manifest;
  return timingSafeEqual(Buffer.from(manifestMac(kek, rest), 'hex'), Buffer.from(mac, 'hex'));
}

/**
 * The audit object of an import or a MAC check, readable without the parameters (which the log
 * only hashes): the set, the installation that made it (its audit key fingerprint) and how it was
 * authenticated.
 */
export function provenance(setId: string, maker: Maker, authentication: Authentication): { type: string; id: string } {
  return { type: 'backup', id: `${setId} made-by ${maker.auditKey ?? maker.installation} via ${authentication}` };
}

export function makerOf(audit: AuditService, manifest: Manifest): Maker {
  const own = audit.noteKey();
  const auditKey = manifest.v === 2 ? auditKeyFingerprint(Buffer.from(manifest.auditKey, 'base64')) : null;
  const ownKey = own === null ? null : auditKeyFingerprint(own.publicKey);
  const here = ownKey !== null && (auditKey === null ? manifest.installation === audit.origin : auditKey === ownKey);
  return { installation: manifest.installation, auditKey, here };
}

/**
 * Decides, before anything is stored or unwrapped, whether a manifest may be kept: a manifest this
 * installation made must carry its audit key's signature; one made elsewhere must carry a
 * signature by the audit key it names (so a file changed after it was made is refused), that key
 * must be the pinned one when a fingerprint is given, and it must be format 2 (its MAC is checked
 * on restore). Returns how it was authenticated.
 */
export function authenticateManifest(
  audit: AuditService,
  manifest: Manifest,
  text: string,
  signature: Buffer,
  expectAuditKey?: string,
): { authentication: Authentication; maker: Maker } {
  const maker = makerOf(audit, manifest);
  const pinned = expectAuditKey === undefined ? undefined : normaliseFingerprint(expectAuditKey);
  const bytes = Buffer.from(text, 'utf8');
  if (pinned !== undefined && maker.auditKey !== pinned) {
    throw new CustosError(
      'BACKUP_AUDIT_KEY_MISMATCH',
      maker.auditKey === null
        ? 'This backup (format 1) does not name the audit key that made it, so it cannot be checked against ' +
            'the key you expected. Nothing was imported.'
        : `This backup names audit key ${maker.auditKey}, not the ${pinned} you expected: ` +
            'another installation made it, or it was signed again. Nothing was imported.',
      ['Check the fingerprint against the report or printout of the installation that made the backup.'],
    );
  }
  if (manifest.v === 1 && !maker.here) {
    throw new CustosError(
      'BACKUP_NOT_PORTABLE',
      `This backup was made by another installation (${manifest.installation}) in format 1, which only the ` +
        'audit key that signed it can vouch for; it carries no MAC the share cards could check. Nothing was imported.',
      [
        'Restore it on the installation that made it (its data directory and audit token).',
        'Make a new backup there: current backups can be restored on a new installation.',
      ],
    );
  }
  const named = () => ed25519PublicKeyObject(Buffer.from((manifest as ManifestV2).auditKey, 'base64'));
  const signed = maker.here
    ? audit.verifyDocument(bytes, signature)
    : signature.length === 64 && verify(null, bytes, named(), signature);
  if (!signed) {
    const message =
      'The backup’s signature does not match the audit key it names: it was changed after it was made. Nothing was imported.';
    throw new CustosError('BACKUP_INVALID', message, [
      'Use the backup file exactly as Custos exported it, from its original source.',
    ]);
  }
  const authentication = maker.here ? 'own-audit-key' : pinned !== undefined ? 'pinned-audit-key' : 'kek-mac-pending';
  return { authentication, maker };
}
