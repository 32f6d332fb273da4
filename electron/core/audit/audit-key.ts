import { createPublicKey, randomBytes, verify } from 'node:crypto';
import pkcs11js from 'pkcs11js';
import type { TokenRef } from '../../../shared/tokens';
import { CustosError } from '../errors';
import { everyObject, findObjects } from '../hsm/find-objects';
import { CKM_EC_EDWARDS_KEY_PAIR_GEN, CKM_EDDSA } from '../hsm/mechanisms';
import { trimPadded } from '../hsm/token-info';
import type { Synchronous, TokenModule } from '../hsm/token-module';
import type { SecretVault } from '../secret-vault';
import { ed25519PublicKeyObject, keyId, type NoteKey } from './checkpoint';

/** DER of the Ed25519 curve OID 1.3.101.112, as CKA_EC_PARAMS. */
const ED25519_PARAMS = Buffer.from('06032b6570', 'hex');
const PIN_BYTES = 24;

export interface AuditKeyRecord {
  keyId: string;
  name: string;
  publicKey: Buffer;
  token: TokenRef;
  ckaId: Buffer;
  createdAt: string;
}

/**
 * The audit key: an Ed25519 key generated inside a separate audit token that Custos provisions
 * and uses unattended. Its PIN lives only in the vault; the private key never leaves the token.
 */
export class AuditKey {
  private session: Buffer | null = null;
  private privateKey: Buffer | null = null;

  private constructor(
    private readonly module: TokenModule,
    private readonly vault: SecretVault,
    readonly record: AuditKeyRecord,
  ) {}

  /** Initialises a blank token, sets a random PIN kept only in the vault, and generates the key. */
  static provision(module: TokenModule, vault: SecretVault, name: string, label: string, now: Date): AuditKey {
    const slot = module.run('Looking for a blank slot for the audit token', (lib) =>
      lib.C_GetSlotList(true).find((s) => (lib.C_GetTokenInfo(s).flags & pkcs11js.CKF_TOKEN_INITIALIZED) === 0),
    );
    if (!slot) {
      throw new CustosError(
        'AUDIT_UNAVAILABLE',
        'There is no blank token on which Custos could create its audit key.',
        ['Attach or create a blank token for the audit key.'],
      );
    }
    const userPin = randomBytes(PIN_BYTES).toString('base64url');
    const soPin = randomBytes(PIN_BYTES).toString('base64url');
    // The PIN is stored before the token is initialised: a crash in between leaves an unused PIN, never a token nobody
    // can open.
    vault.store(Buffer.from(userPin));
    module.run('Initialising the audit token', (lib) => lib.C_InitToken(slot, soPin, label.padEnd(32, ' ')));
    const token = module.run('Reading the audit token', (lib) => {
      const info = lib.C_GetTokenInfo(slot);
      return { serial: trimPadded(info.serialNumber), label: trimPadded(info.label) };
    });
    module.withSession(token, { write: true, login: { user: 'so', pin: soPin } }, (session, lib) =>
      lib.C_InitPIN(session, userPin),
    );
    const ckaId = randomBytes(16);
    const publicKey = module.withSession(
      token,
      { write: true, login: { user: 'user', pin: userPin } },
      (session, lib) => {
        const pair = lib.C_GenerateKeyPair(
          session,
          { mechanism: CKM_EC_EDWARDS_KEY_PAIR_GEN },
          [
            { type: pkcs11js.CKA_TOKEN, value: true },
            { type: pkcs11js.CKA_PRIVATE, value: false },
            { type: pkcs11js.CKA_VERIFY, value: true },
            { type: pkcs11js.CKA_EC_PARAMS, value: ED25519_PARAMS },
            { type: pkcs11js.CKA_ID, value: ckaId },
            { type: pkcs11js.CKA_LABEL, value: 'custos-audit-key' },
          ],
          [
            { type: pkcs11js.CKA_TOKEN, value: true },
            { type: pkcs11js.CKA_PRIVATE, value: true },
            { type: pkcs11js.CKA_SENSITIVE, value: true },
            { type: pkcs11js.CKA_EXTRACTABLE, value: false },
            { type: pkcs11js.CKA_SIGN, value: true },
            { type: pkcs11js.CKA_ID, value: ckaId },
            { type: pkcs11js.CKA_LABEL, value: 'custos-audit-key' },
          ],
        );
        return rawEd25519(
          lib.C_GetAttributeValue(session, pair.publicKey, [{ type: pkcs11js.CKA_EC_POINT }])[0]?.value,
        );
      },
    );
    const record: AuditKeyRecord = {
      keyId: keyId({ name, publicKey }).toString('hex'),
      name,
      publicKey,
      token,
      ckaId,
      createdAt: now.toISOString(),
    };
    return new AuditKey(module, vault, record);
  }

