import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { leafHash, MemoryTree } from '../audit/merkle';
import { BackupService } from '../backup/backup-service';
import { KeyInventory } from '../keys/key-inventory';
import { keyOperations } from '../keys/key-operations';
import { quorumDrill } from '../quorum/drill';
import { ACTION_PARAMS } from '../../../shared/actions';
import type { QuorumService } from '../quorum/quorum-service';
import { quorumFixture } from '../testing/quorum-fixture';
import { opensslVerifyReport } from '../testing/openssl';
import { tempDataDir } from '../testing/softhsm-fixture';
import { renderReportPdf } from './report-pdf';
import { ReportService } from './report-service';
import { verifyReport, verifyReportPdf, type LaterLog } from './report-verify';
import { fingerprintInGroups } from '../../../shared/backups';
import { sql } from '../store/sql';
import { canonicalJson, sha256Hex } from '../canonical-json';
import type { CeremonyReport } from './ceremony-report';

let dataDir: string;
let cleanup: () => void;
let f: Awaited<ReturnType<typeof quorumFixture>>;
let quorum: QuorumService;
let reports: ReportService;
let backups: BackupService;
let proposalId: string;
let keyId: string;

beforeEach(async () => {
  ({ dataDir, cleanup } = tempDataDir());
  f = await quorumFixture(dataDir, [
    { name: 'Ada Lovelace' },
    { name: 'Γιώργος Παπαδάκης' },
    { name: 'Zoë Ñúñez-Łukasz' },
    { name: 'Ольга Петрова', roles: ['security-officer'] },
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
    { 'key.backup': backups.backupCeremony() },
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
    token: (ref) => ({
      ...ref,
      manufacturer: 'SoftHSM project',
      model: 'SoftHSM v2',
      kind: 'software token',
      validation: 'none: software token (SoftHSM), not a FIPS 140-3 validated HSM',
    }),
  });
  const custodyId = (
    await f.custody.take({
      token: { serial: '', label: '' },
      threshold: 2,
      holders: f.holders(0, 1, 2),
      label: 'reports',
    })
  ).id;
  const proposal = quorum.propose({
    custodyId,
    action: 'key.generate',
    params: {
      algorithm: 'EC-P256',
      label: 'signing-2026',
      usage: 'sign',
      backupable: false,
      cryptoperiodDays: 730,
      ckaId: randomBytes(16).toString('hex'),
    },
    requestedBy: f.enrolled[0]!.id,
  });
  const done = await f.approveAll(quorum, proposal, [1, 2]);
  proposalId = done.id;
  keyId = (done.outcome as { result: { keyId: string } }).result.keyId;
});
afterEach(() => {
  quorum.forgetAll();
  backups.forgetAll();
  f.close();
  cleanup();
});

const key = () => f.opened.audit.noteKey()!;
const liveLog = (): LaterLog => {
  const log = f.opened.audit.log();
  return {
    size: log.size(),
    root: (n) => log.root(n),
    consistencyProof: (a, b) => log.consistencyProof(a, b),
    source: 'the live log',
  };
};

async function exported() {
  const summary = reports.create({ proposalId });
  const dir = join(dataDir, 'report');
  await reports.exportTo(summary.id, dir);
  return {
    summary,
    dir,
    json: readFileSync(join(dir, 'report.json')),
    signature: readFileSync(join(dir, 'report.sig')),
  };
}
const pdfFiles = (dir: string) => {
  const read = (name: string) => (existsSync(join(dir, name)) ? readFileSync(join(dir, name)) : null);
  return { pdf: read('report.pdf'), binding: read('report-pdf.json'), bindingSignature: read('report-pdf.sig') };
};
const pdfVerdict = (dir: string) => verifyReportPdf(readFileSync(join(dir, 'report.json')), pdfFiles(dir), key());
const failures = (dir: string) =>
  pdfVerdict(dir)
    .filter((c) => !c.ok)
    .map((c) => `${c.code}: ${c.detail}`);
const sha256sum = (file: string) => execFileSync('sha256sum', [file], { encoding: 'utf8' }).split(' ')[0];
const pdfText = (file: string) => execFileSync('pdftotext', [file, '-'], { encoding: 'utf8' });

