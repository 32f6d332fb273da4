import type { BrowserWindow, IpcMainInvokeEvent, Session, WebContents } from 'electron';
import type { Log } from '../core/log';
import { APP_ORIGIN } from './app-files';

/**
 * Since Custos never talks to a network, every request that is not for the app's own files is
 * cancelled, and no web permission (camera, clipboard, notifications, USB…) is ever granted.
 */
export function hardenSession(session: Session, log: Log): void {
  session.setPermissionRequestHandler((_contents, permission, callback) => {
    log.warn('denied a permission request', { permission });
    callback(false);
  });
  session.setPermissionCheckHandler(() => false);
  session.setDevicePermissionHandler(() => false);
  session.webRequest.onBeforeRequest((details, callback) => {
    const allowed = isAppUrl(details.url);
    if (!allowed) log.warn('blocked a request that left the app', { url: details.url.slice(0, 200) });
    callback({ cancel: !allowed });
  });
}

export function isAppUrl(url: string): boolean {
  try {
    // Node's URL gives custom schemes an opaque "null" origin, so compare scheme and host.
    const parsed = new URL(url);
    return `${parsed.protocol}//${parsed.host}` === APP_ORIGIN;
  } catch {
    return false;
  }
}

/** Applied to every WebContents the moment it is created (checklist 11–14). */
export function hardenWebContents(contents: WebContents, production: boolean, log: Log): void {
  contents.on('will-navigate', (event, url) => {
    log.warn('blocked navigation', { url: url.slice(0, 200) });
    event.preventDefault();
  });
  contents.on('will-redirect', (event) => event.preventDefault());
  contents.on('will-attach-webview', (event) => event.preventDefault());
  contents.setWindowOpenHandler(({ url }) => {
    log.warn('blocked a new window', { url: url.slice(0, 200) });
    return { action: 'deny' };
  });
  if (production) contents.on('devtools-opened', () => contents.closeDevTools());
}

/** Only our own window's top frame, showing our own origin, may call the core (checklist 17). */
export function isTrustedSender(event: IpcMainInvokeEvent, window: BrowserWindow | null): boolean {
  if (!window || window.isDestroyed()) return false;
  if (event.sender.id !== window.webContents.id) return false;
  const frame = event.senderFrame;
  if (!frame || frame.parent !== null) return false;
  return isAppUrl(frame.url);
}
