import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { totpCodeAt } from '../core/custodians/totp';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { join } from 'node:path';
import { leafHash, verifyConsistency, verifyInclusion } from '../core/audit/merkle';
import { afterEach, beforeEach, describe, expect, it, onTestFinished } from 'vitest';
import { Store } from '../core/store/database';
import { findSoftHsmLibrary, softHsmPaths } from '../core/hsm/softhsm';
import { initSoftHsmToken, tempDataDir } from '../core/testing/softhsm-fixture';
import { quorumFixture } from '../core/testing/quorum-fixture';
import { asDatabaseWriter, replaceAuditKeyInToken } from '../core/testing/audit-fixture';
import { factorArgs, secretFd } from '../core/testing/cli-factors';
import { PRACTICE_STATEMENT_SECTIONS } from '../core/compliance/practice-statement';
import { EXIT, runCli } from './cli';
import { runCustos } from './testing/run-cli';

let dataDir: string;
let cleanup: () => void;
beforeEach(() => ({ dataDir, cleanup } = tempDataDir()));
afterEach(() => cleanup());

const custos = (...args: string[]) => runCustos(dataDir, args);

describe('custos CLI', () => {
  it('token list --json shows the embedded SoftHSM2 token with its serial', async () => {
    const token = initSoftHsmToken(dataDir, 'cli-token');
    const run = await custos('token', 'list', '--json');
    expect(run.code).toBe(EXIT.ok);
    expect(JSON.stringify(run.json().value)).toContain(token.serial);
    const text = await custos('token', 'list');
    expect(text.stdout).toMatch(new RegExp(`Token “cli-token”  serial ${token.serial} .*\\[software token\\]`));
    expect(text.stdout).toContain('! Software token (SoftHSM2)');
  });

  it('token mechanisms prints the probed mechanisms of a token given by serial and label', async () => {
    const token = initSoftHsmToken(dataDir, 'cli-token');
    const run = await custos('token', 'mechanisms', '--serial', token.serial, '--label', token.label);
    expect(run.code).toBe(EXIT.ok);
    expect(run.stdout).toMatch(/CKM_AES_KEY_WRAP_PAD\s+0x210a/);
  });

  it('token select then token mechanisms uses the selected token', async () => {
    const token = initSoftHsmToken(dataDir, 'cli-token');
    expect((await custos('token', 'select', '--serial', token.serial, '--label', token.label)).code).toBe(EXIT.ok);
    expect((await custos('token', 'mechanisms')).stdout).toContain('CKM_EDDSA');
  });

  it('exits 3 with SOFTHSM_TOKEN_DIR_MISSING when the token directory was removed', async () => {
    initSoftHsmToken(dataDir, 'cli-token');
    const { tokenDir } = softHsmPaths(dataDir);
    renameSync(tokenDir, `${tokenDir}.gone`);
    const run = await custos('token', 'list', '--json');
    expect(run.code).toBe(EXIT.token);
    expect(run.json().error?.code).toBe('SOFTHSM_TOKEN_DIR_MISSING');
  });

  it('exits 4 with STORE_LOCKED while another Custos holds the data directory', async () => {
    const holder = Store.open(dataDir);
    try {
      const run = await custos('status', '--json');
      expect(run.code).toBe(EXIT.store);
      expect(run.json().error?.code).toBe('STORE_LOCKED');
    } finally {
      holder.close();
    }
  });

  it('exits 2 with usage on an unknown command', async () => {
    const run = await custos('token', 'explode');
    expect(run.code).toBe(EXIT.usage);
    expect(run.stderr).toContain('Usage: custos');
  });

  it('exits 5 when a token is selected without a serial', async () => {
    initSoftHsmToken(dataDir, 'cli-token');
    expect((await custos('token', 'select')).code).toBe(EXIT.invalidInput);
  });
});

