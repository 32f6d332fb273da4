import { PRACTICE_STATEMENT_SECTIONS } from '../../electron/core/compliance/practice-statement';
import { approvedAction, ceremony, generateKeys, type Person } from './ceremony';
import { expect, test } from './fixtures';
import { expectAccessible } from './axe';
import { checkScreen } from './screens';

test.use({ viewport: { width: 1280, height: 800 } });

test('a new installation: every screen passes axe and its empty states say the next step', async ({ custos }) => {
  test.setTimeout(120_000);
  const page = await custos.open();
  await expect(page.getByRole('heading', { level: 1, name: 'Tokens' })).toBeVisible();
  await checkScreen(page, '01-tokens-new');

  await page.keyboard.press('Alt+2');
  await expect(page.getByRole('heading', { level: 2 })).toHaveText(['Inventory', 'Actions']);
  await expect(page.getByRole('region', { name: 'Inventory' })).toContainText('no token is in custody yet');
  // Proposing a key waits for a token in custody, and says so; what needs no token is a button to its page.
  const keyActions = page.getByRole('region', { name: 'Actions' });
  await expect(keyActions.getByRole('listitem').filter({ hasText: 'Propose a new key' })).toContainText(
    'Needs a token in custody first',
  );
  await expect(keyActions.getByRole('button')).toHaveText([
    'Trusted recipients and packages',
    'Trust a recipient key (security officer)',
    'Receive a package wrapped for one of our keys',
  ]);
  await checkScreen(page, '02-keys-empty');
  await page.getByRole('button', { name: 'Go to Ceremonies' }).press('Enter');
  await expect(page.getByRole('heading', { level: 1, name: 'Ceremonies' })).toBeVisible();
  await expect(page.getByText('no custodian is enrolled with the custodian role')).toBeVisible();
  // Each action says why it cannot be used yet; the one needing nobody is a button.
  const actions = page.getByRole('region', { name: 'Ad-hoc actions' });
  await expect(actions.getByRole('listitem').filter({ hasText: 'Take a token into custody' })).toContainText(
    'Needs two custodians enrolled with the custodian role',
  );
  await expect(actions.getByRole('button')).toHaveText(['Import a backup file', 'Check a share card']);
  await checkScreen(page, '03-ceremonies-empty');
  await page.getByRole('button', { name: 'Go to Custodians' }).press('Enter');
  await expect(page.getByRole('heading', { name: 'Set up Custos: enrol its first security officer' })).toBeVisible();
  await checkScreen(page, '07-custodians-setup');

  await page.keyboard.press('Alt+4');
  await expect(page.getByRole('heading', { name: 'Waiting for approval (0)' })).toBeVisible();
  await expect(page.getByRole('button', { name: 'Go to Ceremonies' })).toBeVisible();
  await checkScreen(page, '04-approvals-empty');
  await page.keyboard.press('Alt+6');
  await expect(page.getByRole('heading', { level: 2 })).toHaveText([
    'Signed reports',
    'Compliance',
    'Practice statement',
  ]);
  await checkScreen(page, '06-reports-empty');
  await page.getByRole('button', { name: 'Open signed reports' }).press('Enter');
  await expect(page.getByRole('heading', { level: 1, name: 'Signed reports' })).toBeFocused();
  await expect(page.getByRole('button', { name: 'Go to Approvals' })).toBeVisible();
  await checkScreen(page, '06-reports-signed-empty');
  await page.keyboard.press('Alt+6');
  await page.getByRole('button', { name: 'Open compliance' }).press('Enter');
  await expect(page.getByText('No keys yet, so there is nothing to chart.')).toBeVisible();
  await expectAccessible(page, 'Reports, compliance of a new installation');
  await page.keyboard.press('Alt+8');
  await expect(page.getByRole('button', { name: 'Go to Custodians' })).toBeVisible();
  await checkScreen(page, '08-settings');
  await page.keyboard.press('Alt+9');
  await expect(page.getByRole('heading', { level: 1, name: 'Certificates' })).toBeVisible();
  await expect(page.getByText('no token is in custody yet')).toBeVisible();
  await expect(page.getByRole('button', { name: 'Go to Ceremonies' })).toBeVisible();
  await expect(page.getByRole('region', { name: 'Certificate ceremonies' }).getByRole('button')).toHaveCount(0);
  await checkScreen(page, '09-certificates-empty');

  // The skip link is the first stop, and it leads to the screen itself.
  await page.reload();
  await expect(page.getByRole('heading', { level: 1, name: 'Tokens' })).toBeVisible();
  await page.keyboard.press('Tab');
  await expect(page.getByRole('link', { name: 'Skip to the screen’s content' })).toBeFocused();
  await page.keyboard.press('Enter');
  await expect(page.locator('#main')).toBeFocused();
});

