import Database from 'better-sqlite3';
import { randomBytes } from 'node:crypto';
import { dirname } from 'node:path';
import pkcs11js from 'pkcs11js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { keyChecks, keyOperations } from './key-operations';
import { quorumDrill } from '../quorum/drill';
import { ACTION_PARAMS } from '../../../shared/actions';
import type { QuorumService } from '../quorum/quorum-service';
import type { ProposalView } from '../../../shared/quorum';
import { quorumFixture } from '../testing/quorum-fixture';
import { tempDataDir } from '../testing/softhsm-fixture';
import { hideFromIndexes, quickCheck } from '../testing/stale-index';
import { openAudit } from '../testing/audit-fixture';
import { KeyInventory } from './key-inventory';
import { CustosCore } from '../custos-core';
import { silentLog } from '../log';

/**
 * What an independent review did with the sqlite3 CLI on the database file: each edit of a key,
 * a destruction schedule or a custody record is refused with a stable code and recorded, before
 * anything reaches the token.
 */
let cleanup: () => void;
let f: Awaited<ReturnType<typeof quorumFixture>>;
let inventory: KeyInventory;
let quorum: QuorumService;
let custodyA: string;
let custodyB: string;

beforeEach(async () => {
  let dataDir: string;
  ({ dataDir, cleanup } = tempDataDir());
  f = await quorumFixture(dataDir, [
    { name: 'Ada' },
    { name: 'Babbage' },
    { name: 'Curie' },
    { name: 'Dora' },
    { name: 'Olga', roles: ['security-officer'] },
  ]);
  const now = () => f.clock.now;
  inventory = new KeyInventory(f.opened.store, f.opened.audit, now);
  quorum = f.quorum(
    { 'token.quorum-drill': quorumDrill, ...keyOperations(f.opened.store, now, inventory) },
    {},
    ACTION_PARAMS,
    keyChecks(f.opened.store, now, inventory),
  );
  custodyA = (
    await f.custody.take({
      token: { serial: '', label: '' },
      threshold: 2,
      holders: f.holders(0, 1, 2),
      label: 'token-a',
    })
  ).id;
  custodyB = (
    await f.custody.take({
      token: { serial: '', label: '' },
      threshold: 2,
      holders: f.holders(0, 1, 2),
      label: 'token-b',
    })
  ).id;
});
let closed = false;
afterEach(() => {
  quorum.forgetAll();
  if (!closed) f.close();
  closed = false;
  cleanup();
});

/**
 * A raw write to the database file, past every check of the core (the store holds the file's
 * exclusive lock, so the write goes through its connection, as the sqlite3 CLI would with Custos closed).
 */
function edit(statement: string, ...values: (string | number)[]): void {
  f.opened.store.execute({ text: statement, params: values });
}
const propose = (custodyId: string, action: string, params: Record<string, unknown>) =>
  quorum.propose({ custodyId, action, params, requestedBy: f.enrolled[0]!.id });
const approved = (custodyId: string, action: string, params: Record<string, unknown>): Promise<ProposalView> =>
  f.approveAll(quorum, propose(custodyId, action, params), action === 'key.destroy' ? [1, 2, 3] : [1, 2]);
const recorded = async (code: string) => {
  await new Promise((resolve) => setImmediate(resolve));
  return [...f.opened.audit.log().entries()]
    .map((e) => JSON.parse(e.entry) as { action: string; result: { status: string; code?: string } })
    .filter((e) => e.result.code === code)
    .map((e) => `${e.action} ${e.result.status}`);
};
async function keyIn(custodyId: string, label = 'signing'): Promise<string> {
  const params = {
    algorithm: 'EC-P256',
    label,
    usage: 'sign',
    backupable: false,
    cryptoperiodDays: 365,
    ckaId: randomBytes(16).toString('hex'),
  };
  expect((await approved(custodyId, 'key.generate', params)).state).toBe('executed');
  return params.ckaId;
}
const compromise = (keyId: string) =>
  inventory.transition(
    keyId,
    'compromise',
    'security-officer',
    { type: 'custodian', id: f.enrolled[4]!.id, role: 'security-officer' },
    'key file found on a shared drive',
  );
/** The database file edited as the sqlite3 CLI would, with Custos closed: its triggers dropped, then put back. */
function withoutTriggers<T>(file: string, edit: (db: Database.Database) => T): T {
  const db = new Database(file);
  try {
    const triggers = db.prepare("SELECT name, sql FROM sqlite_schema WHERE type = 'trigger'").all() as {
      name: string;
      sql: string;
    }[];
    for (const { name } of triggers) db.exec(`DROP TRIGGER "${name}"`);
    const result = edit(db);
    for (const { sql } of triggers) db.exec(sql);
    return result;
  } finally {
    db.close();
  }
}
type KeyRowValues = Record<string, string | number | Buffer | null>;
/** An active key, its row as it stood while active, and then its compromise. */
async function compromisedAfterActive(): Promise<{ keyId: string; active: KeyRowValues }> {
  const keyId = await keyIn(custodyB);
  expect((await approved(custodyB, 'key.activate', { keyId })).state).toBe('executed');
  const active = f.opened.store.get<KeyRowValues>({ text: 'SELECT * FROM keys WHERE id = ?', params: [keyId] })!;
  compromise(keyId);
  return { keyId, active };
}
/** The key's row put back as it was, signature and all (in a raw connection to the file). */
function putBack(db: Database.Database, keyId: string, row: KeyRowValues): void {
  const columns = Object.keys(row);
  db.prepare(`UPDATE keys SET ${columns.map((c) => `${c} = ?`).join(', ')} WHERE id = ?`).run(
    ...columns.map((c) => row[c]),
    keyId,
  );
}
const days = (n: number) => (f.clock.now = new Date(f.clock.now.getTime() + n * 86_400_000));

