import { execFileSync, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { forkRehearsal } from '../core/ceremony/rehearsal-host';
import { CustosCore } from '../core/custos-core';
import { CHILD } from '../core/testing/child-bundles';
import { totpCodeAt } from '../core/custodians/totp';
import { ceremonyInstallation, CEREMONY_PEOPLE } from '../core/testing/ceremony-fixture';
import { EXIT, runCli } from './cli';

/** `custos ceremony lint|run|show` on a real SoftHSM2 token: each person answers at the terminal in turn. */
let dataDir: string;
let cleanup: () => void;
let clock: { now: Date };
let people: Record<string, { passphrase: string; secret: string }>;
let file: string;

beforeEach(async () => {
  let token: { serial: string; label: string };
  ({ dataDir, cleanup, clock, people, token } = await ceremonyInstallation(CEREMONY_PEOPLE, 'cli-ceremony'));
  const opens = new Date(clock.now.getTime() - 3600_000).toISOString();
  const closes = new Date(clock.now.getTime() + 6 * 3600_000).toISOString();
  file = join(dataDir, 'ceremony.yml');
  writeFileSync(
    file,
    `format: custos-ceremony/1
title: Signing key from the terminal
purpose: Show that a script runs in a terminal.
location: Lab
window: { opens: "${opens}", closes: "${closes}" }
token: { serial: "${token.serial}", label: "${token.label}" }
roles: { administrator: Ada, custodians: [Ada, Babbage, Curie], witnesses: [Eve] }
steps:
  - { id: custody, title: Take custody, by: Ada, custody: { holders: [Ada, Babbage, Curie], threshold: 2 } }
  - id: signing-key
    title: Generate the signing key
    by: Ada
    action: key.generate
    params: { algorithm: EC-P256, label: terminal-key, usage: sign, backupable: false, cryptoperiodDays: 365 }
    approvers: [Babbage, Curie]
  - { id: bag, title: Bag the printout, by: Curie, manual: Seal the printout in a bag., record: bag serial }
`,
  );
});
afterEach(() => cleanup());

/** The real installation, opened here as the console's command would (between commands). */
const openReal = () =>
  CustosCore.open({ dataDir, version: 'test', production: false, operator: 'test', clock: () => clock.now });

/** Answers the prompts as the person named in each would; a person's second code waits for the next TOTP step. */
async function cli(
  args: string[],
  answers: {
    fingerprint?: string;
    wrongPassphraseOf?: string;
    /** Done once, at the command's first prompt, while it waits there. */
    meanwhile?: () => Promise<void>;
    /** The text of the n-th share card typed (from 1). */
    card?: (n: number) => string;
    /** Done once, as soon as the command writes this text. */
    said?: [string, () => void];
  } = {},
) {
  let stdout = '';
  let stderr = '';
  const prompts: string[] = [];
  let said = answers.said;
  const lastStep = new Map<string, number>();
  // Codes used by an earlier command are never accepted again: start a TOTP step later.
  clock.now = new Date(clock.now.getTime() + 30_000);
  const io = {
    stdout: (t: string) => (stdout += t),
    stderr: (t: string) => {
      stderr += t;
      if (said && stderr.includes(said[0])) {
        const [, then] = said;
        said = undefined;
        then();
      }
    },
    env: {},
    spawnRehearsal: forkRehearsal(CHILD.rehearsal),
    ask: async (prompt: string) => {
      if (prompts.length === 0) await answers.meanwhile?.();
      prompts.push(prompt);
      const name = /^(\w+(?: Setup)?)/.exec(prompt)?.[1] ?? '';
      const person = people[name];
      if (prompt.includes('passphrase') && name === answers.wrongPassphraseOf)
        return Promise.resolve('a guess at the passphrase, long enough');
      if (prompt.includes('passphrase') && person) return Promise.resolve(person.passphrase);
      if (prompt.includes('code') && person) {
        const step = Math.floor(clock.now.getTime() / 30_000);
        if (lastStep.get(name) === step) clock.now = new Date(clock.now.getTime() + 30_000);
        lastStep.set(name, Math.floor(clock.now.getTime() / 30_000));
        return Promise.resolve(totpCodeAt(person.secret, clock.now));
      }
      if (prompt.includes('fingerprint'))
        return Promise.resolve(
          answers.fingerprint === 'from-screen'
            ? (/Fingerprint: ([0-9a-f-]{19})/.exec(stderr.split('Proposed.').at(-1) ?? '')?.[1] ?? '')
            : (answers.fingerprint ?? ''),
        );
      if (prompt.includes('SO PIN')) return Promise.resolve('87654321');
      const card = /^Share card (\d+)/.exec(prompt);
      if (card && answers.card) return Promise.resolve(answers.card(Number(card[1])));
      if (prompt.includes('bag serial')) return Promise.resolve('TE-449120');
      return Promise.resolve('');
    },
    clock: () => clock.now,
  };
  const code = await runCli(['--data-dir', dataDir, ...args], io, 'test');
  return { code, stdout, stderr, prompts };
}

it('lists the shipped templates and prints one to fill in; its blanks are what lint names', async () => {
  const list = await cli(['ceremony', 'templates']);
  expect(list.code).toBe(EXIT.ok);
  expect(list.stdout).toMatch(/^root-key-generation\s+\S/m);
  const template = await cli(['ceremony', 'template', 'root-key-generation']);
  expect(template.code).toBe(EXIT.ok);
  writeFileSync(file, template.stdout);
  const blank = await cli(['ceremony', 'lint', file]);
  expect(blank.code).toBe(EXIT.invalidInput);
  expect(blank.stdout).toMatch(/is a placeholder: fill it in/);
  expect((await cli(['ceremony', 'template', '../../etc/passwd'])).code).toBe(EXIT.invalidInput);
});

it('lints a script, printing each quorum step’s fingerprint; a broken one exits with the problems', async () => {
  const linted = await cli(['ceremony', 'lint', file]);
  expect(linted.code, linted.stderr).toBe(EXIT.ok);
  expect(linted.stdout).toMatch(/SHA-256 of the script: [0-9a-f]{64}/);
  expect(linted.stdout).toMatch(/2\. Generate the signing key .*\n.*terminal-key[\s\S]*Fingerprint: [0-9a-f]{4}-/);
  expect(linted.stdout).toContain('Witnessed by: Eve   signature: ____________');

  writeFileSync(file, 'format: custos-ceremony/1\nsteps: [');
  const broken = await cli(['ceremony', 'lint', file]);
  expect(broken.code).toBe(EXIT.invalidInput);
  expect(broken.stdout + broken.stderr).toMatch(/YAML: .*line 2/);
  expect((await cli(['ceremony', 'lint', join(dataDir, 'missing.yml')])).code).toBe(EXIT.invalidInput);
  // A device is not read (it would never end).
  const device = await cli(['ceremony', 'lint', '/dev/zero']);
  expect(device.code).toBe(EXIT.invalidInput);
  expect(device.stderr).toContain('CEREMONY_SCRIPT_INVALID');
});

it('runs the script in the terminal, asking each person in turn; a wrong fingerprint approves nothing', async () => {
  const lint = JSON.parse((await cli(['--json', 'ceremony', 'lint', file])).stdout) as {
    value: { steps: { shortFingerprint: string | null }[] };
  };
  const printed = lint.value.steps[1]!.shortFingerprint!;

  // Cards are never written into the data directory, beside the wrapped keys: refused before the run starts.
  const inside = await cli(['ceremony', 'run', file, '--cards-dir', join(dataDir, 'cards')]);
  expect(inside.code).toBe(EXIT.invalidInput);
  expect(inside.stderr).toMatch(/FILE_ACCESS_DENIED.*inside the data directory/);

  // Read wrongly from the paper: refused, and the run waits at that step.
  const wrong = await cli(['ceremony', 'run', file], { fingerprint: '0000-0000-0000-0000' });
  expect(wrong.code).toBe(EXIT.refused);
  expect(wrong.stdout + wrong.stderr).toContain('FINGERPRINT_MISMATCH');

  const run = await cli(['ceremony', 'run', file], { fingerprint: printed });
  expect(run.code, run.stderr).toBe(EXIT.ok);
  expect(run.stderr).toContain('Resuming run');
  expect(run.stdout).toMatch(/— done\n/);
  expect(run.stdout).toContain('recorded “TE-449120”');
  expect(run.prompts).toContain('Eve’s passphrase: ');

  const list = await cli(['ceremony', 'list']);
  expect(list.stdout).toMatch(/done\s+.*Signing key from the terminal/);
  const keys = await cli(['key', 'list']);
  expect(keys.stdout).toContain('terminal-key');
});

it('rehearses in a scratch installation: nothing real is touched, the report says REHEARSAL on every page', async () => {
  const lint = JSON.parse((await cli(['--json', 'ceremony', 'lint', file])).stdout) as {
    value: { sha256: string; steps: { shortFingerprint: string | null }[] };
  };
  const policy = await cli(['ceremony', 'policy', '--require-rehearsal', 'on', '--as', 'Olga Setup']);
  expect(policy.code, policy.stderr).toBe(EXIT.ok);
  expect((await cli(['ceremony', 'lint', file])).stdout).toContain(
    'Rehearsal: the policy asks for a passed rehearsal of this exact script before the real run; none yet',
  );
  const refused = await cli(['ceremony', 'run', file], { fingerprint: lint.value.steps[1]!.shortFingerprint! });
  expect(refused.code).toBe(EXIT.refused);
  expect(refused.stderr).toContain('passed rehearsal');

  // The rehearsal token differs from the real one, so its proposals have their own fingerprints: read from the screen.
  const stepBefore = Math.floor(clock.now.getTime() / 30_000);
  const rehearsed = await cli(['ceremony', 'rehearse', file], { fingerprint: 'from-screen' });
  expect(rehearsed.code, rehearsed.stderr).toBe(EXIT.ok);
  expect(rehearsed.stdout).toContain('REHEARSAL passed');
  const pdf = /Rehearsal report \(REHEARSAL on every page\): (.+\.pdf)/.exec(rehearsed.stderr)![1]!;
  const pages = execFileSync('pdftotext', ['-layout', pdf, '-'], { encoding: 'utf8' })
    .split('\f')
    .filter((p) => p.trim());
  expect(pages.length).toBeGreaterThan(1);
  for (const page of pages) expect(page).toContain('REHEARSAL');
  expect((await cli(['ceremony', 'lint', file])).stdout).toMatch(
    /Rehearsal: .* one passed \d{4}-\d\d-\d\d \d\d:\d\d UTC\./,
  );

  // Counted and recorded, the rehearsal keeps only its report: no copy of anyone's sealed factors stays behind.
  expect(readdirSync(dirname(dirname(pdf)))).toEqual(['report']);
  // A code typed in the rehearsal is spent in the real installation too: none of Ada's since then is accepted.
  const db = new Database(join(dataDir, 'custos.db'), { readonly: true });
  const ada = db.prepare("SELECT last_time_step AS step FROM custodians WHERE name = 'Ada'").get() as { step: number };
  db.close();
  expect(ada.step).toBeGreaterThan(stepBefore);

  // The real installation: no key, no custody, the token untouched; the rehearsal recorded with its script's hash.
  expect((await cli(['key', 'list'])).stdout).not.toContain('terminal-key');
  expect((await cli(['custody', 'list'])).stdout).not.toContain('cli-ceremony');
  const run = await cli(['ceremony', 'run', file], { fingerprint: lint.value.steps[1]!.shortFingerprint! });
  expect(run.code, run.stderr).toBe(EXIT.ok);
  expect(run.stdout).toMatch(/— done\n/);
});

/** The key a real run of the usual script generates, and a rehearsal of a script that activates it and signs. */
async function rehearseActivation(roles: string) {
  const lint = JSON.parse((await cli(['--json', 'ceremony', 'lint', file])).stdout) as {
    value: { steps: { shortFingerprint: string | null }[] };
  };
  expect((await cli(['ceremony', 'run', file], { fingerprint: lint.value.steps[1]!.shortFingerprint! })).code).toBe(
    EXIT.ok,
  );
  const [key] = (JSON.parse((await cli(['--json', 'key', 'list'])).stdout) as { value: { id: string }[] }).value;
  const opens = new Date(clock.now.getTime() - 3600_000).toISOString();
  const closes = new Date(clock.now.getTime() + 6 * 3600_000).toISOString();
  const token = /token: \{[^}]+\}/.exec(readFileSync(file, 'utf8'))![0];
  const second = join(dataDir, 'activate.yml');
  writeFileSync(
    second,
    `format: custos-ceremony/1
title: Put the terminal key to use
purpose: Activate the key and prove it signs.
location: Lab
window: { opens: "${opens}", closes: "${closes}" }
${token}
roles: ${roles}
steps:
  - { id: activate, title: Activate it, by: Ada, action: key.activate, params: { keyId: ${key!.id} }, approvers: [Babbage, Curie] }
  - id: sign
    title: Sign a test text
    by: Ada
    action: key.test-signature
    params: { keyId: ${key!.id}, challenge: rehearsed }
    approvers: [Babbage, Curie]
`,
  );
  return { key: key!, rehearsed: await cli(['ceremony', 'rehearse', second], { fingerprint: 'from-screen' }) };
}

