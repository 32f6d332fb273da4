import pkcs11js from 'pkcs11js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { canonicalJson, sha256Hex } from '../canonical-json';
import { totpCodeAt } from '../custodians/totp';
import { tokenStep } from '../hsm/pkcs11-errors';
import { quorumFixture } from '../testing/quorum-fixture';
import { tempDataDir } from '../testing/softhsm-fixture';
import { sql } from '../store/sql';
import type { QuorumService } from './quorum-service';

let cleanup: () => void;
let f: Awaited<ReturnType<typeof quorumFixture>>;
let quorum: QuorumService;
let custodyId: string;
const ran: unknown[] = [];

beforeEach(async () => {
  let dataDir: string;
  ({ dataDir, cleanup } = tempDataDir());
  f = await quorumFixture(dataDir, [
    { name: 'Ada' },
    { name: 'Babbage' },
    { name: 'Curie' },
    { name: 'Ida', roles: ['auditor'] },
  ]);
  ran.length = 0;
  quorum = f.quorum({
    // A real operation inside the logged-in session: it can only run if the rebuilt PIN opened the token.
    'token.count-objects': ({ session, lib, params }) => {
      ran.push(params);
      lib.C_FindObjectsInit(session, [{ type: pkcs11js.CKA_TOKEN, value: true }]);
      const found = lib.C_FindObjects(session, 100).length;
      lib.C_FindObjectsFinal(session);
      return { found };
    },
    // Fails inside the token: SoftHSM2 has no MD2, so C_SignInit returns CKR_MECHANISM_INVALID.
    'test.sign-with-md2': ({ session, lib }) => {
      const key = lib.C_GenerateKey(session, { mechanism: pkcs11js.CKM_AES_KEY_GEN }, [
        { type: pkcs11js.CKA_TOKEN, value: false },
        { type: pkcs11js.CKA_VALUE_LEN, value: 32 },
        { type: pkcs11js.CKA_SIGN, value: true },
      ]);
      const md2 = { mechanism: pkcs11js.CKM_MD2_RSA_PKCS };
      tokenStep('C_SignInit', md2, () => lib.C_SignInit(session, md2, key));
      return { signed: true };
    },
  });
  custodyId = (
    await f.custody.take({
      token: { serial: '', label: '' },
      threshold: 2,
      holders: f.holders(0, 1, 2),
      label: 'quorum',
    })
  ).id;
});
afterEach(() => {
  quorum.forgetAll();
  f.close();
  cleanup();
});

function approval(
  who: number,
  proposal: { id: string; shortFingerprint: string },
  fingerprint = proposal.shortFingerprint,
) {
  f.tick();
  const c = f.enrolled[who]!;
  return {
    proposalId: proposal.id,
    custodianId: c.id,
    passphrase: c.passphrase,
    code: totpCodeAt(c.secret, f.clock.now),
    fingerprint,
  };
}
const propose = (by = 0, params: unknown = { note: 'rehearsal' }) =>
  quorum.propose({ custodyId, action: 'token.count-objects', params, requestedBy: f.enrolled[by]!.id });
const audited = () =>
  [...f.opened.audit.log().entries()]
    .map((e) => JSON.parse(e.entry) as { action: string; result: { status: string; code?: string } })
    .map((e) => `${e.action} ${e.result.status}${e.result.code ? ` ${e.result.code}` : ''}`);

