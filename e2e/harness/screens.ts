import type { Locator, Page } from '@playwright/test';
import { join } from 'node:path';
import { expectAccessible } from './axe';

const SCREENS_DIR = join(__dirname, '../../docs/screens');

/** Pictures stop here: the top of a long screen shows what it is; the files stay small. */
const MAX_HEIGHT = 2400;

/**
 * Holds the page to WCAG 2.1 AA and keeps its picture in docs/screens/ (1280 wide), so the docs show what the tests
 * saw.
 */
export async function checkScreen(page: Page, name: string): Promise<void> {
  await expectAccessible(page, name);
  const height = await page.evaluate(() => document.documentElement.scrollHeight);
  const width = page.viewportSize()?.width ?? 1280;
  await page.screenshot({
    path: join(SCREENS_DIR, `${name}.png`),
    fullPage: true,
    animations: 'disabled',
    clip: { x: 0, y: 0, width, height: Math.min(height, MAX_HEIGHT) },
  });
}

/**
 * Holds the page to WCAG 2.1 AA and keeps a picture of one part of a long screen, from the top of `first` to the
 * bottom of `last`, where a picture of the screen's top would not reach it.
 */
export async function checkScreenPart(page: Page, name: string, first: Locator, last: Locator = first): Promise<void> {
  await expectAccessible(page, name);
  const top = await first.evaluate((e) => e.getBoundingClientRect().top + window.scrollY);
  const bottom = await last.evaluate((e) => e.getBoundingClientRect().bottom + window.scrollY);
  const width = page.viewportSize()?.width ?? 1280;
  await page.screenshot({
    path: join(SCREENS_DIR, `${name}.png`),
    fullPage: true,
    animations: 'disabled',
    clip: { x: 0, y: Math.max(0, top - 16), width, height: Math.min(bottom - top + 32, MAX_HEIGHT) },
  });
}
