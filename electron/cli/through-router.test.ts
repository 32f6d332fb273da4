import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { tempDataDir } from '../core/testing/softhsm-fixture';
import { EXIT } from './cli';
import { runCustos } from './testing/run-cli';

/**
 * What the CLI may still read from the core's services directly: translating names into ids before a request is
 * made, the selected token as a default, and the installation's name for a report check. Everything it asks the
 * core to do goes through the router, as the app's requests do.
 */
const DIRECT_READS = new Set([
  'custodians.get',
  'custodians.list',
  'keys.list',
  'custody.list',
  'tokens.selected',
  'audit.origin',
  // `custos report verify` works without a data directory; with one, it records the check it made.
  'audit.tryRecord',
]);

describe('the CLI goes through the router', () => {
  it('touches no service of the core except the name lookups above', () => {
    const sources = readdirSync(__dirname).filter((name) => name.endsWith('.ts') && !name.endsWith('.test.ts'));
    const reached = new Set<string>();
    for (const name of sources) {
      const text = readFileSync(join(__dirname, name), 'utf8');
      for (const [, service, member] of text.matchAll(/\bcore\.([a-zA-Z]+)\.([a-zA-Z]+)/g)) {
        if (service !== 'router' && service !== 'events') reached.add(`${service}.${member}`);
      }
      // Methods of the core itself that act (verify, export, repair…) are reached only as requests.
      const calls = [...text.matchAll(/\bcore\.([a-zA-Z]+)\(/g)].map(([, method]) => method);
      expect(
        calls.filter((method) => method !== 'close'),
        name,
      ).toEqual([]);
    }
    expect([...reached].filter((use) => !DIRECT_READS.has(use))).toEqual([]);
  });
});

describe('a CLI request is validated and recorded as the app’s is', () => {
  let dataDir: string;
  let cleanup: () => void;
  beforeEach(() => ({ dataDir, cleanup } = tempDataDir()));
  afterEach(() => cleanup());

  const custos = (...args: string[]) => runCustos(dataDir, args);

  it('refuses an export in an unknown format by its schema, writes nothing, and records the refusal', async () => {
    const out = join(dataDir, 'export.xml');
    const refused = await custos('audit', 'export', '--out', out, '--format', 'xml', '--json');
    expect(refused.code).toBe(EXIT.invalidInput);
    expect(JSON.parse(refused.stdout)).toMatchObject({ ok: false, error: { code: 'IPC_INVALID_PAYLOAD' } });
    expect(readdirSync(dataDir)).not.toContain('export.xml');
    const csv = join(dataDir, 'log.csv');
    expect((await custos('audit', 'export', '--out', csv, '--format', 'csv')).code).toBe(EXIT.ok);
    const rows = readFileSync(csv, 'utf8').split('\n');
    expect(rows.some((row) => row.includes('"audit.export"') && row.includes('IPC_INVALID_PAYLOAD'))).toBe(true);
  });

  it('refuses a proof of a malformed entry number by its schema, never with a crash', async () => {
    await custos('status');
    const refused = await custos('audit', 'proof', '--seq', 'one', '--json');
    expect(refused.code).toBe(EXIT.invalidInput);
    expect(JSON.parse(refused.stdout)).toMatchObject({ ok: false, error: { code: 'IPC_INVALID_PAYLOAD' } });
  });
});
