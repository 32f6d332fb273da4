import { ceremony } from './ceremony';
import { expectAccessible } from './axe';
import { expect, test } from './fixtures';
import { checkScreen } from './screens';

test('enrolled custodians custody a token 2-of-3, drill, generate an EC P-256 key, schedule its destruction and cancel it', async ({
  custos,
}) => {
  // About twenty scrypt derivations and a dozen token sessions, on a 2-core machine.
  test.setTimeout(180_000);
  const [ada, babbage, curie] = await custos.seedCustodians(['Ada', 'Babbage', 'Curie']);
  const page = await custos.open();
  // Each step of the ceremony happens a TOTP period after the last, as it would in a room.
  const { code, takeCustody, approve } = ceremony(page, custos.clock);

  custos.advance(30);
  await takeCustody('vault-q', [ada!, babbage!, curie!]);
  await expect(page.getByRole('status').filter({ hasText: 'is in custody, 2 of 3' })).toContainText(
    'Nobody has seen its PINs',
  );
  // Back to the list, where the token is now in custody.
  await page.getByRole('navigation', { name: 'Breadcrumb' }).getByRole('button', { name: 'Ceremonies' }).click();
  await expect(page.locator('#main')).toBeFocused();
  await expect(page.getByRole('row').filter({ hasText: 'vault-q' })).toContainText('Ada, Babbage, Curie');
  // SoftHSM2 takes 32-character PINs (190 bits): no strength warning.
  await expect(page.getByRole('row').filter({ hasText: 'vault-q' }).getByRole('note')).toHaveCount(0);
  await page.screenshot({ path: 'test-results/ceremonies-custody.png', fullPage: true });

  custos.advance(30);
  await page.keyboard.press('Alt+4');
  await page.locator('#requester-who').selectOption({ label: 'Ada' });
  await page.getByLabel('Ada’s passphrase').fill(ada!.passphrase);
  await page.getByLabel('Ada’s code').fill(code(ada!));
  await page.getByRole('button', { name: 'Propose' }).click();
  const fingerprint = await page.locator('code.fingerprint').first().innerText();
  expect(fingerprint).toMatch(/^[0-9a-f]{4}(-[0-9a-f]{4}){3}$/);

  await approve(fingerprint, babbage!, 'ffff-ffff-ffff-ffff');
  await expect(page.getByRole('alert').filter({ hasText: 'FINGERPRINT_MISMATCH' })).toBeVisible();
  await expectAccessible(page, 'Approvals, a refused approval');
  await approve(fingerprint, babbage!);
  await expect(page.getByRole('status')).toContainText('1 of 2 approvals are held');
  await approve(fingerprint, curie!);
  await expect(page.getByRole('status')).toContainText('The quorum was met and the operation ran once');
  await expect(page.getByRole('heading', { name: /Quorum drill on “vault-q” — executed/ })).toBeVisible();
  await expectAccessible(page, 'Approvals, the drill executed');

  // Generate an EC P-256 key with two approvals.
  custos.advance(30);
  await page.keyboard.press('Alt+2');
  // No key yet: the inventory says the next step, and it opens the form's own page.
  await page.getByRole('region', { name: 'Inventory' }).getByRole('button', { name: 'Propose a new key' }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'Propose a new key' })).toBeFocused();
  await page.getByLabel('Can be backed up').check();
  await expect(page.getByLabel(/accept that/)).not.toBeChecked();
  await page
    .getByRole('form', { name: 'Propose a new key' })
    .screenshot({ path: 'test-results/keys-propose-backupable.png' });
  await page.getByLabel('Can be backed up').uncheck();
  await page.getByLabel('Algorithm').selectOption('EC-P256');
  await page.getByLabel('Label', { exact: true }).fill('payments-signing');
  await page.locator('#gen-requester-who').selectOption({ label: 'Ada' });
  await page.getByLabel('Ada’s passphrase').fill(ada!.passphrase);
  await page.getByLabel('Ada’s code').fill(code(ada!));
  await page.getByRole('button', { name: 'Propose' }).click();
  await expect(page.getByRole('status')).toContainText(/Proposal [0-9a-f-]{19} is open/);
  await page.keyboard.press('Alt+4');
  const keyFingerprint = await page.locator('code.fingerprint').first().innerText();
  expect(keyFingerprint).not.toBe(fingerprint);
  custos.advance(30);
  await approve(keyFingerprint, babbage!);
  await expect(page.getByRole('status')).toContainText('1 of 2 approvals are held');
  await approve(keyFingerprint, curie!);
  await expect(page.getByRole('status')).toContainText('The quorum was met');
  await page.keyboard.press('Alt+2');
  const row = page.getByRole('row').filter({ hasText: 'payments-signing' });
  await expect(row).toContainText('EC-P256');
  await expect(row).toContainText('pre-activation');
  await expect(row).toContainText('becomes disallowed on 2036-01-01');
  await page.getByRole('button', { name: 'Export the public key of payments-signing as PEM' }).click();
  await expect(page.locator('pre').filter({ hasText: 'BEGIN PUBLIC KEY' })).toBeVisible();
  await expectAccessible(page, 'Keys, a public key exported');

  // Schedule its destruction, then cancel it: each a proposal with two approvals.
  const proposeOnKey = async (choice: string) => {
    custos.advance(30);
    await page.keyboard.press('Alt+2');
    await page.getByRole('button', { name: 'Change the state of payments-signing' }).click();
    await expect(page.getByRole('heading', { level: 1, name: 'Change the state of payments-signing' })).toBeFocused();
    const form = page.getByRole('form', { name: 'Change the state of payments-signing' });
    await form.getByLabel('Change').selectOption(choice);
    await form.locator('#key-actor-who').selectOption({ label: 'Ada' });
    await form.getByLabel('Ada’s passphrase').fill(ada!.passphrase);
    await form.getByLabel('Ada’s code').fill(code(ada!));
    await form.getByRole('button', { name: 'Propose' }).click();
    await expect(page.getByRole('status')).toContainText(/Proposal [0-9a-f-]{19} is open/);
    await page.keyboard.press('Alt+4');
    const next = await page.locator('code.fingerprint').first().innerText();
    custos.advance(30);
    for (const who of [babbage!, curie!]) {
      await approve(next, who);
      await expect(page.getByRole('status')).toContainText(
        who === curie ? 'The quorum was met' : '1 of 2 approvals are held',
      );
    }
    await page.keyboard.press('Alt+2');
  };
  await proposeOnKey('key.schedule-destruction');
  await expect(page.getByRole('row').filter({ hasText: 'payments-signing' })).toContainText('Destruction scheduled');
  await proposeOnKey('key.cancel-destruction');
  await expect(page.getByRole('row').filter({ hasText: 'payments-signing' })).not.toContainText(
    'Destruction scheduled',
  );
});

