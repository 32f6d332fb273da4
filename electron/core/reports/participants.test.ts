import { execFileSync } from 'node:child_process';
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { canonicalJson, sha256Hex } from '../canonical-json';
import { KeyInventory } from '../keys/key-inventory';
import { quorumDrill } from '../quorum/drill';
import type { QuorumService } from '../quorum/quorum-service';
import { quorumFixture } from '../testing/quorum-fixture';
import { tempDataDir } from '../testing/softhsm-fixture';
import { BackupService } from '../backup/backup-service';
import { turnover } from '../custody/turnover';
import { keyOperations } from '../keys/key-operations';
import { ACTION_PARAMS } from '../../../shared/actions';
import type { CeremonyReport } from './ceremony-report';
import { ReportService } from './report-service';
import { verifyReport, type ReportVerdict } from './report-verify';

/**
 * Whoever holds the audit key can sign a wholly new report about an old ceremony. Its participants must still be the
 * ones the signed entries it carries record: nobody left out, nobody added, no time moved.
 */
let cleanup: () => void;
let f: Awaited<ReturnType<typeof quorumFixture>>;
let quorum: QuorumService;
let reports: ReportService;
let backups: BackupService;
let custodyId: string;
let dataDir: string;

beforeEach(async () => {
  ({ dataDir, cleanup } = tempDataDir());
  f = await quorumFixture(dataDir, [
    { name: 'Ada' },
    { name: 'Babbage' },
    { name: 'Curie' },
    { name: 'Dora', roles: ['security-officer'] },
  ]);
  const now = () => f.clock.now;
  const keys = new KeyInventory(f.opened.store, f.opened.audit, now);
  backups = new BackupService({
    store: f.opened.store,
    audit: f.opened.audit,
    custodians: f.custodians,
    keys,
    module: () => f.module,
    quorum: () => quorum,
    clock: now,
  });
  quorum = f.quorum(
    { 'token.quorum-drill': quorumDrill, ...keyOperations(f.opened.store, now, keys) },
    { 'key.backup': backups.backupCeremony(), 'custody.redeal': turnover(f.custody) },
    ACTION_PARAMS,
  );
  reports = new ReportService({
    store: f.opened.store,
    audit: f.opened.audit,
    custodians: f.custodians,
    custody: f.custody,
    backups,
    keys,
    quorum,
    clock: now,
    token: (ref) => ({ ...ref, model: 'SoftHSM v2' }),
  });
  custodyId = (
    await f.custody.take({ token: { serial: '', label: '' }, threshold: 2, holders: f.holders(0, 1, 2), label: 'p' })
  ).id;
});
afterEach(() => {
  quorum.forgetAll();
  backups.forgetAll();
  f.close();
  cleanup();
});

const drill = () =>
  quorum.propose({ custodyId, action: 'token.quorum-drill', params: {}, requestedBy: f.enrolled[0]!.id });
const made = (subject: Parameters<ReportService['create']>[0]) => reports.stored(reports.create(subject).id).report;
const id = (i: number) => f.enrolled[i]!.id;

/** The report as the key holder would sign it again, and what verify says of it. */
function resigned(report: Omit<CeremonyReport, 'v'> & { v: number }): ReportVerdict {
  const bytes = Buffer.from(canonicalJson(report), 'utf8');
  return verifyReport(bytes, f.opened.audit.signDocument(bytes), f.opened.audit.noteKey()!);
}
const failed = (verdict: ReportVerdict) =>
  verdict.checks.filter((c) => !c.ok).map((c) => `${c.check} — ${c.detail ?? ''}`);
const PARTICIPANTS = /^participants: each part, person and time as a signed entry of this ceremony records it — /;

