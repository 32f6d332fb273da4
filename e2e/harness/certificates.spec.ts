import { spawnSync } from 'node:child_process';
import type { Page } from '@playwright/test';
import { approvedAction, ceremony, generateKeys, type Person } from './ceremony';
import { expect, test, type CustosHarness } from './fixtures';
import { checkScreen, checkScreenPart } from './screens';

test.use({ viewport: { width: 1280, height: 800 } });

type Seeded = Person & { id: string };

/** Ada, Babbage and Curie hold the token "vault-ca" 2 of 3, taken into custody on the Ceremonies screen. */
async function caInCustody(custos: CustosHarness) {
  const people = (await custos.seedCustodians(['Ada', 'Babbage', 'Curie'])) as [Seeded, Seeded, Seeded];
  const page = await custos.open();
  const steps = ceremony(page, custos.clock);
  custos.advance(30);
  await steps.takeCustody('vault-ca', people);
  await expect(page.getByRole('status')).toContainText('is in custody, 2 of 3');
  return { page, people, steps };
}

/** Certificates (Alt+9), then one of its ceremonies, on its own page with its title focused. */
async function openCeremony(page: Page, title: string): Promise<void> {
  await page.keyboard.press('Alt+9');
  await page.getByRole('region', { name: 'Certificate ceremonies' }).getByRole('button', { name: title }).click();
  await expect(page.getByRole('heading', { level: 1, name: title })).toBeFocused();
}

/** From a ceremony's page back to the list, by its breadcrumb. */
async function backToList(page: Page): Promise<void> {
  await page.getByRole('navigation', { name: 'Breadcrumb' }).getByRole('button', { name: 'Certificates' }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'Certificates' })).toBeVisible();
}

/** The proposal the last form opened, as its notice names it: the fingerprint to read aloud. */
async function proposedFingerprint(page: Page, title: string): Promise<string> {
  const notice = page.getByRole('status');
  await expect(notice).toContainText(new RegExp(`${title}: proposal [0-9a-f-]{19} is open`), { timeout: 60_000 });
  return /proposal ([0-9a-f-]{19})/.exec(await notice.innerText())![1]!;
}

/** Two holders approve on Approvals; the executed proposal says what it made, then leads back to Certificates. */
async function approvedByTwo(
  page: Page,
  approve: (fingerprint: string, who: Person) => Promise<void>,
  fingerprint: string,
  approvers: [Person, Person],
  title: string,
  outcome: string,
): Promise<void> {
  await approve(fingerprint, approvers[0]);
  await expect(page.getByRole('status')).toContainText('1 of 2 approvals are held');
  await approve(fingerprint, approvers[1]);
  await expect(page.getByRole('status')).toContainText('The quorum was met and the operation ran once');
  const executed = page.locator('section[data-proposal]', { hasText: `${title} on “vault-ca” — executed` });
  await expect(executed).toContainText(outcome);
  await executed.getByRole('button', { name: 'Go to Certificates' }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'Certificates' })).toBeVisible();
}

