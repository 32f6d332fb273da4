import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { AuditActor } from '../../../shared/audit';
import { ed25519PublicKeyObject } from '../audit/checkpoint';
import type { AuditService } from '../audit/audit-service';
import type { FactorProofs } from '../custodians/factor-proofs';
import { destination, type ChooseDestination } from '../destinations';
import { CustosError } from '../errors';
import { FACTOR_FAILURES, type AuditPlans } from '../ipc/request-record';
import type { Handlers } from '../ipc/router';
import { writeFileAtomic } from '../secret-vault';
import type { TransportRecipients } from './recipients';
import type { TransportService } from './transport-service';

type TransportChannel =
  | 'transport.recipients'
  | 'transport.trustRecipient'
  | 'transport.packages'
  | 'transport.receive'
  | 'transport.writePackage';

export const transportPlan: AuditPlans<TransportChannel> = {
  'transport.recipients': { action: 'transport.recipient.list', self: false, params: false },
  // Recorded by the service with the officer as actor once both factors are proven; a refusal by the router.
  'transport.trustRecipient': {
    action: 'transport.recipient.trusted',
    self: true,
    params: false,
    selfFailures: FACTOR_FAILURES,
  },
  'transport.packages': { action: 'transport.package.list', self: false, params: false },
  // The package is recorded by the service when kept; the same package again changes nothing.
  'transport.receive': { action: 'transport.package.received', self: true, params: false },
  'transport.writePackage': { action: 'transport.package.write', self: false, params: true },
};

export function transportHandlers({
  transport,
  recipients,
  audit,
  proveOfficer,
  dataDir,
  chooseDestination,
}: {
  transport: TransportService;
  recipients: TransportRecipients;
  audit: AuditService;
  proveOfficer: FactorProofs['proveOfficer'];
  dataDir: string;
  chooseDestination: ChooseDestination | undefined;
}): Pick<Handlers, TransportChannel> {
  return {
    'transport.recipients': () => recipients.list(),
    'transport.trustRecipient': async ({ label, publicKeyPem, officer }) => {
      const actor = await proveOfficer(officer, 'trust a key transport recipient');
      return recipients.record(publicKeyPem, label, actor as AuditActor & { type: 'custodian' });
    },
    'transport.packages': () => transport.list(),
    'transport.receive': ({ text }) => transport.receive(text),
    'transport.writePackage': ({ sha256 }) => {
      const { body, signature, summary } = transport.packageFile(sha256);
      const fallback = join(dataDir, 'transport', `custos-key-transport-${summary.id}`);
      const { path: dir, replace } = destination(chooseDestination, 'transport-package', fallback);
      if (!replace && existsSync(join(dir, 'package.json')))
        throw new CustosError('FILE_EXISTS', `${dir} already holds a package; nothing was written.`, [
          'Name another folder.',
        ]);
      // Keys only wrapped for their recipient; still readable by the owner only, like the data directory.
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      writeFileAtomic(join(dir, 'package.json'), body, 0o600);
      if (signature) {
        writeFileAtomic(join(dir, 'package.sig'), signature, 0o600);
        const key = audit.noteKey();
        if (key)
          writeFileAtomic(
            join(dir, 'audit-key.pem'),
            ed25519PublicKeyObject(key.publicKey).export({ format: 'pem', type: 'spki' }).toString(),
            0o600,
          );
      }
      return { dir, sha256 };
    },
  };
}
