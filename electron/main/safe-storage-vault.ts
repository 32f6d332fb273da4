import { safeStorage } from 'electron';
import { existsSync, readFileSync } from 'node:fs';
import { CustosError } from '../core/errors';
import { FileSecretVault, writeFileAtomic, type SecretVault, type VaultKind, type Vaults } from '../core/secret-vault';

/**
 * The audit token's PIN sealed with the operating system's keystore (Keychain, DPAPI, libsecret
 * or kwallet) through Electron safeStorage. Where no OS keystore is available, the 0600 file the
 * CLI uses is the fallback, and the caller is told so it can say it.
 */
export class SafeStorageVault implements SecretVault {
  constructor(private readonly path: string) {}

  /** Both vaults this app can open, and which a new audit token should use. */
  static choose(sealedPath: string, plainPath: string): { vaults: Vaults; preferred: VaultKind } {
    const weak = process.platform === 'linux' && safeStorage.getSelectedStorageBackend?.() === 'basic_text';
    const file = new FileSecretVault(plainPath);
    if (safeStorage.isEncryptionAvailable() && !weak)
      return { vaults: { file, 'os-keystore': new SafeStorageVault(sealedPath) }, preferred: 'os-keystore' };
    return { vaults: { file }, preferred: 'file' };
  }

  load(): Buffer | null {
    if (!existsSync(this.path)) return null;
    try {
      return Buffer.from(safeStorage.decryptString(readFileSync(this.path)));
    } catch (error) {
      throw new CustosError(
        'AUDIT_UNAVAILABLE',
        'The operating system keystore could not unseal the audit token PIN.',
        ['Log in as the user who set Custos up, with the keystore unlocked.'],
        { cause: error },
      );
    }
  }

  store(secret: Buffer): void {
    writeFileAtomic(this.path, safeStorage.encryptString(secret.toString()), 0o600);
  }
}
