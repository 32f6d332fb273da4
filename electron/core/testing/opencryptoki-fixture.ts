import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'vitest';
import type { TokenRef } from '../../../shared/tokens';

/**
 * opencryptoki 3.8 (Debian `opencryptoki`): the second, independent PKCS#11 implementation the
 * token suite runs on. Its software token ("IBM SoftTok") lives in one machine-wide store served by
 * the pkcsslotd daemon, so the tests that use it run one file at a time (vitest.opencryptoki.config.mts)
 * and each file starts from a blank token: the daemon is stopped, the store wiped and the daemon
 * started again, before the file's process loads the library (a loaded library cannot follow a
 * daemon restart).
 */
export const OPENCRYPTOKI_MODULE = '/usr/lib/x86_64-linux-gnu/pkcs11/libopencryptoki.so';
/** The SO PIN a new opencryptoki token has; C_InitToken insists on it (the PKCS#11 spec does not). */
export const OPENCRYPTOKI_FACTORY_SO_PIN = '87654321';
/** Tokens the tests initialise carry this label prefix; only such a token (or a blank one) is ever wiped. */
export const OPENCRYPTOKI_TEST_LABEL = 'custos-test';

const CONF = '/etc/opencryptoki/opencryptoki.conf';
const STORE = '/var/lib/opencryptoki/swtok';
const CACHE = '/dev/shm/var.lib.opencryptoki.swtok';
const PID_FILE = '/var/run/pkcsslotd.pid';
const DAEMON = '/usr/sbin/pkcsslotd';
/** Only the software token: the other slots of Debian's default configuration need hardware. */
const SWTOK_ONLY =
  'version opencryptoki-3.1\n\n# Written by the Custos test suite while pkcsslotd starts.\nslot 3\n{\nstdll = libpkcs11_sw.so\n}\n';

/** Why the opencryptoki suite cannot run here, or null when it can. */
export function opencryptokiUnavailable(): string | null {
  if (process.platform !== 'linux') return 'opencryptoki is tested on Linux only';
  for (const path of [OPENCRYPTOKI_MODULE, DAEMON, '/usr/sbin/pkcsconf']) {
    if (!existsSync(path)) return `${path} is missing: install Debian's opencryptoki package`;
  }
  if (process.getuid?.() !== 0)
    return 'the tests restart pkcsslotd and wipe its software token store, which needs root';
  return null;
}

/** In CI a missing opencryptoki is a failure, not a skip: .ci/run sets CUSTOS_REQUIRE_OPENCRYPTOKI=1. */
export function opencryptokiRequired(): boolean {
  return process.env.CUSTOS_REQUIRE_OPENCRYPTOKI === '1';
}

/** The software token as pkcsconf reports it, read in a separate process so this one loads nothing. */
export function opencryptokiTokenInfo(): { label: string; serial: string; initialized: boolean } | null {
  const run = spawnSync('pkcsconf', ['-t', '-c', '3'], { encoding: 'utf8' });
  if (run.status !== 0) return null;
  const label = run.stdout.match(/Label:\s*(.*?)\s*$/m)?.[1] ?? '';
  const serial = run.stdout.match(/Serial Number:\s*(\S+)/)?.[1] ?? '';
  const flags = Number.parseInt(run.stdout.match(/Flags:\s*0x([0-9A-Fa-f]+)/)?.[1] ?? '0', 16);
  return { label, serial, initialized: (flags & 0x400) !== 0 };
}

function daemonPid(): number | null {
  if (!existsSync(PID_FILE)) return null;
  const pid = Number.parseInt(readFileSync(PID_FILE, 'utf8'), 10);
  if (!Number.isInteger(pid) || pid <= 0) return null;
  try {
    process.kill(pid, 0);
    return pid;
  } catch {
    return null;
  }
}

