import type { KeyRecord } from '../../../shared/keys';

/**
 * How a proposal reads to a person, in one place: the action catalogue (issue #13, section 1) will
 * replace this file, so screens call only actionTitle and describeParams.
 */
const ACTION_TITLES: Record<string, string> = {
  'token.quorum-drill': 'Quorum drill',
  'custody.redeal': 'Change of holders',
  'key.generate': 'Generate a key',
  'key.test-signature': 'Test signature',
  'key.activate': 'Activate a key',
  'key.deactivate': 'Deactivate a key',
  'key.reactivate': 'Reactivate a key',
  'key.schedule-destruction': 'Schedule destruction',
  'key.cancel-destruction': 'Cancel destruction',
  'key.destroy': 'Destroy a key',
  'key.backup': 'Back up keys',
  'key.restore': 'Restore a backup',
};

export function actionTitle(action: string): string {
  return ACTION_TITLES[action] ?? action;
}

export interface Names {
  custodian(id: string): string;
  key(id: string): KeyRecord | undefined;
}

/** The parameters approvers approve, in words: custodian ids become names, key ids the key's label, algorithm and state. */
export function describeParams(params: unknown, names: Names): string {
  if (!params || typeof params !== 'object' || Object.keys(params).length === 0) return 'Nothing beyond the action itself.';
  return Object.entries(params as Record<string, unknown>)
    .map(([name, value]) => {
      if ((name === 'keyId' || name === 'keyIds') && value !== undefined) {
        const ids = Array.isArray(value) ? value.map(String) : [String(value)];
        return `${ids.length === 1 ? 'key' : 'keys'}: ${ids.map((id) => describeKey(id, names)).join(', ')}`;
      }
      return `${name}: ${Array.isArray(value) ? value.map((v) => names.custodian(String(v))).join(', ') : String(value)}`;
    })
    .join('; ');
}

function describeKey(id: string, names: Names): string {
  const key = names.key(id);
  return key ? `“${key.label}” (${key.algorithm}, ${key.state}, in ${key.token.label})` : id;
}
