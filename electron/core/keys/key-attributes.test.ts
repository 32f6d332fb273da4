import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pkcs11js from 'pkcs11js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { findObjects } from '../hsm/find-objects';
import { findSoftHsmLibrary, softHsmPaths } from '../hsm/softhsm';
import { keyOperations } from './key-operations';
import type { QuorumOperation, QuorumService } from '../quorum/quorum-service';
import { quorumFixture } from '../testing/quorum-fixture';
import { tempDataDir } from '../testing/softhsm-fixture';
import { readAttributes } from '../testing/token-attributes';
import { checkLeastPrivilege } from './key-attributes';
import { KeyInventory } from './key-inventory';

let dataDir: string;
let cleanup: () => void;
let f: Awaited<ReturnType<typeof quorumFixture>>;
let quorum: QuorumService;
let custodyId: string;

/** An attacker's try, inside a logged-in session: decrypt with the key's private half. */
const decryptWith: QuorumOperation = ({ session, lib, params }) => {
  const { keyId, ciphertext } = params as { keyId: string; ciphertext: string };
  const [handle] = findObjects(
    lib,
    session,
    [
      { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY },
      { type: pkcs11js.CKA_ID, value: Buffer.from(keyId, 'hex') },
    ],
    1,
  );
  try {
    lib.C_DecryptInit(session, { mechanism: pkcs11js.CKM_RSA_PKCS }, handle!);
    return { plaintext: lib.C_Decrypt(session, Buffer.from(ciphertext, 'base64'), Buffer.alloc(512)).toString('utf8') };
  } catch (error) {
    return { refused: (error as Error).message };
  }
};

/** A session key pair with the token's default usage attributes, put through the read-back check. */
const defaultsKey: QuorumOperation = ({ session, lib }) => {
  const rsa = [
    { type: pkcs11js.CKA_MODULUS_BITS, value: 2048 },
    { type: pkcs11js.CKA_PUBLIC_EXPONENT, value: Buffer.from([1, 0, 1]) },
  ];
  const pair = lib.C_GenerateKeyPair(
    session,
    { mechanism: pkcs11js.CKM_RSA_PKCS_KEY_PAIR_GEN },
    [{ type: pkcs11js.CKA_TOKEN, value: false }, ...rsa],
    // A private half anyone could see and use without a login.
    [
      { type: pkcs11js.CKA_TOKEN, value: false },
      { type: pkcs11js.CKA_PRIVATE, value: false },
    ],
  );
  const halves = [
    { handle: pair.privateKey, usage: 'sign' as const, half: 'private' as const },
    { handle: pair.publicKey, usage: 'sign' as const, half: 'public' as const },
  ];
  try {
    // Checked as a backup-able key made trusted-only would be (CKA_WRAP_WITH_TRUSTED asked for, the token's default).
    checkLeastPrivilege(lib, session, 'defaults', halves, true, true, true);
    return { code: null };
  } catch (error) {
    const { code, remedy } = error as { code: string; remedy: string[] };
    return { code, remedy };
  }
};

beforeEach(async () => {
  ({ dataDir, cleanup } = tempDataDir());
  f = await quorumFixture(dataDir, [{ name: 'Ada' }, { name: 'Babbage' }, { name: 'Curie' }]);
  const now = () => f.clock.now;
  const operations = {
    ...keyOperations(f.opened.store, now, new KeyInventory(f.opened.store, f.opened.audit, now)),
    'test.read-attributes': readAttributes,
    'test.decrypt': decryptWith,
    'test.defaults-key': defaultsKey,
  };
  quorum = f.quorum(operations);
  custodyId = (
    await f.custody.take({
      token: { serial: '', label: '' },
      threshold: 2,
      holders: f.holders(0, 1, 2),
      label: 'least',
    })
  ).id;
});
afterEach(() => {
  quorum.forgetAll();
  f.close();
  cleanup();
});

