import { totpCodeAt } from '../../electron/core/custodians/totp';
import { expectAccessible } from './axe';
import { checkScreen, checkScreenPart } from './screens';
import { expect, test } from './fixtures';

const PASSPHRASE = 'violet anchor tundra biscuit 7219 quarry';
const SECOND = 'mossy kettle parade 4417 harbour lantern';

test('set up the first security officer with passphrase and authenticator, check both factors, then approve the next enrolment', async ({
  custos,
}) => {
  const page = await custos.open();
  await page.keyboard.press('Alt+7');
  await expect(page.getByRole('heading', { level: 1, name: 'Custodians' })).toBeVisible();
  await expect(page.getByRole('heading', { name: 'Set up Custos: enrol its first security officer' })).toBeVisible();
  await expect(page.getByRole('checkbox', { name: 'Security officer' })).toBeChecked();
  await expect(page.getByRole('checkbox', { name: 'Security officer' })).toBeDisabled();

  // Nothing typed: Enter still submits, and the form says at its top what is missing, each linked to its field.
  await page.getByLabel('Full name').press('Enter');
  const summary = page.getByRole('alert').filter({ hasText: 'There is a problem' });
  await expect(summary).toBeFocused();
  await expect(summary.getByRole('link')).toHaveText([
    'Type the custodian’s full name',
    'Type the custodian’s passphrase',
  ]);
  await checkScreenPart(page, '07-custodians-enrol-missing', page.getByRole('form', { name: /enrol its first/ }));
  await summary.getByRole('link', { name: 'Type the custodian’s full name' }).press('Enter');
  await expect(page.getByLabel('Full name')).toBeFocused();

  await page.getByLabel('Full name').fill('Ada Lovelace');
  await page.getByLabel('Passphrase', { exact: true }).fill('password123');
  await page.getByLabel('Passphrase again').fill('password123');
  await page.getByLabel('Passphrase again').press('Enter');
  await expect(page.getByRole('alert').filter({ hasText: 'PASSPHRASE_WEAK' })).toContainText('commonly used password');
  await expectAccessible(page, 'Custodians, a weak passphrase refused');

  await page.getByLabel('Passphrase', { exact: true }).fill(PASSPHRASE);
  await page.getByLabel('Passphrase again').fill(PASSPHRASE);
  await page.getByLabel('Passphrase again').press('Enter');
  await expect(page.getByRole('heading', { name: 'Add Ada Lovelace to the authenticator app' })).toBeFocused();
  await expect(page.getByRole('img', { name: /QR code for Ada Lovelace/ })).toBeVisible();
  const key = (await page.locator('code.secret').innerText()).replace(/\s/g, '');
  expect(key).toMatch(/^[A-Z2-7]{32}$/);

  await page.getByLabel('6-digit code').fill('000000');
  await page.getByLabel('6-digit code').press('Enter');
  await expect(page.getByRole('alert').filter({ hasText: 'TOTP_INCORRECT' })).toBeVisible();
  await expectAccessible(page, 'Custodians, the authenticator step with a wrong code');
  // Codes follow the core's clock (the harness pins it), as a phone follows real time.
  const code = totpCodeAt(key, custos.clock.now);
  await page.getByLabel('6-digit code').fill(code);
  await page.getByLabel('6-digit code').press('Enter');
  await expect(page.getByRole('status').filter({ hasText: 'Ada Lovelace is enrolled.' })).toBeVisible();
  await expect(page.getByRole('row').filter({ hasText: 'Ada Lovelace' })).toContainText('Ready');
  // The key is gone from the page once enrolment is confirmed.
  await expect(page.locator('code.secret')).toHaveCount(0);

  await page.getByRole('button', { name: 'Check the factors of Ada Lovelace' }).click();
  await page.getByLabel('Ada Lovelace’s passphrase', { exact: true }).fill(PASSPHRASE);
  await page.getByLabel('Ada Lovelace’s code from the authenticator', { exact: true }).fill(code);
  await page.getByLabel('Ada Lovelace’s code from the authenticator', { exact: true }).press('Enter');
  const replayed = page.getByRole('alert').filter({ hasText: 'TOTP_REPLAYED' });
  await expect(replayed).toContainText('already used');
  await expect(replayed).toBeFocused();
  await checkScreenPart(page, '07-custodians-check-refused', page.getByRole('form', { name: /check both factors/ }));

  await page.getByLabel('Ada Lovelace’s passphrase', { exact: true }).fill(PASSPHRASE);
  await page
    .getByLabel('Ada Lovelace’s code from the authenticator', { exact: true })
    .fill(totpCodeAt(key, new Date(custos.clock.now.getTime() + 30_000)));
  await page.getByLabel('Ada Lovelace’s code from the authenticator', { exact: true }).press('Enter');
  await expect(page.getByRole('status').filter({ hasText: 'Both factors are correct.' })).toBeVisible();

  // From now on an enrolment needs the officer's two factors.
  await expect(page.getByRole('heading', { name: 'Enrol a custodian' })).toBeVisible();
  await page.getByLabel('Full name').fill('Charles Babbage');
  await page.getByLabel('Passphrase', { exact: true }).fill(SECOND);
  await page.getByLabel('Passphrase again').fill(SECOND);
  await expect(page.getByRole('combobox', { name: 'Security officer' })).toHaveValue(/[0-9a-f]{16}/);
  await page.getByLabel('Approval: Ada Lovelace’s passphrase').fill(PASSPHRASE);
  await page
    .getByLabel('Approval: Ada Lovelace’s code from the authenticator')
    .fill(totpCodeAt(key, new Date(custos.clock.now.getTime() + 60_000)));
  custos.advance(60);
  await page.getByLabel('Approval: Ada Lovelace’s code from the authenticator').press('Enter');
  // Two scrypt derivations: the officer's check, then the new passphrase.
  await expect(page.getByRole('heading', { name: 'Add Charles Babbage to the authenticator app' })).toBeFocused({
    timeout: 30_000,
  });
  // The officer's factors never stay in the form.
  const second = (await page.locator('code.secret').innerText()).replace(/\s/g, '');
  await page.getByLabel('6-digit code').fill(totpCodeAt(second, custos.clock.now));
  await page.getByLabel('6-digit code').press('Enter');
  await expect(page.getByRole('row').filter({ hasText: 'Charles Babbage' })).toContainText('Custodian');

  // Charles leaves: the officer retires him by keyboard with her two factors; he is then listed apart, with no actions.
  await page.getByRole('button', { name: 'Retire Charles Babbage' }).press('Enter');
  const retire = page.getByRole('form', { name: 'Retire Charles Babbage' });
  await expect(retire.getByRole('heading', { name: 'Retire Charles Babbage' })).toBeFocused();
  custos.advance(30);
  await retire.getByLabel('Ada Lovelace’s passphrase').fill(PASSPHRASE);
  await retire.getByLabel('Ada Lovelace’s code from the authenticator').fill(totpCodeAt(key, custos.clock.now));
  await checkScreenPart(page, '07-custodians-retire', retire);
  await retire.getByLabel('Ada Lovelace’s code from the authenticator').press('Enter');
  await expect(page.getByRole('status').filter({ hasText: 'Charles Babbage is retired.' })).toBeVisible();
  const retired = page.getByRole('table', { name: 'Retired (1)' });
  await expect(retired.getByRole('row').filter({ hasText: 'Charles Babbage' })).toBeVisible();
  await expect(page.getByRole('button', { name: /Charles Babbage/ })).toHaveCount(0);
  await checkScreen(page, '07-custodians-retired');
});

