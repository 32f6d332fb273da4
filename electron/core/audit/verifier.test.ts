import type Database from 'better-sqlite3';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DATABASE_FILE, Store } from '../store/database';
import { asDatabaseWriter, openAudit, reanchorAsOwner } from '../testing/audit-fixture';
import { tempDataDir } from '../testing/softhsm-fixture';
import { readBundle, writeBundle } from './bundle';
import { keyId } from './checkpoint';
import { treeRows } from './stored-tree';
import { verifyAuditLog } from './verifier';
import { verifyStoredLog } from './verify-store';

let dataDir: string;
let cleanup: () => void;
beforeEach(() => ({ dataDir, cleanup } = tempDataDir()));
afterEach(() => cleanup());
const operator = { type: 'operator', id: 'test' } as const;

/** A real log of 25 entries with checkpoints, as Custos writes it. Returns the checkpoint notes. */
function writeLog(entries = 24): string[] {
  const opened = openAudit(dataDir);
  try {
    for (let i = 0; i < entries; i++) {
      opened.audit.record({
        actor: operator,
        action: i % 2 ? 'token.list' : 'token.select',
        object: { type: 'token', id: `t${i}` },
      });
      if (i === 9) opened.audit.checkpoint('after ten');
    }
    opened.audit.checkpoint('closing');
    return opened.audit
      .log()
      .checkpoints()
      .map((c) => c.note);
  } finally {
    opened.close();
  }
}

/**
 * Changes the database the way an attacker with the file would: triggers dropped first, and put back as they were
 * (a schema left changed is refused at open).
 */
function tamper(fn: (db: Database.Database) => void): void {
  asDatabaseWriter(dataDir, fn);
}

async function verify(trustedCheckpoints: string[] = []) {
  const store = Store.open(dataDir);
  try {
    return await verifyStoredLog(store, { trustedCheckpoints });
  } finally {
    store.close();
  }
}

type Row = { seq: number; entry: string; signature: Buffer; key_id: string };
const rows = (db: Database.Database) =>
  db.prepare('SELECT seq, entry, signature, key_id FROM audit_entries ORDER BY seq').all() as Row[];
function rewriteEntries(db: Database.Database, next: Row[]): void {
  db.exec('DELETE FROM audit_entries');
  const insert = db.prepare('INSERT INTO audit_entries (seq, entry, signature, key_id) VALUES (?, ?, ?, ?)');
  next.forEach((row, i) => insert.run(i, row.entry, row.signature, row.key_id));
}

