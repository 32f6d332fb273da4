import type { FactorProofs } from '../custodians/factor-proofs';
import type { Handlers } from '../ipc/router';
import { FACTOR_FAILURES, type AuditPlans } from '../ipc/request-record';
import type { KeyInventory } from './key-inventory';

type KeyChannel = 'keys.list' | 'keys.exportPublic' | 'keys.emergency';

export const keyPlan: AuditPlans<KeyChannel> = {
  'keys.list': { action: 'key.list', self: false, params: false },
  'keys.exportPublic': { action: 'key.export-public', self: false, params: true },
  'keys.emergency': { action: 'key.emergency', self: true, params: false, selfFailures: FACTOR_FAILURES },
};

export function keyHandlers({
  keys,
  proveOfficer,
  revocationNotice,
  proposeRevocations,
}: {
  keys: KeyInventory;
  proveOfficer: FactorProofs['proveOfficer'];
  /** Signs and writes the revocation notice of a key just marked compromised. */
  revocationNotice: (keyId: string) => Promise<{ id: string; dir: string; sha256: string }>;
  /** Proposes, for a key just marked compromised, the CRLs that revoke its certificates (pki/). */
  proposeRevocations?: (
    keyId: string,
    officerId: string,
  ) => { issuerKeyId: string; proposalId: string | null; problem: string | null }[];
}): Pick<Handlers, KeyChannel> {
  return {
    'keys.list': () => keys.list(),
    'keys.exportPublic': ({ keyId, format, token }) => {
      if (token) keys.checkToken(keyId, token);
      return { keyId, format, text: keys.exportPublic(keyId, format) };
    },
    'keys.emergency': async ({ keyId, transition, token, reason, officer }) => {
      // Refused before the officer's factors are tried: an officer at one token cannot reach another's keys.
      keys.checkToken(keyId, token);
      keys.check(keyId, transition, 'security-officer');
      const actor = await proveOfficer(officer, `key ${transition}`);
      const key = keys.transition(keyId, transition, 'security-officer', actor, reason);
      if (transition !== 'compromise') return { ...key, revocationNotice: null };
      // Made once the compromise is recorded: if it fails, the analyzer names the key without a notice.
      const notice = await revocationNotice(keyId);
      const revocationProposals = proposeRevocations?.(keyId, officer.custodianId) ?? [];
      return {
        ...keys.get(keyId),
        revocationNotice: { id: notice.id, dir: notice.dir, sha256: notice.sha256 },
        ...(revocationProposals.length ? { revocationProposals } : {}),
      };
    },
  };
}
