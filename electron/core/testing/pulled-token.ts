import { readdirSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import pkcs11js from 'pkcs11js';
import { softHsmPaths } from '../hsm/softhsm';
import type { TokenModule } from '../hsm/token-module';
import type { TokenRef } from '../../../shared/tokens';

/** The calls that make an object, and where their template is; a destroy or a PIN change has none (each counts). */
const TEMPLATE_AT = { C_UnwrapKey: 4, C_CreateObject: 1, C_DestroyObject: null, C_SetPIN: null } as const;

/**
 * A SoftHSM2 token pulled out half-way through an operation: just before the operation's `nth` call of `step` that
 * makes an object kept in the token (CKA_TOKEN true), or its `nth` C_DestroyObject or C_SetPIN, the token's directory
 * is moved away, so that call, and everything after it on that token in this process, fails in SoftHSM2 itself
 * (CKR_GENERAL_ERROR; CKR_OBJECT_HANDLE_INVALID on a destroy).
 * Every call still goes to the real library; only the moment of the fault is chosen. `putBack` returns the directory;
 * SoftHSM2 sees the token again only once the library is loaded afresh (the next start), as with a re-plugged device.
 */
export function pullTokenBefore(
  module: TokenModule,
  dataDir: string,
  token: TokenRef,
  step: keyof typeof TEMPLATE_AT,
  nth: number,
): { module: TokenModule; pulled: () => boolean; putBack: () => void } {
  const { tokenDir } = softHsmPaths(dataDir);
  const serial = Buffer.from(token.serial, 'latin1');
  const dir = readdirSync(tokenDir)
    .map((name) => join(tokenDir, name))
    .find((path) => readFileSync(join(path, 'token.object')).includes(serial));
  if (!dir) throw new Error(`no SoftHSM2 token directory holds serial ${token.serial}`);
  const away = `${dir}.pulled`;
  let calls = 0;
  let pulled = false;
  const faulty = (lib: pkcs11js.PKCS11) =>
    new Proxy(lib, {
      get(target, property, receiver) {
        const value: unknown = Reflect.get(target, property, receiver);
        if (typeof value !== 'function') return value;
        if (property !== step) return value.bind(target) as unknown;
        return (...args: unknown[]) => {
          const at = TEMPLATE_AT[step];
          const template = at === null ? null : (args[at] as pkcs11js.Template);
          const kept = template?.some((a) => a.type === pkcs11js.CKA_TOKEN && a.value === true) ?? true;
          if (kept && ++calls === nth) {
            renameSync(dir, away);
            pulled = true;
          }
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    });
  const wrapped = new Proxy(module, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (property !== 'withSession') return typeof value === 'function' ? (value.bind(target) as unknown) : value;
      return ((ref, options, fn) =>
        target.withSession(ref, options, (session, lib) => fn(session, faulty(lib)))) as TokenModule['withSession'];
    },
  });
  return {
    module: wrapped,
    pulled: () => pulled,
    putBack: () => {
      if (pulled) renameSync(away, dir);
      pulled = false;
    },
  };
}
