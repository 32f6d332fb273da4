import AxeBuilder from '@axe-core/playwright';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { totpCodeAt } from '../../electron/core/custodians/totp';
import { auditKeyFingerprint } from '../../electron/core/backup/manifest-authenticity';
import { backupInstallation } from '../../electron/core/testing/backup-installation';
import { tempDataDir } from '../../electron/core/testing/softhsm-fixture';
import { ceremony, type Person } from './ceremony';
import { expect, test } from './fixtures';

/** Installation 1, made through the core: two keys backed up 2 of 3, then the workstation is gone. */
async function lostWorkstation() {
  const { dataDir, cleanup } = tempDataDir('custos-e2e-lost-');
  const one = await backupInstallation(dataDir);
  try {
    const ec = await one.generate('EC-P256', 'sign', 'payments');
    const aes = await one.generate('AES-256', 'encrypt', 'vault-aes');
    const setId = await one.backUp([ec, aes]);
    return {
      setId,
      ec,
      aes,
      file: one.backups.exportFile(setId),
      cards: one.backups.printableCards(setId).map((c) => c.text),
      pem: one.inventory.exportPublic(ec, 'pem'),
      kcv: one.inventory.get(aes).kcv,
      auditKey: auditKeyFingerprint(one.f.opened.audit.noteKey()!.publicKey),
    };
  } finally {
    one.close();
    cleanup();
  }
}

