import { chmodSync, copyFileSync, existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { totpCodeAt } from '../../electron/core/custodians/totp';
import { findSoftHsmLibrary, softHsmPaths } from '../../electron/core/hsm/softhsm';
import { Store } from '../../electron/core/store/database';
import { channelNames } from '../../shared/ipc-schema';
import { expectAccessible } from './axe';
import { checkScreen } from './screens';
import { expect, test } from './fixtures';

test('opens on the Tokens screen and shows the SoftHSM2 token, its serial and its mechanisms', async ({ custos }) => {
  const token = custos.addToken('ceremony-rehearsal');
  const page = await custos.open();
  await expect(page.getByRole('heading', { level: 1, name: 'Tokens' })).toBeVisible();
  await expect(page.getByText('Software token (SoftHSM2) for practice, not a FIPS-validated HSM')).toBeVisible();
  const row = page.getByRole('row').filter({ hasText: token.serial });
  await expect(row).toContainText('ceremony-rehearsal');
  await expect(row).toContainText('SoftHSM v2');
  await expect(row).toContainText('Software token');
  await expect(row).toContainText('Known software token: SoftHSM (“SoftHSM project”, model “SoftHSM v2”)');
  await page.screenshot({ path: 'test-results/tokens-software.png', fullPage: true });

  // Keyboard only: Tab to the button and press Enter.
  await page.getByRole('button', { name: 'Show mechanisms of ceremony-rehearsal' }).focus();
  await page.keyboard.press('Enter');
  const mechanisms = page.getByRole('table').filter({ has: page.getByText(/mechanisms supported by this token/) });
  await expect(mechanisms.getByRole('rowheader', { name: 'CKM_AES_KEY_WRAP_PAD' })).toBeVisible();
  await expect(mechanisms.getByRole('row').filter({ hasText: 'CKM_AES_KEY_WRAP_PAD' })).toContainText('0x210a');
  await expect(mechanisms.getByRole('rowheader', { name: 'CKM_EDDSA' })).toBeVisible();
  await expectAccessible(page, 'Tokens, mechanisms shown');
});

test('selecting a token is remembered after a reload', async ({ custos }) => {
  const token = custos.addToken('vault-a');
  const page = await custos.open();
  await page.getByRole('button', { name: 'Select token vault-a' }).click();
  await expect(page.getByRole('row').filter({ hasText: token.serial })).toContainText('Selected');
  await page.reload();
  await expect(
    page.getByRole('row').filter({ hasText: token.serial }).getByText('Selected', { exact: true }).first(),
  ).toBeVisible();
});

test('a missing module shows a clear error with its code and what to do, not a crash', async ({ custos }) => {
  const page = await custos.open({ moduleOverride: '/opt/vendor/lib/missing-pkcs11.so' });
  const alert = page.getByRole('alert').filter({ hasText: 'MODULE_NOT_FOUND' });
  await expect(alert).toContainText('No PKCS#11 library exists at /opt/vendor/lib/missing-pkcs11.so');
  await expect(alert).toContainText('built-in SoftHSM2');
  await expectAccessible(page, 'Tokens, no module');
  await page.getByRole('button', { name: 'Open Settings to choose a token module' }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'Settings' })).toBeVisible();
});

test('a removed token directory shows a clear error and is not silently recreated', async ({ custos }) => {
  custos.addToken('vault-b');
  const page = await custos.open();
  await expect(page.getByRole('row').filter({ hasText: 'vault-b' })).toBeVisible();
  const { tokenDir } = softHsmPaths(custos.dataDir);
  renameSync(tokenDir, `${tokenDir}.elsewhere`);
  await page.getByRole('button', { name: 'Refresh' }).click();
  await expect(page.getByRole('alert').filter({ hasText: 'SOFTHSM_TOKEN_DIR_MISSING' })).toContainText(
    'the rehearsal tokens stored there are gone',
  );
  await expect(page.getByRole('row').filter({ hasText: 'vault-b' })).toHaveCount(0);
  expect(existsSync(tokenDir)).toBe(false);
});