describe('a database writer cannot change what a key may do', () => {
  it('a compromised key set back to active does not sign: KEY_TAMPERED, recorded', async () => {
    const keyId = await keyIn(custodyB);
    expect((await approved(custodyB, 'key.activate', { keyId })).state).toBe('executed');
    compromise(keyId);
    edit(`UPDATE keys SET state = 'active' WHERE id = ?`, keyId);
    expect(() => propose(custodyB, 'key.test-signature', { keyId, challenge: 'still yours?' })).toThrow(
      expect.objectContaining({ code: 'KEY_TAMPERED' }),
    );
    expect(() => inventory.get(keyId)).toThrow(expect.objectContaining({ code: 'KEY_TAMPERED' }));
    expect(await recorded('KEY_TAMPERED')).toContain('key.tampered refused');
  });

  it('a key record tampered on another token stops no key on this one; on this token it stops the next', async () => {
    const elsewhere = await keyIn(custodyB, 'elsewhere');
    edit(`UPDATE keys SET state = 'active' WHERE id = ?`, elsewhere);
    // Before: the label check read every token's keys, so this generation was refused (KEY_TAMPERED) as well.
    const mine = await keyIn(custodyA, 'mine');
    expect(inventory.get(mine)).toMatchObject({ label: 'mine', state: 'pre-activation' });
    expect(() => inventory.get(elsewhere)).toThrow(expect.objectContaining({ code: 'KEY_TAMPERED' }));

    edit(`UPDATE keys SET state = 'active' WHERE id = ?`, mine);
    const params = { algorithm: 'EC-P256', label: 'next', usage: 'sign', backupable: false, cryptoperiodDays: 365 };
    expect(() => propose(custodyA, 'key.generate', { ...params, ckaId: randomBytes(16).toString('hex') })).toThrow(
      expect.objectContaining({ code: 'KEY_TAMPERED', message: expect.stringContaining(mine) }),
    );
    expect(await recorded('KEY_TAMPERED')).toContain('key.tampered refused');
  });

  it('a key moved to another token’s record cannot be destroyed by that token’s quorum', async () => {
    const keyId = await keyIn(custodyB);
    const a = f.custody.record(custodyA).token;
    edit(
      `UPDATE keys SET token_serial = ?, token_label = ?, custody_id = ? WHERE id = ?`,
      a.serial,
      a.label,
      custodyA,
      keyId,
    );
    expect(() => propose(custodyA, 'key.schedule-destruction', { keyId, waitDays: 7 })).toThrow(
      expect.objectContaining({ code: 'KEY_TAMPERED' }),
    );
    expect(await recorded('KEY_TAMPERED')).toContain('key.tampered refused');
    expect(
      f.opened.store.get<{ n: number }>({ text: 'SELECT count(*) AS n FROM destruction_schedules', params: [] })!.n,
    ).toBe(0);
  });

  it('a key stripped of its signature is refused, and never signed again at the next start', async () => {
    const keyId = await keyIn(custodyB);
    edit(`UPDATE keys SET state = 'active', state_sig = NULL WHERE id = ?`, keyId);
    expect(inventory.sealUnsigned()).toBe(0);
    expect(() => inventory.get(keyId)).toThrow(expect.objectContaining({ code: 'KEY_TAMPERED' }));
  });

  it('a key stripped of its signature, the entries that forbid sealing deleted from the log, is never signed', async () => {
    const keyId = await keyIn(custodyB);
    // Enough after them that deleting them is not cutting the tail (that is AUDIT_ROLLBACK).
    for (let i = 0; i < 3; i++) f.opened.audit.record({ actor: { type: 'operator', id: 'test' }, action: 'key.list' });
    f.close();
    closed = true;
    const file = f.opened.store.path;
    const deleted = withoutTriggers(file, (db) => {
      db.prepare(`UPDATE keys SET state = 'active', state_sig = NULL WHERE id = ?`).run(keyId);
      // What tells a start that every key was signed once already: an installation set up, or an earlier sealing.
      return db
        .prepare(`DELETE FROM audit_entries WHERE action IN ('installation.setup', 'key.state.seal') RETURNING seq`)
        .pluck()
        .all() as number[];
    });
    expect(deleted.length).toBeGreaterThan(0);
    const reopened = openAudit(dirname(file));
    try {
      // Before: the log opened, nothing forbade sealing, and the start signed the row as the writer left it.
      const keys = new KeyInventory(reopened.store, reopened.audit, () => f.clock.now);
      expect(() => keys.sealUnsigned()).toThrow(expect.objectContaining({ code: 'AUDIT_VERIFY_FAILED' }));
      expect(
        reopened.store.get<{ sig: Buffer | null }>({
          text: 'SELECT state_sig AS sig FROM keys WHERE id = ?',
          params: [keyId],
        })!.sig,
      ).toBeNull();
    } finally {
      reopened.close();
    }
  });

  it('a shortened waiting period does not let the key be destroyed early: DESTRUCTION_TAMPERED, recorded', async () => {
    const keyId = await keyIn(custodyB);
    expect((await approved(custodyB, 'key.schedule-destruction', { keyId, waitDays: 30 })).state).toBe('executed');
    days(1);
    edit(
      `UPDATE destruction_schedules SET not_before = ? WHERE key_id = ?`,
      new Date(f.clock.now.getTime() - 60_000).toISOString(),
      keyId,
    );
    expect(() => propose(custodyB, 'key.destroy', { keyId })).toThrow(
      expect.objectContaining({ code: 'DESTRUCTION_TAMPERED' }),
    );
    expect(await recorded('DESTRUCTION_TAMPERED')).toContain('destruction.tampered refused');
    expect(
      f.module.withSession(f.custody.record(custodyB).token, {}, (session, lib) => {
        lib.C_FindObjectsInit(session, [{ type: pkcs11js.CKA_ID, value: Buffer.from(keyId, 'hex') }]);
        const found = lib.C_FindObjects(session, 10);
        lib.C_FindObjectsFinal(session);
        return found.length;
      }),
    ).toBeGreaterThan(0);
  });
});