test('a key label the core refuses is said at the Label field, linked from the form’s error summary', async ({
  custos,
}) => {
  test.setTimeout(120_000);
  const [ada, babbage, curie] = await custos.seedCustodians(['Ada', 'Babbage', 'Curie']);
  const page = await custos.open();
  await page.setViewportSize({ width: 1280, height: 800 });
  const { code, takeCustody } = ceremony(page, custos.clock);
  custos.advance(30);
  await takeCustody('vault-l', [ada!, babbage!, curie!]);
  custos.advance(30);
  await page.keyboard.press('Alt+2');
  await page.getByRole('region', { name: 'Inventory' }).getByRole('button', { name: 'Propose a new key' }).click();
  const form = page.getByRole('form', { name: 'Propose a new key' });
  const label = form.getByLabel('Label', { exact: true });
  const propose = async (typed: string) => {
    await label.fill(typed);
    await form.locator('#gen-requester-who').selectOption({ label: 'Ada' });
    await form.getByLabel('Ada’s passphrase').fill(ada!.passphrase);
    await form.getByLabel('Ada’s code').fill(code(ada!));
    await form.getByRole('button', { name: 'Propose' }).click();
  };
  // Nothing filled in: what is missing is said before anything is sent (no browser pop-up, nobody's code spent).
  await label.fill('');
  await form.getByRole('button', { name: 'Propose' }).click();
  const missing = form.locator('.error-summary');
  await expect(missing).toBeFocused();
  await expect(missing.getByRole('link')).toHaveText([
    'Give the key a label',
    'Choose who proposes it',
    'Type the passphrase',
    'Type the 6-digit code the authenticator shows',
  ]);
  await expect(missing).not.toHaveAttribute('data-error-code');
  await missing.getByRole('link', { name: 'Give the key a label' }).press('Enter');
  await expect(label).toBeFocused();
  // A Cyrillic а (U+0430) among Latin letters: refused before anyone's factors are checked.
  const lookalike = 'p\u0430yments-root';
  await propose(lookalike);
  const summary = form.locator('[data-error-code="PROPOSAL_INVALID"]');
  await expect(summary).toBeFocused();
  await expect(summary).toContainText(`The key label “${lookalike}” mixes scripts`);
  await expect(summary.getByRole('listitem')).toContainText([
    'Choose a label of its own',
    'It has U+0430 ‘\u0430’ (Cyrillic) among Latin letters.',
  ]);
  // Said in the form, beside the field, not again at the top of the screen.
  await expect(page.getByText('Nothing was changed')).toHaveCount(0);
  await expect(label).toHaveAttribute('aria-invalid', 'true');
  await expect(label).toHaveAccessibleDescription(
    `The key label “${lookalike}” mixes scripts, ` + 'so it would read as another label on every screen and report.',
  );
  await checkScreen(page, '02-keys-propose-label-refused');
  await summary.getByRole('link', { name: 'Choose a label of its own' }).press('Enter');
  await expect(label).toBeFocused();

  custos.advance(30);
  await propose('payments-root');
  await expect(page.getByRole('status')).toContainText(/Proposal [0-9a-f-]{19} is open/);
  await expect(summary).toHaveCount(0);
  await expect(label).not.toHaveAttribute('aria-invalid');
  await expect(form.locator('#gen-label-error')).toHaveCount(0);
});