test('the lost-workstation drill: installation 2 imports installation 1’s backup and restores it in the app with two cards', async ({
  custos,
}) => {
  test.setTimeout(300_000);
  const made = await lostWorkstation();

  // Installation 2 from nothing: its own data directory, audit token, custodians and custody token.
  type Seeded = Person & { id: string };
  const [ada, babbage, curie] = (await custos.seedCustodians(['Ada', 'Babbage', 'Curie'])) as [Seeded, Seeded, Seeded];
  const page = await custos.open();
  const { takeCustody, approve, proposeIn, openCeremonyPage } = ceremony(page, custos.clock);
  custos.advance(30);
  await takeCustody('new-vault', [ada, babbage, curie]);
  await expect(page.getByRole('status')).toContainText('is in custody, 2 of 3');
  const core = custos.core!;

  // The backup file is handed over on a USB stick; the fingerprint is copied from installation 1's printout.
  custos.backupFileChoice.path = join(custos.dataDir, 'set.json');
  writeFileSync(custos.backupFileChoice.path, made.file);
  await openCeremonyPage('Import a backup file');
  const importForm = page.getByRole('form', { name: 'Import a backup file' });
  const keyField = importForm.getByLabel('Audit key fingerprint from the printed report (optional)');
  const copied = (key: string) => key.toUpperCase().match(/.{4}/g)!.join(' ');
  const importByKeyboard = async (key: string) => {
    await keyField.fill(copied(key));
    await page.keyboard.press('Tab');
    await expect(importForm.getByRole('button', { name: 'Choose the backup file…' })).toBeFocused();
    await page.keyboard.press('Enter');
  };
  // A fingerprint that is not installation 1's: refused, said with its code and remedy, nothing stored.
  await importByKeyboard(made.auditKey.replace(/^./, made.auditKey.startsWith('0') ? '1' : '0'));
  const refusal = importForm.getByRole('alert');
  await expect(refusal).toHaveAttribute('data-error-code', 'BACKUP_AUDIT_KEY_MISMATCH');
  await expect(refusal).toContainText('Nothing was imported');
  await expect(refusal.getByRole('listitem')).toContainText('Check the fingerprint against the report or printout');
  await expect(importForm.locator('.answer')).toBeFocused();
  expect(core.backups.list()).toEqual([]);

  await importByKeyboard(made.auditKey);
  const answer = importForm.locator('.answer');
  await expect(answer).toBeFocused();
  await expect(answer).toContainText(`another installation, audit key ${made.auditKey.match(/.{4}/g)!.join(' ')}`);
  await expect(answer).toContainText('Signed by the audit key you entered');
  await expect(answer).toContainText('payments (EC-P256), vault-aes (AES-256)');
  expect(core.backups.list()).toMatchObject([{ setId: made.setId, madeBy: { auditKey: made.auditKey, here: false } }]);
  await page.screenshot({ path: '/tmp/custos-backup-imported.png', fullPage: true });
  await importForm.screenshot({ path: '/tmp/custos-backup-imported-card.png' });
  const axe = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']).analyze();
  expect(axe.violations.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`)).toEqual([]);

  // The answer leads to the next step's page.
  await answer.getByRole('button', { name: 'propose the restore' }).press('Enter');
  await expect(page.getByRole('heading', { level: 1, name: 'Restore a backup' })).toBeFocused();
  const restoreForm = page.getByRole('form', { name: 'Restore a backup' });
  await expect(restoreForm.locator('#restore-set option')).toHaveText([/from source: payments, vault-aes/]);
  const target = await restoreForm.locator('#restore-custody option', { hasText: 'new-vault' }).getAttribute('value');
  await restoreForm.locator('#restore-custody').selectOption(target!);
  custos.advance(30);
  await proposeIn('Restore a backup', 'restore-requester', ada, 'Propose the restore');
  await page.keyboard.press('Alt+4');
  const restoreCard = page.locator('section[data-proposal]').first();
  await expect(restoreCard.getByRole('heading')).toContainText('Restore a backup on “new-vault”');
  const fingerprint = await restoreCard.locator('code.fingerprint').innerText();
  custos.advance(30);
  await approve(fingerprint, babbage);
  await approve(fingerprint, curie);
  const entry = restoreCard.getByLabel(/Share card \(type the groups/);
  await entry.fill(made.cards[0]!);
  await restoreCard.getByRole('button', { name: 'Check and enter this card' }).click();
  await expect(page.getByRole('status')).toContainText('Card accepted. Still needed: 1 more share card');
  await entry.fill(made.cards[2]!);
  await restoreCard.getByRole('button', { name: 'Check and enter this card' }).click();
  await expect(page.getByRole('status')).toContainText('The backup was restored and every key proven');

  // Every key proven on installation 2: the MAC was verified with the cards, the AES check value
  // measured in the new token is installation 1's, the public key is the same, and a signature made
  // here verifies with openssl against the PEM installation 1 exported.
  const restore = core.quorum.view((await restoreCard.getAttribute('data-proposal'))!);
  const result = (
    restore.outcome as { result: { authentication: string; keys: { keyId: string; kcv: string | null }[] } }
  ).result;
  expect(result.authentication).toBe('kek-mac-verified');
  expect(result.keys.find((k) => k.keyId === made.aes)!.kcv).toBe(made.kcv);
  expect(
    core.keys
      .list()
      .map((k) => [k.label, k.token.label])
      .sort(),
  ).toEqual([
    ['payments', 'new-vault'],
    ['vault-aes', 'new-vault'],
  ]);
  expect(core.keys.exportPublic(made.ec, 'pem')).toBe(made.pem);
  const factors = (who: Seeded) => ({
    custodianId: who.id,
    passphrase: who.passphrase,
    code: totpCodeAt(who.secret, custos.clock.now),
  });
  const decide = async (action: string, params: Record<string, unknown>) => {
    custos.advance(30);
    const proposed = await core.router.dispatch('proposals.create', {
      custodyId: target!,
      action,
      params,
      requester: factors(ada),
    } as never);
    if (!proposed.ok) throw new Error(proposed.error.message);
    const proposal = proposed.value as { id: string; shortFingerprint: string };
    for (const who of [babbage, curie]) {
      custos.advance(30);
      await core.router.dispatch('proposals.approve', {
        proposalId: proposal.id,
        fingerprint: proposal.shortFingerprint,
        approver: factors(who),
      });
    }
    return core.quorum.view(proposal.id);
  };
  await decide('key.activate', { keyId: made.ec });
  const challenge = 'lost-workstation drill, installation 2';
  const signed = await decide('key.test-signature', { keyId: made.ec, challenge });
  const files = {
    pem: join(custos.dataDir, 'payments-1.pem'),
    msg: join(custos.dataDir, 'msg'),
    sig: join(custos.dataDir, 'sig'),
  };
  writeFileSync(files.pem, made.pem);
  writeFileSync(files.msg, challenge);
  writeFileSync(
    files.sig,
    Buffer.from((signed.outcome as { result: { signature: string } }).result.signature, 'base64'),
  );
  expect(
    execFileSync('openssl', ['dgst', '-sha256', '-verify', files.pem, '-signature', files.sig, files.msg], {
      encoding: 'utf8',
    }),
  ).toContain('Verified OK');
});