test('a root ceremony from the screen: proposed on Certificates, approved by two holders, listed with its PEM', async ({
  custos,
}) => {
  test.setTimeout(300_000);
  const { page, people, steps } = await caInCustody(custos);
  const [ada, babbage, curie] = people;
  const { code, approve, proposeIn } = steps;

  // Before a signing key is active, the screen says what to do first.
  await page.keyboard.press('Alt+9');
  await expect(page.getByRole('heading', { level: 1, name: 'Certificates' })).toBeVisible();
  await expect(page.getByRole('region', { name: 'Issued certificates' })).toContainText('No certificate yet.');
  await expect(page.getByText('A root certificate is made for an active signing key')).toBeVisible();
  await expect(page.getByRole('button', { name: 'Go to Keys' })).toBeVisible();
  const ceremonies = page.getByRole('region', { name: 'Certificate ceremonies' });
  await expect(ceremonies.getByRole('listitem').filter({ hasText: /^Make a root certificate/ })).toContainText(
    'Needs an active signing key',
  );
  await expect(ceremonies.getByRole('button')).toHaveCount(0);

  const quorum = { proposer: ada, approvers: [babbage, curie] };
  await generateKeys(custos, quorum, [
    { algorithm: 'EC-P384', label: 'example-root', usage: 'sign', backupable: false },
  ]);
  const key = custos.core!.keys.list()[0]!;
  await approvedAction(custos, quorum, 'key.activate', { keyId: key.id });

  await page.reload();
  await page.keyboard.press('Alt+9');
  // The first certificate is a root: the empty list leads to its page.
  await page
    .getByRole('region', { name: 'Issued certificates' })
    .getByRole('button', { name: 'Make a root certificate' })
    .click();
  await expect(page.getByRole('heading', { level: 1, name: 'Make a root certificate' })).toBeFocused();
  const form = page.getByRole('form', { name: 'Make a root certificate' });
  await expect(form.getByLabel('Signing key')).toContainText('example-root (EC-P384, in vault-ca)');
  // The defaults are a CA's: signing certificates and revocation lists.
  await expect(form.getByRole('checkbox', { name: /signing certificates/ })).toBeChecked();
  await expect(form.getByRole('checkbox', { name: /signing revocation lists/ })).toBeChecked();
  await expect(form.getByRole('checkbox', { name: /digital signatures/ })).not.toBeChecked();
  const lastDay = await form.getByLabel('Until').inputValue();
  expect(lastDay <= key.expiresAt.slice(0, 10)).toBe(true);

  // Nothing typed: the summary takes focus and leads to each field; the core is not asked.
  await form.getByRole('button', { name: 'Propose the root certificate' }).click();
  const summary = form.getByRole('alert');
  await expect(summary).toBeFocused();
  await expect(summary.getByRole('link')).toHaveText([
    'Type the common name (CN)',
    'Choose who proposes it',
    'Type the passphrase',
    'Type the 6-digit code the authenticator shows',
  ]);
  await summary.getByRole('link', { name: 'Type the common name (CN)' }).press('Enter');
  await expect(form.getByLabel('Common name (CN)')).toBeFocused();

  await form.getByLabel('Common name (CN)').fill('Example Root CA');
  await form.getByLabel('Organisation (O), optional').fill('Example');
  await form.getByLabel(/Country \(C\)/).fill('nl');
  await form.getByLabel('Path length: how many CAs may follow below it (0–8, optional)').fill('1');
  await form
    .getByLabel('Where its revocation lists are published (a URL, optional)')
    .fill('http://crl.example.com/root.crl');

  // A validity past the key's cryptoperiod is refused by the core, with the reason in the summary.
  await form.getByLabel('Until').fill('2099-01-01');
  custos.advance(30);
  await proposeIn('Make a root certificate', 'root-requester', ada, 'Propose the root certificate');
  await expect(summary).toContainText('CERT_PROFILE_REFUSED', { timeout: 60_000 });
  await expect(summary).toBeFocused();
  await expect(summary).toContainText("after the signing key's cryptoperiod ends");
  await expect(summary.getByRole('link', { name: 'Change the profile as each reason below says' })).toBeVisible();
  await checkScreenPart(page, '09-certificates-root-refused', form);
  await summary.getByRole('link', { name: 'Change the profile as each reason below says' }).press('Enter');
  await expect(form.getByLabel('Until')).toBeFocused();
  await form.getByLabel('Until').fill(lastDay);

  custos.advance(30);
  await form.getByLabel('Ada’s passphrase').fill(ada.passphrase);
  await form.getByLabel('Ada’s code').fill(code(ada));
  await form.getByRole('button', { name: 'Propose the root certificate' }).click();
  const fingerprint = await proposedFingerprint(page, 'Make a root certificate');
  await expect(page.locator('.outcome')).toBeFocused();
  // The next proposer starts from an empty form.
  await expect(form.getByLabel('Common name (CN)')).toHaveValue('');
  await expect(form.locator('#root-requester-who')).toHaveValue('');
  // Proposing the same root twice by accident is made hard: the form says one already waits.
  await expect(form.getByRole('note')).toContainText(
    `A root certificate for “example-root” already waits for approval (fingerprint ${fingerprint}).`,
  );
  await checkScreen(page, '09-certificates-root-proposed');
  // The list says what waits, and where it is approved.
  await backToList(page);
  const waiting = page.getByRole('region', { name: /Waiting for approval/ });
  await expect(waiting).toContainText(`Make a root certificate on “vault-ca”: fingerprint ${fingerprint}, 0 of 2`);

  // The approvers read the certificate in the catalogue's words, then approve with the fingerprint heard.
  await waiting.getByRole('button', { name: 'Go to Approvals' }).click();
  const proposal = page.locator('section[data-proposal]').first();
  await expect(proposal.getByRole('heading')).toContainText('Make a root certificate on “vault-ca”');
  await expect(proposal).toContainText(
    'Sign a root certificate for “example-root” (EC P-384, active, token vault-ca) with the key itself, inside the token',
  );
  await expect(proposal).toContainText('Subject: CN=Example Root CA, O=Example, C=NL');
  await expect(proposal).toContainText('A certificate authority; at most 1 CA below it');
  await expect(proposal).toContainText('Key may be used for: signing certificates, signing revocation lists');
  await expect(proposal).toContainText('Revocation lists published at http://crl.example.com/root.crl');
  await expect(proposal).toContainText(/Serial \(from the token’s random number generator\): [0-9a-f]{40}/);
  custos.advance(30);
  await approvedByTwo(
    page,
    approve,
    fingerprint,
    [babbage, curie],
    'Make a root certificate',
    'Root certificate “CN=Example Root CA, O=Example, C=NL”',
  );

  // The certificate is listed: self-signed, valid, in the token; its PEM is the certificate openssl reads.
  const [certificate] = custos.core!.certificates.list();
  const row = page.locator(`tr[data-serial="${certificate!.serial}"]`);
  await expect(row.getByRole('rowheader')).toContainText('CN=Example Root CA, O=Example, C=NL');
  await expect(row).toContainText(certificate!.serial.slice(0, 8));
  await expect(row).toContainText('self-signed');
  await expect(row).toContainText(`${certificate!.notBefore.slice(0, 10)} to ${lastDay}`);
  await expect(row.locator('.chip')).toHaveText('valid');
  await expect(row).toContainText('vault-ca');
  await expect(page.getByRole('region', { name: 'Revocation lists' })).toContainText(
    'example-root: has signed no revocation list yet.',
  );
  // With a CA certificate, the key now issues and revokes.
  await expect(page.getByRole('region', { name: 'Certificate ceremonies' }).getByRole('button')).toHaveText([
    'Make a root certificate',
    'Issue a certificate from a request',
    'Issue a revocation list',
  ]);
  await row.getByRole('button', { name: /Show the certificate of CN=Example Root CA/ }).click();
  const detail = page.getByRole('region', { name: 'CN=Example Root CA, O=Example, C=NL' });
  await expect(detail).toBeFocused();
  const pem = await detail.locator('pre').innerText();
  expect(pem).toMatch(/^-----BEGIN CERTIFICATE-----/);
  const openssl = spawnSync('openssl', ['x509', '-noout', '-subject', '-ext', 'basicConstraints'], {
    input: pem,
    encoding: 'utf8',
  });
  expect(openssl.status, openssl.stderr).toBe(0);
  expect(openssl.stdout).toContain('CN = Example Root CA');
  expect(openssl.stdout).toContain('CA:TRUE, pathlen:1');
  await checkScreen(page, '09-certificates');
  await openCeremony(page, 'Make a root certificate');
  await expect(form.getByRole('note')).toContainText(
    `“example-root” already has a root certificate, CN=Example Root CA, O=Example, C=NL, valid until ${lastDay}.`,
  );
  await openCeremony(page, 'Issue a revocation list');
  await expect(page.getByRole('form', { name: 'Issue a revocation list' })).toContainText(
    'This CA has issued no certificate that is still valid.',
  );
});

