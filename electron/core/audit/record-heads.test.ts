import pkcs11js from 'pkcs11js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { findObjects } from '../hsm/find-objects';
import { migrations } from '../store/migrations';
import { asDatabaseWriter, openAudit } from '../testing/audit-fixture';
import { tempDataDir } from '../testing/softhsm-fixture';
import { headsDocument, nextHeads, parseHeads } from './record-heads';

/**
 * The record heads signed with each checkpoint say which state of every signed record is the latest (see
 * keys/tampered-records.test.ts for what they stop). These are the heads themselves, against a database writer.
 */
let dataDir: string;
let cleanup: () => void;
beforeEach(() => ({ dataDir, cleanup } = tempDataDir()));
afterEach(() => cleanup());
const operator = { type: 'operator', id: 'test' } as const;

function logWithCheckpoints(): void {
  const opened = openAudit(dataDir);
  for (let i = 0; i < 5; i++) opened.audit.record({ actor: operator, action: 'token.list' });
  opened.audit.checkpoint('a ceremony ended');
  opened.audit.record({ actor: operator, action: 'token.list' });
  opened.close();
}
function statusAfter(edit: Parameters<typeof asDatabaseWriter>[1]) {
  asDatabaseWriter(dataDir, edit);
  const again = openAudit(dataDir);
  try {
    return again.audit.status();
  } finally {
    again.close();
  }
}
const closed = (how: 'removed' | 'changed') => ({
  state: 'unavailable',
  code: 'AUDIT_VERIFY_FAILED',
  message: expect.stringContaining(`kept with its latest checkpoint (7 entries) were ${how}`),
});

describe('the heads signed with the latest checkpoint', () => {
  it('are signed with every checkpoint, the latest two kept, and the log opens on them', () => {
    logWithCheckpoints();
    const again = openAudit(dataDir);
    try {
      expect(again.audit.status()).toMatchObject({ state: 'ready', size: 7 });
      const sizes = again.store.all<{ tree_size: number }>({ text: 'SELECT tree_size FROM record_heads', params: [] });
      expect(sizes.map((r) => r.tree_size)).toEqual([6, 7]);
    } finally {
      again.close();
    }
  });

  it('removed: the log stays closed (AUDIT_VERIFY_FAILED), nothing decided from it', () => {
    logWithCheckpoints();
    expect(statusAfter((db) => db.exec('DELETE FROM record_heads'))).toMatchObject(closed('removed'));
  });

  it('edited, or an older checkpoint’s heads moved up to the latest: the log stays closed', () => {
    logWithCheckpoints();
    const edited = (db: Parameters<Parameters<typeof asDatabaseWriter>[1]>[0]) =>
      db
        .prepare(`UPDATE record_heads SET document = replace(document, '"size":7', '"size":7 ') WHERE tree_size = 7`)
        .run();
    expect(statusAfter(edited)).toMatchObject(closed('changed'));
    cleanup();
    ({ dataDir, cleanup } = tempDataDir());
    logWithCheckpoints();
    const older = (db: Parameters<Parameters<typeof asDatabaseWriter>[1]>[0]) => {
      db.exec('DELETE FROM record_heads WHERE tree_size = 7');
      db.exec('UPDATE record_heads SET tree_size = 7 WHERE tree_size = 6');
    };
    expect(statusAfter(older)).toMatchObject(closed('changed'));
  });

  it('begin once in a log from before them, recorded, and the log opens on them after', () => {
    const old = openAudit(dataDir, undefined, { migrations: migrations.filter((m) => m.version < 23) });
    old.audit.record({ actor: operator, action: 'token.list' });
    old.close();
    for (let start = 0; start < 2; start++) {
      const opened = openAudit(dataDir);
      try {
        expect(opened.audit.status()).toMatchObject({ state: 'ready' });
      } finally {
        opened.close();
      }
    }
    const opened = openAudit(dataDir);
    try {
      const actions = [...opened.audit.log().entries()].map((e) => (JSON.parse(e.entry) as { action: string }).action);
      expect(actions.filter((a) => a === 'audit.heads.create')).toHaveLength(1);
    } finally {
      opened.close();
    }
  });
});

it('kept, but the token not yet marked (a stop in between): used as they are, not begun again from the rows', () => {
  logWithCheckpoints();
  const opened = openAudit(dataDir);
  opened.audit.log();
  type Session = (what: string, use: (session: Buffer, lib: pkcs11js.PKCS11) => void) => void;
  (opened.audit as unknown as { key: { inSession: Session } }).key.inSession('test', (session, lib) => {
    for (const handle of findObjects(lib, session, [{ type: pkcs11js.CKA_APPLICATION, value: 'custos-record-heads' }]))
      lib.C_DestroyObject(session, handle);
  });
  opened.crash();
  const again = openAudit(dataDir);
  try {
    const actions = [...again.audit.log().entries()].map((e) => (JSON.parse(e.entry) as { action: string }).action);
    expect(actions).not.toContain('audit.heads.create');
  } finally {
    again.close();
  }
  const marked = openAudit(dataDir);
  try {
    expect(marked.audit.status()).toMatchObject({ state: 'ready' });
    // Marked at the previous start: removed heads are now a finding, not a log from before them.
    marked.crash();
    expect(statusAfter((db) => db.exec('DELETE FROM record_heads'))).toMatchObject({ code: 'AUDIT_VERIFY_FAILED' });
  } finally {
    marked.host.closeAll();
  }
});

describe('the next heads', () => {
  const rows = new Map<string, number | null>();
  const store = {
    iterate: (statement: { text: string }) => {
      const table = /FROM (\w+)$/.exec(statement.text)![1]!;
      return [...rows]
        .filter(([name]) => name.startsWith(`${table}/`))
        .map(([name, seq]) => ({ id: name.slice(table.length + 1), seq }));
    },
  } as unknown as Parameters<typeof nextHeads>[0];

  it('never sign a row put back, deleted or added under the previous heads; take what changed since', () => {
    const previous = {
      size: 10,
      seqs: new Map<string, number | null>([
        ['keys/a', 7],
        ['keys/b', 8],
        ['keys/c', 9],
      ]),
    };
    rows.clear();
    rows.set('keys/a', 3); // put back: an older signed state
    rows.set('keys/c', 12); // changed after the previous heads (a process that stopped before its checkpoint)
    rows.set('keys/d', 5); // appeared, claiming a state from before the previous heads
    rows.set('keys/e', 11); // made after them
    const next = nextHeads(store, previous, 15, new Map([['keys/e', 13]]));
    expect([...next.seqs].sort()).toEqual([
      ['keys/a', 7],
      ['keys/b', 8],
      ['keys/c', 12],
      ['keys/e', 13],
    ]);
    expect(parseHeads(headsDocument('o', next), 'o', 15)).toEqual(next);
    expect(parseHeads(headsDocument('o', next), 'o', 16)).toBeNull();
    expect(parseHeads(headsDocument('p', next), 'o', 15)).toBeNull();
  });
});
