/** What a report can look up to name the things a proposal's parameters point at. */
export interface ParamLookups {
  key(id: string): { label: string; algorithm: string } | null;
  person(id: string): string | null;
  token(serial: string): string | null;
}

export const NO_LOOKUPS: ParamLookups = { key: () => null, person: () => null, token: () => null };

const KEY_PARAMS = new Set(['keyId', 'keyIds', 'keys']);
const PERSON_PARAMS = new Set(['holders', 'holder', 'custodianId', 'custodianIds']);
const TOKEN_PARAMS = new Set(['serial', 'tokenSerial']);

/**
 * A proposal's parameters as people read them, one line each: keys by label and algorithm,
 * custodians by name, tokens by label, ids kept only as secondary detail; anything else as
 * "name: value". (Issue #13's action catalogue will say more per action.)
 */
export function describeParams(params: unknown, lookups: ParamLookups): string[] {
  const empty = !params || typeof params !== 'object' || Object.keys(params).length === 0;
  if (empty) return ['none beyond the action itself'];
  return Object.entries(params as Record<string, unknown>).map(([name, value]) => {
    const values = Array.isArray(value) ? value : [value];
    const each = (v: unknown): string => {
      const text = typeof v === 'string' ? v : JSON.stringify(v);
      if (typeof v !== 'string') return text;
      if (KEY_PARAMS.has(name)) {
        const key = lookups.key(v);
        return key ? `“${key.label}” (${key.algorithm}), id ${v}` : `key ${v} (not in the inventory)`;
      }
      if (PERSON_PARAMS.has(name)) return lookups.person(v) ?? `custodian ${v} (unknown)`;
      if (TOKEN_PARAMS.has(name)) {
        const label = lookups.token(v);
        return label ? `“${label}” (serial ${v})` : `serial ${v}`;
      }
      return text;
    };
    return `${name}: ${values.map(each).join(', ')}`;
  });
}