test('a 2-of-3 approval by keyboard alone; reject and cancel close proposals as what they are; every screen in use passes axe', async ({
  custos,
}) => {
  test.setTimeout(300_000);
  const [ada, babbage, curie] = (await custos.seedCustodians(['Ada', 'Babbage', 'Curie'])) as [
    Person & { id: string },
    Person & { id: string },
    Person & { id: string },
  ];
  const page = await custos.open();
  const { code, takeCustody, proposeIn } = ceremony(page, custos.clock);
  custos.advance(30);
  await takeCustody('vault-k', [ada, babbage, curie]);
  await expect(page.getByRole('status')).toContainText('is in custody, 2 of 3');
  await expect(page.locator('.outcome')).toBeFocused();

  // Keyboard only from here: Alt+4, Tab, typing and Enter; no clicks.
  custos.advance(30);
  const keys = page.keyboard;
  await keys.press('Alt+4');
  await expect(page.locator('#main')).toBeFocused();
  await page.getByLabel('Token', { exact: true }).waitFor();
  for (let i = 0; i < 2; i++) await keys.press('Tab');
  await expect(page.locator('#requester-who')).toBeFocused();
  await keys.type('Ada');
  await keys.press('Tab');
  await keys.type(ada.passphrase);
  await keys.press('Tab');
  await keys.type(code(ada));
  await keys.press('Enter');
  await expect(page.getByRole('status')).toContainText(/Proposal [0-9a-f-]{19} is open/);
  await expect(page.locator('.outcome')).toBeFocused();
  const fingerprint = await page.locator('code.fingerprint').first().innerText();
  const proposal = page.locator('section[data-proposal]').first();
  await checkScreen(page, '04-approvals-open');

  custos.advance(30);
  for (const [who, outcome] of [
    [babbage, '1 of 2 approvals are held'],
    [curie, 'The quorum was met and the operation ran once'],
  ] as const) {
    // From the result, the next Tab reaches the waiting proposal's form, empty for this approver.
    await keys.press('Tab');
    const typed = proposal.getByLabel('Fingerprint as read aloud to you');
    await expect(typed).toBeFocused();
    await expect(typed).toHaveValue('');
    await expect(proposal.getByRole('combobox', { name: 'Who' })).toHaveValue('');
    await keys.type(fingerprint);
    await keys.press('Tab');
    await keys.type(who.name);
    await keys.press('Tab');
    await expect(proposal.getByLabel(`${who.name}’s passphrase`)).toBeFocused();
    await keys.type(who.passphrase);
    await keys.press('Tab');
    await keys.type(code(who));
    await keys.press('Enter');
    await expect(page.getByRole('status')).toContainText(outcome, { timeout: 60_000 });
    await expect(page.locator('.outcome')).toBeFocused();
  }
  await expect(
    page
      .getByRole('region', { name: /Closed proposals/ })
      .getByRole('heading', { name: /Quorum drill on “vault-k” — executed/ }),
  ).toBeVisible();
  await expect(page.getByText(/^Approved by (Babbage, Curie|Curie, Babbage)$/)).toBeVisible();

  // A mistake is summarised at the top of the form, focused, with a link to the field.
  custos.advance(30);
  await proposeIn('Propose a quorum drill', 'requester', ada, 'Propose');
  await expect(page.getByRole('status')).toContainText('is open');
  const second = page.locator('section[data-proposal]').first();
  await second.getByRole('button', { name: 'Approve' }).click();
  const summary = second.getByRole('alert');
  await expect(summary).toBeFocused();
  await expect(summary.getByRole('link', { name: 'Type the fingerprint read aloud to you' })).toBeVisible();
  await checkScreen(page, '04-approvals-error-summary');
  await summary.getByRole('link', { name: 'Type the fingerprint read aloud to you' }).press('Enter');
  await expect(second.getByLabel('Fingerprint as read aloud to you')).toBeFocused();

  // Babbage heard a different fingerprint: he rejects it with both factors, and must say why.
  await second.getByText('Reject or cancel this proposal').click();
  const stop = second.getByRole('form', { name: /Reject or cancel proposal/ });
  await stop.locator('select').selectOption({ label: 'Babbage' });
  await stop.getByLabel('Babbage’s passphrase').fill(babbage.passphrase);
  await stop.getByLabel('Babbage’s code').fill(code(babbage));
  await stop.getByRole('button', { name: 'Reject this proposal' }).click();
  const noReason = stop.getByRole('alert');
  await expect(noReason).toBeFocused();
  await noReason.getByRole('link', { name: 'Say why it should not go ahead' }).press('Enter');
  await expect(stop.getByLabel('Why it should not go ahead')).toBeFocused();
  const why = 'The fingerprint read aloud ended 7a8c, not what this screen shows';
  await stop.getByLabel('Why it should not go ahead').fill(why);
  await checkScreen(page, '04-approvals-reject');
  await stop.getByRole('button', { name: 'Reject this proposal' }).click();
  await expect(page.getByRole('status')).toContainText('is rejected', { timeout: 60_000 });
  await expect(page.locator('.outcome')).toBeFocused();
  await expect(page.getByRole('heading', { name: /Quorum drill on “vault-k” — rejected/ })).toBeVisible();
  await expect(page.getByText('Rejected by an approver: nothing was done.')).toBeVisible();
  const rejectedCard = page.locator('section.proposal-rejected');
  await expect(rejectedCard.locator('dt', { hasText: 'Rejected by' }).locator('+ dd')).toContainText(
    /^Babbage, \d{4}-/,
  );
  await expect(rejectedCard.locator('dt', { hasText: 'Why' }).locator('+ dd')).toHaveText(why);

  // Ada proposes again and withdraws it herself.
  custos.advance(30);
  await proposeIn('Propose a quorum drill', 'requester', ada, 'Propose');
  await expect(page.getByRole('status')).toContainText('is open');
  const third = page.locator('section[data-proposal]').first();
  await third.getByText('Reject or cancel this proposal').click();
  const withdraw = third.getByRole('form', { name: /Reject or cancel proposal/ });
  await withdraw.locator('select').selectOption({ label: 'Ada' });
  custos.advance(30);
  await withdraw.getByLabel('Ada’s passphrase').fill(ada.passphrase);
  await withdraw.getByLabel('Ada’s code').fill(code(ada));
  await withdraw.getByRole('button', { name: 'Cancel my proposal' }).click();
  await expect(page.getByRole('status')).toContainText('is cancelled by its proposer', { timeout: 60_000 });
  await expect(page.getByRole('heading', { name: 'Waiting for approval (0)' })).toBeVisible();
  await expect(page.getByRole('heading', { name: /Quorum drill on “vault-k” — cancelled/ })).toBeVisible();
  const cancelledCard = page.locator('section.proposal-cancelled');
  await expect(cancelledCard.locator('dt', { hasText: 'Cancelled by' }).locator('+ dd')).toContainText(/^Ada, /);
  await expect(cancelledCard.locator('dt', { hasText: 'Why' }).locator('+ dd')).toHaveText('No reason given.');
  await checkScreen(page, '04-approvals-closed');

  // Keys, with a public key exported beside its name.
  await generateKeys(custos, { proposer: ada, approvers: [babbage, curie] }, [
    { algorithm: 'EC-P256', label: 'payments-signing', usage: 'sign', backupable: false },
  ]);
  await page.reload();
  await page.keyboard.press('Alt+2');
  await page.getByRole('button', { name: 'Export the public key of payments-signing as PEM' }).click();
  const pem = page.getByRole('figure', { name: /Public key of payments-signing \(EC-P256/ });
  await expect(pem).toContainText('BEGIN PUBLIC KEY');
  await expect(pem).toBeFocused();
  await checkScreen(page, '02-keys');
  // A key's actions are reached from its row; each opens its own page.
  await page.getByRole('button', { name: 'Change the state of payments-signing' }).press('Enter');
  await expect(page.getByRole('heading', { level: 1, name: 'Change the state of payments-signing' })).toBeFocused();
  const stateForm = page.getByRole('form', { name: 'Change the state of payments-signing' });
  await expect(stateForm).toContainText('payments-signing is pre-activation');
  // Only what a pre-activation key allows is offered; the rest is named with why.
  await expect(stateForm.getByLabel('Change').locator('option')).toHaveText([
    'Activate (quorum)',
    'Schedule destruction (quorum)',
    'Mark compromised now (one security officer, emergency)',
  ]);
  await expect(stateForm.getByRole('listitem').filter({ hasText: 'Reactivate after suspension' })).toContainText(
    'A pre-activation key cannot be made active (SP 800-57 allows it only from suspended).',
  );
  // Nothing typed: what is missing is said, and nothing is sent.
  await stateForm.getByRole('button', { name: 'Propose' }).click();
  const missing = stateForm.locator('.error-summary');
  await expect(missing).toBeFocused();
  await expect(missing.getByRole('link')).toHaveText([
    'Choose who proposes it',
    'Type the passphrase',
    'Type the 6-digit code the authenticator shows',
  ]);
  // Another change asks for other things: the summary goes with the choice it was about.
  await stateForm.getByLabel('Change').selectOption('key.schedule-destruction');
  await stateForm.getByLabel('Change').selectOption('key.activate');
  await expect(missing).toHaveCount(0);
  await checkScreen(page, '02-keys-change-state');
  await page.keyboard.press('Alt+2');
  await page.getByRole('region', { name: 'Actions' }).getByRole('button', { name: 'Propose a new key' }).press('Enter');
  await expect(page.getByRole('heading', { level: 1, name: 'Propose a new key' })).toBeFocused();
  await checkScreen(page, '02-keys-propose');

  await page.keyboard.press('Alt+1');
  await checkScreen(page, '01-tokens');
  await page.keyboard.press('Alt+3');
  // The list first: ceremony scripts, the tokens in custody, then the actions this state allows, each on its own page.
  await expect(page.getByRole('heading', { level: 2 })).toHaveText([
    'Ceremony scripts',
    'Tokens in custody',
    'Ad-hoc actions',
  ]);
  await expect(page.getByRole('row').filter({ hasText: 'vault-k' })).toContainText('Ada, Babbage, Curie');
  await expect(page.getByRole('region', { name: 'Ad-hoc actions' }).getByRole('button')).toHaveText([
    'Take a token into custody',
    'Change the holders of a token',
    'Back up keys',
    'Import a backup file',
    'Check a share card',
  ]);
  await checkScreen(page, '03-ceremonies');
  await page.getByRole('button', { name: 'Change the holders of a token' }).press('Enter');
  await expect(page.getByRole('heading', { level: 1, name: 'Change the holders of a token' })).toBeFocused();
  const breadcrumb = page.getByRole('navigation', { name: 'Breadcrumb' });
  await expect(breadcrumb.getByRole('listitem')).toHaveText(['Ceremonies', 'Change the holders of a token']);
  await checkScreen(page, '03-ceremonies-change-holders');
  // Back to the list by keyboard: the breadcrumb is the first stop after the page's title.
  await page.keyboard.press('Shift+Tab');
  await expect(breadcrumb.getByRole('button', { name: 'Ceremonies' })).toBeFocused();
  await page.keyboard.press('Enter');
  await expect(page.getByRole('heading', { level: 1, name: 'Ceremonies' })).toBeVisible();
  await expect(page.locator('#main')).toBeFocused();

  // The audit list names people and keys; one switch hides the reads.
  await page.keyboard.press('Alt+5');
  const grid = page.getByRole('grid', { name: 'Audit entries' });
  await page.getByLabel('Action').fill('proposal.');
  await page.getByLabel('Action').press('Enter');
  const rejected = grid.getByRole('row').filter({ hasText: 'proposal.reject' });
  await expect(rejected).toContainText('Babbage');
  await expect(rejected).toContainText('(Quorum drill)');
  // A column cuts long text; the whole of it is the cell's title (and in the entry's detail).
  await expect(rejected.getByRole('gridcell').nth(3)).toHaveAttribute('title', 'proposal.reject');
  await expect(grid).not.toContainText(babbage.id);
  await page.getByLabel('Action').fill('');
  await page.getByLabel('Action').press('Enter');
  await expect(grid).toContainText('custody.list');
  await page.getByRole('switch', { name: /Hide reads/ }).check();
  await expect(page.getByRole('heading', { name: /Entries/ })).not.toContainText(/\(\d{3,} matching\)/);
  await expect(grid).not.toContainText('custody.list');
  await page.getByLabel('From (UTC)').fill('31/01/2026');
  await page.getByRole('button', { name: 'Apply filters' }).click();
  await expect(page.getByRole('alert')).toContainText('Write the date as YYYY-MM-DD');
  await page.getByLabel('From (UTC)').fill('');
  await grid.focus();
  await page.keyboard.press('Enter');
  await expect(page.getByRole('heading', { name: /^Entry \d+:/ })).toBeFocused();
  await checkScreen(page, '05-audit');

  await page.keyboard.press('Alt+6');
  await checkScreen(page, '06-reports');
  await page.getByRole('button', { name: 'Open compliance' }).press('Enter');
  await expect(page.getByRole('img', { name: /Keys by state: pre-activation 1/ })).toBeVisible();
  await checkScreen(page, '06-reports-compliance');
  await page.keyboard.press('Alt+6');
  await page.getByRole('button', { name: 'Open practice statement' }).press('Enter');
  // The page is the document: the draft is shown as the page opens.
  const statement = page.getByRole('article', { name: 'Practice statement draft' });
  await expect(statement.getByRole('heading', { level: 4 })).toHaveText(
    PRACTICE_STATEMENT_SECTIONS.map((title, i) => `${i + 1}. ${title}`),
  );
  await expect(statement.getByRole('listitem').filter({ hasText: 'Custodians (hold PIN shares' })).toContainText(
    'Ada, Babbage, Curie',
  );
  // Tables are tables, and each decision left to the organisation is highlighted, not raw Markdown.
  await expect(statement.getByRole('row', { name: /^EC-P256 yes/ })).toContainText('2036-01-01');
  const owner = statement.getByRole('listitem').filter({ hasText: 'Owner of this statement' }).locator('mark.decide');
  await expect(owner).toHaveText('[ORGANISATION TO DECIDE: owner]');
  await expect(statement).not.toContainText('##');
  await expect(statement).not.toContainText('| ---');
  await expect(statement).not.toContainText('**');
  await statement.screenshot({ path: 'docs/screens/06-reports-practice-statement.png', animations: 'disabled' });
  await expectAccessible(page, 'Reports, the practice statement');
  await page.getByRole('button', { name: 'Write Markdown and PDF files' }).click();
  await expect(page.getByText(/practice statement draft is written to .*practice-statement\.pdf/)).toBeVisible();

  await page.keyboard.press('Alt+7');
  await checkScreen(page, '07-custodians');
  await page.keyboard.press('Alt+8');
  await checkScreen(page, '08-settings-officers');

  // A key family: payments-signing activated, then rotated; the Keys screen shows its versions together.
  const quorum = { proposer: ada, approvers: [babbage, curie] };
  const first = custos.core!.keys.list().find((k) => k.label === 'payments-signing')!.id;
  await approvedAction(custos, quorum, 'key.activate', { keyId: first });
  await approvedAction(custos, quorum, 'key.rotate', { keyId: first });
  await page.reload();
  await page.keyboard.press('Alt+2');
  const family = page.locator(`tbody[data-family="${first}"]`);
  await expect(family.getByRole('row')).toHaveCount(2);
  await expect(family.getByRole('row').first()).toContainText(/v2replaces v1active/);
  await expect(family.getByRole('row').nth(1)).toContainText(
    'Rotated to v2: it only verifies, decrypts or unwraps. The token would still let it sign, encrypt or wrap; Custos refuses to.',
  );
  await expect(family.getByRole('row').nth(1)).toContainText('no longer applies protection');
  await checkScreen(page, '02-keys-families');
});
