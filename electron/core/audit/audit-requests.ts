import { join } from 'node:path';
import type { AuditActor, AuditExport, AuditVerdict } from '../../../shared/audit';
import type { Handlers } from '../ipc/router';
import { destination, type ChooseDestination } from '../destinations';
import { CustosError, isCustosError } from '../errors';
import { publicKeyFromPem } from './audit-key';
import type { AuditService } from './audit-service';
import { parseVerifierKey } from './bundle';
import type { Trail } from './exports';
import type { VerifyOptions } from './verify-store';
import type { NoteKey } from './checkpoint';

type AuditRequests = Pick<
  Handlers,
  | 'audit.verify'
  | 'audit.export'
  | 'audit.repairTree'
  | 'audit.publicKey'
  | 'audit.proof'
  | 'audit.consistency'
  | 'audit.anchorCopy'
>;

/**
 * The audit log's requests beyond browsing it: verification against what was kept elsewhere, exports, proofs and
 * the second checkpoint copy. The app and the CLI reach them through the same router, so each is validated and
 * recorded the same way; a path is never part of a request (main chooses it: the CLI from its command line).
 */
export function auditRequests(deps: {
  audit: AuditService;
  actor: AuditActor;
  dataDir: string;
  clock: () => Date;
  chooseDestination: ChooseDestination | undefined;
  verify: (options: VerifyOptions) => Promise<AuditVerdict>;
  exportTo: (target: string, format: 'bundle' | 'csv' | 'cef', trail: Trail) => AuditExport;
  repairTree: () => { size: number; rewritten: number; root: string };
  onVerifyProgress: (checked: number, total: number | undefined) => void;
}): AuditRequests {
  const { audit } = deps;
  return {
    'audit.verify': ({ trustedCheckpoints, key }) =>
      deps.verify({
        ...(trustedCheckpoints ? { trustedCheckpoints } : {}),
        ...(key ? { key: pinnedKey(audit, key), keySource: 'pinned' as const } : {}),
        onProgress: deps.onVerifyProgress,
      }),
    'audit.export': ({ format, trail }) => {
      const stamp = deps.clock().toISOString().replace(/[:.]/g, '-');
      const name = `custos-audit-${stamp}${format === 'bundle' ? '' : `.${format}`}`;
      const { path } = destination(deps.chooseDestination, 'audit-export', join(deps.dataDir, 'exports', name));
      return deps.exportTo(path, format, trail);
    },
    'audit.repairTree': () => deps.repairTree(),
    'audit.publicKey': () => ({ pem: audit.publicKeyPem(), verifierKey: audit.verifierKey() }),
    'audit.proof': ({ seq, size }) => {
      const log = audit.log();
      const treeSize = size ?? log.size();
      const { entry } = log.entry(seq);
      return {
        seq,
        treeSize,
        root: log.root(treeSize).toString('base64'),
        entry,
        proof: log.inclusionProof(seq, treeSize).map((h) => h.toString('base64')),
      };
    },
    'audit.consistency': ({ from, to: given }) => {
      const log = audit.log();
      const to = given ?? log.size();
      return {
        from,
        to,
        fromRoot: log.root(from).toString('base64'),
        toRoot: log.root(to).toString('base64'),
        proof: log.consistencyProof(from, to).map((h) => h.toString('base64')),
      };
    },
    'audit.anchorCopy': ({ keep }) =>
      audit.setAnchorCopy(keep ? destination(deps.chooseDestination, 'anchor-copy', null).path : null, deps.actor),
  };
}

/** The key an auditor trusts: a signed-note verifier key, or a bare PEM named by this log's origin. */
function pinnedKey(audit: AuditService, text: string): NoteKey {
  try {
    if (!text.includes('BEGIN')) return parseVerifierKey(text.trim());
    return { name: audit.noteKey()?.name ?? audit.origin, publicKey: publicKeyFromPem(text) };
  } catch (error) {
    if (isCustosError(error)) throw error;
    throw new CustosError(
      'IPC_INVALID_PAYLOAD',
      'The audit key given is neither an Ed25519 public key (PEM) nor a verifier key.',
      ['Give the audit-key.pem or audit-key.vkey from a report or bundle you trust.'],
      { cause: error },
    );
  }
}