it('rehearses a script on a key of the real installation on a stand-in, which the holders approve first', async () => {
  const { key, rehearsed } = await rehearseActivation(
    '{ administrator: Ada, custodians: [Ada, Babbage, Curie], witnesses: [Eve] }',
  );
  expect(rehearsed.code, rehearsed.stderr).toBe(EXIT.ok);
  expect(rehearsed.stderr).toContain('The rehearsal makes stand-ins for them in its token');
  // Ada performs the step on the real key: she proposes the stand-ins with her own factors.
  expect(rehearsed.stderr).toContain('Ada: propose the stand-in keys (a new code).');
  expect(rehearsed.prompts).toContain('Babbage: the stand-ins’ fingerprint, as you read it: ');
  expect(rehearsed.stderr).toContain('The stand-ins are in the rehearsal token.');
  expect(rehearsed.stdout).toContain('REHEARSAL passed');
  // The real key was not activated: it is still waiting in pre-activation.
  const after = JSON.parse((await cli(['--json', 'key', 'list'])).stdout) as { value: { state: string }[] };
  expect(after.value).toEqual([expect.objectContaining({ id: key.id, state: 'pre-activation' })]);
}, 120_000);

it('the stand-ins of a script an auditor administers are proposed by the first step’s performer, approved by the others', async () => {
  const { rehearsed } = await rehearseActivation(
    '{ administrator: Eve, custodians: [Ada, Babbage, Curie], witnesses: [Eve] }',
  );
  // Before the fix: Eve, an auditor, was made to propose them (NOT_AUTHORIZED) once the holders had taken the token.
  expect(rehearsed.code, rehearsed.stderr).toBe(EXIT.ok);
  expect(rehearsed.prompts).not.toContain('Ada: the stand-ins’ fingerprint, as you read it: ');
  expect(rehearsed.stdout).toContain('REHEARSAL passed');
}, 120_000);