test('taking custody says what is missing and whose factors were refused, linked to that holder’s fields', async ({
  custos,
}) => {
  test.setTimeout(120_000);
  const [ada, babbage, curie] = await custos.seedCustodians(['Ada', 'Babbage', 'Curie']);
  const page = await custos.open();
  const { code, openCeremonyPage } = ceremony(page, custos.clock);
  custos.advance(30);
  await openCeremonyPage('Take a token into custody');
  const form = page.getByRole('form', { name: 'Take a token into custody' });
  const blank = await form.locator('#custody-token option', { hasText: 'Blank token' }).first().getAttribute('value');
  await form.locator('#custody-token').selectOption(blank!);
  // Nothing typed: no browser pop-up, nothing asked of the core; the summary names each holder's place.
  await form.getByRole('button', { name: 'Take into custody' }).click();
  const summary = form.getByRole('alert').filter({ hasText: 'There is a problem' });
  await expect(summary).toBeFocused();
  await expect(summary.getByRole('link')).toContainText([
    'Type a label for the token',
    'Share holder 1: choose who it is',
    'Share holder 2: type the passphrase',
    'Share holder 3: type the 6-digit code the authenticator shows',
  ]);
  await form.getByLabel('Label for the token').fill('vault-m');
  for (const [i, who] of [ada!, babbage!, curie!].entries()) {
    await form.locator(`#holder-${i}-who`).selectOption({ label: who.name });
    await form.getByLabel(`${who.name}’s passphrase`).fill(who.passphrase);
    // Babbage mistypes the code.
    await form.getByLabel(`${who.name}’s code`).fill(who === babbage ? '000000' : code(who));
  }
  await form.getByRole('button', { name: 'Take into custody' }).click();
  const refused = form.locator('[data-error-code="TOTP_INCORRECT"]');
  await expect(refused).toContainText('Babbage’s code is not the one');
  await expect(refused).toBeFocused();
  await expectAccessible(page, 'Ceremonies, a refused holder’s code in the custody form');
  await page.screenshot({ path: 'test-results/custody-refused.png', fullPage: true });
  await refused.getByRole('link', { name: 'Type the code the authenticator shows now' }).press('Enter');
  await expect(form.getByLabel('Babbage’s code')).toBeFocused();
  // Nothing was taken: the token is still offered as blank.
  await expect(form.locator('#custody-token option', { hasText: 'Blank token' })).not.toHaveCount(0);
});

