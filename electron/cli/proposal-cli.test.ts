import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PROPOSABLE_ACTIONS } from '../../shared/actions';
import { totpCodeAt } from '../core/custodians/totp';
import { factorArgs, secretFd } from '../core/testing/cli-factors';
import { quorumFixture } from '../core/testing/quorum-fixture';
import { tempDataDir } from '../core/testing/softhsm-fixture';
import { EXIT, runCli } from './cli';

let dataDir: string;
let cleanup: () => void;
beforeEach(() => ({ dataDir, cleanup } = tempDataDir()));
afterEach(() => cleanup());

/** The CLI as a script or a person runs it; every prompt it would show at the terminal is kept. */
async function custos(args: string[], clock?: { now: Date }) {
  let stdout = '';
  let stderr = '';
  const prompts: string[] = [];
  const io = {
    stdout: (t: string) => (stdout += t),
    stderr: (t: string) => (stderr += t),
    env: {},
    // No stdin: a prompt answered with nothing fails the command the way a closed terminal would.
    ask: (prompt: string) => (prompts.push(prompt), Promise.resolve('')),
    ...(clock ? { clock: () => clock.now } : {}),
  };
  const code = await runCli(['--data-dir', dataDir, ...args], io, 'test');
  return {
    code,
    stdout,
    stderr,
    prompts,
    value: () => (JSON.parse(stdout) as { value: Record<string, unknown> }).value,
  };
}

describe('custos proposal actions and --help', () => {
  it('lists every action with its parameters, types and defaults, from the catalogue, without a data directory', async () => {
    const run = await custos(['proposal', 'actions']);
    expect(run.code).toBe(EXIT.ok);
    for (const action of PROPOSABLE_ACTIONS) expect(run.stdout).toContain(`  ${action}`);
    // A rehearsal's stand-in keys are its own doing: nobody proposes them by hand.
    expect(run.stdout).not.toContain('rehearsal.stand-ins');
    expect(run.stdout).toMatch(
      /key\.schedule-destruction\s+Schedule destruction\n\s+keyId=\s+string — key id[^\n]*\n\s+waitDays=\s+integer 7–30 \(default 30\)/,
    );
    expect(run.stdout).toMatch(/algorithm=\s+AES-256\|RSA-3072\|RSA-4096\|EC-P256\|EC-P384\|Ed25519\n/);
    // Custos binds a new key's CKA_ID itself: the proposer never gives it.
    expect(run.stdout).not.toContain('ckaId=');
    expect(run.stdout).toMatch(/token\.quorum-drill\s+Quorum drill\n\s+\(no parameters\)/);
    const help = await custos(['--help']);
    expect(help.stdout).toContain(run.stdout.slice(run.stdout.indexOf('\n') + 1));
  });

  it('shows the factor flags on every usage line that names who acts', async () => {
    const { stdout } = await custos(['--help']);
    const commands = stdout.split(/\n(?= {2}[a-z])/).filter((block) => /--(as|holder|officer|id) WHO/.test(block));
    expect(commands.length).toBeGreaterThanOrEqual(10);
    for (const usage of commands) expect(usage, usage).toMatch(/\[--passphrase-fd N\].*\[--code CODE\]/s);
  });
});

