import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { expect, it } from 'vitest';
import type { CustodyView, ProposalView } from '../../../shared/quorum';
import type { KeyRecord } from '../../../shared/keys';
import { CustosCore } from '../custos-core';
import {
  call,
  core,
  KEY,
  MANUAL,
  proof,
  realAction,
  script,
  takeRealCustody,
  useRehearsalBed,
} from '../testing/rehearsal-bed';
import { packageOf } from '../testing/transport-package';

/**
 * Key transport while a rehearsal is open in the app: the requests go to the rehearsal process (a real child with its
 * own SoftHSM2 store), whose scratch installation is told it is a rehearsal's (custos-core.ts), and refuses them.
 */
useRehearsalBed(CustosCore.open);

it('a rehearsal process sends no key to a recipient and receives no package, not even one for a real key (fixed)', async () => {
  const custody = (await takeRealCustody()) as { id: string };
  const params = { algorithm: 'EC-P256', label: 'partner-wrap', usage: 'wrap', backupable: false };
  await realAction(custody.id, 'key.generate', { ...params, cryptoperiodDays: 365 });
  const wrapKey = (await call<KeyRecord[]>('keys.list'))[0]!;
  await realAction(custody.id, 'key.activate', { keyId: wrapKey.id });
  // A real sender's package, wrapped for the real installation's wrapping key.
  const pkg = packageOf(core.keys.publicKey(wrapKey.id)!, randomBytes(32), {
    algorithm: 'AES-256',
    usage: 'encrypt',
    publicKey: null,
    fingerprint: null,
    kcv: null,
  });
  const text = JSON.stringify(pkg);
  const sha256 = createHash('sha256').update(text).digest('hex');
  const recipientSpki = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({
    format: 'der',
    type: 'spki',
  });
  const recipient = createHash('sha256').update(recipientSpki).digest('hex');

  await call('rehearsals.start', { script: script(KEY + MANUAL) });
  await call('rehearsals.takeCustody', { holders: [proof('Ada'), proof('Babbage'), proof('Curie')] });
  const scratch = (await call<CustodyView[]>('custody.list'))[0]!;
  const propose = (action: string, p: Record<string, unknown>) =>
    core.router.dispatch('proposals.create', { custodyId: scratch.id, action, params: p, requester: proof('Ada') });
  const refused = { ok: false, error: { code: 'REHEARSAL_ACTIVE' } };
  // Before the fix (without custos-core.ts telling transport it is a rehearsal's) the export went on to look for the
  // key, and a package would say nothing of the rehearsal; the package was read there as one for another installation.
  expect(await propose('key.export-wrapped', { keyId: wrapKey.id, recipient })).toMatchObject(refused);
  expect(await core.router.dispatch('transport.receive', { text })).toMatchObject(refused);
  expect(await propose('key.import-wrapped', { package: sha256, cryptoperiodDays: 365 })).toMatchObject(refused);
  expect(await call<unknown[]>('transport.packages')).toEqual([]);
  expect(await call<ProposalView[]>('proposals.list')).toEqual([]);
  await call('rehearsals.end');

  // Nothing reached the real installation either: the package is received there once the rehearsal has ended.
  expect(await call<unknown[]>('transport.packages')).toEqual([]);
  expect(await call('transport.receive', { text })).toMatchObject({ sha256, direction: 'in', importedAs: null });
});