describe('a database writer cannot undo a signed decision', () => {
  it('a compromised key put back as active, its later entries hidden from the indexes, is refused at the next start', async () => {
    const { keyId, active } = await compromisedAfterActive();
    const later = f.opened.store
      .all<{ seq: number }>({
        text: 'SELECT seq FROM audit_entries WHERE object = ? AND seq > ?',
        params: [`key:${keyId}`, active.state_seq!],
      })
      .map((r) => r.seq);
    expect(later.length).toBeGreaterThan(0);
    f.close();
    closed = true;
    // With Custos closed: the row as it was while active, signature and all, put back; the entries that recorded
    // the compromise filed elsewhere in every index of the log (the table and every count unchanged).
    const file = f.opened.store.path;
    withoutTriggers(file, (db) => putBack(db, keyId, active));
    hideFromIndexes(file, 'audit_entries', { key: 'seq', values: later }, [
      { name: 'audit_entries_time', columns: ['time'] },
      { name: 'audit_entries_actor', columns: ['actor', 'seq'] },
      { name: 'audit_entries_action', columns: ['action', 'seq'] },
      { name: 'audit_entries_object', columns: ['object', 'seq'] },
      { name: 'audit_entries_result', columns: ['result', 'seq'] },
    ]);
    expect(quickCheck(file)).toBe('ok');
    // Before: opened, and the key read as active, its signed row the latest the indexes could find.
    expect(() => openAudit(dirname(file))).toThrow(
      expect.objectContaining({ code: 'STORE_CORRUPT', message: expect.stringContaining('missing from index') }),
    );
  });

  it('a compromised key put back as active, its later entries deleted from the log, is refused at the next start', async () => {
    const { keyId, active } = await compromisedAfterActive();
    // The log goes on, so the entries that recorded the compromise are not its tail (cutting a tail is AUDIT_ROLLBACK).
    for (let i = 0; i < 3; i++) f.opened.audit.record({ actor: { type: 'operator', id: 'test' }, action: 'key.list' });
    f.close();
    closed = true;
    // With Custos closed: the row as it was while active, signature and all, put back, and the entries that recorded
    // the compromise deleted. The latest checkpoint still matches: its root comes from stored tree nodes above them.
    const file = f.opened.store.path;
    const deleted = withoutTriggers(file, (db) => {
      putBack(db, keyId, active);
      return db
        .prepare('DELETE FROM audit_entries WHERE object = ? AND seq > ? RETURNING seq')
        .pluck()
        .all(`key:${keyId}`, active.state_seq!) as number[];
    });
    expect(deleted.length).toBeGreaterThan(0);
    // Before: opened, and the key read as active, its signed row the latest entry the log still held for it.
    const reopened = openAudit(dirname(file));
    try {
      expect(reopened.audit.status()).toMatchObject({
        state: 'unavailable',
        code: 'AUDIT_VERIFY_FAILED',
        message: expect.stringContaining(`entry ${Math.min(...deleted)} is missing`),
      });
      expect(() => reopened.audit.record({ actor: { type: 'operator', id: 'test' }, action: 'key.list' })).toThrow(
        expect.objectContaining({ code: 'AUDIT_VERIFY_FAILED' }),
      );
    } finally {
      reopened.close();
    }
  });

  it('a cancelled destruction put back as it waited, signature and all, is refused: DESTRUCTION_TAMPERED', async () => {
    const keyId = await keyIn(custodyB);
    expect((await approved(custodyB, 'key.schedule-destruction', { keyId, waitDays: 7 })).state).toBe('executed');
    const waiting = f.opened.store.get<Record<string, string | number | Buffer | null>>({
      text: 'SELECT * FROM destruction_schedules WHERE key_id = ?',
      params: [keyId],
    })!;
    expect((await approved(custodyB, 'key.cancel-destruction', { keyId })).state).toBe('executed');
    days(8);
    // An earlier copy of the file holds the row as it waited, signed; the writer puts it back.
    f.opened.store.execute({
      text: `UPDATE destruction_schedules SET state = 'waiting', closed_at = NULL, closed_by_proposal = NULL, proof = NULL,
             state_seq = ?, state_sig = ? WHERE id = ?`,
      params: [waiting.state_seq!, waiting.state_sig!, waiting.id!],
    });
    // Before: believed, so the cancelled destruction could be proposed at once, its waiting period long over.
    expect(() => propose(custodyB, 'key.destroy', { keyId })).toThrow(
      expect.objectContaining({ code: 'DESTRUCTION_TAMPERED', message: expect.stringContaining('older state') }),
    );
  });
});

