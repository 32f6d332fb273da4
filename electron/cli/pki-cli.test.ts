import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { factorArgs } from '../core/testing/cli-factors';
import { quorumFixture } from '../core/testing/quorum-fixture';
import { tempDataDir } from '../core/testing/softhsm-fixture';
import { EXIT, runCli } from './cli';

/** A CA's three ceremonies from the command line, on a real SoftHSM2 token; every artefact checked by openssl. */
let dataDir: string;
let cleanup: () => void;
let clock: { now: Date };
let enrolled: { id: string; passphrase: string; secret: string }[];

beforeEach(async () => {
  ({ dataDir, cleanup } = tempDataDir());
  const seeded = await quorumFixture(dataDir, [{ name: 'Ada' }, { name: 'Babbage' }, { name: 'Curie' }]);
  seeded.close();
  ({ clock, enrolled } = seeded);
});
afterEach(() => cleanup());

async function cli(...args: string[]) {
  let stdout = '';
  let stderr = '';
  const prompts: string[] = [];
  const io = {
    stdout: (t: string) => (stdout += t),
    stderr: (t: string) => (stderr += t),
    env: {},
    ask: (prompt: string) => (prompts.push(prompt), Promise.resolve('')),
    clock: () => clock.now,
  };
  const code = await runCli(['--data-dir', dataDir, ...args], io, 'test');
  return { code, stdout, stderr, prompts };
}
const factors = (...who: number[]) => factorArgs(dataDir, clock, enrolled, who);
const openssl = (...args: string[]) =>
  execFileSync('sh', ['-c', `openssl ${args.join(' ')} 2>&1`], { encoding: 'utf8' });

/** Proposed by Ada, approved by Babbage and Curie; the proposal as JSON. */
async function ceremony(custodyId: string, action: string, args: string[]) {
  const proposed = await cli(
    'proposal',
    'create',
    '--json',
    '--custody',
    custodyId,
    '--action',
    action,
    ...args,
    '--as',
    'Ada',
    ...factors(0),
  );
  expect(proposed.code, proposed.stderr).toBe(EXIT.ok);
  const p = (JSON.parse(proposed.stdout) as { value: { id: string; shortFingerprint: string } }).value;
  const done = await cli(
    'proposal',
    'approve',
    '--json',
    '--id',
    p.id,
    '--fingerprint',
    p.shortFingerprint,
    '--as',
    'Babbage',
    '--as',
    'Curie',
    ...factors(1, 2),
  );
  expect(done.code, done.stderr).toBe(EXIT.ok);
  return JSON.parse(done.stdout) as {
    value: { id: string; state: string; outcome: { status: string; result: Record<string, unknown> } };
  };
}

const iso = (d: Date) => d.toISOString().replace(/\.\d+Z$/, 'Z');

