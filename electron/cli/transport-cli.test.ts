import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { TransportPackage } from '../../shared/transport';
import { factorArgs } from '../core/testing/cli-factors';
import { opensslVerify } from '../core/testing/openssl';
import { quorumFixture } from '../core/testing/quorum-fixture';
import { tempDataDir } from '../core/testing/softhsm-fixture';
import { EXIT, runCli } from './cli';

let dataDir: string;
let cleanup: () => void;
let clock: { now: Date };
let enrolled: { id: string; passphrase: string; secret: string }[];
beforeEach(async () => {
  ({ dataDir, cleanup } = tempDataDir());
  const seeded = await quorumFixture(dataDir, [
    { name: 'Ada' },
    { name: 'Babbage' },
    { name: 'Curie', roles: ['custodian', 'security-officer'] },
  ]);
  seeded.close();
  ({ clock, enrolled } = seeded);
});
afterEach(() => cleanup());

async function cli(...args: string[]) {
  let stdout = '';
  let stderr = '';
  const io = {
    stdout: (t: string) => (stdout += t),
    stderr: (t: string) => (stderr += t),
    env: {},
    ask: () => Promise.resolve(''),
    clock: () => clock.now,
  };
  const code = await runCli(['--data-dir', dataDir, ...args], io, 'test');
  return { code, stdout, stderr, value: () => (JSON.parse(stdout) as { value: unknown }).value };
}
const factors = (...who: number[]) => factorArgs(dataDir, clock, enrolled, who);
const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: ['ignore', 'pipe', 'pipe'] });

