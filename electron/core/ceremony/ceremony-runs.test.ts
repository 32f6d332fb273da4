import { execFileSync, spawnSync } from 'node:child_process';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CustosCore } from '../custos-core';
import { totpCodeAt } from '../custodians/totp';
import { asDatabaseWriter } from '../testing/audit-fixture';
import { ceremonyInstallation, witnessedScriptRun } from '../testing/ceremony-fixture';
import { opensslVerifyReport } from '../testing/openssl';
import { initSoftHsmToken } from '../testing/softhsm-fixture';
import { canonicalJson } from '../canonical-json';
import { checkRunPartsInLog } from '../reports/participant-check';
import type { Participant } from '../reports/ceremony-report';
import { parseReportFile, verifyReport, type ReportCheck, type ReportFile } from '../reports/report-verify';
import { checkRunStart, checkRunStartInLog } from '../reports/run-start-check';
import { checkFormatInLog } from '../reports/format-check';
import { SYSTEM } from '../audit/audit-service';
import { bindingOf, prepareProposal } from './lint';
import { planRehearsal } from './rehearsal';
import { runReport } from './run-report';
import { derivedKeyId, parseScript, scriptSha256, type ParsedScript } from '../ceremony-script';

const STEPS =
  'steps: each one’s state, time, outcome, value, fingerprint and checkpoint as the run’s signed entries say';

/** A whole ceremony from one script, on a real SoftHSM2 token and a real database, as the app and the CLI run it. */
let dataDir: string;
let cleanup: () => void;
let clock: { now: Date };
let people: Record<string, { id: string; passphrase: string; secret: string }>;
let token: { serial: string; label: string };
let core: CustosCore;

beforeEach(async () => {
  ({ dataDir, cleanup, clock, people, token } = await ceremonyInstallation());
  core = CustosCore.open({
    dataDir,
    version: 'test',
    production: false,
    operator: 'test',
    clock: () => clock.now,
  });
});
afterEach(() => {
  core.close();
  cleanup();
});

/** Both factors of a person, a TOTP step after the last one used. */
function proof(name: string) {
  return proofs(name)[0]!;
}

/** Both factors of people giving them together (one TOTP step for all). */
function proofs(...names: string[]) {
  clock.now = new Date(clock.now.getTime() + 30_000);
  return names.map((name) => {
    const p = people[name]!;
    return { custodianId: p.id, passphrase: p.passphrase, code: totpCodeAt(p.secret, clock.now) };
  });
}

/** A second SoftHSM2 token, made while Custos is closed (it lists slots at open), taken into Ada, Babbage and Curie's
 * 2-of-3 custody. */
async function custodyOfSecondToken() {
  core.close();
  const other = initSoftHsmToken(dataDir, 'other-token', { so: '87654321', user: '12345678' });
  core = CustosCore.open({ dataDir, version: 'test', production: false, operator: 'test', clock: () => clock.now });
  const [a, b, c] = proofs('Ada', 'Babbage', 'Curie');
  return core.custody.take({ token: other, threshold: 2, holders: [a!, b!, c!], currentSoPin: '87654321' });
}

/** The custody step: Ada performs it, every holder gives both factors at once. */
function custodyStep(runId: string) {
  const [ada, ...others] = proofs('Ada', 'Babbage', 'Curie');
  return core.ceremonies.perform({ runId, stepId: 'custody', by: ada!, holders: others, currentSoPin: '87654321' });
}

function script(extra = '') {
  const opens = new Date(clock.now.getTime() - 3600_000).toISOString();
  const closes = new Date(clock.now.getTime() + 6 * 3600_000).toISOString();
  return `# Reviewed 2026-12-01 by the security office.
format: custos-ceremony/1
title: Root signing key
purpose: Generate the organisation's root signing key.
location: Room 4.12
window: { opens: "${opens}", closes: "${closes}" }
token: { serial: "${token.serial}", label: "${token.label}" }
roles:
  administrator: Ada
  custodians: [Ada, Babbage, Curie]
  witnesses: [Eve]
steps:
  - id: custody
    title: Take the token into custody
    by: Ada
    custody: { holders: [Ada, Babbage, Curie], threshold: 2 }
  - id: root-key
    title: Generate the root key
    by: Ada
    action: key.generate
    params: { algorithm: EC-P384, label: root-2026, usage: sign, backupable: false, cryptoperiodDays: 3650 }
    approvers: [Babbage, Curie]
  - id: activate
    title: Activate the root key
    by: Babbage
    action: key.activate
    params: { keyId: "@root-key" }
    approvers: [Ada, Curie]
  - id: bag
    title: Seal the printed report
    by: Curie
    manual: The witness reads the tamper-evident bag's serial aloud.
    record: bag serial
  - id: checkpoint
    title: Sign the closing checkpoint
    by: Ada
    checkpoint: true
${extra}`;
}