async function run(action: string, params: unknown): Promise<unknown> {
  const done = await f.approveAll(
    quorum,
    quorum.propose({ custodyId, action, params, requestedBy: f.enrolled[0]!.id }),
    [1, 2],
  );
  expect(done.outcome, JSON.stringify(done.outcome)).toMatchObject({ status: 'ok' });
  return (done.outcome as { result: unknown }).result;
}
async function generate(algorithm: string, usage: string): Promise<string> {
  const ckaId = randomBytes(16).toString('hex');
  await run('key.generate', {
    algorithm,
    label: `${algorithm} ${usage}`,
    usage,
    backupable: true,
    cryptoperiodDays: 365,
    ckaId,
  });
  return ckaId;
}
const pkcs11Tool = (...args: string[]): Buffer =>
  execFileSync('pkcs11-tool', ['--module', findSoftHsmLibrary()!, '--token-label', 'least', ...args], {
    env: { ...process.env, SOFTHSM2_CONF: softHsmPaths(dataDir).configPath },
  });

describe('keys are least-privilege: each usage allows that use only', () => {
  it.each([
    ['EC-P256', 'sign', { private: ['sign'], public: ['verify'] }],
    ['RSA-3072', 'sign', { private: ['sign'], public: ['verify'] }],
    ['RSA-3072', 'encrypt', { private: ['decrypt'], public: ['encrypt'] }],
    ['RSA-3072', 'wrap', { private: ['unwrap'], public: ['wrap'] }],
    ['AES-256', 'encrypt', { secret: ['encrypt', 'decrypt'] }],
    ['AES-256', 'wrap', { secret: ['wrap', 'unwrap'] }],
  ])(
    'a %s %s key carries exactly its uses, and is neither copyable nor modifiable',
    async (algorithm, usage, expected) => {
      const keyId = await generate(algorithm, usage);
      expect(await run('test.read-attributes', { keyId })).toEqual(expected);
    },
  );

  it('shows an EC signing key’s public half as verify-only to an outside tool (pkcs11-tool -O)', async () => {
    const keyId = await generate('EC-P256', 'sign');
    const listed = pkcs11Tool('--list-objects', '--type', 'pubkey', '--id', keyId).toString('utf8');
    expect(listed).toMatch(/Usage:\s+verify\s*$/m);
    expect(listed).not.toMatch(/encrypt|wrap/);
  });

  it('refuses to decrypt with an RSA signing key what openssl encrypted to its public key', async () => {
    const keyId = await generate('RSA-3072', 'sign');
    const pem = join(dataDir, 'sign-key.pem');
    writeFileSync(pem, pkcs11Tool('--read-object', '--type', 'pubkey', '--id', keyId));
    execFileSync('openssl', ['pkey', '-pubin', '-inform', 'DER', '-in', pem, '-out', `${pem}.pem`]);
    writeFileSync(join(dataDir, 'secret.txt'), 'meet at the north gate');
    const ciphertext = execFileSync('openssl', [
      'pkeyutl',
      '-encrypt',
      '-pubin',
      '-inkey',
      `${pem}.pem`,
      '-pkeyopt',
      'rsa_padding_mode:pkcs1',
      '-in',
      join(dataDir, 'secret.txt'),
    ]);
    const attempt = (await run('test.decrypt', { keyId, ciphertext: ciphertext.toString('base64') })) as {
      refused?: string;
      plaintext?: string;
    };
    expect(attempt.plaintext).toBeUndefined();
    expect(attempt.refused).toMatch(/^CKR_KEY_FUNCTION_NOT_PERMITTED/);
  });

  it('refuses to register a key whose attributes differ from its usage, naming each difference', async () => {
    // A key made the way SoftHSM2's defaults make it (decrypt and encrypt on): what the read-back must catch.
    expect(await run('test.defaults-key', {})).toMatchObject({
      code: 'KEY_ATTRIBUTES_MISMATCH',
      // Left to its defaults the private key is also not sensitive: its value could be read in the clear.
      remedy: expect.arrayContaining([
        'private half: decrypt is true, not false',
        'public half: encrypt is true, not false',
        'private half: sensitive is false, not true',
        // Custody attributes: a session object vanishes at logout, and nothing made it trusted-only.
        'private half: token is false, not true',
        'private half: private is false, not true',
        'public half: token is false, not true',
        'private half: wrap-with-trusted is false, not true',
      ]),
    });
  });
});