describe('a quorum ceremony report’s participants', () => {
  it('are the signed entries’ parts, each naming its entry; one left out, added, moved or doubled fails', async () => {
    const done = await f.approveAll(quorum, drill(), [1, 2]);
    expect(done.state).toBe('executed');
    const report = made({ proposalId: done.id });
    const verdict = resigned(report);
    expect(verdict.ok).toBe(true);
    const entryOf = (seq: number | undefined) => report.audit.entries.find((e) => e.seq === seq);
    for (const p of report.participants) {
      const entry = JSON.parse(entryOf(p.seq)!.entry) as { actor: { id: string }; time: string; action: string };
      expect({ id: entry.actor.id, at: entry.time }).toEqual({ id: p.id, at: p.at });
    }
    expect(report.participants.map((p) => `${p.name} ${p.part}`)).toEqual([
      'Ada proposed',
      'Babbage approved',
      'Curie approved',
    ]);
    const [proposer, first, second] = report.participants as [
      CeremonyReport['participants'][number],
      CeremonyReport['participants'][number],
      CeremonyReport['participants'][number],
    ];
    const dora = { ...first, id: id(3), name: 'Dora', roles: ['security-officer'] };
    const forgeries: Record<string, { participants: CeremonyReport['participants']; detail: RegExp }> = {
      'an approver left out': {
        participants: [proposer, first],
        detail: new RegExp(`entry ${second.seq} records ${id(2)} approved at .*, and the report does not list it`),
      },
      'an approval moved': {
        participants: [proposer, first, { ...second, at: '2020-01-01T00:00:00.000Z' }],
        detail: new RegExp(`Curie \\(${id(2)}\\) approved: the report says 2020-01-01T00:00:00.000Z`),
      },
      'an approver added': {
        participants: [proposer, first, second, dora],
        detail: new RegExp(`Dora \\(${id(3)}\\) approved at .*: no signed entry of this ceremony records that`),
      },
      'an approver swapped for another': {
        participants: [proposer, first, dora],
        detail: /Dora .* no signed entry.*records .* approved at .*, and the report does not list it/,
      },
      'an approver counted twice': {
        participants: [proposer, first, second, second],
        detail: /Curie .* approved at .*: no signed entry of this ceremony records that/,
      },
    };
    for (const [what, { participants, detail }] of Object.entries(forgeries)) {
      const lines = failed(resigned({ ...report, participants }));
      expect(lines, what).toEqual([expect.stringMatching(PARTICIPANTS)]);
      expect(lines[0], what).toMatch(detail);
    }
    // The proposer is also in the body the fingerprint hashes: that check names it too.
    expect(
      failed(resigned({ ...report, participants: [{ ...proposer, id: id(3), name: 'Dora' }, first, second] })),
    ).toEqual([
      expect.stringMatching(/^fingerprint: .* — ceremony\.participants \(proposer\) differs from what was approved/),
      expect.stringMatching(/Dora .* proposed at .*: no signed entry/),
    ]);
  });

  it('of a report made before they named their entries are compared by person and part, their times NOT CHECKED', async () => {
    const done = await f.approveAll(quorum, drill(), [1, 2]);
    const report = made({ proposalId: done.id });
    const older = report.participants.map(({ seq: _seq, ...p }) => ({ ...p, at: '2020-01-01T00:00:00.000Z' }));
    const verdict = resigned({ ...report, v: 1, participants: older });
    expect(verdict.ok).toBe(true);
    expect(verdict.checks).toContainEqual(expect.objectContaining({ check: 'participants’ times', skipped: true }));
    // Dropping the entries' seqs does not let an approver be left out.
    expect(failed(resigned({ ...report, v: 1, participants: older.slice(0, 2) }))).toEqual([
      expect.stringMatching(PARTICIPANTS),
    ]);
  });

  it('meet the threshold the report states, with the custody’s t of n as its custody.begin entry recorded', async () => {
    const done = await f.approveAll(quorum, drill(), [1, 2]);
    const summary = reports.create({ proposalId: done.id });
    const report = reports.stored(summary.id).report;
    await reports.exportTo(summary.id, join(dataDir, 'report'));
    const pdf = execFileSync('pdftotext', [join(dataDir, 'report', 'report.pdf'), '-'], { encoding: 'utf8' });
    expect(pdf).toContain('Quorum: 2 of 3 share holders');
    const ceremony = report.ceremony!;
    expect(ceremony).toMatchObject({ threshold: 2, holders: 3 });
    const quorumFailed = failed(resigned({ ...report, ceremony: { ...ceremony, threshold: 3 } }));
    expect(quorumFailed).toEqual([
      expect.stringMatching(/^threshold and share holders: .* — entry \d+ records 2 of 3, the report says 3 of 3$/),
      expect.stringMatching(/^quorum met: 2 distinct approvers recorded, threshold 3 — /),
    ]);
    expect(failed(resigned({ ...report, ceremony: { ...ceremony, holders: 5 } }))).toEqual([
      expect.stringMatching(/records 2 of 3, the report says 2 of 5$/),
    ]);
    const begun = ceremony.custodyBegun as { holders: string[] };
    const moreHolders = { ...ceremony, holders: 4, custodyBegun: { ...begun, holders: [...begun.holders, id(3)] } };
    expect(failed(resigned({ ...report, ceremony: moreHolders }))).toEqual([
      expect.stringMatching(/is not this custody’s custody\.begin with these holders, threshold and token$/),
    ]);
  });

  it('of a rejected proposal include who rejected it, at the time its entry records', () => {
    const open = drill();
    f.tick();
    quorum.reject(open.id, id(2), 'Heard another fingerprint');
    const report = made({ proposalId: open.id });
    expect(report.participants.map((p) => `${p.name} ${p.part}`)).toEqual(['Ada proposed', 'Curie rejected']);
    expect(resigned(report).ok).toBe(true);
    const rejecter = report.participants[1]!;
    const hidden = resigned({ ...report, participants: report.participants.slice(0, 1) });
    expect(failed(hidden)).toEqual([
      expect.stringMatching(new RegExp(`entry ${rejecter.seq} records ${id(2)} rejected at`)),
    ]);
    // Relabelled as a custody or a script run, it is still read as the proposal its entries are about.
    const { fingerprint: _fingerprint, ...unprinted } = report.ceremony!;
    for (const action of ['custody.take', 'ceremony.script-run']) {
      const relabelled = {
        ...report,
        ceremony: { ...unprinted, action, ...(action === 'custody.take' ? {} : { runEvents: [] }) },
        participants: report.participants.slice(0, 1),
      };
      expect(failed(resigned(relabelled)), action).toEqual([
        expect.stringMatching(/^participants: .* — the proposal’s report names no fingerprint$/),
      ]);
    }
    // And with its proposal's entries dropped too, as a script run (by action or type) it is one no entry records.
    const aboutProposal = (e: { entry: string }) =>
      (JSON.parse(e.entry) as { object: { id: string } | null }).object?.id === open.id;
    expect(report.audit.entries.some(aboutProposal)).toBe(true);
    const stripped = {
      ...report,
      audit: { ...report.audit, entries: report.audit.entries.filter((e) => !aboutProposal(e)) },
      participants: [],
    };
    const relabels = {
      'its action': { ceremony: { ...unprinted, action: 'ceremony.script-run', runEvents: [] } },
      'its type': { type: 'ceremony.script-run', ceremony: unprinted },
      'its type, as a rehearsal': { type: 'ceremony.rehearsal', ceremony: unprinted },
    };
    for (const [what, relabel] of Object.entries(relabels))
      expect(failed(resigned({ ...stripped, ...relabel })), what).toContainEqual(
        expect.stringMatching(
          new RegExp(`^participants: .* — the report carries no signed entry of the script run ${open.id} it is about`),
        ),
      );
    // Without relabelling, a proposal's report whose entries are dropped is no report of anything either.
    expect(failed(resigned({ ...stripped, ceremony: unprinted }))).toContainEqual(
      expect.stringMatching(/^participants: .* — the report carries no signed entry of the proposal or custody/),
    );
  });
});

