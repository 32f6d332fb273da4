import { afterEach, beforeEach, expect, it } from 'vitest';
import { CustodianService } from '../custodians/custodian-service';
import { signState, stateDocument } from '../store/signed-state';
import { sql } from '../store/sql';
import { openAudit } from '../testing/audit-fixture';
import { tempDataDir } from '../testing/softhsm-fixture';
import { CustodyService } from './custody-service';

let cleanup: () => void;
let opened: ReturnType<typeof openAudit>;
let custody: CustodyService;

beforeEach(() => {
  let dataDir: string;
  ({ dataDir, cleanup } = tempDataDir());
  opened = openAudit(dataDir);
  const actor = { type: 'operator', id: 'test' } as const;
  const custodians = new CustodianService({
    store: opened.store,
    audit: opened.audit,
    actor,
    kdfCost: { N: 2 ** 14, r: 8, p: 1 },
  });
  custody = new CustodyService({
    store: opened.store,
    audit: opened.audit,
    custodians,
    actor,
    module: () => {
      throw new Error('no token needed');
    },
    clock: () => new Date(),
  });
});
afterEach(() => {
  opened.close();
  cleanup();
});

const actions = () => [...opened.audit.log().entries()].map((e) => (JSON.parse(e.entry) as { action: string }).action);

it('signs the custody records of an installation from before they were signed once, at the first start after the upgrade', () => {
  // As an older version left it: a custody row with no signature, and no setup entry in the log.
  opened.store
    .execute(sql`INSERT INTO custody (id, token_serial, token_label, threshold, holders, state, created_at, activated_at)
    VALUES ('00112233445566ff', 'S1', 'vault', 3, 4, 'active', '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:01.000Z')`);
  expect(() => custody.record('00112233445566ff')).toThrow(expect.objectContaining({ code: 'CUSTODY_TAMPERED' }));
  expect(custody.sealUnsignedOnce()).toBe(1);
  expect(custody.record('00112233445566ff')).toMatchObject({ threshold: 3, holders: 4, state: 'active' });
  expect(actions()).toContain('custody.state.seal');
  // Once is once: a signature stripped later (with a lower threshold) is never restored.
  opened.store.execute(sql`UPDATE custody SET state_sig = NULL, threshold = 2`);
  expect(custody.sealUnsignedOnce()).toBe(0);
  expect(() => custody.record('00112233445566ff')).toThrow(expect.objectContaining({ code: 'CUSTODY_TAMPERED' }));
});

it('keeps a record last signed before its share holders were signed with it', () => {
  const id = '00112233445566aa';
  opened.store
    .execute(sql`INSERT INTO custody (id, token_serial, token_label, threshold, holders, state, created_at, activated_at)
    VALUES (${id}, 'S1', 'vault', 2, 3, 'active', '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:01.000Z')`);
  // As the version before signed a custody record: these fields, no share holders.
  opened.store.transaction(() =>
    opened.audit.record(
      { actor: { type: 'system', id: 'system' }, action: 'custody.state.seal', object: { type: 'custody', id } },
      () => {
        const { seq, signature } = signState(opened.audit, (at) =>
          stateDocument(
            'custos/custody-state',
            {
              id,
              tokenSerial: 'S1',
              tokenLabel: 'vault',
              threshold: 2,
              holders: 3,
              state: 'active',
              createdAt: '2026-01-01T00:00:00.000Z',
              activatedAt: '2026-01-01T00:00:01.000Z',
            },
            at,
          ),
        );
        opened.store.execute(sql`UPDATE custody SET state_seq = ${seq}, state_sig = ${signature} WHERE id = ${id}`);
      },
    ),
  );
  expect(custody.record(id)).toMatchObject({ threshold: 2, holders: 3, state: 'active' });
  // The earlier document still binds what it signed.
  opened.store.execute(sql`UPDATE custody SET threshold = 3 WHERE id = ${id}`);
  expect(() => custody.record(id)).toThrow(expect.objectContaining({ code: 'CUSTODY_TAMPERED' }));
});