test('turnover: the holders replace Ada with Dana; the new holder confirms and the token is re-dealt', async ({
  custos,
}) => {
  test.setTimeout(180_000);
  const [ada, babbage, curie, dana] = await custos.seedCustodians(['Ada', 'Babbage', 'Curie', 'Dana']);
  const page = await custos.open();
  const { code, takeCustody, approve, openCeremonyPage } = ceremony(page, custos.clock);
  custos.advance(30);
  await takeCustody('vault-t', [ada!, babbage!, curie!]);
  await expect(page.getByRole('status')).toContainText('is in custody, 2 of 3');

  custos.advance(30);
  await openCeremonyPage('Change the holders of a token');
  const form = page.getByRole('form', { name: 'Change the holders of a token' });
  await form.getByRole('checkbox', { name: 'Ada' }).uncheck();
  await form.getByRole('checkbox', { name: 'Dana' }).check();
  await expect(form.getByLabel('Approvals needed afterwards (t)')).toHaveValue('2');
  await form.locator('#turnover-requester-who').selectOption({ label: 'Ada' });
  await form.getByLabel('Ada’s passphrase').fill(ada!.passphrase);
  await form.getByLabel('Ada’s code').fill(code(ada!));
  await form.getByRole('button', { name: 'Propose the change' }).click();
  await expect(page.getByRole('status')).toContainText('every new holder confirms it');

  await page.keyboard.press('Alt+4');
  const card = page.locator('section[data-proposal]').first();
  await expect(card.getByRole('heading')).toContainText('Change of holders on “vault-t”');
  await expect(card).toContainText('Hand the token to Babbage, Curie, Dana: any 2 of the 3 open it.');
  const fingerprint = await card.locator('code.fingerprint').innerText();
  custos.advance(30);
  await approve(fingerprint, babbage!);
  await approve(fingerprint, curie!);
  await expect(page.getByRole('status')).toContainText('1 new holder(s) still to confirm');
  await expect(card).toContainText('New holders still to confirm');
  await expectAccessible(page, 'Approvals, a change of holders waiting for its new holder');
  await approve(fingerprint, dana!);
  await expect(page.getByRole('status')).toContainText('The quorum was met');

  await page.keyboard.press('Alt+3');
  await expect(page.getByRole('row').filter({ hasText: 'active' })).toContainText('Babbage, Curie, Dana');
  await expect(page.getByRole('row').filter({ hasText: 'superseded' })).toContainText('Ada, Babbage, Curie');
});

test('a custody left pending by a crash is settled by its holders from the Ceremonies screen', async ({ custos }) => {
  test.setTimeout(120_000);
  const [ada, babbage, curie] = await custos.seedCustodians(['Ada', 'Babbage', 'Curie']);
  const page = await custos.open();
  const { code, takeCustody } = ceremony(page, custos.clock);
  custos.advance(30);
  // What a crash between the token's new PINs and the entry that activates the custody leaves: the
  // record journaled, never activated (a database edit of its state would be refused as CUSTODY_TAMPERED).
  const audit = custos.core!.audit;
  const record = audit.record.bind(audit);
  audit.record = ((event, change) => {
    if (event.action !== 'custody.take') return record(event, change);
    audit.record = record;
    throw new Error('simulated crash');
  }) as typeof audit.record;
  await takeCustody('vault-s', [ada!, babbage!, curie!]);
  // Said as what happened: the token has its new PINs, the record is not written (not "nothing was changed").
  const unrecorded = page.locator('[data-error-code="OPERATION_UNRECORDED"]');
  await expect(unrecorded).toContainText('Done in the token, not yet on record');
  await expect(unrecorded).toContainText('The custody stays pending.');
  await page.reload();
  await page.keyboard.press('Alt+3');
  // The list says it first, and leads to the page that settles it.
  const waiting = page.getByRole('region', { name: 'Waiting for someone' });
  await expect(waiting).toContainText('A custody was interrupted: settle it before using “vault-s”.');
  await expectAccessible(page, 'Ceremonies, a custody to settle');
  await waiting.getByRole('button', { name: 'Settle the custody of “vault-s”' }).press('Enter');
  await expect(page.getByRole('heading', { level: 1, name: 'Settle an interrupted custody' })).toBeFocused();
  const form = page.getByRole('form', { name: 'Settle an interrupted custody' });
  await expect(form).toContainText('“vault-s” cannot be used until this is settled.');
  await expectAccessible(page, 'Ceremonies, the page that settles a custody');
  custos.advance(30);
  for (const [i, who] of [babbage!, curie!].entries()) {
    await form.locator(`#settle-${i}-who`).selectOption({ label: who.name });
    await form.getByLabel(`${who.name}’s passphrase`).fill(who.passphrase);
    await form.getByLabel(`${who.name}’s code`).fill(code(who));
  }
  await form.getByRole('button', { name: 'Settle this custody' }).click();
  await expect(page.getByRole('status')).toContainText('it is now the active custody of “vault-s”');
  await expect(page.getByText('Nothing to settle: no custody was interrupted.')).toBeVisible();
  await page.getByRole('button', { name: 'Back to Ceremonies' }).click();
  await expect(page.getByRole('region', { name: 'Waiting for someone' })).toHaveCount(0);
  await expect(page.getByRole('row').filter({ hasText: 'vault-s' })).toContainText('active');
});