describe('a custody report’s share holders', () => {
  it('sign its PDF as share holders, not as approvers of a proposal that never was', async () => {
    const summary = reports.create({ custodyId });
    await reports.exportTo(summary.id, join(dataDir, 'custody'));
    const pdf = execFileSync('pdftotext', [join(dataDir, 'custody', 'report.pdf'), '-'], { encoding: 'utf8' });
    for (const name of ['Ada', 'Babbage', 'Curie'])
      expect(pdf).toContain(`${name} (share holder) — name and signature`);
    expect(pdf).not.toContain('(approver)');
  });

  it('are the holders its custody.begin entry recorded, at that entry’s time; another list fails', () => {
    const report = made({ custodyId });
    expect(resigned(report).ok).toBe(true);
    const begin = report.audit.entries.find((e) => e.entry.includes('"custody.begin"'))!;
    expect(report.participants.map((p) => [p.name, p.seq])).toEqual([
      ['Ada', begin.seq],
      ['Babbage', begin.seq],
      ['Curie', begin.seq],
    ]);
    const dora = { ...report.participants[0]!, id: id(3), name: 'Dora' };
    expect(failed(resigned({ ...report, participants: [dora, ...report.participants.slice(1)] }))).toEqual([
      expect.stringMatching(/Dora .* holds a share at .*: no signed entry.*records .* holds a share at .*not list it/),
    ]);
    const { custodyBegun: _dropped, ...ceremony } = report.ceremony!;
    const older = resigned({ ...report, v: 1, ceremony, participants: report.participants.slice(1) });
    expect(older.ok).toBe(true);
    expect(older.checks).toContainEqual(
      expect.objectContaining({ check: expect.stringMatching(/^participants/), skipped: true }),
    );
  });
});

