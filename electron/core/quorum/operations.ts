import pkcs11js from 'pkcs11js';
import { z, type ZodType } from 'zod';
import type { QuorumAction } from '../../../shared/quorum';
import { BackupParams, RestoreParams } from '../backup/backup-service';
import { RedealParams } from '../custody/turnover';
import { findObjects } from '../hsm/find-objects';
import type { KeyInventory, KeyTransition } from '../keys/key-inventory';
import { destructionOperations, ScheduleParams } from '../keys/destruction';
import { GenerateParams, keyGeneration, testSignature, TestSignatureParams } from '../keys/key-generation';
import type { Store } from '../store/database';
import type { QuorumOperation } from './quorum-service';

/** A rehearsal: proves the custodians can open the token together, and changes nothing. */
const drill: QuorumOperation = ({ session, lib }) => ({ opened: true, objects: findObjects(lib, session, [{ type: pkcs11js.CKA_TOKEN, value: true }], 1000).length });

const KeyParams = z.strictObject({ keyId: z.string().regex(/^[0-9a-f]{32}$/) });

/** A key state change the quorum approved, committed with the execution's audit entry. */
function keyTransition(inventory: KeyInventory, transition: KeyTransition): QuorumOperation {
  return ({ params }) => {
    const { keyId } = KeyParams.parse(params);
    inventory.check(keyId, transition, 'quorum');
    return { result: { keyId, transition }, commit: () => inventory.transition(keyId, transition, 'quorum', { type: 'system', id: 'system' }) };
  };
}

/**
 * The operations a quorum can approve, by action name. Each runs once, inside the session the
 * rebuilt PIN opened, and returns only what may be shown and recorded (never key material).
 */
export function quorumOperations(store: Store, now: () => Date, inventory: KeyInventory): Record<string, QuorumOperation> {
  return {
    'token.quorum-drill': drill,
    'key.generate': keyGeneration(store, now),
    'key.test-signature': testSignature(store),
    'key.activate': keyTransition(inventory, 'activate'),
    'key.deactivate': keyTransition(inventory, 'deactivate'),
    'key.reactivate': keyTransition(inventory, 'reactivate'),
    ...destructionOperations(store, inventory, now),
  };
}

/** What each action's parameters must be, checked when it is proposed (and again when it runs). */
export const quorumParams = {
  'token.quorum-drill': z.strictObject({}),
  'key.generate': GenerateParams,
  'key.test-signature': TestSignatureParams,
  'key.activate': KeyParams,
  'key.deactivate': KeyParams,
  'key.reactivate': KeyParams,
  'key.schedule-destruction': ScheduleParams,
  'key.cancel-destruction': KeyParams,
  'key.destroy': KeyParams,
  'custody.redeal': RedealParams,
  'key.backup': BackupParams,
  'key.restore': RestoreParams,
} satisfies Record<QuorumAction, ZodType>;
