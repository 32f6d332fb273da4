import pkcs11js from 'pkcs11js';
import { findObjects } from '../hsm/find-objects';
import type { QuorumOperation } from './quorum-service';

/** A rehearsal: proves the custodians can open the token together, and changes nothing. */
export const quorumDrill: QuorumOperation = ({ session, lib }) => ({
  opened: true,
  objects: findObjects(lib, session, [{ type: pkcs11js.CKA_TOKEN, value: true }], 1000).length,
});
