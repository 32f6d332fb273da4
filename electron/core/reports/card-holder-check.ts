import { z } from 'zod';
import { cardReleaseParts, cardsForgotten, type CardRelease } from './card-release-record';
import { canonicalJson } from '../canonical-json';
import { entryText, said, signedWithin } from './participant-check';
import type { PartEntry } from './participant-record';
import type { LaterSource, ReportCheck, SignedEntry } from './report-verify';

/** The members of a backup report's ceremony the card holder checks read (report-verify.ts's ReportFile holds them). */
export const CardHolderFields = {
  params: z.unknown().optional(),
  cardHolders: z
    .array(
      z.object({
        index: z.number(),
        id: z.string(),
        name: z.string(),
        releasedAt: z.string().nullable(),
        // Reports made before each release named its entry carry none: their card holders are not checked.
        seq: z.number().int().nonnegative().nullable().optional(),
      }),
    )
    .optional(),
  // Format 2: when Custos forgot the set's cards (every card collected), or null when not before the report.
  cardsForgotten: z.object({ at: z.string(), seq: z.number().int().nonnegative() }).nullable().optional(),
};

type CardHolderFile = NonNullable<z.infer<typeof CardHolderFields.cardHolders>>[number];

interface CardHolderReport {
  ceremony: {
    action?: string;
    params?: unknown;
    outcome?: unknown;
    cardHolders?: CardHolderFile[];
    cardsForgotten?: { at: string; seq: number } | null;
  } | null;
  audit: { treeSize: number; entries: { seq: number; entry: string }[] };
}

const CHECK = 'card holders: each card’s holder and release as the signed entries of its backup set record them';

/** The backup set a report's card holders belong to, with the holders its approved params name in card order. */
export function reportedBackupSet(report: Pick<CardHolderReport, 'ceremony'>) {
  const c = report.ceremony;
  if (!c?.cardHolders) return null;
  const setId = (c.outcome as { result?: { setId?: unknown } } | null | undefined)?.result?.setId;
  const holders = (c.params as { holders?: unknown } | null | undefined)?.holders;
  return {
    setId: typeof setId === 'string' ? setId : null,
    holders: Array.isArray(holders) ? holders.map(String) : null,
    listed: c.cardHolders,
    checked: c.cardHolders.every((h) => h.seq !== undefined),
    forgotten: c.cardsForgotten,
  };
}

/** Whether an entry's text may record a card release (or forgetting) of this set: a cheap look before it is parsed. */
export const mayRecordRelease = (entry: string, setId: string) =>
  (entry.includes('"backup.card.release"') || entry.includes('"backup.cards.forget"')) && entry.includes(setId);

/**
 * A backup report's card holders are exactly the approved holders, card i the i-th, and each listed release is the one
 * a signed `backup.card.release` entry the report carries records (holder, card, time, entry), while every such entry
 * is listed. A report made before its card holders named their entry is NOT CHECKED, and says so.
 */
export function checkCardHolders(report: CardHolderReport, checks: ReportCheck[]): void {
  const set = reportedBackupSet(report);
  if (!set) {
    // Every report of a backup that made a set has listed its card holders: none at all is a list taken out.
    const setId = (report.ceremony?.outcome as { result?: { setId?: unknown } } | null | undefined)?.result?.setId;
    if (report.ceremony?.action === 'key.backup' && setId !== undefined)
      checks.push({ check: CHECK, ok: false, detail: 'the report of a backup that made a set lists no card holders' });
    return;
  }
  if (!set.checked) {
    const detail = 'this report predates tying each card’s release to its entry: NOT CHECKED';
    checks.push({ check: CHECK, ok: true, skipped: true, detail });
    return;
  }
  const texts = report.audit.entries.flatMap((e) => entryText(e.entry) ?? []);
  const differences = differencesFrom(set, texts);
  checks.push({
    check: CHECK,
    ok: differences.length === 0,
    ...(differences.length ? { detail: said(differences) } : {}),
  });
}

/**
 * With a later log (live, or a bundle): every card release its signed entries record on the report's set, up to the
 * report's checkpoint, is listed. The check on the carried entries cannot see a release left out with its entry.
 */
export function checkCardHoldersInLog(
  report: CardHolderReport,
  entries: SignedEntry[],
  later: LaterSource,
): ReportCheck | null {
  const set = reportedBackupSet(report);
  if (!set?.checked || !set.setId) return null;
  const differences = differencesFrom(set, signedWithin(entries, report.audit.treeSize, later));
  return {
    check: `card holders: every card release ${later.source} records on this backup set, up to the report’s checkpoint`,
    ok: differences.length === 0,
    ...(differences.length ? { detail: said(differences) } : {}),
  };
}

function differencesFrom(
  set: NonNullable<ReturnType<typeof reportedBackupSet>>,
  texts: Parameters<typeof cardReleaseParts>[0],
) {
  if (!set.setId) return ['the report names no backup set its cards belong to'];
  if (!set.holders) return ['the report’s approved parameters name no card holders'];
  const order = set.listed.map((h) => `${h.index}:${h.id}`).join(' ');
  const approved = set.holders.map((id, i) => `${i + 1}:${id}`).join(' ');
  const differences =
    order === approved ? [] : [`the report lists cards ${order}; the approved parameters name ${approved}`];
  return [
    ...differences,
    ...compare(cardReleaseParts(texts, set.setId, set.holders), set.listed),
    ...forgetDifference(set, texts),
  ];
}

/** A report that says when the cards were forgotten (format 2) says what the first signed forget entry records. */
function forgetDifference(set: NonNullable<ReturnType<typeof reportedBackupSet>>, texts: PartEntry[]): string[] {
  if (set.forgotten === undefined || !set.setId) return [];
  const recorded = cardsForgotten(texts, set.setId);
  if (canonicalJson(recorded) === canonicalJson(set.forgotten)) return [];
  const says = set.forgotten ? `at ${set.forgotten.at} (entry ${set.forgotten.seq})` : 'not yet';
  const records = recorded ? `entry ${recorded.seq} records it at ${recorded.at}` : 'no signed entry records it';
  return [`the report says the cards were forgotten ${says}; ${records}`];
}

/** What differs, one line per card or entry. */
function compare(recorded: CardRelease[], listed: CardHolderFile[]): string[] {
  const left = [...recorded];
  const differences: string[] = [];
  for (const h of listed) {
    const i = left.findIndex((r) => r.id === h.id);
    const r = i < 0 ? null : left.splice(i, 1)[0]!;
    const who = `${h.name} (${h.id}) card ${h.index}`;
    if (!r) {
      if (h.releasedAt !== null || h.seq !== null)
        differences.push(`${who} released at ${String(h.releasedAt)}: no signed entry of this set records that`);
      continue;
    }
    if (h.releasedAt !== r.at || h.seq !== r.seq || h.index !== r.index)
      differences.push(
        `${who}: the report says released at ${String(h.releasedAt)} (entry ${String(h.seq)}), entry ${r.seq} ` +
          `records card ${String(r.index)} released to them at ${r.at}`,
      );
  }
  for (const r of left)
    differences.push(
      `entry ${r.seq} records card ${String(r.index)} released to ${r.id} at ${r.at}, and the report does not list it`,
    );
  return differences;
}
