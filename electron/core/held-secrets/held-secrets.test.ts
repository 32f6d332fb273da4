import { describe, expect, it } from 'vitest';
import { HeldSecrets } from './held-secrets';

describe('HeldSecrets', () => {
  const at = (iso: string) => new Date(iso);

  it('overwrites a secret when its time is up, even with nobody looking, and hands out only live ones', async () => {
    let now = at('2026-01-01T00:00:00Z');
    const held = new HeldSecrets(() => now);
    const soon = Buffer.from('share-a');
    const later = Buffer.from('share-b');
    held.hold('p1', 'alice', soon, new Date(now.getTime() + 20));
    held.hold('p1', 'bob', later, new Date(now.getTime() + 60_000));
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(soon.every((byte) => byte === 0)).toBe(true);
    now = new Date(now.getTime() + 30);
    expect(held.live('p1').map(([holder]) => holder)).toEqual(['bob']);
    now = new Date(now.getTime() + 60_000);
    expect(held.live('p1')).toEqual([]);
    expect(later.every((byte) => byte === 0)).toBe(true);
  });

  it('overwrites what a holder held before when they hold again, and everything on drop and clear', () => {
    const now = at('2026-01-01T00:00:00Z');
    const held = new HeldSecrets(() => now);
    const expires = new Date(now.getTime() + 60_000);
    const first = Buffer.from('first');
    const second = Buffer.from('second');
    const other = Buffer.from('other');
    held.hold('p1', 'alice', first, expires);
    held.hold('p1', 'alice', second, expires);
    held.hold('p2', 'carol', other, expires);
    expect(first.every((byte) => byte === 0)).toBe(true);
    expect(held.live('p1')).toEqual([['alice', second]]);
    held.drop('p1');
    expect(second.every((byte) => byte === 0)).toBe(true);
    expect(held.live('p1')).toEqual([]);
    held.clear();
    expect(other.every((byte) => byte === 0)).toBe(true);
  });
});
