import type { Page } from 'playwright';
import { channelNames, eventNames } from '../../shared/ipc-schema';
import type { EventHub } from '../../electron/core/events/event-hub';
import type { Router } from '../../electron/core/ipc/router';

/**
 * Gives the page the same `window.custos` the preload exposes, backed by the real router.
 * Only the transport differs from Electron: a Playwright binding instead of ipcMain, with the
 * same rule that only the page's top frame on the app's origin may call.
 */
export async function attachCore(page: Page, router: Router, events: EventHub | null, origin: string): Promise<() => void> {
  await page.exposeBinding('__custosInvoke', async (source, channel: unknown, payload: unknown) => {
    if (source.frame !== source.page.mainFrame() || new URL(source.frame.url()).origin !== origin) {
      throw new Error('unexpected sender');
    }
    return router.dispatch(channel, payload);
  });
  await page.addInitScript(
    ({ channels, events: eventList }) => {
      const w = window as unknown as Record<string, unknown> & { __custosInvoke: (c: string, p: unknown) => Promise<unknown> };
      const listeners = new Map<string, Set<(payload: unknown) => void>>();
      const bridge: Record<string, Record<string, unknown>> = { on: {} };
      for (const name of channels) {
        const [domain, call] = name.split('.') as [string, string];
        bridge[domain] ??= {};
        bridge[domain][call] = (input: unknown) => w.__custosInvoke(name, input);
      }
      for (const name of eventList) {
        const [domain, event] = name.split('.') as [string, string];
        const on = bridge.on as Record<string, Record<string, unknown>>;
        on[domain] ??= {};
        on[domain][event] = (listener: (payload: unknown) => void) => {
          if (!listeners.has(name)) listeners.set(name, new Set());
          listeners.get(name)!.add(listener);
          return () => listeners.get(name)?.delete(listener);
        };
      }
      Object.defineProperty(window, '__custosDeliver', { value: (name: string, payload: unknown) => listeners.get(name)?.forEach((l) => l(payload)) });
      Object.defineProperty(window, 'custos', { value: Object.freeze(bridge), writable: false, configurable: false });
    },
    { channels: channelNames as string[], events: eventNames as string[] },
  );
  if (!events) return () => {};
  return events.subscribe((event, payload) => {
    page
      .evaluate(([name, data]) => (window as unknown as { __custosDeliver?: (n: string, p: unknown) => void }).__custosDeliver?.(name, data), [event, payload] as const)
      .catch(() => {
        // The page may be navigating or closed; the next snapshot brings it up to date.
      });
  });
}
