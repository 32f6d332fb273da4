import pkcs11js from 'pkcs11js';
import type { QuorumOperation } from './quorum-service';

/**
 * The operations a quorum can approve, by action name. Each runs once, inside the session the
 * rebuilt PIN opened, and returns only what may be shown and recorded (never key material).
 */
export const quorumOperations: Record<string, QuorumOperation> = {
  /** A rehearsal: proves the custodians can open the token together, and changes nothing. */
  'token.quorum-drill': ({ session, lib }) => {
    lib.C_FindObjectsInit(session, [{ type: pkcs11js.CKA_TOKEN, value: true }]);
    const objects = lib.C_FindObjects(session, 1000).length;
    lib.C_FindObjectsFinal(session);
    return { opened: true, objects };
  },
};
