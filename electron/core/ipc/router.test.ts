import { describe, expect, it } from 'vitest';
import type { ModuleStatus } from '../../../shared/tokens';
import { CustosError } from '../errors';
import { silentLog } from '../log';
import { Router, type Diversion, type Handlers } from './router';

const ready: ModuleStatus = {
  state: 'ready',
  module: {
    path: '/lib.so',
    kind: 'configured',
    libraryDescription: 'x',
    manufacturer: 'y',
    libraryVersion: '1.0',
    cryptokiVersion: '2.40',
    softwareToken: false,
    software: null,
    notice: null,
  },
  slots: [],
};
function router(overrides: Partial<Handlers> = {}) {
  const calls: string[] = [];
  // Only the channels these tests call; the router never reaches the others.
  const base: Partial<Handlers> = {
    'app.snapshot': () => ({
      version: '1',
      dataDir: '/d',
      production: true,
      tokens: ready,
      selectedToken: null,
      audit: { state: 'unavailable', code: 'AUDIT_UNAVAILABLE', message: 'm', remedy: [] },
    }),
    'tokens.status': () => ready,
    'tokens.mechanisms': (ref) => ({ token: ref, mechanisms: [] }),
    'tokens.select': (ref) => {
      calls.push(`select ${ref.serial}`);
      return ref;
    },
    'settings.setModule': () => ready,
    'audit.status': () => ({ state: 'unavailable', code: 'AUDIT_UNAVAILABLE', message: 'm', remedy: [] }),
    'audit.checkpoint': () => ({ treeSize: 0, reason: 'r', createdAt: 'now', note: 'n' }),
    'audit.page': () => ({ total: 0, offset: 0, rows: [] }),
    'audit.entry': () => {
      throw new CustosError('AUDIT_NOT_FOUND', 'none');
    },
    'audit.verify': () => ({
      ok: true,
      trustedKey: 'k',
      keySource: 'token',
      anchored: true,
      entries: 0,
      checkpoints: 0,
      treeSize: 0,
      root: '',
      first: null,
      problems: [],
    }),
  };
  return { router: new Router({ ...base, ...overrides } as Handlers, silentLog), calls };
}