test('an enrolment ended by five wrong codes takes its key and QR code off the screen and says to start again', async ({
  custos,
}) => {
  const page = await custos.open();
  await page.keyboard.press('Alt+7');
  await page.getByLabel('Full name').fill('Ada Lovelace');
  await page.getByLabel('Passphrase', { exact: true }).fill(PASSPHRASE);
  await page.getByLabel('Passphrase again').fill(PASSPHRASE);
  await page.getByLabel('Passphrase again').press('Enter');
  await expect(page.getByRole('heading', { name: 'Add Ada Lovelace to the authenticator app' })).toBeFocused();
  for (const code of ['000000', '000001', '000002', '000003']) {
    await page.getByLabel('6-digit code').fill(code);
    await page.getByLabel('6-digit code').press('Enter');
    await expect(page.getByRole('alert').filter({ hasText: 'TOTP_INCORRECT' })).toBeVisible();
  }
  await page.getByLabel('6-digit code').fill('000004');
  await page.getByLabel('6-digit code').press('Enter');
  // Before: TOTP_INCORRECT again, with the key and its QR code still shown for an enrolment the core had ended.
  await expect(page.getByRole('alert').filter({ hasText: 'ENROLMENT_EXPIRED' })).toContainText(
    'start the enrolment again',
  );
  await expect(page.locator('code.secret')).toHaveCount(0);
  await expect(page.getByRole('img', { name: /QR code/ })).toHaveCount(0);
  await expect(page.getByRole('heading', { name: 'Set up Custos: enrol its first security officer' })).toBeVisible();
  await expectAccessible(page, 'Custodians, an enrolment ended by wrong codes');
});