it('lint says when a script cannot be rehearsed, and why; rehearse refuses it before anything opens', async () => {
  const text = readFileSync(file, 'utf8').replace(
    /steps:\n[\s\S]*$/,
    `steps:\n  - { id: retire, title: Retire the old set, by: Ada, action: backup.retire, params: { setId: ${'fe'.repeat(16)}, reason: Superseded }, approvers: [Babbage, Curie] }\n`,
  );
  writeFileSync(file, text);
  const linted = await cli(['ceremony', 'lint', file]);
  expect(linted.stdout).toContain(
    'Rehearsal: not possible for this script:\n  - retire: backup.retire acts on a real backup set',
  );
  const rehearsed = await cli(['ceremony', 'rehearse', file]);
  expect(rehearsed.code).toBe(EXIT.invalidInput);
  expect(rehearsed.stderr).toContain('real backup set');
  expect(readdirSync(dataDir)).not.toContain('rehearsals');
});

it('a rehearsal refused part-way counts its failed attempts here at once, and is recorded as incomplete', async () => {
  // Babbage's passphrase is guessed wrongly in the rehearsal: the command stops there and ends the rehearsal.
  const guessed = await cli(['ceremony', 'rehearse', file], { wrongPassphraseOf: 'Babbage' });
  expect(guessed.code).toBe(EXIT.refused);
  expect(guessed.stderr).toContain('PASSPHRASE_INCORRECT');
  // Counted as the rehearsal answered, in the real installation the command held open.
  const shown = JSON.parse((await cli(['--json', 'custodian', 'list'])).stdout) as {
    value: { name: string; failures: number }[];
  };
  expect(shown.value.find((c) => c.name === 'Babbage')!.failures).toBe(1);
  const real = openReal();
  try {
    const [recorded] = real.ceremonies.rehearsals();
    // Taking part: Ada, whose code started the run there; not Babbage, whose passphrase was wrong.
    expect(recorded).toMatchObject({
      outcome: 'incomplete',
      people: [real.custodians.list().find((c) => c.name === 'Ada')!.id],
    });
  } finally {
    real.close();
  }
});

