import { existsSync, realpathSync, statSync } from 'node:fs';
import { basename, dirname, isAbsolute } from 'node:path';
import pkcs11js from 'pkcs11js';
import type { MechanismInfo, ModuleInfo, ModuleKind, SlotInfo, TokenRef } from '../../../shared/tokens';
import { CustosError, isCustosError, shown } from '../errors';
import { describeMechanism } from './mechanisms';
import { isTokenRefusal, tokenError } from './pkcs11-errors';
import { recogniseSoftwareLibrary, softwareNotice } from './software-tokens';
import { CKF_TOKEN_PRESENT, describeSlot, describeToken, trimPadded } from './token-info';

export type Session = Buffer;
export interface SessionOptions {
  write?: boolean;
  /** A PIN is a secret: the caller owns it and overwrites it after the call. */
  login?: { user: 'user' | 'so'; pin: string };
}

/** Paths loaded in this process: a PKCS#11 library may only be initialised once per process. */
const loaded = new Set<string>();

/**
 * One loaded PKCS#11 library. Every call goes through here so that every CKR_* becomes a
 * CustosError with a stable code, and every session is logged out and closed whatever happens.
 */
/**
 * A callback's result that is not a promise: the session is closed (and the PIN logged out) when the
 * callback returns, so an async callback would run its awaits against a closed session.
 */
export type Synchronous<T> = T extends PromiseLike<unknown> ? never : T;

export class TokenModule {
  private closed = false;
  /** False once the library has shown it offers no slot events (C_WaitForSlotEvent is optional). */
  private slotEvents = true;

  private constructor(
    private readonly lib: pkcs11js.PKCS11,
    readonly path: string,
    readonly kind: ModuleKind,
    private readonly reportCleanupError: (error: CustosError) => void,
  ) {}

  static open(
    path: string,
    kind: ModuleKind,
    reportCleanupError: (error: CustosError) => void = () => {},
  ): TokenModule {
    path = checkModulePath(path);
    if (loaded.has(path)) {
      throw new CustosError('INTERNAL', `The PKCS#11 library ${path} is already loaded in this process.`);
    }
    const lib = new pkcs11js.PKCS11();
    try {
      lib.load(path);
    } catch (error) {
      try {
        lib.close();
      } catch {
        // Nothing was loaded, so there is nothing to unload.
      }
      throw new CustosError(
        'MODULE_LOAD_FAILED',
        `The file at ${path} could not be loaded as a PKCS#11 library.`,
        [
          'Check that it is the vendor’s PKCS#11 module (a .so, .dylib or .dll) built for this computer’s architecture.',
        ],
        { cause: error },
      );
    }
    try {
      lib.C_Initialize({ flags: pkcs11js.CKF_OS_LOCKING_OK });
    } catch (error) {
      lib.close();
      const mapped = tokenError(error, `The PKCS#11 library ${path} failed to start`);
      throw new CustosError(
        mapped.code === 'TOKEN_ERROR' ? 'MODULE_LOAD_FAILED' : mapped.code,
        mapped.message,
        mapped.remedy,
        { cause: error },
      );
    }
    loaded.add(path);
    return new TokenModule(lib, path, kind, reportCleanupError);
  }

  /** The library, and whether it is software: a known software library, or every token it shows is. */
  info(slots: SlotInfo[] = this.slots()): ModuleInfo {
    const info = this.call('Reading the library information', () => this.lib.C_GetInfo());
    const manufacturer = trimPadded(info.manufacturerID);
    const libraryDescription = trimPadded(info.libraryDescription);
    const software = softwareLibrary(this.kind, { manufacturer, description: libraryDescription }, slots);
    return {
      path: this.path,
      kind: this.kind,
      libraryDescription,
      manufacturer,
      libraryVersion: `${info.libraryVersion.major}.${info.libraryVersion.minor}`,
      cryptokiVersion: `${info.cryptokiVersion.major}.${info.cryptokiVersion.minor}`,
      softwareToken: software !== null,
      software,
      notice: software ? softwareNotice(software.product) : null,
    };
  }

