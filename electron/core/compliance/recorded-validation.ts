import type { AuditObject } from '../../../shared/audit';
import type { ValidationRecord } from '../../../shared/compliance';
import { boundedObject } from '../audit/audit-log';
import type { AuditService } from '../audit/audit-service';
import { canonicalJson, sha256Hex } from '../canonical-json';
import type { Settings } from '../settings/settings';
import type { Store } from '../store/database';
import { sql } from '../store/sql';
import { refuseTampered } from '../store/signed-state';

export type RecordedValidation = ValidationRecord & { recordedAt: string };

const RECORD = 'compliance.validation.record';

/**
 * The validation a security officer recorded for a module, as the audit log proves it. The saved record is signed by
 * nothing, so it counts only when it hashes to the params of the latest signed `compliance.validation.record` entry for
 * that module, and its date is that entry's own. A record nobody made, an older one put back or one removed is refused
 * (and the refusal recorded): a certificate must never reach a signed report on a database writer's word.
 */
export function recordedValidation(
  store: Store,
  audit: AuditService,
  settings: Settings,
  modulePath: string,
): RecordedValidation | undefined {
  const saved = settings.get('compliance.validations')[modulePath];
  const object = boundedObject({ type: 'module', id: modulePath });
  const entries = store.all<{ entry: string; signature: Buffer }>(sql`
    SELECT entry, signature FROM audit_entries
    WHERE action = ${RECORD} AND object = ${`${object.type}:${object.id}`} AND result = 'ok' ORDER BY seq DESC`);
  if (!saved && entries.length === 0) return undefined;
  const params = saved
    ? sha256Hex(
        canonicalJson({
          modulePath: saved.modulePath,
          standard: saved.standard,
          certificate: saved.certificate,
          level: saved.level,
        }),
      )
    : null;
  const latest = entries[0] ? signedRecord(audit, object, entries[0]) : null;
  if (saved && latest && latest.params === params) return { ...saved, recordedAt: latest.time };
  const replayed = entries.slice(1).some((e) => signedRecord(audit, object, e)?.params === params);
  return refuseTampered(
    audit,
    'SETTING_TAMPERED',
    { type: 'module', id: modulePath },
    `The validation saved for ${modulePath}`,
    replayed ? 'replayed' : 'forged',
    'compliance.validation.tampered',
  );
}

/** The entry's params hash and time, read from its signed bytes; null when it is not a signed record of the module. */
function signedRecord(
  audit: AuditService,
  object: AuditObject,
  stored: { entry: string; signature: Buffer },
): { params: string | null; time: string } | null {
  const entry = JSON.parse(stored.entry) as {
    action: string;
    object: AuditObject | null;
    params: string | null;
    time: string;
    result: { status: string };
  };
  const about =
    entry.action === RECORD &&
    entry.result.status === 'ok' &&
    entry.object?.type === object.type &&
    entry.object.id === object.id;
  return about && audit.verifyDocument(Buffer.from(stored.entry, 'utf8'), stored.signature)
    ? { params: entry.params, time: entry.time }
    : null;
}
