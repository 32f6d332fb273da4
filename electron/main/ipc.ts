import { ipcMain, type BrowserWindow } from 'electron';
import { channelNames } from '../../shared/ipc-schema';
import type { EventHub } from '../core/events/event-hub';
import type { Router } from '../core/ipc/router';
import type { Log } from '../core/log';
import { isTrustedSender } from './security';

/** One ipcMain handler per declared channel; anything else has no handler at all. */
export function registerIpc(router: Router, window: () => BrowserWindow | null, log: Log): void {
  for (const name of channelNames) {
    ipcMain.handle(name, (event, payload: unknown, intent: unknown) => {
      if (!isTrustedSender(event, window())) {
        log.warn('dropped IPC from an unexpected sender', { channel: name, url: event.senderFrame?.url.slice(0, 200) });
        throw new Error('unexpected sender');
      }
      return router.dispatch(name, payload, intent);
    });
  }
}

export function forwardEvents(events: EventHub, window: () => BrowserWindow | null): () => void {
  return events.subscribe((event, payload) => {
    const target = window();
    if (target && !target.isDestroyed()) target.webContents.send(event, payload);
  });
}
