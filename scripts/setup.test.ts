import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

const root = resolve(__dirname, '..');
const readme = readFileSync(join(root, 'README.md'), 'utf8');
const ci = readFileSync(join(root, '.ci/run'), 'utf8');

/** The commands of the README's first code block, comments removed. */
function readmeCommands(): string[] {
  const block = /```sh\n([\s\S]*?)```/.exec(readme)?.[1] ?? '';
  return block
    .split('\n')
    .map((line) => line.replace(/#.*$/, '').trim())
    .filter(Boolean);
}

describe('the README’s two commands', () => {
  it('share one setup step, for the app and for the tests', () => {
    expect(readmeCommands()).toEqual(['scripts/setup && npm start', 'scripts/setup && npm test']);
  });

  it('are what .ci/run runs: its one command is the README’s test command, in the CI environment', () => {
    const commands = ci
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line && !line.startsWith('#'));
    expect(commands.filter((line) => !/^(set |cd |export )/.test(line))).toEqual([readmeCommands()[1]]);
    expect(ci).toMatch(/^export .*\bCI=true\b/m);
    expect(ci).toMatch(/^export .*\bCUSTOS_REQUIRE_OPENCRYPTOKI=1\b/m);
  });

  it('keep the system package list in the setup script alone', () => {
    expect(ci).not.toMatch(/apt-get|softhsm2/);
    expect(readme).not.toMatch(/apt-get install softhsm2 /);
    const setup = readFileSync(join(root, 'scripts/setup'), 'utf8');
    expect(setup).toMatch(/^DEBIAN_PACKAGES=\(softhsm2 opencryptoki opensc chromium xvfb /m);
  });
});

describe('scripts/setup on Debian', () => {
  // Stand-ins for the system's package tools: a test cannot install packages, only see what would be run.
  let bin: string;
  let calls: string;
  beforeEach(() => {
    bin = mkdtempSync(join(tmpdir(), 'custos-setup-'));
    calls = join(bin, 'calls.log');
    const stub = (name: string, body: string) => {
      writeFileSync(join(bin, name), `#!/usr/bin/env bash\n${body}\n`);
      chmodSync(join(bin, name), 0o755);
    };
    stub('dpkg-query', 'for p in $MISSING; do [ "$p" = "${@: -1}" ] && exit 1; done; printf "install ok installed"');
    const log = `echo "apt-get $* DEBIAN_FRONTEND=$DEBIAN_FRONTEND" >> ${calls}`;
    stub('apt-get', `${log}; [ "$1" != install ] || exit $APT_STATUS`);
    stub('sudo', `echo "sudo" >> ${calls}; exec "$@"`);
    stub('id', 'echo "$FAKE_UID"');
    stub('npm', `echo "npm $*" >> ${calls}`);
  });
  afterEach(() => rmSync(bin, { recursive: true, force: true }));

  const setup = (args: string[], env: { MISSING?: string; FAKE_UID?: string; APT_STATUS?: string } = {}) => {
    const run = spawnSync('bash', [join(root, 'scripts/setup'), ...args], {
      cwd: root,
      env: {
        ...process.env,
        PATH: `${bin}:${process.env.PATH ?? ''}`,
        MISSING: env.MISSING ?? '',
        FAKE_UID: env.FAKE_UID ?? '0',
        APT_STATUS: env.APT_STATUS ?? '0',
      },
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const made = existsSync(calls) ? readFileSync(calls, 'utf8').trim().split('\n') : [];
    return { status: run.status, out: run.stdout + run.stderr, calls: made };
  };

  it('installs nothing, and does not even refresh the package index, when every package is present', () => {
    const run = setup(['--no-npm']);
    expect(run).toMatchObject({ status: 0, calls: [] });
    expect(run.out).toContain('System packages: all present');
  });

  it('as root, installs only what is missing, without prompting', () => {
    const run = setup(['--no-npm'], { MISSING: 'zbar-tools xvfb' });
    expect(run.status).toBe(0);
    expect(run.calls).toEqual([
      'apt-get update -qq DEBIAN_FRONTEND=noninteractive',
      'apt-get install -y -qq --no-install-recommends xvfb zbar-tools DEBIAN_FRONTEND=noninteractive',
    ]);
  });

  it('as another user, installs through sudo', () => {
    const run = setup(['--no-npm'], { MISSING: 'softhsm2', FAKE_UID: '1000' });
    expect(run.status).toBe(0);
    expect(run.calls).toEqual([
      'sudo',
      'apt-get update -qq DEBIAN_FRONTEND=noninteractive',
      'sudo',
      'apt-get install -y -qq --no-install-recommends softhsm2 DEBIAN_FRONTEND=noninteractive',
    ]);
  });

  it('fails when apt-get cannot install, and goes no further', () => {
    const run = setup([], { MISSING: 'chromium', APT_STATUS: '100' });
    expect(run.status).toBe(1);
    expect(run.calls.filter((call) => call.startsWith('npm'))).toEqual([]);
  });

  it('with --check, names what is missing, installs nothing and fails', () => {
    const run = setup(['--check'], { MISSING: 'opencryptoki' });
    expect(run).toMatchObject({ status: 1, calls: [] });
    expect(run.out).toContain('System packages missing: opencryptoki');
  });

  it('with --reinstall, runs npm ci after the system packages even when node_modules is current', () => {
    const run = setup(['--reinstall']);
    expect(run).toMatchObject({ status: 0, calls: ['npm ci --no-audit --no-fund'] });
  });

  it('refuses an unknown option', () => {
    expect(setup(['--yes']).status).toBe(2);
  });
});
