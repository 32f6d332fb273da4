import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { totpCodeAt } from '../core/custodians/totp';
import { factorArgs, secretFd } from '../core/testing/cli-factors';
import { quorumFixture } from '../core/testing/quorum-fixture';
import { tempDataDir } from '../core/testing/softhsm-fixture';
import { EXIT, runCli } from './cli';

let cleanups: (() => void)[] = [];
beforeEach(() => (cleanups = []));
afterEach(() => cleanups.forEach((cleanup) => cleanup()));

/**
 * One installation driven through the CLI only: its own data directory (audit token, database),
 * three custodians enrolled there (Ada, Babbage, Curie), and the commands a ceremony terminal runs.
 */
async function installation() {
  const { dataDir, cleanup } = tempDataDir('custos-drill-');
  cleanups.push(cleanup);
  // Where the terminal writes the share cards: never inside the data directory, beside the wrapped keys.
  const cards = tempDataDir('custos-cards-');
  cleanups.push(cards.cleanup);
  const seeded = await quorumFixture(dataDir, [{ name: 'Ada' }, { name: 'Babbage' }, { name: 'Curie' }]);
  seeded.close();
  const { clock, enrolled } = seeded;
  const fd = (text: string) => secretFd(dataDir, text);
  const factors = (...who: number[]) => factorArgs(dataDir, clock, enrolled, who);
  const id = (i: number) => enrolled[i]!.id;
  const cli = async (...args: string[]) => {
    let stdout = '';
    let stderr = '';
    const code = await runCli(
      ['--data-dir', dataDir, ...args],
      { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t), env: {}, clock: () => clock.now },
      'test',
    );
    return { code, stdout, stderr, value: <T>() => (JSON.parse(stdout) as { value: T }).value };
  };
  const approvers = () => ['--as', id(1), '--as', id(2), ...factors(1, 2)];
  return {
    /** Each holder's factors for receiving their card, a TOTP step after the approvers' (which move the clock). */
    cardHolders: () =>
      [0, 1, 2].flatMap((i) => [
        '--passphrase-fd',
        fd(enrolled[i]!.passphrase),
        '--code',
        totpCodeAt(enrolled[i]!.secret, new Date(clock.now.getTime() + 90_000)),
      ]),
    dataDir,
    cardsDir: cards.dataDir,
    clock,
    enrolled,
    cli,
    fd,
    factors,
    id,
    async takeCustody(label: string) {
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
      expect(take, take.stderr).toMatchObject({ code: EXIT.ok });
      return /Custody id: ([0-9a-f]{16})/.exec(take.stdout)![1]!;
    },
    /**
     * Proposed by Ada, approved by Babbage and Curie in one command (plus any extra arguments); returns the proposal's
     * view.
     */
    async decide(custodyId: string, action: string, params: string[], extra: string[] = []) {
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
      expect(proposed, proposed.stderr).toMatchObject({ code: EXIT.ok });
      const { id: proposalId, shortFingerprint } = proposed.value<{ id: string; shortFingerprint: string }>();
      const done = await cli(
        'proposal',
        'approve',
        '--json',
        '--id',
        proposalId,
        '--fingerprint',
        shortFingerprint,
        ...approvers(),
        ...extra,
      );
      expect(done, done.stderr).toMatchObject({ code: EXIT.ok });
      return done.value<{ state: string; outcome: { result: Record<string, unknown> } }>();
    },
  };
}

type KeyRow = { id: string; label: string; algorithm: string; kcv: string | null; token: { label: string } };

