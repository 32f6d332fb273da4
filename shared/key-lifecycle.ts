import type { KeyRecord, KeyState } from './keys';

/**
 * SP 800-57 Part 1 §7 transitions Custos allows, and who may make each: the quorum, or a single
 * security officer in an emergency. Destruction has its own scheduled ceremony.
 */
export const TRANSITIONS = {
  activate: { from: ['pre-activation'], to: 'active', by: 'quorum' },
  deactivate: { from: ['active', 'suspended'], to: 'deactivated', by: 'quorum' },
  reactivate: { from: ['suspended'], to: 'active', by: 'quorum' },
  suspend: { from: ['active'], to: 'suspended', by: 'security-officer' },
  compromise: {
    from: ['pre-activation', 'active', 'suspended', 'deactivated'],
    to: 'compromised',
    by: 'security-officer',
  },
} as const satisfies Record<string, { from: readonly KeyState[]; to: KeyState; by: 'quorum' | 'security-officer' }>;
export type KeyTransition = keyof typeof TRANSITIONS;

type KeyFacts = Pick<KeyRecord, 'state' | 'label' | 'partlyDestroyed'>;

/** "the private key and the public key" */
export function objectsInWords(kinds: readonly string[]): string {
  const named = kinds.map((kind) => `the ${kind}`);
  return named.length <= 1 ? (named[0] ?? 'nothing') : `${named.slice(0, -1).join(', ')} and ${named.at(-1)!}`;
}

/** Whether a destruction's waiting period is over at `at` (the core's clock); the view and key.destroy both ask. */
export function destructionDueAt(notBefore: string, at: Date): boolean {
  return at.toISOString() >= notBefore;
}

/** "2026-12-09 14:00 UTC" */
export function inUtc(iso: string): string {
  return `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC`;
}

/**
 * Why the key's state rules this transition out, in plain words; null when it allows it. A key a destruction left
 * partly destroyed has lost objects, so it may only be marked compromised (or its destruction finished).
 */
export function transitionRefusal(key: KeyFacts, transition: KeyTransition): string | null {
  const rule = TRANSITIONS[transition];
  if (key.partlyDestroyed && transition !== 'compromise')
    return (
      `“${key.label}” is partly destroyed (${objectsInWords(key.partlyDestroyed.destroyed)} gone): it can only be ` +
      'destroyed fully or marked compromised.'
    );
  if (!(rule.from as readonly KeyState[]).includes(key.state))
    return `A ${key.state} key cannot be made ${rule.to} (SP 800-57 allows it only from ${rule.from.join(' or ')}).`;
  return null;
}

/** The changes the Keys screen offers on a key: quorum actions by name, and the officer's emergency transitions. */
export const KEY_CHANGES = [
  'key.activate',
  'key.deactivate',
  'key.rotate',
  'key.reactivate',
  'key.schedule-destruction',
  'key.cancel-destruction',
  'key.destroy',
  'suspend',
  'compromise',
] as const;
export type KeyChange = (typeof KEY_CHANGES)[number];

/**
 * Why the key as listed rules this change out, in plain words; null when it may be proposed (or made). The quorum
 * transitions and the officer's follow transitionRefusal, the rule the core enforces; rotation and the destruction
 * ceremony follow the core's checks of them (key-rotation.ts, destruction.ts), which check again when proposed and run.
 */
export function keyChangeRefusal(
  key: KeyFacts & Pick<KeyRecord, 'destructionNotBefore' | 'destructionDue' | 'policy' | 'algorithm'>,
  change: KeyChange,
): string | null {
  const waiting = key.destructionNotBefore !== null;
  switch (change) {
    case 'key.activate':
    case 'key.reactivate':
      return (
        transitionRefusal(key, change.slice('key.'.length) as KeyTransition) ??
        (key.policy.status === 'disallowed'
          ? `${key.algorithm} is disallowed today; the key cannot be made active.`
          : null)
      );
    case 'key.deactivate':
      return transitionRefusal(key, 'deactivate');
    case 'suspend':
    case 'compromise':
      return transitionRefusal(key, change);
    case 'key.rotate':
      if (key.state !== 'active') return `Only an active key is rotated; this one is ${key.state}.`;
      return waiting ? 'A key waiting to be destroyed is not rotated.' : null;
    case 'key.schedule-destruction':
      if (key.state === 'destroyed') return 'It is already destroyed.';
      return waiting ? 'Its destruction is already scheduled.' : null;
    case 'key.cancel-destruction':
      if (!waiting) return 'No destruction is scheduled.';
      return key.partlyDestroyed ? 'A destruction that was cut short cannot be cancelled.' : null;
    case 'key.destroy':
      if (key.destructionNotBefore === null)
        return 'Its destruction must be scheduled, and the waiting period pass, first.';
      return key.destructionDue ? null : `Destruction can be proposed from ${inUtc(key.destructionNotBefore)}.`;
  }
}
