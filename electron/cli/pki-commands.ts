import { resolve } from 'node:path';
import type { CertificateRecord } from '../../shared/pki';
import { readBoundedFile, readBoundedText } from '../core/bounded-file';
import { CustosError, printable } from '../core/errors';
import { call, str, type Request, type Values } from './cli-support';

export const PKI_USAGE = `  cert list                           Certificates Custos issued: serial, subject, issuer, validity, status
  cert export --id SERIAL [--format pem|der]
                                      A certificate, checked under its issuer's key (der: base64)
  crl export --id KEY                 The CA key's latest revocation list (PEM)
  Certificate ceremonies are quorum actions: cert.self-sign, cert.issue, crl.issue. Give the profile
  as a JSON file and the request as a file: proposal create … --profile FILE [--csr FILE]
`;

const day = (iso: string) => iso.slice(0, 10);

const renderCertificates = (list: CertificateRecord[]) =>
  list.length === 0
    ? 'No certificates issued yet (propose cert.self-sign for a root).\n'
    : `${list
        .map(
          (c) =>
            `${c.serial}  ${c.status === 'revoked' ? `REVOKED (${c.revocation?.reason})` : c.ca ? 'CA' : 'end entity'}\n` +
            `    subject ${c.subject}\n    issuer  ${c.selfSigned ? '(self-signed)' : c.issuer}\n` +
            `    valid ${day(c.notBefore)} to ${day(c.notAfter)}  token ${c.token.label}  SHA-256 ${c.sha256}`,
        )
        .join('\n')}\n`;

/** The certificate commands: the same reads as the Certificates screen. */
export function pkiRequest(command: string, values: Values): Request | null {
  const id = str(values.id) ?? '';
  switch (command) {
    case 'cert list':
      return call('certificates.list', {}, renderCertificates);
    case 'cert export':
      return call('certificates.export', { serial: id, format: (str(values.format) ?? 'pem') as 'pem' }, (c) =>
        c.text.endsWith('\n') ? c.text : `${c.text}\n`,
      );
    case 'crl export':
      return call('certificates.crl', { issuerKeyId: id }, (c) => c.text);
    default:
      return null;
  }
}

/**
 * What a certificate proposal takes from files named at the console: the profile (JSON, the one
 * reviewed before the ceremony) and the request. Their contents become parameters; no path is sent.
 */
export function proposalFiles(values: Values): Record<string, unknown> {
  const extra: Record<string, unknown> = {};
  const profile = str(values.profile);
  if (profile !== undefined) {
    try {
      extra.profile = JSON.parse(readBoundedText(resolve(profile), PROFILE_FILE)) as unknown;
    } catch (error) {
      if (error instanceof SyntaxError)
        throw new CustosError('PROPOSAL_INVALID', `${printable(profile)} is not a JSON certificate profile.`, [
          'docs/pki.md shows a profile file.',
        ]);
      throw error;
    }
  }
  const csr = str(values.csr);
  if (csr !== undefined) {
    const text = readBoundedFile(resolve(csr), REQUEST_FILE);
    // PEM as text; DER as base64, which is how the proposal carries it.
    extra.csr = text.includes('-----BEGIN') ? text.toString('utf8') : text.toString('base64');
  }
  return extra;
}

/** Files named at the console: never a folder, a pipe or a device, nor larger than a proposal can carry. */
const PROFILE_FILE = { bytes: 65_536, code: 'PROPOSAL_INVALID', what: 'a certificate profile' } as const;
/** The longest request a proposal carries (PEM text; DER goes as base64, which is longer still). */
const REQUEST_FILE = { bytes: 24_000, code: 'PROPOSAL_INVALID', what: 'a certificate request' } as const;
