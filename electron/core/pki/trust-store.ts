import { createHash, X509Certificate } from 'node:crypto';
import pkcs11js from 'pkcs11js';
import type { TokenRef } from '../../../shared/tokens';
import { everyObject } from '../hsm/find-objects';
import type { TokenModule } from '../hsm/token-module';

/** A certificate object found on a token, whoever put it there. */
export interface TokenCertificate {
  token: TokenRef;
  label: string;
  subject: string;
  issuer: string;
  notAfter: string;
  sha256: string;
  /** Lower-case hex, as Custos keeps serials. */
  serial: string;
  selfSigned: boolean;
}

const oneLine = (name: string) => name.split('\n').reverse().join(', ');

/**
 * Every X.509 certificate object on every token the module shows (public objects: no login), for the
 * trust-store audit. A token that cannot be read is skipped: the audit says what it could see.
 */
export function certificatesOnTokens(module: TokenModule, skip: (token: TokenRef) => boolean): TokenCertificate[] {
  const found: TokenCertificate[] = [];
  for (const slot of module.slots()) {
    if (!slot.token) continue;
    const token = { serial: slot.token.serial, label: slot.token.label };
    if (skip(token)) continue;
    try {
      module.withSession(token, {}, (session, lib) => {
        // Every one: a single search stops at the count it asks for, and an anchor planted behind that many of
        // Custos's own certificates would never reach the audit.
        const handles = everyObject(lib, session, [
          { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_CERTIFICATE },
          { type: pkcs11js.CKA_CERTIFICATE_TYPE, value: pkcs11js.CKC_X_509 },
        ]);
        for (const handle of handles) {
          const [value, label] = lib.C_GetAttributeValue(session, handle, [
            { type: pkcs11js.CKA_VALUE },
            { type: pkcs11js.CKA_LABEL },
          ]);
          if (!(value?.value instanceof Buffer)) continue;
          let x: X509Certificate;
          try {
            x = new X509Certificate(value.value);
          } catch {
            continue;
          }
          found.push({
            token,
            label: label?.value instanceof Buffer ? label.value.toString('utf8') : '',
            subject: oneLine(x.subject),
            issuer: oneLine(x.issuer),
            notAfter: new Date(x.validTo).toISOString(),
            sha256: createHash('sha256').update(value.value).digest('hex'),
            serial: x.serialNumber.toLowerCase(),
            selfSigned: x.subject === x.issuer && x.verify(x.publicKey),
          });
        }
      });
    } catch {
      // A token that will not open a public session (removed, busy) is simply not listed.
    }
  }
  return found;
}