describe('a database writer cannot lower a custody’s threshold', () => {
  const countLow = (custodyId: string) =>
    f.module.run(
      'read',
      (lib) =>
        lib.C_GetTokenInfo(f.module.findSlot(f.custody.record(custodyId).token)).flags &
        pkcs11js.CKF_USER_PIN_COUNT_LOW,
    );
  const keys = (...who: number[]) =>
    Promise.all(
      f.holders(...who).map(async (h) => ({
        custodianId: h.custodianId,
        key: await f.custodians.verifyFactors(h.custodianId, h.passphrase, h.code, 'test'),
      })),
    );

  it('2 holders of a 3-of-4 custody edited to 2-of-4 are refused before the token is tried: CUSTODY_TAMPERED, recorded', async () => {
    const custody = await f.custody.take({
      token: { serial: '', label: '' },
      threshold: 3,
      holders: f.holders(0, 1, 2, 3),
      label: 'three-of-four',
    });
    edit(`UPDATE custody SET threshold = 2 WHERE id = ?`, custody.id);
    expect(() => propose(custody.id, 'token.quorum-drill', {})).toThrow(
      expect.objectContaining({ code: 'CUSTODY_TAMPERED' }),
    );
    await expect(f.custody.rebuildPin(custody.id, 'user', await keys(0, 1))).rejects.toMatchObject({
      code: 'CUSTODY_TAMPERED',
    });
    expect(await recorded('CUSTODY_TAMPERED')).toContain('custody.tampered refused');
    edit(`UPDATE custody SET threshold = 3 WHERE id = ?`, custody.id);
    expect(countLow(custody.id)).toBe(0); // no PIN try was spent
  });

  it('refuses when fewer shares are held than the signed threshold, before the token is tried', async () => {
    const custody = await f.custody.take({
      token: { serial: '', label: '' },
      threshold: 3,
      holders: f.holders(0, 1, 2, 3),
      label: 'three-of-four',
    });
    const shares = f.opened.store.all<Record<string, string | Buffer>>({
      text: 'SELECT * FROM custody_shares WHERE custody_id = ? AND custodian_id = ?',
      params: [custody.id, f.enrolled[3]!.id],
    });
    edit(`DELETE FROM custody_shares WHERE custody_id = ? AND custodian_id = ?`, custody.id, f.enrolled[3]!.id);
    await expect(f.custody.rebuildPin(custody.id, 'user', await keys(0, 1, 2))).rejects.toMatchObject({
      code: 'CUSTODY_TAMPERED',
    });
    for (const row of shares)
      f.opened.store.execute({
        text: 'INSERT INTO custody_shares (custody_id, custodian_id, pin, sealed_share, commitment) VALUES (?, ?, ?, ?, ?)',
        params: [row.custody_id!, row.custodian_id!, row.pin!, row.sealed_share!, row.commitment!],
      });
    expect(countLow(custody.id)).toBe(0);
  });
});

describe('a database writer cannot change who holds a share', () => {
  it('a share moved to another custodian’s name is refused (CUSTODY_TAMPERED): nobody is listed or counted as holder', async () => {
    const [ada, dora] = [f.enrolled[0]!.id, f.enrolled[3]!.id];
    expect(f.custody.list().find((c) => c.id === custodyA)!.holderIds).toContain(ada);
    edit(`UPDATE custody_shares SET custodian_id = ? WHERE custody_id = ? AND custodian_id = ?`, dora, custodyA, ada);
    // Before: listed (and named in the signed custody report) as holding Ada's share, and let approve as a holder.
    expect(() => f.custody.record(custodyA)).toThrow(expect.objectContaining({ code: 'CUSTODY_TAMPERED' }));
    expect(() => f.custody.list()).toThrow(expect.objectContaining({ code: 'CUSTODY_TAMPERED' }));
    expect(() => propose(custodyA, 'token.quorum-drill', {})).toThrow(
      expect.objectContaining({ code: 'CUSTODY_TAMPERED' }),
    );
    expect(await recorded('CUSTODY_TAMPERED')).toContain('custody.tampered refused');
    // Put back, the record is whole again.
    edit(`UPDATE custody_shares SET custodian_id = ? WHERE custody_id = ? AND custodian_id = ?`, ada, custodyA, dora);
    expect(f.custody.record(custodyA).threshold).toBe(2);
  });
});

describe('a database writer cannot stand in for the quorum', () => {
  it('a journal row added for a proposal nobody approved is never carried out at a start: it stays open, recorded', async () => {
    const keyId = await keyIn(custodyA);
    const proposal = propose(custodyA, 'key.activate', { keyId });
    edit(`INSERT INTO executions (proposal_id, started_at) VALUES (?, ?)`, proposal.id, f.clock.now.toISOString());
    // Before: settled as an interrupted execution, with a signed proposal.reconcile entry nobody's approval led to.
    expect(quorum.reconcile()).toEqual([]);
    expect(quorum.view(proposal.id).state).toBe('open');
    expect(await recorded('PROPOSAL_TAMPERED')).toEqual(['proposal.tampered refused']);
  });

  it('a proposal moved to another proposer’s name cannot be approved by the one who made it', async () => {
    const keyId = await keyIn(custodyA);
    const proposal = propose(custodyA, 'key.activate', { keyId });
    edit(`UPDATE proposals SET requested_by = ? WHERE id = ?`, f.enrolled[3]!.id, proposal.id);
    expect(quorum.view(proposal.id).requestedBy).toBe(f.enrolled[0]!.id);
    // Before: Ada, who proposed it, counted as one of its approvers.
    await expect(f.approveAll(quorum, proposal, [0])).rejects.toMatchObject({ code: 'SELF_APPROVAL' });
  });

  it('approvals added to or deleted from the table are not counted nor named: the signed entries are', async () => {
    const keyId = await keyIn(custodyA);
    const proposal = propose(custodyA, 'key.activate', { keyId });
    const once = await f.approveAll(quorum, proposal, [1]);
    edit(
      `INSERT INTO approvals (proposal_id, custodian_id, approved_at) VALUES (?, ?, ?)`,
      proposal.id,
      f.enrolled[3]!.id,
      f.clock.now.toISOString(),
    );
    edit(`DELETE FROM approvals WHERE proposal_id = ? AND custodian_id = ?`, proposal.id, f.enrolled[1]!.id);
    // Before: Dora, who never approved, was named, and Babbage, who did, was not.
    expect(quorum.view(once.id).approvals.map((a) => a.custodianId)).toEqual([f.enrolled[1]!.id]);
  });
});