describe('a proposal and its approvals', () => {
  it('lets an auditor read but never propose, approve or reject; the refused approval is recorded', async () => {
    const IDA = 3;
    expect(() => propose(IDA)).toThrow(
      expect.objectContaining({ code: 'NOT_AUTHORIZED', message: expect.stringMatching(/auditor/) }),
    );
    const proposal = propose(0);
    await expect(quorum.approve(approval(IDA, proposal))).rejects.toMatchObject({ code: 'NOT_AUTHORIZED' });
    expect(() => quorum.reject(proposal.id, f.enrolled[IDA]!.id, 'I read it differently')).toThrow(
      expect.objectContaining({ code: 'NOT_AUTHORIZED' }),
    );
    expect(quorum.view(proposal.id)).toMatchObject({ state: 'open', approvals: [] });
    expect(audited()).toContain('proposal.approve refused NOT_AUTHORIZED');
  });

  it('binds to the SHA-256 of the canonical proposal and shows a short fingerprint to read aloud', () => {
    const proposal = propose();
    expect(proposal.fingerprint).toMatch(/^[0-9a-f]{64}$/);
    expect(proposal.shortFingerprint).toMatch(/^[0-9a-f]{4}(-[0-9a-f]{4}){3}$/);
    const body = canonicalJson({
      v: 1,
      id: proposal.id,
      action: proposal.action,
      params: proposal.params,
      token: proposal.token,
      custody: custodyId,
      requestedBy: proposal.requestedBy,
      expiresAt: proposal.expiresAt,
    });
    expect(sha256Hex(body)).toBe(proposal.fingerprint);
  });

  it('executes exactly the approved operation once t custodians other than the requester approve', async () => {
    const proposal = propose(0, { note: 'exactly this' });
    const first = await quorum.approve(approval(1, proposal));
    expect(first).toMatchObject({ state: 'open', approvals: [{ custodianId: f.enrolled[1]!.id, held: true }] });
    expect(ran).toEqual([]);
    const done = await quorum.approve(approval(2, proposal));
    expect(done).toMatchObject({ state: 'executed', outcome: { status: 'ok', result: { found: expect.any(Number) } } });
    expect(ran).toEqual([{ note: 'exactly this' }]);
    expect(done.approvals.every((a) => !a.held)).toBe(true); // shares overwritten and dropped
    expect(audited()).toEqual(
      expect.arrayContaining(['proposal.create ok', 'proposal.approve ok', 'proposal.execute ok']),
    );
  });

  it('says a run the token carried out but a full disk kept off the record was done, not that nothing changed', async () => {
    const proposal = propose(0, { note: 'the disk fills' });
    await quorum.approve(approval(1, proposal));
    // The disk fills as the run's outcome is saved (a real SQLITE_FULL: the file may not grow, and a trigger of this
    // connection needs a megabyte for that one entry).
    const store = f.opened.store;
    store.execute(sql`CREATE TABLE filler (b BLOB)`);
    const pages = store.get<{ page_count: number }>(sql`PRAGMA page_count`)!.page_count;
    store.get({ text: `PRAGMA max_page_count = ${pages + 16}`, params: [] });
    store.execute({
      text: `CREATE TEMP TRIGGER full BEFORE INSERT ON main.audit_entries
             WHEN NEW.entry LIKE '%"action":"proposal.execute"%'
             BEGIN INSERT INTO main.filler VALUES (zeroblob(1000000)); END`,
      params: [],
    });
    const failed = await quorum.approve(approval(2, proposal)).catch((error: unknown) => error);
    expect(ran).toEqual([{ note: 'the disk fills' }]);
    // Before: STORE_DISK_FULL, "nothing was written", and "repeat the last step" (a second run in the token).
    expect(failed).toMatchObject({
      code: 'OPERATION_UNRECORDED',
      message: expect.stringContaining('token.count-objects was carried out in the token, but Custos could not record'),
    });
    expect((failed as Error).message).toContain('(STORE_DISK_FULL)');
    expect((failed as Error).message).not.toMatch(/nothing was/i);
    expect((failed as { remedy: string[] }).remedy.join(' ')).toMatch(/^Do not propose it again/);
    store.execute({ text: 'DROP TRIGGER temp.full', params: [] });
    store.get({ text: 'PRAGMA max_page_count = 1073741823', params: [] });
    // The journal stays open: nobody closes the proposal or runs it again before it is settled from the token.
    expect(quorum.view(proposal.id).state).toBe('open');
    expect(() => quorum.cancel(proposal.id, f.enrolled[0]!.id)).toThrow(
      expect.objectContaining({ code: 'PROPOSAL_CLOSED' }),
    );
    expect(quorum.reconcile()).toMatchObject([{ proposalId: proposal.id, status: 'failed' }]);
    expect(ran).toHaveLength(1);
  });

  it('refuses self-approval and a second approval by the same person, and records both', async () => {
    const proposal = propose(0);
    await expect(quorum.approve(approval(0, proposal))).rejects.toMatchObject({ code: 'SELF_APPROVAL' });
    await quorum.approve(approval(1, proposal));
    await expect(quorum.approve(approval(1, proposal))).rejects.toMatchObject({ code: 'ALREADY_APPROVED' });
    expect(audited()).toEqual(
      expect.arrayContaining(['proposal.approve refused SELF_APPROVAL', 'proposal.approve refused ALREADY_APPROVED']),
    );
    expect(ran).toEqual([]);
  });

  it('refuses an approval for a proposal whose parameters differ from what the approver was shown', async () => {
    const shown = propose(0, { note: 'what Babbage was told' });
    const actual = propose(0, { note: 'what was really proposed' });
    await expect(quorum.approve(approval(1, actual, shown.shortFingerprint))).rejects.toMatchObject({
      code: 'FINGERPRINT_MISMATCH',
    });
    expect(audited()).toContain('proposal.approve refused FINGERPRINT_MISMATCH');
  });

  it('refuses a replayed TOTP code on approval', async () => {
    const proposal = propose(0);
    const request = approval(1, proposal);
    (await f.custodians.verifyFactors(request.custodianId, request.passphrase, request.code, 'elsewhere')).fill(0);
    await expect(quorum.approve(request)).rejects.toMatchObject({ code: 'TOTP_REPLAYED' });
  });

  it('voids an expired proposal and lets held shares expire', async () => {
    const proposal = propose(0);
    await quorum.approve(approval(1, proposal));
    f.clock.now = new Date(f.clock.now.getTime() + 16 * 60_000); // held share (15 min) is gone
    const after = await quorum.approve(approval(2, proposal));
    expect(after).toMatchObject({ state: 'open', approvals: [{ held: false }, { held: true }] });
    expect(ran).toEqual([]);
    // Curie's live approval counts once; Babbage may give his expired share again.
    await expect(quorum.approve(approval(2, proposal))).rejects.toMatchObject({ code: 'ALREADY_APPROVED' });
    f.clock.now = new Date(f.clock.now.getTime() + 61 * 60_000);
    await expect(quorum.approve(approval(0, propose(1)))).resolves.toMatchObject({ state: 'open' });
    await expect(quorum.approve(approval(1, proposal))).rejects.toMatchObject({ code: 'PROPOSAL_EXPIRED' });
    expect(quorum.view(proposal.id).state).toBe('expired');
  });

  it('holds a share no longer than its proposal lives, even when nobody looks at the proposal again', async () => {
    const proposal = quorum.propose({
      custodyId,
      action: 'token.count-objects',
      params: { note: 'short-lived' },
      requestedBy: f.enrolled[0]!.id,
      minutes: 5,
    });
    await quorum.approve(approval(1, proposal));
    f.clock.now = new Date(Date.parse(proposal.expiresAt) + 1_000);
    // Not touched, so not closed yet: Babbage's share is overwritten all the same, at the proposal's expiry.
    expect(quorum.view(proposal.id).approvals).toEqual([expect.objectContaining({ held: false })]);
  });

  it('lets an approver give again a share that died with a restart, and counts them once', async () => {
    const proposal = propose(0);
    await quorum.approve(approval(1, proposal));
    quorum.forgetAll(); // what a restart does to held shares
    expect(await quorum.approve(approval(2, proposal))).toMatchObject({
      state: 'open',
      approvals: [{ held: false }, { held: true }],
    });
    const done = await quorum.approve(approval(1, proposal));
    expect(done).toMatchObject({ state: 'executed', approvals: [{}, {}] });
    expect(ran).toHaveLength(1);
  });

  it('shows when each approver approved as their signed entry records it, not an approvals row edited in SQLite', async () => {
    const proposal = propose(0);
    await quorum.approve(approval(1, proposal));
    const babbage = f.enrolled[1]!.id;
    const entry = f.opened.store.get<{ time: string }>(
      sql`SELECT time FROM audit_entries WHERE action = 'proposal.approve' AND object = ${`proposal:${proposal.id}`}`,
    )!;
    // A database writer moves the approval to before the proposal existed.
    f.opened.store.execute(
      sql`UPDATE approvals SET approved_at = '2020-01-01T00:00:00.000Z' WHERE proposal_id = ${proposal.id}`,
    );
    expect(quorum.view(proposal.id).approvals).toEqual([{ custodianId: babbage, approvedAt: entry.time, held: true }]);
    expect(quorum.list().find((p) => p.id === proposal.id)!.approvals[0]!.approvedAt).toBe(entry.time);
  });

  it('records why an operation the token refused failed: code, sentence, CKR_ name, step and mechanism', async () => {
    const action = 'test.sign-with-md2';
    const proposal = quorum.propose({ custodyId, action, params: {}, requestedBy: f.enrolled[0]!.id });
    await quorum.approve(approval(1, proposal));
    const done = await quorum.approve(approval(2, proposal));
    const detail = { ckr: 'CKR_MECHANISM_INVALID', step: 'C_SignInit', mechanism: 'CKM_MD2_RSA_PKCS' };
    const message = 'The token does not support this algorithm or mode.';
    expect(done).toMatchObject({
      state: 'failed',
      outcome: { status: 'failed', code: 'MECHANISM_INVALID', message, detail },
    });
    expect(quorum.view(proposal.id).outcome).toEqual(done.outcome);
    // The signed entry keeps its result code, and binds the detail through its parameters hash.
    expect(audited()).toContain('proposal.execute failed MECHANISM_INVALID');
    const entries = [...f.opened.audit.log().entries()].map(
      (e) => JSON.parse(e.entry) as { action: string; params: string },
    );
    const executed = entries.find((e) => e.action === 'proposal.execute');
    const stored = f.opened.store.get<{ outcome: string }>(
      sql`SELECT outcome FROM proposals WHERE id = ${proposal.id}`,
    );
    expect(executed?.params).toBe(
      sha256Hex(
        canonicalJson({
          action,
          fingerprint: proposal.fingerprint,
          failure: detail,
          outcome: sha256Hex(stored!.outcome),
        }),
      ),
    );
  });

  it('lets any custodian reject and only the requester cancel', async () => {
    const proposal = propose(0);
    expect(() => quorum.cancel(proposal.id, f.enrolled[1]!.id)).toThrow(
      expect.objectContaining({ code: 'NOT_AUTHORIZED' }),
    );
    expect(quorum.reject(proposal.id, f.enrolled[2]!.id, 'Not what we agreed').state).toBe('rejected');
    await expect(quorum.approve(approval(1, proposal))).rejects.toMatchObject({ code: 'PROPOSAL_CLOSED' });
    expect(quorum.cancel(propose(0).id, f.enrolled[0]!.id).state).toBe('cancelled');
  });
});