describe('a ceremony report', () => {
  it('verifies with openssl and with Custos: signature, checkpoint, every entry and its inclusion proof', async () => {
    const { dir, json, signature, summary } = await exported();
    expect(opensslVerifyReport(dir)).toContain('Signature Verified Successfully');
    const verdict = verifyReport(json, signature, key(), liveLog());
    expect(verdict).toMatchObject({ ok: true, reportId: summary.id, type: 'key.generate' });
    expect(verdict.entries).toBeGreaterThanOrEqual(5);
    const report = JSON.parse(json.toString()) as {
      participants: { name: string; part: string; factors: string[] }[];
      keys: { id: string; publicKeyPem: string; policy: { status: string } }[];
      steps: { action: string }[];
      ceremony: { fingerprint: string; token: { validation: string } };
    };
    expect(report.participants.map((p) => `${p.name} ${p.part}`)).toEqual([
      'Ada Lovelace proposed',
      'Γιώργος Παπαδάκης approved',
      'Zoë Ñúñez-Łukasz approved',
    ]);
    expect(report.participants.every((p) => p.factors.join('+') === 'passphrase+totp')).toBe(true);
    expect(report.keys).toMatchObject([
      { id: keyId, publicKeyPem: expect.stringContaining('BEGIN PUBLIC KEY'), policy: { status: 'acceptable' } },
    ]);
    // The custody's begin entry comes first: it binds the threshold and the number of share holders (2 of 3).
    expect(report.steps.map((s) => s.action)).toEqual([
      'custody.begin',
      'proposal.create',
      'proposal.approve',
      'proposal.approve',
      'proposal.execute.begin',
      'proposal.execute',
    ]);
    expect(report.ceremony).toMatchObject({ threshold: 2, holders: 3, custodyBegun: { threshold: 2 } });
    expect(verdict.checks.filter((c) => /^(participants|threshold|quorum)/.test(c.check))).toEqual([
      { check: expect.stringMatching(/^threshold and share holders/), ok: true },
      { check: expect.stringMatching(/^participants: each part/), ok: true },
      { check: 'quorum met: 2 distinct approvers recorded, threshold 2', ok: true },
    ]);
    expect(report.ceremony.token.validation).toContain('not a FIPS 140-3 validated HSM');
  });

  it('fails both openssl and Custos when any byte of the JSON or the signature changes', async () => {
    const { dir, json, signature } = await exported();
    const flipped = Buffer.from(json);
    flipped[Math.floor(flipped.length / 2)]! ^= 1;
    writeFileSync(join(dir, 'bad.json'), flipped);
    expect(opensslVerifyReport(dir, 'bad.json')).not.toContain('Signature Verified Successfully');
    expect(verifyReport(flipped, signature, key()).ok).toBe(false);
    const badSig = Buffer.from(signature);
    badSig[10]! ^= 1;
    writeFileSync(join(dir, 'bad.sig'), badSig);
    expect(opensslVerifyReport(dir, 'report.json', 'bad.sig')).not.toContain('Signature Verified Successfully');
    expect(verifyReport(json, badSig, key()).checks[0]).toMatchObject({ ok: false });
  });

  it('fails when its checkpoint is inconsistent with a later log (history rewritten)', async () => {
    const { json, signature } = await exported();
    f.opened.audit.log().record({ actor: { type: 'system', id: 'system' }, action: 'later.entry' });
    expect(verifyReport(json, signature, key(), liveLog()).ok).toBe(true);
    // The same log with one early entry rewritten, as someone with the database might try.
    const tree = new MemoryTree();
    for (const stored of f.opened.audit.log().entries())
      tree.append(leafHash(Buffer.from(stored.seq === 3 ? stored.entry.replace('"ok"', '"failed"') : stored.entry)));
    const rewritten: LaterLog = {
      size: tree.size,
      root: (n) => tree.root(n),
      consistencyProof: () => [],
      source: 'a rewritten log',
    };
    const verdict = verifyReport(json, signature, key(), rewritten);
    expect(verdict.ok).toBe(false);
    expect(verdict.checks.at(-1)).toMatchObject({ ok: false, detail: 'the log was rewritten after this report' });
  });

  it('carries the witnesses who signed off on the ceremony, in the JSON and on the PDF', async () => {
    reports.witness(proposalId, 'Grace Hopper', 'Internal audit');
    const { json, signature, dir } = await exported();
    const report = JSON.parse(json.toString()) as CeremonyReport;
    expect(report.witnesses).toEqual([
      { name: 'Grace Hopper', role: 'Internal audit', at: expect.any(String), seq: expect.any(Number) },
    ]);
    // Its signed entry is in the report with a proof, so an auditor checks the sign-off offline.
    const entry = report.audit.entries.find((e) => e.seq === report.witnesses[0]!.seq)!;
    expect(JSON.parse(entry.entry)).toMatchObject({ action: 'ceremony.witness', object: { id: proposalId } });
    expect(verifyReport(json, signature, key()).checks).toContainEqual({
      check: 'witness Grace Hopper (Internal audit): recorded by a signed entry on this ceremony',
      ok: true,
    });
    expect(execFileSync('pdftotext', [join(dir, 'report.pdf'), '-'], { encoding: 'utf8' })).toContain(
      'Grace Hopper (Internal audit) signed off',
    );
    expect(() => reports.witness('ffffffffffffffff', 'Nobody', 'none')).toThrow(
      expect.objectContaining({ code: 'PROPOSAL_NOT_FOUND' }),
    );
  });

  it('is refused, not signed, when a witness sign-off was added or changed in the database without its entry', async () => {
    reports.witness(proposalId, 'Grace Hopper', 'Internal audit');
    const forge = (change: () => void) => {
      change();
      expect(() => reports.create({ proposalId })).toThrow(expect.objectContaining({ code: 'CEREMONY_TAMPERED' }));
    };
    const eve = sql`INSERT INTO witnesses (ceremony_id, name, role, signed_at)
      VALUES (${proposalId}, 'Eve Auditor (KPMG)', 'external auditor', '2026-12-03T22:50:00.000Z')`;
    forge(() => f.opened.store.execute(eve));
    f.opened.store.execute(sql`DELETE FROM witnesses WHERE name = 'Eve Auditor (KPMG)'`);
    forge(() => f.opened.store.execute(sql`UPDATE witnesses SET role = 'External auditor (KPMG)'`));
    f.opened.store.execute(sql`UPDATE witnesses SET role = 'Internal audit'`);
    forge(() => f.opened.store.execute(sql`UPDATE witnesses SET signed_at = '2026-01-01T00:00:00.000Z'`));
    // A genuine sign-off dropped from the table is missed too.
    forge(() => f.opened.store.execute(sql`DELETE FROM witnesses`));
    await new Promise((resolve) => setImmediate(resolve)); // refusals are recorded with the next group commit
    const refusals = f.opened.store.all<{ entry: string }>(
      sql`SELECT entry FROM audit_entries WHERE action = 'ceremony.tampered'`,
    );
    expect(refusals).toHaveLength(4);
    expect(JSON.parse(refusals[0]!.entry)).toMatchObject({
      object: { type: 'ceremony', id: proposalId },
      result: { status: 'refused', code: 'CEREMONY_TAMPERED' },
    });
  });

  it('takes a sign-off recorded before its time was bound (name and role hashed) at the time its entry signed', () => {
    const object = { type: 'ceremony', id: proposalId };
    const action = 'ceremony.witness';
    f.opened.audit.record(
      { actor: { type: 'system', id: 'system' }, action, object, params: { name: 'Ida', role: 'QA' } },
      () =>
        f.opened.store.execute(sql`INSERT INTO witnesses (ceremony_id, name, role, signed_at)
        VALUES (${proposalId}, 'Ida', 'QA', '2026-01-01T00:00:00.000Z')`),
    );
    const { report, json, signature } = reports.stored(reports.create({ proposalId }).id);
    const entry = report.audit.entries.find((e) => e.seq === report.witnesses[0]!.seq)!;
    expect(report.witnesses).toEqual([{ name: 'Ida', role: 'QA', at: JSON.parse(entry.entry).time, seq: entry.seq }]);
    expect(verifyReport(json, signature, key()).ok).toBe(true);
  });

  it('ties its outcome and state to the run’s signed entry: a re-signed report with another outcome fails', () => {
    const { report } = reports.stored(reports.create({ proposalId }).id);
    const json = Buffer.from(canonicalJson(report), 'utf8');
    const checked = verifyReport(json, f.opened.audit.signDocument(json), key());
    expect(checked.ok).toBe(true);
    expect(checked.checks).toContainEqual({ check: expect.stringMatching(/^outcome and state/), ok: true });
    const ceremony = report.ceremony as { outcome: { result: Record<string, unknown> }; outcomeAsRecorded: string };
    const forgedOutcome = { ...ceremony.outcome, result: { ...ceremony.outcome.result, label: 'another key' } };
    const forgeries = {
      'the outcome only': { ...ceremony, outcome: forgedOutcome },
      'the outcome and the stored string': {
        ...ceremony,
        outcome: forgedOutcome,
        outcomeAsRecorded: JSON.stringify(forgedOutcome),
      },
      'the state': { ...ceremony, state: 'failed' },
      'the stored string dropped': { ...ceremony, outcomeAsRecorded: undefined },
    };
    for (const [what, forged] of Object.entries(forgeries)) {
      // Signed by the audit key itself: only the binding to the run's entry can catch it.
      const bytes = Buffer.from(canonicalJson({ ...report, ceremony: forged }), 'utf8');
      const verdict = verifyReport(bytes, f.opened.audit.signDocument(bytes), key());
      const outcome = verdict.checks.find((c) => c.check.startsWith('outcome and state'));
      if (what === 'the stored string dropped') expect(outcome, what).toMatchObject({ skipped: true });
      else expect(outcome, what).toMatchObject({ ok: false });
    }
  });

  it('fails verification when a witness sign-off is not the one its entry recorded, even if re-signed', () => {
    reports.witness(proposalId, 'Grace Hopper', 'Internal audit');
    const { report } = reports.stored(reports.create({ proposalId }).id);
    const w = report.witnesses[0]!;
    const otherEntry = report.audit.entries.find((e) => e.seq !== w.seq)!.seq;
    for (const witnesses of [[{ ...w, name: 'Eve Auditor (KPMG)' }], [{ ...w, seq: otherEntry }]]) {
      // Signed by the audit key itself: only the binding to the witness entry can catch it.
      const bytes = Buffer.from(canonicalJson({ ...report, witnesses }), 'utf8');
      const verdict = verifyReport(bytes, f.opened.audit.signDocument(bytes), key());
      expect(verdict.ok).toBe(false);
      expect(verdict.checks.filter((c) => !c.ok).map((c) => c.check)).toEqual([
        expect.stringMatching(/^witness .* recorded by a signed entry on this ceremony$/),
      ]);
    }
  });

  it('prints as a PDF carrying the report id and the JSON’s hash on every page, participants and key fingerprints', async () => {
    const { dir, summary } = await exported();
    const text = execFileSync('pdftotext', ['-layout', join(dir, 'report.pdf'), '-'], { encoding: 'utf8' });
    const pages = text.split('\f').filter((p) => p.trim().length > 0);
    expect(pages.length).toBeGreaterThanOrEqual(2);
    pages.forEach((page, i) =>
      expect(page).toContain(
        `Custos report ${summary.id} · SHA-256 ${summary.sha256} · page ${i + 1} of ${pages.length}`,
      ),
    );
    for (const expected of [
      'Key generation ceremony',
      'Ada Lovelace',
      'Γιώργος Παπαδάκης',
      'Zoë Ñúñez-Łukasz',
      keyId,
      'Witness — name and signature',
    ])
      expect(text).toContain(expected);
    const report = JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')) as { keys: { fingerprint: string }[] };
    expect(text.replace(/\s+/g, '')).toContain(report.keys[0]!.fingerprint);
    // Names in any script DejaVu Sans covers, in fonts embedded as subsets (emb, sub, uni: yes) of a few kB.
    const fonts = execFileSync('pdffonts', [join(dir, 'report.pdf')], { encoding: 'utf8' });
    for (const font of ['DejaVuSans', 'DejaVuSans-Bold', 'DejaVuSansMono'])
      expect(fonts).toMatch(new RegExp(`^[A-Z]{6}\\+${font} +CID TrueType +Identity-H +yes +yes +yes `, 'm'));
    expect(statSync(join(dir, 'report.pdf')).size).toBeLessThan(150_000);
  });

  it('is made for taking a token into custody: the holders who proved both factors, and the journal before the token changed', () => {
    const custodyId = quorum.view(proposalId).custodyId;
    const made = reports.create({ custodyId });
    const { json, signature, report } = reports.stored(made.id);
    expect(verifyReport(json, signature, key())).toMatchObject({ ok: true, type: 'custody.take' });
    expect(report.participants.map((p) => p.name)).toEqual(['Ada Lovelace', 'Zoë Ñúñez-Łukasz', 'Γιώργος Παπαδάκης']);
    expect(report.steps.map((s) => s.action)).toEqual([
      'custodian.factor.verify',
      'custodian.factor.verify',
      'custodian.factor.verify',
      'custody.begin',
      'custody.take',
    ]);
    expect(report.ceremony).toMatchObject({ threshold: 2, holders: 3 });
  });

  it('is a destruction certificate for a key destroyed by the quorum and a security officer, with the proof of absence', async () => {
    const custodyId = quorum.view(proposalId).custodyId;
    const propose = (action: string, params: Record<string, unknown>) =>
      quorum.propose({ custodyId, action, params, requestedBy: f.enrolled[0]!.id });
    await f.approveAll(quorum, propose('key.schedule-destruction', { keyId, waitDays: 7 }), [1, 2]);
    f.clock.now = new Date(f.clock.now.getTime() + 7 * 86_400_000);
    const destroyed = await f.approveAll(quorum, propose('key.destroy', { keyId }), [1, 2, 3]);
    expect(destroyed.state).toBe('executed');
    const made = reports.create({ proposalId: destroyed.id });
    const { json, signature, report } = reports.stored(made.id);
    expect(verifyReport(json, signature, key())).toMatchObject({ ok: true, type: 'destruction-certificate' });
    expect(report.participants.map((p) => `${p.name} ${p.part}`)).toEqual([
      'Ada Lovelace proposed',
      'Γιώργος Παπαδάκης approved',
      'Zoë Ñúñez-Łukasz approved',
      'Ольга Петрова approved',
    ]);
    expect(report.keys).toMatchObject([{ id: keyId, state: 'destroyed' }]);
    expect(report.ceremony).toMatchObject({ outcome: { result: { objectsDestroyed: 2, remaining: 0 } } });
    expect(report.steps.map((s) => s.action)).toContain('key.destroyed');
    const pdf = await renderReportPdf(report, made.sha256);
    writeFileSync(join(dataDir, 'certificate.pdf'), pdf);
    const printed = pdfText(join(dataDir, 'certificate.pdf')).replace(/\s+/g, ' ');
    expect(printed).toContain('Key destruction certificate');
    expect(printed).toContain('Report format: 3');
    expect(printed).toContain('Ольга Петрова (security-officer) approved at');
    expect(printed).toContain('Ольга Петрова (approver) — name and signature');
  });

  it('of a rejected proposal names who rejected it and why, in the signed JSON and on the PDF', async () => {
    const open = quorum.propose({
      custodyId: quorum.view(proposalId).custodyId,
      action: 'token.quorum-drill',
      params: {},
      requestedBy: f.enrolled[0]!.id,
    });
    // The JSON keeps the reason as written; the PDF prints U+FFFD for what DejaVu Sans has no glyph for (CJK).
    const reason = 'Heard a different fingerprint read aloud (指紋)';
    quorum.reject(open.id, f.enrolled[2]!.id, reason);
    const summary = reports.create({ proposalId: open.id });
    const dir = join(dataDir, 'rejected');
    await reports.exportTo(summary.id, dir);
    const report = JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')) as {
      ceremony: { state: string; decision: unknown };
      participants: { name: string; part: string }[];
    };
    expect(report.ceremony).toMatchObject({
      state: 'rejected',
      decision: { status: 'recorded', by: f.enrolled[2]!.id, byName: 'Zoë Ñúñez-Łukasz', reason },
    });
    expect(report.participants).toContainEqual(expect.objectContaining({ name: 'Zoë Ñúñez-Łukasz', part: 'rejected' }));
    const text = pdfText(join(dir, 'report.pdf')).replace(/\s+/g, ' ');
    expect(text).toContain('Rejected by: Zoë Ñúñez-Łukasz');
    expect(text).toContain('Reason: Heard a different fingerprint read aloud (\uFFFD\uFFFD)');
  });

  it('is refused, not signed, when the proposal’s stored outcome is not what the audit log recorded', () => {
    // A database writer gives the generation another key's id: the report would have named it, signed.
    const stored = f.opened.store.get<{ outcome: string }>(
      sql`SELECT outcome FROM proposals WHERE id = ${proposalId}`,
    )!;
    const forged = stored.outcome.replace(keyId, 'f'.repeat(32));
    expect(forged).not.toBe(stored.outcome);
    f.opened.store.execute(sql`UPDATE proposals SET outcome = ${forged} WHERE id = ${proposalId}`);
    expect(() => reports.create({ proposalId })).toThrow(expect.objectContaining({ code: 'PROPOSAL_TAMPERED' }));
    // Put back byte for byte, it is proven again.
    f.opened.store.execute(sql`UPDATE proposals SET outcome = ${stored.outcome} WHERE id = ${proposalId}`);
    expect(reports.create({ proposalId }).id).toMatch(/./);
  });

  it('dates the proposal by its signed entry, not by the row’s column a database writer can edit', async () => {
    const created = f.opened.store.get<{ time: string }>(
      sql`SELECT time FROM audit_entries WHERE object = ${`proposal:${proposalId}`} AND action = 'proposal.create'`,
    )!.time;
    f.opened.store.execute(sql`UPDATE proposals SET created_at = '2020-01-01T00:00:00.000Z' WHERE id = ${proposalId}`);
    const { json } = await exported();
    const report = JSON.parse(json.toString()) as {
      ceremony: { proposedAt: string };
      participants: { part: string; at: string }[];
    };
    expect(report.ceremony.proposedAt).toBe(created);
    expect(report.participants.find((p) => p.part === 'proposed')!.at).toBe(created);
  });

  it('is refused, not signed without the key, when the key’s stored record was changed', () => {
    const reportsMade = () =>
      f.opened.store.get<{ n: number }>(sql`SELECT count(*) AS n FROM audit_entries WHERE action = 'report.create'`)!.n;
    const before = reportsMade();
    f.opened.store.execute(sql`UPDATE keys SET label = 'totally-different-key' WHERE id = ${keyId}`);
    expect(() => reports.create({ proposalId })).toThrow(expect.objectContaining({ code: 'KEY_TAMPERED' }));
    expect(() => reports.create({ inventory: true })).toThrow(expect.objectContaining({ code: 'KEY_TAMPERED' }));
    expect(reportsMade()).toBe(before);
    expect(reports.list()).toEqual([]);
  });

  it('leaves out, and says so in words, only a key that is not in the inventory', () => {
    const missing = 'f'.repeat(32);
    const open = quorum.propose({
      custodyId: quorum.view(proposalId).custodyId,
      action: 'key.schedule-destruction',
      params: { keyId: missing, waitDays: 7 },
      requestedBy: f.enrolled[0]!.id,
    });
    quorum.reject(open.id, f.enrolled[2]!.id, 'No such key');
    const { report } = reports.stored(reports.create({ proposalId: open.id }).id);
    expect(report.keys).toEqual([]);
    expect(JSON.stringify(report.ceremony!.paramsInWords)).toContain('(not in the inventory)');
  });

  it('is also made for the key inventory, and refused for a ceremony still open', async () => {
    const inventory = reports.create({ inventory: true });
    const { json, signature } = reports.stored(inventory.id);
    expect(verifyReport(json, signature, key())).toMatchObject({ ok: true, type: 'key-inventory' });
    const open = quorum.propose({
      custodyId: quorum.view(proposalId).custodyId,
      action: 'token.quorum-drill',
      params: {},
      requestedBy: f.enrolled[0]!.id,
    });
    expect(() => reports.create({ proposalId: open.id })).toThrow(expect.objectContaining({ code: 'PROPOSAL_CLOSED' }));
  });

  it('binds its PDF: untouched it verifies (also by openssl and sha256sum); a flipped byte, another report’s PDF or none is refused', async () => {
    const { dir } = await exported();
    expect(pdfVerdict(dir).every((c) => c.ok)).toBe(true);
    // Without Custos: the binding is signed by the audit key and names both files by their SHA-256.
    expect(opensslVerifyReport(dir, 'report-pdf.json', 'report-pdf.sig')).toContain('Signature Verified Successfully');
    const binding = JSON.parse(readFileSync(join(dir, 'report-pdf.json'), 'utf8')) as {
      report: { sha256: string };
      pdf: { sha256: string };
    };
    expect(sha256sum(join(dir, 'report.pdf'))).toBe(binding.pdf.sha256);
    expect(sha256sum(join(dir, 'report.json'))).toBe(binding.report.sha256);

    const pdf = readFileSync(join(dir, 'report.pdf'));
    const flipped = Buffer.from(pdf);
    flipped[Math.floor(flipped.length / 2)]! ^= 1;
    writeFileSync(join(dir, 'report.pdf'), flipped);
    expect(failures(dir)).toEqual([
      expect.stringMatching(
        /^REPORT_PDF_MISMATCH: report\.pdf has SHA-256 [0-9a-f]{64}: it is not the PDF printed from this report$/,
      ),
    ]);
    expect(sha256sum(join(dir, 'report.pdf'))).not.toBe(binding.pdf.sha256);
    writeFileSync(join(dir, 'report.pdf'), pdf);
    // report.json changed after the binding: the binding is this report's, so it must not say "another report".
    const json = readFileSync(join(dir, 'report.json'), 'utf8');
    writeFileSync(join(dir, 'report.json'), json.replace('"generatedAt":"', '"generatedAt":"1'));
    expect(failures(dir)).toEqual([
      `REPORT_PDF_MISMATCH: report-pdf.json names a report.json with SHA-256 ${binding.report.sha256}, not this one ` +
        `(${sha256sum(join(dir, 'report.json'))}): report.json was changed after its PDF was bound`,
    ]);
    // One that no longer reads as a report names no report at all.
    writeFileSync(join(dir, 'report.json'), '{not json');
    expect(failures(dir)).toEqual([
      `REPORT_PDF_MISMATCH: report-pdf.json names a report.json with SHA-256 ${binding.report.sha256}, not this one ` +
        `(${sha256sum(join(dir, 'report.json'))})`,
    ]);
    writeFileSync(join(dir, 'report.json'), json);

    const other = join(dataDir, 'inventory');
    await reports.exportTo(reports.create({ inventory: true }).id, other);
    copyFileSync(join(other, 'report.pdf'), join(dir, 'report.pdf'));
    expect(failures(dir)).toEqual([expect.stringMatching(/^REPORT_PDF_MISMATCH: report\.pdf has SHA-256/)]);
    // The other report's PDF with its own signed binding: signed, but for another report.json.
    for (const name of ['report-pdf.json', 'report-pdf.sig']) copyFileSync(join(other, name), join(dir, name));
    const otherId = (JSON.parse(readFileSync(join(other, 'report.json'), 'utf8')) as { reportId: string }).reportId;
    expect(failures(dir)).toEqual([`REPORT_PDF_MISMATCH: report-pdf.json was made for another report (${otherId})`]);

    rmSync(join(dir, 'report.pdf'));
    expect(failures(dir)).toEqual([
      'REPORT_PDF_MISSING: report.pdf is missing or not a file: the PDF cannot be checked',
    ]);
  });

  it('binds no PDF to a kept report a database writer changed, even with its stored SHA-256 made to match', async () => {
    const made = reports.create({ proposalId });
    const other = reports.stored(reports.create({ inventory: true }).id);
    const row = f.opened.store.get<{ json: string }>(sql`SELECT json FROM reports WHERE id = ${made.id}`)!;
    const edited = row.json.replace('"signing-2026"', '"totally-different-key"');
    expect(edited).not.toBe(row.json);
    const forgeries = [
      { json: edited, sha256: sha256Hex(edited), signature: reports.stored(made.id).signature },
      // Another report, genuinely signed, put under this one's id.
      { json: other.json.toString('utf8'), sha256: other.sha256, signature: other.signature },
    ];
    for (const forged of forgeries) {
      f.opened.store.execute(
        sql`UPDATE reports SET json = ${forged.json}, sha256 = ${forged.sha256}, signature = ${forged.signature} WHERE id = ${made.id}`,
      );
      const dir = join(dataDir, `forged-${forged.sha256}`);
      await expect(reports.exportTo(made.id, dir)).rejects.toMatchObject({ code: 'AUDIT_VERIFY_FAILED' });
      expect(existsSync(dir)).toBe(false);
    }
    await new Promise((resolve) => setImmediate(resolve)); // refusals are recorded with the next group commit
    const actions = [...f.opened.audit.log().entries()].map((e) => (JSON.parse(e.entry) as { action: string }).action);
    expect(actions.filter((a) => a === 'report.tampered')).toHaveLength(2);
    expect(actions).not.toContain('report.export');
  });

  it('fails as a malformed report, naming the field, when report.json is not what a report holds', async () => {
    const { json, signature } = await exported();
    const report = JSON.parse(json.toString()) as CeremonyReport;
    const entry = report.audit.entries[0]!;
    const verdicts = [
      { ...report, audit: { ...report.audit, entries: [{ ...entry, proof: null }] } },
      { ...report, audit: null },
      { ...report, witnesses: [{ name: 'Eve', role: 7, at: '' }] },
      'null',
    ].map((forged) => {
      const bytes = Buffer.from(typeof forged === 'string' ? forged : JSON.stringify(forged), 'utf8');
      const verdict = verifyReport(bytes, signature, key());
      expect(verdict.ok).toBe(false);
      return verdict.checks.find((c) => c.check === 'report format')?.detail;
    });
    expect(verdicts).toEqual([
      expect.stringMatching(/^report\.json: audit\.entries\.0\.proof: /),
      expect.stringMatching(/^report\.json: audit: /),
      expect.stringMatching(/^report\.json: witnesses\.0\.role: /),
      expect.stringMatching(/^report\.json: the file: /),
    ]);
    // A file that is not JSON is named with the place of the fault, never a character of what it holds.
    const notJson = verifyReport(Buffer.from('{"witnesses": [Mallory-secret-passphrase]}'), signature, key());
    expect(notJson.checks.find((c) => c.check === 'report format')).toEqual({
      check: 'report format',
      ok: false,
      detail: 'report.json is not JSON: line 1, column 16 (character 16)',
    });
    // An entry whose text is not JSON fails that entry, by name.
    const garbled = { ...report, audit: { ...report.audit, entries: [{ ...entry, entry: '{not json' }] } };
    const verdict = verifyReport(Buffer.from(JSON.stringify(garbled)), signature, key());
    expect(verdict.checks).toContainEqual(
      expect.objectContaining({ ok: false, detail: 'its text is not an audit entry (JSON with a seq)' }),
    );
  });

  it('prints the checkpoint and the audit public key line for line, and "‖" as itself', async () => {
    const { dir, json } = await exported();
    const report = JSON.parse(json.toString()) as { audit: { checkpoint: string } };
    // Layout mode keeps lines as printed (the plain mode joins a line ending in "-" to the next).
    const text = execFileSync('pdftotext', ['-layout', join(dir, 'report.pdf'), '-'], { encoding: 'utf8' });
    expect(text).toContain(`\n${report.audit.checkpoint.trimEnd()}\n`);
    expect(text).toContain(`\n${readFileSync(join(dir, 'audit-key.pem'), 'utf8').trimEnd()}\n`);
    const der = execFileSync('openssl', ['pkey', '-pubin', '-in', join(dir, 'audit-key.pem'), '-outform', 'DER']);
    const fingerprint = execFileSync('sha256sum', { input: der, encoding: 'utf8' }).split(' ')[0]!;
    expect(text).toContain(fingerprint);
    expect(text).toContain('SHA-256(0x00 ‖ entry)');
    expect(text).not.toMatch(/[?\uFFFD]/);
  });

  it('reads the proposal as the catalogue’s sentence: the key by label, algorithm and token, not raw JSON', async () => {
    const custodyId = quorum.view(proposalId).custodyId;
    const scheduled = await f.approveAll(
      quorum,
      quorum.propose({
        custodyId,
        action: 'key.schedule-destruction',
        params: { keyId, waitDays: 7 },
        requestedBy: f.enrolled[0]!.id,
      }),
      [1, 2],
    );
    const made = reports.create({ proposalId: scheduled.id });
    const said = 'Schedule destruction of “signing-2026” (EC P-256, token reports) after a 7-day wait.';
    expect(reports.stored(made.id).report.ceremony).toMatchObject({ paramsInWords: [said, `Key id: ${keyId}`] });
    await reports.exportTo(made.id, join(dataDir, 'scheduled'));
    // pdftotext breaks long lines where the PDF wraps them (and drops the hyphen of a line ending in "7-").
    const text = pdfText(join(dataDir, 'scheduled', 'report.pdf')).replace(/\s+/g, ' ');
    expect(text).toContain(said);
    expect(text).toContain('Destruction scheduling ceremony');
    expect(text).toMatch(
      /“signing-2026” \(EC P-256, token reports\) can be destroyed from \d{4}(-\d\d){2} \d\d:\d\d UTC \(a 7-?day wait\)/,
    );
    expect(text).not.toContain('{"keyId"');
  });

  it('is refused, not signed with an id for a name, when a card holder’s stored record was changed', async () => {
    const custodyId = quorum.view(proposalId).custodyId;
    const propose = (action: string, params: Record<string, unknown>) =>
      quorum.propose({ custodyId, action, params, requestedBy: f.enrolled[0]!.id });
    const aes = { algorithm: 'AES-256', label: 'vault-kek', usage: 'wrap', backupable: true, cryptoperiodDays: 365 };
    const generated = await f.approveAll(
      quorum,
      propose('key.generate', { ...aes, ckaId: randomBytes(16).toString('hex') }),
      [1, 2],
    );
    const backed = (generated.outcome as { result: { keyId: string } }).result.keyId;
    // Olga holds card 3 but takes no other part: she is named only through the card holders.
    const holders = [0, 1, 3].map((i) => f.enrolled[i]!.id);
    const backup = await f.approveAll(
      quorum,
      propose('key.backup', { keyIds: [backed], holders, threshold: 2 }),
      [1, 2],
    );
    f.opened.store.execute(sql`UPDATE custodians SET name = 'Mallory' WHERE id = ${f.enrolled[3]!.id}`);
    expect(() => reports.create({ proposalId: backup.id })).toThrow(
      expect.objectContaining({ code: 'CUSTODIAN_TAMPERED' }),
    );
  });

  it('of a backup names the card holders and carries each card’s release', async () => {
    const custodyId = quorum.view(proposalId).custodyId;
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
        requestedBy: f.enrolled[0]!.id,
      }),
      [1, 2],
    );
    const backed = (generated.outcome as { result: { keyId: string } }).result.keyId;
    const backup = await f.approveAll(
      quorum,
      quorum.propose({
        custodyId,
        action: 'key.backup',
        params: { keyIds: [backed], holders: f.enrolled.slice(0, 3).map((c) => c.id), threshold: 2 },
        requestedBy: f.enrolled[0]!.id,
      }),
      [1, 2],
    );
    const setId = (backup.outcome as { result: { setId: string } }).result.setId;
    await backups.releaseCard(setId, f.holders(1)[0]!);
    const made = reports.create({ proposalId: backup.id });
    const { json, signature, report } = reports.stored(made.id);
    expect(verifyReport(json, signature, key())).toMatchObject({ ok: true, type: 'key.backup' });
    expect(report.ceremony).toMatchObject({
      cardHolders: [
        { index: 1, name: 'Ada Lovelace', releasedAt: null },
        { index: 2, name: 'Γιώργος Παπαδάκης', releasedAt: expect.any(String) },
        { index: 3, name: 'Zoë Ñúñez-Łukasz', releasedAt: null },
      ],
      paramsInWords: [
        'Back up “vault-kek” (AES-256, token reports) on share cards for Ada Lovelace, Γιώργος Παπαδάκης, Zoë Ñúñez-Łukasz: any 2 of them restore it; each copy is checked in the token first.',
        `Key id: ${backed}`,
      ],
      outcomeInWords: [
        expect.stringMatching(
          new RegExp(
            `^Backup set [0-9a-f]{32} holds “vault-kek” \\(AES-256, token reports\\) \\(CKM_\\w+, verified\\)\\.$`,
          ),
        ),
        'Cards for Ada Lovelace, Γιώργος Παπαδάκης, Zoë Ñúñez-Łukasz; any 2 restore it.',
        // The same fingerprint the cards carry, so the printed report and the cards are matched.
        `Set fingerprint, on every card: ${fingerprintInGroups(backups.list()[0]!.fingerprint)}.`,
      ],
    });
    expect(report.steps.filter((s) => s.action === 'backup.card.release')).toEqual([
      expect.objectContaining({ actor: 'Γιώργος Παπαδάκης', result: 'ok' }),
    ]);
    await reports.exportTo(made.id, join(dataDir, 'backup'));
    const text = pdfText(join(dataDir, 'backup', 'report.pdf'));
    expect(text.replace(/\s+/g, ' ')).toMatch(
      /Card 2: Γιώργος Παπαδάκης — released to them at \S+ after passphrase \+ TOTP/,
    );
    expect(text).toContain('Card 1: Ada Lovelace — not released when this report was made');
    expect(text).toContain('backup.card.release');
    expect(text).not.toContain('(unknown)');
    expect(text).toContain('Γιώργος Παπαδάκης (card 2 received) — name and signature');
  });
});