/** A compromised key, then (Custos closed) its row set active and unsigned, and the sealing guards' rows renamed. */
async function strippedCompromisedKey(): Promise<{ keyId: string; dataDir: string }> {
  const keyId = await keyIn(custodyB);
  expect((await approved(custodyB, 'key.activate', { keyId })).state).toBe('executed');
  compromise(keyId);
  f.close();
  closed = true;
  const file = f.opened.store.path;
  const renamed = withoutTriggers(file, (db) => {
    db.prepare(`UPDATE keys SET state = 'active', state_sig = NULL WHERE id = ?`).run(keyId);
    // Renamed in place, same length, under the latest checkpoint: open does not re-read those entries.
    return db
      .prepare(
        `UPDATE audit_entries SET entry = replace(replace(entry, '"action":"installation.setup"', '"action":"installation.setuq"'),
           '"action":"key.state.seal"', '"action":"key.state.seaq"')
         WHERE action IN ('installation.setup', 'key.state.seal')`,
      )
      .run().changes;
  });
  expect(renamed).toBeGreaterThan(0);
  return { keyId, dataDir: dirname(file) };
}

/**
 * Records from before records were signed are signed once, at the first start after the upgrade. A review found that
 * the only guard was the log's own rows: a database writer who set a compromised key active, stripped its signature
 * and renamed the `installation.setup` and `key.state.seal` entries in place (breaking their signatures, which only
 * `audit verify` reads under the latest checkpoint) had the next start sign the writer's row. The audit token's
 * installation marker now decides first.
 */
describe('a start never signs a record a database writer stripped of its signature', () => {
  it('the key sealing asks the audit token first: nothing is signed, the key stays refused (KEY_TAMPERED)', async () => {
    const { keyId, dataDir } = await strippedCompromisedKey();
    const reopened = openAudit(dataDir);
    try {
      expect(reopened.audit.status().state).not.toBe('unavailable');
      const keys = new KeyInventory(reopened.store, reopened.audit, () => f.clock.now);
      // Before: 1, and the key read as active under a signature the audit key had just made.
      expect(keys.sealUnsigned()).toBe(0);
      expect(() => keys.get(keyId)).toThrow(expect.objectContaining({ code: 'KEY_TAMPERED' }));
    } finally {
      reopened.close();
    }
  });

  it('through the full core’s start: the key list is refused, not the key listed as active', async () => {
    const { keyId, dataDir } = await strippedCompromisedKey();
    const core = CustosCore.open({ dataDir, version: 'test', production: true, log: silentLog });
    try {
      const listed = await core.router.dispatch('keys.list', {});
      expect(listed).toMatchObject({ ok: false, error: { code: 'KEY_TAMPERED' } });
      expect(JSON.stringify(listed)).toContain(keyId);
    } finally {
      core.close();
    }
  });
});

/**
 * Someone with the database file alone deletes the row of a key, a custodian or a custody record (with the sqlite3
 * CLI, whose foreign keys are off unless asked for; here the dependent rows go first, through the store's connection,
 * which holds the file's exclusive lock). The signed log still records each, so the list that would leave it out
 * unseen is refused with the record's stable code, and the refusal recorded.
 */
const deleted = (code: string, id: string) =>
  expect.objectContaining({ code, message: expect.stringContaining(`${id} was deleted outside Custos`) });

