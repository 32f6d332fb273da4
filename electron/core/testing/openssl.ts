import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

/**
 * What OpenSSL says of a signed report in `dir` (report.json + report.sig, audit-key.pem beside them): a verifier that
 * shares no code with Custos. Its standard output, also when it refuses ("Signature Verification Failure").
 */
export function opensslVerify(dir: string, json = 'report.json', sig = 'report.sig'): string {
  const args = ['pkeyutl', '-verify', '-pubin', '-inkey', join(dir, 'audit-key.pem'), '-rawin'];
  try {
    return execFileSync('openssl', [...args, '-in', join(dir, json), '-sigfile', join(dir, sig)], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (error) {
    return (error as { stdout: string }).stdout;
  }
}