describe('custos audit', () => {
  it('verify passes a fresh log and names what it checked', async () => {
    initSoftHsmToken(dataDir, 'cli-token');
    await custos('token', 'list');
    const run = await custos('audit', 'verify');
    expect(run.code).toBe(EXIT.ok);
    expect(run.stdout).toMatch(/^Audit log verified: \d+ entries, \d+ checkpoints/);
  });

  it('export writes a bundle that verifies with no database, and exits 6 once it is altered', async () => {
    await custos('status');
    const bundle = join(dataDir, 'bundle');
    const exported = await custos('audit', 'export', '--out', bundle);
    expect(exported.code).toBe(EXIT.ok);
    expect(exported.stdout).toContain('\u2014 custos.local/audit/');
    rmSync(join(dataDir, 'custos.db'));
    expect(await runCli(['audit', 'verify', '--bundle', bundle, '--json'], io(), 'test')).toBe(EXIT.ok);
    const trusting = io();
    expect(await runCli(['audit', 'verify', '--bundle', bundle], trusting, 'test')).toBe(EXIT.ok);
    expect(trusting.out()).toMatch(/Trusted key \(the key inside the bundle itself\): custos\.local\/audit\//);
    expect(trusting.out()).toMatch(/WARNING: nothing from outside vouches for that key/);
    const lines = readFileSync(join(bundle, 'entries.jsonl'), 'utf8').split('\n');
    lines.splice(1, 1);
    writeFileSync(join(bundle, 'entries.jsonl'), lines.join('\n'));
    const output = io();
    expect(await runCli(['audit', 'verify', '--bundle', bundle], output, 'test')).toBe(EXIT.verification);
    expect(output.err()).toMatch(
      /^Error AUDIT_VERIFY_FAILED: The audit log FAILED verification at entry 1 \(deleted\): Entry 1 was deleted\./,
    );
  });

  it('verify --checkpoint checks the log against a checkpoint kept elsewhere', async () => {
    const checkpoint = await custos('audit', 'checkpoint');
    const file = join(dataDir, 'kept.txt');
    writeFileSync(file, checkpoint.stdout);
    expect((await custos('audit', 'verify', '--checkpoint', file)).code).toBe(EXIT.ok);
    writeFileSync(
      file,
      checkpoint.stdout.replace(/\n(\d+)\n/, (_m, n: string) => `\n${Number(n) + 1}\n`),
    );
    const forged = await custos('audit', 'verify', '--checkpoint', file, '--json');
    expect(forged.code).toBe(EXIT.verification);
    // Every checkpoint kept in one file, appended one after another: each is checked (before: read as one, "forged").
    const later = await custos('audit', 'checkpoint');
    writeFileSync(file, `${checkpoint.stdout}\n${later.stdout}`);
    const both = await custos('audit', 'verify', '--checkpoint', file, '--json');
    expect(both.code, both.stderr).toBe(EXIT.ok);
    writeFileSync(
      file,
      `${checkpoint.stdout}${later.stdout.replace(/\n(\d+)\n/, (_m, n: string) => `\n${Number(n) + 1}\n`)}`,
    );
    expect((await custos('audit', 'verify', '--checkpoint', file)).code).toBe(EXIT.verification);
  });

  it('export --format csv --trail key-management keeps changes and drops reads', async () => {
    const token = initSoftHsmToken(dataDir, 'cli-token');
    await custos('token', 'list');
    await custos('token', 'select', '--serial', token.serial, '--label', token.label);
    const csv = join(dataDir, 'trail.csv');
    expect((await custos('audit', 'export', '--out', csv, '--format', 'csv', '--trail', 'key-management')).code).toBe(
      EXIT.ok,
    );
    const rows = readFileSync(csv, 'utf8').trim().split('\n');
    expect(rows[0]).toMatch(/^seq,time,actor_type/);
    expect(rows.some((r) => r.includes('"token.select"'))).toBe(true);
    expect(rows.some((r) => r.includes('"token.list"'))).toBe(false);
  });

  it('export --format cef writes one CEF line per entry', async () => {
    await custos('status');
    const cef = join(dataDir, 'siem.cef');
    expect((await custos('audit', 'export', '--out', cef, '--format', 'cef')).code).toBe(EXIT.ok);
    const lines = readFileSync(cef, 'utf8').trim().split('\n');
    expect(lines.every((l) => /^CEF:0\|Custos\|Custos\|test\|[a-z.-]+\|[a-z.-]+\|\d\|rt=\d+ /.test(l))).toBe(true);
  });

  it('proof and consistency print proofs that verify with only the hashes', async () => {
    await custos('status');
    await custos('status');
    const proof = JSON.parse((await custos('audit', 'proof', '--seq', '1', '--json')).stdout) as {
      value: { seq: number; treeSize: number; root: string; entry: string; proof: string[] };
    };
    const p = proof.value;
    expect(
      verifyInclusion(
        p.seq,
        p.treeSize,
        leafHash(Buffer.from(p.entry)),
        p.proof.map((h) => Buffer.from(h, 'base64')),
        Buffer.from(p.root, 'base64'),
      ),
    ).toBe(true);
    const consistency = JSON.parse((await custos('audit', 'consistency', '--from', '1', '--json')).stdout) as {
      value: { from: number; to: number; fromRoot: string; toRoot: string; proof: string[] };
    };
    const c = consistency.value;
    expect(
      verifyConsistency(
        c.from,
        c.to,
        Buffer.from(c.fromRoot, 'base64'),
        Buffer.from(c.toRoot, 'base64'),
        c.proof.map((h) => Buffer.from(h, 'base64')),
      ),
    ).toBe(true);
  });

  it('key prints the PEM and the signed-note verifier key', async () => {
    expect((await custos('audit', 'key')).stdout).toMatch(/^-----BEGIN PUBLIC KEY-----/);
    expect((await custos('audit', 'key', '--verifier')).stdout).toMatch(
      /^custos\.local\/audit\/[0-9a-f]{16}\+[0-9a-f]{8}\+/,
    );
  });

  it('records proof, consistency and key reads like every request, refusals with their code', async () => {
    await custos('status');
    expect((await custos('audit', 'proof', '--seq', '0')).code).toBe(EXIT.ok);
    expect((await custos('audit', 'consistency', '--from', '1')).code).toBe(EXIT.ok);
    expect((await custos('audit', 'key', '--verifier')).code).toBe(EXIT.ok);
    expect((await custos('audit', 'proof', '--seq', '999')).stderr).toMatch(/^Error AUDIT_NOT_FOUND/);
    expect((await custos('audit', 'consistency', '--from', 'x')).code).toBe(EXIT.invalidInput);
    // Decimal digits only: 0x2, 1e0 and an empty value are not read as 2, 1 and 0.
    for (const typed of ['0x2', '1e0', ''])
      expect((await custos('audit', 'consistency', '--from', typed)).code, typed).toBe(EXIT.invalidInput);
    expect((await custos('audit', 'proof', '--seq', '0x0')).code).toBe(EXIT.invalidInput);
    // A file named on the command line that is not there: its own code and the path, not INTERNAL.
    const missing = join(dataDir, 'no-such-folder', 'checkpoint.txt');
    expect(await custos('audit', 'verify', '--checkpoint', missing)).toMatchObject({
      code: EXIT.invalidInput,
      stderr: expect.stringContaining(`Error FILE_NOT_FOUND: ${missing} does not exist`),
    });
    const store = Store.open(dataDir);
    const rows = store.all<{ entry: string }>({
      text: 'SELECT entry FROM audit_entries ORDER BY seq',
      params: [],
    } as never);
    store.close();
    const reads = rows
      .map(
        (r) =>
          JSON.parse(r.entry) as { action: string; actor: { id: string }; result: { status: string; code?: string } },
      )
      .filter((e) => ['audit.proof', 'audit.consistency', 'audit.key.export'].includes(e.action));
    expect(reads.map((e) => [e.action, e.result.status, e.result.code ?? null])).toEqual([
      ['audit.proof', 'ok', null],
      ['audit.consistency', 'ok', null],
      ['audit.key.export', 'ok', null],
      ['audit.proof', 'failed', 'AUDIT_NOT_FOUND'],
      ['audit.consistency', 'refused', 'IPC_INVALID_PAYLOAD'],
      ['audit.consistency', 'refused', 'IPC_INVALID_PAYLOAD'],
      ['audit.consistency', 'refused', 'IPC_INVALID_PAYLOAD'],
      ['audit.consistency', 'refused', 'IPC_INVALID_PAYLOAD'],
      ['audit.proof', 'refused', 'IPC_INVALID_PAYLOAD'],
    ]);
    expect(reads.every((e) => e.actor.id === 'cli')).toBe(true);
  });
});

function io() {
  let stdout = '';
  let stderr = '';
  return Object.assign(
    { stdout: (t: string) => (stdout += t), stderr: (t: string) => (stderr += t), env: {} },
    { out: () => stdout, err: () => stderr },
  );
}

/** The CLI on a data directory of the test's choosing. */
async function at(dir: string, ...args: string[]) {
  const output = io();
  const code = await runCli(['--data-dir', dir, ...args], output, 'test');
  return { code, stdout: output.out(), stderr: output.err() };
}

describe('custos and a rolled-back or re-keyed audit log', () => {
  const entriesOnDisk = () => {
    const store = Store.open(dataDir);
    const n = store.get<{ n: number }>({ text: 'SELECT count(*) AS n FROM audit_entries', params: [] } as never)!.n;
    store.close();
    return n;
  };

  it('says AUDIT_ROLLBACK in status and every command, records nothing, and audit verify fails naming it', async () => {
    for (let i = 0; i < 5; i++) await custos('status');
    expect((await custos('audit', 'verify')).code).toBe(EXIT.ok);
    asDatabaseWriter(dataDir, (db) =>
      db.exec('DELETE FROM audit_entries WHERE seq >= 3; DELETE FROM audit_checkpoints;'),
    );
    const before = entriesOnDisk();
    const status = await custos('status');
    expect(status.stdout).toMatch(/Audit log UNAVAILABLE \(AUDIT_ROLLBACK\): .*rolled back/);
    const checkpoint = await custos('audit', 'checkpoint');
    expect(checkpoint.stderr).toMatch(/^Error AUDIT_ROLLBACK: /);
    const verify = await custos('audit', 'verify');
    expect(verify.code).toBe(EXIT.verification);
    expect(verify.stderr).toMatch(
      /^Error AUDIT_VERIFY_FAILED: The audit log FAILED verification \(rolled-back\): AUDIT_ROLLBACK: /,
    );
    expect(verify.stderr).toMatch(
      /also: a checkpoint kept outside the log commits to \d+ entries but the log has only 3/,
    );
    expect(entriesOnDisk()).toBe(before);
  });

  it('fails audit verify, not just warns, when the audit token holds another key than the one on record', async () => {
    await custos('status');
    replaceAuditKeyInToken(dataDir);
    const verify = await custos('audit', 'verify');
    expect(verify.code).toBe(EXIT.verification);
    expect(verify.stderr).toMatch(
      /\(key-mismatch\): AUDIT_KEY_MISMATCH: The audit token holds a different key from the one on record/,
    );
    expect((await custos('audit', 'verify', '--json')).json()).toMatchObject({
      ok: false,
      error: { code: 'AUDIT_VERIFY_FAILED' },
    });
  });
});

describe('custos audit copy', () => {
  it('keeps the checkpoint in a second file too; refuses (recorded) a missing folder or a data dir file', async () => {
    await custos('status');
    const copy = join(dataDir, 'usb-checkpoint.txt');
    // Someone who can write the folder plants a link where the copy is first written: it must not be followed.
    const victim = join(dataDir, 'victim.txt');
    writeFileSync(victim, 'untouched', { mode: 0o644 });
    symlinkSync(victim, `${copy}.${process.pid}.tmp`);
    expect((await custos('audit', 'copy', '--file', copy)).stdout).toMatch(/now also kept in/);
    expect(readFileSync(victim, 'utf8')).toBe('untouched');
    const first = readFileSync(copy, 'utf8');
    expect(first).toMatch(/^custos\.local\/audit\/[0-9a-f]{16}\n\d+\n/);
    const signed = await custos('audit', 'checkpoint');
    expect(readFileSync(copy, 'utf8')).toBe(signed.stdout);
    const refused = await custos('audit', 'copy', '--file', join(dataDir, 'no', 'such', 'dir', 'x.txt'));
    expect(refused).toMatchObject({
      code: EXIT.invalidInput,
      stderr: expect.stringMatching(/^Error IPC_INVALID_PAYLOAD/),
    });
    // The data directory's own files, also through a link to it: each checkpoint replaced the database with its note.
    symlinkSync(dataDir, join(dataDir, 'link'));
    // A folder where the file goes: accepted before, every copy then failed and the next open found the log closed.
    const folder = join(dataDir, 'a-folder');
    mkdirSync(folder);
    expect(await custos('audit', 'copy', '--file', folder)).toMatchObject({
      code: EXIT.invalidInput,
      stderr: expect.stringMatching(/^Error IPC_INVALID_PAYLOAD: .*file path/),
    });
    for (const own of [join(dataDir, 'custos.db'), join(dataDir, 'link', 'audit-token.pin')])
      expect(await custos('audit', 'copy', '--file', own)).toMatchObject({
        code: EXIT.invalidInput,
        stderr: expect.stringMatching(/^Error FILE_ACCESS_DENIED: .* is one of the data directory’s own files/),
      });
    const after = await custos('audit', 'checkpoint');
    expect(readFileSync(copy, 'utf8')).toBe(after.stdout);
    const store = Store.open(dataDir);
    const actions = store
      .all<{ entry: string }>({ text: 'SELECT entry FROM audit_entries ORDER BY seq', params: [] } as never)
      .map((r) => JSON.parse(r.entry) as { action: string; result: { status: string } });
    store.close();
    expect(actions.filter((e) => e.action === 'audit.anchor.copy').map((e) => e.result.status)).toEqual([
      'ok',
      'refused',
      'refused',
      'refused',
      'refused',
    ]);
    expect(readdirSync(dataDir).filter((name) => name.endsWith('.tmp'))).toEqual([]);
  });
});

describe('custos audit verify --key', () => {
  it('trusts only the key it is given: a log signed by another key fails as unknown-key', async () => {
    await custos('status');
    const own = join(dataDir, 'own.pem');
    writeFileSync(own, (await custos('audit', 'key')).stdout);
    expect((await custos('audit', 'verify', '--key', own)).code).toBe(EXIT.ok);
    const { publicKey } = generateKeyPairSync('ed25519');
    const stranger = join(dataDir, 'stranger.pem');
    writeFileSync(stranger, publicKey.export({ format: 'pem', type: 'spki' }).toString());
    const run = await custos('audit', 'verify', '--key', stranger);
    expect(run.code).toBe(EXIT.verification);
    expect(run.stderr).toMatch(/unknown-key/);
  });
});

describe('custos audit verify --bundle with a pinned key', () => {
  it('refuses a bundle made with another key, however consistent it is', async () => {
    await custos('status');
    const bundle = join(dataDir, 'bundle');
    await custos('audit', 'export', '--out', bundle);
    const { publicKey } = generateKeyPairSync('ed25519');
    const stranger = join(dataDir, 'stranger.pem');
    writeFileSync(stranger, publicKey.export({ format: 'pem', type: 'spki' }).toString());
    const output = io();
    expect(await runCli(['audit', 'verify', '--bundle', bundle, '--key', stranger], output, 'test')).toBe(
      EXIT.verification,
    );
    expect(output.err()).toMatch(/unknown-key/);
    const pinned = io();
    expect(
      await runCli(['audit', 'verify', '--bundle', bundle, '--key', join(bundle, 'audit-key.pem')], pinned, 'test'),
    ).toBe(EXIT.ok);
    expect(pinned.out()).toMatch(/Trusted key \(the key you gave\)/);
    expect(pinned.out()).not.toMatch(/WARNING/);
  });

  it('records a failed export as failed', async () => {
    const run = await custos(
      'audit',
      'export',
      '--out',
      join(dataDir, 'no', 'such', 'dir', 'x.csv'),
      '--format',
      'csv',
    );
    expect(run.code).not.toBe(EXIT.ok);
    const csv = join(dataDir, 'after.csv');
    await custos('audit', 'export', '--out', csv, '--format', 'csv');
    expect(readFileSync(csv, 'utf8')).toMatch(/"audit\.export","","","[0-9a-f]{64}","failed","FILE_NOT_FOUND"/);
  });
});

describe('custos custodian', () => {
  const PASSPHRASE = 'quartz meadow lantern harbour pebble';
  function fdWith(text: string): number {
    const path = join(dataDir, `fd-${Math.random()}`);
    writeFileSync(path, `${text}\n`, { mode: 0o600 });
    return openSync(path, 'r');
  }
  async function run(args: string[], answers: string[] = []) {
    let stdout = '';
    let stderr = '';
    const code = await runCli(
      ['--data-dir', dataDir, ...args],
      { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t), env: {}, ask: async () => answers.shift() ?? '' },
      'test',
    );
    return { code, stdout, stderr };
  }

  it('enrols with the passphrase from a file descriptor and the first code, then checks both factors', async () => {
    let key = '';
    const enrol = await runCli(
      [
        '--data-dir',
        dataDir,
        'custodian',
        'enrol',
        '--name',
        'Grace Hopper',
        '--role',
        'custodian',
        '--role',
        'security-officer',
        '--passphrase-fd',
        String(fdWith(PASSPHRASE)),
      ],
      {
        stdout: () => {},
        stderr: (t) => {
          key ||=
            /key to the authenticator app \(shown only now\):\n {2}([A-Z2-7 ]+)\n/.exec(t)?.[1]?.replace(/ /g, '') ??
            '';
        },
        env: {},
        ask: async () => totpCodeAt(key, new Date()),
      },
      'test',
    );
    expect(enrol).toBe(EXIT.ok);
    const list = await run(['custodian', 'list', '--json']);
    const [grace] = (JSON.parse(list.stdout) as { value: { id: string; name: string; roles: string[] }[] }).value;
    expect(grace).toMatchObject({ name: 'Grace Hopper', roles: ['custodian', 'security-officer'] });
    // One code, used twice: computing it twice could straddle a 30-second boundary.
    const next = totpCodeAt(key, new Date(Date.now() + 30_000));
    const check = await run([
      'custodian',
      'check',
      '--id',
      grace!.id,
      '--passphrase-fd',
      String(fdWith(PASSPHRASE)),
      '--code',
      next,
    ]);
    expect(check).toMatchObject({ code: EXIT.ok, stdout: 'Both factors are correct.\n' });
    const replay = await run([
      'custodian',
      'check',
      '--id',
      grace!.id,
      '--passphrase-fd',
      String(fdWith(PASSPHRASE)),
      '--code',
      next,
    ]);
    expect(replay.code).toBe(EXIT.refused);
    expect(replay.stderr).toMatch(/^Error TOTP_REPLAYED/);
  });

  it('asks twice with echo off and refuses two different passphrases', async () => {
    const result = await run(['custodian', 'enrol', '--name', 'Alan Turing'], [PASSPHRASE, `${PASSPHRASE}!`]);
    expect(result.code).not.toBe(EXIT.ok);
    expect(result.stderr).toMatch(/The two passphrases differ/);
  });
});

