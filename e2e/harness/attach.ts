import type { Page } from 'playwright';
import { buildBridge, channelNames, eventNames } from '../../shared/ipc-schema';
import type { EventHub } from '../../electron/core/events/event-hub';
import type { Router } from '../../electron/core/ipc/router';

/**
 * Gives the page the same `window.custos` the preload exposes, built by the same buildBridge and
 * backed by the real router. Only the transport differs from Electron: a Playwright binding
 * instead of ipcMain, with the same rule that only the top frame on the app's origin may call.
 */
export async function attachCore(
  page: Page,
  router: Pick<Router, 'dispatch'>,
  events: EventHub | null,
  origin: string,
): Promise<() => void> {
  await page.exposeBinding('__custosInvoke', async (source, channel: unknown, payload: unknown, intent: unknown) => {
    if (source.frame !== source.page.mainFrame() || new URL(source.frame.url()).origin !== origin) {
      throw new Error('unexpected sender');
    }
    return router.dispatch(channel, payload, intent);
  });
  await page.addInitScript(`(() => {
    const listeners = new Map();
    const transport = {
      invoke: (channel, input, intent) => window.__custosInvoke(channel, input, intent),
      subscribe: (event, listener) => {
        if (!listeners.has(event)) listeners.set(event, new Set());
        listeners.get(event).add(listener);
        return () => listeners.get(event).delete(listener);
      },
    };
    Object.defineProperty(window, '__custosDeliver', { value: (event, payload) => listeners.get(event)?.forEach((l) => l(payload)) });
    const bridge = (${buildBridge.toString()})(transport, ${JSON.stringify(channelNames)}, ${JSON.stringify(eventNames)});
    Object.defineProperty(window, 'custos', { value: Object.freeze(bridge), writable: false, configurable: false });
  })();`);
  if (!events) return () => {};
  return events.subscribe((event, payload) => {
    page
      .evaluate(
        ([name, data]) =>
          (window as unknown as { __custosDeliver?: (n: string, p: unknown) => void }).__custosDeliver?.(name, data),
        [event, payload] as const,
      )
      .catch(() => {
        // The page may be navigating or closed; the next snapshot brings it up to date.
      });
  });
}
