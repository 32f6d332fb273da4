import { execFileSync, spawn } from 'node:child_process';
import { totpCodeAt } from '../core/custodians/totp';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CHILD } from '../core/testing/child-bundles';
import { tempDataDir } from '../core/testing/softhsm-fixture';

// A person at a terminal: answers typed at prompts on a pseudo-terminal, not piped.
const PASSPHRASE = 'ample quiver lantern hobble crisp walnut';
let dataDir: string;
let cleanup: () => void;
beforeEach(() => ({ dataDir, cleanup } = tempDataDir()));
afterEach(() => cleanup());

function command(...args: string[]): string[] {
  return [process.execPath, CHILD.cli, '--data-dir', dataDir, ...args];
}

// A hang shows as 'still running' after 60 s; a loaded machine (CI, two cores) can take 20 s for a command.
function atTerminal(answers: string[], ...args: string[]): { output: string; exit: number | 'still running' } {
  const output = execFileSync(
    'python3',
    [join(__dirname, 'pty-session.py'), '60', ...answers, '--', ...command(...args)],
    {
      encoding: 'utf8',
      cwd: join(__dirname, '../..'),
    },
  );
  const exit = /\nEXIT (\d+)\n$/.exec(output);
  return { output, exit: exit ? Number(exit[1]) : 'still running' };
}

describe('the CLI on a terminal', () => {
  it('custodian enrol and custodian check exit when done, with answers typed at each prompt or ahead', () => {
    const enrol = atTerminal(
      [PASSPHRASE, PASSPHRASE, 'TOTP'],
      'custodian',
      'enrol',
      '--name',
      'Alice',
      '--role',
      'security-officer',
    );
    expect(enrol.output).toMatch(/Alice is enrolled \(id [0-9a-f]+\)/);
    expect(enrol.exit).toBe(0);
    const id = /id ([0-9a-f]+)\)/.exec(enrol.output)![1]!;

    // Typed ahead: both answers arrive before the second prompt. The enrolment code's time step is
    // spent; the next step's code is within the accepted window.
    const secret = /secret=([A-Z2-7]+)/.exec(enrol.output)![1]!;
    const typedAhead = `${PASSPHRASE}\r${totpCodeAt(secret, new Date(Date.now() + 30_000))}`;
    const check = atTerminal([typedAhead], 'custodian', 'check', '--id', id);
    expect(check.output).toContain('Both factors are correct.');
    expect(check.exit).toBe(0);
    // Hidden answers are never echoed by the terminal, even when typed before the prompt showed.
    expect(enrol.output + check.output).not.toContain(PASSPHRASE);
  }, 150_000);

  it('answers given all at once on a pipe that stays open are each used, and the command exits', async () => {
    const enrol = atTerminal(
      [PASSPHRASE, PASSPHRASE, 'TOTP'],
      'custodian',
      'enrol',
      '--name',
      'Alice',
      '--role',
      'security-officer',
    );
    const id = /id ([0-9a-f]+)\)/.exec(enrol.output)![1]!;
    const secret = /secret=([A-Z2-7]+)/.exec(enrol.output)![1]!;
    const [node, ...args] = command('custodian', 'check', '--id', id);
    const child = spawn(node!, args, { cwd: join(__dirname, '../..'), stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stdin.write(`${PASSPHRASE}\n${totpCodeAt(secret, new Date(Date.now() + 30_000))}\n`);
    const exit = await new Promise<number | 'still running'>((resolve) => {
      const timer = setTimeout(() => resolve('still running'), 60_000);
      child.once('exit', (code) => (clearTimeout(timer), resolve(code ?? -1)));
    });
    child.kill('SIGKILL');
    expect(output).toContain('Both factors are correct.');
    expect(exit).toBe(0);
  }, 150_000);
});