describe('Router', () => {
  it('refuses a channel that is not in the schema', async () => {
    expect(await router().router.dispatch('tokens.delete-everything', {})).toMatchObject({
      ok: false,
      error: { code: 'IPC_UNKNOWN_CHANNEL' },
    });
    expect(await router().router.dispatch({ toString: () => 'app.snapshot' }, {})).toMatchObject({
      ok: false,
      error: { code: 'IPC_UNKNOWN_CHANNEL' },
    });
  });

  it.each([
    ['a missing field', { serial: 'abc' }],
    ['a wrong type', { serial: 42, label: 'x' }],
    ['an undeclared field', { serial: 'abc', label: 'x', slot: 0 }],
    ['no object at all', 'abc'],
    ['an oversized value', { serial: 'a'.repeat(33), label: 'x' }],
  ])('refuses %s with IPC_INVALID_PAYLOAD before any handler runs', async (_what, payload) => {
    const { router: r, calls } = router();
    expect(await r.dispatch('tokens.select', payload)).toMatchObject({
      ok: false,
      error: { code: 'IPC_INVALID_PAYLOAD' },
    });
    expect(calls).toEqual([]);
  });

  it('never echoes the rejected value, which might be a secret typed into the wrong field', async () => {
    const result = await router().router.dispatch('tokens.select', {
      serial: 'correct-horse-battery-staple-XXXXXXXX',
      label: 1,
    });
    expect(JSON.stringify(result)).not.toContain('correct-horse');
  });

  it('keeps the refusal short when the input is huge: a long key, many unknown fields, a 5 MB value', async () => {
    const huge = 'k'.repeat(5_000_000);
    const unknownFields = Object.fromEntries(
      Array.from({ length: 200 }, (_, i) => [`${i}${huge.slice(0, 10_000)}`, 1]),
    );
    const payloads: [string, unknown][] = [
      ['tokens.select', { serial: '1', label: huge }],
      ['tokens.select', { serial: '1', label: 'l', ...unknownFields }],
      [
        'proposals.create',
        {
          custodyId: 'a'.repeat(16),
          action: 'key.generate',
          params: { [huge]: 'x' },
          requester: { custodianId: 'b'.repeat(16), passphrase: 'p', code: '123456' },
        },
      ],
    ];
    for (const [name, payload] of payloads) {
      const result = await router().router.dispatch(name, payload);
      expect(result).toMatchObject({ ok: false, error: { code: 'IPC_INVALID_PAYLOAD' } });
      expect(JSON.stringify(result).length, name).toBeLessThan(2_000);
    }
  });

  it('reports a null or missing payload to the audit observer like any other refusal', async () => {
    const seen: string[] = [];
    const r = new Router(
      {} as Handlers,
      silentLog,
      (report) => void seen.push(`${report.channel} ${report.outcome} ${report.code}`),
    );
    await r.dispatch('tokens.select', null);
    await r.dispatch('audit.entry', undefined);
    expect(seen).toEqual(['tokens.select refused IPC_INVALID_PAYLOAD', 'audit.entry refused IPC_INVALID_PAYLOAD']);
  });

  /** A router whose tokens.select is counted, its dispatches observed as the audit log sees them. */
  function observed(diversion: Diversion | null = null) {
    const seen: string[] = [];
    const calls: string[] = [];
    const handlers: Partial<Handlers> = {
      'tokens.select': (ref) => {
        calls.push(`select ${ref.serial}`);
        return ref;
      },
    };
    const report = (r: { channel: string | null; outcome: string; code: string | null }) =>
      void seen.push(`${r.channel} ${r.outcome} ${r.code}`);
    return { r: new Router(handlers as Handlers, silentLog, report, diversion), seen, calls };
  }
  const ref = { serial: 'abc', label: 'x' };

  it('while only a diversion may answer, refuses here what it does not take (a stopped rehearsal), recorded', async () => {
    const { r, seen, calls } = observed({
      applies: () => false,
      forward: () => Promise.reject(new Error('not forwarded')),
    });
    r.onlyWhileDiverted(true);
    expect(await r.dispatch('tokens.select', ref)).toMatchObject({ ok: false, error: { code: 'REHEARSAL_STOPPED' } });
    expect(calls).toEqual([]);
    expect(seen).toEqual(['tokens.select failed REHEARSAL_STOPPED']);
    r.onlyWhileDiverted(false);
    expect(await r.dispatch('tokens.select', ref)).toMatchObject({ ok: true });
    expect(calls).toEqual(['select abc']);
  });

  it('refuses, recorded, a request the app’s screens meant for a rehearsal that is not open; any other intent is inert', async () => {
    const { r, seen, calls } = observed();
    expect(await r.dispatch('tokens.select', ref, { rehearsal: true })).toMatchObject({
      ok: false,
      error: { code: 'REHEARSAL_STOPPED' },
    });
    expect(seen).toEqual(['tokens.select failed REHEARSAL_STOPPED']);
    for (const intent of [undefined, null, 'rehearsal', { rehearsal: 'true' }, { rehearsal: false }, [true]])
      expect(await r.dispatch('tokens.select', ref, intent)).toMatchObject({ ok: true });
    expect(calls).toHaveLength(6);
  });

  it('strips fields the schema does not declare from results', async () => {
    const leaky = router({ 'tokens.select': (ref) => ({ ...ref, pin: '123456' }) as typeof ref });
    const result = await leaky.router.dispatch('tokens.select', { serial: 's1', label: 'l' });
    expect(result).toEqual({ ok: true, value: { serial: 's1', label: 'l' } });
  });

  it('returns a CustosError as its stable code, message and remedy', async () => {
    const failing = router({
      'tokens.status': () => {
        throw new CustosError('TOKEN_REMOVED', 'The token was removed.', ['Re-attach it.']);
      },
    });
    expect(await failing.router.dispatch('tokens.status', {})).toEqual({
      ok: false,
      error: { code: 'TOKEN_REMOVED', message: 'The token was removed.', remedy: ['Re-attach it.'] },
    });
  });

  it('hides the details of an unexpected error behind INTERNAL', async () => {
    const failing = router({
      'tokens.status': () => {
        throw new Error('stack detail with /secret/path');
      },
    });
    const result = await failing.router.dispatch('tokens.status', {});
    expect(result).toMatchObject({ ok: false, error: { code: 'INTERNAL' } });
    expect(JSON.stringify(result)).not.toContain('/secret/path');
  });
});
