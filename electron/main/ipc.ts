import { ipcMain, type BrowserWindow } from 'electron';
import { channelNames } from '../../shared/ipc-schema';
import type { EventHub } from '../core/events/event-hub';
import type { Router } from '../core/ipc/router';
import type { Log } from '../core/log';
import { isTrustedSender } from './security';

/**
 * One ipcMain handler per declared channel; anything else has no handler at all. A router still being started is
 * awaited: the window exists before the core has opened, and its first requests are answered once it has.
 */
export function registerIpc(router: Router | Promise<Router>, window: () => BrowserWindow | null, log: Log): void {
  for (const name of channelNames) {
    ipcMain.handle(name, (event, payload: unknown, intent: unknown) => {
      if (!isTrustedSender(event, window())) {
        log.warn('dropped IPC from an unexpected sender', { channel: name, url: event.senderFrame?.url.slice(0, 200) });
        throw new Error('unexpected sender');
      }
      return router instanceof Promise
        ? router.then((ready) => ready.dispatch(name, payload, intent))
        : router.dispatch(name, payload, intent);
    });
  }
}

export function forwardEvents(events: EventHub, window: () => BrowserWindow | null): () => void {
  return events.subscribe((event, payload) => {
    const target = window();
    if (target && !target.isDestroyed()) target.webContents.send(event, payload);
  });
}
