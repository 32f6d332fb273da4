import { canonicalJson, sha256Hex } from '../canonical-json';
import { keyId, type NoteKey } from './checkpoint';

/** An audit entry's signed text, read loosely (a report or bundle may hold anything). */
interface EntryText {
  seq?: unknown;
  action?: unknown;
  object?: { type?: unknown; id?: unknown } | null;
  params?: unknown;
  result?: { status?: unknown } | null;
}

/**
 * The report format this code writes. A format-2 report carries every marker the checks of its kind need (each part's
 * entry, the custody's begin params or `null`, the fingerprinted body…), so none of them can read as "an older
 * report, NOT CHECKED" in a report this installation made after it began writing format 2.
 */
export const REPORT_FORMAT = 2;

/**
 * When an installation began writing format-2 reports, as its signed log says: a new installation's
 * `audit.key.create` params say so; an older one records this entry once, at its first open by this code. Whoever
 * holds the audit key can append entries, never insert one earlier, so a report made after it must be format 2.
 */
export const FORMAT_ENTRY = {
  action: 'report.format',
  object: { type: 'report-format', id: String(REPORT_FORMAT) },
  params: { reportFormat: REPORT_FORMAT },
} as const;

/** The vaults an audit token's PIN can be in (settings `audit.vault`): the key's creation entry names one. */
const VAULTS = ['file', 'os-keystore'] as const;

/** What a new installation's `audit.key.create` entry hashes: its key, the vault of its PIN and the report format. */
export const keyCreationParams = (id: string, vault: string) => ({ keyId: id, vault, reportFormat: REPORT_FORMAT });

/** Whether a signed entry's text says this installation writes format-2 reports from that entry on. */
export function declaresFormat(e: EntryText, key: NoteKey): boolean {
  if (e.result?.status !== 'ok') return false;
  if (e.action === FORMAT_ENTRY.action)
    return (
      e.object?.type === FORMAT_ENTRY.object.type &&
      e.object.id === FORMAT_ENTRY.object.id &&
      e.params === sha256Hex(canonicalJson(FORMAT_ENTRY.params))
    );
  if (e.action !== 'audit.key.create' || e.seq !== 0) return false;
  const id = keyId(key).toString('hex');
  return VAULTS.some((vault) => e.params === sha256Hex(canonicalJson(keyCreationParams(id, vault))));
}

/** Whether an entry's text may declare the format: a cheap look before it is parsed or verified. */
export const mayDeclareFormat = (entry: string) =>
  entry.includes('"report.format"') || (entry.includes('"audit.key.create"') && entry.includes('"seq":0,'));