describe('a turnover report’s new holders', () => {
  it('list the requester’s confirmation as a new holder from its signed entry; left out or moved, it fails', async () => {
    // Ada proposes and will hold a share: she confirms with both factors, which is not an approval.
    const proposal = quorum.propose({
      custodyId,
      action: 'custody.redeal',
      params: { threshold: 2, holders: f.holders(0, 1, 2).map((h) => h.custodianId) },
      requestedBy: id(0),
    });
    expect((await f.approveAll(quorum, proposal, [1, 0, 2])).state).toBe('executed');
    const report = made({ proposalId: proposal.id });
    expect(report.participants.map((p) => `${p.name} ${p.part}`)).toEqual([
      'Ada proposed',
      'Babbage approved',
      'Curie approved',
      'Ada confirmed as new holder',
    ]);
    const confirmed = report.participants[3]!;
    const entry = JSON.parse(report.audit.entries.find((e) => e.seq === confirmed.seq)!.entry) as {
      action: string;
      time: string;
    };
    expect(entry).toMatchObject({ action: 'proposal.confirm-holder', time: confirmed.at });
    expect(resigned(report).ok).toBe(true);
    await reports.exportTo(report.reportId, join(dataDir, 'turnover'));
    const pdf = execFileSync('pdftotext', [join(dataDir, 'turnover', 'report.pdf'), '-'], { encoding: 'utf8' });
    expect(pdf).toMatch(/Ada \([^)]*\) confirmed as new holder at/);
    expect(pdf).toContain('Ada (proposer) — name and signature');
    const others = report.participants.slice(0, 3);
    expect(failed(resigned({ ...report, participants: others }))).toEqual([
      expect.stringMatching(new RegExp(`entry ${confirmed.seq} records ${id(0)} confirmed as new holder at`)),
    ]);
    const moved = { ...confirmed, at: '2020-01-01T00:00:00.000Z' };
    expect(failed(resigned({ ...report, participants: [...others, moved] }))).toEqual([
      expect.stringMatching(/Ada .* confirmed as new holder: the report says 2020-01-01T00:00:00.000Z/),
    ]);
    // A report made before confirmations were listed: they are said to be NOT CHECKED, the rest still is.
    const { listsHolderConfirmations: _listed, ...older } = report.ceremony!;
    const verdict = resigned({ ...report, v: 1, ceremony: older, participants: others });
    expect(verdict.ok).toBe(true);
    expect(verdict.checks).toContainEqual(
      expect.objectContaining({ check: 'new holders’ confirmations', skipped: true, detail: expect.any(String) }),
    );
  });
});

