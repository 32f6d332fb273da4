import { approvedAction, ceremony, generateKeys, type Person } from './ceremony';
import { expect, test } from './fixtures';
import { checkScreen, checkScreenPart } from './screens';

test.use({ viewport: { width: 1280, height: 800 } });

type Seeded = Person & { id: string };

test('a backup set retired by keyboard: proposed on Ceremonies, approved by the quorum, each holder records their card destroyed', async ({
  custos,
}) => {
  test.setTimeout(300_000);
  const [ada, babbage, curie] = (await custos.seedCustodians(['Ada', 'Babbage', 'Curie'])) as [Seeded, Seeded, Seeded];
  const page = await custos.open();
  const { code, takeCustody, approve, openCeremonyPage } = ceremony(page, custos.clock);
  custos.advance(30);
  await takeCustody('vault-r', [ada, babbage, curie]);
  await expect(page.getByRole('status')).toContainText('is in custody, 2 of 3');
  const quorum = { proposer: ada, approvers: [babbage, curie] };
  await generateKeys(custos, quorum, [
    { algorithm: 'AES-256', label: 'vault-aes', usage: 'encrypt', backupable: true },
  ]);
  const keyId = custos.core!.keys.list()[0]!.id;
  await approvedAction(custos, quorum, 'key.backup', {
    keyIds: [keyId],
    holders: [ada.id, babbage.id, curie.id],
    threshold: 2,
  });
  const setId = custos.core!.backups.list()[0]!.setId;

  await page.reload();
  await openCeremonyPage('Backups');
  const row = page.locator(`tr[data-set="${setId}"]`);
  const state = row.getByRole('cell').first();
  await expect(state.locator('.chip')).toHaveText('Live');
  await expect(state).toContainText('Any 2 of its cards restore it.');
  const keys = page.keyboard;
  const actions = page.getByRole('region', { name: 'Ad-hoc actions' });

  // Keyboard only: from the list to the action's page, then Tab, typing, Space and Enter.
  await keys.press('Alt+3');
  await actions.getByRole('button', { name: 'Retire a backup set' }).press('Enter');
  await expect(page.getByRole('heading', { level: 1, name: 'Retire a backup set' })).toBeFocused();
  const form = page.getByRole('form', { name: 'Retire a backup set' });
  await keys.press('Tab');
  await expect(form.getByLabel('Backup set to retire')).toBeFocused();
  await expect(form.getByLabel('Backup set to retire')).toContainText('vault-aes (cards with Ada, Babbage, Curie)');
  await keys.press('Tab');
  await expect(form.getByLabel('Approved by the holders of')).toHaveValue(
    custos.core!.custody.list().find((c) => c.state === 'active')!.id,
  );
  // Proposed without a reason: the summary takes focus and leads to the field.
  await keys.press('Tab');
  await keys.press('Enter');
  const summary = form.getByRole('alert');
  await expect(summary).toBeFocused();
  await keys.press('Tab');
  await expect(summary.getByRole('link', { name: 'Say why the set is retired' })).toBeFocused();
  await keys.press('Enter');
  await expect(form.getByLabel('Why retire it')).toBeFocused();
  await keys.type('its key is being destroyed');
  await keys.press('Tab');
  await keys.type('Ada');
  await keys.press('Tab');
  await keys.type(ada.passphrase);
  await keys.press('Tab');
  custos.advance(30);
  await keys.type(code(ada));
  await checkScreen(page, '03-ceremonies-retire');
  await keys.press('Enter');
  await expect(page.getByRole('status')).toContainText(/Retirement proposal [0-9a-f-]{19} is open/, {
    timeout: 60_000,
  });
  await expect(page.locator('.outcome')).toBeFocused();
  // A set waiting for its retirement is not offered again.
  await expect(page.getByRole('form', { name: 'Retire a backup set' })).toHaveCount(0);
  await expect(page.getByText('No live backup set to retire.')).toBeVisible();
  await openCeremonyPage('Backups');
  await expect(state).toContainText('Retirement proposed');
  await expect(state).toContainText('Until then it can still be restored.');
  await checkScreen(page, '03-ceremonies-retirement-proposed');

  // The approvers read which set, what it holds and who has its cards, in words.
  await keys.press('Alt+4');
  const proposal = page.locator('section[data-proposal]').first();
  await expect(proposal.getByRole('heading')).toContainText('Retire a backup set on “vault-r”');
  await expect(proposal).toContainText(
    `Retire backup set ${setId.slice(0, 8)}…${setId.slice(-4)} for good (“its key is being destroyed”): it is never restored again`,
  );
  await expect(proposal).toContainText(/Made \d{4}-\d\d-\d\d \d\d:\d\d UTC from token vault-r; holds “vault-aes”\./);
  await expect(proposal).toContainText('Cards with Ada, Babbage, Curie (any 2 restore it).');
  const fingerprint = await proposal.locator('code.fingerprint').innerText();
  custos.advance(30);
  await approve(fingerprint, babbage);
  await approve(fingerprint, curie);
  await expect(page.getByRole('status')).toContainText('The quorum was met');
  // What happens next is said on the proposal, with the way there.
  const closed = page.locator(`section[data-proposal]`, { hasText: 'Retire a backup set on “vault-r” — executed' });
  await expect(closed).toContainText(
    'Next, each card holder destroys their card and records it on the Ceremonies screen. Still to record their card: Ada, Babbage, Curie.',
  );
  await checkScreenPart(page, '04-approvals-retirement-executed', closed);
  await closed.getByRole('button', { name: 'Go to Ceremonies' }).press('Enter');

  // Straight to the page where each holder records their card, one at a time.
  await expect(page.getByRole('heading', { level: 1, name: 'Record that a card is destroyed' })).toBeFocused();
  const destroyed = page.getByRole('form', { name: 'Record that a card is destroyed' });
  await expect(destroyed).toContainText('Still to record their card: Ada, Babbage, Curie.');

  custos.advance(30);
  await destroyed.getByRole('combobox', { name: 'Who' }).focus();
  await keys.type('Babbage');
  await keys.press('Tab');
  await keys.type(babbage.passphrase);
  await keys.press('Tab');
  await keys.type(code(babbage));
  // Not yet confirmed: nothing is recorded, and the summary says what is missing.
  await keys.press('Enter');
  await expect(destroyed.getByRole('alert')).toBeFocused();
  await expect(destroyed.getByRole('alert')).toContainText('Confirm that your card is destroyed');
  await destroyed.getByRole('link', { name: 'Confirm that your card is destroyed' }).press('Enter');
  await expect(destroyed.getByRole('checkbox')).toBeFocused();
  await keys.press('Space');
  await keys.press('Tab');
  await keys.press('Enter');
  await expect(page.getByRole('status')).toHaveText(
    `Babbage’s card of backup set ${setId.slice(0, 8)} is recorded as destroyed. Still to record their card: Ada, Curie.`,
    { timeout: 60_000 },
  );
  await expect(page.locator('.outcome')).toBeFocused();
  // The next holder starts from an empty form.
  await expect(destroyed.getByRole('combobox', { name: 'Who' })).toHaveValue('');
  await expect(destroyed.getByRole('checkbox')).not.toBeChecked();

  // A wrong passphrase records nothing and says so in the form.
  custos.advance(30);
  await destroyed.getByRole('combobox', { name: 'Who' }).selectOption({ label: 'Curie' });
  await destroyed.getByLabel('Curie’s passphrase').fill('not her passphrase at all');
  await destroyed.getByLabel('Curie’s code').fill(code(curie));
  await destroyed.getByRole('checkbox').check();
  await destroyed.getByRole('button', { name: 'Record my card as destroyed' }).click();
  const refused = destroyed.getByRole('alert');
  await expect(refused).toContainText('PASSPHRASE_INCORRECT', { timeout: 60_000 });
  await expect(refused).toBeFocused();
  await expect(refused.getByRole('link', { name: 'Type the passphrase again' })).toBeVisible();
  await expect(destroyed).toContainText('Still to record their card: Ada, Curie.');
  await checkScreen(page, '03-ceremonies-card-destroyed');

  // Retired: the list still says who has a card to destroy, and never offers the set for a restore.
  await page.getByRole('navigation', { name: 'Breadcrumb' }).getByRole('button', { name: 'Ceremonies' }).press('Enter');
  await expect(page.getByRole('region', { name: 'Waiting for someone' })).toContainText(
    'Still to record their card: Ada, Curie.',
  );
  await expect(actions.getByRole('listitem').filter({ hasText: 'Restore a backup' })).toContainText(
    'No backup to restore: make or import one first.',
  );
  await expect(actions.getByRole('button', { name: 'Restore a backup' })).toHaveCount(0);
  await openCeremonyPage('Backups');
  await expect(state).toContainText(
    '“its key is being destroyed”. It can never be restored. Cards recorded as destroyed: 1 of 3.',
  );
  await expect(row.getByRole('listitem')).toContainText([
    'Ada: not yet recorded as destroyed',
    /Babbage: destroyed \d{4}-\d\d-\d\d/,
    'Curie: not yet recorded as destroyed',
  ]);
  await checkScreen(page, '03-ceremonies-backup-retired');

  const set = custos.core!.backups.list()[0]!;
  expect(set.retirement?.cards.map((c) => [c.name, c.destroyedAt !== null])).toEqual([
    ['Ada', false],
    ['Babbage', true],
    ['Curie', false],
  ]);
});