test('a security officer chooses the module: a failed load keeps the working one, a good one is loaded', async ({
  custos,
}) => {
  custos.addToken('vault-c');
  const [olive] = await custos.seedCustodians(['Olive Officer'], ['custodian', 'security-officer']);
  const vendorDir = join(custos.dataDir, 'vendor');
  mkdirSync(vendorDir, { mode: 0o755 });
  const broken = join(vendorDir, 'libbroken-pkcs11.so');
  writeFileSync(broken, 'not a shared object', { mode: 0o644 });
  const library = join(vendorDir, 'libvendor-pkcs11.so');
  copyFileSync(findSoftHsmLibrary()!, library);
  chmodSync(library, 0o644);
  const page = await custos.open();
  await expect(page.getByRole('row').filter({ hasText: 'vault-c' })).toBeVisible();
  await page.keyboard.press('Alt+8');
  await expect(page.getByRole('heading', { level: 1, name: 'Settings' })).toBeVisible();
  await expect(page.getByLabel('PKCS#11 library path')).toHaveCount(0);
  const officer = async () => {
    custos.advance(30);
    await page.getByLabel('Who').selectOption({ label: 'Olive Officer' });
    await page.getByLabel('Olive Officer’s passphrase').fill(olive!.passphrase);
    await page.getByLabel('Olive Officer’s code').fill(totpCodeAt(olive!.secret, custos.clock.now));
  };

  // Nothing typed: the form says what is missing, linked to each field, and asks the core nothing.
  custos.moduleChoice.path = broken;
  await page.getByRole('button', { name: 'Choose a library file…' }).click();
  const summary = page.getByRole('alert').filter({ hasText: 'There is a problem' });
  await expect(summary.getByRole('link')).toHaveText([
    'Choose who changes the module',
    'Type the passphrase',
    'Type the 6-digit code the authenticator shows',
  ]);
  await expect(summary).toBeFocused();
  await summary.getByRole('link', { name: 'Type the passphrase' }).press('Enter');
  await expect(page.getByLabel('Passphrase')).toBeFocused();
  await expect(page.getByRole('alert').filter({ hasText: 'MODULE_LOAD_FAILED' })).toHaveCount(0);

  await officer();
  await page.getByRole('button', { name: 'Choose a library file…' }).click();
  const alert = page.getByRole('alert').filter({ hasText: 'MODULE_LOAD_FAILED' });
  await expect(alert).toContainText('The token module was not changed');
  await expect(alert).toContainText('Custos still uses');
  await expect(page.getByText('In use now:')).toContainText('libsofthsm2.so');
  await expect(page.getByLabel('Olive Officer’s passphrase')).toHaveValue('');

  custos.moduleChoice.path = library;
  await officer();
  await page.getByRole('button', { name: 'Choose a library file…' }).click();
  await expect(page.getByRole('status')).toContainText('Token module saved and loaded.');
  await expect(page.getByText('In use now:')).toContainText(library);
  await page.screenshot({ path: 'test-results/settings-module.png', fullPage: true });
  await page.keyboard.press('Alt+1');
  await expect(page.getByRole('row').filter({ hasText: 'vault-c' })).toBeVisible();
});

test('a database held by another Custos explains why Custos cannot start', async ({ custos }) => {
  const holder = Store.open(custos.dataDir);
  try {
    const page = await custos.open();
    await expect(page.getByRole('heading', { name: 'Custos could not start' })).toBeVisible();
    await expect(page.getByRole('alert')).toContainText('STORE_LOCKED');
    await expect(page.getByRole('alert')).toContainText('Another Custos is already using the database');
  } finally {
    holder.close();
  }
});

