import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { describeProposal, NO_LOOKUPS } from '../../../shared/actions';
import type { ProposalView } from '../../../shared/quorum';
import { holdingsOf } from '../custodians/holdings';
import { totpCodeAt } from '../custodians/totp';
import type { KeyInventory } from '../keys/key-inventory';
import type { QuorumService } from '../quorum/quorum-service';
import { renderReportPdf } from '../reports/report-pdf';
import { ReportService } from '../reports/report-service';
import { sql } from '../store/sql';
import { asDatabaseWriter } from '../testing/audit-fixture';
import { backupInstallation, type BackupInstallation } from '../testing/backup-installation';
import { CustosCore } from '../custos-core';
import { silentLog } from '../log';
import { tempDataDir } from '../testing/softhsm-fixture';
import type { BackupService } from './backup-service';

let cleanup: () => void;
let dataDir: string;
let bed: BackupInstallation;
let f: BackupInstallation['f'];
let inventory: KeyInventory;
let backups: BackupService;
let quorum: QuorumService;
let reports: ReportService;
let source: string;

beforeEach(async () => {
  ({ dataDir, cleanup } = tempDataDir());
  bed = await backupInstallation(dataDir, { officer: true });
  ({ f, inventory, backups, quorum, source } = bed);
  reports = new ReportService({
    store: f.opened.store,
    audit: f.opened.audit,
    custodians: f.custodians,
    custody: f.custody,
    keys: inventory,
    quorum,
    clock: () => f.clock.now,
    token: (ref) => ({ ...ref, kind: 'software token' }),
    backups,
    copies: { of: bed.copiesOf, retirement: (setId) => backups.retirements.retirement(setId) },
  });
});
let closed = false;
afterEach(() => {
  if (!closed) bed.close();
  closed = false;
  cleanup();
});

const propose = (action: string, params: unknown) =>
  quorum.propose({ custodyId: source, action, params, requestedBy: f.enrolled[0]!.id });
const approved = (action: string, params: unknown, approvers = [1, 2]) =>
  f.approveAll(quorum, propose(action, params), approvers);
const resultOf = <T>(view: ProposalView) => (view.outcome as { result: T }).result;

/** A backup-able AES key in the source token, backed up on cards for Ada, Babbage and Curie (2 of 3). */
async function backedUpKey(): Promise<{ keyId: string; setId: string }> {
  const generated = await approved('key.generate', {
    algorithm: 'AES-256',
    label: 'sealing',
    usage: 'encrypt',
    backupable: true,
    cryptoperiodDays: 365,
    ckaId: randomBytes(16).toString('hex'),
  });
  const keyId = resultOf<{ keyId: string }>(generated).keyId;
  const backup = await approved('key.backup', {
    keyIds: [keyId],
    holders: f.enrolled.slice(0, 3).map((c) => c.id),
    threshold: 2,
  });
  return { keyId, setId: resultOf<{ setId: string }>(backup).setId };
}

const holder = (i: number) => f.holders(i)[0]!;
const retire = (setId: string) => approved('backup.retire', { setId, reason: 'its key is destroyed' });