describe('rejecting and cancelling with a reason', () => {
  const entriesOf = (action: string) =>
    [...f.opened.audit.log().entries()]
      .map((e) => JSON.parse(e.entry) as { action: string; params: string | null; actor: { id: string } })
      .filter((e) => e.action === action);

  it('refuses a rejection without a reason, or with one too long or on several lines, and changes nothing', () => {
    const proposal = propose(0);
    const curie = f.enrolled[2]!.id;
    for (const reason of ['', '   ', 'x'.repeat(501), 'first line\nsecond line', 'tab\there']) {
      expect(() => quorum.reject(proposal.id, curie, reason), JSON.stringify(reason)).toThrow(
        expect.objectContaining({
          code: 'PROPOSAL_INVALID',
          message: expect.stringMatching(/^The reason .* A rejection must say why; nothing was done\.$/),
        }),
      );
    }
    expect(quorum.view(proposal.id)).toMatchObject({ state: 'open', decision: null });
    expect(entriesOf('proposal.reject')).toEqual([]);
  });

  it('records the reason in the signed entry and the proposal, and shows who rejected it and why', () => {
    const proposal = propose(0);
    const curie = f.enrolled[2]!.id;
    const reason = 'The fingerprint read aloud ended 7a8c, not 7a8b';
    const rejected = quorum.reject(proposal.id, curie, `  ${reason}  `);
    expect(rejected).toMatchObject({ state: 'rejected', decision: { status: 'recorded', by: curie, reason } });
    expect(quorum.list().find((p) => p.id === proposal.id)?.decision).toEqual(rejected.decision);
    const [entry] = entriesOf('proposal.reject');
    expect(entry?.actor.id).toBe(curie);
    expect(entry?.params).toBe(sha256Hex(canonicalJson({ fingerprint: proposal.fingerprint, reason })));
  });

  it('lets the proposer cancel with or without a reason', () => {
    const ada = f.enrolled[0]!.id;
    expect(quorum.cancel(propose(0).id, ada).decision).toMatchObject({ status: 'recorded', by: ada, reason: null });
    expect(quorum.cancel(propose(0).id, ada, 'Proposed on the wrong token').decision).toMatchObject({
      by: ada,
      reason: 'Proposed on the wrong token',
    });
    expect(() => quorum.cancel(propose(0).id, ada, 'two\nlines')).toThrow(
      expect.objectContaining({ code: 'PROPOSAL_INVALID' }),
    );
  });

  it('does not believe a reason, a rejecter or a state edited in the database; other proposals still load', () => {
    const [first, second, third] = [propose(0), propose(0), propose(0)];
    const curie = f.enrolled[2]!.id;
    const other = propose(0);
    for (const p of [first, second, third]) quorum.reject(p.id, curie, 'Not what we agreed');
    const store = f.opened.store;
    const forged = 'Approved by everyone; carry on';
    store.execute(sql`UPDATE proposals SET decision_reason = ${forged} WHERE id = ${first.id}`);
    store.execute(sql`UPDATE proposals SET decided_by = ${f.enrolled[1]!.id} WHERE id = ${second.id}`);
    // Stripping the decision does not make it look like one from before reasons were kept.
    store.execute(
      sql`UPDATE proposals SET decided_by = NULL, decision_reason = NULL, decision_seq = NULL, decision_sig = NULL WHERE id = ${third.id}`,
    );
    const listed = quorum.list();
    for (const p of [first, second, third]) {
      const shown = listed.find((l) => l.id === p.id)!;
      expect(shown.decision, p.id).toMatchObject({
        status: 'tampered',
        message: expect.stringMatching(/outside Custos/),
      });
      expect(JSON.stringify(shown)).not.toContain(forged);
    }
    expect(listed.find((p) => p.id === other.id)).toMatchObject({ state: 'open', decision: null });
    // A rejected state with no rejection in the log was written by someone else.
    store.execute(sql`UPDATE proposals SET state = 'rejected' WHERE id = ${other.id}`);
    expect(quorum.view(other.id).decision).toMatchObject({ status: 'tampered' });
  });

  it('shows a rejection from before reasons were kept: who and when from its signed entry, no reason', () => {
    const proposal = propose(0);
    const babbage = f.enrolled[1]!.id;
    // What an earlier Custos recorded: an entry without parameters, the row's state only.
    f.opened.audit.record(
      {
        actor: { type: 'custodian', id: babbage, role: 'custodian' },
        action: 'proposal.reject',
        object: { type: 'proposal', id: proposal.id },
      },
      () => f.opened.store.execute(sql`UPDATE proposals SET state = 'rejected' WHERE id = ${proposal.id}`),
    );
    expect(quorum.view(proposal.id).decision).toMatchObject({ status: 'recorded', by: babbage, reason: null });
  });
});