describe('audit verification of the live log', () => {
  it('passes an untouched log and reports its size and root', async () => {
    writeLog();
    const verdict = await verify();
    expect(verdict).toMatchObject({ ok: true, entries: 25, first: null, problems: [] });
    expect(Buffer.from(verdict.root, 'base64')).toHaveLength(32);
  });

  it('names an edited field: the entry no longer matches its signature', async () => {
    writeLog();
    tamper((db) =>
      db.prepare('UPDATE audit_entries SET entry = replace(entry, \'"t5"\', \'"t5-renamed"\') WHERE seq = 6').run(),
    );
    const verdict = await verify();
    expect(verdict.first).toMatchObject({ kind: 'edited', seq: 6 });
    expect(verdict.problems.map((p) => p.kind)).toContain('inconsistent-checkpoint');
  });

  it('names a deleted row', async () => {
    writeLog();
    tamper((db) => db.prepare('DELETE FROM audit_entries WHERE seq = 7').run());
    expect((await verify()).first).toMatchObject({ kind: 'deleted', seq: 7, message: 'Entry 7 was deleted.' });
  });

  it('names an inserted row', async () => {
    writeLog();
    tamper((db) => {
      const all = rows(db);
      const forged = {
        ...all[6]!,
        entry: all[6]!.entry.replace('token.select', 'key.export'),
        signature: randomBytes(64),
      };
      rewriteEntries(db, [...all.slice(0, 6), forged, ...all.slice(6)]);
    });
    expect((await verify()).first).toMatchObject({ kind: 'inserted', seq: 6 });
  });

  it('names two swapped rows', async () => {
    writeLog();
    tamper((db) => {
      const all = rows(db);
      rewriteEntries(db, [...all.slice(0, 3), all[4]!, all[3]!, ...all.slice(5)]);
    });
    expect((await verify()).first).toMatchObject({
      kind: 'reordered',
      seq: 3,
      message: 'Entries 3 and 4 were swapped.',
    });
  });

  it('names a truncated tail', async () => {
    writeLog();
    tamper((db) => db.prepare('DELETE FROM audit_entries WHERE seq >= 15').run());
    expect((await verify()).first).toMatchObject({ kind: 'truncated', seq: 15 });
  });

  it('names a replaced signature on an entry whose content a checkpoint still vouches for', async () => {
    writeLog();
    tamper((db) => db.prepare('UPDATE audit_entries SET signature = ? WHERE seq = 5').run(randomBytes(64)));
    expect((await verify()).first).toMatchObject({ kind: 'bad-signature', seq: 5 });
  });

  it('names a swapped audit key', async () => {
    writeLog();
    const { publicKey } = generateKeyPairSync('ed25519');
    const raw = publicKey.export({ format: 'der', type: 'spki' }).subarray(-32);
    tamper((db) => db.prepare('UPDATE audit_keys SET public_key = ?').run(raw));
    const verdict = await verify();
    expect(verdict.first).toMatchObject({ kind: 'unknown-key', seq: 0 });
    expect(verdict.problems.filter((p) => p.kind === 'unknown-key').length).toBeGreaterThan(1);
  });

  it('names a forged checkpoint', async () => {
    const notes = writeLog();
    const forged = notes.at(-1)!.replace(/\n25\n/, '\n24\n');
    tamper((db) =>
      db
        .prepare('UPDATE audit_checkpoints SET note = ? WHERE id = (SELECT max(id) FROM audit_checkpoints)')
        .run(forged),
    );
    expect((await verify()).first).toMatchObject({ kind: 'forged-checkpoint' });
  });

  it('catches a history rewritten with the real audit key once a checkpoint has left the machine', async () => {
    const exported = writeLog().at(-1)!;
    // The machine's owner rewinds the log to 5 entries and lets Custos sign a different history.
    tamper((db) => {
      const kept = rows(db).slice(0, 5);
      rewriteEntries(db, kept);
      db.exec('DELETE FROM audit_tree; DELETE FROM audit_checkpoints;');
      const insert = db.prepare('INSERT INTO audit_tree (seq, hashes) VALUES (?, ?)');
      for (const row of treeRows(kept.map((k) => k.entry))) insert.run(row.seq, row.hashes);
    });
    reanchorAsOwner(dataDir); // With the audit PIN the owner re-signs the checkpoint kept in the token too.
    const opened = openAudit(dataDir);
    for (let i = 0; i < 25; i++) opened.audit.record({ actor: operator, action: 'token.list' });
    opened.audit.checkpoint('rewritten');
    opened.close();
    expect((await verify()).ok).toBe(true); // The rewrite is self-consistent: only an outside checkpoint can show it.
    const verdict = await verify([exported]);
    expect(verdict.first).toMatchObject({
      kind: 'inconsistent-checkpoint',
      message: expect.stringMatching(/rewritten after that checkpoint was exported/),
    });
  });
});

describe('the verifier believes only signed content', () => {
  it('calls a changed sequence number an edit, not a deletion', async () => {
    writeLog();
    tamper((db) =>
      db.prepare(`UPDATE audit_entries SET entry = replace(entry, '"seq":7,', '"seq":8,') WHERE seq = 7`).run(),
    );
    const verdict = await verify();
    expect(verdict.first).toMatchObject({ kind: 'edited', seq: 7 });
    expect(verdict.problems.filter((p) => p.seq !== null && p.seq > 7)).toEqual([]);
  });

  it('does not call two forged entries with exchanged numbers a swap', async () => {
    writeLog();
    tamper((db) => {
      db.prepare(`UPDATE audit_entries SET entry = replace(entry, '"seq":3,', '"seq":4,') WHERE seq = 3`).run();
      db.prepare(`UPDATE audit_entries SET entry = replace(entry, '"seq":4,', '"seq":3,') WHERE seq = 4`).run();
    });
    const verdict = await verify();
    expect(verdict.problems.slice(0, 2)).toMatchObject([
      { kind: 'edited', seq: 3 },
      { kind: 'edited', seq: 4 },
    ]);
  });

  it('names a genuine entry copied in again', async () => {
    writeLog();
    tamper((db) => {
      const all = rows(db);
      rewriteEntries(db, [...all.slice(0, 9), all[4]!, ...all.slice(9)]);
    });
    expect((await verify()).first).toMatchObject({
      kind: 'inserted',
      seq: 9,
      message: expect.stringMatching(/copy of entry 4/),
    });
  });

  it('survives rows that are not even text, and names them, instead of stopping', async () => {
    const { publicKey } = generateKeyPairSync('ed25519');
    const key = { name: 'k', publicKey: publicKey.export({ format: 'der', type: 'spki' }).subarray(-32) };
    const verdict = await verifyAuditLog({
      entries: [
        [{ entry: null as unknown as string, signature: null as unknown as Buffer, keyId: keyId(key).toString('hex') }],
      ],
      checkpoints: [],
      key,
    });
    expect(verdict.first).toMatchObject({ kind: 'edited', seq: 0 });
  });
});