describe('a backup report’s card holders', () => {
  async function backedUp() {
    const generated = await f.approveAll(
      quorum,
      quorum.propose({
        custodyId,
        action: 'key.generate',
        params: {
          algorithm: 'AES-256',
          label: 'vault-kek',
          usage: 'wrap',
          backupable: true,
          cryptoperiodDays: 365,
          ckaId: randomBytes(16).toString('hex'),
        },
        requestedBy: id(0),
      }),
      [1, 2],
    );
    const keyId = (generated.outcome as { result: { keyId: string } }).result.keyId;
    const backup = await f.approveAll(
      quorum,
      quorum.propose({
        custodyId,
        action: 'key.backup',
        params: { keyIds: [keyId], holders: [id(0), id(1), id(2)], threshold: 2 },
        requestedBy: id(0),
      }),
      [1, 2],
    );
    return { backup, setId: (backup.outcome as { result: { setId: string } }).result.setId };
  }
  type Holder = { index: number; id: string; name: string; releasedAt: string | null; seq: number | null };
  const CARDS = /^card holders: each card’s holder and release as the signed entries of its backup set record them — /;

  it('are the approved holders, each release the signed entry’s (a refused one is none); one hidden, added, moved or swapped fails', async () => {
    const { backup, setId } = await backedUp();
    f.tick();
    await backups.releaseCard(setId, f.holders(1)[0]!);
    backups.forgetCards(setId);
    // Curie asks for her card too late: the refusal is recorded as the IPC router records it, and is no release.
    f.opened.audit.record({
      actor: { type: 'custodian', id: id(2), role: 'custodian' },
      action: 'backup.card.release',
      object: { type: 'backup', id: setId },
      result: { status: 'failed', code: 'BACKUP_NOT_FOUND' },
    });
    const report = made({ proposalId: backup.id });
    expect(resigned(report).ok).toBe(true);
    const holders = (report.ceremony as { cardHolders: Holder[] }).cardHolders;
    const release = report.audit.entries.find((e) => e.entry.includes('"backup.card.release"'))!;
    const time = (JSON.parse(release.entry) as { time: string }).time;
    expect(holders.map((h) => [h.name, h.releasedAt, h.seq])).toEqual([
      ['Ada', null, null],
      ['Babbage', time, release.seq],
      ['Curie', null, null],
    ]);
    const [ada, babbage, curie] = holders as [Holder, Holder, Holder];
    const forgeries: Record<string, { cardHolders: Holder[]; detail: RegExp }> = {
      'a release hidden': {
        cardHolders: [ada, { ...babbage, releasedAt: null, seq: null }, curie],
        detail: new RegExp(`Babbage .* card 2: the report says released at null .*entry ${release.seq} records card 2`),
      },
      'a release added': {
        cardHolders: [{ ...ada, releasedAt: time, seq: release.seq }, babbage, curie],
        detail: /Ada .* card 1 released at .*: no signed entry of this set records that/,
      },
      'a release moved': {
        cardHolders: [ada, { ...babbage, releasedAt: '2020-01-01T00:00:00.000Z' }, curie],
        detail: /Babbage .* card 2: the report says released at 2020-01-01T00:00:00.000Z/,
      },
      'holders swapped': {
        cardHolders: [{ ...babbage, index: 1 }, { ...ada, index: 2 }, curie],
        detail: /the report lists cards 1:\w+ 2:\w+ 3:\w+; the approved parameters name/,
      },
      'a holder left out': {
        cardHolders: [ada, curie],
        detail: new RegExp(
          `entry ${release.seq} records card 2 released to ${id(1)} at .*, and the report does not list it`,
        ),
      },
    };
    for (const [what, { cardHolders, detail }] of Object.entries(forgeries)) {
      const lines = failed(resigned({ ...report, ceremony: { ...report.ceremony!, cardHolders } }));
      expect(lines, what).toEqual([expect.stringMatching(CARDS)]);
      expect(lines[0], what).toMatch(detail);
    }
    const { cardHolders: _taken, ...unlisted } = report.ceremony!;
    expect(failed(resigned({ ...report, v: 1, ceremony: unlisted }))).toEqual([
      expect.stringMatching(/ — the report of a backup that made a set lists no card holders$/),
    ]);
    // A report made before each release named its entry: NOT CHECKED, and said so.
    const older = holders.map(({ seq: _seq, ...h }) => h);
    const verdict = resigned({ ...report, v: 1, ceremony: { ...report.ceremony!, cardHolders: older } });
    expect(verdict.ok).toBe(true);
    expect(verdict.checks).toContainEqual(
      expect.objectContaining({ check: expect.stringMatching(/^card holders/), skipped: true }),
    );
  });
  it('say when Custos forgot the cards, as the router’s backup.cards.forget entry records it, and print it', async () => {
    const { backup, setId } = await backedUp();
    await backups.releaseCard(setId, f.holders(1)[0]!);
    const before = made({ proposalId: backup.id });
    expect(before.ceremony).toMatchObject({ cardsForgotten: null });
    // The custodians confirm every card collected: the router records the request, then the service forgets them.
    f.tick();
    f.opened.audit.record({
      actor: { type: 'custodian', id: id(0), role: 'custodian' },
      action: 'backup.cards.forget',
      object: { type: 'backup', id: setId },
      params: { setId },
    });
    backups.forgetCards(setId);
    const summary = reports.create({ proposalId: backup.id });
    const report = reports.stored(summary.id).report;
    const entry = report.audit.entries.find((e) => e.entry.includes('"backup.cards.forget"'))!;
    const time = (JSON.parse(entry.entry) as { time: string }).time;
    expect(report.ceremony).toMatchObject({ cardsForgotten: { at: time, seq: entry.seq } });
    expect(report.steps.map((s) => s.action)).toContain('backup.cards.forget');
    expect(resigned(report).ok).toBe(true);
    await reports.exportTo(summary.id, join(dataDir, 'forgotten'));
    const pdf = execFileSync('pdftotext', [join(dataDir, 'forgotten', 'report.pdf'), '-'], { encoding: 'utf8' });
    expect(pdf.replace(/\s+/g, ' ')).toContain(`Custos forgot the cards at ${time} (audit entry ${entry.seq})`);
    const forgeries: Record<string, [unknown, RegExp]> = {
      'said not yet': [null, /the report says the cards were forgotten not yet; entry \d+ records it at/],
      moved: [{ at: '2020-01-01T00:00:00.000Z', seq: entry.seq }, /forgotten at 2020-01-01T00:00:00.000Z/],
    };
    for (const [what, [cardsForgotten, detail]] of Object.entries(forgeries)) {
      const lines = failed(resigned({ ...report, ceremony: { ...report.ceremony!, cardsForgotten } }));
      expect(lines, what).toEqual([expect.stringMatching(CARDS)]);
      expect(lines[0], what).toMatch(detail);
    }
  });
});

