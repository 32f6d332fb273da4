import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { installationFromOlderRelease, openAudit } from '../testing/audit-fixture';
import { tempDataDir } from '../testing/softhsm-fixture';
import { entryText } from './participant-check';
import { declaresFormat } from '../audit/report-format';

/**
 * The signed log says from which entry on an installation writes format-2 reports: what `report verify` ties a
 * report's format to, so a forged report that leaves the newer markers out cannot pass as an older one.
 */
let dataDir: string;
let cleanup: () => void;
beforeEach(() => ({ dataDir, cleanup } = tempDataDir()));
afterEach(() => cleanup());

/** Each entry that says the installation writes format-2 reports, by seq, and the log's size. */
function declared(): { seqs: number[]; size: number } {
  const opened = openAudit(dataDir);
  try {
    const key = opened.audit.noteKey()!;
    const entries = [...opened.audit.log().entries()];
    const seqs = entries.filter((e) => declaresFormat(entryText(e.entry)!, key)).map((e) => e.seq);
    return { seqs, size: entries.length };
  } finally {
    opened.close();
  }
}

describe('the report format an installation writes', () => {
  it('is in a new installation’s first entry, the audit key’s creation, and no entry is added for it', () => {
    expect(declared()).toEqual({ seqs: [0], size: 1 });
    expect(declared()).toEqual({ seqs: [0], size: 1 });
  });

  it('is recorded once, at the first open by this code, in an installation an older release began', () => {
    installationFromOlderRelease(dataDir);
    const first = declared();
    expect(first.seqs).toEqual([first.size - 1]);
    expect(first.seqs[0]).toBeGreaterThan(0);
    expect(declared()).toEqual(first);
  });
});
