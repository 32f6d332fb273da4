import { join } from 'node:path';
import type { AuditActor } from '../../../shared/audit';
import { destination, type ChooseDestination, type DestinationKind } from '../destinations';
import { CustosError, isCustosError } from '../errors';
import type { EventHub } from '../events/event-hub';
import type { Handlers } from '../ipc/router';
import type { AuditPlans } from '../ipc/request-record';
import { publicKeyFromPem } from './audit-key';
import type { AuditOperations } from './audit-operations';
import type { AuditService } from './audit-service';
import { parseVerifierKey } from './bundle';
import type { NoteKey } from './checkpoint';

type AuditChannel =
  | 'audit.status'
  | 'audit.checkpoint'
  | 'audit.page'
  | 'audit.entry'
  | 'audit.verify'
  | 'audit.export'
  | 'audit.repairTree'
  | 'audit.publicKey'
  | 'audit.proof'
  | 'audit.consistency'
  | 'audit.anchorCopy';

export const auditLogPlan: AuditPlans<AuditChannel> = {
  'audit.status': { action: 'audit.status', self: false, params: false },
  'audit.checkpoint': { action: 'audit.checkpoint', self: true, params: false },
  // Scrolling fetches many pages: only the first page of a query (a search) is recorded.
  'audit.page': { action: 'audit.search', self: false, params: true },
  'audit.entry': { action: 'audit.read', self: false, params: true },
  'audit.verify': { action: 'audit.verify', self: true, params: false },
  // The export records its request first and then its failure, if any, itself.
  'audit.export': { action: 'audit.export', self: true, params: true, selfFailures: 'all' },
  'audit.repairTree': { action: 'audit.tree.repair', self: true, params: false, selfFailures: 'all' },
  'audit.publicKey': { action: 'audit.key.export', self: false, params: false },
  'audit.proof': { action: 'audit.proof', self: false, params: true },
  'audit.consistency': { action: 'audit.consistency', self: false, params: true },
  // The copy's path is recorded with the decision, refusals included.
  'audit.anchorCopy': { action: 'audit.anchor.copy', self: true, params: true, selfFailures: 'all' },
};

/**
 * The audit log's requests: browsing, verification (also against what was kept elsewhere), exports, proofs and the
 * second checkpoint copy. The app and the CLI reach them through the same router, so each is validated and recorded
 * the same way; a path is never part of a request (main chooses it: the CLI from its command line).
 */
export function auditHandlers({
  audit,
  operations,
  events,
  actor,
  dataDir,
  clock,
  chooseDestination,
}: {
  audit: AuditService;
  operations: AuditOperations;
  events: EventHub;
  actor: AuditActor;
  dataDir: string;
  clock: () => Date;
  chooseDestination: ChooseDestination | undefined;
}): Pick<Handlers, AuditChannel> {
  // These two record their own failures (their plans say so): a place refused before they start is recorded here.
  const recordedDestination = (kind: DestinationKind, fallback: string | null, action: string) => {
    try {
      return destination(chooseDestination, kind, fallback);
    } catch (error) {
      if (isCustosError(error)) audit.record({ actor, action, result: { status: 'refused', code: error.code } });
      throw error;
    }
  };
  return {
    'audit.status': () => audit.status(),
    'audit.checkpoint': () => operations.checkpoint('on demand'),
    'audit.page': ({ filter, offset, limit }) => operations.browser().page(filter, offset, limit),
    'audit.entry': ({ seq }) => operations.browser().entry(seq),
    'audit.verify': ({ trustedCheckpoints, key }) =>
      operations.verify({
        ...(trustedCheckpoints ? { trustedCheckpoints } : {}),
        ...(key ? { key: pinnedKey(audit, key), keySource: 'pinned' as const } : {}),
        onProgress: (checked, total) => events.emit('audit.verifyProgress', { checked, total: total ?? checked }),
      }),
    'audit.export': ({ format, trail }) => {
      const stamp = clock().toISOString().replace(/[:.]/g, '-');
      const name = `custos-audit-${stamp}${format === 'bundle' ? '' : `.${format}`}`;
      const { path } = recordedDestination('audit-export', join(dataDir, 'exports', name), 'audit.export');
      return operations.export(path, format, trail);
    },
    'audit.repairTree': () => operations.repairTree(),
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
      audit.setAnchorCopy(keep ? recordedDestination('anchor-copy', null, 'audit.anchor.copy').path : null, actor),
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
