import type { Algorithm, KeyUsage, PolicyVerdict } from '../../../shared/keys';

/**
 * The algorithm policy as data, with its sources, so that an auditor can check each line:
 * - SP 800-131A Rev 2 (2019): AES-256, RSA ≥ 2048, ECDSA/EdDSA on P-256+ acceptable; RSA-1024,
 *   P-192 disallowed; 112-bit security (RSA-2048, P-224) acceptable through 2030.
 * - NIST IR 8547 (initial public draft, Nov 2024): quantum-vulnerable public-key algorithms —
 *   112-bit security deprecated after 2030; RSA, ECDSA, EdDSA at every size disallowed after 2035.
 * - SP 800-131A Rev 3 (initial public draft, Oct 2024): carries the same transitions.
 * Dates are the first day on which the new status applies.
 */
export interface PolicyRule {
  algorithm: Algorithm | 'RSA-2048' | 'EC-P224' | 'RSA-1024';
  deprecatedFrom: string | null;
  disallowedFrom: string | null;
  source: string;
}

export const ALGORITHM_POLICY: readonly PolicyRule[] = [
  {
    algorithm: 'AES-256',
    deprecatedFrom: null,
    disallowedFrom: null,
    source: 'SP 800-131A Rev 2 §2; IR 8547 (not quantum-vulnerable at 256 bits)',
  },
  {
    algorithm: 'RSA-1024',
    deprecatedFrom: null,
    disallowedFrom: '2014-01-01',
    source: 'SP 800-131A Rev 2 §3, Table 2',
  },
  {
    algorithm: 'RSA-2048',
    deprecatedFrom: '2031-01-01',
    disallowedFrom: '2036-01-01',
    source: 'IR 8547 ipd §4.1 (112-bit security)',
  },
  {
    algorithm: 'EC-P224',
    deprecatedFrom: '2031-01-01',
    disallowedFrom: '2036-01-01',
    source: 'IR 8547 ipd §4.1 (112-bit security)',
  },
  {
    algorithm: 'RSA-3072',
    deprecatedFrom: null,
    disallowedFrom: '2036-01-01',
    source: 'IR 8547 ipd §4.1 (quantum-vulnerable)',
  },
  {
    algorithm: 'RSA-4096',
    deprecatedFrom: null,
    disallowedFrom: '2036-01-01',
    source: 'IR 8547 ipd §4.1 (quantum-vulnerable)',
  },
  {
    algorithm: 'EC-P256',
    deprecatedFrom: null,
    disallowedFrom: '2036-01-01',
    source: 'IR 8547 ipd §4.1 (quantum-vulnerable)',
  },
  {
    algorithm: 'EC-P384',
    deprecatedFrom: null,
    disallowedFrom: '2036-01-01',
    source: 'IR 8547 ipd §4.1 (quantum-vulnerable)',
  },
  {
    algorithm: 'Ed25519',
    deprecatedFrom: null,
    disallowedFrom: '2036-01-01',
    source: 'IR 8547 ipd §4.1 (quantum-vulnerable); FIPS 186-5 approves EdDSA',
  },
];

export function policyVerdict(algorithm: PolicyRule['algorithm'], on: Date): PolicyVerdict {
  const rule = ALGORITHM_POLICY.find((r) => r.algorithm === algorithm);
  if (!rule) return { status: 'disallowed', notes: [`${algorithm} is not in Custos's algorithm policy.`] };
  const day = on.toISOString().slice(0, 10);
  const notes: string[] = [];
  let status: PolicyVerdict['status'] = 'acceptable';
  if (rule.deprecatedFrom) {
    if (day >= rule.deprecatedFrom) status = 'deprecated';
    else notes.push(`${algorithm} becomes deprecated on ${rule.deprecatedFrom} (${rule.source}).`);
  }
  if (rule.disallowedFrom) {
    if (day >= rule.disallowedFrom) status = 'disallowed';
    else notes.push(`${algorithm} becomes disallowed on ${rule.disallowedFrom} (${rule.source}).`);
  }
  if (status !== 'acceptable') notes.unshift(`${algorithm} is ${status} as of ${day} (${rule.source}).`);
  return { status, notes };
}

/**
 * When a key must be rotated: the end of its cryptoperiod, or the day the policy disallows its
 * algorithm, whichever comes first.
 */
export function rotationDate(algorithm: string, cryptoperiodEnds: string): string {
  const disallowed = ALGORITHM_POLICY.find((r) => r.algorithm === algorithm)?.disallowedFrom;
  if (!disallowed) return cryptoperiodEnds;
  const policyDay = new Date(`${disallowed}T00:00:00.000Z`).toISOString();
  return policyDay < cryptoperiodEnds ? policyDay : cryptoperiodEnds;
}

/**
 * Default cryptoperiods from SP 800-57 Part 1 Rev 5, Table 1: private signature keys 1–3 years,
 * symmetric data-encryption keys up to 2 years (originator usage), key-wrapping keys up to 2 years.
 */
const CRYPTOPERIOD_DAYS: Record<KeyUsage, number> = { sign: 2 * 365, encrypt: 2 * 365, wrap: 2 * 365 };

export function defaultCryptoperiodDays(usage: KeyUsage): number {
  return CRYPTOPERIOD_DAYS[usage];
}
