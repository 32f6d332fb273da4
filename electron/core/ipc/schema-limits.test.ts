import { describe, expect, it } from 'vitest';
import { channel, channelNames } from '../../../shared/ipc-schema';
import { TokenRef } from '../../../shared/tokens';

type Def = { type: string; checks?: { _zod: { def: Record<string, unknown> } }[]; [key: string]: unknown };
const defOf = (schema: unknown) => (schema as { _zod: { def: Def } })._zod.def;

/** True when a pattern can only match strings of bounded length (anchored, no *, + or {n,}). */
function boundedPattern(pattern: RegExp): boolean {
  return (
    pattern.source.startsWith('^') && pattern.source.endsWith('$') && !/(^|[^\\])[*+]|\{\d+,\}/.test(pattern.source)
  );
}

function stringBounded(def: Def): boolean {
  const checks = [def as Record<string, unknown>, ...(def.checks ?? []).map((c) => c._zod.def)];
  return checks.some(
    (c) =>
      c.check === 'max_length' ||
      c.check === 'length_equals' ||
      (c.check === 'string_format' && c.pattern instanceof RegExp && boundedPattern(c.pattern)),
  );
}

/** Every string (and record key) an input schema accepts, by path, with whether it is bounded. */
function strings(schema: unknown, path: string, seen = new Set<unknown>()): { path: string; bounded: boolean }[] {
  if (seen.has(schema)) return [];
  seen.add(schema);
  const def = defOf(schema);
  switch (def.type) {
    case 'string':
      return [{ path, bounded: stringBounded(def) }];
    case 'object':
      return Object.entries(def.shape as Record<string, unknown>).flatMap(([key, value]) =>
        strings(value, `${path}.${key}`, seen),
      );
    case 'array':
      return strings(def.element, `${path}[]`, seen);
    case 'record':
      return [...strings(def.keyType, `${path}{key}`, seen), ...strings(def.valueType, `${path}{value}`, seen)];
    case 'union':
      return (def.options as unknown[]).flatMap((option, i) => strings(option, `${path}|${i}`, seen));
    case 'optional':
    case 'nullable':
    case 'default':
    case 'readonly':
      return strings(def.innerType, path, seen);
    case 'pipe':
      return strings(def.in, path, seen);
    default:
      return [];
  }
}

describe('IPC input schemas', () => {
  it('give every string the renderer can send a length limit', () => {
    const unbounded = channelNames
      .flatMap((name) => strings(channel(name).input, name))
      .filter((s) => !s.bounded)
      .map((s) => s.path);
    expect(unbounded).toEqual([]);
    // The walk reaches the strings it must judge (a passphrase deep in a proposal, a card's text).
    const all = channelNames.flatMap((name) => strings(channel(name).input, name)).map((s) => s.path);
    expect(all).toEqual(
      expect.arrayContaining([
        'proposals.approve.approver.passphrase',
        'backups.checkShare.text',
        'tokens.select.label',
      ]),
    );
  });

  it('refuse an undeclared field at every depth, not only at the top (a nested token reference stripped it)', () => {
    const loose: string[] = [];
    const walk = (schema: unknown, path: string, seen = new Set<unknown>()): void => {
      if (seen.has(schema)) return;
      seen.add(schema);
      const def = defOf(schema);
      if (def.type === 'object') {
        if (!def.catchall || defOf(def.catchall).type !== 'never') loose.push(path);
        for (const [key, value] of Object.entries(def.shape as Record<string, unknown>))
          walk(value, `${path}.${key}`, seen);
      } else if (def.type === 'array') walk(def.element, `${path}[]`, seen);
      else if (def.type === 'record') walk(def.valueType, `${path}{value}`, seen);
      else if (def.type === 'union')
        (def.options as unknown[]).forEach((option, i) => walk(option, `${path}|${i}`, seen));
      else if (['optional', 'nullable', 'default', 'readonly'].includes(def.type)) walk(def.innerType, path, seen);
      else if (def.type === 'pipe') walk(def.in, path, seen);
    };
    for (const name of channelNames) walk(channel(name).input, name);
    expect(loose).toEqual([]);
  });

  it('limit a token label to 32 bytes of UTF-8, not 32 characters, and a serial to 16', () => {
    expect(TokenRef.safeParse({ serial: '0123456789abcdef', label: 'x'.repeat(32) }).success).toBe(true);
    // 16 characters, 48 bytes: a PKCS#11 label field holds 32 bytes.
    expect(TokenRef.safeParse({ serial: '1', label: '€'.repeat(16) }).success).toBe(false);
    expect(TokenRef.safeParse({ serial: '0123456789abcdef0', label: 'a' }).success).toBe(false);
  });
});
