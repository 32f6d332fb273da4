import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { APP_ORIGIN } from '../../electron/main/app-files';
import { respond } from '../../electron/main/app-files';

/**
 * Serves the built renderer on loopback for tests, through the same `respond` the app:// handler
 * uses, so the page gets the same files and the same CSP header as in Electron.
 */
export async function serveRenderer(rendererDir: string): Promise<{ origin: string; close: () => Promise<void> }> {
  const server: Server = createServer((req, res) => {
    void (async () => {
      const response = await respond(
        new Request(`${APP_ORIGIN}${req.url ?? '/'}`, { method: req.method ?? 'GET' }),
        rendererDir,
      );
      res.writeHead(response.status, Object.fromEntries(response.headers.entries()));
      res.end(Buffer.from(await response.arrayBuffer()));
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
