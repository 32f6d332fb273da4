import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { asDatabaseWriter, openAudit } from '../testing/audit-fixture';
import { tempDataDir } from '../testing/softhsm-fixture';
import type { StoredEntry } from './audit-log';
import { AuditOperations } from './audit-operations';
import { parseCheckpoint, parseNote } from './checkpoint';
import { writeExport } from './exports';
import { treeRows } from './stored-tree';
import { sql } from '../store/sql';

let dataDir: string;
let cleanup: () => void;
let opened: ReturnType<typeof openAudit> | null = null;
beforeEach(() => ({ dataDir, cleanup } = tempDataDir()));
afterEach(() => {
  opened?.close();
  opened = null;
  cleanup();
});
const open = () => (opened = openAudit(dataDir));
const reopen = () => {
  opened?.close();
  return open();
};
const operator = { type: 'operator', id: 'test' } as const;
/** The checkpoint an export closes with, signed now over every entry so far. */
const closingOf = (audit: ReturnType<typeof openAudit>['audit']) => {
  const { size, root } = parseCheckpoint(parseNote(audit.checkpoint('export').note).text);
  return { treeSize: size, root };
};

/** Reads a CSV file with Python's csv module: a parser that shares no code with Custos. */
function readCsv(path: string): string[][] {
  const script = 'import csv,json,sys\nprint(json.dumps(list(csv.reader(open(sys.argv[1], newline="")))))';
  return JSON.parse(execFileSync('python3', ['-c', script, path], { encoding: 'utf8' })) as string[][];
}

describe('CSV export', () => {
  it('neutralises formulas in text fields only: every signature comes back exactly, = + - @ text is defused', () => {
    const { audit } = open();
    const log = audit.log();
    for (const id of ['=HYPERLINK("http://x")', '+1+1', '-2+3', '@SUM(A1)', 'plain']) {
      audit.record({ actor: { type: 'operator', id }, action: 'token.select', object: { type: 'token', id } });
    }
    // Real signatures are random: record until one base64 signature starts with “+”, as 7 of 346 did.
    for (let i = 0; i < 2000 && ![...log.entries()].some((e) => e.signature.toString('base64').startsWith('+')); i++) {
      audit.record({ actor: operator, action: 'token.list' });
    }
    const path = join(dataDir, 'log.csv');
    const count = writeExport(path, log.entries(), 'csv', 'all', 'test', closingOf(audit));
    const [header, ...rows] = readCsv(path);
    expect(rows).toHaveLength(count);
    expect(count).toBe(log.size());
    const column = (name: string) => header!.indexOf(name);
    const stored = [...log.entries()];
    rows.forEach((row, i) => {
      expect(row[column('signature_base64')], `signature of entry ${i}`).toBe(stored[i]!.signature.toString('base64'));
      expect(row[column('key_id')]).toBe(stored[i]!.keyId);
      expect(row[column('params_sha256')]).toBe(
        (JSON.parse(stored[i]!.entry) as { params: string | null }).params ?? '',
      );
    });
    expect(rows.some((row) => row[column('signature_base64')]!.startsWith('+'))).toBe(true);
    const objectIds = rows.map((row) => row[column('object_id')]);
    expect(objectIds).toEqual(
      expect.arrayContaining(['\'=HYPERLINK("http://x")', "'+1+1", "'-2+3", "'@SUM(A1)", 'plain']),
    );
    expect(rows.map((row) => row[column('actor_id')])).toEqual(
      expect.arrayContaining(['\'=HYPERLINK("http://x")', "'@SUM(A1)"]),
    );
  });
});

describe('CEF export', () => {
  it('escapes TAB and other control characters instead of dropping them, with CEF escaping for extension values', () => {
    const { audit } = open();
    const id = 'a\tb\u0001c\\d=e\nf|g';
    audit.record({ actor: operator, action: 'token.select', object: { type: 'token', id } });
    const path = join(dataDir, 'log.cef');
    writeExport(path, audit.log().entries(), 'cef', 'all', 'test', closingOf(audit));
    const lines = readFileSync(path, 'utf8').split('\n').filter(Boolean);
    expect(lines).toHaveLength(audit.log().size());
    const line = lines.find((l) => l.includes('|token.select|'))!;
    // eslint-disable-next-line no-control-regex -- checking that no control character is left raw
    expect(line).not.toMatch(/[\u0000-\u001f\u007f]/u);
    expect(line).toContain('cs1=token:a\\u0009b\\u0001c\\\\d\\=e\\nf|g cn1Label');
  });

  it('escapes C1 controls, line separators and bidi overrides too: a SIEM splitting lines as Python does sees one event', () => {
    const { audit } = open();
    // What a path can hold (the checkpoint copy's, recorded as an object when it is missing): NEL, U+2028, RLO.
    const id = '/media/a\u0085b\u2028c\u2029d\u202ee\u009bf';
    audit.record({ actor: operator, action: 'audit.anchor.copy.missing', object: { type: 'file', id } });
    const path = join(dataDir, 'log.cef');
    writeExport(path, audit.log().entries(), 'cef', 'all', 'test', closingOf(audit));
    const script =
      'import json,sys\nprint(json.dumps(open(sys.argv[1], encoding="utf-8", newline="").read().splitlines()))';
    const lines = JSON.parse(execFileSync('python3', ['-c', script, path], { encoding: 'utf8' })) as string[];
    expect(lines).toHaveLength(audit.log().size());
    expect(lines.find((l) => l.includes('|audit.anchor.copy.missing|'))).toContain(
      'cs1=file:/media/a\\u0085b\\u2028c\\u2029d\\u202ee\\u009bf cn1Label',
    );
  });
});