  /** Opens a provisioned key and checks the token still holds the public key on record. */
  static open(module: TokenModule, vault: SecretVault, record: AuditKeyRecord): AuditKey {
    const key = new AuditKey(module, vault, record);
    key.connect();
    return key;
  }

  get keyId(): string {
    return this.record.keyId;
  }

  get noteKey(): NoteKey {
    return { name: this.record.name, publicKey: this.record.publicKey };
  }

  publicKeyPem(): string {
    return ed25519PublicKeyObject(this.record.publicKey).export({ format: 'pem', type: 'spki' }).toString();
  }

  /** Signs in the token. */
  sign(message: Buffer): Buffer {
    return this.inSession('Signing an audit entry', (session, lib, key) => {
      lib.C_SignInit(session, { mechanism: CKM_EDDSA }, key);
      return lib.C_Sign(session, message, Buffer.alloc(64));
    });
  }

  /**
   * Runs fn in the logged-in audit session (the anchor object is private, so it needs one too);
   * reconnects once if the session was lost (library reloaded, token re-attached).
   */
  inSession<T>(what: string, fn: (session: Buffer, lib: pkcs11js.PKCS11, privateKey: Buffer) => Synchronous<T>): T {
    try {
      return this.inSessionOnce(what, fn);
    } catch (error) {
      if (
        !(error instanceof CustosError) ||
        !['SESSION_CLOSED', 'NOT_LOGGED_IN', 'TOKEN_REMOVED', 'KEY_OBJECTS_MISSING', 'MODULE_LOAD_FAILED'].includes(
          error.code,
        )
      )
        throw error;
      this.disconnect();
      this.connect();
      return this.inSessionOnce(what, fn);
    }
  }

  close(): void {
    this.disconnect();
  }

  private inSessionOnce<T>(
    what: string,
    fn: (session: Buffer, lib: pkcs11js.PKCS11, privateKey: Buffer) => Synchronous<T>,
  ): T {
    if (!this.session || !this.privateKey) this.connect();
    const session = this.session!;
    const key = this.privateKey!;
    return this.module.run(what, (lib) => fn(session, lib, key));
  }