it('the lost-workstation drill: a backup made on installation 1 is restored on a new installation 2 with 2 of 3 cards, every key proven', async () => {
  // Installation 1: custody, three keys, a 2-of-3 backup with each holder's card written out.
  const one = await installation();
  const vault = await one.takeCustody('vault');
  const generate = (algorithm: string, label: string, usage: string) =>
    one.decide(vault, 'key.generate', [
      `algorithm=${algorithm}`,
      `label=${label}`,
      `usage=${usage}`,
      'backupable=true',
      'cryptoperiodDays=365',
    ]);
  await generate('EC-P256', 'payments', 'sign');
  await generate('RSA-3072', 'code-signing', 'sign');
  await generate('AES-256', 'vault-aes', 'encrypt');
  const keysOne = (await one.cli('key', 'list', '--json')).value<KeyRow[]>();
  const ids = keysOne.map((k) => k.id);
  const cardsDir = one.cardsDir;
  const holders = one.cardHolders();
  const backup = await one.decide(
    vault,
    'key.backup',
    [`keyIds=${ids.join(',')}`, `holders=${one.id(0)},${one.id(1)},${one.id(2)}`, 'threshold=2'],
    [...holders, '--cards-dir', cardsDir],
  );
  expect(backup.state).toBe('executed');
  one.clock.now = new Date(one.clock.now.getTime() + 30_000);
  const setId = backup.outcome.result.setId as string;
  const card = (n: number) => {
    const folder = join(
      cardsDir,
      readdirSync(cardsDir).find((f) => f.startsWith(`card-${n}-`))!,
    );
    return readFileSync(
      join(
        folder,
        readdirSync(folder).find((f) => f.endsWith('.txt'))!,
      ),
      'utf8',
    ).split('\n')[2]!;
  };
  const cards = [card(1), card(3)];
  // What leaves the building: the backup file (its printout names the audit key that made it), the public keys as PEM.
  const file = join(one.dataDir, 'set.json');
  const exported = await one.cli('backup', 'export', '--set', setId, '--out', file);
  const printedKey = /Made by audit key ([0-9a-f]{64})/.exec(exported.stdout)![1]!;
  const pems = new Map<string, string>();
  for (const key of keysOne.filter((k) => k.algorithm !== 'AES-256')) {
    const pem = join(one.dataDir, `${key.label}.pem`);
    writeFileSync(pem, (await one.cli('key', 'export', '--id', key.id)).stdout);
    pems.set(key.id, pem);
  }
  const auditPem = join(one.dataDir, 'audit-1.pem');
  writeFileSync(auditPem, (await one.cli('audit', 'key')).stdout);
  // The printed fingerprint is what openssl computes from installation 1's audit key.
  const der = execFileSync('openssl', ['pkey', '-pubin', '-in', auditPem, '-outform', 'DER']);
  expect(createHash('sha256').update(der).digest('hex')).toBe(printedKey);

  // Installation 1 is lost. Installation 2 starts from nothing: new data directory, audit token, custodians, custody
  // token.
  const two = await installation();
  expect(two.dataDir).not.toBe(one.dataDir);
  const target = await two.takeCustody('new-vault');
  const copied = join(two.dataDir, 'set.json');
  writeFileSync(copied, readFileSync(file));
  const imported = await two.cli('backup', 'import', '--file', copied, '--expect-audit-key', printedKey);
  expect(imported).toMatchObject({ code: EXIT.ok, stdout: expect.stringContaining(`made by custos.local/audit/`) });
  expect(imported.stdout).toContain('Signed by the audit key you entered.');
  expect((await two.cli('backup', 'list')).stdout).toContain(`made by audit key ${printedKey.slice(0, 16)}…`);

  const restore = await two.decide(
    target,
    'key.restore',
    [`setId=${setId}`],
    cards.flatMap((c) => ['--card-fd', two.fd(c)]),
  );
  expect(restore).toMatchObject({
    state: 'executed',
    outcome: { result: { authentication: 'kek-mac-verified', madeBy: { auditKey: printedKey, here: false } } },
  });

  // Every key proven on installation 2.
  const keysTwo = (await two.cli('key', 'list', '--json')).value<KeyRow[]>();
  expect(keysTwo.map((k) => [k.id, k.label, k.token.label]).sort()).toEqual(
    keysOne.map((k) => [k.id, k.label, 'new-vault']).sort(),
  );
  // AES: the check value measured in installation 2's token during the restore is installation 1's.
  const aes = keysOne.find((k) => k.algorithm === 'AES-256')!;
  const measured = (restore.outcome.result.keys as { keyId: string; kcv: string | null }[]).find(
    (k) => k.keyId === aes.id,
  )!.kcv;
  expect(measured).toMatch(/^[0-9A-F]{6}$/);
  expect(measured).toBe(aes.kcv);
  for (const [keyId, pem] of pems) {
    // The public key is the one exported on installation 1…
    expect((await two.cli('key', 'export', '--id', keyId)).stdout).toBe(readFileSync(pem, 'utf8'));
    // …and a signature made on installation 2 verifies with openssl against installation 1's PEM.
    await two.decide(target, 'key.activate', [`keyId=${keyId}`]);
    const challenge = `lost-workstation drill ${keyId}`;
    const signed = await two.decide(target, 'key.test-signature', [`keyId=${keyId}`, `challenge=${challenge}`]);
    const msg = join(two.dataDir, 'msg');
    const sig = join(two.dataDir, 'sig');
    writeFileSync(msg, challenge);
    writeFileSync(sig, Buffer.from(signed.outcome.result.signature as string, 'base64'));
    expect(
      execFileSync('openssl', ['dgst', '-sha256', '-verify', pem, '-signature', sig, msg], { encoding: 'utf8' }),
    ).toContain('Verified OK');
  }
  // The audit log of installation 2 says who made the backup and how it was authenticated.
  const trail = join(two.dataDir, 'trail.csv');
  await two.cli('audit', 'export', '--out', trail, '--format', 'csv');
  const csv = readFileSync(trail, 'utf8');
  expect(csv).toContain(`${setId} made-by ${printedKey} via pinned-audit-key`);
  expect(csv).toContain(`${setId} made-by ${printedKey} via kek-mac-verified`);
}, 300_000);