it('a rehearsal from the terminal holds the real installation: nobody uses it meanwhile (nor a code typed in it)', async () => {
  // Someone at the console starts a rehearsal and, while it waits at its first prompt, tries the real installation
  // from another terminal: it is locked until the rehearsal is recorded.
  const guess = () =>
    spawnSync(process.execPath, [CHILD.cli, '--data-dir', dataDir, 'custodian', 'check', '--id', 'Babbage'], {
      input: 'a guess at the passphrase, long enough\n000000\n',
      encoding: 'utf8',
      cwd: join(__dirname, '../..'),
    });
  let meanwhile = '';
  const rehearsed = await cli(['ceremony', 'rehearse', file], {
    fingerprint: 'from-screen',
    meanwhile: () => {
      meanwhile = guess().stderr;
      return Promise.resolve();
    },
  });
  expect(meanwhile).toContain('STORE_LOCKED');
  expect(rehearsed.code, rehearsed.stderr).toBe(EXIT.ok);
  expect(rehearsed.stdout).toContain('REHEARSAL passed');
  // Recorded and released: the real installation answers again.
  expect(guess().stderr).toContain('PASSPHRASE_INCORRECT');
  // A process of its own (node + tsx): slow on a loaded machine.
}, 120_000);

it('plans a script ahead: the list shows it as planned until its run starts; a plan can be withdrawn', async () => {
  const planned = await cli(['ceremony', 'plan', file]);
  expect(planned.code, planned.stderr).toBe(EXIT.ok);
  expect(planned.stdout).toMatch(/^Planned: planned .*Signing key from the terminal \(Lab; script [0-9a-f]{64}\)$/m);
  expect((await cli(['ceremony', 'list'])).stdout).toMatch(/^planned .*Signing key from the terminal/m);
  const sha = /script ([0-9a-f]{64})/.exec(planned.stdout)![1]!;
  const withdrawn = await cli(['ceremony', 'withdraw', '--id', sha]);
  expect(withdrawn.code, withdrawn.stderr).toBe(EXIT.ok);
  expect((await cli(['ceremony', 'list'])).stdout).not.toContain('planned');
  expect((await cli(['ceremony', 'withdraw', '--id', sha])).code).toBe(EXIT.invalidInput);
});

