import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { leafHash, MemoryTree } from '../audit/merkle';
import { KeyInventory } from '../keys/key-inventory';
import { quorumOperations, quorumParams } from '../quorum/operations';
import type { QuorumService } from '../quorum/quorum-service';
import { quorumFixture } from '../testing/quorum-fixture';
import { tempDataDir } from '../testing/softhsm-fixture';
import { renderReportPdf } from './report-pdf';
import { ReportService } from './report-service';
import { verifyReport, type LaterLog } from './report-verify';

let dataDir: string;
let cleanup: () => void;
let f: Awaited<ReturnType<typeof quorumFixture>>;
let quorum: QuorumService;
let reports: ReportService;
let proposalId: string;
let keyId: string;

beforeEach(async () => {
  ({ dataDir, cleanup } = tempDataDir());
  f = await quorumFixture(dataDir, [{ name: 'Ada Lovelace' }, { name: 'Charles Babbage' }, { name: 'Marie Curie' }, { name: 'Olga Officer', roles: ['security-officer'] }]);
  const now = () => f.clock.now;
  const keys = new KeyInventory(f.opened.store, f.opened.audit, now);
  quorum = f.quorum(quorumOperations(f.opened.store, now, keys), {}, quorumParams);
  reports = new ReportService({ store: f.opened.store, audit: f.opened.audit, custodians: f.custodians, custody: f.custody, keys, quorum, clock: now, token: (ref) => ({ ...ref, manufacturer: 'SoftHSM project', model: 'SoftHSM v2', kind: 'software token', validation: 'none: software token (SoftHSM), not a FIPS 140-3 validated HSM' }) });
  const custodyId = (await f.custody.take({ token: { serial: '', label: '' }, threshold: 2, holders: f.holders(0, 1, 2), label: 'reports' })).id;
  const proposal = quorum.propose({ custodyId, action: 'key.generate', params: { algorithm: 'EC-P256', label: 'signing-2026', usage: 'sign', backupable: false, cryptoperiodDays: 730, ckaId: randomBytes(16).toString('hex') }, requestedBy: f.enrolled[0]!.id });
  const done = await f.approveAll(quorum, proposal, [1, 2]);
  proposalId = done.id;
  keyId = (done.outcome as { result: { keyId: string } }).result.keyId;
});
afterEach(() => {
  quorum.forgetAll();
  f.close();
  cleanup();
});

const key = () => f.opened.audit.noteKey()!;
const liveLog = (): LaterLog => {
  const log = f.opened.audit.log();
  return { size: log.size(), root: (n) => log.root(n), consistencyProof: (a, b) => log.consistencyProof(a, b), source: 'the live log' };
};

