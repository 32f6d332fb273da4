import { readBoundedText } from '../core/bounded-file';
import type { TransportPackageSummary, TransportRecipient } from '../../shared/transport';
import type { CustosCore } from '../core/custos-core';
import { call, factors, str, usageFailure, type Io, type Request, type Values } from './cli-support';
import { custodianId } from './proposal-words';

export const TRANSPORT_USAGE = `  transport recipients                Recipient public keys a security officer recorded as trusted
  transport trust --file KEY.pem --label NAME --as WHO [--passphrase-fd N] [--code CODE]
                                      A security officer, with both factors, records a recipient public
                                      key (RSA ≥ 2048 or EC P-256/P-384) as trusted for key transport.
                                      Exporting is a quorum action: proposal create --action
                                      key.export-wrapped --param keyId=K --param recipient=FINGERPRINT
  transport packages                  Key transport packages made here or received
  transport receive --file PACKAGE.json
                                      Checks and keeps a package wrapped for a key of this installation;
                                      importing is a quorum action: proposal create --action
                                      key.import-wrapped --param package=SHA256 --param cryptoperiodDays=D
  transport write --package SHA256 --out DIR [--force]
                                      Writes package.json (and, for a package made here, package.sig and
                                      audit-key.pem) to DIR, for the recipient (docs/key-transport.md)
`;

const renderRecipients = (list: TransportRecipient[]) =>
  list.length === 0
    ? 'No recipient keys are trusted yet. A security officer records one with custos transport trust.\n'
    : list
        .map(
          (r) =>
            `${r.label}  ${r.algorithm}  ${r.status === 'trusted' ? 'trusted' : 'TAMPERED (not used)'}\n` +
            `  SHA-256 ${r.fingerprint}\n  recorded by ${r.recordedBy.name} at ${r.recordedAt}\n`,
        )
        .join('');

function renderPackage(p: TransportPackageSummary): string {
  const what = `“${p.key.label}” (${p.key.algorithm}, ${p.key.usage})`;
  const where =
    p.direction === 'out'
      ? `made here for recipient key ${p.recipient.fingerprint}`
      : `received from ${p.madeBy ? `installation ${p.madeBy.installation}` : 'outside Custos'} for key ${p.recipient.fingerprint}` +
        (p.importedAs ? `; imported as key ${p.importedAs}` : '; not imported');
  return `${p.direction === 'out' ? 'OUT' : 'IN '} ${what}, ${p.scheme}\n  ${where}\n  package SHA-256 ${p.sha256}\n`;
}

/** A file named on the command line: a package or a PEM, never larger than its request may carry. */
const readText = (path: string) =>
  readBoundedText(path, { bytes: 65_536, code: 'IPC_INVALID_PAYLOAD', what: 'a package or public key file' });

/** The key transport commands: the same requests as the app's Key transport panel. */
export function transportRequest(command: string, values: Values, io: Io): Request | null {
  switch (command) {
    case 'transport recipients':
      return call('transport.recipients', {}, renderRecipients);
    case 'transport trust':
      return async (core: CustosCore) => {
        const file = str(values.file);
        const label = str(values.label);
        if (!file || !label) return usageFailure('transport trust needs --file KEY.pem and --label NAME.');
        const publicKeyPem = readText(file);
        const officerId = custodianId(core, str(values.as) ?? '');
        const officer = await factors(officerId, 'The security officer', values, io);
        return call(
          'transport.trustRecipient',
          { label, publicKeyPem, officer },
          (r) => `${r.label} (${r.algorithm}) is a trusted recipient.\nIts SHA-256 fingerprint: ${r.fingerprint}\n`,
        )(core);
      };
    case 'transport packages':
      return call('transport.packages', {}, (list) =>
        list.length === 0 ? 'No key transport packages.\n' : list.map(renderPackage).join(''),
      );
    case 'transport receive': {
      const file = str(values.file);
      if (!file) return async () => usageFailure('transport receive needs --file PACKAGE.json.');
      return async (core: CustosCore) =>
        call(
          'transport.receive',
          { text: readText(file) },
          (p) =>
            renderPackage(p) +
            `Propose its import: custos proposal create --action key.import-wrapped --param package=${p.sha256} --param cryptoperiodDays=365 …\n`,
        )(core);
    }
    case 'transport write':
      if (!str(values.out)) return async () => usageFailure('transport write needs --out DIR.');
      return call(
        'transport.writePackage',
        { sha256: str(values.package) ?? '' },
        (w) => `Package written to ${w.dir} (package.json SHA-256 ${w.sha256}).\n`,
      );
    default:
      return null;
  }
}