describe('a deleted key is named, not left out of the inventory', () => {
  it('no key is generated again under the id of one whose row was deleted: KEY_TAMPERED, before the token', async () => {
    const keyId = await keyIn(custodyB, 'first');
    edit(`DELETE FROM keys WHERE id = ?`, keyId);
    const params = { algorithm: 'EC-P256', label: 'second', usage: 'sign', backupable: false, cryptoperiodDays: 365 };
    // Before: the token's own check (its objects are still there) was all that stood in the way. Now it is refused
    // when proposed: a new key's label is checked against the token's keys, and a deleted row (which names no token)
    // refuses that list.
    expect(() => propose(custodyB, 'key.generate', { ...params, ckaId: keyId })).toThrow(
      expect.objectContaining({ code: 'KEY_TAMPERED' }),
    );
    expect(await recorded('KEY_TAMPERED')).toContain('key.tampered refused');
  });

  it('a compromised key’s row deleted: the key list and the key itself are refused (KEY_TAMPERED), recorded', async () => {
    const kept = await keyIn(custodyA, 'kept');
    const keyId = await keyIn(custodyB, 'leaked');
    compromise(keyId);
    edit(`DELETE FROM keys WHERE id = ?`, keyId);
    // Before: the list held only the other key, and the compromised one was simply unknown (KEY_NOT_FOUND).
    expect(() => inventory.list()).toThrow(deleted('KEY_TAMPERED', keyId));
    expect(() => inventory.get(keyId)).toThrow(deleted('KEY_TAMPERED', keyId));
    // Nor does any check read it as unknown (before: no public key, in no token, so a set could bring another in).
    expect(() => inventory.publicKey(keyId)).toThrow(deleted('KEY_TAMPERED', keyId));
    expect(() => inventory.livesIn(keyId, { serial: '', label: '' })).toThrow(deleted('KEY_TAMPERED', keyId));
    expect(inventory.known(kept)).toBe(true);
    expect(inventory.known('0'.repeat(32))).toBe(false);
    expect(inventory.get(kept).label).toBe('kept');
    expect(await recorded('KEY_TAMPERED')).toContain('key.tampered refused');
  });

  it('a key only generated (no entry of its own) and waiting for destruction: named from its generation', async () => {
    const keyId = await keyIn(custodyB);
    expect((await approved(custodyB, 'key.schedule-destruction', { keyId, waitDays: 30 })).state).toBe('executed');
    edit(`DELETE FROM destruction_schedules WHERE key_id = ?`, keyId);
    edit(`DELETE FROM keys WHERE id = ?`, keyId);
    // Before: an empty inventory, the pending destruction gone with it.
    expect(() => inventory.list()).toThrow(deleted('KEY_TAMPERED', keyId));
  });

  it('a key deleted with the proposal that generated it: the list is refused, naming the key (its signed head)', async () => {
    const keyId = await keyIn(custodyB);
    const { proposal_id: proposalId } = f.opened.store.get<{ proposal_id: string }>({
      text: 'SELECT proposal_id FROM keys WHERE id = ?',
      params: [keyId],
    })!;
    edit(`DELETE FROM keys WHERE id = ?`, keyId);
    for (const table of ['approvals', 'executions']) edit(`DELETE FROM ${table} WHERE proposal_id = ?`, proposalId);
    edit(`DELETE FROM proposals WHERE id = ?`, proposalId);
    // Before: an empty inventory. Then the proposal was named (PROPOSAL_TAMPERED): the key's only entry is its run's.
    // The record heads signed with the checkpoint that closed the run name the key itself.
    expect(() => inventory.list()).toThrow(deleted('KEY_TAMPERED', keyId));
  });

  it('names no key when nothing was deleted, after a rotation (its successor named by the rotation’s outcome)', async () => {
    const keyId = await keyIn(custodyB);
    expect((await approved(custodyB, 'key.activate', { keyId })).state).toBe('executed');
    expect((await approved(custodyB, 'key.rotate', { keyId, ckaId: randomBytes(16).toString('hex') })).state).toBe(
      'executed',
    );
    expect(inventory.list()).toHaveLength(2);
  });
});

describe('a deleted custodian or custody is named, not left out of its list', () => {
  it('a custodian’s row deleted: the custodian list and the custodian are refused (CUSTODIAN_TAMPERED), recorded', async () => {
    const dora = f.enrolled[3]!.id; // holds no share, proposed nothing: no other row names her
    edit(`DELETE FROM custodians WHERE id = ?`, dora);
    // Before: four custodians listed, Dora unknown.
    expect(() => f.custodians.list()).toThrow(deleted('CUSTODIAN_TAMPERED', dora));
    expect(() => f.custodians.get(dora)).toThrow(deleted('CUSTODIAN_TAMPERED', dora));
    expect(await recorded('CUSTODIAN_TAMPERED')).toContain('custodian.tampered refused');
  });

  it('a waiting destruction schedule deleted: the key is refused, not shown with no destruction pending', async () => {
    const keyId = await keyIn(custodyB);
    expect((await approved(custodyB, 'key.schedule-destruction', { keyId, waitDays: 30 })).state).toBe('executed');
    expect(inventory.get(keyId).destructionNotBefore).not.toBeNull();
    edit(`DELETE FROM destruction_schedules WHERE key_id = ?`, keyId);
    // Now: listed with destructionNotBefore null, and a new schedule (or none) may be proposed; the heads signed with
    // the execution's checkpoint name the schedule.
    expect(() => inventory.get(keyId)).toThrow(expect.objectContaining({ code: 'DESTRUCTION_TAMPERED' }));
  });

  it('a waiting destruction edited to cancelled: the key is refused, not made active (DESTRUCTION_TAMPERED)', async () => {
    const keyId = await keyIn(custodyB);
    expect((await approved(custodyB, 'key.schedule-destruction', { keyId, waitDays: 30 })).state).toBe('executed');
    edit(`UPDATE destruction_schedules SET state = 'cancelled' WHERE key_id = ?`, keyId);
    // Before: the edited row was never read (only a waiting one is), so the key read as waiting for nothing and the
    // shared rule let the quorum make it active.
    expect(() => inventory.get(keyId)).toThrow(expect.objectContaining({ code: 'DESTRUCTION_TAMPERED' }));
    expect(() => propose(custodyB, 'key.activate', { keyId })).toThrow(
      expect.objectContaining({ code: 'DESTRUCTION_TAMPERED' }),
    );
    expect(await recorded('DESTRUCTION_TAMPERED')).toContain('destruction.tampered refused');
  });

  it('a waiting destruction moved to another key: neither key is read as it stands (DESTRUCTION_TAMPERED)', async () => {
    const keyId = await keyIn(custodyB);
    const other = await keyIn(custodyB, 'other');
    expect((await approved(custodyB, 'key.schedule-destruction', { keyId, waitDays: 30 })).state).toBe('executed');
    edit(`UPDATE destruction_schedules SET key_id = ? WHERE key_id = ?`, other, keyId);
    // Before: the first key read as waiting for nothing, so it could be made active.
    expect(() => propose(custodyB, 'key.activate', { keyId })).toThrow(
      expect.objectContaining({ code: 'DESTRUCTION_TAMPERED' }),
    );
    expect(() => inventory.get(other)).toThrow(expect.objectContaining({ code: 'DESTRUCTION_TAMPERED' }));
  });

  it('a custody record deleted with its shares: the custody list and the record are refused (CUSTODY_TAMPERED)', async () => {
    edit(`DELETE FROM custody_shares WHERE custody_id = ?`, custodyA);
    edit(`DELETE FROM custody WHERE id = ?`, custodyA);
    // Before: only token-b listed, token-a's custody unknown (CUSTODY_NOT_FOUND).
    expect(() => f.custody.list()).toThrow(deleted('CUSTODY_TAMPERED', custodyA));
    expect(() => f.custody.record(custodyA)).toThrow(deleted('CUSTODY_TAMPERED', custodyA));
    expect(await recorded('CUSTODY_TAMPERED')).toContain('custody.tampered refused');
  });
});