describe('exports never drop an entry', () => {
  it('fail, naming the entry, when one does not parse, and leave no file behind', () => {
    const { audit } = open();
    audit.record({ actor: operator, action: 'token.list' });
    const entries: StoredEntry[] = [...audit.log().entries()];
    entries[1] = { ...entries[1]!, entry: '{"v":1,"seq":1,' };
    for (const format of ['csv', 'cef'] as const) {
      const path = join(dataDir, `log.${format}`);
      expect(() => writeExport(path, entries, format, 'key-management', 'test', closingOf(audit))).toThrow(
        expect.objectContaining({
          code: 'AUDIT_VERIFY_FAILED',
          message: expect.stringMatching(/entry 1 is not a well-formed entry/),
        }),
      );
      expect(existsSync(path)).toBe(false);
      expect(existsSync(`${path}.${process.pid}.tmp`)).toBe(false);
    }
  });
});

describe('checkpoints verify what is new since the last verified checkpoint before signing', () => {
  it('an entry edited after the last checkpoint, even with the stored tree rewritten to match, keeps the log closed', () => {
    const { audit } = open();
    audit.checkpoint('before');
    for (let i = 0; i < 5; i++) audit.record({ actor: operator, action: 'token.list' });
    const before = audit.log().checkpoints().length;
    const edited = audit.log().size() - 2;
    // A crash: a clean close would sign a closing checkpoint over the tail, and the edit would be a rollback.
    opened!.crash();
    opened = null;
    // An attacker with the database file changes an entry and makes the tree agree with it.
    asDatabaseWriter(dataDir, (db) => {
      db.prepare(
        `UPDATE audit_entries SET entry = replace(entry, 'token.list', 'token.info') WHERE seq = (SELECT max(seq) - 1 FROM audit_entries)`,
      ).run();
      db.exec('DELETE FROM audit_tree');
      const insert = db.prepare('INSERT INTO audit_tree (seq, hashes) VALUES (?, ?)');
      const entries = db.prepare('SELECT entry FROM audit_entries ORDER BY seq').pluck().all() as string[];
      for (const row of treeRows(entries)) insert.run(row.seq, row.hashes);
    });
    // Refused at open (before, the log opened and only its next checkpoint was refused, every time after that).
    const { audit: reopened, store } = reopen();
    expect(reopened.status()).toMatchObject({
      state: 'unavailable',
      code: 'AUDIT_VERIFY_FAILED',
      message: expect.stringContaining(`entry ${edited}, after the latest signed checkpoint`),
    });
    expect(() => reopened.checkpoint('after')).toThrow(expect.objectContaining({ code: 'AUDIT_VERIFY_FAILED' }));
    expect(store.get<{ n: number }>(sql`SELECT count(*) AS n FROM audit_checkpoints`)!.n).toBe(before);
  });
});

describe('CSV and CEF exports', () => {
  it('carry only entries as the closing checkpoint signed them: one edited under a checkpoint fails the export', () => {
    const { audit } = open();
    audit.record({
      actor: { type: 'operator', id: 'ada' },
      action: 'key.compromise',
      object: { type: 'key', id: 'k' },
    });
    // A writer of the database file changes who did it in an entry a checkpoint covers: open does not reread those.
    opened!.close();
    opened = null;
    asDatabaseWriter(dataDir, (db) => {
      db.prepare(`UPDATE audit_entries SET entry = replace(entry, '"id":"ada"', '"id":"eve"')`).run();
    });
    const { audit: reopened, store } = open();
    expect(reopened.status()).toMatchObject({ state: 'ready' });
    const operations = new AuditOperations({ store, audit: reopened, actor: operator, version: 'test' });
    for (const format of ['csv', 'cef'] as const) {
      const path = join(dataDir, `log.${format}`);
      expect(() => operations.export(path, format, 'all'), format).toThrow(
        expect.objectContaining({ code: 'AUDIT_VERIFY_FAILED' }),
      );
      expect(existsSync(path), format).toBe(false);
    }
  });
});