describe('custos cert and crl commands', () => {
  it('runs a root, an intermediate from an openssl request and a CRL; cert export and crl export verify with openssl', async () => {
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
      'ca-vault',
      ...factors(0, 1, 2),
    );
    expect(take.code, take.stderr).toBe(EXIT.ok);
    const custodyId = /Custody id: ([0-9a-f]{16})/.exec(take.stdout)![1]!;
    const key = ['algorithm=EC-P256', 'label=root-ca', 'usage=sign', 'backupable=false', 'cryptoperiodDays=3650'];
    const generated = await ceremony(
      custodyId,
      'key.generate',
      key.flatMap((p) => ['--param', p]),
    );
    const keyId = String(generated.value.outcome.result.keyId);
    await ceremony(custodyId, 'key.activate', ['--param', `keyId=${keyId}`]);

    const now = Date.now();
    const rootProfile = join(dataDir, 'root-profile.json');
    writeFileSync(
      rootProfile,
      JSON.stringify({
        subject: { commonName: 'CLI Root CA', organization: 'Custos', country: 'NL' },
        notBefore: iso(new Date(now - 60_000)),
        notAfter: iso(new Date(now + 5 * 365 * 86_400_000)),
        ca: true,
        keyUsage: ['keyCertSign', 'cRLSign'],
      }),
    );
    const root = await ceremony(custodyId, 'cert.self-sign', ['--param', `keyId=${keyId}`, '--profile', rootProfile]);
    expect(root.value.outcome.status).toBe('ok');
    const rootSerial = String(root.value.outcome.result.serial);
    const rootPem = join(dataDir, 'root.pem');
    const exported = await cli('cert', 'export', '--id', rootSerial);
    expect(exported.code, exported.stderr).toBe(EXIT.ok);
    writeFileSync(rootPem, exported.stdout);
    expect(openssl('verify', '-CAfile', rootPem, rootPem).trim()).toBe(`${rootPem}: OK`);

    // The intermediate's key exists only in openssl.
    const csrKey = join(dataDir, 'issuing.key');
    const csr = join(dataDir, 'issuing.csr');
    openssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', csrKey);
    openssl('req', '-new', '-key', csrKey, '-subj', '/CN=CLI-Issuing-CA', '-out', csr);
    const issuingProfile = join(dataDir, 'issuing-profile.json');
    writeFileSync(
      issuingProfile,
      JSON.stringify({
        subject: { commonName: 'CLI-Issuing-CA' },
        notBefore: iso(new Date(now - 60_000)),
        notAfter: iso(new Date(now + 2 * 365 * 86_400_000)),
        ca: true,
        pathLength: 0,
        keyUsage: ['keyCertSign', 'cRLSign'],
        extendedKeyUsage: ['serverAuth'],
      }),
    );

    // A request whose signature does not verify is refused before anyone's factors are asked or spent.
    const tampered = join(dataDir, 'tampered.csr');
    const der = Buffer.from(readFileSync(csr, 'utf8').replace(/-----[A-Z ]+-----|\n/g, ''), 'base64');
    der[der.length - 3]! ^= 0x01;
    writeFileSync(tampered, der);
    const refused = await cli(
      'proposal',
      'create',
      '--custody',
      custodyId,
      '--action',
      'cert.issue',
      '--param',
      `issuerKeyId=${keyId}`,
      '--profile',
      issuingProfile,
      '--csr',
      tampered,
      '--as',
      'Ada',
      ...factors(0),
    );
    expect(refused.code).toBe(EXIT.verification);
    expect(refused.stderr).toMatch(/^Error CSR_INVALID/);

    const issued = await ceremony(custodyId, 'cert.issue', [
      '--param',
      `issuerKeyId=${keyId}`,
      '--profile',
      issuingProfile,
      '--csr',
      csr,
    ]);
    const issuedSerial = String(issued.value.outcome.result.serial);
    const issuedPem = join(dataDir, 'issuing.pem');
    writeFileSync(issuedPem, (await cli('cert', 'export', '--id', issuedSerial)).stdout);
    expect(openssl('verify', '-CAfile', rootPem, issuedPem).trim()).toBe(`${issuedPem}: OK`);

    await ceremony(custodyId, 'crl.issue', [
      '--param',
      `issuerKeyId=${keyId}`,
      '--param',
      `revoke=${issuedSerial}:superseded`,
    ]);
    const crlPem = join(dataDir, 'root.crl');
    const crl = await cli('crl', 'export', '--id', keyId);
    expect(crl.code, crl.stderr).toBe(EXIT.ok);
    writeFileSync(crlPem, crl.stdout);
    expect(openssl('crl', '-in', crlPem, '-CAfile', rootPem, '-noout').trim()).toBe('verify OK');
    expect(openssl('crl', '-in', crlPem, '-noout', '-text')).toMatch(/CRL Reason Code:\s+Superseded/);

    // The root ceremony's signed report carries the certificate; `report verify` checks it.
    const reportDir = join(dataDir, 'root-report');
    const report = await cli('report', 'create', '--ceremony', root.value.id, '--out', reportDir);
    expect(report.stdout).toMatch(/^Report [0-9a-f]{16} \(cert\.self-sign\) signed/);
    const reportJson = readFileSync(join(reportDir, 'report.json'), 'utf8');
    expect(reportJson).toContain(rootSerial);
    expect((await cli('report', 'verify', '--dir', reportDir)).code).toBe(EXIT.ok);

    const list = await cli('cert', 'list');
    expect(list.stdout).toContain(`${issuedSerial}  REVOKED (superseded)`);
    expect(list.stdout).toContain('subject CN=CLI Root CA, O=Custos, C=NL');
    expect((await cli('cert', 'export', '--id', 'ff'.repeat(20))).stderr).toMatch(/^Error CERT_NOT_FOUND/);
  });
});