describe('custos custody, proposal, key and backup', () => {
  // Three custodians enrolled at a low scrypt cost; the CLI then runs on the fixture's clock.
  let clock: { now: Date };
  let enrolled: { id: string; passphrase: string; secret: string }[];
  let setupOfficer: { id: string; passphrase: string; secret: string };
  beforeEach(async () => {
    const seeded = await quorumFixture(dataDir, [
      { name: 'Ada' },
      { name: 'Babbage' },
      { name: 'Curie', roles: ['custodian', 'security-officer'] },
    ]);
    seeded.close();
    ({ clock, enrolled } = seeded);
    setupOfficer = seeded.setupOfficer!;
  });
  const fd = (text: string) => secretFd(dataDir, text);
  /** Factors of the given custodians for one step, a TOTP period after the last. */
  const factors = (...who: number[]) => factorArgs(dataDir, clock, enrolled, who);
  const cli = async (...args: string[]) => {
    let stdout = '';
    let stderr = '';
    const code = await runCli(
      ['--data-dir', dataDir, ...args],
      { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t), env: {}, clock: () => clock.now },
      'test',
    );
    return { code, stdout, stderr, value: () => (JSON.parse(stdout) as { value: Record<string, unknown> }).value };
  };
  const id = (i: number) => enrolled[i]!.id;
  const takeCustody = async (label: string) => {
    const take = await cli(
      'custody',
      'take',
      '--holder',
      id(0),
      '--holder',
      id(1),
      '--holder',
      id(2),
      '--threshold',
      '2',
      '--new-label',
      label,
      ...factors(0, 1, 2),
    );
    expect(take).toMatchObject({
      code: EXIT.ok,
      stdout: expect.stringContaining('is in custody, 2 of 3: Ada, Babbage, Curie'),
    });
    return /Custody id: ([0-9a-f]{16})/.exec(take.stdout)![1]!;
  };
  const propose = async (custodyId: string, action: string, ...params: string[]) => {
    const proposed = await cli(
      'proposal',
      'create',
      '--json',
      '--custody',
      custodyId,
      '--action',
      action,
      ...params.flatMap((p) => ['--param', p]),
      '--as',
      id(0),
      ...factors(0),
    );
    expect(proposed, proposed.stdout).toMatchObject({ code: EXIT.ok });
    return proposed.value() as { id: string; shortFingerprint: string };
  };

  it('module set needs a security officer’s factors, keeps the working module on a wrong path, and saves a good one', async () => {
    const curie = id(2);
    const notOfficer = await cli('module', 'set', '/nowhere/pkcs11.so', '--as', id(0), ...factors(0));
    expect(notOfficer).toMatchObject({ code: EXIT.refused, stderr: expect.stringMatching(/^Error NOT_AUTHORIZED/) });
    const wrong = await cli('module', 'set', '/nowhere/pkcs11.so', '--as', curie, ...factors(2));
    expect(wrong).toMatchObject({
      code: EXIT.token,
      stderr: expect.stringMatching(
        /^Error MODULE_NOT_FOUND: No PKCS#11 library exists at \/nowhere\/pkcs11.so\. The token module was not changed: Custos still uses \//,
      ),
    });
    const library = join(dataDir, 'vendor', 'libvendor-pkcs11.so');
    mkdirSync(join(dataDir, 'vendor'), { mode: 0o755 });
    copyFileSync(findSoftHsmLibrary()!, library);
    chmodSync(library, 0o644);
    expect(await cli('module', 'set', library, '--as', curie, ...factors(2))).toMatchObject({ code: EXIT.ok });
    expect((await cli('status', '--json')).value()).toMatchObject({
      tokens: { state: 'ready', module: { path: library, kind: 'configured' } },
    });
    expect(await cli('module', 'reset', '--as', curie, ...factors(2))).toMatchObject({ code: EXIT.ok });
    expect((await cli('status', '--json')).value()).toMatchObject({
      tokens: { state: 'ready', module: { kind: 'embedded-softhsm' } },
    });
  });

  it('enrols only with a security officer’s factors: two for a new security officer once two exist', async () => {
    const officer = setupOfficer;
    const STRONG = 'violet canyon ferry ledger 4812 tundra';
    const refused = await cli(
      'custodian',
      'enrol',
      '--name',
      'Mallory',
      '--role',
      'security-officer',
      '--passphrase-fd',
      fd(STRONG),
    );
    expect(refused.code).toBe(EXIT.refused);
    expect(refused.stderr).toMatch(/^Error NOT_AUTHORIZED/);
    const alone = await cli(
      'custodian',
      'enrol',
      '--name',
      'Mallory',
      '--role',
      'security-officer',
      '--officer',
      id(2),
      '--passphrase-fd',
      fd(STRONG),
      ...factors(2),
    );
    expect(alone.stderr).toMatch(/two different security officers/);
    clock.now = new Date(clock.now.getTime() + 30_000);
    let key = '';
    const io = {
      stdout: () => {},
      stderr: (t: string) =>
        (key ||= /authenticator app \(shown only now\):\n {2}([A-Z2-7 ]+)\n/.exec(t)?.[1]?.replace(/ /g, '') ?? ''),
      env: {},
      ask: async () => totpCodeAt(key, clock.now),
      clock: () => clock.now,
    };
    const codes = [officer, enrolled[2]!].flatMap((o) => ['--code', totpCodeAt(o.secret, clock.now)]);
    const fds = [officer, enrolled[2]!].flatMap((o) => ['--passphrase-fd', fd(o.passphrase)]);
    const args = [
      '--data-dir',
      dataDir,
      'custodian',
      'enrol',
      '--name',
      'Dana',
      '--role',
      'security-officer',
      '--officer',
      officer.id,
      '--officer',
      id(2),
      '--passphrase-fd',
      fd(STRONG),
      ...fds,
      ...codes,
    ];
    expect(await runCli(args, io, 'test')).toBe(EXIT.ok);
    const list = await cli('custodian', 'list', '--json');
    expect(
      (list.value() as unknown as { name: string; roles: string[] }[]).find((c) => c.name === 'Dana'),
    ).toMatchObject({ roles: ['security-officer'] });
    expect((list.value() as unknown as { name: string }[]).map((c) => c.name)).not.toContain('Mallory');
  });

  it('runs a key ceremony and a turnover from the command line, factors from file descriptors', async () => {
    const custodyId = await takeCustody('cli-vault');
    const params = [
      'algorithm=EC-P256',
      'label=cli-key',
      'usage=sign',
      'backupable=false',
      'cryptoperiodDays=730',
    ].flatMap((p) => ['--param', p]);
    const proposed = await cli(
      'proposal',
      'create',
      '--json',
      '--custody',
      custodyId,
      '--action',
      'key.generate',
      ...params,
      '--as',
      id(0),
      ...factors(0),
    );
    expect(proposed.code).toBe(EXIT.ok);
    const { id: proposalId, shortFingerprint } = proposed.value() as { id: string; shortFingerprint: string };
    const wrong = await cli(
      'proposal',
      'approve',
      '--id',
      proposalId,
      '--fingerprint',
      'ffff-ffff-ffff-ffff',
      '--as',
      id(1),
      ...factors(1),
    );
    expect(wrong).toMatchObject({ code: EXIT.refused, stderr: expect.stringMatching(/^Error FINGERPRINT_MISMATCH/) });
    // One approval alone is recorded, but its share dies with the command…
    expect(
      (
        await cli(
          'proposal',
          'approve',
          '--id',
          proposalId,
          '--fingerprint',
          shortFingerprint,
          '--as',
          id(1),
          ...factors(1),
        )
      ).stdout,
    ).toContain('Approvals held: 1 of 2');
    expect((await cli('proposal', 'list')).stdout).toContain('Approvals held: 0 of 2 (Babbage)');
    // …so the approvers at the ceremony terminal approve in one command.
    const done = await cli(
      'proposal',
      'approve',
      '--id',
      proposalId,
      '--fingerprint',
      shortFingerprint,
      '--as',
      id(1),
      '--as',
      id(2),
      ...factors(1, 2),
    );
    expect(done.stdout).toMatch(/— executed\n/);

    const keys = await cli('key', 'list');
    expect(keys.stdout).toMatch(/^[0-9a-f]{32} {2}cli-key\s+EC-P256\s+pre-activation\s+SHA-256 [0-9a-f]{16}…/);
    const keyId = keys.stdout.slice(0, 32);
    expect((await cli('key', 'export', '--id', keyId)).stdout).toMatch(/^-----BEGIN PUBLIC KEY-----/);
    const tooShort = await cli(
      'proposal',
      'create',
      '--custody',
      custodyId,
      '--action',
      'key.schedule-destruction',
      '--param',
      `keyId=${keyId}`,
      '--param',
      'waitDays=3',
      '--as',
      id(0),
      ...factors(0),
    );
    expect(tooShort).toMatchObject({ code: EXIT.invalidInput, stderr: expect.stringContaining('waitDays') });

    // Ada leaves: she cannot be retired while she holds a share of the token.
    const retireAda = () => cli('custodian', 'retire', '--id', 'Ada', '--officer', 'Curie', ...factors(2));
    expect(await retireAda()).toMatchObject({
      code: EXIT.refused,
      stderr: expect.stringMatching(/^Error CUSTODIAN_STILL_HOLDS: Ada still holds a share of the custody of token/),
    });
    // Turnover: Babbage and Curie hold the token 2 of 2.
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
      `holders=${id(1)},${id(2)}`,
      '--as',
      id(0),
      ...factors(0),
    );
    const change = redeal.value() as { id: string; shortFingerprint: string };
    expect(
      (
        await cli(
          'proposal',
          'approve',
          '--id',
          change.id,
          '--fingerprint',
          change.shortFingerprint,
          '--as',
          id(1),
          '--as',
          id(2),
          ...factors(1, 2),
        )
      ).code,
    ).toBe(EXIT.ok);
    expect((await cli('custody', 'list')).stdout).toMatch(
      /2 of 2: Babbage, Curie {2}active\n.*2 of 3: Ada, Babbage, Curie {2}superseded/,
    );
    // Now she is retired on one officer's factors, and her own approve nothing from then on.
    expect(await retireAda()).toMatchObject({ code: EXIT.ok, stdout: expect.stringMatching(/^Ada is retired/) });
    expect((await cli('custodian', 'list')).stdout).toMatch(/Ada\s+custodian\s+RETIRED \d{4}-\d\d-\d\d\n/);
    expect(await cli('custodian', 'check', '--id', 'Ada', ...factors(0))).toMatchObject({
      code: EXIT.refused,
      stderr: expect.stringMatching(/^Error CUSTODIAN_RETIRED/),
    });
    // Nor is she dealt a share again.
    const active = (
      (await cli('custody', 'list', '--json')).value() as unknown as { id: string; state: string }[]
    ).find((c) => c.state === 'active')!;
    const back = await cli(
      'proposal',
      'create',
      '--custody',
      active.id,
      '--action',
      'custody.redeal',
      '--param',
      'threshold=2',
      '--param',
      `holders=${id(0)},${id(1)},${id(2)}`,
      '--as',
      id(1),
      ...factors(1),
    );
    expect(back.stderr).toMatch(
      /^Error CUSTODIAN_RETIRED: Ada was retired on \d{4}-\d\d-\d\d: they can approve nothing/,
    );
    // The practice statement names those who serve now.
    const statement = (await cli('compliance', 'practice-statement')).stdout;
    expect(/- Custodians \(hold PIN shares[^\n]*/.exec(statement)?.[0]).toMatch(/Babbage.*Curie/);
    expect(/- Custodians \(hold PIN shares[^\n]*/.exec(statement)?.[0]).not.toContain('Ada');
  });

  it('marks a key compromised only with a reason, writes its signed notice, and reports the impact', async () => {
    const custodyId = await takeCustody('cli-leaky');
    const generate = await propose(
      custodyId,
      'key.generate',
      'algorithm=EC-P256',
      'label=leaky',
      'usage=sign',
      'backupable=false',
      'cryptoperiodDays=730',
    );
    const approve = ['--id', generate.id, '--fingerprint', generate.shortFingerprint, '--as', id(1), '--as', id(2)];
    expect((await cli('proposal', 'approve', ...approve, ...factors(1, 2))).code).toBe(EXIT.ok);
    const [key] = (await cli('key', 'list', '--json')).value() as unknown as {
      id: string;
      token: { serial: string; label: string };
    }[];
    const at = ['--id', key!.id, '--serial', key!.token.serial, '--label', key!.token.label, '--as', id(2)];
    const emergency = ['key', 'emergency', '--transition', 'compromise', ...at];
    const silent = await cli(...emergency, ...factors(2));
    expect(silent).toMatchObject({ code: EXIT.invalidInput, stderr: expect.stringContaining('reason') });
    expect((await cli('key', 'list')).stdout).toContain('pre-activation');

    const marked = await cli(...emergency, '--reason', 'Operator laptop with the PIN stolen', ...factors(2));
    expect(marked).toMatchObject({ code: EXIT.ok, stdout: expect.stringContaining('leaky is now compromised.') });
    const noticeDir = /written to (.+)\n/.exec(marked.stdout)![1]!;
    expect(noticeDir).toContain(join(dataDir, 'reports'));
    const notice = await cli('report', 'verify', '--dir', noticeDir);
    expect(notice).toMatchObject({ code: EXIT.ok, stdout: expect.stringContaining('(revocation-notice) verified') });

    const out = join(dataDir, 'impact');
    const impact = await cli('report', 'create', '--impact', key!.id, '--out', out);
    expect(impact).toMatchObject({
      code: EXIT.ok,
      stdout: expect.stringContaining(`(compromise-impact) signed and written to ${out}`),
    });
    const report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')) as {
      impact: { ceremonies: { action: string }[]; reports: { type: string }[] };
    };
    expect(report.impact.ceremonies.map((c) => c.action)).toEqual(['key.generate']);
    expect(report.impact.reports.map((r) => r.type)).toEqual(['revocation-notice']);
    expect((await cli('report', 'verify', '--dir', out)).code).toBe(EXIT.ok);
    const both = await cli('report', 'create', '--impact', key!.id, '--inventory', '--out', join(dataDir, 'two'));
    expect(both).toMatchObject({ code: EXIT.invalidInput, stderr: expect.stringContaining('needs one of') });
  });

  it('backs up a key with cards written as PDFs, checks a card, and restores into a fresh token with two cards', async () => {
    const source = await takeCustody('cli-source');
    const generate = await propose(
      source,
      'key.generate',
      'algorithm=EC-P256',
      'label=to-keep',
      'usage=sign',
      'backupable=true',
      'cryptoperiodDays=365',
    );
    await cli(
      'proposal',
      'approve',
      '--id',
      generate.id,
      '--fingerprint',
      generate.shortFingerprint,
      '--as',
      id(1),
      '--as',
      id(2),
      ...factors(1, 2),
    );
    const keyId = (await cli('key', 'list')).stdout.slice(0, 32);

    const backup = await propose(
      source,
      'key.backup',
      `keyIds=${keyId}`,
      `holders=${id(0)},${id(1)},${id(2)}`,
      'threshold=2',
    );
    /** The backup approved by custodians 1 and 2: their factors, then what follows them. */
    const approveBackup = (approvers: string[], ...rest: string[]) =>
      cli(
        'proposal',
        'approve',
        '--id',
        backup.id,
        '--fingerprint',
        backup.shortFingerprint,
        '--as',
        id(1),
        '--as',
        id(2),
        ...approvers,
        ...rest,
      );
    const noDir = await approveBackup(factors(1, 2));
    expect(noDir).toMatchObject({ code: EXIT.invalidInput, stderr: expect.stringContaining('--cards-dir') });
    // Never beside the wrapped keys they open: a folder inside the data directory is refused before anything runs.
    const inside = await approveBackup(factors(1, 2), '--cards-dir', join(dataDir, 'reports', 'cards'));
    expect(inside).toMatchObject({
      code: EXIT.invalidInput,
      stderr: expect.stringMatching(/^Error FILE_ACCESS_DENIED/),
    });
    expect(existsSync(join(dataDir, 'reports', 'cards'))).toBe(false);
    const cards = tempDataDir('custos-cards-');
    onTestFinished(cards.cleanup);
    const cardsDir = join(cards.dataDir, 'cards');
    // Approvers first, then each card holder in turn proves their factors for their own card.
    const approvers = factors(1, 2);
    // The holders act a moment later in the same command: their codes are from the next time step.
    const holders = [0, 1, 2].flatMap((i) => [
      '--passphrase-fd',
      fd(enrolled[i]!.passphrase),
      '--code',
      totpCodeAt(enrolled[i]!.secret, new Date(clock.now.getTime() + 30_000)),
    ]);
    const done = await approveBackup(approvers, ...holders, '--cards-dir', cardsDir);
    expect(done.stdout).toMatch(/— executed\n/);
    clock.now = new Date(clock.now.getTime() + 30_000); // the step the holders used
    expect(readdirSync(cardsDir).sort()).toEqual(['card-1-Ada', 'card-2-Babbage', 'card-3-Curie']);
    const cardText = (n: number) => {
      const folder = join(
        cardsDir,
        readdirSync(cardsDir).find((f) => f.startsWith(`card-${n}-`))!,
      );
      expect(readdirSync(folder).filter((f) => f.endsWith('.pdf'))).toHaveLength(1);
      return readFileSync(
        join(
          folder,
          readdirSync(folder).find((f) => f.endsWith('.txt'))!,
        ),
        'utf8',
      ).split('\n')[2]!;
    };
    expect((await cli('backup', 'check', '--card-fd', fd(cardText(2)))).stdout).toMatch(
      /Card 2 \(Babbage\) of backup set [0-9a-f]{32} is valid/,
    );
    const setId = (await cli('backup', 'list', '--json')).value() as unknown as { setId: string }[];
    const file = join(dataDir, 'backup.json');
    expect((await cli('backup', 'export', '--set', setId[0]!.setId, '--out', file)).code).toBe(EXIT.ok);
    expect((await cli('backup', 'import', '--file', file)).code).toBe(EXIT.ok);
    writeFileSync(join(dataDir, 'bad.json'), readFileSync(file, 'utf8').replace('"threshold": 2', '"threshold": 3'));
    expect(await cli('backup', 'import', '--file', join(dataDir, 'bad.json'))).toMatchObject({
      code: EXIT.verification,
      stderr: expect.stringMatching(/^Error BACKUP_INVALID/),
    });

    const target = await takeCustody('cli-target');
    const restore = await propose(target, 'key.restore', `setId=${setId[0]!.setId}`);
    const typo = cardText(1).replace(/^(.)/, (c) => (c === 'A' ? 'B' : 'A'));
    const refused = await cli(
      'proposal',
      'approve',
      '--id',
      restore.id,
      '--fingerprint',
      restore.shortFingerprint,
      '--as',
      id(1),
      '--as',
      id(2),
      ...factors(1, 2),
      '--card-fd',
      fd(typo),
    );
    expect(refused).toMatchObject({
      code: EXIT.invalidInput,
      stderr: expect.stringContaining('Card refused (SHARE_TYPO): Group 1 of 23 (line 1, 1st group) has a typo.'),
    });
    const restored = await cli(
      'proposal',
      'approve',
      '--id',
      restore.id,
      '--fingerprint',
      restore.shortFingerprint,
      '--as',
      id(1),
      '--as',
      id(2),
      ...factors(1, 2),
      '--card-fd',
      fd(cardText(1)),
      '--card-fd',
      fd(cardText(3)),
    );
    expect(restored.stdout).toMatch(/\(key\.restore\) on .* — executed\n/);
    expect((await cli('key', 'list')).stdout).toContain('to-keep');
    expect(
      ((await cli('key', 'list', '--json')).value() as unknown as { token: { label: string } }[])[0]!.token.label,
    ).toBe('cli-target');
  });

  /** A fresh key backed up to Ada and Babbage through the CLI, into a cards folder `plant` prepared as an attacker. */
  async function backupToCards(label: string, plant: (cardsDir: string) => void) {
    const source = await takeCustody(label);
    const params = ['algorithm=EC-P256', 'label=linked', 'usage=sign', 'backupable=true', 'cryptoperiodDays=365'];
    const generate = await propose(source, 'key.generate', ...params);
    const g = ['--id', generate.id, '--fingerprint', generate.shortFingerprint, '--as', id(1), '--as', id(2)];
    await cli('proposal', 'approve', ...g, ...factors(1, 2));
    const keyId = (await cli('key', 'list')).stdout.slice(0, 32);
    const backup = await propose(source, 'key.backup', `keyIds=${keyId}`, `holders=${id(0)},${id(1)}`, 'threshold=2');
    const cards = tempDataDir('custos-cards-');
    onTestFinished(cards.cleanup);
    const cardsDir = join(cards.dataDir, 'cards');
    mkdirSync(cardsDir);
    plant(cardsDir);
    const approvers = factors(1, 2);
    const holders = [0, 1].flatMap((i) => [
      '--passphrase-fd',
      fd(enrolled[i]!.passphrase),
      '--code',
      totpCodeAt(enrolled[i]!.secret, new Date(clock.now.getTime() + 30_000)),
    ]);
    const done = await cli(
      'proposal',
      'approve',
      ...['--id', backup.id, '--fingerprint', backup.shortFingerprint, '--as', id(1), '--as', id(2)],
      ...approvers,
      ...holders,
      '--cards-dir',
      cardsDir,
    );
    clock.now = new Date(clock.now.getTime() + 30_000);
    expect(done.stdout).toMatch(/— executed\n/);
    return { done, cardsDir };
  }

  it('never writes a card through a link planted in the cards folder (before: into the data directory)', async () => {
    // A shared folder: someone else put a link where Ada's card folder goes, pointing into the data directory.
    const { done, cardsDir } = await backupToCards('cli-linked', (cardsDir) =>
      symlinkSync(dataDir, join(cardsDir, 'card-1-Ada')),
    );
    expect(readdirSync(dataDir).filter((f) => f.startsWith('custos-card-'))).toEqual([]);
    expect(done.stderr).toContain('Card for Ada NOT released (FILE_ACCESS_DENIED)');
    expect(done.stderr).toContain('WARNING: no card for Ada.');
    expect(readdirSync(join(cardsDir, 'card-2-Babbage')).some((f) => f.endsWith('.pdf'))).toBe(true);
    // Refused before it was released: the log records Babbage's card as released, and no card of Ada's.
    const store = Store.open(dataDir);
    const released = store
      .all<{ entry: string }>({ text: 'SELECT entry FROM audit_entries ORDER BY seq', params: [] } as never)
      .map((r) => JSON.parse(r.entry) as { action: string; actor: { id: string } })
      .filter((e) => e.action === 'backup.card.release')
      .map((e) => e.actor.id);
    store.close();
    expect(released).toEqual([id(1)]);
  });

  it('says why an approved operation failed in the token: the sentence, the CKR_ name, the step and the mechanism', async () => {
    const source = await takeCustody('cli-refusal');
    const ed = ['algorithm=Ed25519', 'label=ed', 'usage=sign', 'backupable=true', 'cryptoperiodDays=365'];
    const generate = await propose(source, 'key.generate', ...ed);
    const approvers = () => ['--as', id(1), '--as', id(2), ...factors(1, 2)];
    await cli('proposal', 'approve', '--id', generate.id, '--fingerprint', generate.shortFingerprint, ...approvers());
    const keyId = (await cli('key', 'list')).stdout.slice(0, 32);
    // SoftHSM2 2.6 cannot wrap Ed25519 private keys: the backup fails inside the token.
    const backup = await propose(source, 'key.backup', `keyIds=${keyId}`, `holders=${id(0)},${id(1)}`, 'threshold=2');
    const outside = tempDataDir('custos-cards-');
    onTestFinished(outside.cleanup);
    const cards = ['--cards-dir', outside.dataDir];
    const done = await cli(
      'proposal',
      'approve',
      '--id',
      backup.id,
      '--fingerprint',
      backup.shortFingerprint,
      ...approvers(),
      ...cards,
    );
    expect(done.stdout).toMatch(/— failed\n/);
    // The approval went through, the operation did not: the command fails with the outcome's code and reason.
    expect(done.code).toBe(EXIT.token);
    expect(done.stderr).toMatch(
      /^Error TOKEN_KEY_REFUSED: Proposal [0-9a-f]{16} was approved, but its operation failed: The token refuses to wrap/,
    );
    // The error's own remedy survives being recorded as the proposal's outcome.
    expect(done.stderr).toContain(
      '  → Leave it out of the backup set. SoftHSM2 2.6 cannot wrap Ed25519 private keys.\n',
    );
    expect(done.stdout).toContain(
      '  Outcome: Failed: The token refuses to wrap “ed” (Ed25519); it cannot be backed up on this token ' +
        '(CKR_KEY_NOT_WRAPPABLE at C_WrapKey, mechanism CKM_AES_KEY_WRAP_PAD).\n',
    );
  });

  it('signs a ceremony report that openssl and `report verify` accept (live log or a later bundle), and shows compliance findings', async () => {
    const custodyId = await takeCustody('cli-reports');
    const generate = await propose(
      custodyId,
      'key.generate',
      'algorithm=EC-P256',
      'label=reported',
      'usage=sign',
      'backupable=false',
      'cryptoperiodDays=365',
    );
    await cli(
      'proposal',
      'approve',
      '--id',
      generate.id,
      '--fingerprint',
      generate.shortFingerprint,
      '--as',
      id(1),
      '--as',
      id(2),
      ...factors(1, 2),
    );
    // A name that reads otherwise than it is stored (a right-to-left override) is refused, as a key label is.
    const reversed = await cli(
      'report',
      'witness',
      '--ceremony',
      generate.id,
      '--name',
      'Grace \u202eHopper',
      '--role',
      'x',
    );
    expect(reversed).toMatchObject({ code: EXIT.invalidInput, stderr: expect.stringContaining('IPC_INVALID_PAYLOAD') });
    expect(
      (await cli('report', 'witness', '--ceremony', generate.id, '--name', 'Grace Hopper', '--role', 'Internal audit'))
        .code,
    ).toBe(EXIT.ok);
    const out = join(dataDir, 'report-out');
    const created = await cli('report', 'create', '--ceremony', generate.id, '--out', out);
    expect(created).toMatchObject({
      code: EXIT.ok,
      stdout: expect.stringMatching(/^Report [0-9a-f]{16} \(key\.generate\) signed/),
    });
    expect(readdirSync(out).sort()).toEqual([
      'audit-key.pem',
      'report-pdf.json',
      'report-pdf.sig',
      'report.json',
      'report.pdf',
      'report.sig',
    ]);
    // The same folder again: refused before anything is signed, the first report untouched; --force replaces it.
    const first = readFileSync(join(out, 'report.json'));
    const reportsBefore = (await cli('report', 'list')).stdout;
    expect(await cli('report', 'create', '--ceremony', generate.id, '--out', out)).toMatchObject({
      code: EXIT.invalidInput,
      stderr: expect.stringMatching(/^Error FILE_EXISTS: .*already holds a report/),
    });
    expect(readFileSync(join(out, 'report.json')).equals(first)).toBe(true);
    expect((await cli('report', 'list')).stdout).toBe(reportsBefore);
    expect((await cli('report', 'create', '--ceremony', generate.id, '--out', out, '--force')).code).toBe(EXIT.ok);
    expect(readFileSync(join(out, 'report.json')).equals(first)).toBe(false);
    expect(
      execFileSync(
        'openssl',
        [
          'pkeyutl',
          '-verify',
          '-pubin',
          '-inkey',
          join(out, 'audit-key.pem'),
          '-rawin',
          '-in',
          join(out, 'report.json'),
          '-sigfile',
          join(out, 'report.sig'),
        ],
        { encoding: 'utf8' },
      ),
    ).toContain('Signature Verified Successfully');
    expect((await cli('report', 'verify', '--dir', out)).stdout).toMatch(
      /verified: \d+ entries, report format 3\.\n[\s\S]*ok {3}consistent with the live log/,
    );
    const bundle = join(dataDir, 'bundle');
    await cli('audit', 'export', '--out', bundle);
    const standalone = await runCli(
      ['report', 'verify', '--dir', out, '--key', join(out, 'audit-key.pem'), '--bundle', bundle],
      { stdout: () => {}, stderr: () => {}, env: {} },
      'test',
    );
    expect(standalone).toBe(EXIT.ok);
    // The PDF is checked too: gone, or changed by one byte, the report fails with a code of its own.
    const printed = readFileSync(join(out, 'report.pdf'));
    rmSync(join(out, 'report.pdf'));
    expect(await cli('report', 'verify', '--dir', out)).toMatchObject({
      code: EXIT.verification,
      stderr: expect.stringMatching(/^Error REPORT_PDF_MISSING: .*report\.pdf is missing/),
    });
    const flipped = Buffer.from(printed);
    flipped[flipped.length >> 1]! ^= 1;
    writeFileSync(join(out, 'report.pdf'), flipped);
    expect(await cli('report', 'verify', '--dir', out)).toMatchObject({
      code: EXIT.verification,
      stderr: expect.stringMatching(/^Error REPORT_PDF_MISMATCH: .*report\.pdf has SHA-256/),
    });
    // Two bytes longer: refused by its size, unread.
    writeFileSync(join(out, 'report.pdf'), Buffer.concat([printed, Buffer.from('%\n')]));
    expect(await cli('report', 'verify', '--dir', out)).toMatchObject({
      code: EXIT.verification,
      stderr: expect.stringMatching(/^Error REPORT_PDF_MISMATCH: .*report\.pdf is \d+ bytes, not the \d+ bound/),
    });
    writeFileSync(join(out, 'report.pdf'), printed);
    expect((await cli('report', 'verify', '--dir', out)).code).toBe(EXIT.ok);
    writeFileSync(
      join(out, 'report.json'),
      readFileSync(join(out, 'report.json'), 'utf8').replace('"reported"', '"rePorted"'),
    );
    const tampered = await cli('report', 'verify', '--dir', out);
    expect(tampered).toMatchObject({ code: EXIT.verification, stderr: expect.stringContaining('FAILED verification') });
    // Cut short inside a value that is not JSON: named by file and place, never by what it holds.
    const text = readFileSync(join(out, 'report.json'), 'utf8');
    writeFileSync(join(out, 'report.json'), text.replace('"rePorted"', 'rePorted-Mallory-secret'));
    const broken = await cli('report', 'verify', '--dir', out);
    expect(broken).toMatchObject({
      code: EXIT.verification,
      stderr: expect.stringMatching(/^Error AUDIT_VERIFY_FAILED: .*report\.json is not JSON: line 1, column \d+ \(/),
    });
    expect(broken.stderr).not.toContain('Mallory');

    const compliance = (await cli('compliance', '--json')).value() as unknown as {
      findings: { rule: string; title: string }[];
    };
    expect(compliance.findings.map((f) => f.rule)).toEqual(
      expect.arrayContaining([
        'MODULE_NOT_VALIDATED',
        'AUDIT_NOT_VERIFIED',
        'POLICY_REVIEW_DUE',
        'QUANTUM_VULNERABLE_INVENTORY',
      ]),
    );
    expect(compliance.findings.find((f) => f.rule === 'MODULE_NOT_VALIDATED')!.title).toMatch(
      /SoftHSM.* is a software token \(SoftHSM2\), not a FIPS 140-3 validated HSM/,
    );
    await cli('audit', 'verify');
    expect((await cli('compliance', 'policy-reviewed', '--as', id(0), ...factors(0))).stderr).toMatch(
      /^Error NOT_AUTHORIZED: Ada is not a security officer/,
    );
    const reviewed = await cli('compliance', 'policy-reviewed', '--json', '--as', id(2), ...factors(2));
    expect((reviewed.value() as unknown as { findings: { rule: string }[] }).findings.map((f) => f.rule)).not.toContain(
      'POLICY_REVIEW_DUE',
    );
    expect((await cli('compliance', '--as-of', '2036-01-02')).stdout).toContain(
      'uses EC-P256, disallowed as of 2036-01-02',
    );
    expect((await cli('compliance', 'controls')).stdout).toContain('PCI DSS 4.0 3.6');
    const signed = join(dataDir, 'compliance');
    expect((await cli('compliance', 'report', '--out', signed)).stdout).toMatch(
      /^Compliance report [0-9a-f]{16} signed/,
    );
    expect((await cli('report', 'verify', '--dir', signed)).code).toBe(EXIT.ok);
    const pdf = execFileSync('pdftotext', [join(signed, 'report.pdf'), '-'], { encoding: 'utf8' });
    expect(pdf).toContain('Compliance report');
    expect(pdf).toContain('NIST SP 800-53 SC-12');
    expect(pdf).toMatch(/\[HIGH\] SoftHSM/);
    const kmps = join(dataDir, 'kmps');
    expect((await cli('compliance', 'practice-statement', '--out', kmps)).code).toBe(EXIT.ok);
    const statement = readFileSync(join(kmps, 'practice-statement.md'), 'utf8');
    expect(statement).toMatch(/^# Key Management Practice Statement \(draft\)[\s\S]*split 2 of 3/);
    expect(statement).toContain('| reported | EC-P256 | sign | 365 days | 730 days |');
    // Wrapped lines joined, so a phrase is found wherever the PDF breaks it.
    const draft = execFileSync('pdftotext', [join(kmps, 'practice-statement.pdf'), '-'], { encoding: 'utf8' }).replace(
      /\s+/g,
      ' ',
    );
    expect(draft).toMatch(/^Key Management Practice Statement \(draft\)[\s\S]*page 1 of \d/);
    expect(draft).toContain('split 2 of 3');
    expect(draft).toMatch(/reported[\s\S]*EC-P256[\s\S]*sign[\s\S]*365 days[\s\S]*730 days/);
  });
});

describe('custos on a data directory that was moved or copied', () => {
  it('keeps working after `mv data data2`: the same tokens, a log that verifies, and new entries', async () => {
    const first = join(dataDir, 'data');
    const token = initSoftHsmToken(first, 'cli-token');
    expect((await at(first, 'token', 'select', '--serial', token.serial, '--label', token.label)).code).toBe(EXIT.ok);
    const key = (await at(first, 'audit', 'key')).stdout;
    const moved = join(dataDir, 'data2');
    renameSync(first, moved);
    expect((await at(moved, 'token', 'mechanisms')).stdout).toContain('CKM_EDDSA');
    expect((await at(moved, 'audit', 'key')).stdout).toBe(key);
    expect((await at(moved, 'audit', 'checkpoint')).code).toBe(EXIT.ok);
    expect((await at(moved, 'audit', 'verify')).stdout).toMatch(/^Audit log verified/);
  });

  it('refuses a `cp -a` copy with DATA_DIR_COPIED (exit 7) until `data-dir adopt` records the decision', async () => {
    const original = join(dataDir, 'data');
    initSoftHsmToken(original, 'cli-token');
    expect((await at(original, 'audit', 'checkpoint')).code).toBe(EXIT.ok);
    const copy = join(dataDir, 'copy');
    execFileSync('cp', ['-a', original, copy]);

    const refused = await at(copy, '--json', 'audit', 'checkpoint');
    expect(refused.code).toBe(EXIT.refused);
    const remedy = expect.arrayContaining([expect.stringContaining('data-dir adopt')]);
    expect(JSON.parse(refused.stdout)).toMatchObject({ ok: false, error: { code: 'DATA_DIR_COPIED', remedy } });
    expect((await at(original, 'audit', 'verify')).code).toBe(EXIT.ok);
    expect((await at(original, 'data-dir', 'adopt')).stdout).toContain('nothing to confirm');

    const adopted = await at(copy, 'data-dir', 'adopt');
    expect(adopted.code).toBe(EXIT.ok);
    expect(adopted.stdout).toContain(`Never start the original at ${original} again`);
    expect((await at(copy, 'audit', 'checkpoint')).code).toBe(EXIT.ok);
    expect((await at(copy, 'audit', 'verify')).code).toBe(EXIT.ok);
  });
});

describe('custos report verify on an auditor’s own installation', () => {
  it('checks the report and its PDF against the pinned key, never against that installation’s unrelated log', async () => {
    const out = join(dataDir, 'report');
    expect((await at(join(dataDir, 'custodians'), 'report', 'create', '--inventory', '--out', out)).code).toBe(EXIT.ok);
    const auditor = join(dataDir, 'auditor');
    // The auditor's own log grows past the report's tree size: compared, it would look rewritten.
    for (let i = 0; i < 4; i++) expect((await at(auditor, 'audit', 'checkpoint')).code).toBe(EXIT.ok);
    const verify = () => at(auditor, 'report', 'verify', '--dir', out, '--key', join(out, 'audit-key.pem'));

    const checked = await verify();
    expect(checked).toMatchObject({
      code: EXIT.ok,
      stdout: expect.stringMatching(/ok {3}report\.pdf has the signed SHA-256/),
    });
    expect(checked.stdout).toMatch(
      /NOT CHECKED consistency with a later log — this data directory holds custos\.local\/audit\//,
    );
    expect(checked.stdout).not.toContain('live log');

    writeFileSync(join(out, 'report.pdf'), Buffer.concat([readFileSync(join(out, 'report.pdf')), Buffer.from('%\n')]));
    expect(await verify()).toMatchObject({
      code: EXIT.verification,
      stderr: expect.stringMatching(/^Error REPORT_PDF_MISMATCH: /),
    });
    // The refusal is recorded with the code the auditor was shown.
    const csv = join(dataDir, 'trail.csv');
    expect((await at(auditor, 'audit', 'export', '--out', csv, '--format', 'csv')).code).toBe(EXIT.ok);
    expect(readFileSync(csv, 'utf8')).toMatch(/report\.verify.*REPORT_PDF_MISMATCH/);
    // Refused before any verdict (a report.json past its size, sparse; a folder with no report): recorded as well.
    truncateSync(join(out, 'report.json'), 3 * 2 ** 30);
    expect(await verify()).toMatchObject({
      code: EXIT.verification,
      stderr: expect.stringMatching(/^Error AUDIT_VERIFY_FAILED: .*report\.json is larger than/),
    });
    const nothing = await at(auditor, 'report', 'verify', '--dir', join(dataDir, 'nothing-here'));
    expect(nothing.stderr).toMatch(/^Error REPORT_NOT_FOUND: /);
    rmSync(csv);
    expect((await at(auditor, 'audit', 'export', '--out', csv, '--format', 'csv')).code).toBe(EXIT.ok);
    const trail = readFileSync(csv, 'utf8');
    expect(trail).toMatch(/report\.verify.*AUDIT_VERIFY_FAILED/);
    expect(trail).toMatch(/report\.verify.*REPORT_NOT_FOUND/);
  });

  it('on a machine with no Custos at all verifies with the key alone and creates no installation', async () => {
    const out = join(dataDir, 'report');
    expect((await at(join(dataDir, 'custodians'), 'report', 'create', '--inventory', '--out', out)).code).toBe(EXIT.ok);
    const nowhere = join(dataDir, 'no-custos-here');
    const checked = await at(nowhere, 'report', 'verify', '--dir', out, '--key', join(out, 'audit-key.pem'));
    expect(checked).toMatchObject({
      code: EXIT.ok,
      stdout: expect.stringMatching(/ok {3}report\.pdf has the signed SHA-256/),
    });
    expect(checked.stdout).toMatch(/NOT CHECKED consistency with a later log — there is no Custos data directory here/);
    expect(existsSync(nowhere)).toBe(false);
    // Without --key there is nothing to trust: asked for, where a new installation's key used to fail the report.
    expect(await at(nowhere, 'report', 'verify', '--dir', out)).toMatchObject({
      code: EXIT.invalidInput,
      stderr: expect.stringMatching(/^Error IPC_INVALID_PAYLOAD: There is no Custos data directory here .*--key PEM/),
    });
    expect(existsSync(nowhere)).toBe(false);
  });
});

describe('custos report verify on a hostile folder', () => {
  it('answers with integrity and input codes naming what is wrong, never INTERNAL', async () => {
    const out = join(dataDir, 'report');
    expect((await at(join(dataDir, 'custodians'), 'report', 'create', '--inventory', '--out', out)).code).toBe(EXIT.ok);
    const nowhere = join(dataDir, 'no-custos-here');
    const pem = join(out, 'audit-key.pem');
    const verify = (key = pem) => at(nowhere, 'report', 'verify', '--dir', out, '--key', key);
    const genuine = readFileSync(join(out, 'report.json'), 'utf8');
    const withEntry = (entry: Record<string, unknown>) => {
      const report = JSON.parse(genuine) as { audit: { entries: unknown[] } };
      report.audit.entries.push({ seq: 0, entry: '{"seq":0}', signature: '', proof: [], ...entry });
      writeFileSync(join(out, 'report.json'), JSON.stringify(report));
    };
    withEntry({ proof: null });
    expect(await verify()).toMatchObject({
      code: EXIT.verification,
      stderr: expect.stringMatching(/^Error AUDIT_VERIFY_FAILED: .*report\.json: audit\.entries\.0\.proof: /),
    });
    withEntry({ entry: '{not json' });
    expect(await verify()).toMatchObject({
      code: EXIT.verification,
      stderr: expect.stringMatching(/^Error AUDIT_VERIFY_FAILED: .*entry 0: .*its text is not an audit entry/),
    });
    writeFileSync(join(out, 'report.json'), '{not a report');
    const unreadable = await verify();
    expect(unreadable.code).toBe(EXIT.verification);
    expect(unreadable.stdout + unreadable.stderr).toContain('the report names no installation');
    expect(unreadable.stdout + unreadable.stderr).not.toContain('undefined');
    writeFileSync(join(out, 'report.json'), genuine);
    const notPem = join(dataDir, 'not-a-key.pem');
    writeFileSync(notPem, 'hello\n');
    expect(await verify(notPem)).toMatchObject({
      code: EXIT.invalidInput,
      stderr: expect.stringMatching(/^Error IPC_INVALID_PAYLOAD: .*not-a-key\.pem is not an Ed25519 public key/),
    });
    // An X25519 key has the same SPKI length as an Ed25519 one: it is still not the audit key's kind.
    const x25519 = join(dataDir, 'x25519.pem');
    writeFileSync(x25519, generateKeyPairSync('x25519').publicKey.export({ format: 'pem', type: 'spki' }));
    expect(await verify(x25519)).toMatchObject({
      code: EXIT.invalidInput,
      stderr: expect.stringMatching(/^Error IPC_INVALID_PAYLOAD: .*x25519\.pem is not an Ed25519 public key/),
    });
    expect(await verify(dataDir)).toMatchObject({ stderr: expect.stringMatching(/^Error FILE_NOT_FOUND: /) });
    rmSync(join(out, 'report.pdf'));
    mkdirSync(join(out, 'report.pdf'));
    expect(await verify()).toMatchObject({
      code: EXIT.verification,
      stderr: expect.stringMatching(/^Error REPORT_PDF_MISSING: .*report\.pdf is missing or not a file/),
    });
  });
});

describe('custos compliance --as-of', () => {
  it('refuses a day not on the calendar as invalid input, for the view and the signed report alike', async () => {
    const refused = { code: EXIT.invalidInput, stderr: expect.stringMatching(/^Error IPC_INVALID_PAYLOAD: /) };
    for (const day of ['2026-02-30', '2026-13-45', '2025-02-29']) {
      expect(await at(dataDir, 'compliance', '--as-of', day)).toMatchObject(refused);
      const out = join(dataDir, `report-${day}`);
      expect((await at(dataDir, 'compliance', 'report', '--out', out, '--as-of', day)).code).toBe(EXIT.invalidInput);
    }
    expect((await at(dataDir, 'compliance', '--as-of', '2024-02-29')).stdout).toMatch(/as of 2024-02-29/);
  });
});

describe('custos compliance practice-statement', () => {
  const pdfText = (dir: string) =>
    execFileSync('pdftotext', ['-layout', join(dir, 'practice-statement.pdf'), '-'], { encoding: 'utf8' });

  it('writes the draft as Markdown and PDF through the router, every section heading in the PDF, and records both', async () => {
    const out = join(dataDir, 'kmps');
    const written = await at(dataDir, 'compliance', 'practice-statement', '--out', out);
    expect(written.code).toBe(EXIT.ok);
    expect(written.stdout).toMatch(
      /^Practice statement draft written to .*kmps\n {2}practice-statement\.md {2}sha256 [0-9a-f]{64}\n {2}practice-statement\.pdf {2}sha256 [0-9a-f]{64}\n$/,
    );
    const headings = PRACTICE_STATEMENT_SECTIONS.map((title, i) => `${i + 1}. ${title}`);
    const text = pdfText(out);
    let from = 0;
    for (const heading of headings) {
      const at = text.indexOf(heading, from);
      expect(at, heading).toBeGreaterThan(from);
      from = at;
    }
    expect(text).toContain('[ORGANISATION TO DECIDE: owner]');
    expect(text).toMatch(/page 1 of \d/);
    const markdown = readFileSync(join(out, 'practice-statement.md'), 'utf8');
    // Without --out, the same draft on stdout (its document control names the log as it is then).
    const shown = (await at(dataDir, 'compliance', 'practice-statement')).stdout;
    const control = /## 15\. Document control[\s\S]*/;
    expect(shown.replace(control, '')).toBe(markdown.replace(control, ''));
    const sha = createHash('sha256').update(markdown).digest('hex');
    expect(written.stdout).toContain(`practice-statement.md  sha256 ${sha}`);

    // A folder holding a draft someone may be marking up is kept, unless --force; the refusal is recorded.
    const before = readFileSync(join(out, 'practice-statement.pdf'));
    const refused = await at(dataDir, 'compliance', 'practice-statement', '--out', out);
    expect(refused).toMatchObject({ code: EXIT.invalidInput, stderr: expect.stringMatching(/^Error FILE_EXISTS: /) });
    expect(readFileSync(join(out, 'practice-statement.pdf'))).toEqual(before);
    expect((await at(dataDir, 'compliance', 'practice-statement', '--out', out, '--force')).code).toBe(EXIT.ok);
    const csv = join(dataDir, 'log.csv');
    await at(dataDir, 'audit', 'export', '--out', csv, '--format', 'csv');
    const rows = readFileSync(csv, 'utf8')
      .split('\n')
      .filter((row) => row.includes('"compliance.practice-statement.write"'));
    expect(rows).toEqual([
      expect.stringContaining('"ok"'),
      expect.stringContaining('FILE_EXISTS'),
      expect.stringContaining('"ok"'),
    ]);
    // A folder where a file goes: said as such (before: INTERNAL), and no temporary file left beside it.
    const blocked = join(dataDir, 'blocked');
    mkdirSync(join(blocked, 'practice-statement.md'), { recursive: true });
    const failed = await at(dataDir, 'compliance', 'practice-statement', '--out', blocked, '--force');
    expect(failed).toMatchObject({ code: EXIT.invalidInput, stderr: expect.stringMatching(/^Error FILE_EXISTS: /) });
    expect(readdirSync(blocked)).toEqual(['practice-statement.md']);
  });
});