/**
 * Open reads the entries a checkpoint covers only through its root, so a writer can edit them (their signatures
 * break; only `audit verify` reads them all) and move the entry that holds a record's latest state off that record:
 * here by renaming the object in its text (the object column is generated from it). The record heads signed with the
 * checkpoint still say which state is the latest, and that the record exists.
 */
function moveEntriesOff(db: Database.Database, object: string, after: number): number[] {
  const id = object.slice(object.indexOf(':') + 1);
  return db
    .prepare(
      `UPDATE audit_entries SET entry = replace(entry, ?, '"object":{"id":"elsewhere"')
       WHERE object = ? AND seq > ? RETURNING seq`,
    )
    .pluck()
    .all(`"object":{"id":${JSON.stringify(id)}`, object, after) as number[];
}
const restarted = async <T>(channel: 'keys.list' | 'custodians.list', check: (result: unknown) => T): Promise<T> => {
  const core = CustosCore.open({
    dataDir: dirname(f.opened.store.path),
    version: 'test',
    production: true,
    log: silentLog,
  });
  try {
    return check(await core.router.dispatch(channel, {}));
  } finally {
    core.close();
  }
};
const putBackAfter = /an older state was put back/;

describe('a database writer cannot edit away, under a checkpoint, the entry of a record’s latest state', () => {
  it('a compromised key put back as active, its compromise moved off it: the key list is refused at the next start', async () => {
    const { keyId, active } = await compromisedAfterActive();
    f.close(); // its closing checkpoint covers the compromise
    closed = true;
    const moved = withoutTriggers(f.opened.store.path, (db) => {
      putBack(db, keyId, active);
      return moveEntriesOff(db, `key:${keyId}`, active.state_seq as number);
    });
    expect(moved.length).toBeGreaterThan(0);
    // Before: listed as active after the restart, its signed row the latest entry the log still named it in.
    await restarted('keys.list', (listed) =>
      expect(listed).toMatchObject({
        ok: false,
        error: { code: 'KEY_TAMPERED', message: expect.stringMatching(putBackAfter) },
      }),
    );
  });

  it('a compromised key deleted, every entry naming it moved off: the key list is refused, naming it', async () => {
    const keyId = await keyIn(custodyB);
    compromise(keyId);
    const { proposal_id: proposalId } = f.opened.store.get<{ proposal_id: string }>({
      text: 'SELECT proposal_id FROM keys WHERE id = ?',
      params: [keyId],
    })!;
    f.close();
    closed = true;
    withoutTriggers(f.opened.store.path, (db) => {
      db.prepare('DELETE FROM keys WHERE id = ?').run(keyId);
      moveEntriesOff(db, `key:${keyId}`, -1);
      moveEntriesOff(db, `proposal:${proposalId}`, -1);
    });
    // Before: an empty key list, the compromised key unseen.
    await restarted('keys.list', (listed) =>
      expect(listed).toMatchObject({
        ok: false,
        error: { code: 'KEY_TAMPERED', message: expect.stringContaining(`${keyId} was deleted outside Custos`) },
      }),
    );
  });

  it('a custodian’s lockout undone, the failed attempts moved off them: refused at the next start', async () => {
    const dora = f.enrolled[3]!;
    const before = f.opened.store.get<KeyRowValues>({
      text: 'SELECT * FROM custodians WHERE id = ?',
      params: [dora.id],
    })!;
    for (let i = 0; i < 10; i++) {
      f.clock.now = new Date(f.clock.now.getTime() + 10 * 60_000);
      await expect(
        f.custodians.verifyFactors(dora.id, 'not the passphrase at all', '000000', 'test'),
      ).rejects.toThrow();
    }
    expect(f.custodians.get(dora.id)).toMatchObject({ locked: true });
    // The log goes on, so the edited entries are not its right edge (whose leaves open hashes from the entries).
    for (let i = 0; i < 4; i++) f.opened.audit.record({ actor: { type: 'operator', id: 'test' }, action: 'key.list' });
    f.close();
    closed = true;
    withoutTriggers(f.opened.store.path, (db) => {
      const columns = Object.keys(before);
      db.prepare(`UPDATE custodians SET ${columns.map((c) => `${c} = ?`).join(', ')} WHERE id = ?`).run(
        ...columns.map((c) => before[c]),
        dora.id,
      );
      moveEntriesOff(db, `custodian:${dora.id}`, before.state_seq as number);
    });
    // Before: listed as not locked, with no failed attempts.
    await restarted('custodians.list', (listed) =>
      expect(listed).toMatchObject({
        ok: false,
        error: { code: 'CUSTODIAN_TAMPERED', message: expect.stringMatching(putBackAfter) },
      }),
    );
  });
});