  private connect(): void {
    const pinBytes = this.vault.load();
    if (!pinBytes) {
      throw new CustosError('AUDIT_UNAVAILABLE', 'The audit token’s PIN is missing, so Custos cannot sign its log.', [
        'Restore the data directory from backup. Until then nothing can be done that would need an audit entry.',
      ]);
    }
    const pin = pinBytes.toString();
    pinBytes.fill(0);
    const slot = this.module.findSlot(this.record.token);
    const session = this.module.run('Opening the audit token', (lib) =>
      lib.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION),
    );
    try {
      this.module.run('Logging in to the audit token', (lib) => {
        try {
          lib.C_Login(session, pkcs11js.CKU_USER, pin);
        } catch (error) {
          // Another session of this process may already be logged in: login state is per token.
          if (!(error instanceof Error && error.message === 'CKR_USER_ALREADY_LOGGED_IN')) throw error;
        }
      });
      // Anyone who can load the token's library can create objects under the key's id with no PIN, every one
      // CKA_PRIVATE false, and the token may list them first: counted with the key, they kept the log shut
      // (AUDIT_KEY_MISMATCH at every start). The private key is the one object made with the PIN; the public half is
      // any public key object holding the key on record.
      const found = this.module.run('Finding the audit key', (lib) => {
        const id = { type: pkcs11js.CKA_ID, value: this.record.ckaId };
        const privateHandle = findObjects(
          lib,
          session,
          [
            { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY },
            id,
            { type: pkcs11js.CKA_PRIVATE, value: true },
          ],
          2,
        );
        if (privateHandle.length !== 1) return null;
        const points = everyObject(lib, session, [
          { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PUBLIC_KEY },
          id,
        ]).map((handle) => {
          try {
            return rawEd25519(lib.C_GetAttributeValue(session, handle, [{ type: pkcs11js.CKA_EC_POINT }])[0]?.value);
          } catch {
            return null; // not an Ed25519 point: not the audit key's public half
          }
        });
        if (points.length === 0) return null;
        return {
          privateKey: privateHandle[0]!,
          holdsKey: points.some((point) => point?.equals(this.record.publicKey)),
        };
      });
      if (!found)
        throw new CustosError('AUDIT_KEY_MISMATCH', 'The audit token no longer holds the audit key on record.', [
          'Stop: the audit token may have been replaced. Verify the log and contact your security officer.',
        ]);
      // The public object proves nothing of the private key (anyone may plant one holding the recorded point): a
      // signature over a fresh challenge must verify under the key on record before anything is signed with it.
      const challenge = randomBytes(32);
      const signature = this.module.run('Checking the audit key', (lib) => {
        lib.C_SignInit(session, { mechanism: CKM_EDDSA }, found.privateKey);
        return lib.C_Sign(session, challenge, Buffer.alloc(64));
      });
      if (!found.holdsKey || !verify(null, challenge, ed25519PublicKeyObject(this.record.publicKey), signature)) {
        throw new CustosError('AUDIT_KEY_MISMATCH', 'The audit token holds a different key from the one on record.', [
          'Stop: the audit token may have been replaced. Verify the log and contact your security officer.',
        ]);
      }
      this.session = session;
      this.privateKey = found.privateKey;
    } catch (error) {
      this.module.run('Closing the audit session', (lib) => lib.C_CloseSession(session));
      throw error;
    }
  }

  private disconnect(): void {
    const session = this.session;
    this.session = null;
    this.privateKey = null;
    if (!session) return;
    try {
      this.module.run('Logging out of the audit token', (lib) => lib.C_Logout(session));
    } catch {
      // Not logged in any more (token removed, library reloaded): the session is still closed below.
    } finally {
      try {
        this.module.run('Closing the audit session', (lib) => lib.C_CloseSession(session));
      } catch {
        // The session is already gone; nothing left to close.
      }
    }
  }
}

/** CKA_EC_POINT for Ed25519 is the 32-byte key, usually wrapped in a DER OCTET STRING. */
function rawEd25519(point: Buffer | undefined): Buffer {
  if (point?.length === 34 && point[0] === 0x04 && point[1] === 0x20) return Buffer.from(point.subarray(2));
  if (point?.length === 32) return Buffer.from(point);
  throw new CustosError('AUDIT_KEY_MISMATCH', 'The audit token returned a public key Custos does not understand.');
}

export function publicKeyFromPem(pem: string): Buffer {
  const key = createPublicKey(pem);
  // By its algorithm, not its length: an X25519 key is 44 bytes of SPKI too.
  const der = key.export({ format: 'der', type: 'spki' });
  if (key.asymmetricKeyType !== 'ed25519' || der.length !== 44)
    throw new CustosError('AUDIT_BUNDLE_INVALID', 'The public key is not an Ed25519 key.');
  return Buffer.from(der.subarray(12));
}