describe('custos transport', () => {
  it('an officer trusts a recipient, the quorum exports a key for it, and openssl alone checks and unwraps the written package', async () => {
    const take = await cli(
      'custody',
      'take',
      ...['--holder', 'Ada', '--holder', 'Babbage', '--holder', 'Curie', '--threshold', '2', '--new-label', 'vault-t'],
      ...factors(0, 1, 2),
    );
    expect(take.code, take.stderr).toBe(EXIT.ok);
    const custodyId = /Custody id: ([0-9a-f]{16})/.exec(take.stdout)![1]!;
    const propose = async (action: string, ...params: string[]) => {
      const made = await cli(
        'proposal',
        'create',
        '--json',
        ...['--custody', custodyId, '--action', action],
        ...params.flatMap((p) => ['--param', p]),
        ...['--as', 'Ada', ...factors(0)],
      );
      if (made.code !== EXIT.ok) return made;
      const { id, shortFingerprint } = made.value() as { id: string; shortFingerprint: string };
      const approve = ['proposal', 'approve', '--id', id, '--fingerprint', shortFingerprint];
      return cli(...approve, '--as', 'Babbage', '--as', 'Curie', ...factors(1, 2));
    };

    const recipientKey = join(dataDir, 'partner.pem');
    openssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', recipientKey);
    const pub = join(dataDir, 'partner.pub.pem');
    writeFileSync(pub, openssl('pkey', '-in', recipientKey, '-pubout'));
    // Only a security officer records a recipient; Ada is none.
    const byAda = await cli('transport', 'trust', '--file', pub, '--label', 'Partner', '--as', 'Ada', ...factors(0));
    expect(byAda.code).toBe(EXIT.refused);
    expect(byAda.stderr).toContain('NOT_AUTHORIZED');
    const trusted = await cli(
      'transport',
      'trust',
      '--file',
      pub,
      '--label',
      'Partner',
      '--as',
      'Curie',
      ...factors(2),
    );
    expect(trusted.code, trusted.stderr).toBe(EXIT.ok);
    const fingerprint = /fingerprint: ([0-9a-f]{64})/.exec(trusted.stdout)![1]!;
    expect((await cli('transport', 'recipients')).stdout).toContain(
      `Partner  EC-P256  trusted\n  SHA-256 ${fingerprint}`,
    );

    const generated = await propose(
      'key.generate',
      ...['algorithm=AES-256', 'label=shared-data', 'usage=encrypt', 'backupable=true', 'cryptoperiodDays=90'],
    );
    expect(generated.code, generated.stderr).toBe(EXIT.ok);
    const keyId = (await cli('key', 'list')).stdout.slice(0, 32);
    const stranger = randomBytes(32).toString('hex');
    const untrusted = await propose('key.export-wrapped', `keyId=${keyId}`, `recipient=${stranger}`);
    expect(untrusted.code).toBe(EXIT.refused);
    expect(untrusted.stdout).toContain('"code": "TRANSPORT_RECIPIENT_UNTRUSTED"');

    const done = await propose('key.export-wrapped', `keyId=${keyId}`, `recipient=${fingerprint}`);
    expect(done.code, done.stderr).toBe(EXIT.ok);
    expect(done.stdout).toContain('was wrapped for “Partner” (EC-P256, ecdh-hkdf-sha256+aes-kwp)');
    // The ceremony report names who proposed and approved with which factors, the key and the recipient's fingerprint.
    const [exported] = (await cli('proposal', 'list', '--json')).value() as { id: string; action: string }[];
    expect(exported!.action).toBe('key.export-wrapped');
    const reportDir = join(dataDir, 'report');
    const reported = await cli('report', 'create', '--ceremony', exported!.id, '--out', reportDir);
    expect(reported.code, reported.stderr).toBe(EXIT.ok);
    const report = readFileSync(join(reportDir, 'report.json'), 'utf8');
    expect(report).toContain(`Recipient key SHA-256: ${fingerprint}`);
    expect(report).toContain('"type":"key.export-wrapped"');
    expect(report).toMatch(/"name":"Babbage","part":"approved"/);
    const [made] = (await cli('transport', 'packages', '--json')).value() as { sha256: string; direction: string }[];
    expect(made!.direction).toBe('out');
    const out = join(dataDir, 'to-partner');
    const written = await cli('transport', 'write', '--package', made!.sha256, '--out', out);
    expect(written.code, written.stderr).toBe(EXIT.ok);

    // The recipient's side, with openssl alone, as docs/key-transport.md gives it.
    const at = (name: string) => join(out, name);
    expect(opensslVerify(at('audit-key.pem'), at('package.json'), at('package.sig'))).toContain(
      'Signature Verified Successfully',
    );
    const pkg = JSON.parse(readFileSync(at('package.json'), 'utf8')) as TransportPackage;
    writeFileSync(at('eph.der'), Buffer.from(pkg.ephemeralPublicKey!, 'base64'));
    openssl('pkey', '-pubin', '-inform', 'DER', '-in', at('eph.der'), '-out', at('eph.pem'));
    const z = openssl('pkeyutl', '-derive', '-inkey', recipientKey, '-peerkey', at('eph.pem')).toString('hex');
    const kek = openssl(
      ...['kdf', '-keylen', '32', '-kdfopt', 'digest:SHA256', '-kdfopt', `hexkey:${z}`],
      ...['-kdfopt', `hexinfo:${pkg.info}`, 'HKDF'],
    )
      .toString()
      .trim()
      .replace(/:/g, '');
    writeFileSync(at('wrapped.bin'), Buffer.from(pkg.wrappedKey, 'base64'));
    const key = openssl('enc', '-d', '-id-aes256-wrap-pad', '-K', kek, '-iv', 'A65959A6', '-in', at('wrapped.bin'));
    writeFileSync(at('zero.bin'), Buffer.alloc(16));
    const kcv = openssl('enc', '-aes-256-ecb', '-nopad', '-K', key.toString('hex'), '-in', at('zero.bin'));
    expect((await cli('key', 'list')).stdout).toContain(kcv.subarray(0, 3).toString('hex').toUpperCase());

    // A package changed on the way is refused when received, and nothing is kept.
    const changed = join(dataDir, 'changed.json');
    writeFileSync(changed, JSON.stringify({ ...pkg, key: { ...pkg.key, usage: 'wrap' } }));
    const refused = await cli('transport', 'receive', '--file', changed);
    expect(refused.code).toBe(EXIT.verification);
    expect(refused.stderr).toContain('TRANSPORT_PACKAGE_INVALID');
    expect((await cli('transport', 'packages', '--json')).value()).toHaveLength(1);
  });
});
