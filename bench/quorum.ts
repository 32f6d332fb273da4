/**
 * Quorum unlock benchmark (a script, not a test): approving and opening a token with t = 3,
 * split into KDF time (scrypt, the deliberate cost), HSM time (login and logout in the token),
 * and Custos's own overhead (target < 50 ms).
 *
 *   npm run bench:quorum -- [--rounds 5]
 */
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { CustodianService } from '../electron/core/custodians/custodian-service';
import { enrolPeople } from '../electron/core/testing/enrolment';
import { DEFAULT_KDF, deriveKey, KdfParams, newKdfParams } from '../electron/core/custodians/sealing';
import { totpCodeAt } from '../electron/core/custodians/totp';
import { CustodyService } from '../electron/core/custody/custody-service';
import { prepareEmbeddedSoftHsm } from '../electron/core/hsm/softhsm';
import { QuorumService } from '../electron/core/quorum/quorum-service';
import { sql } from '../electron/core/store/sql';
import { openAudit } from '../electron/core/testing/audit-fixture';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '5' } } });
const ROUNDS = Number(values.rounds);
const ms = (start: number) => performance.now() - start;

async function main(): Promise<void> {
  const dataDir = join(tmpdir(), `custos-bench-quorum-${process.pid}`);
  const opened = openAudit(dataDir);
  try {
    const module = opened.host.acquire(prepareEmbeddedSoftHsm(dataDir).modulePath, 'embedded-softhsm');
    const clock = { now: new Date() };
    const actor = { type: 'operator', id: 'bench' } as const;
    // Custodians at a tiny scrypt cost, so the unlock's own overhead is not lost in the KDF's
    // run-to-run noise; the KDF at the production cost is measured on its own below.
    const custodians = new CustodianService({
      store: opened.store,
      audit: opened.audit,
      actor,
      kdfCost: { N: 1024, r: 8, p: 1 },
      clock: () => clock.now,
    });
    const custody = new CustodyService({
      store: opened.store,
      audit: opened.audit,
      custodians,
      actor,
      module: () => module,
      clock: () => new Date(),
    });
    const { people } = await enrolPeople(
      custodians,
      clock,
      [0, 1, 2, 3].map((i) => ({ name: `Holder ${i}`, passphrase: `bench amber river lantern ${i} quietly` })),
    );
    const tick = () => (clock.now = new Date(clock.now.getTime() + 30_000));
    const proof = (i: number) => ({
      custodianId: people[i]!.id,
      passphrase: people[i]!.passphrase,
      code: totpCodeAt(people[i]!.secret, clock.now),
    });
    tick();
    const record = await custody.take({
      token: { serial: '', label: '' },
      threshold: 3,
      holders: [0, 1, 2, 3].map(proof),
      label: 'bench',
    });
    let loginMs = 0;
    const quorum = new QuorumService({
      store: opened.store,
      audit: opened.audit,
      custodians,
      custody,
      module: () => module,
      clock: () => clock.now,
      operations: { 'bench.open': () => ({ opened: true }) },
    });

    // KDF alone: one scrypt derivation per approval, at the bench custodians' cost and at production cost.
    const kdf = KdfParams.parse(
      JSON.parse(opened.store.get<{ kdf: string }>(sql`SELECT kdf FROM custodians LIMIT 1`)!.kdf),
    );
    let start = performance.now();
    for (let i = 0; i < ROUNDS * 10; i++) (await deriveKey(Buffer.from(people[0]!.passphrase), kdf)).fill(0);
    const kdfMs = ms(start) / (ROUNDS * 10);
    const production = newKdfParams(DEFAULT_KDF);
    start = performance.now();
    for (let i = 0; i < ROUNDS; i++) (await deriveKey(Buffer.from(people[0]!.passphrase), production)).fill(0);
    const productionKdfMs = ms(start) / ROUNDS;

    // HSM alone: open a session, log in with the real PIN, log out, close.
    const unsealKeys = [];
    for (const i of [1, 2, 3]) {
      tick();
      const p = proof(i);
      unsealKeys.push({
        custodianId: p.custodianId,
        key: await custodians.verifyFactors(p.custodianId, p.passphrase, p.code, 'bench'),
      });
    }
    const pin = await custody.rebuildPin(record.id, 'user', unsealKeys);
    start = performance.now();
    for (let i = 0; i < ROUNDS * 10; i++)
      module.withSession(record.token, { login: { user: 'user', pin: pin.toString('latin1') } }, () => null);
    loginMs = ms(start) / (ROUNDS * 10);
    pin.fill(0);

    // The whole unlock: propose, three approvals (each a KDF), rebuild, login, run, logout, wipe.
    let totalMs = 0;
    for (let round = 0; round < ROUNDS; round++) {
      tick();
      const proposal = quorum.propose({
        custodyId: record.id,
        action: 'bench.open',
        params: { round },
        requestedBy: people[0]!.id,
      });
      start = performance.now();
      for (const i of [1, 2, 3]) {
        const p = proof(i);
        await quorum.approve({ proposalId: proposal.id, fingerprint: proposal.shortFingerprint, ...p });
      }
      totalMs += ms(start);
      if (quorum.view(proposal.id).state !== 'executed') throw new Error('the quorum did not execute');
    }
    totalMs /= ROUNDS;
    const overhead = totalMs - 3 * kdfMs - loginMs;
    console.log(`Custos quorum benchmark — ${new Date().toISOString()}, t = 3, ${ROUNDS} rounds\n`);
    console.log(
      `${`KDF at production cost (scrypt N=${production.N}), per approval`.padEnd(52)} ${productionKdfMs.toFixed(1)} ms  (× 3 = ${(3 * productionKdfMs).toFixed(1)} ms)`,
    );
    console.log(`${`KDF in this run (scrypt N=${kdf.N}), per approval`.padEnd(52)} ${kdfMs.toFixed(2)} ms`);
    console.log(`${'HSM (session, login, logout), per unlock'.padEnd(52)} ${loginMs.toFixed(1)} ms`);
    console.log(`${'Whole unlock with three approvals (this run)'.padEnd(52)} ${totalMs.toFixed(1)} ms`);
    console.log(
      `${'  so at production cost, about'.padEnd(52)} ${(totalMs - 3 * kdfMs + 3 * productionKdfMs).toFixed(0)} ms`,
    );
    console.log(`${'Custos overhead (whole − KDF × 3 − HSM), target < 50 ms'.padEnd(52)} ${overhead.toFixed(1)} ms`);
    quorum.forgetAll();
    opened.host.release(module);
  } finally {
    opened.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
