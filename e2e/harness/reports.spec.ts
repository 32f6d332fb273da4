import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ceremony, generateKeys, type Person } from './ceremony';
import { expectAccessible } from './axe';
import { expect, test } from './fixtures';
import { opensslVerifyReport } from '../../electron/core/testing/openssl';

test('after a generation ceremony, its signed report is made and verifies; the dashboard lists SoftHSM2 as a software token, not validated', async ({
  custos,
}) => {
  test.setTimeout(180_000);
  const [ada, babbage, curie] = (await custos.seedCustodians(['Ada', 'Babbage', 'Curie'])) as (Person & {
    id: string;
  })[];
  const page = await custos.open();
  const { takeCustody } = ceremony(page, custos.clock);
  custos.advance(30);
  await takeCustody('vault-r', [ada!, babbage!, curie!]);
  await expect(page.getByRole('status')).toContainText('is in custody, 2 of 3');
  await generateKeys(custos, { proposer: ada!, approvers: [babbage!, curie!] }, [
    { algorithm: 'EC-P256', label: 'reported-key', usage: 'sign', backupable: false },
  ]);

  await page.reload();
  await page.keyboard.press('Alt+6');
  await expect(page.getByRole('heading', { level: 1, name: 'Reports and compliance' })).toBeVisible();
  // The list says where each part stands; compliance first.
  const compliancePart = page.getByRole('region', { name: 'Compliance', exact: true });
  await expect(compliancePart).toContainText(/\d+ finding\(s\) \(\d+ critical or high\) as of \d{4}-\d\d-\d\d/);
  await expectAccessible(page, 'Reports, the list of its pages');
  await compliancePart.getByRole('button', { name: 'Open compliance' }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'Compliance' })).toBeFocused();
  const findings = page.getByRole('list', { name: 'Findings' });
  await expect(findings).toContainText(/SoftHSM.* is a software token \(SoftHSM2\), not a FIPS 140-3 validated HSM/);
  await expect(findings).toContainText('never counts as validated');
  await expect(page.getByRole('img', { name: /Keys by state: pre-activation 1/ })).toBeVisible();
  await expect(page.getByRole('img', { name: /Expiry timeline: reported-key/ })).toBeVisible();
  await expectAccessible(page, 'Reports, compliance');

  await page.getByRole('navigation', { name: 'Breadcrumb' }).getByRole('button', { name: 'Reports' }).click();
  await page
    .getByRole('region', { name: 'Signed reports' })
    .getByRole('button', { name: 'Open signed reports' })
    .click();
  await expect(page.getByRole('heading', { level: 1, name: 'Signed reports' })).toBeFocused();
  const witness = page.getByRole('form', { name: 'Witness sign-off' });
  await witness.getByLabel('Witness’s name').fill('Grace Hopper');
  await witness.getByLabel('In what capacity').fill('Internal audit');
  await witness.getByRole('button', { name: 'Record the sign-off' }).click();
  await expect(page.getByRole('status')).toContainText('Grace Hopper (Internal audit) signed off');
  await page.getByRole('button', { name: /Make the signed report of Generate a key/ }).click();
  const status = page.getByRole('status');
  await expect(status).toContainText(/Report [0-9a-f]{16} is signed/);
  const reportId = /Report ([0-9a-f]{16})/.exec((await status.innerText()) ?? '')![1]!;
  const dir = join(custos.dataDir, 'reports', reportId);
  expect(readdirSync(dir).sort()).toEqual([
    'audit-key.pem',
    'report-pdf.json',
    'report-pdf.sig',
    'report.json',
    'report.pdf',
    'report.sig',
  ]);
  // openssl, sharing no code with Custos, checks the signature over the report's exact bytes.
  expect(opensslVerifyReport(dir)).toContain('Signature Verified Successfully');
  await expect(page.getByRole('list', { name: 'Reports made' })).toContainText(reportId);
  await expectAccessible(page, 'Reports, a signed report made');
  const report = JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')) as {
    witnesses: { name: string }[];
    participants: { name: string }[];
  };
  expect(report.witnesses.map((w) => w.name)).toEqual(['Grace Hopper']);
  expect(report.participants.map((p) => p.name)).toEqual(['Ada', 'Babbage', 'Curie']);

  // The date can be moved to see what changes: the key's algorithm is disallowed from 2036.
  await page.getByRole('navigation', { name: 'Breadcrumb' }).getByRole('button', { name: 'Reports' }).click();
  await page.getByRole('button', { name: 'Open compliance' }).click();
  await page.getByLabel('Look at another date (YYYY-MM-DD)').fill('2036-01-02');
  await page.getByRole('button', { name: 'Analyse' }).click();
  await expect(findings).toContainText('uses EC-P256, disallowed as of 2036-01-02');
});
