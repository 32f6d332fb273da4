import { readFile, stat } from 'node:fs/promises';
import { extname, relative, resolve, sep } from 'node:path';
import { CONTENT_SECURITY_POLICY } from '../../shared/csp';

/**
 * The app's own origin and how its files are served. Kept free of any `electron` import so the
 * end-to-end harness serves the renderer with exactly the same code and headers.
 */
export const APP_SCHEME = 'app';
export const APP_HOST = 'custos';
export const APP_ORIGIN = `${APP_SCHEME}://${APP_HOST}`;
export const APP_ENTRY = `${APP_ORIGIN}/index.html`;

const contentTypes: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.woff2': 'font/woff2',
  '.json': 'application/json',
};

/**
 * Answers app:// requests with the built renderer files and nothing else (Element Desktop's
 * approach): only GET, only our host, only files inside the renderer directory.
 */
export async function respond(request: Request, rendererDir: string): Promise<Response> {
  if (request.method !== 'GET') return new Response('Method not allowed', { status: 405 });
  const file = resolveAppFile(request.url, rendererDir);
  if (!file || !(file.extension in contentTypes)) return new Response('Not found', { status: 404 });
  try {
    if (!(await stat(file.path)).isFile()) return new Response('Not found', { status: 404 });
    const body = await readFile(file.path);
    return new Response(body, {
      status: 200,
      headers: {
        'Content-Type': contentTypes[file.extension]!,
        'Content-Security-Policy': CONTENT_SECURITY_POLICY,
        'X-Content-Type-Options': 'nosniff',
        'Cross-Origin-Opener-Policy': 'same-origin',
        'Cross-Origin-Resource-Policy': 'same-origin',
        'Cache-Control': 'no-store',
      },
    });
  } catch {
    return new Response('Not found', { status: 404 });
  }
}

export function resolveAppFile(url: string, rendererDir: string): { path: string; extension: string } | null {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return null;
  }
  if (parsed.protocol !== `${APP_SCHEME}:` || parsed.host !== APP_HOST) return null;
  let pathname: string;
  try {
    pathname = decodeURIComponent(parsed.pathname);
  } catch {
    return null;
  }
  if (pathname.includes('\0')) return null;
  const root = resolve(rendererDir);
  const path = resolve(root, `.${pathname === '/' ? '/index.html' : pathname}`);
  const inside = relative(root, path);
  if (inside === '' || inside.startsWith('..') || inside.split(sep).includes('..')) return null;
  return { path, extension: extname(path).toLowerCase() };
}