describe('destruction covers every copy', () => {
  it('names every copy when scheduling, and the certificate says what became of each, a live set flagged', async () => {
    const { keyId, setId } = await backedUpKey();
    const copies = backups.copiesOf(keyId);
    expect(copies).toEqual([
      { kind: 'token', serial: expect.any(String), label: 'source' },
      { kind: 'backup', setId, threshold: 2, holders: ['Ada', 'Babbage', 'Curie'], retiredAt: null },
    ]);
    const schedule = await approved('key.schedule-destruction', { keyId, waitDays: 7, copies });
    expect(describeProposal('key.schedule-destruction', { keyId, waitDays: 7, copies }, NO_LOOKUPS).lines).toContain(
      `Also held by backup set ${setId.slice(0, 8)} (2-of-3, cards with Ada, Babbage, Curie): retire that set (backup.retire) so the destruction covers every copy.`,
    );
    expect(resultOf<{ copies: unknown }>(schedule).copies).toEqual(copies);

    f.clock.now = new Date(f.clock.now.getTime() + 7 * 86_400_000);
    const destroyed = await approved('key.destroy', { keyId }, [1, 2, 3]);
    expect(destroyed.state).toBe('executed');
    expect(resultOf<{ copies: unknown }>(destroyed).copies).toEqual([
      { copy: copies[0], fate: `destroyed, a search for CKA_ID=${keyId} found no object left` },
      { copy: copies[1], fate: expect.stringMatching(/^STILL HOLDING A COPY/) },
    ]);
    const certificate = () => reports.stored(reports.create({ proposalId: destroyed.id }).id).report.ceremony!;
    expect(certificate().copies).toEqual([
      expect.objectContaining({ fate: expect.stringMatching(/^destroyed, a search/) }),
      expect.objectContaining({
        inWords: expect.stringMatching(new RegExp(`^backup set ${setId.slice(0, 8)} .*: STILL HOLDING A COPY`)),
      }),
    ]);

    const made = reports.create({ proposalId: destroyed.id });
    const pdf = join(dataDir, 'certificate.pdf');
    writeFileSync(pdf, await renderReportPdf(reports.stored(made.id).report, made.sha256));
    expect(execFileSync('pdftotext', [pdf, '-'], { encoding: 'utf8' })).toMatch(
      /Every copy of the key[^]*STILL HOLDING A COPY/,
    );

    const retiredBy = await retire(setId);
    await backups.retirements.cardDestroyed(setId, holder(0));
    const retirement = reports.stored(reports.create({ proposalId: retiredBy.id }).id).report;
    expect(retirement.ceremony!.cardsDestroyed).toMatchObject([
      { name: 'Ada', destroyedAt: expect.any(String) },
      { name: 'Babbage', destroyedAt: null },
      { name: 'Curie', destroyedAt: null },
    ]);
    expect(retirement.steps.map((s) => s.action)).toContain('backup.card.destroyed');
    const later = certificate().copies as { fate: string }[];
    expect(later[1]!.fate).toMatch(
      /^retired \d{4}-\d\d-\d\d \(its key is destroyed\); cards: Ada destroyed \d{4}-\d\d-\d\d, Babbage NOT YET CONFIRMED, Curie NOT YET CONFIRMED$/,
    );
  });

  it('a set deleted from the database does not drop out of the copies a destruction names: they are refused', async () => {
    const { keyId, setId } = await backedUpKey();
    f.opened.store.execute(sql`DELETE FROM backup_keys WHERE set_id = ${setId}`);
    f.opened.store.execute(sql`DELETE FROM backups WHERE set_id = ${setId}`);
    // Before: the copies named the token alone, and the destruction was scheduled as covering every copy.
    expect(() => backups.copiesOf(keyId)).toThrow(
      expect.objectContaining({ code: 'BACKUP_INVALID', message: expect.stringContaining(setId.slice(0, 8)) }),
    );
  });

  it('a retired set is refused with BACKUP_RETIRED, when proposed and when a restore approved before runs', async () => {
    const { keyId, setId } = await backedUpKey();
    const cards = backups.printableCards(setId);
    const restore = await approved('key.restore', { setId });
    expect(restore.state).toBe('open');
    const retired = await retire(setId);
    expect(retired.state).toBe('executed');
    expect(resultOf<{ setId: string }>(retired)).toMatchObject({ setId, reason: 'its key is destroyed' });
    await backups.enterShare(restore.id, cards[0]!.text);
    const ran = await backups.enterShare(restore.id, cards[1]!.text);
    expect(ran).toMatchObject({ state: 'failed', outcome: { code: 'BACKUP_RETIRED' } });
    expect(inventory.get(keyId)).toMatchObject({ state: 'pre-activation', token: { label: 'source' } });
    expect(() => propose('key.restore', { setId })).toThrow(expect.objectContaining({ code: 'BACKUP_RETIRED' }));
    expect(() => propose('backup.retire', { setId, reason: 'again' })).toThrow(
      expect.objectContaining({ code: 'BACKUP_RETIRED' }),
    );
    expect(backups.list()[0]!.retirement).toMatchObject({ status: 'recorded', reason: 'its key is destroyed' });
  });

  it('a retired set is not exported again: an installation importing it would not know it is retired', async () => {
    const { setId } = await backedUpKey();
    expect(backups.exportFile(setId)).toContain(setId);
    expect((await retire(setId)).state).toBe('executed');
    expect(() => backups.exportFile(setId)).toThrow(expect.objectContaining({ code: 'BACKUP_RETIRED' }));
  });

  it('each holder confirms their card destroyed with both factors, only once the set is retired', async () => {
    const { setId } = await backedUpKey();
    await expect(backups.retirements.cardDestroyed(setId, holder(0))).rejects.toMatchObject({
      code: 'BACKUP_NOT_RETIRED',
    });
    await retire(setId);
    await expect(backups.retirements.cardDestroyed(setId, holder(3))).rejects.toMatchObject({ code: 'NOT_AUTHORIZED' });
    f.tick();
    const wrong = { ...holder(1), passphrase: 'not the passphrase at all, no' };
    await expect(backups.retirements.cardDestroyed(setId, wrong)).rejects.toMatchObject({
      code: 'PASSPHRASE_INCORRECT',
    });
    // Until Babbage confirms, retiring Babbage is refused: a retired person's factors could never confirm it.
    const holds = () =>
      holdingsOf({ custody: f.custody, backups, proposals: quorum }, f.enrolled[1]!).filter((h) =>
        h.includes('backup set'),
      );
    expect(holds()).toEqual([expect.stringMatching(/^a card of retired backup set .* not yet confirmed destroyed$/)]);
    const confirmed = await backups.retirements.cardDestroyed(setId, holder(1));
    expect(holds()).toEqual([]);
    expect(confirmed.cards.map((c) => [c.name, c.destroyedAt !== null])).toEqual([
      ['Ada', false],
      ['Babbage', true],
      ['Curie', false],
    ]);
    const entries = () =>
      f.opened.store.all(
        sql`SELECT seq FROM audit_entries WHERE action = 'backup.card.destroyed' AND object = ${`backup:${setId}`}`,
      ).length;
    expect(entries()).toBe(1);
    f.tick();
    const again = f.enrolled[1]!;
    await backups.retirements.cardDestroyed(setId, {
      custodianId: again.id,
      passphrase: again.passphrase,
      code: totpCodeAt(again.secret, f.clock.now),
    });
    expect(entries()).toBe(1);
  });

  it('a database edit cannot make a retired set restorable, and a forged card confirmation is not believed', async () => {
    const { setId } = await backedUpKey();
    await retire(setId);
    const { store } = f.opened;
    store.execute(sql`UPDATE backup_retirements SET reason = ${'nothing to see'} WHERE set_id = ${setId}`);
    expect(backups.list()[0]!.retirement).toMatchObject({ status: 'tampered' });
    store.execute(sql`DELETE FROM backup_retirements WHERE set_id = ${setId}`);
    expect(backups.list()[0]!.retirement).toMatchObject({ status: 'tampered' });
    expect(() => propose('key.restore', { setId })).toThrow(expect.objectContaining({ code: 'BACKUP_RETIRED' }));
    // The retirement's audit entry is append-only: it cannot be removed to bring the set back.
    expect(() =>
      store.execute(sql`DELETE FROM audit_entries WHERE action = 'backup.retired' AND object = ${`backup:${setId}`}`),
    ).toThrow();
    expect(() => propose('key.restore', { setId })).toThrow(expect.objectContaining({ code: 'BACKUP_RETIRED' }));
    store.execute(sql`
      INSERT INTO card_destructions (set_id, share_index, holder_id, destroyed_at, state_seq, state_sig)
      VALUES (${setId}, 1, ${f.enrolled[0]!.id}, ${'2026-01-01T00:00:00.000Z'}, 1, ${Buffer.alloc(64)})`);
    expect(backups.list()[0]!.retirement!.cards[0]).toMatchObject({ name: 'Ada', destroyedAt: null });
  });
});

