import { closeSync, fsyncSync, openSync, renameSync, writeSync } from 'node:fs';
import { AuditEntry } from '../../../shared/audit';
import type { StoredEntry } from './audit-log';

/** Actions that make up the key-management trail (SP 800-57, PCI DSS 3.6/3.7): changes, not reads. */
const KEY_MANAGEMENT_PREFIXES = ['key.', 'token.select', 'token.init', 'custody.', 'ceremony.', 'backup.', 'restore.', 'share.', 'quorum.', 'proposal.', 'approval.', 'custodian.', 'audit.key.', 'settings.module.'];

export type Trail = 'all' | 'key-management';

export function inTrail(action: string, trail: Trail): boolean {
  return trail === 'all' || KEY_MANAGEMENT_PREFIXES.some((prefix) => action.startsWith(prefix));
}

function parse(stored: StoredEntry): AuditEntry | null {
  try {
    return AuditEntry.parse(JSON.parse(stored.entry));
  } catch {
    return null;
  }
}

const CSV_HEADER = ['seq', 'time', 'actor_type', 'actor_id', 'actor_role', 'action', 'object_type', 'object_id', 'params_sha256', 'result', 'error_code', 'key_id', 'signature_base64'];

/** RFC 4180: every field quoted, quotes doubled; a leading = + - @ is neutralised for spreadsheets. */
function csvField(value: string): string {
  const safe = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return `"${safe.replace(/"/g, '""')}"`;
}

export function csvLine(stored: StoredEntry): string | null {
  const e = parse(stored);
  if (!e) return null;
  return [
    String(e.seq),
    e.time,
    e.actor.type,
    e.actor.id,
    e.actor.type === 'custodian' ? e.actor.role : '',
    e.action,
    e.object?.type ?? '',
    e.object?.id ?? '',
    e.params ?? '',
    e.result.status,
    e.result.status === 'ok' ? '' : e.result.code,
    stored.keyId,
    stored.signature.toString('base64'),
  ]
    .map(csvField)
    .join(',');
}

// A raw CR or LF would start a forged event in the SIEM: both are escaped on their own, and other
// control characters dropped.
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const controls = (value: string) => value.replace(/[\u0000-\u0009\u000b\u000c\u000e-\u001f\u007f]/gu, '');
const cefHeader = (value: string) => controls(value).replace(/\\/g, '\\\\').replace(/\|/g, '\\|').replace(/\r/g, ' ').replace(/\n/g, ' ');
const cefValue = (value: string) => controls(value).replace(/\\/g, '\\\\').replace(/=/g, '\\=').replace(/\r/g, '\\r').replace(/\n/g, '\\n');

/** ArcSight Common Event Format, one line per entry, for SIEMs. */
export function cefLine(stored: StoredEntry, version: string): string | null {
  const e = parse(stored);
  if (!e) return null;
  const severity = e.result.status === 'ok' ? 3 : e.result.status === 'refused' ? 6 : 7;
  const extension = [
    `rt=${Date.parse(e.time)}`,
    `suser=${cefValue(e.actor.type === 'system' ? 'system' : `${e.actor.type}:${e.actor.id}`)}`,
    `act=${cefValue(e.action)}`,
    `outcome=${e.result.status}`,
    ...(e.result.status === 'ok' ? [] : [`reason=${cefValue(e.result.code)}`]),
    ...(e.object ? [`cs1Label=object`, `cs1=${cefValue(`${e.object.type}:${e.object.id}`)}`] : []),
    ...(e.params ? [`cs2Label=paramsSha256`, `cs2=${e.params}`] : []),
    `cn1Label=seq`,
    `cn1=${e.seq}`,
    `cs3Label=auditKeyId`,
    `cs3=${stored.keyId}`,
  ].join(' ');
  return `CEF:0|Custos|Custos|${cefHeader(version)}|${cefHeader(e.action)}|${cefHeader(e.action)}|${severity}|${extension}`;
}

/** Streams the selected entries to a file, durably (temp file, fsync, rename). */
export function writeExport(path: string, entries: Iterable<StoredEntry>, format: 'csv' | 'cef', trail: Trail, version: string): number {
  const temp = `${path}.${process.pid}.tmp`;
  const fd = openSync(temp, 'w', 0o644);
  let count = 0;
  try {
    if (format === 'csv') writeSync(fd, `${CSV_HEADER.join(',')}\n`);
    for (const stored of entries) {
      const action = parse(stored)?.action;
      if (!action || !inTrail(action, trail)) continue;
      const line = format === 'csv' ? csvLine(stored) : cefLine(stored, version);
      if (line) {
        writeSync(fd, `${line}\n`);
        count++;
      }
    }
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(temp, path);
  return count;
}