describe('a ceremony script', () => {
  it('lints with every quorum step’s fingerprint known in advance, and names what is wrong', () => {
    const text = script();
    const report = core.ceremonies.lint(text);
    expect(report.problems).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report.sha256).toBe(scriptSha256(text));
    expect(report.header).toMatchObject({
      location: 'Room 4.12',
      token,
      roles: { administrator: 'Ada', witnesses: ['Eve'], securityOfficer: null },
    });
    const generate = report.steps.find((s) => s.id === 'root-key')!;
    expect(generate.fingerprint).toMatch(/^[0-9a-f]{64}$/);
    expect(generate.words[0]).toContain('root-2026');
    expect(report.steps.find((s) => s.id === 'activate')!.words[0]).toContain('“root-2026”');

    const bad = core.ceremonies.lint(
      text
        .replace('approvers: [Babbage, Curie]', 'approvers: [Babbage]')
        .replace('witnesses: [Eve]', 'witnesses: [Mallory]')
        .replace('EC-P384', 'RSA-1024'),
    );
    expect(bad.ok).toBe(false);
    expect(bad.problems.join('\n')).toMatch(/Mallory.*not enrolled/);
    expect(bad.problems.join('\n')).toMatch(/root-key.*1 of the approvers hold a share.*it takes 2/);
    expect(bad.problems.join('\n')).toMatch(/algorithm/);
    expect(core.ceremonies.lint('steps: [').problems[0]).toMatch(/^YAML: .*line/);
    // A few nested aliases would expand to billions of nodes when read: refused before anything walks them.
    const bomb = [
      'a: &a [x, x, x, x, x, x, x, x, x]',
      ...[...Array(12).keys()].map(
        (i) =>
          `n${i}: &n${i} [${Array(9)
            .fill(i ? `*n${i - 1}` : '*a')
            .join(', ')}]`,
      ),
    ];
    expect(core.ceremonies.lint(bomb.join('\n')).problems).toEqual([
      expect.stringMatching(/aliases .* are not allowed/),
    ]);
    expect(
      core.ceremonies.lint(text.replace('    checkpoint: true', '    checkpoint: true\n    witnesses: [Ada]')).problems,
    ).toEqual([expect.stringMatching(/checkpoint.*Ada performs this step, so cannot also witness it/)]);
    // One person counts once: a name given twice neither reaches a threshold nor stands for a second witness.
    const twice = core.ceremonies.lint(
      text
        .replace('approvers: [Babbage, Curie]', 'approvers: [Babbage, Babbage]')
        .replace('holders: [Ada, Babbage, Curie], threshold: 2', 'holders: [Ada, Babbage, Babbage], threshold: 3')
        .replace('    checkpoint: true', '    checkpoint: true\n    witnesses: [Eve, Eve]'),
    ).problems;
    expect(twice).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/custody.*Babbage is named twice among the holders/),
        expect.stringMatching(/root-key.*Babbage is named twice among the approvers/),
        expect.stringMatching(/checkpoint.*Eve is named twice among the witnesses/),
      ]),
    );
    expect(core.ceremonies.lint(text.replace('key.generate', 'key.teleport')).ok).toBe(false);
    expect(core.ceremonies.lint(text.replace('"@root-key"', '"@bag"')).problems.join()).toMatch(
      /@bag is not an earlier step that generates a key/,
    );
  });

  it('runs step by step, in order, by the people it names; the report carries the script and every step', async () => {
    const text = script();
    const printed = core.ceremonies.lint(text).steps;
    await expect(core.ceremonies.start(text, proof('Babbage'))).rejects.toMatchObject({
      code: 'CEREMONY_STEP_REFUSED',
    });
    let run = await core.ceremonies.start(text, proof('Ada'));
    expect(run.current).toBe('custody');
    // Each step reads in words, keys of earlier steps by the label the script gives them.
    expect(run.steps[1]!.words[0]).toContain('“root-2026”');
    expect(run.steps[2]!.words[0]).toMatch(/^Activate “root-2026”/);
    // The runner asks for what each step needs: every holder of a custody, the value a manual step records.
    expect(run.steps[0]!.custody).toEqual({ holders: ['Ada', 'Babbage', 'Curie'], threshold: 2 });
    expect(run.steps[1]!.action).toBe('key.generate');
    expect(run.steps[3]!.record).toBe('bag serial');
    expect(run.steps[4]!).toMatchObject({ custody: null, record: null, action: null });

    // Out of order, or by someone else: refused, nothing recorded.
    await expect(
      core.ceremonies.perform({ runId: run.id, stepId: 'root-key', by: proof('Ada') }),
    ).rejects.toMatchObject({ code: 'CEREMONY_STEP_REFUSED' });
    await expect(
      core.ceremonies.perform({ runId: run.id, stepId: 'custody', by: proof('Curie') }),
    ).rejects.toMatchObject({ code: 'CEREMONY_STEP_REFUSED' });

    run = await custodyStep(run.id);
    expect(run.steps[0]!.state).toBe('performed');
    // The run moves on only once the witness confirmed.
    await expect(
      core.ceremonies.perform({ runId: run.id, stepId: 'root-key', by: proof('Ada') }),
    ).rejects.toMatchObject({ code: 'CEREMONY_STEP_REFUSED' });
    await expect(core.ceremonies.witness(run.id, 'custody', proof('Babbage'))).rejects.toMatchObject({
      code: 'CEREMONY_STEP_REFUSED',
    });
    run = await core.ceremonies.witness(run.id, 'custody', proof('Eve'));
    expect(run.current).toBe('root-key');

    run = await core.ceremonies.perform({ runId: run.id, stepId: 'root-key', by: proof('Ada') });
    const generate = run.steps[1]!;
    expect(generate.state).toBe('proposed');
    // What the approvers compare aloud is what the printed script carries.
    expect(generate.fingerprint).toBe(printed[1]!.fingerprint);
    for (const name of ['Babbage', 'Curie'])
      await core.quorum.approve({
        proposalId: generate.proposalId!,
        ...proof(name),
        fingerprint: printed[1]!.shortFingerprint!,
      });
    run = core.ceremonies.view(run.id);
    expect(run.steps[1]!.state).toBe('performed');
    run = await core.ceremonies.witness(run.id, 'root-key', proof('Eve'));

    run = await core.ceremonies.perform({ runId: run.id, stepId: 'activate', by: proof('Babbage') });
    expect(run.steps[2]!.fingerprint).toBe(printed[2]!.fingerprint);
    for (const name of ['Ada', 'Curie'])
      await core.quorum.approve({
        proposalId: run.steps[2]!.proposalId!,
        ...proof(name),
        fingerprint: printed[2]!.fingerprint!,
      });
    run = await core.ceremonies.witness(run.id, 'activate', proof('Eve'));
    const key = core.keys.list().find((k) => k.label === 'root-2026')!;
    expect(key.state).toBe('active');

    await expect(core.ceremonies.perform({ runId: run.id, stepId: 'bag', by: proof('Curie') })).rejects.toMatchObject({
      code: 'CEREMONY_STEP_REFUSED',
    });
    run = await core.ceremonies.perform({ runId: run.id, stepId: 'bag', by: proof('Curie'), value: 'TE-449120' });
    run = await core.ceremonies.witness(run.id, 'bag', proof('Eve'));
    run = await core.ceremonies.perform({ runId: run.id, stepId: 'checkpoint', by: proof('Ada') });
    expect(run.steps[4]!.checkpoint).toMatch(/\n\n— /);
    run = await core.ceremonies.witness(run.id, 'checkpoint', proof('Eve'));

    expect(run.state).toBe('done');
    expect(run.reportId).toMatch(/^[0-9a-f]{16}$/);
    // Written at once with its PDF, as the Reports screen's other reports are.
    expect(existsSync(join(dataDir, 'reports', run.reportId!, 'report.pdf'))).toBe(true);
    const { report } = core.reports.stored(run.reportId!);
    const ceremony = report.ceremony as { script: { text: string; sha256: string }; steps: { value: string | null }[] };
    expect(ceremony.script.text).toBe(text);
    expect(ceremony.script.sha256).toBe(scriptSha256(text));
    expect(ceremony.steps[3]!.value).toBe('TE-449120');
    expect(report.keys.map((k) => k.label)).toEqual(['root-2026']);
    const actions = new Set(report.audit.entries.map((e) => (JSON.parse(e.entry) as { action: string }).action));
    for (const a of ['ceremony.start', 'ceremony.custody', 'proposal.create', 'proposal.approve', 'ceremony.witness'])
      expect(actions).toContain(a);
    // Who performed and witnessed each step, as the run's signed entries record them: verify makes the list again.
    expect(report.participants.map((p) => `${p.name} ${p.part}`)).toEqual(
      ['Take the token into custody', 'Generate the root key', 'Activate the root key', 'Seal the printed report']
        .concat('Sign the closing checkpoint')
        .flatMap((step, i) => [
          `${['Ada', 'Ada', 'Babbage', 'Curie', 'Ada'][i]} performed: ${step}`,
          `Eve witnessed: ${step}`,
        ]),
    );
    const bytes = Buffer.from(canonicalJson(report), 'utf8');
    const { checks } = verifyReport(bytes, core.audit.signDocument(bytes), core.audit.noteKey()!);
    expect(checks).toContainEqual({
      check: 'participants: each part, person and time as a signed entry of this ceremony records it',
      ok: true,
    });
    // Its script, title, token and steps (quorum steps among them) as the run's ceremony.start entry recorded them.
    expect(checks).toContainEqual({
      check: 'script and steps: the ones the run’s signed ceremony.start entry recorded',
      ok: true,
    });
    // Each step's state, time, outcome, value, fingerprint and checkpoint as the run's signed entries give them.
    expect(checks).toContainEqual({ check: STEPS, ok: true });
    // Checked with tools that share no code with Custos: openssl verifies the signature over the file as written, and
    // sha256sum of the reviewed script is the hash the signed report carries.
    const dir = join(dataDir, 'reports', run.reportId!);
    expect(opensslVerifyReport(dir)).toContain('Signature Verified Successfully');
    // Every entry's inclusion proof, by an RFC 9162 implementation in Python.
    const proofs = join(__dirname, '../testing/verify_report_proofs.py');
    expect(execFileSync('python3', [proofs, join(dir, 'report.json')], { encoding: 'utf8' })).toMatch(
      /^verified [1-9]\d* entries/,
    );
    const edited = JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')) as typeof report;
    edited.audit.entries.at(-1)!.entry += ' ';
    writeFileSync(join(dataDir, 'edited.json'), JSON.stringify(edited));
    const refused = spawnSync('python3', [proofs, join(dataDir, 'edited.json')], { encoding: 'utf8' });
    expect([refused.status, refused.stdout]).toEqual([1, expect.stringMatching(/does not verify/)]);
    writeFileSync(join(dataDir, 'reviewed.yml'), text);
    const signed = JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')) as typeof report;
    expect((signed.ceremony as { script: { sha256: string; text: string } }).script).toEqual({
      text,
      sha256: execFileSync('sha256sum', [join(dataDir, 'reviewed.yml')], { encoding: 'utf8' }).split(' ')[0],
    });

    // A later script is linted against the keys as they are: activating the active key cannot be approved.
    const again =
      text.slice(0, text.indexOf('steps:')) +
      `steps:\n  - { id: again, title: Activate again, by: Ada, action: key.activate, params: { keyId: "${key.id}" }, approvers: [Babbage, Curie] }\n`;
    expect(core.ceremonies.lint(again).problems).toEqual([
      expect.stringMatching(/^steps\.0 \(again\): .*KEY_STATE_FORBIDS/),
    ]);
  });

  it('resumes after a restart, and refuses a run whose record or script a database writer changed', async () => {
    const text = script();
    const run = await core.ceremonies.start(text, proof('Ada'));
    await custodyStep(run.id);
    core.close();
    core = CustosCore.open({ dataDir, version: 'test', production: false, operator: 'test', clock: () => clock.now });
    expect(core.ceremonies.view(run.id).steps[0]!.state).toBe('performed');

    /** A database writer's change while Custos is closed; then Custos opens again. */
    const writer = (sql: string) => {
      core.close();
      asDatabaseWriter(dataDir, (db) => db.exec(sql));
      core = CustosCore.open({ dataDir, version: 'test', production: false, operator: 'test', clock: () => clock.now });
      return () => core.ceremonies.view(run.id);
    };
    // The script as reviewed is what runs: a rewritten step is noticed.
    expect(writer(`UPDATE ceremony_scripts SET text = replace(text, 'P384', 'P256')`)).toThrow(
      expect.objectContaining({ code: 'CEREMONY_TAMPERED' }),
    );
    expect(writer(`UPDATE ceremony_scripts SET text = replace(text, 'P256', 'P384')`)().steps[0]!.state).toBe(
      'performed',
    );
    // So is an event changed, or one deleted (a step made to look witnessed, or not done).
    const edit = `UPDATE ceremony_events SET body = replace(body, 'custody', 'custodx')`;
    expect(writer(edit)).toThrow(expect.objectContaining({ code: 'CEREMONY_TAMPERED' }));
    const deletion = `DELETE FROM ceremony_events WHERE kind = 'custody'`;
    expect(writer(deletion)).toThrow(expect.objectContaining({ code: 'CEREMONY_TAMPERED' }));
  });

  it('adopts the proposal a step made when Custos stopped before recording it, rather than proposing twice', async () => {
    const text = script();
    let run = await core.ceremonies.start(text, proof('Ada'));
    await custodyStep(run.id);
    await core.ceremonies.witness(run.id, 'custody', proof('Eve'));
    // What perform does up to the proposal, then a stop before the run's own entry.
    const parsed = parseScript(text) as ParsedScript;
    const custodyId = core.custody.list().find((c) => c.state === 'active')!.id;
    const ids = (name: string) => people[name]?.id ?? null;
    const prepared = prepareProposal(parsed, 1, { bind: (_c, _a, p) => p, custodies: () => core.custody.list() }, ids);
    if ('problems' in prepared) throw new Error(prepared.problems.join());
    const params = { ...prepared.params, ckaId: derivedKeyId(parsed.sha256, 'root-key') };
    const orphan = core.quorum.propose({
      custodyId,
      action: 'key.generate',
      params,
      requestedBy: people.Ada!.id,
      script: bindingOf(parsed, parsed.script.steps[1]!),
    });
    run = await core.ceremonies.perform({ runId: run.id, stepId: 'root-key', by: proof('Ada') });
    expect(run.steps[1]!.proposalId).toBe(orphan.id);
    expect(core.quorum.list().filter((p) => p.state === 'open')).toHaveLength(1);
  });

  it('binds a script proposal to its custody: a row pointed at another custody is refused as tampered', async () => {
    const run = await core.ceremonies.start(script(), proof('Ada'));
    await custodyStep(run.id);
    await core.ceremonies.witness(run.id, 'custody', proof('Eve'));
    const made = await core.ceremonies.perform({ runId: run.id, stepId: 'root-key', by: proof('Ada') });
    const second = await custodyOfSecondToken();
    core.close();
    const proposalId = made.steps[1]!.proposalId!;
    asDatabaseWriter(dataDir, (db) => {
      db.pragma('foreign_keys = OFF');
      db.prepare('UPDATE proposals SET custody_id = ? WHERE id = ?').run(second.id, proposalId);
    });
    core = CustosCore.open({ dataDir, version: 'test', production: false, operator: 'test', clock: () => clock.now });
    await expect(
      core.quorum.approve({ proposalId, ...proof('Babbage'), fingerprint: made.steps[1]!.fingerprint! }),
    ).rejects.toMatchObject({ code: 'PROPOSAL_TAMPERED' });
  });

  it('says in its lint what the rehearsal policy asks of the script, and a real run waits for a passed rehearsal', async () => {
    const text = script();
    expect(core.ceremonies.lint(text).rehearsal).toEqual({ required: false, lastPassed: null, limits: [] });
    await core.ceremonies.setPolicy(true, proof('Olga Setup'));
    expect(core.ceremonies.lint(text).rehearsal).toEqual({ required: true, lastPassed: null, limits: [] });
    await expect(core.ceremonies.start(text, proof('Ada'))).rejects.toMatchObject({
      code: 'CEREMONY_STEP_REFUSED',
      remedy: [expect.stringContaining('Rehearse this script')],
    });
    const record = { title: 'Root signing key', people: [], runId: null, reportSha256: null };
    core.ceremonies.recordRehearsal({ ...record, script: scriptSha256(text), outcome: 'incomplete' });
    core.ceremonies.recordRehearsal({
      ...record,
      script: scriptSha256(text.replace('4.12', '4.13')),
      outcome: 'passed',
    });
    expect(core.ceremonies.lint(text).rehearsal).toEqual({ required: true, lastPassed: null, limits: [] });
    core.ceremonies.recordRehearsal({ ...record, script: scriptSha256(text), outcome: 'passed' });
    expect(core.ceremonies.lint(text).rehearsal).toEqual({
      required: true,
      lastPassed: clock.now.toISOString(),
      limits: [],
    });
    expect((await core.ceremonies.start(text, proof('Ada'))).state).toBe('in-progress');
  });

  it('says in its lint when a script cannot be rehearsed, and why', () => {
    const onSet = (action: string, params: string) =>
      script().replace(
        /steps:\n[\s\S]*$/,
        `steps:
  - id: set
    title: The backup set
    by: Ada
    action: ${action}
    params: { setId: ${'fe'.repeat(16)}, ${params} }
    approvers: [Babbage, Curie]
`,
      );
    // A retirement of a real set has nothing to act on in a rehearsal; a restore restores a practice set instead.
    expect(core.ceremonies.lint(onSet('backup.retire', 'reason: Superseded')).rehearsal!.limits).toEqual([
      expect.stringMatching(/^set: backup\.retire acts on a real backup set, whose cards never go into a rehearsal/),
    ]);
    expect(core.ceremonies.lint(onSet('key.restore', 'overrideDestroyed: false')).rehearsal!.limits).toEqual([]);
    const crl = (revoke: string) =>
      script().replace(
        /steps:\n[\s\S]*$/,
        `steps:
  - id: crl
    title: Sign the list
    by: Ada
    action: crl.issue
    params: { issuerKeyId: ${'ab'.repeat(16)}, revoke: ${revoke} }
    approvers: [Babbage, Curie]
`,
      );
    // A list that revokes a real CA's certificates is rehearsed on the stand-in CA's copies of them, as a renewal is.
    expect(
      core.ceremonies.lint(crl(`[{ serial: '${'0a'.repeat(20)}', reason: superseded }]`)).rehearsal!.limits,
    ).toEqual([]);
    expect(core.ceremonies.lint(crl('[]')).rehearsal!.limits).toEqual([]);
  });

  it('can be rehearsed when it backs up the keys it generates (a list of @step references)', () => {
    const backup = `  - id: backup
    title: Back up the root key
    by: Curie
    action: key.backup
    params: { keyIds: ["@root-key"], holders: [Ada, Babbage, Curie], threshold: 2, verify: true }
    approvers: [Ada, Babbage]
`;
    // Before the fix a list was taken for a real key's id, and the root key template could not be rehearsed.
    expect(planRehearsal(core, script(backup)).parsed.script.steps.map((s) => s.id)).toContain('backup');
  });

  it('refuses to start outside the script’s window', async () => {
    const text = script();
    clock.now = new Date(clock.now.getTime() + 7 * 3600_000);
    await expect(core.ceremonies.start(text, proof('Ada'))).rejects.toMatchObject({ code: 'CEREMONY_SCRIPT_INVALID' });
  });
});