describe('a format-3 (or format-2) report with a marker taken out', () => {
  const MARKERS = /^report format: every marker its kind carries in format 3 — a format-3 report without /;
  const MARKERS_2 = /^report format: every marker its kind carries in format 2 — a format-2 report without /;
  const without = (object: Record<string, unknown>, key: string) =>
    Object.fromEntries(Object.entries(object).filter(([k]) => k !== key));

  it('fails, naming the marker, instead of passing as an older report whose checks are NOT CHECKED', async () => {
    const done = await f.approveAll(quorum, drill(), [1, 2]);
    reports.witness(done.id, 'Wanda', 'auditor');
    const report = made({ proposalId: done.id });
    expect(report.v).toBe(3);
    expect(resigned(report).ok).toBe(true);
    const ceremony = report.ceremony!;
    const unnamed = report.participants.map(({ seq: _seq, ...p }) => p);
    const strippings: Record<string, Omit<CeremonyReport, 'v'> & { v: number }> = {
      'participants.0.seq': { ...report, participants: unnamed },
      'witnesses.0.seq': { ...report, witnesses: report.witnesses.map(({ seq: _seq, ...w }) => w) },
      'ceremony.listsHolderConfirmations': { ...report, ceremony: without(ceremony, 'listsHolderConfirmations') },
      'ceremony.custodyBegun': { ...report, ceremony: without(ceremony, 'custodyBegun') },
      'ceremony.fingerprinted': { ...report, ceremony: without(ceremony, 'fingerprinted') },
      'ceremony.outcomeAsRecorded': { ...report, ceremony: without(ceremony, 'outcomeAsRecorded') },
    };
    for (const [marker, stripped] of Object.entries(strippings)) {
      const lines = failed(resigned(stripped));
      expect(lines, marker).toContainEqual(expect.stringMatching(MARKERS));
      expect(
        lines.find((l) => MARKERS.test(l)),
        marker,
      ).toContain(marker);
      // Format 2 required them too: said to be format 2, it still fails.
      expect(failed(resigned({ ...stripped, v: 2 })), marker).toContainEqual(expect.stringMatching(MARKERS_2));
      // The same report saying it is format 1 passes these checks here (NOT CHECKED): only a later log tells them
      // apart (report-bundle.test.ts).
      expect(failed(resigned({ ...stripped, v: 1 })), marker).not.toContainEqual(expect.stringMatching(MARKERS));
    }
    expect(failed(resigned({ ...report, v: 4 }))).toEqual([
      expect.stringMatching(/^report format: .* — v is 4: no such report format$/),
    ]);
    const custody = made({ custodyId });
    expect(failed(resigned({ ...custody, ceremony: without(custody.ceremony!, 'custodyBegun') }))).toEqual([
      expect.stringMatching(/ceremony\.custodyBegun$/),
    ]);
  });
});

