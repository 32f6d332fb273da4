import { beforeAll, describe, expect, it, vi } from 'vitest';
import { channelNames, eventNames } from '../../shared/ipc-schema';

const electron = vi.hoisted(() => ({
  contextBridge: { exposeInMainWorld: vi.fn() },
  ipcRenderer: { invoke: vi.fn(async () => ({ ok: true, value: 'x' })), on: vi.fn(), removeListener: vi.fn() },
}));
vi.mock('electron', () => electron);

let exposed: Record<string, Record<string, unknown>>;
beforeAll(async () => {
  await import('./index');
  const [name, api] = electron.contextBridge.exposeInMainWorld.mock.calls[0] as unknown as [
    string,
    Record<string, Record<string, unknown>>,
  ];
  expect(name).toBe('custos');
  exposed = api;
});

describe('preload', () => {
  it('exposes one function per declared channel and event, and nothing else', () => {
    const calls = Object.entries(exposed)
      .filter(([domain]) => domain !== 'on')
      .flatMap(([domain, group]) => Object.entries(group).map(([call, fn]) => [`${domain}.${call}`, typeof fn]));
    expect(calls.map(([n]) => n).sort()).toEqual([...channelNames].sort());
    expect(calls.every(([, type]) => type === 'function')).toBe(true);
    const on = exposed.on as Record<string, Record<string, unknown>>;
    const events = Object.entries(on).flatMap(([domain, group]) => Object.keys(group).map((e) => `${domain}.${e}`));
    expect(events.sort()).toEqual([...eventNames].sort());
    expect(JSON.stringify(Object.keys(exposed))).not.toMatch(/ipc|send|invoke|electron/i);
    // Besides them, one switch: whether the screens show a rehearsal (it only ever makes main refuse more).
    expect(Object.keys(exposed).filter((k) => typeof exposed[k] === 'function')).toEqual(['expectRehearsal']);
  });

  it('invokes exactly the named channel with the input, and says whether the screens show a rehearsal', async () => {
    const status = exposed.tokens!.status as (i: unknown) => Promise<unknown>;
    await status({});
    expect(electron.ipcRenderer.invoke).toHaveBeenLastCalledWith('tokens.status', {}, { rehearsal: false });
    const expectRehearsal = exposed.expectRehearsal as unknown as (on: unknown) => void;
    expectRehearsal(true);
    await status({});
    expect(electron.ipcRenderer.invoke).toHaveBeenLastCalledWith('tokens.status', {}, { rehearsal: true });
    // Only true itself turns it on.
    expectRehearsal('yes');
    await status({});
    expect(electron.ipcRenderer.invoke).toHaveBeenLastCalledWith('tokens.status', {}, { rehearsal: false });
  });

  it('hands listeners the payload only, never the IPC event (which would expose sender)', () => {
    const listener = vi.fn();
    const unsubscribe = (
      (exposed.on as Record<string, Record<string, unknown>>).tokens!.changed as (l: unknown) => () => void
    )(listener);
    const [channel, handler] = electron.ipcRenderer.on.mock.calls[0] as unknown as [
      string,
      (event: unknown, payload: unknown) => void,
    ];
    expect(channel).toBe('tokens.changed');
    handler({ sender: 'the ipc event' }, { state: 'x' });
    expect(listener).toHaveBeenCalledWith({ state: 'x' });
    unsubscribe();
    expect(electron.ipcRenderer.removeListener).toHaveBeenCalledWith('tokens.changed', handler);
  });
});
