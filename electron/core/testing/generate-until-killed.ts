// Child process for the reconciliation test: a quorum generates a key and the process is killed
// after the token holds it and before the outcome is recorded.
import { randomBytes } from 'node:crypto';
import { keyGeneration } from '../keys/key-generation';
import { KeyInventory } from '../keys/key-inventory';
import { totpCodeAt } from '../custodians/totp';
import { quorumFixture } from './quorum-fixture';

const [dataDir, algorithm] = [process.argv[2]!, process.argv[3]!];

async function main(): Promise<void> {
  const f = await quorumFixture(dataDir, [{ name: 'Ada' }, { name: 'Babbage' }, { name: 'Curie' }]);
  const custody = await f.custody.take({
    token: { serial: '', label: '' },
    threshold: 2,
    holders: f.holders(0, 1, 2),
    label: 'crash',
  });
  const generate = keyGeneration(
    f.opened.store,
    () => f.clock.now,
    new KeyInventory(f.opened.store, f.opened.audit, () => f.clock.now),
  );
  const quorum = f.quorum({
    'key.generate': (context) => {
      generate(context);
      process.kill(process.pid, 'SIGKILL');
    },
  });
  const ckaId = randomBytes(16).toString('hex');
  const params = {
    algorithm,
    label: 'interrupted',
    usage: algorithm === 'AES-256' ? 'encrypt' : 'sign',
    backupable: false,
    cryptoperiodDays: 365,
    ckaId,
  };
  const proposal = quorum.propose({
    custodyId: custody.id,
    action: 'key.generate',
    params,
    requestedBy: f.enrolled[0]!.id,
  });
  // The custodians' factors too (test data only), so the parent can log in to the token after the crash.
  const custodians = f.enrolled.map(({ id, passphrase, secret }) => ({ id, passphrase, secret }));
  process.stdout.write(`${JSON.stringify({ proposalId: proposal.id, ckaId, custodyId: custody.id, custodians })}\n`);
  for (const who of [1, 2]) {
    f.tick();
    const c = f.enrolled[who]!;
    await quorum.approve({
      proposalId: proposal.id,
      custodianId: c.id,
      passphrase: c.passphrase,
      code: totpCodeAt(c.secret, f.clock.now),
      fingerprint: proposal.fingerprint,
    });
  }
  process.stdout.write('not killed\n');
}
void main();
