import { generateKeyPairSync, sign } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Store } from '../store/database';
import { sql } from '../store/sql';
import { openAudit } from '../testing/audit-fixture';
import { tempDataDir } from '../testing/softhsm-fixture';
import type { AuditLog } from './audit-log';
import { TailVerifier } from './tail-verifier';

/** Takes verdicts until none is still to come (the worker verifies a few hundred in milliseconds). */
async function settle(checker: TailVerifier): Promise<void> {
  for (let tries = 0; tries < 500; tries++) {
    checker.collect();
    if (checker.pending === 0) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`${checker.pending} verdicts never came`);
}

describe('TailVerifier', () => {
  it('says which signatures the key made, on a worker, and knows nothing of a malformed one', async () => {
    const { publicKey, privateKey } = generateKeyPairSync('ed25519');
    const raw = publicKey.export({ format: 'der', type: 'spki' }).subarray(-32);
    const checker = new TailVerifier(raw);
    try {
      const messages = Array.from({ length: 40 }, (_, i) => Buffer.from(`{"seq":${i}}`));
      const signatures = messages.map((m) => sign(null, m, privateKey));
      const verdicts = messages.map((m, i) =>
        // Every fifth is signed over other bytes: a real signature by the key, not of this message.
        checker.submit(m, i % 5 === 4 ? signatures[i - 1]! : signatures[i]!),
      );
      const short = checker.submit(messages[0]!, signatures[0]!.subarray(0, 63));
      await settle(checker);
      expect(verdicts.map((v) => v.valid)).toEqual(messages.map((_, i) => i % 5 !== 4));
      expect(short.valid).toBeNull();
    } finally {
      checker.close();
    }
  });
});

describe('a checkpoint over entries whose signatures the worker already checked', () => {
  let dataDir: string;
  let cleanup: () => void;
  let opened: ReturnType<typeof openAudit>;
  beforeEach(() => {
    ({ dataDir, cleanup } = tempDataDir());
    opened = openAudit(dataDir);
  });
  afterEach(() => {
    opened.close();
    cleanup();
  });
  const operator = { type: 'operator', id: 'test' } as const;

  /** 200 entries since the last checkpoint, every verdict in; then `tamper` runs inside a transaction. */
  async function tailThen(tamper: (store: Store, seq: number) => void): Promise<{ log: AuditLog; seq: number }> {
    const log = opened.audit.log();
    log.checkpoint('before');
    for (let i = 0; i < 200; i++) opened.audit.record({ actor: operator, action: 'token.list' });
    const checker = (log as unknown as { checker: TailVerifier | null }).checker;
    expect(checker).not.toBeNull();
    await settle(checker!);
    const seq = log.size() - 20;
    opened.store.transaction((db) => {
      db.exec('DROP TRIGGER audit_entries_no_update');
      tamper(opened.store, seq);
    });
    return { log, seq };
  }

  it('signs when nothing changed', async () => {
    const { log } = await tailThen(() => undefined);
    expect(log.checkpoint('after').treeSize).toBe(log.size());
  });

  it.each([
    [
      'a signature replaced by the audit key’s signature of another entry',
      (store: Store, seq: number) =>
        store.execute(
          sql`UPDATE audit_entries SET signature = (SELECT signature FROM audit_entries WHERE seq = ${seq - 1}) WHERE seq = ${seq}`,
        ),
    ],
    [
      'an entry edited',
      (store: Store, seq: number) =>
        store.execute(
          sql`UPDATE audit_entries SET entry = replace(entry, 'token.list', 'token.info') WHERE seq = ${seq}`,
        ),
    ],
    [
      'two entries swapped with their signatures',
      (store: Store, seq: number) => {
        const [a, b] = [seq, seq + 1].map((s) =>
          store.get<{ entry: string; signature: Buffer }>(
            sql`SELECT entry, signature FROM audit_entries WHERE seq = ${s}`,
          )!,
        );
        store.execute(
          sql`UPDATE audit_entries SET entry = ${b!.entry}, signature = ${b!.signature} WHERE seq = ${seq}`,
        );
        store.execute(
          sql`UPDATE audit_entries SET entry = ${a!.entry}, signature = ${a!.signature} WHERE seq = ${seq + 1}`,
        );
      },
    ],
  ])('refuses to sign over %s, naming it', async (_, tamper) => {
    const { log, seq } = await tailThen(tamper);
    const before = log.checkpoints().length;
    expect(() => log.checkpoint('after')).toThrow(
      expect.objectContaining({
        code: 'AUDIT_VERIFY_FAILED',
        message: expect.stringContaining(`entry ${seq} is missing, edited or not signed`),
      }),
    );
    expect(log.checkpoints()).toHaveLength(before);
  });

  it('refuses an edited entry, and signs an untouched tail, while verdicts are still to come', () => {
    const log = opened.audit.log();
    log.checkpoint('before');
    for (let i = 0; i < 300; i++) opened.audit.record({ actor: operator, action: 'token.list' });
    const seq = log.size() - 2;
    opened.store.transaction((db) => {
      db.exec('DROP TRIGGER audit_entries_no_update');
      opened.store.execute(
        sql`UPDATE audit_entries SET entry = replace(entry, 'token.list', 'token.info') WHERE seq = ${seq}`,
      );
    });
    expect(() => log.checkpoint('after')).toThrow(
      expect.objectContaining({ message: expect.stringContaining(`entry ${seq} is missing, edited or not signed`) }),
    );
    opened.store.execute(
      sql`UPDATE audit_entries SET entry = replace(entry, 'token.info', 'token.list') WHERE seq = ${seq}`,
    );
    for (let i = 0; i < 300; i++) opened.audit.record({ actor: operator, action: 'token.list' });
    expect(log.checkpoint('after').treeSize).toBe(log.size());
  });

  /** An odd seq: its append completed node (1, (seq - 1) / 2) and stored it, lowest first, in its row. */
  const odd = (seq: number) => seq | 1;

  it.each([
    [
      'changed',
      (store: Store, seq: number) =>
        store.execute(sql`UPDATE audit_tree SET hashes = zeroblob(length(hashes)) WHERE seq = ${seq}`),
    ],
    ['deleted', (store: Store, seq: number) => store.execute(sql`DELETE FROM audit_tree WHERE seq = ${seq}`)],
  ])('refuses to sign over a tree row %s since the last checkpoint, naming its node', async (_, tamper) => {
    const { log, seq } = await tailThen((store, seq) => {
      store.execute(sql`DROP TRIGGER audit_tree_no_update`);
      store.execute(sql`DROP TRIGGER audit_tree_no_delete`);
      tamper(store, odd(seq));
    });
    const before = log.checkpoints().length;
    expect(() => log.checkpoint('after')).toThrow(
      expect.objectContaining({
        code: 'AUDIT_TREE_CORRUPT',
        message: expect.stringContaining(`level 1, node ${(odd(seq) - 1) / 2} `),
      }),
    );
    expect(log.checkpoints()).toHaveLength(before);
  });
});
