import { protocol, type Session } from 'electron';
import { APP_SCHEME, respond } from './app-files';

/** Must run before the app is ready: makes app:// a standard, secure origin (not file://). */
export function registerAppScheme(): void {
  protocol.registerSchemesAsPrivileged([
    {
      scheme: APP_SCHEME,
      privileges: {
        standard: true,
        secure: true,
        supportFetchAPI: false,
        corsEnabled: false,
        stream: false,
        bypassCSP: false,
      },
    },
  ]);
}

export function serveApp(session: Session, rendererDir: string): void {
  session.protocol.handle(APP_SCHEME, (request) => respond(request, rendererDir));
}
