import { combine } from 'shamir-secret-sharing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { totpCodeAt } from '../custodians/totp';
import { KeyInventory } from '../keys/key-inventory';
import { keyOperations } from '../keys/key-operations';
import { ACTION_PARAMS } from '../../../shared/actions';
import type { QuorumService } from '../quorum/quorum-service';
import { quorumFixture } from '../testing/quorum-fixture';
import { tempDataDir } from '../testing/softhsm-fixture';
import { unsealShare, type CustodyRecord } from './custody-service';
import { turnover } from './turnover';

/**
 * The SO PIN is split like the user PIN, with the custody's own threshold (custody.ts deals both
 * with the same t: an SO PIN threshold cannot differ from the custody's). What t−1 holders can
 * rebuild of it, the real token refuses as SO; what t rebuild, it accepts.
 */
let cleanup: () => void;
let f: Awaited<ReturnType<typeof quorumFixture>>;
let quorum: QuorumService;
const [ADA, BABBAGE, CURIE, DANA] = [0, 1, 2, 3];

beforeEach(async () => {
  let dataDir: string;
  ({ dataDir, cleanup } = tempDataDir());
  f = await quorumFixture(dataDir, [{ name: 'Ada' }, { name: 'Babbage' }, { name: 'Curie' }, { name: 'Dana' }]);
  const now = () => f.clock.now;
  quorum = f.quorum(
    keyOperations(f.opened.store, now, new KeyInventory(f.opened.store, f.opened.audit, now)),
    { 'custody.redeal': turnover(f.custody) },
    ACTION_PARAMS,
  );
});
afterEach(() => {
  quorum.forgetAll();
  f.close();
  cleanup();
});

/** What a group of holders can put together of the SO PIN on their own: their unsealed shares, combined. */
async function soPinFrom(custody: CustodyRecord, who: number[]): Promise<string> {
  const shares = [];
  for (const h of f.holders(...who)) {
    const key = await f.custodians.verifyFactors(h.custodianId, h.passphrase, h.code, 'test');
    try {
      shares.push(Uint8Array.from(unsealShare(f.opened.store, custody.id, h.custodianId, 'so', key)));
    } finally {
      key.fill(0);
    }
  }
  return Buffer.from(await combine(shares)).toString('latin1');
}
/** C_Login as CKU_SO on the real token. */
const soLogin = (custody: CustodyRecord, pin: string) => {
  try {
    return f.module.withSession(custody.token, { write: true, login: { user: 'so', pin } }, () => 'logged in as SO');
  } catch (error) {
    return (error as { code: string }).code;
  }
};

describe('the SO PIN split', () => {
  it('is dealt with the custody’s threshold: in a 3-of-3 custody two holders cannot log in as SO, three can', async () => {
    const custody = await f.custody.take({
      token: { serial: '', label: '' },
      threshold: 3,
      holders: f.holders(ADA, BABBAGE, CURIE),
      label: 'so-split',
    });
    for (const pair of [
      [ADA, BABBAGE],
      [ADA, CURIE],
      [BABBAGE, CURIE],
    ])
      expect(soLogin(custody, await soPinFrom(custody, pair))).toBe('PIN_INCORRECT');
    expect(soLogin(custody, await soPinFrom(custody, [ADA, BABBAGE, CURIE]))).toBe('logged in as SO');
  });

  it('holds in a 3-of-4 custody: any three log in as SO, no two do', async () => {
    const custody = await f.custody.take({
      token: { serial: '', label: '' },
      threshold: 3,
      holders: f.holders(ADA, BABBAGE, CURIE, DANA),
      label: 'so-split',
    });
    expect(soLogin(custody, await soPinFrom(custody, [BABBAGE, DANA]))).toBe('PIN_INCORRECT');
    expect(soLogin(custody, await soPinFrom(custody, [ADA, CURIE, DANA]))).toBe('logged in as SO');
  });

  it('holds after turnover: re-dealt 3-of-3, two new shares are refused as SO, three accepted, and old shares are worthless', async () => {
    const before = await f.custody.take({
      token: { serial: '', label: '' },
      threshold: 2,
      holders: f.holders(ADA, BABBAGE, CURIE),
      label: 'so-split',
    });
    const oldSoPin = await soPinFrom(before, [ADA, BABBAGE]);
    const proposal = quorum.propose({
      custodyId: before.id,
      action: 'custody.redeal',
      params: { threshold: 3, holders: [BABBAGE, CURIE, DANA].map((i) => f.enrolled[i]!.id) },
      requestedBy: f.enrolled[ADA]!.id,
    });
    let view = proposal;
    for (const who of [BABBAGE, CURIE, DANA]) {
      f.tick();
      const c = f.enrolled[who]!;
      view = await quorum.approve({
        proposalId: proposal.id,
        custodianId: c.id,
        passphrase: c.passphrase,
        code: totpCodeAt(c.secret, f.clock.now),
        fingerprint: proposal.shortFingerprint,
      });
    }
    expect(view).toMatchObject({ state: 'executed', outcome: { status: 'ok' } });
    const after = f.custody.list().find((c) => c.state === 'active')!;
    const current = f.custody.record(after.id);
    expect(current.threshold).toBe(3);
    expect(soLogin(current, await soPinFrom(current, [CURIE, DANA]))).toBe('PIN_INCORRECT');
    expect(soLogin(current, oldSoPin)).toBe('PIN_INCORRECT');
    expect(soLogin(current, await soPinFrom(current, [BABBAGE, CURIE, DANA]))).toBe('logged in as SO');
  });
});