describe('the record heads follow every change Custos makes, and only those', () => {
  const listedState = (keyId: string) => (listed: unknown) => {
    expect(listed).toMatchObject({ ok: true });
    return (listed as { value: { id: string; state: string }[] }).value.find((k) => k.id === keyId)?.state;
  };

  it('a change no checkpoint covered before a crash counts after it, and after the next checkpoint', async () => {
    const { keyId } = await compromisedAfterActive();
    f.opened.crash(); // no closing checkpoint: the compromise is the log's tail
    closed = true;
    expect(await restarted('keys.list', listedState(keyId))).toBe('compromised'); // its start and close checkpoint
    expect(await restarted('keys.list', listedState(keyId))).toBe('compromised');
  });

  it('a change rolled back signs no head: the key reads as before', async () => {
    const keyId = await keyIn(custodyB);
    const pulled = new Error('token pulled out');
    expect(() =>
      f.opened.audit.record({ actor: { type: 'operator', id: 'test' }, action: 'key.activate' }, () => {
        f.opened.store.execute({ text: `UPDATE keys SET state = 'active' WHERE id = ?`, params: [keyId] });
        inventory.signState(keyId);
        throw pulled;
      }),
    ).toThrow(pulled);
    f.opened.audit.record({ actor: { type: 'operator', id: 'test' }, action: 'key.list' }); // takes the same seq
    f.close();
    closed = true;
    expect(await restarted('keys.list', listedState(keyId))).toBe('pre-activation');
  });

  it('a change recorded inside one that is rolled back signs no head: the key reads as before', async () => {
    const keyId = await keyIn(custodyB);
    expect((await approved(custodyB, 'key.activate', { keyId })).state).toBe('executed');
    const pulled = new Error('audit token pulled out before the execution entry was signed');
    // As key.destroy's commit does inside its execution entry: the key's own entry (and its seal) first, nested.
    expect(() =>
      f.opened.audit.record({ actor: { type: 'system', id: 'system' }, action: 'proposal.execute' }, () => {
        compromise(keyId);
        throw pulled;
      }),
    ).toThrow(pulled);
    expect(inventory.get(keyId).state).toBe('active');
    f.opened.audit.record({ actor: { type: 'operator', id: 'test' }, action: 'key.list' }); // takes the same seq
    f.close();
    closed = true;
    // Before: the nested entry's commit (a savepoint) counted its seal, so the closing heads named the rolled-back
    // state and the key list was refused at the next start (KEY_TAMPERED, "an older state was put back").
    expect(await restarted('keys.list', listedState(keyId))).toBe('active');
  });

  it('a destruction whose execution entry fails after the key’s own entry signs no head for the key', async () => {
    const keyId = await keyIn(custodyB);
    expect((await approved(custodyB, 'key.schedule-destruction', { keyId, waitDays: 7 })).state).toBe('executed');
    days(7);
    const before = inventory.get(keyId).state;
    const proposal = propose(custodyB, 'key.destroy', { keyId });
    // The execution entry cannot be written (the audit token pulled out as it is signed, the disk full): a temporary
    // trigger of this connection only, nothing in the file.
    f.opened.store.execute({
      text: `CREATE TEMP TRIGGER pulled BEFORE INSERT ON main.audit_entries
             WHEN NEW.entry LIKE '%"action":"proposal.execute"%' AND NEW.entry LIKE ?
             BEGIN SELECT RAISE(ABORT, 'audit token pulled out'); END`.replace('?', `'%${proposal.id}%'`),
      params: [],
    });
    // Proposed by Ada; Babbage, Curie and Olga (the security officer destruction also needs) approve.
    await expect(f.approveAll(quorum, proposal, [1, 2, 4])).rejects.toThrow();
    f.opened.store.execute({ text: 'DROP TRIGGER temp.pulled', params: [] });
    expect(f.opened.store.get({ text: 'SELECT state FROM keys WHERE id = ?', params: [keyId] })).toEqual({
      state: before,
    });
    for (let i = 0; i < 3; i++) f.opened.audit.record({ actor: { type: 'operator', id: 'test' }, action: 'key.list' });
    f.close(); // its closing checkpoint signs the heads
    closed = true;
    // Before: the key's nested entry counted its seal, and every later start refused the key list (KEY_TAMPERED).
    expect(await restarted('keys.list', listedState(keyId))).toBe(before);
  });

  it('a row put back while Custos runs is not signed into the heads by the next checkpoint', async () => {
    const { keyId, active } = await compromisedAfterActive();
    // While Custos runs, a writer puts the active row back (the log still names the compromise: refused meanwhile) ...
    putBack(f.opened.store as unknown as Database.Database, keyId, active);
    expect(() => inventory.get(keyId)).toThrow(expect.objectContaining({ code: 'KEY_TAMPERED' }));
    expect(await recorded('KEY_TAMPERED')).toEqual(['key.tampered refused']);
    // The log goes on, so the edited entries are not its right edge (whose leaves open hashes from the entries).
    for (let i = 0; i < 4; i++) f.opened.audit.record({ actor: { type: 'operator', id: 'test' }, action: 'key.list' });
    f.close(); // ... the closing checkpoint covers the compromise ...
    closed = true;
    // ... and then moves the compromise off the key, under that checkpoint.
    withoutTriggers(f.opened.store.path, (db) => moveEntriesOff(db, `key:${keyId}`, active.state_seq as number));
    // Had the heads taken the row as it stood at the checkpoint, the key would now read as active.
    await restarted('keys.list', (listed) =>
      expect(listed).toMatchObject({
        ok: false,
        error: { code: 'KEY_TAMPERED', message: expect.stringMatching(putBackAfter) },
      }),
    );
  });
});