describe('custos proposal create, approve and show', () => {
  let clock: { now: Date };
  let enrolled: { id: string; passphrase: string; secret: string }[];
  beforeEach(async () => {
    const seeded = await quorumFixture(dataDir, [
      { name: 'Ada' },
      { name: 'Babbage' },
      { name: 'Curie', roles: ['custodian', 'security-officer'] },
      { name: 'ADA' },
    ]);
    seeded.close();
    ({ clock, enrolled } = seeded);
  });
  const factors = (...who: number[]) => factorArgs(dataDir, clock, enrolled, who);
  const cli = (...args: string[]) => custos(args, clock);
  /** Ada, Babbage and Curie take a new token into custody, 2 of 3; its custody id. */
  const takeCustody = async (label: string) => {
    const take = await cli(
      'custody',
      'take',
      '--holder',
      'Ada',
      '--holder',
      'Babbage',
      '--holder',
      'Curie',
      '--threshold',
      '2',
      '--new-label',
      label,
      ...factors(0, 1, 2),
    );
    expect(take.code, take.stderr).toBe(EXIT.ok);
    return /Custody id: ([0-9a-f]{16})/.exec(take.stdout)![1]!;
  };

  it('checks the parameters before any factor is asked: invalid ones are PROPOSAL_INVALID and nobody was prompted', async () => {
    const custodyId = 'a'.repeat(16);
    const wrong = await cli(
      'proposal',
      'create',
      '--custody',
      custodyId,
      '--action',
      'key.schedule-destruction',
      '--param',
      'keyId=nope',
      '--param',
      'waitDays=3',
      '--as',
      'Babbage',
    );
    expect(wrong).toMatchObject({ code: EXIT.invalidInput, prompts: [] });
    expect(wrong.stderr).toMatch(/^Error PROPOSAL_INVALID: .*no factor was asked/);
    expect(wrong.stderr).toContain('waitDays');
    expect(wrong.stderr).toContain('custos proposal actions');
    const unknown = await cli(
      'proposal',
      'create',
      '--json',
      '--custody',
      custodyId,
      '--action',
      'key.explode',
      '--as',
      'Babbage',
    );
    expect(unknown).toMatchObject({ code: EXIT.invalidInput, prompts: [] });
    expect(JSON.parse(unknown.stdout)).toMatchObject({ ok: false, error: { code: 'ACTION_UNKNOWN' } });
  });

  it('takes a custodian’s name for --as, --holder and holders=, refusing an unknown or ambiguous one before any prompt', async () => {
    const take = await cli(
      'custody',
      'take',
      '--holder',
      'Ada',
      '--holder',
      'babbage',
      '--holder',
      'Curie',
      '--threshold',
      '2',
      '--new-label',
      'by-name',
      ...factors(0, 1, 2),
    );
    expect(take).toMatchObject({ code: EXIT.ok, stdout: expect.stringContaining('2 of 3: Ada, Babbage, Curie') });
    const custodyId = /Custody id: ([0-9a-f]{16})/.exec(take.stdout)![1]!;

    const nobody = await cli(
      'proposal',
      'create',
      '--custody',
      custodyId,
      '--action',
      'token.quorum-drill',
      '--as',
      'Mallory',
    );
    expect(nobody).toMatchObject({
      code: EXIT.invalidInput,
      prompts: [],
      stderr: expect.stringMatching(/^Error CUSTODIAN_NOT_FOUND: No custodian has the id or name “Mallory”/),
    });
    const twoAdas = await cli(
      'proposal',
      'create',
      '--custody',
      custodyId,
      '--action',
      'token.quorum-drill',
      '--as',
      'ada',
    );
    expect(twoAdas).toMatchObject({
      code: EXIT.invalidInput,
      prompts: [],
      stderr: expect.stringMatching(/^Error CUSTODIAN_AMBIGUOUS: 2 custodians are named “ada”/),
    });
    expect(twoAdas.stderr).toContain(enrolled[3]!.id);

    const redeal = await cli(
      'proposal',
      'create',
      '--json',
      '--custody',
      custodyId,
      '--action',
      'custody.redeal',
      '--param',
      'threshold=2',
      '--param',
      'holders=Babbage,Curie',
      '--as',
      'Ada',
      ...factors(0),
    );
    expect(redeal.code, redeal.stderr).toBe(EXIT.ok);
    expect(redeal.value()).toMatchObject({
      requestedBy: enrolled[0]!.id,
      params: { holders: [enrolled[1]!.id, enrolled[2]!.id] },
    });
    const shown = await cli('proposal', 'show', '--id', String(redeal.value().id));
    expect(shown.stdout).toContain('Change of holders (custody.redeal) on “by-name”');
    expect(shown.stdout).toContain('Hand the token to Babbage, Curie: any 2 of the 2 open it.');
  });

  it('reads each --param as the catalogue types it: a label of digits or with a comma stays text', async () => {
    const custodyId = await takeCustody('vault-t');
    const create = (label: string) =>
      cli(
        'proposal',
        'create',
        '--json',
        '--custody',
        custodyId,
        '--action',
        'key.generate',
        ...[`label=${label}`, 'algorithm=EC-P256', 'usage=sign', 'backupable=false', 'cryptoperiodDays=365'].flatMap(
          (p) => ['--param', p],
        ),
        '--as',
        'Ada',
        ...factors(0),
      );
    for (const label of ['2026', 'true', 'payments, EU']) {
      const made = await create(label);
      expect(made.code, made.stderr).toBe(EXIT.ok);
      expect(made.value()).toMatchObject({ params: { label, cryptoperiodDays: 365, backupable: false } });
    }
  });

  it('prints a proposal as the catalogue’s sentence: the key by label, algorithm, state and token', async () => {
    const custodyId = await takeCustody('vault-s');
    const params = [
      'algorithm=EC-P256',
      'label=payments-signing',
      'usage=sign',
      'backupable=false',
      'cryptoperiodDays=365',
    ].flatMap((p) => ['--param', p]);
    const generate = await cli(
      'proposal',
      'create',
      '--json',
      '--custody',
      custodyId,
      '--action',
      'key.generate',
      ...params,
      '--as',
      'Ada',
      ...factors(0),
    );
    const g = generate.value() as { id: string; shortFingerprint: string };
    const done = await cli(
      'proposal',
      'approve',
      '--id',
      g.id,
      '--fingerprint',
      g.shortFingerprint,
      '--as',
      'Babbage',
      '--as',
      'Curie',
      ...factors(1, 2),
    );
    expect(done.stdout).toContain(
      '  Generate the EC P-256 sign key “payments-signing” in the token, never to leave it, for a 365-day cryptoperiod.',
    );
    expect(done.stdout).toMatch(/Outcome: Generated “payments-signing” \(EC P-256\), id [0-9a-f]{32}\./);
    const keyId = (await cli('key', 'list')).stdout.slice(0, 32);

    const schedule = await cli(
      'proposal',
      'create',
      '--custody',
      custodyId,
      '--action',
      'key.schedule-destruction',
      '--param',
      `keyId=${keyId}`,
      '--param',
      'waitDays=7',
      '--as',
      'Ada',
      ...factors(0),
    );
    expect(schedule.code, schedule.stderr).toBe(EXIT.ok);
    const id = /^Proposal ([0-9a-f]{16})/.exec(schedule.stdout)![1]!;
    const said =
      'Schedule destruction of “payments-signing” (EC P-256, pre-activation, token vault-s) after a 7-day wait.';
    expect(schedule.stdout).toContain(said);
    expect((await cli('proposal', 'show', '--id', id)).stdout).toContain(`  ${said}\n    Key id: ${keyId}\n`);
    expect((await cli('proposal', 'list')).stdout).toContain(said);
    expect((await cli('proposal', 'show', '--id', id)).stdout).not.toContain('{"keyId"');

    // Once scheduled, key list says the hour (UTC) the wait ends, as the Keys screen does, and when it is over.
    const short = /Fingerprint \(read it aloud\): (\S+)/.exec(schedule.stdout)![1]!;
    const approve = ['proposal', 'approve', '--id', id, '--fingerprint', short, '--as', 'Babbage', '--as', 'Curie'];
    expect((await cli(...approve, ...factors(1, 2))).code).toBe(EXIT.ok);
    const notBefore = new Date(clock.now.getTime() + 7 * 86_400_000);
    const [listed] = (await cli('key', 'list', '--json')).value() as unknown as { destructionNotBefore: string }[];
    expect(Math.abs(Date.parse(listed!.destructionNotBefore) - notBefore.getTime())).toBeLessThan(60_000);
    const hour = `${listed!.destructionNotBefore.slice(0, 10)} ${listed!.destructionNotBefore.slice(11, 16)} UTC`;
    expect((await cli('key', 'list')).stdout).toContain(`  destruction from ${hour}  `);
    clock.now = new Date(Date.parse(listed!.destructionNotBefore));
    expect((await cli('key', 'list')).stdout).toContain(`  destruction from ${hour} (wait over)  `);
  });

  it('rotates a key through the catalogue: key list shows the family, the versions and the rotation date', async () => {
    const custodyId = await takeCustody('vault-k');
    const propose = async (action: string, ...params: string[]) => {
      const made = await cli(
        'proposal',
        'create',
        '--json',
        '--custody',
        custodyId,
        '--action',
        action,
        ...params.flatMap((p) => ['--param', p]),
        '--as',
        'Ada',
        ...factors(0),
      );
      expect(made.code, made.stderr).toBe(EXIT.ok);
      const { id, shortFingerprint } = made.value() as { id: string; shortFingerprint: string };
      const approve = ['proposal', 'approve', '--id', id, '--fingerprint', shortFingerprint];
      const done = await cli(...approve, '--as', 'Babbage', '--as', 'Curie', ...factors(1, 2));
      expect(done.code, done.stderr).toBe(EXIT.ok);
      return done.stdout;
    };
    await propose(
      'key.generate',
      'algorithm=EC-P256',
      'label=rotating',
      'usage=sign',
      'backupable=false',
      'cryptoperiodDays=90',
    );
    const keyId = (await cli('key', 'list')).stdout.slice(0, 32);
    await propose('key.activate', `keyId=${keyId}`);
    const rotateBy = new Date(clock.now.getTime() + 90 * 86_400_000).toISOString().slice(0, 10);
    expect((await cli('key', 'list')).stdout).toContain(`v1, rotate by ${rotateBy}`);

    const rotated = await propose('key.rotate', `keyId=${keyId}`);
    expect(rotated).toContain(
      '  Rotate “rotating” (EC P-256, active, token vault-k): generate its successor in the same token',
    );
    expect(rotated).toMatch(/Outcome: “rotating” version 2 \(EC P-256\), id [0-9a-f]{32}, replaces “rotating”/);
    expect(rotated).toContain('Custos refuses to use it for them.');

    const listed = (await cli('key', 'list')).stdout;
    const successor = /rotated to ([0-9a-f]{8})… \(only Custos refuses it new protection\)/.exec(listed)?.[1];
    expect(successor).toBeDefined();
    expect(listed).toMatch(
      new RegExp(`^${successor}[0-9a-f]{24} {2}rotating .* active .* v2 of ${keyId.slice(0, 8)}…, rotate by `, 'm'),
    );
    expect(listed).toMatch(new RegExp(`^${keyId} {2}rotating .* deactivated .* v1, rotated to ${successor}…`, 'm'));
    const json = (await cli('key', 'list', '--json')).value() as unknown as { family: string; version: number }[];
    expect(json.map((k) => [k.family, k.version]).sort()).toEqual([
      [keyId, 1],
      [keyId, 2],
    ]);
  });

  it('rejects only with --reason, checked before any factor is asked, and shows who rejected or cancelled and why', async () => {
    const custodyId = await takeCustody('vault-r');
    const drill = async () => {
      const made = await cli(
        'proposal',
        'create',
        '--json',
        '--custody',
        custodyId,
        '--action',
        'token.quorum-drill',
        '--as',
        'Ada',
        ...factors(0),
      );
      expect(made.code, made.stderr).toBe(EXIT.ok);
      return String(made.value().id);
    };
    const id = await drill();

    const without = await cli('proposal', 'reject', '--id', id, '--as', 'Babbage');
    expect(without).toMatchObject({ code: EXIT.invalidInput, prompts: [] });
    expect(without.stderr).toMatch(/^Error IPC_INVALID_PAYLOAD: proposal reject needs --reason TEXT/);
    for (const [reason, said] of [
      ['   ', 'The reason is empty.'],
      ['x'.repeat(501), 'The reason is longer than 500 characters.'],
      ['one\ntwo', 'The reason holds a control character'],
    ] as const) {
      const wrong = await cli('proposal', 'reject', '--id', id, '--reason', reason, '--as', 'Babbage');
      expect(wrong, JSON.stringify(reason)).toMatchObject({ code: EXIT.invalidInput, prompts: [] });
      expect(wrong.stderr).toContain(said);
    }
    expect((await cli('proposal', 'show', '--id', id)).stdout).toMatch(/ — open\n/);

    const why = 'Babbage heard 7a8c at the end, not what the screen shows';
    const rejected = await cli('proposal', 'reject', '--id', id, '--reason', why, '--as', 'Babbage', ...factors(1));
    expect(rejected.code, rejected.stderr).toBe(EXIT.ok);
    expect(rejected.stdout).toMatch(/ — rejected\n/);
    expect(rejected.stdout).toMatch(
      /\n {2}Rejected by Babbage at \d{4}-\d\d-\d\d \d\d:\d\d UTC\n {2}Reason: Babbage heard 7a8c/,
    );
    for (const shown of [await cli('proposal', 'show', '--id', id), await cli('proposal', 'list')])
      expect(shown.stdout).toContain(`Rejected by Babbage at`);
    expect((await cli('proposal', 'list')).stdout).toContain(`  Reason: ${why}\n`);
    const json = await cli('proposal', 'show', '--json', '--id', id);
    expect(json.value()).toMatchObject({ decision: { status: 'recorded', by: enrolled[1]!.id, reason: why } });

    const withdrawn = await cli('proposal', 'cancel', '--id', await drill(), '--as', 'Ada', ...factors(0));
    expect(withdrawn.code, withdrawn.stderr).toBe(EXIT.ok);
    expect(withdrawn.stdout).toMatch(/\n {2}Cancelled by Ada at [^\n]+\n {2}Reason: none given\n/);
  });

  it('documents --reason on the reject and cancel usage lines', async () => {
    const { stdout } = await custos(['--help']);
    expect(stdout).toContain('proposal reject --id P --reason TEXT --as WHO');
    expect(stdout).toContain('proposal cancel --id P [--reason TEXT] --as WHO');
  });
});

