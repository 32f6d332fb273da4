import pkcs11js from 'pkcs11js';
import { keyGeneration, testSignature } from '../keys/key-generation';
import type { Store } from '../store/database';
import type { QuorumOperation } from './quorum-service';

/** A rehearsal: proves the custodians can open the token together, and changes nothing. */
const drill: QuorumOperation = ({ session, lib }) => {
  lib.C_FindObjectsInit(session, [{ type: pkcs11js.CKA_TOKEN, value: true }]);
  const objects = lib.C_FindObjects(session, 1000).length;
  lib.C_FindObjectsFinal(session);
  return { opened: true, objects };
};

/**
 * The operations a quorum can approve, by action name. Each runs once, inside the session the
 * rebuilt PIN opened, and returns only what may be shown and recorded (never key material).
 */
export function quorumOperations(store: Store, now: () => Date): Record<string, QuorumOperation> {
  return {
    'token.quorum-drill': drill,
    'key.generate': keyGeneration(store, now),
    'key.test-signature': testSignature(store),
  };
}
