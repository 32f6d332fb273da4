import AxeBuilder from '@axe-core/playwright';
import type { Page } from '@playwright/test';
import { expect } from './fixtures';

const WCAG_21_AA = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'];

/** The page as it stands passes axe at WCAG 2.1 AA; a failure names each rule and the elements that break it. */
export async function expectAccessible(page: Page, state: string): Promise<void> {
  // Legacy mode runs axe.run in the page itself. The default finishes every check in a new blank page (to merge
  // frames' results; the renderer has no frames), which cost about a second a check: some 70 checks in the suite.
  const { violations } = await new AxeBuilder({ page }).withTags(WCAG_21_AA).setLegacyMode(true).analyze();
  const found = violations.map(
    (v) => `${v.id} (${v.impact ?? 'unknown'}): ${v.help} — ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`,
  );
  expect(found, `axe violations on ${state}`).toEqual([]);
}