  slots(): SlotInfo[] {
    const handles = this.call('Listing the token slots', () => this.lib.C_GetSlotList(false));
    return handles.map((slot) => {
      const raw = this.call('Reading a slot', () => this.lib.C_GetSlotInfo(slot));
      const present = (raw.flags & CKF_TOKEN_PRESENT) !== 0;
      const token = present
        ? describeToken(
            raw,
            this.call('Reading a token', () => this.lib.C_GetTokenInfo(slot)),
            () => this.hardwareMechanisms(slot),
          )
        : null;
      return describeSlot(raw, token);
    });
  }

  /**
   * Whether the library noted a slot event (a token attached or removed) since it was last asked,
   * without waiting (CKF_DONT_BLOCK); null where it offers none. Never blocks: SoftHSM2 has no
   * slot events, and a blocking wait would hold the main process.
   */
  slotsChanged(): boolean | null {
    if (!this.slotEvents) return null;
    try {
      let changed = false;
      // One event per call: drain what is queued (bounded) so the next question starts afresh.
      const next = () =>
        this.call('Asking the library for slot events', () => this.lib.C_WaitForSlotEvent(pkcs11js.CKF_DONT_BLOCK));
      for (let i = 0; i < 64 && next() !== null; i++) changed = true;
      return changed;
    } catch (error) {
      this.slotEvents = false;
      if (isCustosError(error) && error.code === 'FUNCTION_NOT_SUPPORTED') return null;
      throw error;
    }
  }

  /** The slot currently holding the token with this serial and label. */
  findSlot(ref: TokenRef): Buffer {
    const matches = this.call('Listing the tokens', () => this.lib.C_GetSlotList(true)).filter((slot) => {
      const info = this.call('Reading a token', () => this.lib.C_GetTokenInfo(slot));
      return trimPadded(info.serialNumber) === ref.serial && trimPadded(info.label) === ref.label;
    });
    if (matches.length === 0) {
      throw new CustosError('TOKEN_NOT_FOUND', `No attached token has serial ${ref.serial} and label “${ref.label}”.`, [
        'Attach the token and press Refresh, or pick another token on the Tokens screen.',
      ]);
    }
    if (matches.length > 1) {
      throw new CustosError(
        'TOKEN_AMBIGUOUS',
        `${matches.length} attached tokens have serial ${ref.serial} and label “${ref.label}”; Custos will not guess which one you mean.`,
        ['Detach all but one of them.'],
      );
    }
    return matches[0]!;
  }