describe('custos custodian enrol --secret-out', () => {
  it('writes the authenticator key to a new 0600 file, never to the screen, then takes the first code', async () => {
    const keyFile = join(dataDir, 'grace.key');
    let stderr = '';
    const code = await runCli(
      [
        '--data-dir',
        dataDir,
        'custodian',
        'enrol',
        '--name',
        'Grace Hopper',
        '--role',
        'security-officer',
        '--passphrase-fd',
        secretFd(dataDir, 'quartz meadow lantern harbour pebble'),
        '--secret-out',
        keyFile,
      ],
      {
        stdout: () => {},
        stderr: (t) => (stderr += t),
        env: {},
        // What a script does between the two steps: read the key from the file, answer with the current code.
        ask: (prompt) => {
          expect(prompt).toBe('6-digit code from the authenticator: ');
          expect(statSync(keyFile).mode & 0o777).toBe(0o600);
          return Promise.resolve(totpCodeAt(readFileSync(keyFile, 'utf8').split('\n')[0]!, new Date()));
        },
      },
      'test',
    );
    expect(code, stderr).toBe(EXIT.ok);
    const [secret, uri] = readFileSync(keyFile, 'utf8').split('\n');
    expect(uri).toMatch(/^otpauth:\/\/totp\//);
    expect(stderr).not.toContain(secret!);
    expect(stderr).toContain(`The authenticator key is in ${keyFile}`);
    // An existing file is never overwritten: another key in it would be lost. It is refused before anyone's factors
    // are tried, so the officer's code is not spent on an enrolment that cannot go on.
    const officerCode = totpCodeAt(secret!, new Date(Date.now() + 30_000));
    const again = await custos([
      'custodian',
      'enrol',
      '--name',
      'Alan Turing',
      '--role',
      'custodian',
      '--officer',
      'Grace Hopper',
      '--secret-out',
      keyFile,
      '--passphrase-fd',
      secretFd(dataDir, 'other quiet harbour lantern ferry'),
      '--passphrase-fd',
      secretFd(dataDir, 'quartz meadow lantern harbour pebble'),
      '--code',
      officerCode,
    ]);
    expect(again).toMatchObject({ code: EXIT.invalidInput, stderr: expect.stringMatching(/^Error FILE_EXISTS/) });
    const check = await custos([
      'custodian',
      'check',
      '--id',
      'Grace Hopper',
      '--passphrase-fd',
      secretFd(dataDir, 'quartz meadow lantern harbour pebble'),
      '--code',
      officerCode,
    ]);
    expect(check.code, check.stderr).toBe(EXIT.ok);
  });
});
