import type { Page } from '@playwright/test';
import { totpCodeAt } from '../../electron/core/custodians/totp';
import { expect } from './fixtures';

export interface Person {
  name: string;
  passphrase: string;
  secret: string;
}

/** Ceremony steps as the custodians in the room perform them, each code read at the harness clock. */
export function ceremony(page: Page, clock: { now: Date }) {
  const code = (who: { secret: string }) => totpCodeAt(who.secret, clock.now);
  return {
    code,
    async takeCustody(label: string, holders: Person[]) {
      await page.keyboard.press('Alt+3');
      await expect(page.getByRole('heading', { level: 1, name: 'Ceremonies' })).toBeVisible();
      const form = page.getByRole('form', { name: 'Take a token into custody' });
      const blank = await form.locator('#custody-token option', { hasText: 'Blank token' }).first().getAttribute('value');
      await form.locator('#custody-token').selectOption(blank!);
      await form.getByLabel('Label for the token').fill(label);
      for (const [i, who] of holders.entries()) {
        if (i >= 3) await form.getByRole('button', { name: 'Add a holder' }).click();
        await form.locator(`#holder-${i}-who`).selectOption({ label: who.name });
        await form.getByLabel(`${who.name}’s passphrase`).fill(who.passphrase);
        await form.getByLabel(`${who.name}’s code`).fill(code(who));
      }
      await form.getByRole('button', { name: 'Take into custody' }).click();
    },
    /** One approver at the proposal's form: the fingerprint they heard, then both factors. */
    async approve(proposal: string, who: Person, typed = proposal) {
      const form = page.getByRole('form', { name: `Approve proposal ${proposal}` });
      await form.getByLabel('Fingerprint as read aloud to you').fill(typed);
      await form.locator('select').selectOption({ label: who.name });
      await form.getByLabel(`${who.name}’s passphrase`).fill(who.passphrase);
      await form.getByLabel(`${who.name}’s code`).fill(code(who));
      await form.getByRole('button', { name: 'Approve' }).click();
    },
    /** Fills a form's "Proposed by" fields for one custodian and presses its submit button. */
    async proposeIn(formName: string, prefix: string, who: Person, submit: string) {
      const form = page.getByRole('form', { name: formName });
      await form.locator(`#${prefix}-who`).selectOption({ label: who.name });
      await form.getByLabel(`${who.name}’s passphrase`).fill(who.passphrase);
      await form.getByLabel(`${who.name}’s code`).fill(code(who));
      await form.getByRole('button', { name: submit }).click();
    },
  };
}