it('rehearses a restore drill of a real backup set on a practice set: its holders take practice cards and type them', async () => {
  const token = JSON.parse(/token: (\{[^}]+\})/.exec(readFileSync(file, 'utf8'))![1]!.replace(/(\w+):/g, '"$1":')) as {
    serial: string;
    label: string;
  };
  // The real installation: a key in custody, active, backed up on three cards (any two restore it).
  const core = openReal();
  const ids = new Map(core.custodians.list().map((c) => [c.name, c.id]));
  // Each person gives one code per action, at a TOTP step of its own.
  const proof = (name: string) => {
    const person = people[name]!;
    return { custodianId: ids.get(name)!, passphrase: person.passphrase, code: totpCodeAt(person.secret, clock.now) };
  };
  const call = async (channel: string, payload: unknown) => {
    const answer = await core.router.dispatch(channel as never, payload as never);
    if (!answer.ok) throw new Error(`${channel}: ${answer.error.code}`);
    return answer.value as { id: string; shortFingerprint: string };
  };
  const holders = ['Ada', 'Babbage', 'Curie'];
  clock.now = new Date(clock.now.getTime() + 30_000);
  const custody = await call('custody.take', {
    token,
    threshold: 2,
    holders: holders.map(proof),
    currentSoPin: '87654321',
  });
  const act = async (action: string, params: Record<string, unknown>) => {
    clock.now = new Date(clock.now.getTime() + 30_000);
    const proposal = await call('proposals.create', { custodyId: custody.id, action, params, requester: proof('Ada') });
    for (const name of ['Babbage', 'Curie'])
      await call('proposals.approve', {
        proposalId: proposal.id,
        fingerprint: proposal.shortFingerprint,
        approver: proof(name),
      });
  };
  await act('key.generate', {
    algorithm: 'EC-P256',
    label: 'payments',
    usage: 'sign',
    backupable: true,
    cryptoperiodDays: 365,
  });
  const key = core.keys.list()[0]!;
  await act('key.activate', { keyId: key.id });
  await act('key.backup', { keyIds: [key.id], holders: holders.map((n) => ids.get(n)), threshold: 2, verify: true });
  const setId = core.backups.list()[0]!.setId;
  core.backups.forgetCards(setId);
  core.close();

  const opens = new Date(clock.now.getTime() - 3600_000).toISOString();
  const closes = new Date(clock.now.getTime() + 6 * 3600_000).toISOString();
  const drill = join(dataDir, 'drill.yml');
  writeFileSync(
    drill,
    `format: custos-ceremony/1
title: Restore drill
purpose: Show that the set restores.
location: Lab
window: { opens: "${opens}", closes: "${closes}" }
token: { serial: "d1", label: "drill" }
roles: { administrator: Ada, custodians: [Ada, Babbage, Curie], witnesses: [Eve] }
steps:
  - { id: custody, title: Take the drill token, by: Ada, custody: { holders: [Ada, Babbage, Curie], threshold: 2 } }
  - { id: restore, title: Restore the set, by: Ada, action: key.restore, params: { setId: ${setId}, overrideDestroyed: false }, approvers: [Babbage, Curie] }
  - { id: sign, title: Sign with it, by: Babbage, action: key.test-signature, params: { keyId: ${key.id}, challenge: drill }, approvers: [Ada, Curie] }
`,
  );
  const cardsDir = join(dataDir, 'practice-cards');
  const cardText = (n: number) => {
    const folder = readdirSync(cardsDir).sort()[n - 1]!;
    const txt = readdirSync(join(cardsDir, folder)).find((f) => f.endsWith('.txt'))!;
    const lines = readFileSync(join(cardsDir, folder, txt), 'utf8').split('\n');
    expect(lines[0]).toBe('REHEARSAL — a practice card from a scratch token: it restores nothing real.');
    return lines[lines.findIndex((l) => l.startsWith('Backup set ')) + 1]!;
  };
  // The rehearsal process stops while the practice cards are handed out (killed here after the first): nothing more is
  // done, in the rehearsal or here. Before, the hand-out went on and the run started in the real installation.
  const killRehearsal = () => {
    const children = execFileSync('ps', ['-o', 'pid=,args=', '--ppid', String(process.pid)], { encoding: 'utf8' });
    const rehearsal = children.split('\n').filter((l) => l.includes(CHILD.rehearsal));
    expect(rehearsal).toHaveLength(1);
    process.kill(Number(rehearsal[0]!.trim().split(/\s+/)[0]), 'SIGKILL');
  };
  const stopped = await cli(['ceremony', 'rehearse', drill, '--cards-dir', join(dataDir, 'stopped')], {
    fingerprint: 'from-screen',
    card: () => '',
    said: ['Card 1 for Ada', killRehearsal],
  });
  expect(stopped.code).not.toBe(EXIT.ok);
  expect(stopped.stderr).toContain('REHEARSAL_STOPPED');
  expect(stopped.stderr).not.toContain('Card 2 for Babbage');
  expect(readdirSync(join(dataDir, 'stopped'))).toEqual(['practice-card-1-Ada']);
  const real = openReal();
  try {
    expect(real.ceremonies.list()).toEqual([]);
    expect(real.ceremonies.rehearsals()).toMatchObject([{ outcome: 'incomplete' }]);
  } finally {
    real.close();
  }

  // Nobody types a card: the command stops there and says why (before, it asked again and again).
  const empty = await cli(['ceremony', 'rehearse', drill, '--cards-dir', cardsDir], { fingerprint: 'from-screen' });
  expect(empty.stderr).toContain('No card typed: nothing was restored.');
  expect(empty.stdout).toContain('REHEARSAL did not finish');
  const rehearsed = await cli(['ceremony', 'rehearse', drill, '--cards-dir', cardsDir], {
    fingerprint: 'from-screen',
    card: cardText,
  });
  expect(rehearsed.code, rehearsed.stderr).toBe(EXIT.ok);
  expect(rehearsed.stderr).toContain(
    `The script restores backup set ${setId.slice(0, 8)}. The rehearsal made a practice set`,
  );
  // Named apart from the real set's cards (same set id), so a real card's files in that folder are never replaced.
  expect(readdirSync(cardsDir).sort()).toEqual([
    'practice-card-1-Ada',
    'practice-card-2-Babbage',
    'practice-card-3-Curie',
  ]);
  expect(cardText(1)).not.toBe('');
  expect(rehearsed.stdout).toContain('REHEARSAL passed');
  // The real key stays where it was: in its token, active, backed up once.
  const after = JSON.parse((await cli(['--json', 'key', 'list'])).stdout) as {
    value: { id: string; token: unknown }[];
  };
  expect(after.value).toEqual([expect.objectContaining({ id: key.id, token, state: 'active' })]);
}, 180_000);
