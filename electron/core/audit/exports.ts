import { closeSync, fsyncSync, renameSync, rmSync, writeSync } from 'node:fs';
import { AuditEntry } from '../../../shared/audit';
import { CustosError } from '../errors';
import { openFresh } from '../secret-vault';
import type { StoredEntry } from './audit-log';
import { FrontierTree, leafHash } from './merkle';

/** Actions that make up the key-management trail (SP 800-57, PCI DSS 3.6/3.7): changes, not reads. */
const KEY_MANAGEMENT_PREFIXES = [
  'key.',
  'token.select',
  'token.init',
  'custody.',
  'ceremony.',
  'backup.',
  'restore.',
  'share.',
  'quorum.',
  'proposal.',
  'approval.',
  'custodian.',
  'audit.key.',
  'settings.module.',
];

export type Trail = 'all' | 'key-management';

export function inTrail(action: string, trail: Trail): boolean {
  return trail === 'all' || KEY_MANAGEMENT_PREFIXES.some((prefix) => action.startsWith(prefix));
}

/** Every entry is exported or the export fails: one that does not parse is named, never skipped. */
function parse(stored: StoredEntry): AuditEntry {
  try {
    return AuditEntry.parse(JSON.parse(stored.entry));
  } catch (error) {
    throw new CustosError(
      'AUDIT_VERIFY_FAILED',
      `Audit entry ${stored.seq} is not a well-formed entry, so the export stopped and wrote nothing.`,
      ['Run “custos audit verify” to see what happened to it, and keep this machine as it is.'],
      { cause: error },
    );
  }
}

const CSV_HEADER = [
  'seq',
  'time',
  'actor_type',
  'actor_id',
  'actor_role',
  'action',
  'object_type',
  'object_id',
  'params_sha256',
  'result',
  'error_code',
  'key_id',
  'signature_base64',
];

/**
 * RFC 4180: every field quoted, quotes doubled. A text field starting with = + - @ (or TAB, CR)
 * would run as a spreadsheet formula, so it gets a leading apostrophe; hex, base64, numbers and
 * timestamps are written exactly (a base64 signature may start with “+”).
 */
function csvField(value: string, text: boolean): string {
  const safe = text && /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return `"${safe.replace(/"/g, '""')}"`;
}

export function csvLine(stored: StoredEntry): string {
  const e = parse(stored);
  const fields: [string, boolean][] = [
    [String(e.seq), false],
    [e.time, false],
    [e.actor.type, true],
    [e.actor.id, true],
    [e.actor.type === 'custodian' ? e.actor.role : '', true],
    [e.action, true],
    [e.object?.type ?? '', true],
    [e.object?.id ?? '', true],
    [e.params ?? '', false],
    [e.result.status, false],
    [e.result.status === 'ok' ? '' : e.result.code, false],
    // Not signed: an edited column could hold anything. Hex never starts with a formula character.
    [stored.keyId, true],
    [stored.signature.toString('base64'), false],
  ];
  return fields.map(([value, text]) => csvField(value, text)).join(',');
}

/**
 * CEF escaping (ArcSight CEF standard): in the header “\” and “|” are escaped; in extension
 * values “\” and “=”, with line breaks as \n and \r. A raw control character would split or
 * forge an event in the SIEM, and dropping it would change what was recorded, so the others
 * (TAB, NUL, ESC…) are written as \uXXXX — distinct from a literal backslash, which is doubled.
 * So are C1 controls and U+2028/U+2029 (NEL and both end a line for Java's and Python's line
 * readers) and bidirectional controls (a reversed object id reads as another in the SIEM's view).
 */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/gu;
const unicodeEscape = (c: string) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
const cefHeader = (value: string) => value.replace(/\\/g, '\\\\').replace(/\|/g, '\\|').replace(CONTROL, unicodeEscape);
const cefValue = (value: string) =>
  value
    .replace(/\\/g, '\\\\')
    .replace(/=/g, '\\=')
    .replace(/\r/g, '\\r')
    .replace(/\n/g, '\\n')
    .replace(CONTROL, unicodeEscape);

/** ArcSight Common Event Format, one line per entry, for SIEMs. */
export function cefLine(stored: StoredEntry, version: string): string {
  const e = parse(stored);
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
    `cs3=${cefValue(stored.keyId)}`,
  ].join(' ');
  return `CEF:0|Custos|Custos|${cefHeader(version)}|${cefHeader(e.action)}|${cefHeader(e.action)}|${severity}|${extension}`;
}

/**
 * Streams the selected entries to a file, durably (temp file, fsync, rename); on any failure nothing is left. The
 * entries the closing checkpoint covers must hash to its root: open rereads no entry under a checkpoint, so one a
 * writer of the database file edited there (another actor, another object) would reach the SIEM as recorded.
 */
export function writeExport(
  path: string,
  entries: Iterable<StoredEntry>,
  format: 'csv' | 'cef',
  trail: Trail,
  version: string,
  closing: { treeSize: number; root: Buffer },
): number {
  const temp = `${path}.${process.pid}.tmp`;
  const fd = openFresh(temp, 0o644);
  let count = 0;
  const tree = new FrontierTree();
  try {
    if (format === 'csv') writeSync(fd, `${CSV_HEADER.join(',')}\n`);
    for (const stored of entries) {
      if (stored.seq === tree.size && tree.size < closing.treeSize) tree.append(leafHash(Buffer.from(stored.entry)));
      if (!inTrail(parse(stored).action, trail)) continue;
      writeSync(fd, `${format === 'csv' ? csvLine(stored) : cefLine(stored, version)}\n`);
      count++;
    }
    if (tree.size !== closing.treeSize || !tree.root().equals(closing.root)) {
      throw new CustosError(
        'AUDIT_VERIFY_FAILED',
        `The entries no longer hash to the checkpoint of ${closing.treeSize} entries just signed: one was changed in the database, so the export stopped and wrote nothing.`,
        ['Run “custos audit verify” to see which, and keep this machine as it is.'],
      );
    }
    fsyncSync(fd);
  } catch (error) {
    closeSync(fd);
    rmSync(temp, { force: true });
    throw error;
  }
  closeSync(fd);
  renameSync(temp, path);
  return count;
}
