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
 * The report format this code writes. A report carries every marker the checks of its kind need in its format (each
 * part's entry, the custody's begin params or `null`, the fingerprinted body…; from format 3 each script-run step's
 * action and outcome as stored, and the run that made each key of a report without a ceremony), so none of them can
 * read as "an older report, NOT CHECKED" in a report this installation made after it began writing that format.
 */
export const REPORT_FORMAT = 3;

/** The formats a signed entry can say an installation writes from that entry on (format 1 was never declared). */
export const DECLARED_FORMATS = [2, 3] as const;

/** The `report.format` entry that says an installation writes this format from it on. */
export const formatEntry = (format: number) =>
  ({
    action: 'report.format',
    object: { type: 'report-format', id: String(format) },
    params: { reportFormat: format },
  }) as const;

/**
 * When an installation began writing format-3 reports, as its signed log says: a new installation's
 * `audit.key.create` params say so; an older one records this entry once, at its first open by this code (as one
 * older still recorded `report.format` 2). Whoever holds the audit key can append entries, never insert one earlier,
 * so a report made after it must be format 3.
 */
export const FORMAT_ENTRY = formatEntry(REPORT_FORMAT);

/** The vaults an audit token's PIN can be in (settings `audit.vault`): the key's creation entry names one. */
const VAULTS = ['file', 'os-keystore'] as const;

/** What a new installation's `audit.key.create` entry hashes: its key, the vault of its PIN and the report format. */
export const keyCreationParams = (id: string, vault: string, format: number = REPORT_FORMAT) => ({
  keyId: id,
  vault,
  reportFormat: format,
});

/** The format a signed entry's text says this installation writes reports in from that entry on, or null. */
export function declaredFormat(e: EntryText, key: NoteKey): number | null {
  if (e.result?.status !== 'ok') return null;
  if (e.action === FORMAT_ENTRY.action) {
    const format = DECLARED_FORMATS.find((f) => e.object?.id === String(f));
    const entry = format === undefined ? null : formatEntry(format);
    const ok =
      entry !== null && e.object?.type === entry.object.type && e.params === sha256Hex(canonicalJson(entry.params));
    return ok ? format! : null;
  }
  if (e.action !== 'audit.key.create' || e.seq !== 0) return null;
  const id = keyId(key).toString('hex');
  const said = (f: number) =>
    VAULTS.some((vault) => e.params === sha256Hex(canonicalJson(keyCreationParams(id, vault, f))));
  return DECLARED_FORMATS.find(said) ?? null;
}

/** Whether an entry's text may declare a format: a cheap look before it is parsed or verified. */
export const mayDeclareFormat = (entry: string) =>
  entry.includes('"report.format"') || (entry.includes('"audit.key.create"') && entry.includes('"seq":0,'));
