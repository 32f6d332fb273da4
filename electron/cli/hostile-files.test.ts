import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { tempDataDir } from '../core/testing/softhsm-fixture';
import { EXIT } from './cli';
import { runCustos } from './testing/run-cli';

/**
 * Files named on the command line are people's input too: a device, a folder, a huge file or a name that steers the
 * terminal each get a clear answer with a stable code, and nothing is read that Custos would refuse anyway.
 */
let dataDir: string;
let cleanup: () => void;
beforeEach(() => ({ dataDir, cleanup } = tempDataDir()));
afterEach(() => cleanup());

const custos = (...args: string[]) => runCustos(dataDir, args);

describe('files named on the command line', () => {
  it('refuses a device at once: /dev/zero reports no size and never ends (before: read until killed)', async () => {
    const answer = await custos('backup', 'import', '--file', '/dev/zero');
    expect(answer.code).toBe(EXIT.verification);
    expect(answer.stderr).toContain('BACKUP_INVALID: /dev/zero is not a file (a folder, a device or a pipe)');
  }, 30_000);

  it('calls a folder where a file is read what it is, not a file that already exists', async () => {
    const folder = join(dataDir, 'a-folder');
    mkdirSync(folder);
    const answer = await custos('backup', 'import', '--file', folder);
    expect(answer.stderr).toContain(`BACKUP_INVALID: ${folder} is not a file`);
    expect(answer.stderr).not.toContain('FILE_EXISTS');
  }, 30_000);

  it('refuses a package file larger than any package before reading it whole', async () => {
    const huge = join(dataDir, 'huge.json');
    writeFileSync(huge, Buffer.alloc(300_000, 0x20));
    const answer = await custos('transport', 'receive', '--file', huge);
    expect(answer.code).toBe(EXIT.invalidInput);
    expect(answer.stderr).toContain('IPC_INVALID_PAYLOAD');
    expect(answer.stderr).toContain('at most 65536 bytes');
  }, 30_000);

  it('refuses a folder or pipe as a certificate profile or request (before: FILE_EXISTS, or hung)', async () => {
    const folder = join(dataDir, 'a-folder');
    mkdirSync(folder);
    const pipe = join(dataDir, 'request.pipe');
    execFileSync('mkfifo', [pipe]);
    for (const [option, file] of [
      ['--profile', folder],
      ['--csr', pipe],
    ] as const) {
      const answer = await custos('proposal', 'create', '--custody', 'c', '--action', 'cert.issue', option, file);
      expect(answer.code, option).toBe(EXIT.invalidInput);
      expect(answer.stderr, option).toContain(`PROPOSAL_INVALID: ${file} is not a file (a folder, a device or a pipe)`);
    }
    const huge = join(dataDir, 'huge.csr');
    writeFileSync(huge, Buffer.alloc(300_000, 0x41));
    expect((await custos('proposal', 'create', '--action', 'cert.issue', '--csr', huge)).stderr).toContain(
      'is larger than a certificate request can be (at most 24000 bytes)',
    );
  }, 30_000);

  it('refuses bytes that are not UTF-8 instead of hashing a text with U+FFFD that sha256sum never sees', async () => {
    const script = join(dataDir, 'script.yml');
    writeFileSync(script, Buffer.concat([Buffer.from('format: custos-ceremony/1\n# caf'), Buffer.of(0xe9, 0x0a)]));
    const package_ = join(dataDir, 'package.json');
    writeFileSync(package_, Buffer.concat([Buffer.from('{"format":"'), Buffer.of(0xff), Buffer.from('"}')]));
    for (const [args, code] of [
      [['ceremony', 'lint', script], 'CEREMONY_SCRIPT_INVALID'],
      [['transport', 'receive', '--file', package_], 'IPC_INVALID_PAYLOAD'],
    ] as const) {
      const answer = await custos(...args);
      expect(answer.code, code).toBe(EXIT.invalidInput);
      expect(answer.stderr, code).toContain(`${code}: ${args.at(-1)!} is not UTF-8 text; it was not used.`);
    }
  }, 30_000);

  it('shows control characters in a name as escapes: a path cannot retitle or clear the terminal', async () => {
    const name = 'x\u001b]0;pwned\u0007\u001b[2J\u202e\u2028\u2029';
    const answer = await custos('backup', 'import', '--file', join(dataDir, name));
    // Line and paragraph separators too: a reader that splits lines as Java or Python do would break the line there.
    expect(answer.stderr).toContain('x\\u001b]0;pwned\\u0007\\u001b[2J\\u202e\\u2028\\u2029');
    // eslint-disable-next-line no-control-regex -- the raw characters must not be there
    expect(answer.stderr).not.toMatch(/[\u0007\u001b\u202e\u2028\u2029]/);
  }, 30_000);

  it('says what is wrong with a name too long or a loop of links, never INTERNAL, and never echoes a huge argument', async () => {
    const loop = join(dataDir, 'loop');
    symlinkSync(join(dataDir, 'loop-back'), loop);
    symlinkSync(loop, join(dataDir, 'loop-back'));
    const long = join(dataDir, `${'A'.repeat(100_000)}.txt`);
    for (const args of [
      ['audit', 'verify', '--checkpoint', long],
      ['audit', 'verify', '--checkpoint', loop],
      ['ceremony', 'lint', long],
      ['backup', 'import', '--file', loop],
      ['custodian', 'check', '--id', 'A'.repeat(100_000)],
    ]) {
      const answer = await custos(...args);
      const what = args.slice(0, 2).join(' ');
      expect(answer.stderr, what).not.toContain('INTERNAL');
      expect(answer.code, what).toBe(EXIT.invalidInput);
      expect(answer.stderr.length, what).toBeLessThan(1_000);
    }
  }, 60_000);

  it('names a missing folder or a folder in the way of an audit export (before: INTERNAL), and records that code', async () => {
    const folder = join(dataDir, 'a-folder');
    mkdirSync(folder);
    for (const [out, code] of [
      [join(dataDir, 'no-such-folder', 'log.csv'), 'FILE_NOT_FOUND'],
      [folder, 'FILE_EXISTS'],
    ] as const) {
      const answer = await custos('--json', 'audit', 'export', '--format', 'csv', '--out', out);
      expect(answer.json().error.code, out).toBe(code);
      expect(answer.code, out).toBe(EXIT.invalidInput);
    }
    const trail = await custos('--json', 'audit', 'export', '--format', 'csv', '--out', join(dataDir, 'log.csv'));
    expect(trail.code).toBe(0);
    const failures = readFileSync(join(dataDir, 'log.csv'), 'utf8')
      .split('\n')
      .filter((line) => line.includes('"audit.export"') && line.includes('"failed"'));
    expect(failures.map((line) => line.split('","')[10])).toEqual(['FILE_NOT_FOUND', 'FILE_EXISTS']);
  }, 60_000);
});

describe('an argument of megabytes', () => {
  it('is repeated back cut short, never whole, and a path too long for the system is FILE_NOT_FOUND, not INTERNAL', async () => {
    const huge = 'A'.repeat(1_000_000);
    const answers = [
      await custos(huge),
      await custos('custodian', 'check', '--id', huge),
      await custos('proposal', 'create', '--custody', 'a'.repeat(16), '--action', huge, '--as', 'x'),
      await custos('ceremony', 'template', huge),
      await custos('report', 'verify', '--dir', join(dataDir, huge)),
      await custos('audit', 'verify', '--bundle', join(dataDir, huge)),
      await custos('audit', 'verify', '--checkpoint', join(dataDir, huge)),
      await custos('--module', `/${huge}.so`, 'status'),
      await runCustos(join(dataDir, huge), ['status']),
    ];
    for (const answer of answers) {
      const said = answer.stdout + answer.stderr;
      expect(said).not.toContain('A'.repeat(201));
      // Its first and last 120 characters (errors.ts shown).
      expect(said).toMatch(/A…A/);
      expect(answer.code).not.toBe(EXIT.failure);
    }
    expect(answers[6]!.stderr).toContain('FILE_NOT_FOUND');
  }, 60_000);
});
