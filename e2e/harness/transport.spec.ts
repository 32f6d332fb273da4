import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ceremony, generateKeys, type Person } from './ceremony';
import { expectAccessible } from './axe';
import { expect, test } from './fixtures';
import { checkScreen } from './screens';

test.use({ viewport: { width: 1280, height: 800 } });

test('key transport from the Keys screen by keyboard: an officer trusts a recipient, the quorum exports a key for it, the package is written', async ({
  custos,
}) => {
  test.setTimeout(240_000);
  const [ada, babbage, curie] = (await custos.seedCustodians(
    ['Ada', 'Babbage', 'Curie'],
    ['custodian', 'security-officer'],
  )) as [Person & { id: string }, Person & { id: string }, Person & { id: string }];
  const page = await custos.open();
  const { code, takeCustody, approve, proposeIn } = ceremony(page, custos.clock);
  custos.advance(30);
  await takeCustody('vault-t', [ada, babbage, curie]);
  await generateKeys(custos, { proposer: ada, approvers: [babbage, curie] }, [
    { algorithm: 'AES-256', label: 'shared-data', usage: 'encrypt', backupable: true },
  ]);
  const recipientKey = join(custos.dataDir, 'partner.pem');
  execFileSync('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', recipientKey]);
  const pem = execFileSync('openssl', ['pkey', '-in', recipientKey, '-pubout']).toString();

  await page.reload();
  await page.keyboard.press('Alt+2');
  // The inventory first; key transport is a group of actions below it, each on its own page.
  await expect(page.getByRole('heading', { level: 2 })).toHaveText(['Inventory', 'Actions']);
  const actions = page.getByRole('region', { name: 'Actions' });
  await expect(actions.getByRole('heading', { name: 'Key transport' })).toBeVisible();
  // Nothing can be exported before a recipient is trusted: the action says why instead of being a button.
  await expect(actions.getByRole('listitem').filter({ hasText: 'Export a key for a recipient' })).toContainText(
    'No recipient is trusted yet',
  );
  await expect(actions.getByRole('button', { name: /Export a key/ })).toHaveCount(0);
  const openPage = async (title: string) => {
    await page.keyboard.press('Alt+2');
    await actions.getByRole('button', { name: title }).press('Enter');
    await expect(page.getByRole('heading', { level: 1, name: title })).toBeFocused();
  };
  // The officer's form, by keyboard alone: Tab from the page's title, type, Tab to the next field, Enter on the button.
  await openPage('Trust a recipient key (security officer)');
  const trust = page.getByRole('form', { name: 'Trust a recipient key (security officer)' });
  await page.keyboard.press('Tab');
  await expect(trust.getByLabel('Recipient')).toBeFocused();
  await page.keyboard.type('Partner HSM');
  await page.keyboard.press('Tab');
  await expect(trust.getByLabel(/Public key \(PEM/)).toBeFocused();
  await page.keyboard.insertText(pem);
  await page.keyboard.press('Tab');
  await expect(trust.locator('#trust-officer-who')).toBeFocused();
  await trust.locator('#trust-officer-who').selectOption({ label: 'Curie' });
  custos.advance(30);
  await page.keyboard.press('Tab');
  await page.keyboard.type(curie.passphrase);
  await page.keyboard.press('Tab');
  await page.keyboard.type(code(curie));
  await page.keyboard.press('Tab');
  await expect(trust.getByRole('button', { name: 'Record as trusted' })).toBeFocused();
  await page.keyboard.press('Enter');
  // The result takes focus when it appears.
  const recorded = page.getByRole('status').filter({ hasText: 'is a trusted recipient' });
  await expect(recorded).toBeVisible({ timeout: 60_000 });
  await expect(page.locator('.outcome')).toBeFocused();
  await openPage('Trusted recipients and packages');
  await expect(page.getByRole('table').filter({ hasText: 'Partner HSM' })).toContainText('trusted');
  await expect(page.getByRole('region', { name: 'Packages', exact: true })).toContainText('No package yet.');
  await checkScreen(page, '02-keys-transport');

  await openPage('Export a key for a recipient (quorum)');
  const exportForm = page.getByRole('form', { name: 'Export a key for a recipient (quorum)' });
  await exportForm.getByLabel('Key', { exact: true }).selectOption({ index: 1 });
  await exportForm.getByLabel('Recipient', { exact: true }).selectOption({ index: 1 });
  await expectAccessible(page, 'Keys, exporting a key for a recipient');
  custos.advance(30);
  await proposeIn('Export a key for a recipient (quorum)', 'export-requester', ada, 'Propose the export');
  await expect(page.getByRole('status')).toHaveCount(1);
  await expect(page.getByRole('status')).toContainText('Approvers confirm it on the Approvals screen');

  await page.keyboard.press('Alt+4');
  const card = page.locator('section[data-proposal]').first();
  await expect(card.getByRole('heading')).toContainText('Export a key wrapped for a recipient');
  await expect(card).toContainText('wrapped for the trusted recipient key');
  const fingerprint = await card.locator('code.fingerprint').innerText();
  custos.advance(30);
  await approve(fingerprint, babbage);
  await approve(fingerprint, curie);
  await expect(page.getByRole('status')).toContainText('The quorum was met');

  await openPage('Trusted recipients and packages');
  await page.getByRole('button', { name: 'Write the package for “shared-data”' }).click();
  await expect(page.getByRole('status')).toContainText('The package is written to');
  const written = (await page.getByRole('status').innerText()).match(/written to (\S+)\. /)![1]!;
  for (const name of ['package.json', 'package.sig', 'audit-key.pem'])
    expect(existsSync(join(written, name))).toBe(true);
});
