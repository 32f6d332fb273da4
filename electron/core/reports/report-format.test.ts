import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SYSTEM } from '../audit/audit-service';
import { installationFromOlderRelease, openAudit } from '../testing/audit-fixture';
import { tempDataDir } from '../testing/softhsm-fixture';
import { entryText } from './participant-check';
import { declaredFormat } from '../audit/report-format';
import { checkFormatInLog } from './format-check';

/**
 * The signed log says from which entry on an installation writes format-2 reports, and from which format-3: what
 * `report verify` ties a report's format to, so a forged report that leaves the newer markers out cannot pass as an
 * older one.
 */
let dataDir: string;
let cleanup: () => void;
beforeEach(() => ({ dataDir, cleanup } = tempDataDir()));
afterEach(() => cleanup());

/** Each entry that says which format the installation writes, by seq, and the log's size. */
function declared(): { formats: { seq: number; format: number }[]; size: number } {
  const opened = openAudit(dataDir);
  try {
    const key = opened.audit.noteKey()!;
    const entries = [...opened.audit.log().entries()];
    const formats = entries.flatMap((e) => {
      const format = declaredFormat(entryText(e.entry)!, key);
      return format === null ? [] : [{ seq: e.seq, format }];
    });
    return { formats, size: entries.length };
  } finally {
    opened.close();
  }
}

describe('the report format an installation writes', () => {
  it('is format 3 in a new installation’s first entry, the audit key’s creation, and no entry is added for it', () => {
    expect(declared()).toEqual({ formats: [{ seq: 0, format: 3 }], size: 1 });
    expect(declared()).toEqual({ formats: [{ seq: 0, format: 3 }], size: 1 });
  });

  it('is recorded once, at the first open by this code, in an installation an older release began', () => {
    installationFromOlderRelease(dataDir);
    const first = declared();
    expect(first.formats).toEqual([{ seq: first.size - 1, format: 3 }]);
    expect(first.size).toBeGreaterThan(1);
    expect(declared()).toEqual(first);
  });

  it('is recorded as format 3 after the format 2 a release that wrote format 2 declared in its first entry', () => {
    installationFromOlderRelease(dataDir, { reportFormat: 2 });
    const first = declared();
    expect(first.formats).toEqual([
      { seq: 0, format: 2 },
      { seq: first.size - 1, format: 3 },
    ]);
    expect(declared()).toEqual(first);
  });
});

describe('a report’s format, against the log of the installation said to have made it', () => {
  it('is format 2 when made after format 2 was declared and before format 3, and format 3 after', () => {
    // A release that wrote format 2 made report "before"; this code, declaring format 3 at its first open, "after".
    installationFromOlderRelease(dataDir, { reportFormat: 2, reports: ['before'] });
    const opened = openAudit(dataDir);
    try {
      opened.audit.record({ actor: SYSTEM, action: 'report.create', object: { type: 'report', id: 'after' } });
      const log = opened.audit.log();
      const size = log.size();
      const entries = [...Array(size).keys()].map((seq) => log.entry(seq));
      const later = { source: 'the live log', key: opened.audit.noteKey()! };
      const check = 'report format: the one this installation wrote when the live log records the report made';
      const formatOf = (v: number, reportId: string) =>
        checkFormatInLog(
          { v, reportId, audit: { treeSize: size, entries: [] }, ceremony: null, witnesses: [] },
          entries,
          later,
        );
      const declaredAt = entries.findIndex((e) => e.entry.includes('"report.format"'));
      expect(declaredAt).toBeGreaterThan(1);
      expect(formatOf(2, 'before')).toEqual({ check, ok: true });
      expect(formatOf(3, 'after')).toEqual({ check, ok: true });
      // Said to be format 2 after format 3 was declared: it could leave out what format 3 requires.
      expect(formatOf(2, 'after')).toEqual({
        check,
        ok: false,
        detail:
          `entry ${declaredAt} records that this installation writes format-3 reports, and entry ${size - 1} made ` +
          'this one after it, but it says format 2: it is not a report Custos made',
      });
      // Format 3 before it was declared, and format 1 after format 2 was: neither was written then.
      expect(formatOf(3, 'before')).toMatchObject({
        ok: false,
        detail: expect.stringMatching(/^entry 0 records that this installation writes format-2 reports, .* format 3/),
      });
      expect(formatOf(1, 'before')).toMatchObject({ ok: false, detail: expect.stringContaining('says format 1') });
    } finally {
      opened.close();
    }
  });
});