function sleep(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

export function stopOpencryptoki(): void {
  const pid = daemonPid();
  if (pid === null) return;
  process.kill(pid, 'SIGTERM');
  for (let i = 0; i < 100 && daemonPid() !== null; i++) sleep(100);
  if (daemonPid() !== null) process.kill(pid, 'SIGKILL');
  for (let i = 0; i < 50 && daemonPid() !== null; i++) sleep(100);
}

/**
 * Starts pkcsslotd on a blank software token. Refuses to wipe a token that is not blank and was
 * not initialised by these tests: on a developer's machine it may hold real keys.
 */
export function resetOpencryptoki(): TokenRef {
  const current = daemonPid() !== null ? opencryptokiTokenInfo() : null;
  if (current?.initialized && !current.label.startsWith(OPENCRYPTOKI_TEST_LABEL)) {
    throw new Error(
      `opencryptoki's software token is initialised as “${current.label}”, not by these tests; refusing to wipe it.`,
    );
  }
  stopOpencryptoki();
  rmSync(CACHE, { force: true });
  if (existsSync(STORE)) {
    for (const entry of readdirSync(STORE)) rmSync(join(STORE, entry), { recursive: true, force: true });
  }
  mkdirSync(join(STORE, 'TOK_OBJ'), { recursive: true, mode: 0o770 });
  mkdirSync('/var/lock/opencryptoki/swtok', { recursive: true, mode: 0o770 });
  mkdirSync('/var/log/opencryptoki', { recursive: true, mode: 0o770 });
  execFileSync('chgrp', ['-R', 'pkcs11', STORE, '/var/lock/opencryptoki']);
  // The daemon reads its configuration once, when it starts; the machine's own file is put back after.
  const original = existsSync(CONF) ? readFileSync(CONF) : null;
  writeFileSync(CONF, SWTOK_ONLY);
  try {
    execFileSync(DAEMON, { stdio: 'pipe' });
    for (let i = 0; i < 50 && daemonPid() === null; i++) sleep(100);
  } finally {
    if (original) writeFileSync(CONF, original);
  }
  const token = opencryptokiTokenInfo();
  if (!token || token.initialized) throw new Error('pkcsslotd did not come up with a blank software token');
  return { serial: token.serial, label: token.label };
}

/**
 * Initialises the blank token the way its owner would with OpenSC's pkcs11-tool: label, the
 * factory SO PIN kept, a user PIN set. Run in a separate process, before this one loads the library.
 */
export function initOpencryptokiToken(label: string, userPin: string): TokenRef {
  const common = ['--module', OPENCRYPTOKI_MODULE, '--slot', '3'];
  execFileSync('pkcs11-tool', [...common, '--init-token', '--label', label, '--so-pin', OPENCRYPTOKI_FACTORY_SO_PIN], {
    stdio: 'pipe',
  });
  execFileSync(
    'pkcs11-tool',
    [
      ...common,
      '--login',
      '--login-type',
      'so',
      '--so-pin',
      OPENCRYPTOKI_FACTORY_SO_PIN,
      '--init-pin',
      '--pin',
      userPin,
    ],
    { stdio: 'pipe' },
  );
  const token = opencryptokiTokenInfo();
  if (!token?.initialized) throw new Error('pkcs11-tool did not initialise the opencryptoki token');
  return { serial: token.serial, label: token.label };
}

/**
 * A describe block for the opencryptoki suite: skipped with the reason where opencryptoki cannot run
 * (no package, not root), except in CI, where that is a failure.
 */
export function describeOnOpencryptoki(name: string, body: () => void): void {
  const why = opencryptokiUnavailable();
  if (why && opencryptokiRequired()) {
    describe(name, () => {
      it('has opencryptoki to run on', () => {
        throw new Error(`CUSTOS_REQUIRE_OPENCRYPTOKI=1, but ${why}`);
      });
    });
    return;
  }
  describe.skipIf(why !== null)(why ? `${name} (skipped: ${why})` : name, body);
}