describe('a script run’s report', () => {
  async function shortRun() {
    const run = await witnessedScriptRun(core, { clock, people, token });
    expect(run.state).toBe('done');
    return { run: { id: run.runId }, report: core.reports.stored(run.reportId).report };
  }
  type Report = ReturnType<typeof core.reports.stored>['report'];
  type RunEvent = { seq: number; event: Record<string, unknown> };
  const resigned = (report: Omit<Report, 'v'> & { v: number }) => {
    const bytes = Buffer.from(canonicalJson(report), 'utf8');
    return verifyReport(bytes, core.audit.signDocument(bytes), core.audit.noteKey()!);
  };
  const failed = (report: Omit<Report, 'v'> & { v: number }) =>
    resigned(report)
      .checks.filter((c) => !c.ok)
      .map((c) => `${c.check} — ${c.detail ?? ''}`);
  const PARTICIPANTS = /^participants: each part, person and time as a signed entry of this ceremony records it — /;

  it('ties each performer and witness to their signed entry; a person, time or step changed, one added, fails', async () => {
    const { run, report } = await shortRun();
    expect(resigned(report).ok).toBe(true);
    const ceremony = report.ceremony as { runEvents: RunEvent[] };
    const eve = people['Eve']!.id;
    // Each person's entry is about the run, by them, at the time the report gives, and its params are the event's.
    for (const p of report.participants) {
      const carried = report.audit.entries.find((e) => e.seq === p.seq)!;
      const entry = JSON.parse(carried.entry) as { actor: { id: string }; time: string; object: { id: string } };
      expect({ id: entry.actor.id, at: entry.time, run: entry.object.id }).toEqual({ id: p.id, at: p.at, run: run.id });
      expect(ceremony.runEvents.map((r) => r.seq)).toContain(p.seq);
    }
    const [, eveOnCustody, curie] = report.participants as [Participant, Participant, Participant];
    expect([eveOnCustody.name, curie.name]).toEqual(['Eve', 'Curie']);
    const babbage = { ...eveOnCustody, id: people['Babbage']!.id, name: 'Babbage' };
    const replaced = (i: number, p: Participant | null) =>
      report.participants.flatMap((q, j) => (j === i ? (p ? [p] : []) : [q]));
    const forgeries: Record<string, { participants: Participant[]; detail: RegExp }> = {
      'a witness left out': {
        participants: replaced(1, null),
        detail: new RegExp(
          `entry ${eveOnCustody.seq} records ${eve} witnessed: Take the token into custody at .*not list`,
        ),
      },
      'another witness named': {
        participants: replaced(1, babbage),
        detail:
          /Babbage .* witnessed: Take the token into custody at .*: no signed entry of this ceremony records that/,
      },
      'a sign-off moved': {
        participants: replaced(1, { ...eveOnCustody, at: '2020-01-01T00:00:00.000Z' }),
        detail: /Eve .* witnessed: Take the token into custody: the report says 2020-01-01T00:00:00.000Z/,
      },
      'a sign-off moved to another step': {
        participants: replaced(1, { ...eveOnCustody, part: 'witnessed: Seal the printed report' }),
        detail: /Eve .* witnessed: Seal the printed report at .*: no signed entry/,
      },
      'a performer swapped': {
        participants: replaced(2, { ...curie, id: people['Ada']!.id, name: 'Ada' }),
        detail: /Ada .* performed: Seal the printed report at .*: no signed entry/,
      },
      'a witness added': {
        participants: [...report.participants, babbage],
        detail: /Babbage .* witnessed: .*: no signed entry of this ceremony records that/,
      },
    };
    for (const [what, { participants, detail }] of Object.entries(forgeries)) {
      const lines = failed({ ...report, participants });
      expect(lines, what).toEqual([expect.stringMatching(PARTICIPANTS)]);
      expect(lines[0], what).toMatch(detail);
    }
    // The event re-pointed at another step, so the witness reads as signing that one off: its entry hashed another.
    const moved = ceremony.runEvents.map((r) =>
      r.seq === eveOnCustody.seq ? { ...r, event: { ...r.event, step: 'bag' } } : r,
    );
    expect(failed({ ...report, ceremony: { ...ceremony, runEvents: moved } })).toEqual([
      expect.stringMatching(
        new RegExp(
          `${PARTICIPANTS.source}entry ${eveOnCustody.seq} \\(ceremony.witness by ${eve}\\): the report carries no event it signed`,
        ),
      ),
      // And the step it signed off reads as not signed off: its listed state and sign-off time are no entry's.
      expect.stringMatching(
        /^steps: .* — step 1 \(custody\): state “done” where the entries give performed; witnesses/,
      ),
    ]);
  });

  it('in format 3 carries every marker: the events and each person’s seq; left out, it fails, not NOT CHECKED', async () => {
    const { report } = await shortRun();
    const { runEvents: _events, ...ceremony } = report.ceremony as { runEvents: RunEvent[] };
    const unseq = report.participants.map(({ seq: _seq, ...p }) => p);
    expect(failed({ ...report, ceremony })).toEqual([
      'report format: every marker its kind carries in format 3 — a format-3 report without ceremony.runEvents',
    ]);
    expect(failed({ ...report, participants: unseq })).toEqual([
      'report format: every marker its kind carries in format 3 — a format-3 report without participants.0.seq',
    ]);
    // A format-1 report made before this carried neither: NOT CHECKED, as before (a later log says if it may be one).
    const older = resigned({ ...report, v: 1, ceremony, participants: unseq });
    expect(older.ok).toBe(true);
    expect(older.checks).toContainEqual(
      expect.objectContaining({ check: expect.stringMatching(/^participants/), skipped: true }),
    );
  });

  it('with the later log, fails a witness left out together with the entry and event it carried', async () => {
    const { run, report } = await shortRun();
    const ceremony = report.ceremony as unknown as RunCeremony;
    const eve = report.participants[1]!;
    const unsigned = { state: 'performed', witnesses: [{ name: 'Eve', signedAt: null }] };
    const dropped = {
      ...report,
      ceremony: {
        ...ceremony,
        runEvents: ceremony.runEvents.filter((r) => r.seq !== eve.seq),
        // Listed as the entries left make it: performed, not signed off (as signed, the steps check fails it).
        steps: ceremony.steps.map((s) => (s.id === 'custody' ? { ...s, ...unsigned } : s)),
      },
      participants: report.participants.filter((p) => p !== eve),
      audit: { ...report.audit, entries: report.audit.entries.filter((e) => e.seq !== eve.seq) },
    };
    // The carried entries agree with the list.
    expect(resigned(dropped).ok).toBe(true);
    expect(failed({ ...dropped, ceremony: { ...dropped.ceremony, steps: ceremony.steps } })).toEqual([
      expect.stringMatching(/^steps: .* — step 1 \(custody\): state “done” where the entries give performed/),
    ]);
    const later = { source: 'the live log', key: core.audit.noteKey()! };
    const log = core.audit.log().entriesAbout(`ceremony-run:${run.id}`);
    // As report verify reads report.json.
    const read = (r: object) => (parseReportFile(Buffer.from(canonicalJson(r))) as { report: ReportFile }).report;
    expect(checkRunPartsInLog(read(report), log, later)).toMatchObject({ ok: true });
    expect(checkRunPartsInLog(read(dropped), log, later)).toEqual({
      check:
        'participants: every step performed or witnessed that the live log records on this run, up to the report’s checkpoint',
      ok: false,
      detail: expect.stringContaining(`entry ${eve.seq} (ceremony.witness by ${eve.id}): the report carries no event`),
    });
  });

  type RunCeremony = {
    runEvents: RunEvent[];
    script: { sha256: string; text: string };
    title: string;
    token: { serial: string; label: string };
    startedAt: string;
    steps: { id: string; title: string; by: string; witnesses: { name: string; signedAt: string | null }[] }[];
  };
  const START = 'script and steps: the ones the run’s signed ceremony.start entry recorded';
  /** The same script with one word of a manual step changed: another SHA-256, the same steps. */
  const otherScript = (text: string) => {
    const other = text.replace("Read the bag's serial aloud.", "Read the bag's serial aloud slowly.");
    expect(other).not.toBe(text);
    return { sha256: scriptSha256(other), text: other };
  };

  it('names the script its ceremony.start entry recorded; another script, title, token or start time fails', async () => {
    const { run, report } = await shortRun();
    const ceremony = report.ceremony as unknown as RunCeremony;
    // The run's first event is its start, whose entry hashes the script's SHA-256, the title and the token.
    const [start, ...rest] = ceremony.runEvents as [RunEvent, ...RunEvent[]];
    expect(start.event).toMatchObject({ kind: 'start', script: ceremony.script.sha256, title: ceremony.title });
    expect(rest.every((r) => r.seq > start.seq)).toBe(true);
    expect(resigned(report).checks).toContainEqual({ check: START, ok: true });
    const recorded = ceremony.script.sha256;
    const other = otherScript(ceremony.script.text);
    const at = `entry ${start.seq}`;
    const forgeries: Record<string, { ceremony: object; detail: string }> = {
      'another script (its text and SHA-256)': {
        ceremony: { ...ceremony, script: other },
        detail: `the report names the script SHA-256 ${other.sha256}; ${at} started the run with ${recorded}`,
      },
      'only the SHA-256 changed': {
        ceremony: { ...ceremony, script: { ...ceremony.script, sha256: other.sha256 } },
        detail:
          `the report names the script SHA-256 ${other.sha256}; ${at} started the run with ${recorded}; ` +
          `the script text the report carries hashes to ${recorded}, not ${other.sha256}`,
      },
      'the start event re-pointed at that script too': {
        ceremony: {
          ...ceremony,
          script: other,
          runEvents: [{ ...start, event: { ...start.event, script: other.sha256 } }, ...rest],
        },
        detail: `${at} (ceremony.start) hashes other params than the start event the report carries`,
      },
      'the start event left out': {
        ceremony: { ...ceremony, runEvents: rest },
        detail: `the report carries no start event of run ${run.id}`,
      },
      'another title': {
        ceremony: { ...ceremony, title: 'Custody only' },
        detail: `the report titles the run “Custody only”; ${at} recorded “Custody and a sealed bag”`,
      },
      'another token': {
        ceremony: { ...ceremony, token: { ...ceremony.token, serial: '0000000000000000' } },
        detail:
          `the report names the token “${token.label}” serial “0000000000000000”; ${at} recorded ` +
          `“${token.label}” serial “${token.serial}”`,
      },
      'another start time': {
        ceremony: { ...ceremony, startedAt: '2020-01-01T00:00:00.000Z' },
        detail: `the report says the run started “2020-01-01T00:00:00.000Z”; ${at} records “${ceremony.startedAt}”`,
      },
      'said to be a rehearsal': {
        ceremony: { ...ceremony, rehearsal: true, title: `REHEARSAL: ${ceremony.title}` },
        detail:
          `the report says type ceremony.script-run, action ceremony.script-run, rehearsal true; ${at} started a ` +
          'real run (type ceremony.script-run, action ceremony.script-run, rehearsal false); the report titles the ' +
          `run “REHEARSAL: Custody and a sealed bag”; ${at} recorded “Custody and a sealed bag”`,
      },
    };
    for (const [what, { ceremony: forged, detail }] of Object.entries(forgeries))
      expect(failed({ ...report, ceremony: forged as Report['ceremony'] }), what).toEqual([`${START} — ${detail}`]);
  });

  it('lists each step as the script its start entry hashes does: a title, performer or witness changed fails', async () => {
    const { report } = await shortRun();
    const ceremony = report.ceremony as unknown as RunCeremony;
    const steps = ceremony.steps;
    expect(steps.map((s) => `${s.id}: ${s.title}`)).toEqual([
      'custody: Take the token into custody',
      'bag: Seal the printed report',
      'checkpoint: Sign the closing checkpoint',
    ]);
    const withSteps = (edited: RunCeremony['steps'], participants = report.participants) => ({
      ...report,
      ceremony: { ...ceremony, steps: edited } as unknown as Report['ceremony'],
      participants,
    });
    const changed = (id: string, change: object) => steps.map((s) => (s.id === id ? { ...s, ...change } : s));
    // Retitled with the parts beside it, the report agrees with itself: only the script says otherwise.
    const retitled = withSteps(
      changed('bag', { title: 'Seal the report unread' }),
      report.participants.map((p) => ({
        ...p,
        part: p.part.replace('Seal the printed report', 'Seal the report unread'),
      })),
    );
    expect(failed(retitled)).toEqual([
      `${START} — step 2 (bag): the report says title “Seal the report unread”; the script title “Seal the printed report”`,
    ]);
    expect(failed(withSteps(changed('bag', { by: 'Babbage' })))).toEqual([
      `${START} — step 2 (bag): the report says by “Babbage”; the script by “Curie”`,
    ]);
    const witnesses = [...steps[0]!.witnesses, { name: 'Babbage', signedAt: null }];
    expect(failed(withSteps(changed('custody', { witnesses })))).toEqual([
      `${START} — step 1 (custody): the report says witnesses [Eve, Babbage]; the script witnesses [Eve]`,
      // Not signed off by the witness added, the step cannot be done either.
      expect.stringMatching(/^steps: .* — step 1 \(custody\): state “done” where the entries give performed$/),
    ]);
    expect(failed(withSteps([steps[0]!, steps[2]!, steps[1]!]))).toEqual([
      expect.stringMatching(
        new RegExp(
          `^${START} — step 2 \\(bag\\): the report says id “checkpoint”, title “Sign the closing checkpoint”, kind ` +
            '“checkpoint”, by “Ada”; the script id “bag”, title “Seal the printed report”, kind “manual”, by “Curie”; ' +
            'step 3 \\(checkpoint\\): ',
        ),
      ),
    ]);
    expect(failed(withSteps(steps.slice(0, 2)))).toContainEqual(
      `${START} — step 3 of the script (checkpoint) is not in the report`,
    );
  });

  it('is read as a script run by its entries: relabelled a custody’s without its events, format 3 fails', async () => {
    const { report } = await shortRun();
    const { runEvents: _events, ...ceremony } = report.ceremony as unknown as RunCeremony;
    const relabelled = {
      ...report,
      type: 'custody.take',
      ceremony: { ...ceremony, action: 'custody.take', custodyBegun: null } as unknown as Report['ceremony'],
    };
    expect(failed(relabelled)).toContainEqual(
      'report format: every marker its kind carries in format 3 — a format-3 report without ceremony.runEvents',
    );
  });

  it('with the later log, fails a start appended for another script and carried as the run’s only entry', async () => {
    const { run, report } = await shortRun();
    const ceremony = report.ceremony as unknown as RunCeremony;
    const start = ceremony.runEvents[0]!;
    const other = otherScript(ceremony.script.text);
    // Whoever holds the audit key appends a start of the same run for another script.
    const event = { ...start.event, script: other.sha256 };
    const object = { type: 'ceremony-run', id: run.id };
    core.audit.record({ actor: SYSTEM, action: 'ceremony.start', object, params: event });
    const seq = core.audit.log().size() - 1;
    const { entry, signature } = core.audit.log().entry(seq);
    const appended = { seq, entry, signature: signature.toString('base64'), proof: [] };
    const aboutRun = (e: { entry: string }) => e.entry.includes(`"id":"${run.id}","type":"ceremony-run"`);
    expect(report.audit.entries.filter(aboutRun).length).toBe(ceremony.runEvents.length);
    const read = (r: object) => (parseReportFile(Buffer.from(canonicalJson(r))) as { report: ReportFile }).report;
    const carrying = (runEvents: RunEvent[], entries: typeof report.audit.entries) =>
      read({
        ...report,
        ceremony: { ...ceremony, script: other, runEvents, startedAt: (JSON.parse(entry) as { time: string }).time },
        participants: runEvents.length > 1 ? report.participants : [],
        audit: { ...report.audit, treeSize: seq + 1, entries },
      });
    const others = report.audit.entries.filter((e) => !aboutRun(e));
    // The run's other entries kept: they come before the start the report carries.
    const checked = (r: ReportFile) => {
      const checks: ReportCheck[] = [];
      checkRunStart(r, checks);
      return checks;
    };
    const kept = carrying(
      [{ seq, event }, ...ceremony.runEvents.slice(1)],
      [...report.audit.entries.filter((e) => e.seq !== start.seq), appended],
    );
    expect(checked(kept)).toEqual([
      {
        check: START,
        ok: false,
        detail: expect.stringMatching(
          new RegExp(`^entry ${ceremony.runEvents[1]!.seq} of the run comes before entry ${seq}, the start the report`),
        ),
      },
    ]);
    // Carried alone, the start agrees with everything the report carries: only the log begins the run otherwise.
    const alone = carrying([{ seq, event }], [...others, appended]);
    expect(checked(alone)).toEqual([{ check: START, ok: true }]);
    const later = { source: 'the live log', key: core.audit.noteKey()! };
    const log = core.audit.log().entriesAbout(`ceremony-run:${run.id}`);
    expect(checkRunStartInLog(read({ ...report, audit: { ...report.audit, treeSize: seq + 1 } }), log, later)).toEqual({
      check: 'script: the one the live log records the run started with, up to the report’s checkpoint',
      ok: true,
    });
    expect(checkRunStartInLog(alone, log, later)).toEqual({
      check: 'script: the one the live log records the run started with, up to the report’s checkpoint',
      ok: false,
      detail:
        `entry ${start.seq} of the live log started run ${run.id}, and the report carries the start of entry ${seq} ` +
        'instead: its script, title or token are not the ones the run started with',
    });
  });

  type ListedStep = RunCeremony['steps'][number] & Record<string, unknown>;
  /** The report with one listed step changed (by id), everything else as signed. */
  const withStep = (report: Report, id: string, change: object) => {
    const ceremony = report.ceremony as unknown as RunCeremony;
    const steps = ceremony.steps.map((s) => (s.id === id ? { ...s, ...change } : s));
    return { ...report, ceremony: { ...ceremony, steps } as unknown as Report['ceremony'] };
  };

  it('lists each step’s value, checkpoint, state and times as its signed events do: one changed fails', async () => {
    const { report } = await shortRun();
    expect(resigned(report).checks).toContainEqual({ check: STEPS, ok: true });
    const [custody, bag, checkpoint] = (report.ceremony as unknown as RunCeremony).steps as ListedStep[];
    expect([bag!.value, bag!.state, checkpoint!.checkpoint]).toEqual(['TE-1', 'done', expect.stringMatching(/\n\n— /)]);
    expect(failed(withStep(report, 'bag', { value: 'TE-2' }))).toEqual([
      `${STEPS} — step 2 (bag): value “TE-2” where the entries give “TE-1”`,
    ]);
    const note = String(checkpoint!.checkpoint).replace(/^[^\n]*/, 'another.example/log');
    expect(failed(withStep(report, 'checkpoint', { checkpoint: note }))).toEqual([
      expect.stringMatching(
        new RegExp(`^${STEPS} — step 3 \\(checkpoint\\): checkpoint “another\\.example/log…” where`),
      ),
    ]);
    expect(failed(withStep(report, 'custody', { state: 'waiting' }))).toEqual([
      `${STEPS} — step 1 (custody): state “waiting” where the entries give done`,
    ]);
    expect(failed(withStep(report, 'bag', { performedAt: custody!.performedAt }))).toEqual([
      `${STEPS} — step 2 (bag): performedAt “${String(custody!.performedAt)}” where the entries give ` +
        `“${String(bag!.performedAt)}”`,
    ]);
    expect(failed(withStep(report, 'bag', { witnesses: [{ name: 'Eve', signedAt: null }] }))).toEqual([
      `${STEPS} — step 2 (bag): witnesses signed at [] where the entries give [${bag!.witnesses[0]!.signedAt!}]`,
    ]);
    const aborted = { ...report, ceremony: { ...report.ceremony, state: 'aborted' } as unknown as Report['ceremony'] };
    expect(failed(aborted)).toEqual([
      `${STEPS} — the run: state “aborted” where the entries give done or in-progress (no abort)`,
    ]);
    // A value given to a step whose event records none, or an outcome to one that has none.
    expect(failed(withStep(report, 'custody', { value: 'TE-1', outcome: 'Carried out.' }))).toEqual([
      `${STEPS} — step 1 (custody): value “TE-1” where the entries give null; outcome “Carried out.” where the ` +
        'entries give null',
    ]);
  });

  it('lists a quorum step’s proposal, fingerprint and outcome as signed; an aborted run’s report passes', async () => {
    const text = script();
    const printed = core.ceremonies.lint(text).steps;
    let run = await core.ceremonies.start(text, proof('Ada'));
    run = await custodyStep(run.id);
    run = await core.ceremonies.witness(run.id, 'custody', proof('Eve'));
    run = await core.ceremonies.perform({ runId: run.id, stepId: 'root-key', by: proof('Ada') });
    for (const name of ['Babbage', 'Curie'])
      await core.quorum.approve({
        proposalId: run.steps[1]!.proposalId!,
        ...proof(name),
        fingerprint: printed[1]!.shortFingerprint!,
      });
    run = await core.ceremonies.witness(run.id, 'root-key', proof('Eve'));
    run = await core.ceremonies.perform({ runId: run.id, stepId: 'activate', by: proof('Babbage') });
    run = await core.ceremonies.abort(run.id, proof('Ada'), 'The room was not secured');
    expect(run.steps.map((s) => s.state)).toEqual(['done', 'done', 'failed', 'waiting', 'waiting']);
    // Made as a finished run's report is made (custos-core.ts), for the aborted run.
    const sources = (core.reports as unknown as { sources: Parameters<typeof runReport>[0] }).sources;
    const made = core.reports.keep(runReport(sources, core.ceremonies, run.id));
    const { report } = core.reports.stored(made.id);
    expect(resigned(report).ok).toBe(true);
    const [, generate, activate] = (report.ceremony as unknown as RunCeremony).steps as ListedStep[];
    expect([generate!.outcome, generate!.fingerprint]).toEqual(['Carried out.', printed[1]!.fingerprint]);
    expect(failed(withStep(report, 'root-key', { fingerprint: printed[2]!.fingerprint }))).toEqual([
      `${STEPS} — step 2 (root-key): fingerprint “${printed[2]!.fingerprint!}” where the entries give ` +
        `“${printed[1]!.fingerprint!}”`,
      // Its execution's entry hashes the fingerprint with the outcome, which the run's keys are checked against.
      'keys: each key’s public key, fingerprint and check value as the run’s signed outcome recorded — step ' +
        'root-key: no carried execution entry records the outcome it carries',
    ]);
    const finished = { ...report, ceremony: { ...report.ceremony, state: 'done' } as unknown as Report['ceremony'] };
    expect(failed(finished)).toEqual([`${STEPS} — the run: state “done” where the entries give aborted`]);
    // The activation was never carried out: the report cannot say it was.
    expect(failed(withStep(report, 'activate', { state: 'done', outcome: 'Carried out.' }))).toEqual([
      // A step said carried out carries the outcome its execution stored; one never carried out has none to carry.
      'report format: every marker its kind carries in format 3 — a format-3 report without ' +
        'ceremony.steps.2.outcomeAsRecorded',
      `${STEPS} — step 3 (activate): state “done” where the entries give proposed or failed; outcome “Carried out.” ` +
        'with no execution entry',
    ]);
    expect(failed(withStep(report, 'activate', { proposalId: generate!.proposalId }))).toEqual([
      `${STEPS} — step 3 (activate): proposalId “${String(generate!.proposalId)}” where the entries give ` +
        `“${String(activate!.proposalId)}”`,
    ]);
    expect(failed(withStep(report, 'bag', { state: 'performed', value: 'TE-9' }))).toEqual([
      `${STEPS} — step 4 (bag): state “performed” where the entries give waiting; value “TE-9” where the entries ` +
        'give null',
    ]);
  });

  it('lists a key only a restore step’s outcome names, with the public key that outcome recorded', async () => {
    // A backup set of a key made on another token, before the run.
    const elsewhere = await custodyOfSecondToken();
    const approved = async (action: string, params: Record<string, unknown>) => {
      const made = core.quorum.propose({ custodyId: elsewhere.id, action, params, requestedBy: people.Ada!.id });
      for (const name of ['Babbage', 'Curie'])
        await core.quorum.approve({ proposalId: made.id, ...proof(name), fingerprint: made.shortFingerprint });
      return (core.quorum.view(made.id).outcome as unknown as { result: { keyId: string; setId: string } }).result;
    };
    const { keyId } = await approved('key.generate', {
      algorithm: 'EC-P256',
      label: 'payments',
      usage: 'sign',
      backupable: true,
      cryptoperiodDays: 365,
      ckaId: 'ab'.repeat(16),
    });
    const holders = ['Ada', 'Babbage', 'Curie'].map((name) => people[name]!.id);
    const { setId } = await approved('key.backup', { keyIds: [keyId], holders, threshold: 2 });
    const cards = core.backups.printableCards(setId);

    const restore = `steps:
  - id: custody
    title: Take the token into custody
    by: Ada
    custody: { holders: [Ada, Babbage, Curie], threshold: 2 }
  - id: restore
    title: Restore the payments key
    by: Ada
    action: key.restore
    params: { setId: ${setId} }
    approvers: [Babbage, Curie]
`;
    const text = script().replace(/steps:\n[\s\S]*$/, restore);
    let run = await core.ceremonies.start(text, proof('Ada'));
    run = await custodyStep(run.id);
    run = await core.ceremonies.witness(run.id, 'custody', proof('Eve'));
    run = await core.ceremonies.perform({ runId: run.id, stepId: 'restore', by: proof('Ada') });
    const proposalId = run.steps[1]!.proposalId!;
    for (const name of ['Babbage', 'Curie'])
      await core.quorum.approve({ proposalId, ...proof(name), fingerprint: run.steps[1]!.fingerprint! });
    await core.backups.enterShare(proposalId, cards[0]!.text);
    expect(await core.backups.enterShare(proposalId, cards[1]!.text)).toMatchObject({ state: 'executed' });
    run = await core.ceremonies.witness(run.id, 'restore', proof('Eve'));
    expect(run.state).toBe('done');
    const { report } = core.reports.stored(run.reportId!);
    // Before, the run's report read the restore's result where its outcome was meant, and listed no key at all.
    const generated = core.keys.get(keyId);
    expect(report.keys).toEqual([
      expect.objectContaining({ id: keyId, label: 'payments', fingerprint: generated.fingerprint }),
    ]);
    expect(resigned(report).checks).toContainEqual({
      check: 'keys: each key’s public key, fingerprint and check value as the run’s signed outcome recorded',
      ok: true,
    });
    // Another key pair printed under its id, consistent in itself, as a forger holding the audit key would print it.
    const theirs = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey;
    const pem = theirs.export({ format: 'pem', type: 'spki' }).toString();
    const fingerprint = createHash('sha256')
      .update(theirs.export({ format: 'der', type: 'spki' }))
      .digest('hex');
    const swapped = { ...report, keys: [{ ...report.keys[0]!, publicKeyPem: pem, fingerprint }] };
    expect(failed(swapped)).toEqual([
      `keys: each key’s public key, fingerprint and check value as the run’s signed outcome recorded — key ${keyId}: ` +
        `the outcome recorded another fingerprint (${generated.fingerprint!})`,
    ]);
    // The step's outcome changed to match, or left out: its execution's entry hashes the outcome as stored.
    const restoreStep = (report.ceremony as unknown as RunCeremony).steps[1] as ListedStep & {
      outcomeAsRecorded: string;
    };
    const recorded = restoreStep.outcomeAsRecorded;
    expect(recorded).toContain(generated.fingerprint!);
    const edited = withStep(swapped, 'restore', {
      outcomeAsRecorded: recorded.replaceAll(generated.fingerprint!, fingerprint),
    });
    expect(failed(edited)).toEqual([
      'keys: each key’s public key, fingerprint and check value as the run’s signed outcome recorded — step restore: ' +
        'no carried execution entry records the outcome it carries',
    ]);
    // Format 3 requires it: left out, the report fails rather than saying the key NOT CHECKED.
    const stripped = withStep(swapped, 'restore', { outcomeAsRecorded: undefined });
    expect(failed(stripped)).toEqual([
      'report format: every marker its kind carries in format 3 — a format-3 report without ' +
        'ceremony.steps.1.outcomeAsRecorded',
    ]);
    expect(failed(withStep(report, 'restore', { action: undefined }))).toEqual([
      'report format: every marker its kind carries in format 3 — a format-3 report without ceremony.steps.1.action',
      // The execution's entry hashes the action with the outcome.
      'keys: each key’s public key, fingerprint and check value as the run’s signed outcome recorded — step restore: ' +
        'no carried execution entry records the outcome it carries',
    ]);
    // A format-2 report, made before steps carried their outcome as stored, passes with the restore's key NOT CHECKED
    // by the outcome; only a later log says whether the installation still wrote format 2 when it was made.
    const older = resigned({ ...withStep(report, 'restore', { outcomeAsRecorded: undefined }), v: 2 });
    expect(older.ok).toBe(true);
    expect(older.checks).toContainEqual({
      check: 'keys the run’s carried-out steps made or restored: as their signed outcomes recorded',
      ok: true,
      skipped: true,
      detail:
        'this report predates carrying the outcome as stored of step restore; their keys are checked against the ' +
        'fingerprint printed beside them only',
    });
    const later = { source: 'the live log', key: core.audit.noteKey()! };
    const read = (r: object) => (parseReportFile(Buffer.from(canonicalJson(r))) as { report: ReportFile }).report;
    const log = core.audit.log();
    const formats = [log.entry(0), ...log.entriesAbout(`report:${report.reportId}`)];
    expect(checkFormatInLog(read(report), formats, later)).toMatchObject({ ok: true });
    // This installation declared format 3 in its first entry: a format-2 report it made since is a forgery.
    expect(checkFormatInLog(read({ ...stripped, v: 2 }), formats, later)).toMatchObject({
      ok: false,
      detail: expect.stringMatching(/^entry 0 records that this installation writes format-3 reports, .* format 2:/),
    });
  });

  it('lists a rehearsal’s steps as its signed events do: a changed value fails there too', async () => {
    core.ceremonies.markScratch(token);
    const { report } = await shortRun();
    expect(report.type).toBe('ceremony.rehearsal');
    expect(resigned(report).ok).toBe(true);
    expect(failed(withStep(report, 'bag', { value: 'TE-2' }))).toEqual([
      `${STEPS} — step 2 (bag): value “TE-2” where the entries give “TE-1”`,
    ]);
  });
});

