import type { ErrorCode } from './errors';
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

/** The change that makes each transition: the quorum's action, or the officer's emergency by its name. */
export const TRANSITION_CHANGE = {
  activate: 'key.activate',
  deactivate: 'key.deactivate',
  reactivate: 'key.reactivate',
  suspend: 'suspend',
  compromise: 'compromise',
} as const satisfies Record<KeyTransition, KeyChange>;

/** Why a change is refused: the stable code the core throws, its words, and what to do instead. */
export interface KeyChangeRefusal {
  code: ErrorCode;
  message: string;
  remedy: string[];
}

/** The key as listed (KeyRecord), or as the core reads it before a change. */
export type KeyChangeFacts = KeyFacts &
  Pick<KeyRecord, 'destructionNotBefore' | 'destructionDue' | 'policy' | 'algorithm' | 'rotatedTo'>;

/**
 * Why the key rules this change out; null when it may be proposed (or made). The one rule for the Keys screen, which
 * offers only what it allows, and for the core, which throws what it returns when a change is proposed and again when
 * it runs (KeyInventory.check, key-rotation.ts, destruction.ts). `destructionDue` is read by the core's clock. A
 * rotation's successor keeps the key's algorithm unless the proposal names another (`successor`); the policy of
 * another algorithm is the core's to check.
 */
export function keyChangeRefusal(
  key: KeyChangeFacts,
  change: KeyChange,
  successor: string = key.algorithm,
): KeyChangeRefusal | null {
  switch (change) {
    case 'key.activate':
    case 'key.deactivate':
    case 'key.reactivate':
      return stateChangeRefusal(key, change.slice('key.'.length) as KeyTransition);
    case 'suspend':
    case 'compromise':
      return stateChangeRefusal(key, change);
    case 'key.rotate':
      return rotationRefusal(key, successor);
    case 'key.schedule-destruction':
    case 'key.cancel-destruction':
    case 'key.destroy':
      return destructionRefusal(key, change);
  }
}

/**
 * Why the key's state rules this transition out. A key a destruction left partly destroyed has lost objects, so it may
 * only be marked compromised (or its destruction finished).
 */
function stateChangeRefusal(key: KeyChangeFacts, transition: KeyTransition): KeyChangeRefusal | null {
  const rule = TRANSITIONS[transition];
  const refused = (message: string, why: string): KeyChangeRefusal => ({
    code: 'KEY_STATE_FORBIDS',
    message,
    remedy: [`Nothing was changed. Check the key's state in the key list; ${why}`],
  });
  if (key.partlyDestroyed && transition !== 'compromise')
    return refused(
      `“${key.label}” is partly destroyed (${objectsInWords(key.partlyDestroyed.destroyed)} gone): it can only be ` +
        'destroyed fully or marked compromised.',
      'a key that lost part of its objects is never used again: propose key.destroy to finish its destruction.',
    );
  if (!(rule.from as readonly KeyState[]).includes(key.state))
    return refused(
      `A ${key.state} key cannot be made ${rule.to} (SP 800-57 allows it only from ${rule.from.join(' or ')}).`,
      key.state === 'compromised'
        ? 'a compromised key is never used again.'
        : 'only the transitions SP 800-57 allows are offered.',
    );
  // A key waiting to be destroyed cannot be used, so it is not made active meanwhile: cancel the destruction first.
  if (rule.to === 'active' && key.destructionNotBefore !== null)
    return {
      code: 'DESTRUCTION_WAITING',
      message: `“${key.label}” is waiting to be destroyed, so it is not made active.`,
      remedy: ['Cancel the destruction (a quorum) first, if the key is to be used again.'],
    };
  if (rule.to === 'active' && key.policy.status === 'disallowed')
    return {
      code: 'ALGORITHM_DISALLOWED',
      message: `${key.algorithm} is disallowed today; the key cannot be made active.`,
      remedy: [...key.policy.notes, 'Generate a key with an algorithm the policy allows.'],
    };
  return null;
}

/** Only an active key not waiting to be destroyed is rotated, and never to an algorithm the policy disallows. */
function rotationRefusal(key: KeyChangeFacts, successor: string): KeyChangeRefusal | null {
  if (key.state !== 'active')
    return {
      code: 'KEY_STATE_FORBIDS',
      message: `“${key.label}” is ${key.state}; only an active key is rotated${key.rotatedTo ? ' (it was rotated already)' : ''}.`,
      remedy: ['Rotate the family’s active version (see the key list).'],
    };
  if (key.destructionNotBefore !== null)
    return {
      code: 'DESTRUCTION_WAITING',
      message: 'This key is waiting to be destroyed and cannot be rotated.',
      remedy: ['Cancel the destruction (a quorum) first, or generate a new key.'],
    };
  if (successor === key.algorithm && key.policy.status === 'disallowed')
    return {
      code: 'ALGORITHM_DISALLOWED',
      message:
        `${key.algorithm} is disallowed today, so “${key.label}” is rotated only to another algorithm, named when ` +
        'the rotation is proposed.',
      remedy: [...key.policy.notes, 'Propose key.rotate with algorithm= an algorithm the policy allows (in the CLI).'],
    };
  return null;
}

/** The destruction ceremony: scheduled once, cancelled while whole, carried out once the wait is over. */
function destructionRefusal(
  key: KeyChangeFacts,
  change: 'key.schedule-destruction' | 'key.cancel-destruction' | 'key.destroy',
): KeyChangeRefusal | null {
  const notBefore = key.destructionNotBefore;
  switch (change) {
    case 'key.schedule-destruction':
      if (key.state === 'destroyed')
        return {
          code: 'KEY_STATE_FORBIDS',
          message: 'This key is already destroyed.',
          remedy: ['Nothing to schedule: its destruction is on record.'],
        };
      if (notBefore === null) return null;
      return {
        code: 'DESTRUCTION_WAITING',
        message: `This key’s destruction is already scheduled; ${key.destructionDue ? 'its waiting period is over' : `it can be carried out from ${inUtc(notBefore)}`}.`,
        remedy: ['Carry it out once the wait is over, or cancel the destruction (a quorum) to schedule it anew.'],
      };
    case 'key.cancel-destruction':
      if (notBefore === null)
        return {
          code: 'DESTRUCTION_NOT_SCHEDULED',
          message: 'No destruction of this key is waiting, so there is nothing to cancel.',
          remedy: ['Check the key’s state in the key list.'],
        };
      if (!key.partlyDestroyed) return null;
      return {
        code: 'KEY_STATE_FORBIDS',
        message: `“${key.label}” is partly destroyed (${objectsInWords(key.partlyDestroyed.destroyed)} gone): its destruction cannot be cancelled.`,
        remedy: [
          'Propose key.destroy for it again: that finishes the destruction and proves nothing of the key is left.',
        ],
      };
    case 'key.destroy':
      if (notBefore === null)
        return {
          code: 'DESTRUCTION_NOT_SCHEDULED',
          message: 'Destruction must be scheduled, and its waiting period pass, first.',
          remedy: ['Propose key.schedule-destruction (7 to 30 days’ wait).'],
        };
      if (key.destructionDue) return null;
      return {
        code: 'DESTRUCTION_WAITING',
        message: `Destruction can be proposed from ${inUtc(notBefore)}, when the waiting period ends; until then it can only be cancelled.`,
        remedy: ['Propose the destruction once the waiting period is over.'],
      };
  }
}
