import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test } from '@playwright/test';

const out = join(__dirname, '../../out');

test('the sandboxed preload bundle requires nothing but electron', () => {
  const preload = readFileSync(join(out, 'preload/index.js'), 'utf8');
  const required = [...preload.matchAll(/require\(["']([^"']+)["']\)/g)].map((m) => m[1]);
  expect([...new Set(required)]).toEqual(['electron']);
});

test('the renderer bundle has no inline script and carries the CSP', () => {
  const html = readFileSync(join(out, 'renderer/index.html'), 'utf8');
  expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
  expect(html).toContain('http-equiv="Content-Security-Policy"');
});

test('the shipped renderer bundle is minified', () => {
  const assets = join(out, 'renderer/assets');
  const scripts = readdirSync(assets).filter((name) => name.endsWith('.js'));
  expect(scripts.length).toBeGreaterThan(0);
  for (const name of scripts) {
    const text = readFileSync(join(assets, name), 'utf8');
    // A readable bundle has a line per statement (~30 characters on average); a minified one, a few very long lines.
    expect(text.length / text.split('\n').length).toBeGreaterThan(500);
  }
});
