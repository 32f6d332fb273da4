import { describe, expect, it } from 'vitest';
import { policyVerdict } from './algorithm-policy';

describe('algorithm policy', () => {
  it.each([
    ['RSA-2048', '2030-12-31', 'acceptable'],
    ['RSA-2048', '2031-01-01', 'deprecated'],
    ['RSA-2048', '2035-12-31', 'deprecated'],
    ['RSA-2048', '2036-01-01', 'disallowed'],
    ['EC-P224', '2031-01-01', 'deprecated'],
    ['EC-P256', '2035-12-31', 'acceptable'],
    ['EC-P256', '2036-01-01', 'disallowed'],
    ['Ed25519', '2036-01-01', 'disallowed'],
    ['AES-256', '2050-01-01', 'acceptable'],
    ['RSA-1024', '2026-11-30', 'disallowed'],
  ] as const)('%s on %s is %s (both sides of every threshold)', (algorithm, day, status) => {
    expect(policyVerdict(algorithm, new Date(`${day}T12:00:00Z`)).status).toBe(status);
  });

  it('warns, with the date and the source, about what is coming', () => {
    expect(policyVerdict('EC-P256', new Date('2026-11-30T00:00:00Z')).notes).toEqual([
      'EC-P256 becomes disallowed on 2036-01-01 (IR 8547 ipd §4.1 (quantum-vulnerable)).',
    ]);
    expect(policyVerdict('RSA-2048', new Date('2032-01-01T00:00:00Z')).notes[0]).toMatch(
      /^RSA-2048 is deprecated as of 2032-01-01/,
    );
  });
});
