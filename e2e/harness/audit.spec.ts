import Database from 'better-sqlite3';
import { join } from 'node:path';
import { expectAccessible } from './axe';
import { expect, test } from './fixtures';
import { checkScreen } from './screens';

test('the audit screen lists thousands of entries, moves by keyboard and shows an entry with its proofs', async ({
  custos,
}) => {
  custos.seedAudit(3000);
  const page = await custos.open();
  await page.keyboard.press('Alt+5');
  await expect(page.getByRole('heading', { level: 1, name: 'Audit log' })).toBeVisible();
  await expect(page.getByRole('heading', { name: /Entries/ })).toContainText(/3,00\d matching/);
  const grid = page.getByRole('grid', { name: 'Audit entries' });
  await grid.focus();
  await page.keyboard.press('End');
  await expect(grid.getByRole('row', { selected: true })).toContainText(
    /app\.open|token\.|ceremony\.rehearsal\.status/,
  );
  await page.keyboard.press('Home');
  await expect(grid.getByRole('row', { selected: true })).toContainText('audit.key.create');
  await page.keyboard.press('ArrowDown');
  await page.keyboard.press('ArrowDown');
  await page.keyboard.press('Enter');
  await expect(page.getByRole('heading', { name: 'Entry 2: token.list' })).toBeFocused();
  await expect(page.getByText(/^Signature verified with audit key [0-9a-f]{8}$/)).toBeVisible();
  await expect(page.getByText(/^Included in the log of \d+ entries \(proof verified/)).toBeVisible();
  await expectAccessible(page, 'Audit, an entry open');
});

test('filters by action through the index', async ({ custos }) => {
  custos.seedAudit(300);
  const page = await custos.open();
  await page.keyboard.press('Alt+5');
  await page.getByLabel('Action').fill('token.select');
  await page.getByLabel('Action').press('Enter');
  await expect(page.getByRole('heading', { name: /Entries/ })).toContainText('(100 matching)');
  await expect(page.getByRole('grid').getByRole('row').nth(1)).toContainText('token.select');
});

test('verify now shows progress and the verdict; a checkpoint can be signed and printed', async ({ custos }) => {
  custos.seedAudit(200);
  const page = await custos.open();
  await page.keyboard.press('Alt+5');
  await page.getByRole('button', { name: 'Verify now' }).click();
  await expect(page.getByRole('status').filter({ hasText: 'Audit log verified' })).toContainText(
    /every signature and checkpoint good/,
  );
  await page.getByRole('button', { name: 'Sign a checkpoint now' }).click();
  await expect(page.locator('pre.checkpoint')).toContainText(
    /^custos\.local\/audit\/[0-9a-f]{16}\n\d+\n[A-Za-z0-9+/]{43}=\n\n\u2014 /,
  );
});

test('a database whose schema was changed behind Custos’s back is refused at start, saying what differs', async ({
  custos,
}) => {
  custos.seedAudit(5);
  const db = new Database(join(custos.dataDir, 'custos.db'));
  db.exec('DROP TRIGGER audit_entries_no_update');
  db.close();
  const page = await custos.open();
  await expect(page.getByRole('heading', { name: 'Custos could not start' })).toBeVisible();
  await expect(page.getByRole('alert')).toContainText('STORE_SCHEMA_ALTERED');
  await expect(page.getByRole('alert')).toContainText('trigger audit_entries_no_update');
  await checkScreen(page, '05-audit-schema-altered');
});

test('a log edited behind Custos’s back fails verification and names the entry', async ({ custos }) => {
  custos.seedAudit(50);
  const db = new Database(join(custos.dataDir, 'custos.db'));
  // The append-only guard dropped for the edit and put back as it was (left dropped, Custos would not start).
  const guard = db.prepare("SELECT sql FROM sqlite_schema WHERE name = 'audit_entries_no_update'").pluck().get();
  db.exec('DROP TRIGGER audit_entries_no_update');
  db.prepare("UPDATE audit_entries SET entry = replace(entry, 'seed-20', 'seed-99') WHERE seq = 21").run();
  db.exec(guard as string);
  db.close();
  const page = await custos.open();
  await page.keyboard.press('Alt+5');
  await page.getByRole('button', { name: 'Verify now' }).click();
  const alert = page.getByRole('alert').filter({ hasText: 'FAILED verification' });
  await expect(alert).toContainText('At entry 21 (edited)');
  await expectAccessible(page, 'Audit, a failed verification');
});