it('a destruction names the backup set still holding the key; the quorum retires it, holders confirm their cards, all through the CLI', async () => {
  const one = await installation();
  const vault = await one.takeCustody('vault');
  await one.decide(vault, 'key.generate', [
    'algorithm=AES-256',
    'label=vault-aes',
    'usage=encrypt',
    'backupable=true',
    'cryptoperiodDays=365',
  ]);
  const [key] = (await one.cli('key', 'list', '--json')).value<KeyRow[]>();
  const holders = one.cardHolders();
  const backup = await one.decide(
    vault,
    'key.backup',
    [`keyIds=${key!.id}`, `holders=${one.id(0)},${one.id(1)},${one.id(2)}`, 'threshold=2'],
    [...holders, '--cards-dir', one.cardsDir],
  );
  one.clock.now = new Date(one.clock.now.getTime() + 30_000);
  const setId = backup.outcome.result.setId as string;

  // The approvers of the destruction read which backup set still holds the key, with its holders by name.
  const scheduled = await one.decide(vault, 'key.schedule-destruction', [`keyId=${key!.id}`, 'waitDays=7']);
  const shown = await one.cli('proposal', 'show', '--id', (scheduled as unknown as { id: string }).id);
  expect(shown.stdout).toContain(
    `Also held by backup set ${setId.slice(0, 8)} (2-of-3, cards with Ada, Babbage, Curie): retire that set (backup.retire)`,
  );
  const finding = async () => (await one.cli('compliance')).stdout;
  expect(await finding()).toContain(
    `“vault-aes” is scheduled for destruction, but backup set ${setId.slice(0, 8)} still holds a copy`,
  );

  const retired = await one.decide(vault, 'backup.retire', [`setId=${setId}`, 'reason=its key is being destroyed']);
  expect(retired.state).toBe('executed');
  expect(await finding()).not.toContain('still holds a copy');
  const restore = await one.cli(
    'proposal',
    'create',
    '--custody',
    vault,
    '--action',
    'key.restore',
    '--param',
    `setId=${setId}`,
    '--as',
    one.id(0),
    ...one.factors(0),
  );
  expect(restore.code).not.toBe(EXIT.ok);
  expect(restore.stderr).toContain('BACKUP_RETIRED');

  const confirmed = await one.cli('backup', 'card-destroyed', '--set', setId, '--as', 'Babbage', ...one.factors(1));
  expect(confirmed, confirmed.stderr).toMatchObject({ code: EXIT.ok });
  const list = (await one.cli('backup', 'list')).stdout;
  expect(list).toMatch(
    /RETIRED \d{4}-\d\d-\d\d \(its key is being destroyed\); cannot be restored\. Cards: 1 Ada NOT YET CONFIRMED destroyed, 2 Babbage destroyed \d{4}-\d\d-\d\d, 3 Curie NOT YET CONFIRMED destroyed/,
  );
}, 300_000);