test('a security officer unlocks a locked-out custodian by keyboard alone, told at the form what to fix', async ({
  custos,
}) => {
  const [ada] = await custos.seedCustodians(['Ada Lovelace']);
  const olga = custos.setupOfficer!;
  await custos.lockOut(ada!.id);
  const page = await custos.open();
  await page.keyboard.press('Alt+7');
  const row = page.getByRole('row').filter({ hasText: 'Ada Lovelace' });
  await expect(row).toContainText('Locked out — a security officer must unlock');
  await page.getByRole('button', { name: 'Unlock Ada Lovelace' }).press('Enter');
  const form = page.getByRole('form', { name: 'Unlock Ada Lovelace' });
  await expect(form.getByRole('heading', { name: 'Unlock Ada Lovelace' })).toBeFocused();
  // The same controls as every officer approval: whom (preselected), then their passphrase and code.
  await expect(form.getByRole('combobox', { name: 'Security officer' })).toHaveValue(olga.id);
  await expect(form.getByRole('combobox', { name: 'Security officer' })).not.toContainText('Ada Lovelace');
  await checkScreenPart(page, '07-custodians-unlock', form);
  // Closed unused, the form hands focus back to the row's button, and Enter opens it again.
  await form.getByRole('button', { name: 'Close' }).press('Enter');
  await expect(form).toHaveCount(0);
  await expect(page.getByRole('button', { name: 'Unlock Ada Lovelace' })).toBeFocused();
  await page.keyboard.press('Enter');
  await expect(form.getByRole('heading', { name: 'Unlock Ada Lovelace' })).toBeFocused();

  // Enter with nothing typed: the summary takes focus and links to the field, and no code is spent.
  await page.keyboard.press('Tab');
  await page.keyboard.press('Tab');
  await expect(form.getByLabel('Approval: Olga Setup’s passphrase')).toBeFocused();
  await page.keyboard.press('Enter');
  const summary = form.getByRole('alert').filter({ hasText: 'There is a problem' });
  await expect(summary).toBeFocused();
  await expect(summary.getByRole('link')).toHaveText([
    'Type the officer’s passphrase',
    'Type the 6-digit code the authenticator shows',
  ]);
  await summary.getByRole('link', { name: 'Type the officer’s passphrase' }).press('Enter');
  await expect(form.getByLabel('Approval: Olga Setup’s passphrase')).toBeFocused();

  // A wrong code: refused in the form, with its code, and the officer's factors are not left behind.
  custos.advance(30);
  await page.keyboard.type(olga.passphrase);
  await page.keyboard.press('Tab');
  await page.keyboard.type('000000');
  await page.keyboard.press('Enter');
  const refusal = form.getByRole('alert').filter({ hasText: 'TOTP_INCORRECT' });
  await expect(refusal).toBeFocused();
  await expect(page.locator('.outcome')).toHaveCount(0);
  await expect(form.getByLabel('Approval: Olga Setup’s passphrase')).toHaveValue('');
  await checkScreenPart(page, '07-custodians-unlock-refused', form);
  await refusal.getByRole('link', { name: 'Type the code the authenticator shows now' }).press('Enter');
  await expect(form.getByLabel('Approval: Olga Setup’s code from the authenticator')).toBeFocused();

  custos.advance(30);
  await form.getByLabel('Approval: Olga Setup’s passphrase').fill(olga.passphrase);
  await form
    .getByLabel('Approval: Olga Setup’s code from the authenticator')
    .fill(totpCodeAt(olga.secret, custos.clock.now));
  await form.getByLabel('Approval: Olga Setup’s code from the authenticator').press('Enter');
  await expect(page.getByRole('status').filter({ hasText: 'Ada Lovelace is unlocked.' })).toBeVisible();
  await expect(page.locator('.outcome')).toBeFocused();
  await expect(form).toHaveCount(0);
  await expect(row).toContainText('Ready');
  await expect(page.getByRole('button', { name: 'Unlock Ada Lovelace' })).toHaveCount(0);
});
