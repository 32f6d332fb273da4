import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CONTENT_SECURITY_POLICY } from '../../shared/csp';
import { tempDataDir } from '../core/testing/softhsm-fixture';

import { respond, resolveAppFile } from './app-files';

let dir: string;
let cleanup: () => void;
beforeEach(() => {
  ({ dataDir: dir, cleanup } = tempDataDir());
  mkdirSync(join(dir, 'renderer/assets'), { recursive: true });
  writeFileSync(join(dir, 'renderer/index.html'), '<!doctype html>');
  writeFileSync(join(dir, 'renderer/assets/app.js'), 'console.log(1)');
  writeFileSync(join(dir, 'secret.txt'), 'outside the renderer');
  writeFileSync(join(dir, 'secret.js'), 'outside the renderer');
});
afterEach(() => cleanup());
const rendererDir = () => join(dir, 'renderer');

describe('app:// protocol', () => {
  it('serves the built files with the CSP and the right type', async () => {
    const response = await respond(new Request('app://custos/index.html'), rendererDir());
    expect(response.status).toBe(200);
    expect(response.headers.get('content-security-policy')).toBe(CONTENT_SECURITY_POLICY);
    expect(response.headers.get('content-type')).toMatch(/text\/html/);
    expect(
      (await respond(new Request('app://custos/assets/app.js'), rendererDir())).headers.get('content-type'),
    ).toMatch(/javascript/);
  });

  it('refuses anything but GET', async () => {
    expect(
      (await respond(new Request('app://custos/index.html', { method: 'POST', body: 'x' }), rendererDir())).status,
    ).toBe(405);
  });

  it.each([
    'app://custos/%2e%2e/secret.txt',
    'app://custos/..%2fsecret.txt',
    'app://custos/assets/%2e%2e/%2e%2e/secret.txt',
    'app://other-host/index.html',
    'app://custos/missing.js',
    'app://custos/assets',
    'app://custos/index.html%00.js',
  ])('answers 404 for %s', async (url) => {
    expect((await respond(new Request(url), rendererDir())).status).toBe(404);
  });

  it.each([
    'app://custos/..%2fsecret.js',
    'app://custos/assets/..%2f..%2fsecret.js',
    'app://custos/a/..%2f..%2f..%2fsecret.js',
    'app://custos/assets%2f..%2f..%2fsecret.js',
    'app://custos/app.js%00',
    'app://custos/%E0%A4%A',
  ])('resolves no file at all for %s', (url) => {
    expect(resolveAppFile(url, rendererDir())).toBeNull();
  });

  it('never resolves a path outside the renderer directory', () => {
    // The URL parser folds %2e%2e segments at the root, so this names renderer/etc/passwd.
    expect(resolveAppFile('app://custos/%2e%2e/%2e%2e/etc/passwd', rendererDir())?.path.startsWith(rendererDir())).toBe(
      true,
    );
    expect(resolveAppFile('app://custos/a/..%2f..%2f..%2fetc/passwd', rendererDir())).toBeNull();
    expect(resolveAppFile('file:///etc/passwd', rendererDir())).toBeNull();
  });
});
