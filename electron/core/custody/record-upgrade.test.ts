import { afterEach, beforeEach, expect, it } from 'vitest';
import { CustodianService } from '../custodians/custodian-service';
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