describe('audit bundles', () => {
  it('verify without the database, and a changed line is named', async () => {
    writeLog();
    const bundle = join(dataDir, 'bundle');
    const opened = openAudit(dataDir);
    writeBundle(opened.audit.log(), opened.audit.noteKey()!, bundle, opened.audit.checkpoint('export'));
    opened.close();
    rmSync(join(dataDir, DATABASE_FILE));
    const loaded = readBundle(bundle);
    expect(keyId(loaded.key)).toHaveLength(4);
    const progress: number[] = [];
    const verdict = await verifyAuditLog({ ...loaded, onProgress: (n) => progress.push(n) });
    expect(verdict).toMatchObject({ ok: true, entries: 25 });
    expect(progress.at(-1)).toBe(25);

    const lines = readFileSync(join(bundle, 'entries.jsonl'), 'utf8').split('\n');
    lines[9] = lines[9]!.replace(/token\.(list|select)/, 'key.destroy');
    writeFileSync(join(bundle, 'entries.jsonl'), lines.join('\n'));
    expect((await verifyAuditLog(readBundle(bundle))).first).toMatchObject({ kind: 'edited', seq: 9 });
  });
});

describe('audit bundles are only as good as every proof and the checkpoint that closes them', () => {
  /** A bundle of the 25-entry log plus its export checkpoint; the database is kept for later bundles. */
  function exportBundle(name: string, extra = 0): string {
    const opened = openAudit(dataDir);
    try {
      for (let i = 0; i < extra; i++) opened.audit.record({ actor: operator, action: 'token.list' });
      const dir = join(dataDir, name);
      writeBundle(opened.audit.log(), opened.audit.noteKey()!, dir, opened.audit.checkpoint('export'));
      return dir;
    } finally {
      opened.close();
    }
  }
  const lines = (dir: string) => readFileSync(join(dir, 'entries.jsonl'), 'utf8').trimEnd().split('\n');
  const writeLines = (dir: string, next: string[]) => writeFileSync(join(dir, 'entries.jsonl'), `${next.join('\n')}\n`);

  it('names an entry whose inclusion proof was changed, though the entry itself is intact', async () => {
    writeLog();
    const bundle = exportBundle('bundle');
    expect((await verifyAuditLog(readBundle(bundle))).ok).toBe(true);
    const all = lines(bundle);
    const line = JSON.parse(all[5]!) as { inclusion: { proof: string[] } };
    line.inclusion.proof[1] = randomBytes(32).toString('base64');
    all[5] = JSON.stringify(line);
    writeLines(bundle, all);
    const verdict = await verifyAuditLog(readBundle(bundle));
    expect(verdict.ok).toBe(false);
    expect(verdict.first).toMatchObject({ kind: 'bad-proof', seq: 5 });
    expect(verdict.problems.filter((p) => p.kind === 'bad-proof')).toHaveLength(1);
  });

  it('fails a bundle whose entries stop short of its closing checkpoint, also when that checkpoint is dropped too', async () => {
    writeLog();
    const bundle = exportBundle('bundle');
    writeLines(bundle, lines(bundle).slice(0, -3));
    const verdict = await verifyAuditLog(readBundle(bundle));
    expect(verdict.ok).toBe(false);
    expect(verdict.problems).toContainEqual(expect.objectContaining({ kind: 'truncated' }));
    // Without its later checkpoints the bundle closes at entry 11: the 11 entries after it are vouched for by nothing.
    const checkpoints = JSON.parse(readFileSync(join(bundle, 'checkpoints.json'), 'utf8')) as { treeSize: number }[];
    writeFileSync(join(bundle, 'checkpoints.json'), JSON.stringify(checkpoints.filter((c) => c.treeSize <= 11)));
    const shortened = await verifyAuditLog(readBundle(bundle));
    expect(shortened.ok).toBe(false);
    expect(shortened.problems).toContainEqual({
      kind: 'no-checkpoint',
      seq: 11,
      message: expect.stringMatching(/Entries 11 to 21 are not covered/),
    });
  });

  it('fails a bundle that carries no checkpoint at all', async () => {
    writeLog();
    const bundle = exportBundle('bundle');
    writeFileSync(join(bundle, 'checkpoints.json'), '[]\n');
    const verdict = await verifyAuditLog(readBundle(bundle));
    expect(verdict.ok).toBe(false);
    expect(verdict.first).toMatchObject({ kind: 'no-checkpoint', message: expect.stringMatching(/nothing vouches/) });
  });

  it('fails a bundle with entries past its closing checkpoint (lines taken from a later export)', async () => {
    writeLog();
    const early = exportBundle('early');
    const later = exportBundle('later', 4);
    writeLines(early, lines(later));
    const verdict = await verifyAuditLog(readBundle(early));
    expect(verdict.ok).toBe(false);
    expect(verdict.problems).toContainEqual(
      expect.objectContaining({
        kind: 'no-checkpoint',
        message: expect.stringMatching(/not covered by the bundle’s closing checkpoint/),
      }),
    );
  });
});
