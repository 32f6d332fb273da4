import { safeStorage } from 'electron';
import { existsSync, readFileSync } from 'node:fs';
import { CustosError } from '../core/errors';
import { FileSecretVault, writeFileAtomic, type SecretVault } from '../core/secret-vault';

/**
 * The audit token's PIN sealed with the operating system's keystore (Keychain, DPAPI, libsecret
 * or kwallet) through Electron safeStorage. Where no OS keystore is available, the 0600 file the
 * CLI uses is the fallback, and the caller is told so it can say it.
 */
export class SafeStorageVault implements SecretVault {
  constructor(private readonly path: string) {}

  static choose(sealedPath: string, plainPath: string): { vault: SecretVault; sealed: boolean } {
    const weak = process.platform === 'linux' && safeStorage.getSelectedStorageBackend?.() === 'basic_text';
    if (safeStorage.isEncryptionAvailable() && !weak) return { vault: new SafeStorageVault(sealedPath), sealed: true };
    return { vault: new FileSecretVault(plainPath), sealed: false };
  }

  load(): Buffer | null {
    if (!existsSync(this.path)) return null;
    try {
      return Buffer.from(safeStorage.decryptString(readFileSync(this.path)));
    } catch (error) {
      throw new CustosError('AUDIT_UNAVAILABLE', 'The operating system keystore could not unseal the audit token PIN.', [
        'Log in as the user who set Custos up, with the keystore unlocked.',
      ], { cause: error });
    }
  }

  store(secret: Buffer): void {
    writeFileAtomic(this.path, safeStorage.encryptString(secret.toString()), 0o600);
  }
}