  mechanisms(ref: TokenRef): MechanismInfo[] {
    const slot = this.findSlot(ref);
    const types = this.call('Listing the token’s mechanisms', () => this.lib.C_GetMechanismList(slot));
    return types
      .map((type) =>
        describeMechanism(
          type,
          this.call('Reading a mechanism', () => this.lib.C_GetMechanismInfo(slot, type)),
        ),
      )
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  /** How many of the slot's mechanisms the library says run in hardware (CKF_HW). */
  private hardwareMechanisms(slot: Buffer): number {
    const types = this.call('Listing the token’s mechanisms', () => this.lib.C_GetMechanismList(slot));
    return types.filter(
      (type) =>
        (this.call('Reading a mechanism', () => this.lib.C_GetMechanismInfo(slot, type)).flags & pkcs11js.CKF_HW) !== 0,
    ).length;
  }

  /** Runs fn in a session on the token; logs out and closes the session however fn ends. */
  withSession<T>(
    ref: TokenRef,
    options: SessionOptions,
    fn: (session: Session, lib: pkcs11js.PKCS11) => Synchronous<T>,
  ): T {
    const slot = this.findSlot(ref);
    const flags = pkcs11js.CKF_SERIAL_SESSION | (options.write ? pkcs11js.CKF_RW_SESSION : 0);
    const session = this.call('Opening a session with the token', () => this.lib.C_OpenSession(slot, flags));
    let loggedIn = false;
    try {
      if (options.login) {
        const { user, pin } = options.login;
        this.call('Logging in to the token', () =>
          this.lib.C_Login(session, user === 'so' ? pkcs11js.CKU_SO : pkcs11js.CKU_USER, pin),
        );
        loggedIn = true;
      }
      try {
        return fn(session, this.lib);
      } catch (error) {
        // Raw CKR_* from the caller's PKCS#11 calls get the same stable codes as ours; the step they
        // failed at travels in the error's detail, so no generic context is put before the sentence.
        if (isTokenRefusal(error)) throw tokenError(error);
        throw error;
      }
    } finally {
      if (loggedIn) this.cleanup('Logging out of the token', () => this.lib.C_Logout(session));
      this.cleanup('Closing the session', () => this.lib.C_CloseSession(session));
    }
  }

  /** Runs raw PKCS#11 calls with this module's error mapping; for the hsm-aware services. */
  run<T>(context: string, fn: (lib: pkcs11js.PKCS11) => Synchronous<T>): T {
    return this.call(context, () => fn(this.lib));
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    loaded.delete(this.path);
    this.cleanup('Stopping the token library', () => this.lib.C_Finalize());
    this.cleanup('Unloading the token library', () => this.lib.close());
  }

  private call<T>(context: string, fn: () => T): T {
    if (this.closed) {
      throw new CustosError('MODULE_LOAD_FAILED', 'The token library has been unloaded: Custos is shutting down.', [
        'Start Custos again.',
      ]);
    }
    try {
      return fn();
    } catch (error) {
      throw tokenError(error, context);
    }
  }

  /** Cleanup must not mask the operation's own outcome, but its failure is still reported. */
  private cleanup(context: string, fn: () => void): void {
    try {
      fn();
    } catch (error) {
      this.reportCleanupError(tokenError(error, context));
    }
  }
}

/** The built-in store is SoftHSM2 by construction; any other library by its name or its tokens. */
function softwareLibrary(
  kind: ModuleKind,
  library: { manufacturer: string; description: string },
  slots: SlotInfo[],
): ModuleInfo['software'] {
  if (kind === 'embedded-softhsm')
    return { product: 'SoftHSM2', reason: 'Custos’s built-in SoftHSM2 rehearsal store.' };
  const named = `“${library.manufacturer} ${library.description}”`;
  const product = recogniseSoftwareLibrary(library);
  if (product) return { product, reason: `Known software library: ${product} (${named}).` };
  const tokens = slots.flatMap((slot) => (slot.token ? [slot.token] : []));
  if (tokens.length === 0 || !tokens.every((token) => token.software.software)) return null;
  const products = [...new Set(tokens.map((token) => token.software.product ?? 'software token'))].join(', ');
  return { product: products, reason: `Every token ${named} shows is a known software token (${products}).` };
}

/**
 * A PKCS#11 library runs with all of Custos's privileges the moment it is loaded, so only an
 * absolute path to a regular file that no other user can replace is accepted. Returns the real
 * path, so two spellings of one library (symlinks) count as one.
 */
export function checkModulePath(path: string): string {
  if (!isAbsolute(path)) {
    throw new CustosError('MODULE_UNSAFE', `The token module path must be absolute: “${shown(path)}” is not.`, [
      'Give the full path, for example /usr/lib/x86_64-linux-gnu/opensc-pkcs11.so.',
    ]);
  }
  // Only a shared library is worth handing to dlopen: anything else is a mistake or a probe.
  if (!/\.(so(\.\d+)*|dylib|dll)$/i.test(basename(path))) {
    throw new CustosError(
      'MODULE_UNSAFE',
      `Custos loads only a PKCS#11 library file (.so, .dylib or .dll); ${basename(path).slice(0, 80)} is not one.`,
      ['Choose the vendor’s PKCS#11 module, for example opensc-pkcs11.so.'],
    );
  }
  if (!existsSync(path) || !statSync(path).isFile()) {
    throw new CustosError('MODULE_NOT_FOUND', `No PKCS#11 library exists at ${shown(path)}.`, [
      'Check the path in Settings → Token module (for OpenSC it is usually /usr/lib/x86_64-linux-gnu/opensc-pkcs11.so).',
      'Or clear it to use Custos’s built-in SoftHSM2 rehearsal token.',
    ]);
  }
  const real = realpathSync(path);
  if (process.platform !== 'win32') {
    const uid = process.getuid?.() ?? 0;
    for (const target of [real, dirname(real)]) {
      const info = statSync(target);
      if ((info.uid !== 0 && info.uid !== uid) || (info.mode & 0o022) !== 0) {
        throw new CustosError(
          'MODULE_UNSAFE',
          `Custos will not load ${real}: ${target === real ? 'the file' : 'its folder'} can be changed by another user.`,
          [
            'Install the vendor module so that it and its folder are owned by root (or by you) and writable only by the owner.',
          ],
        );
      }
    }
  }
  return real;
}