describe('planned ceremonies', () => {
  const call = async <T>(channel: string, payload: unknown = {}) => {
    const answer = await core.router.dispatch(channel, payload);
    if (!answer.ok) throw new Error(`${answer.error.code}: ${answer.error.message}`);
    return answer.value as T;
  };

  it('keeps a clean script as planned until a run of it starts; a broken one is not kept', async () => {
    const text = script();
    const planned = await call<{ sha256: string; title: string }>('ceremonies.plan', { script: text });
    expect(planned).toMatchObject({ title: 'Root signing key', location: 'Room 4.12', script: text });
    // Planning the same script again keeps one plan.
    await call('ceremonies.plan', { script: text });
    expect(await call<unknown[]>('ceremonies.planned')).toHaveLength(1);
    expect(
      await core.router.dispatch('ceremonies.plan', { script: 'format: custos-ceremony/1\nsteps: [' }),
    ).toMatchObject({ ok: false, error: { code: 'CEREMONY_SCRIPT_INVALID' } });

    await core.ceremonies.start(text, proof('Ada'));
    expect(await call<unknown[]>('ceremonies.planned')).toEqual([]);
    expect(await core.router.dispatch('ceremonies.plan', { script: text })).toMatchObject({
      ok: false,
      error: { code: 'CEREMONY_STEP_REFUSED' },
    });
  });

  it('withdraws a plan; an edited plan in the database is refused as tampered', async () => {
    const first = await call<{ sha256: string }>('ceremonies.plan', { script: script() });
    const second = await call<{ sha256: string }>('ceremonies.plan', { script: script('  # a later draft\n') });
    expect(await call('ceremonies.withdrawPlan', { sha256: first.sha256 })).toMatchObject([{ sha256: second.sha256 }]);
    expect(await core.router.dispatch('ceremonies.withdrawPlan', { sha256: first.sha256 })).toMatchObject({
      ok: false,
      error: { code: 'CEREMONY_NOT_FOUND' },
    });
    core.close();
    asDatabaseWriter(dataDir, (db) =>
      db.exec(`UPDATE ceremony_events SET body = replace(body, 'Room 4.12', 'Room 6.66') WHERE kind = 'plan'`),
    );
    core = CustosCore.open({ dataDir, version: 'test', production: false, operator: 'test', clock: () => clock.now });
    expect(await core.router.dispatch('ceremonies.planned', {})).toMatchObject({
      ok: false,
      error: { code: 'CEREMONY_TAMPERED' },
    });
  });
});
