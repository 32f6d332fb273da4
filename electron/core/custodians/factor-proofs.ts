import type { AuditActor } from '../../../shared/audit';
import { CustosError } from '../errors';
import type { CustodianService } from './custodian-service';

/** A custodian's two factors, as a request carries them. */
export interface FactorProof {
  custodianId: string;
  passphrase: string;
  code: string;
}

/** How handlers check the factors a request carries before they act. */
export interface FactorProofs {
  proveFactors(proof: FactorProof, purpose: string): Promise<void>;
  /** A security officer proving both factors; returns them as the actor to record. */
  proveOfficer(proof: FactorProof, purpose: string): Promise<AuditActor>;
}

export function factorProofs(custodians: CustodianService): FactorProofs {
  const proveFactors = async (proof: FactorProof, purpose: string): Promise<void> => {
    (await custodians.verifyFactors(proof.custodianId, proof.passphrase, proof.code, purpose)).fill(0);
  };
  return {
    proveFactors,
    async proveOfficer(proof, purpose) {
      const who = custodians.get(proof.custodianId);
      if (!who.roles.includes('security-officer'))
        throw new CustosError('NOT_AUTHORIZED', `${who.name} is not a security officer.`);
      await proveFactors(proof, purpose);
      return { type: 'custodian', id: who.id, role: 'security-officer' };
    },
  };
}