test('the page gets exactly the declared channels; bad payloads are refused with stable codes', async ({ custos }) => {
  custos.addToken('vault-d');
  const page = await custos.open();
  await expect(page.getByRole('heading', { level: 1, name: 'Tokens' })).toBeVisible();
  const exposed = await page.evaluate(() => {
    const bridge = (window as unknown as { custos: Record<string, Record<string, unknown>> }).custos;
    return Object.entries(bridge)
      .filter(([domain]) => domain !== 'on')
      .flatMap(([domain, calls]) => Object.keys(calls).map((call) => `${domain}.${call}`));
  });
  expect(exposed.sort()).toEqual([...channelNames].sort());
  const results = await page.evaluate(async () => {
    const w = window as unknown as {
      custos: { tokens: { select(i: unknown): Promise<unknown> } };
      __custosInvoke(c: string, p: unknown): Promise<unknown>;
    };
    return {
      malformed: await w.custos.tokens.select({ serial: 42 }),
      unknown: await w.__custosInvoke('keys.exportPrivate', {}),
    };
  });
  expect(results.malformed).toMatchObject({ ok: false, error: { code: 'IPC_INVALID_PAYLOAD' } });
  expect(results.unknown).toMatchObject({ ok: false, error: { code: 'IPC_UNKNOWN_CHANNEL' } });
  // Besides the channels, one switch: whether the screens show a rehearsal. A request meant for a rehearsal when none
  // is open (its process stopped before the screens heard) is refused, not done in the real installation.
  const meant = await page.evaluate(async () => {
    const w = window as unknown as {
      custos: { expectRehearsal(on: boolean): void; tokens: { status(i: unknown): Promise<unknown> } };
    };
    w.custos.expectRehearsal(true);
    const refused = await w.custos.tokens.status({});
    w.custos.expectRehearsal(false);
    return { refused, answered: await w.custos.tokens.status({}) };
  });
  expect(meant.refused).toMatchObject({ ok: false, error: { code: 'REHEARSAL_STOPPED' } });
  expect(meant.answered).toMatchObject({ ok: true });
});

test('runs under the strict CSP without violations and never leaves its origin', async ({ custos, page }) => {
  const problems: string[] = [];
  const requests: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error' || /Content Security Policy/i.test(message.text())) problems.push(message.text());
  });
  page.on('pageerror', (error) => problems.push(error.message));
  page.on('request', (request) => requests.push(request.url()));
  custos.addToken('vault-e');
  await custos.open();
  await expect(page.getByRole('row').filter({ hasText: 'vault-e' })).toBeVisible();
  // The audit viewer sizes its rows from script (CSSOM), which the CSP allows; inline style attributes it would not.
  await page.keyboard.press('Alt+5');
  await expect(page.getByRole('heading', { name: /Entries/ })).toBeVisible();
  expect(problems).toEqual([]);
  const origin = new URL(page.url()).origin;
  expect(requests.filter((url) => new URL(url).origin !== origin)).toEqual([]);
});

test('without SoftHSM2 or a configured module, explains how to install one or point at a real device', async ({
  custos,
}) => {
  const page = await custos.open({ softHsmCandidates: ['/nonexistent/libsofthsm2.so'] });
  // The audit token lives in SoftHSM2 too, so the app also says nothing can be recorded.
  await expect(page.getByRole('alert').filter({ hasText: 'Audit log unavailable' })).toContainText(
    'refuses every action that must be recorded',
  );
  const alert = page.getByRole('alert').filter({ hasText: 'No token module is available' });
  await expect(alert).toContainText('SOFTHSM_NOT_INSTALLED');
  await expect(alert).toContainText('apt-get install softhsm2');
  await expect(alert).toContainText('OpenSC');
  await expect(alert).toContainText('YubiHSM');
});

test('warns on the PIN counter after a wrong PIN was tried on the token', async ({ custos }) => {
  const token = custos.addToken('vault-f');
  custos.failLogin('vault-f');
  const page = await custos.open();
  await expect(page.getByRole('row').filter({ hasText: token.serial })).toContainText(
    'wrong attempts have been recorded',
  );
});

test('a slow start says what it is waiting for and shows it is still working, then opens', async ({ custos }) => {
  custos.addToken('slow-start');
  let release: () => void = () => {};
  const page = await custos.open({ held: new Promise<void>((resolve) => (release = resolve)) });
  await expect(page.getByRole('heading', { level: 1, name: 'Starting Custos…' })).toBeVisible();
  await expect(page.getByRole('status')).toHaveText(/Checking the database before anything is read from it/);
  await expect(page.getByRole('progressbar', { name: 'Checking the database' })).toBeVisible();
  await checkScreen(page, '00-starting');
  release();
  await expect(page.getByRole('heading', { level: 1, name: 'Tokens' })).toBeVisible();
});