/** A request made by openssl alone, for a key that only openssl ever held. */
function opensslRequest(subject: string): string {
  const run = spawnSync(
    'openssl',
    [
      'req',
      '-new',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      '/dev/null',
      '-subj',
      subject,
    ],
    { encoding: 'utf8' },
  );
  expect(run.status, run.stderr).toBe(0);
  return run.stdout.trim();
}

test('issuing from a pasted request and revoking it, from the screen', async ({ custos }) => {
  test.setTimeout(300_000);
  const { page, people, steps } = await caInCustody(custos);
  const [ada, babbage, curie] = people;
  const { code, approve, proposeIn } = steps;
  // The root is the subject of the test above; here it is made through the same router the page uses.
  const quorum = { proposer: ada, approvers: [babbage, curie] };
  await generateKeys(custos, quorum, [
    { algorithm: 'EC-P384', label: 'example-root', usage: 'sign', backupable: false },
  ]);
  const key = custos.core!.keys.list()[0]!;
  await approvedAction(custos, quorum, 'key.activate', { keyId: key.id });
  const day = (offset: number) =>
    new Date(custos.clock.now.getTime() + offset * 86_400_000).toISOString().slice(0, 10) + 'T00:00:00Z';
  await approvedAction(custos, quorum, 'cert.self-sign', {
    keyId: key.id,
    profile: {
      subject: { commonName: 'Example Root CA', organization: 'Example' },
      notBefore: day(0),
      notAfter: day(300),
      ca: true,
      keyUsage: ['keyCertSign', 'cRLSign'],
    },
  });
  expect(custos.core!.certificates.list()).toHaveLength(1);

  await page.reload();
  await openCeremony(page, 'Issue a certificate from a request');
  const issue = page.getByRole('form', { name: 'Issue a certificate from a request' });
  await expect(issue.getByLabel('CA key that signs')).toContainText('example-root (EC-P384, in vault-ca)');
  await expect(issue).toContainText('Its CA certificate: CN=Example Root CA, O=Example.');

  // A request whose bytes were changed is refused before anyone's factors count, and the summary leads to it.
  const request = opensslRequest('/O=Example/CN=Example Issuing CA');
  const lines = request.split('\n');
  lines[3] = lines[3]!.slice(0, 10) + (lines[3]![10] === 'A' ? 'B' : 'A') + lines[3]!.slice(11);
  await issue.getByLabel('The certificate request (PEM text)').fill(lines.join('\n'));
  await issue.getByLabel('Common name (CN)').fill('Example Issuing CA');
  await issue.getByLabel('Organisation (O), optional').fill('Example');
  await issue.getByLabel('Path length: how many CAs may follow below it (0–8, optional)').fill('0');
  await issue.getByRole('checkbox', { name: /TLS servers/ }).check();
  await issue.getByRole('checkbox', { name: /TLS clients/ }).check();
  custos.advance(30);
  await proposeIn('Issue a certificate from a request', 'issue-requester', ada, 'Propose issuing the certificate');
  const summary = issue.getByRole('alert');
  await expect(summary).toContainText('CSR_INVALID', { timeout: 60_000 });
  await expect(summary).toBeFocused();
  await summary.getByRole('link', { name: 'Paste the request again, exactly as its file holds it' }).press('Enter');
  await expect(issue.getByLabel('The certificate request (PEM text)')).toBeFocused();
  await checkScreenPart(page, '09-certificates-issue-refused', issue);

  await issue.getByLabel('The certificate request (PEM text)').fill(request);
  custos.advance(30);
  await issue.getByLabel('Ada’s passphrase').fill(ada.passphrase);
  await issue.getByLabel('Ada’s code').fill(code(ada));
  await issue.getByRole('button', { name: 'Propose issuing the certificate' }).click();
  const issueFingerprint = await proposedFingerprint(page, 'Issue a certificate from a request');
  await expect(issue.getByLabel('The certificate request (PEM text)')).toHaveValue('');

  await page.keyboard.press('Alt+4');
  const proposal = page.locator('section[data-proposal]').first();
  await expect(proposal).toContainText('Issue a CA certificate signed by “example-root”');
  await expect(proposal).toContainText('The request’s subject: CN=Example Issuing CA, O=Example');
  await expect(proposal).toContainText('Extended purposes: serverAuth, clientAuth');
  custos.advance(30);
  await approvedByTwo(
    page,
    approve,
    issueFingerprint,
    [babbage, curie],
    'Issue a certificate from a request',
    'Certificate “CN=Example Issuing CA, O=Example” issued by “CN=Example Root CA, O=Example”',
  );

  const issued = custos.core!.certificates.list().find((c) => !c.selfSigned)!;
  const row = page.locator(`tr[data-serial="${issued.serial}"]`);
  await expect(row.getByRole('rowheader')).toContainText('CN=Example Issuing CA, O=Example');
  await expect(row).toContainText('CN=Example Root CA, O=Example');
  await expect(row.locator('.chip')).toHaveText('valid');

  // Revoke it: chosen with its reason, in a list due in a week.
  await openCeremony(page, 'Issue a revocation list');
  const crl = page.getByRole('form', { name: 'Issue a revocation list' });
  await crl.getByRole('checkbox', { name: /CN=Example Issuing CA, O=Example/ }).check();
  await crl.getByLabel('Why is CN=Example Issuing CA, O=Example revoked?').selectOption('keyCompromise');
  await crl.getByLabel('Days until the next list is due (1–366)').fill('7');
  custos.advance(30);
  await proposeIn('Issue a revocation list', 'crl-requester', ada, 'Propose the revocation list');
  const crlFingerprint = await proposedFingerprint(page, 'Issue a revocation list');
  await page.keyboard.press('Alt+4');
  await expect(page.locator('section[data-proposal]').first()).toContainText(
    `Revoke serial ${issued.serial}: keyCompromise`,
  );
  custos.advance(30);
  await approvedByTwo(
    page,
    approve,
    crlFingerprint,
    [babbage, curie],
    'Issue a revocation list',
    `Serial ${issued.serial}: keyCompromise`,
  );

  await expect(row.locator('.chip')).toHaveText('revoked');
  await expect(row).toContainText(/keyCompromise, \d{4}-\d\d-\d\d \(list 1\)/);
  const lists = page.getByRole('region', { name: 'Revocation lists' });
  await expect(lists).toContainText(/example-root: list number 1, next due \d{4}-\d\d-\d\d/);
  await lists.getByText('The list as PEM text, to publish').click();
  await expect(lists.locator('pre')).toContainText('-----BEGIN X509 CRL-----');
  await checkScreenPart(
    page,
    '09-certificates-revoked',
    page.getByRole('region', { name: 'Issued certificates' }),
    lists,
  );
  // Nothing left to revoke under this CA.
  await openCeremony(page, 'Issue a revocation list');
  await expect(crl).toContainText('This CA has issued no certificate that is still valid.');
});