describe('a proposal report’s fingerprint', () => {
  it('is recomputed from its action, parameters, token and expiry, and is the one proposal.create recorded', async () => {
    const done = await f.approveAll(quorum, drill(), [1, 2]);
    const report = made({ proposalId: done.id });
    const ceremony = report.ceremony as Record<string, unknown> & { fingerprinted: string; fingerprint: string };
    const FINGERPRINT = /^fingerprint: recomputed from the report’s action, parameters, token and expiry.* — /;
    const edits: Record<string, [Record<string, unknown>, RegExp]> = {
      'the parameters': [{ params: { rounds: 3 } }, /ceremony\.params\.rounds differs from what was approved/],
      'the token': [{ token: { ...(ceremony.token as object), serial: 'other' } }, /ceremony\.token\.serial differs/],
      'the expiry': [{ expiresAt: '2099-01-01T00:00:00.000Z' }, /ceremony\.expiresAt differs/],
      'the action': [{ action: 'key.destroy' }, /ceremony\.action differs/],
      'the fingerprint': [{ fingerprint: 'f'.repeat(64) }, /not to ceremony\.fingerprint f{64}/],
    };
    for (const [what, [edit, detail]] of Object.entries(edits)) {
      const lines = failed(resigned({ ...report, ceremony: { ...ceremony, ...edit } }));
      expect(lines, what).toContainEqual(expect.stringMatching(FINGERPRINT));
      expect(
        lines.find((l) => FINGERPRINT.test(l)),
        what,
      ).toMatch(detail);
    }
    // Parameters, body and fingerprint changed together: they agree, but not with the signed proposal.create entry.
    const body = { ...(JSON.parse(ceremony.fingerprinted) as object), params: { rounds: 3 } };
    const fingerprinted = canonicalJson(body);
    const consistent = { ...ceremony, params: { rounds: 3 }, fingerprinted, fingerprint: sha256Hex(fingerprinted) };
    expect(failed(resigned({ ...report, ceremony: consistent }))).toContainEqual(
      expect.stringMatching(/^fingerprint: .* — entry \d+ \(proposal\.create\) records another fingerprint/),
    );
    // Its carried proposal.create entry taken out.
    const entries = report.audit.entries.filter((e) => !e.entry.includes('"proposal.create"'));
    expect(failed(resigned({ ...report, audit: { ...report.audit, entries } }))).toContainEqual(
      expect.stringMatching(/^fingerprint: .* — the report carries no proposal\.create entry of this proposal/),
    );
  });
});