describe('a stored state or outcome Custos did not write', () => {
  /** A proposal run by the quorum: executed, or failed in the token. */
  async function run(action: 'token.count-objects' | 'test.sign-with-md2' = 'token.count-objects') {
    const proposal = quorum.propose({ custodyId, action, params: { note: 'x' }, requestedBy: f.enrolled[0]!.id });
    await quorum.approve(approval(1, proposal));
    await quorum.approve(approval(2, proposal));
    return quorum.view(proposal.id);
  }
  const tampered = { status: 'failed', code: 'PROPOSAL_TAMPERED' };

  it('binds the outcome, byte for byte, into the signed entry of the run', async () => {
    const done = await run();
    expect(done).toMatchObject({ state: 'executed', outcome: { status: 'ok', result: { found: expect.any(Number) } } });
    const stored = f.opened.store.get<{ outcome: string }>(sql`SELECT outcome FROM proposals WHERE id = ${done.id}`)!;
    const [entry] = [...f.opened.audit.log().entries()]
      .map((e) => JSON.parse(e.entry) as { action: string; params: string })
      .filter((e) => e.action === 'proposal.execute');
    expect(entry!.params).toBe(
      sha256Hex(
        canonicalJson({ action: done.action, fingerprint: done.fingerprint, outcome: sha256Hex(stored.outcome) }),
      ),
    );
    expect(quorum.provenView(done.id)).toEqual(done);
  });

  it('is not shown: an edited outcome is PROPOSAL_TAMPERED for that proposal alone; the list still loads', async () => {
    const done = await run();
    const other = propose();
    f.opened.store.execute(
      sql`UPDATE proposals SET outcome = ${'{"status":"ok","result":{"found":999}}'} WHERE id = ${done.id}`,
    );
    const listed = quorum.list();
    // Before: the forged result was shown, and signed into the ceremony's report.
    expect(listed.find((p) => p.id === done.id)).toMatchObject({ state: 'executed', outcome: tampered });
    expect(listed.find((p) => p.id === other.id)).toMatchObject({ state: 'open', outcome: null });
    expect(() => quorum.provenView(done.id)).toThrow(expect.objectContaining({ code: 'PROPOSAL_TAMPERED' }));
    await f.opened.audit.log().append({ actor: { type: 'operator', id: 'test' }, action: 'test.flush' });
    expect(audited()).toContain('proposal.tampered refused PROPOSAL_TAMPERED');
  });

  it('a failure marked executed with an outcome of success: the log’s state is shown, and no report is signed', async () => {
    const failed = await run('test.sign-with-md2');
    expect(failed).toMatchObject({ state: 'failed', outcome: { status: 'failed', code: 'MECHANISM_INVALID' } });
    f.opened.store.execute(
      sql`UPDATE proposals SET state = 'executed', outcome = ${'{"status":"ok","result":{"signed":true}}'} WHERE id = ${failed.id}`,
    );
    expect(quorum.view(failed.id)).toMatchObject({ state: 'failed', outcome: tampered });
    expect(() => quorum.provenView(failed.id)).toThrow(expect.objectContaining({ code: 'PROPOSAL_TAMPERED' }));
  });

  it('an executed proposal opened again in the database cannot be approved and run a second time', async () => {
    const done = await run();
    f.opened.store.execute(
      sql`UPDATE proposals SET state = 'open', outcome = NULL, closed_at = NULL WHERE id = ${done.id}`,
    );
    expect(quorum.view(done.id)).toMatchObject({ state: 'executed', outcome: tampered });
    ran.length = 0;
    await expect(quorum.approve(approval(1, done))).rejects.toMatchObject({ code: 'PROPOSAL_CLOSED' });
    expect(ran).toEqual([]);
  });

  it('an outcome recorded before outcomes were bound into the entry is still shown', () => {
    const proposal = propose();
    const outcome = JSON.stringify({ status: 'ok', result: { found: 3 } });
    // What an earlier Custos recorded: the parameters named the action and fingerprint only.
    f.opened.audit.record(
      {
        actor: { type: 'system', id: 'system' },
        action: 'proposal.execute',
        object: { type: 'proposal', id: proposal.id },
        params: { action: proposal.action, fingerprint: proposal.fingerprint },
      },
      () =>
        f.opened.store.execute(
          sql`UPDATE proposals SET state = 'executed', outcome = ${outcome} WHERE id = ${proposal.id}`,
        ),
    );
    expect(quorum.view(proposal.id)).toMatchObject({ state: 'executed', outcome: { result: { found: 3 } } });
  });

  it('a closed proposal opened again past its expiry leaves the list of proposals loading', () => {
    const rejected = propose();
    quorum.reject(rejected.id, f.enrolled[2]!.id, 'Not what we agreed');
    const other = propose();
    f.opened.store.execute(
      sql`UPDATE proposals SET state = 'open', expires_at = '2000-01-01T00:00:00.000Z' WHERE id = ${rejected.id}`,
    );
    // Before the fix listing closed it as expired, and the proposal it read as already rejected threw PROPOSAL_CLOSED:
    // the whole list failed.
    const listed = quorum.list();
    expect(listed.find((p) => p.id === rejected.id)).toMatchObject({ state: 'rejected', outcome: tampered });
    expect(listed.find((p) => p.id === other.id)).toMatchObject({ state: 'open' });
    expect(audited()).not.toContain('proposal.expire ok');
  });

  it('an executed proposal whose run is marked unfinished is not settled again at start', async () => {
    const done = await run();
    f.opened.store.execute(sql`UPDATE executions SET finished_at = NULL WHERE proposal_id = ${done.id}`);
    f.opened.store.execute(
      sql`UPDATE proposals SET state = 'open', outcome = NULL, closed_at = NULL WHERE id = ${done.id}`,
    );
    // Before the fix the start signed a second closing entry (proposal.reconcile, failed: interrupted), and the log's
    // latest entry then proved an executed proposal failed.
    expect(quorum.reconcile()).toEqual([]);
    expect(audited().filter((e) => e.startsWith('proposal.reconcile'))).toEqual([]);
    expect(quorum.view(done.id)).toMatchObject({ state: 'executed', outcome: tampered });
  });

  it('an unsigned closing entry added to the log does not open a rejected proposal again', async () => {
    const rejected = propose();
    quorum.reject(rejected.id, f.enrolled[2]!.id, 'Not what we agreed');
    const forged = canonicalJson({
      v: 1,
      seq: 1_000_000,
      time: f.clock.now.toISOString(),
      actor: { type: 'system', id: 'system' },
      action: 'proposal.expire',
      object: { type: 'proposal', id: rejected.id },
      params: null,
      result: { status: 'failed' },
    });
    f.opened.store.execute(
      sql`INSERT INTO audit_entries (seq, entry, signature, key_id) VALUES (1000000, ${forged}, ${Buffer.alloc(64)}, 'x')`,
    );
    f.opened.store.execute(
      sql`UPDATE proposals SET state = 'open', closed_at = NULL, decided_by = NULL, decision_reason = NULL,
          decision_seq = NULL, decision_sig = NULL WHERE id = ${rejected.id}`,
    );
    // Before the fix the unverifiable latest entry made the state column believed: open, and approvals were taken.
    expect(quorum.view(rejected.id)).toMatchObject({ state: 'rejected', outcome: tampered });
    await expect(quorum.approve(approval(1, rejected))).rejects.toMatchObject({ code: 'PROPOSAL_CLOSED' });
    expect(ran).toEqual([]);
  });
});

describe('listing proposals', () => {
  it('shows a proposal past its expiry as expired, closed with its audit entry, without anyone touching it', () => {
    const proposal = propose();
    f.clock.now = new Date(new Date(proposal.expiresAt).getTime() + 1000);
    expect(quorum.list().find((p) => p.id === proposal.id)).toMatchObject({ state: 'expired' });
    expect(audited().filter((e) => e === 'proposal.expire ok')).toHaveLength(1);
    // Listing again records nothing more.
    quorum.list();
    expect(audited().filter((e) => e === 'proposal.expire ok')).toHaveLength(1);
  });
});
