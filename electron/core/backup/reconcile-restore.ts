import type { AuditService } from '../audit/audit-service';
import { signedEntries } from '../audit/signed-entries';
import type { Store } from '../store/database';
import { CustosError } from '../errors';
import type { KeyInventory } from '../keys/key-inventory';
import { NEEDS_LOGIN, type QuorumReconciler } from '../quorum/quorum-service';
import { RestoreParams } from '../../../shared/actions';
import { RESTORE_UNSETTLED, RESTORE_UNWRAPPING } from './backup-service';
import { destroyed } from '../hsm/find-objects';
import { objectsWithId } from './key-wrap';
import type { Manifest } from './manifest';

/**
 * After a crash mid-restore, at a quorum login on the target token (the unwrapped keys are private
 * objects, seen only then): what the restore left there, found by the CKA_IDs of the set's keys,
 * can no longer be proven — the KEK the cards rebuilt is gone — and a restore is all or nothing,
 * so it is removed and the removal recorded. Keys the inventory already places in that token stay, and a restore that
 * stopped before it found the token free of the set's CKA_IDs (its signed RESTORE_UNWRAPPING entry) removes nothing:
 * what the token holds under those ids then is a copy it held before, which that restore would have refused.
 * A restore whose token failed half-way and would not take back what it had unwrapped is left to this too.
 */
export function reconcileRestore(options: {
  store: Store;
  audit: AuditService;
  keys: KeyInventory;
  manifest: (setId: string) => Manifest;
}): QuorumReconciler {
  return ({ session, lib, params, proposalId, token, loggedIn }) => {
    if (!loggedIn) return NEEDS_LOGIN;
    const { setId } = RestoreParams.parse(params);
    const set = `backup set ${setId.slice(0, 8)}…`;
    const object = `proposal:${proposalId}`;
    if (signedEntries(options.store, options.audit, { action: RESTORE_UNWRAPPING, object }).length === 0)
      throw new CustosError(
        'OPERATION_INTERRUPTED',
        `Custos stopped while restoring ${set}, before it unwrapped anything into token ${token.label}. Nothing was restored or removed.`,
        ['Propose the restore again; the card holders enter their cards again.'],
      );
    const removed: { keyId: string; label: string; objects: number; left?: number }[] = [];
    for (const key of options.manifest(setId).keys) {
      if (options.keys.livesIn(key.id, token)) continue;
      const found = objectsWithId(lib, session, key.id);
      // One the token will not destroy (CKA_DESTROYABLE false) is not the restore's, whose objects all may be: it was
      // planted, stays, and is counted, and stops nothing (before, it failed the clean-up and the key stayed).
      const gone = found.filter((handle) => destroyed(lib, session, handle)).length;
      const left = found.length - gone;
      if (found.length > 0)
        removed.push({ keyId: key.id, label: key.label, objects: gone, ...(left > 0 ? { left } : {}) });
    }
    if (removed.length > 0) {
      const actor = { type: 'system', id: 'system' } as const;
      options.audit.record({
        actor,
        action: 'backup.restore.removed',
        object: { type: 'proposal', id: proposalId },
        params: { setId, token, removed },
      });
    }
    const left =
      removed.length === 0
        ? `token ${token.label} holds nothing of it`
        : `the keys it had unwrapped into token ${token.label} (${removed.map((k) => `“${k.label}”`).join(', ')}) could no longer be proven, so they were removed`;
    // A run that ended on a token failure it could not undo (RESTORE_UNSETTLED) is settled here as a crash is.
    const unsettled = signedEntries(options.store, options.audit, { action: RESTORE_UNSETTLED, object }).length > 0;
    const stopped = unsettled ? `Token ${token.label} failed` : 'Custos stopped';
    throw new CustosError(
      'OPERATION_INTERRUPTED',
      `${stopped} while restoring ${set}: ${left}. Nothing was restored.`,
      ['Propose the restore again; the card holders enter their cards again.'],
    );
  };
}