describe('a key generation report’s keys', () => {
  it('are the keys the run’s signed outcome recorded: another public key or fingerprint fails', async () => {
    const proposal = quorum.propose({
      custodyId,
      action: 'key.generate',
      params: {
        algorithm: 'EC-P256',
        label: 'payments-signing',
        usage: 'sign',
        backupable: false,
        cryptoperiodDays: 365,
        ckaId: randomBytes(16).toString('hex'),
      },
      requestedBy: id(0),
    });
    const done = await f.approveAll(quorum, proposal, [1, 2]);
    expect(done.state).toBe('executed');
    const report = made({ proposalId: done.id });
    expect(resigned(report).ok).toBe(true);
    const [key] = report.keys as [CeremonyReport['keys'][number]];
    // Whoever holds the audit key signs a new report naming a key pair of their own as the one the quorum generated.
    const theirs = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey;
    const pem = theirs.export({ format: 'pem', type: 'spki' }).toString();
    const fingerprint = createHash('sha256')
      .update(theirs.export({ format: 'der', type: 'spki' }))
      .digest('hex');
    const KEYS = /^keys: each key’s public key, fingerprint and check value as the run’s signed outcome recorded — /;
    for (const [what, forged] of [
      ['another public key', { ...key, publicKeyPem: pem }],
      ['another public key with its fingerprint', { ...key, publicKeyPem: pem, fingerprint }],
      ['another public key under another id', { ...key, id: 'ab'.repeat(16), publicKeyPem: pem, fingerprint }],
    ] as const) {
      const lines = failed(resigned({ ...report, keys: [forged] }));
      expect(lines, what).toEqual([expect.stringMatching(KEYS)]);
    }
  });
});

describe('a key rotation report’s keys', () => {
  it('are the old key and its successor, the outcome’s fingerprint the successor’s: the genuine report passes', async () => {
    const approved = async (action: string, params: Record<string, unknown>) => {
      const done = await f.approveAll(
        quorum,
        quorum.propose({ custodyId, action, params, requestedBy: id(0) }),
        [1, 2],
      );
      expect(done.state, action).toBe('executed');
      return done;
    };
    const params = { algorithm: 'EC-P256', label: 'payments-signing', usage: 'sign', backupable: false };
    const ckaId = randomBytes(16).toString('hex');
    await approved('key.generate', { ...params, cryptoperiodDays: 365, ckaId });
    await approved('key.activate', { keyId: ckaId });
    const rotation = await approved('key.rotate', { keyId: ckaId, ckaId: randomBytes(16).toString('hex') });
    const report = made({ proposalId: rotation.id });
    expect(report.keys).toHaveLength(2);
    // Before, the successor's fingerprint beside the old key's id in the outcome was compared with the old key's.
    expect(failed(resigned(report))).toEqual([]);
    const successor = (rotation.outcome as { result: { successorId: string } }).result.successorId;
    const old = report.keys.find((k) => k.id === ckaId)!;
    const swapped = report.keys.map((k) =>
      k.id === successor ? { ...k, publicKeyPem: old.publicKeyPem, fingerprint: old.fingerprint } : k,
    );
    expect(failed(resigned({ ...report, keys: swapped }))).toEqual([
      expect.stringMatching(/^keys: .* as the run’s signed outcome recorded — key \w+: the outcome recorded another/),
    ]);
  });
});
