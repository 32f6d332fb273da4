import pkcs11js from 'pkcs11js';
import type { MechanismInfo, TokenRef } from '../../../shared/tokens';
import { CustosError } from '../errors';
import { attributeTrue } from './find-objects';
import { describeMechanism, mechanismName } from './mechanisms';
import type { TokenModule } from './token-module';

export type MechanismFunction = MechanismInfo['functions'][number];

/** One mechanism that would do, with the function it must offer and the key size (in the unit the token reports). */
export interface MechanismOption {
  type: number;
  /** The function it must offer; several when the same mechanism must do all of them (wrap and unwrap). */
  fn: MechanismFunction | readonly MechanismFunction[];
  size?: number;
}

/**
 * One thing an action needs from the token: any one of the mechanisms (the first is preferred), or
 * a token that honours CKA_WRAP_WITH_TRUSTED. `purpose` says in words what it is for.
 */
export type Need =
  { kind: 'mechanism'; purpose: string; anyOf: MechanismOption[] } | { kind: 'wrap-with-trusted'; purpose: string };

/** What a token says it can do, read through a public session; nothing here needs a PIN. */
export interface Capabilities {
  mechanisms: MechanismInfo[];
  /** Whether the token keeps CKA_WRAP_WITH_TRUSTED on a key it generates (null: it could not be tried). */
  wrapWithTrusted: boolean | null;
}

/** Whether the token offers this mechanism for this function and key size (a size of 0–0 means it does not say). */
export function offers(mechanisms: readonly MechanismInfo[], option: MechanismOption): boolean {
  const info = mechanisms.find((m) => m.type === option.type);
  const functions: readonly MechanismFunction[] = typeof option.fn === 'string' ? [option.fn] : option.fn;
  if (!info || !functions.every((fn) => info.functions.includes(fn))) return false;
  if (option.size === undefined || (info.minKeySize === 0 && info.maxKeySize === 0)) return true;
  return option.size >= info.minKeySize && option.size <= info.maxKeySize;
}

/** The first option the token offers, or null. */
export function firstOffered<T extends MechanismOption>(
  mechanisms: readonly MechanismInfo[],
  options: readonly T[],
): T | null {
  return options.find((option) => offers(mechanisms, option)) ?? null;
}

/** The mechanisms of the token a session is open on, as the operations running in it choose from. */
export function sessionMechanisms(lib: pkcs11js.PKCS11, session: Buffer): MechanismInfo[] {
  const slot = lib.C_GetSessionInfo(session).slotID;
  return lib.C_GetMechanismList(slot).map((type) => describeMechanism(type, lib.C_GetMechanismInfo(slot, type)));
}

/**
 * Tries, in the given session, whether the token keeps CKA_WRAP_WITH_TRUSTED on a key it generates:
 * a throwaway AES session key that is public, so no login is needed, destroyed at once. A token
 * that refuses the attribute (opencryptoki 3.8) or drops it answers false; one that cannot make the
 * test key at all answers null.
 */
export function probeWrapWithTrusted(lib: pkcs11js.PKCS11, session: Buffer): boolean | null {
  const template = (trusted: boolean): pkcs11js.Template => [
    { type: pkcs11js.CKA_TOKEN, value: false },
    { type: pkcs11js.CKA_PRIVATE, value: false },
    { type: pkcs11js.CKA_VALUE_LEN, value: 32 },
    { type: pkcs11js.CKA_SENSITIVE, value: true },
    { type: pkcs11js.CKA_EXTRACTABLE, value: true },
    ...(trusted ? [{ type: pkcs11js.CKA_WRAP_WITH_TRUSTED, value: true }] : []),
  ];
  const generate = (trusted: boolean) =>
    lib.C_GenerateKey(session, { mechanism: pkcs11js.CKM_AES_KEY_GEN }, template(trusted));
  let key: Buffer;
  try {
    key = generate(true);
  } catch {
    // Refused with the attribute: it is the attribute only if the same key without it can be made.
    try {
      lib.C_DestroyObject(session, generate(false));
      return false;
    } catch {
      return null;
    }
  }
  try {
    const [kept] = lib.C_GetAttributeValue(session, key, [{ type: pkcs11js.CKA_WRAP_WITH_TRUSTED }]);
    return attributeTrue(kept?.value);
  } finally {
    lib.C_DestroyObject(session, key);
  }
}

/** Reads the token's capabilities: its mechanism list, and CKA_WRAP_WITH_TRUSTED only when asked. */
export function readCapabilities(module: TokenModule, token: TokenRef, withWrapProbe: boolean): Capabilities {
  const mechanisms = module.mechanisms(token);
  const wrapWithTrusted = withWrapProbe
    ? module.withSession(token, {}, (session, lib) => probeWrapWithTrusted(lib, session))
    : null;
  return { mechanisms, wrapWithTrusted };
}

/** Each need the token cannot meet, in words that name the mechanism or attribute. */
export function unmet(capabilities: Capabilities, needs: readonly Need[]): string[] {
  return needs.flatMap((need) => {
    if (need.kind === 'wrap-with-trusted') {
      if (capabilities.wrapWithTrusted === true) return [];
      const why = capabilities.wrapWithTrusted === false ? 'refuses or drops' : 'could not be checked for';
      return [
        `${need.purpose}: the token ${why} CKA_WRAP_WITH_TRUSTED, so a backup-able key could be wrapped by any key, not only a trusted one.`,
      ];
    }
    if (firstOffered(capabilities.mechanisms, need.anyOf)) return [];
    const fns = (o: MechanismOption) => (typeof o.fn === 'string' ? o.fn : o.fn.join(' and '));
    const names = need.anyOf.map(
      (o) => `${mechanismName(o.type)} (${fns(o)}${o.size !== undefined ? `, size ${o.size}` : ''})`,
    );
    return [`${need.purpose}: the token offers none of ${names.join(', ')}.`];
  });
}

/**
 * Refuses an action whose needs the token cannot meet, before anyone approves it: no approval is
 * spent on what the token would refuse. The error names every missing mechanism or attribute.
 */
export function requireCapabilities(
  module: TokenModule,
  token: TokenRef,
  action: string,
  needs: readonly Need[],
): void {
  if (needs.length === 0) return;
  const capabilities = readCapabilities(
    module,
    token,
    needs.some((n) => n.kind === 'wrap-with-trusted'),
  );
  const missing = unmet(capabilities, needs);
  if (missing.length === 0) return;
  const trustedMissing = missing.some((line) => line.includes('CKA_WRAP_WITH_TRUSTED'));
  throw new CustosError(
    'TOKEN_CAPABILITY_MISSING',
    `Token ${token.label} (serial ${token.serial}) cannot carry out this ${action}, so it was not proposed and no approval was spent.`,
    [
      ...missing,
      trustedMissing && (action === 'key.generate' || action === 'key.rotate')
        ? 'For a backup-able key on this token, the proposal may instead state acceptUnrestrictedExport: true, which the approvers then accept.'
        : 'Choose what this token offers (see its mechanisms on the Tokens screen), or use a token that offers it.',
    ],
  );
}