async function exported() {
  const summary = reports.create({ proposalId });
  const dir = join(dataDir, 'report');
  await reports.exportTo(summary.id, dir);
  return { summary, dir, json: readFileSync(join(dir, 'report.json')), signature: readFileSync(join(dir, 'report.sig')) };
}
const openssl = (dir: string, json = 'report.json', sig = 'report.sig') => {
  try {
    return execFileSync('openssl', ['pkeyutl', '-verify', '-pubin', '-inkey', join(dir, 'audit-key.pem'), '-rawin', '-in', join(dir, json), '-sigfile', join(dir, sig)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (error) {
    return (error as { stdout: string }).stdout;
  }
};

describe('a ceremony report', () => {
  it('verifies with openssl and with Custos: signature, checkpoint, every entry and its inclusion proof', async () => {
    const { dir, json, signature, summary } = await exported();
    expect(openssl(dir)).toContain('Signature Verified Successfully');
    const verdict = verifyReport(json, signature, key(), liveLog());
    expect(verdict).toMatchObject({ ok: true, reportId: summary.id, type: 'key.generate' });
    expect(verdict.entries).toBeGreaterThanOrEqual(5);
    const report = JSON.parse(json.toString()) as { participants: { name: string; part: string; factors: string[] }[]; keys: { id: string; publicKeyPem: string; policy: { status: string } }[]; steps: { action: string }[]; ceremony: { fingerprint: string; token: { validation: string } } };
    expect(report.participants.map((p) => `${p.name} ${p.part}`)).toEqual(['Ada Lovelace proposed', 'Charles Babbage approved', 'Marie Curie approved']);
    expect(report.participants.every((p) => p.factors.join('+') === 'passphrase+totp')).toBe(true);
    expect(report.keys).toMatchObject([{ id: keyId, publicKeyPem: expect.stringContaining('BEGIN PUBLIC KEY'), policy: { status: 'acceptable' } }]);
    expect(report.steps.map((s) => s.action)).toEqual(['proposal.create', 'proposal.approve', 'proposal.approve', 'proposal.execute.begin', 'proposal.execute']);
    expect(report.ceremony.token.validation).toContain('not a FIPS 140-3 validated HSM');
  });

  it('fails both openssl and Custos when any byte of the JSON or the signature changes', async () => {
    const { dir, json, signature } = await exported();
    const flipped = Buffer.from(json);
    flipped[Math.floor(flipped.length / 2)]! ^= 1;
    writeFileSync(join(dir, 'bad.json'), flipped);
    expect(openssl(dir, 'bad.json')).not.toContain('Signature Verified Successfully');
    expect(verifyReport(flipped, signature, key()).ok).toBe(false);
    const badSig = Buffer.from(signature);
    badSig[10]! ^= 1;
    writeFileSync(join(dir, 'bad.sig'), badSig);
    expect(openssl(dir, 'report.json', 'bad.sig')).not.toContain('Signature Verified Successfully');
    expect(verifyReport(json, badSig, key()).checks[0]).toMatchObject({ ok: false });
  });

  it('fails when its checkpoint is inconsistent with a later log (history rewritten)', async () => {
    const { json, signature } = await exported();
    f.opened.audit.log().record({ actor: { type: 'system', id: 'system' }, action: 'later.entry' });
    expect(verifyReport(json, signature, key(), liveLog()).ok).toBe(true);
    // The same log with one early entry rewritten, as someone with the database might try.
    const tree = new MemoryTree();
    for (const stored of f.opened.audit.log().entries()) tree.append(leafHash(Buffer.from(stored.seq === 3 ? stored.entry.replace('"ok"', '"failed"') : stored.entry)));
    const rewritten: LaterLog = { size: tree.size, root: (n) => tree.root(n), consistencyProof: () => [], source: 'a rewritten log' };
    const verdict = verifyReport(json, signature, key(), rewritten);
    expect(verdict.ok).toBe(false);
    expect(verdict.checks.at(-1)).toMatchObject({ ok: false, detail: 'the log was rewritten after this report' });
  });

  it('carries the witnesses who signed off on the ceremony, in the JSON and on the PDF', async () => {
    reports.witness(proposalId, 'Grace Hopper', 'Internal audit');
    const { json, dir } = await exported();
    expect((JSON.parse(json.toString()) as { witnesses: unknown[] }).witnesses).toEqual([{ name: 'Grace Hopper', role: 'Internal audit', at: expect.any(String) }]);
    expect(execFileSync('pdftotext', [join(dir, 'report.pdf'), '-'], { encoding: 'utf8' })).toContain('Grace Hopper (Internal audit) signed off');
    expect(() => reports.witness('ffffffffffffffff', 'Nobody', 'none')).toThrow(expect.objectContaining({ code: 'PROPOSAL_NOT_FOUND' }));
  });

  it('prints as a PDF carrying the report id and the JSON’s hash on every page, participants and key fingerprints', async () => {
    const { dir, summary } = await exported();
    const text = execFileSync('pdftotext', ['-layout', join(dir, 'report.pdf'), '-'], { encoding: 'utf8' });
    const pages = text.split('\f').filter((p) => p.trim().length > 0);
    expect(pages.length).toBeGreaterThanOrEqual(2);
    pages.forEach((page, i) => expect(page).toContain(`Custos report ${summary.id} · SHA-256 ${summary.sha256} · page ${i + 1} of ${pages.length}`));
    for (const expected of ['Key generation ceremony', 'Ada Lovelace', 'Charles Babbage', 'Marie Curie', keyId, 'Witness — name and signature']) expect(text).toContain(expected);
    const report = JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')) as { keys: { fingerprint: string }[] };
    expect(text.replace(/\s+/g, '')).toContain(report.keys[0]!.fingerprint);
  });

  it('is made for taking a token into custody: the holders who proved both factors, and the journal before the token changed', () => {
    const custodyId = quorum.view(proposalId).custodyId;
    const made = reports.create({ custodyId });
    const { json, signature, report } = reports.stored(made.id);
    expect(verifyReport(json, signature, key())).toMatchObject({ ok: true, type: 'custody.take' });
    expect(report.participants.map((p) => p.name)).toEqual(['Ada Lovelace', 'Charles Babbage', 'Marie Curie']);
    expect(report.steps.map((s) => s.action)).toEqual(['custodian.factor.verify', 'custodian.factor.verify', 'custodian.factor.verify', 'custody.begin', 'custody.take']);
    expect(report.ceremony).toMatchObject({ threshold: 2, holders: 3 });
  });

  it('is a destruction certificate for a key destroyed by the quorum and a security officer, with the proof of absence', async () => {
    const custodyId = quorum.view(proposalId).custodyId;
    const propose = (action: string, params: Record<string, unknown>) => quorum.propose({ custodyId, action, params, requestedBy: f.enrolled[0]!.id });
    await f.approveAll(quorum, propose('key.schedule-destruction', { keyId, waitDays: 7 }), [1, 2]);
    f.clock.now = new Date(f.clock.now.getTime() + 7 * 86_400_000);
    const destroyed = await f.approveAll(quorum, propose('key.destroy', { keyId }), [1, 2, 3]);
    expect(destroyed.state).toBe('executed');
    const made = reports.create({ proposalId: destroyed.id });
    const { json, signature, report } = reports.stored(made.id);
    expect(verifyReport(json, signature, key())).toMatchObject({ ok: true, type: 'destruction-certificate' });
    expect(report.participants.map((p) => `${p.name} ${p.part}`)).toEqual(['Ada Lovelace proposed', 'Charles Babbage approved', 'Marie Curie approved', 'Olga Officer approved']);
    expect(report.keys).toMatchObject([{ id: keyId, state: 'destroyed' }]);
    expect(report.ceremony).toMatchObject({ outcome: { result: { objectsDestroyed: 2, remaining: 0 } } });
    expect(report.steps.map((s) => s.action)).toContain('key.destroyed');
    const pdf = await renderReportPdf(report, made.sha256);
    writeFileSync(join(dataDir, 'certificate.pdf'), pdf);
    expect(execFileSync('pdftotext', [join(dataDir, 'certificate.pdf'), '-'], { encoding: 'utf8' })).toContain('Key destruction certificate');
  });

  it('is also made for the key inventory, and refused for a ceremony still open', async () => {
    const inventory = reports.create({ inventory: true });
    const { json, signature } = reports.stored(inventory.id);
    expect(verifyReport(json, signature, key())).toMatchObject({ ok: true, type: 'key-inventory' });
    const open = quorum.propose({ custodyId: quorum.view(proposalId).custodyId, action: 'token.quorum-drill', params: {}, requestedBy: f.enrolled[0]!.id });
    expect(() => reports.create({ proposalId: open.id })).toThrow(expect.objectContaining({ code: 'PROPOSAL_CLOSED' }));
  });
});
