import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

/**
 * Test-only: what `openssl pkeyutl -verify -rawin` (the command reports tell auditors to run) prints for an Ed25519
 * signature over a file's exact bytes; its output also on failure, so a test can assert on either.
 */
export function opensslVerify(publicKeyPem: string, file: string, signature: string): string {
  const args = ['pkeyutl', '-verify', '-pubin', '-inkey', publicKeyPem, '-rawin', '-in', file, '-sigfile', signature];
  try {
    return execFileSync('openssl', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (error) {
    return (error as { stdout: string }).stdout;
  }
}

/** The same for a signed report written to `dir` (report.json and report.sig, with audit-key.pem beside them). */
export function opensslVerifyReport(dir: string, json = 'report.json', sig = 'report.sig'): string {
  return opensslVerify(join(dir, 'audit-key.pem'), join(dir, json), join(dir, sig));
}