describe('a retirement deleted under a checkpoint (record heads)', () => {
  it('its row deleted, its entry moved off the set: still retired at the next start', async () => {
    const { setId } = await backedUpKey();
    expect((await retire(setId)).state).toBe('executed');
    // The log goes on, so the edited entry is not its right edge (whose leaves open hashes from the entries).
    for (let i = 0; i < 4; i++) f.opened.audit.record({ actor: { type: 'operator', id: 'test' }, action: 'key.list' });
    bed.close(); // the closing checkpoint, and its heads, cover the retirement
    closed = true;
    asDatabaseWriter(dataDir, (db) => {
      db.prepare('DELETE FROM backup_retirements WHERE set_id = ?').run(setId);
      const moved = db
        .prepare(
          `UPDATE audit_entries SET entry = replace(entry, ?, '"object":{"id":"elsewhere"')
           WHERE object = ? AND action = 'backup.retired' RETURNING seq`,
        )
        .pluck()
        .all(`"object":{"id":${JSON.stringify(setId)}`, `backup:${setId}`);
      expect(moved).toHaveLength(1);
    });
    const core = CustosCore.open({ dataDir, version: 'test', production: true, log: silentLog });
    try {
      expect(core.audit.status()).toMatchObject({ state: 'ready' });
      // Before: null (a live set), so key.restore of the retired set was proposed and ran.
      expect(core.backups.retirements.retirement(setId)).toMatchObject({ status: 'tampered' });
      expect(() => core.backups.retirements.refuseRetired(setId)).toThrow(
        expect.objectContaining({ code: 'BACKUP_RETIRED' }),
      );
    } finally {
      core.close();
    }
  });
});
