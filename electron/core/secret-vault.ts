import {
  closeSync,
  existsSync,
  fsyncSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { dirname } from 'node:path';
import { CustosError, shown } from './errors';

/**
 * Where Custos keeps the one secret it must use unattended: the audit token's PIN. The desktop
 * app seals it with Electron safeStorage (electron/main); the CLI and tests use a 0600 file.
 */
export interface SecretVault {
  load(): Buffer | null;
  store(secret: Buffer): void;
}

/** Where the audit PIN is sealed; recorded when the audit token is provisioned. */
export type VaultKind = 'file' | 'os-keystore';
export type Vaults = Partial<Record<VaultKind, SecretVault>> & { file: SecretVault };

export class FileSecretVault implements SecretVault {
  constructor(private readonly path: string) {}

  load(): Buffer | null {
    if (!existsSync(this.path)) return null;
    if (process.platform !== 'win32' && (statSync(this.path).mode & 0o077) !== 0) {
      throw new CustosError(
        'AUDIT_UNAVAILABLE',
        `The audit token PIN file ${this.path} can be read by other users; Custos will not use it.`,
        [`Restrict it (chmod 600 ${this.path}) and check who may have read it; if in doubt, rotate the audit key.`],
      );
    }
    return readFileSync(this.path);
  }

  store(secret: Buffer): void {
    writeFileAtomic(this.path, secret, 0o600);
  }
}

/** Write-to-temp, fsync, rename: a crash leaves the old file or the new one, never half of one. */
export function writeFileAtomic(path: string, data: Buffer | string, mode: number): void {
  const temp = `${path}.${process.pid}.tmp`;
  try {
    const fd = openFresh(temp, mode);
    try {
      writeSync(fd, typeof data === 'string' ? Buffer.from(data) : data);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, path);
  } catch (error) {
    // Not written (a full disk, a folder where the file goes): nothing is left behind, least of all half a file.
    rmSync(temp, { force: true });
    // A full disk is said as such, naming the file (not its temporary name): before, opening Custos on a full disk
    // (installation.json is written at every start) left the audit log “could not be opened”, with no reason.
    if ((error as NodeJS.ErrnoException).code === 'ENOSPC') {
      throw new CustosError(
        'STORE_DISK_FULL',
        `The disk holding ${shown(path)} is full; nothing was written.`,
        ['Free space, then run the command again.'],
        { cause: error },
      );
    }
    throw error;
  }
  // The rename itself must reach the disk too, or a power cut can bring back the old file.
  if (process.platform !== 'win32') {
    const dir = openSync(dirname(path), 'r');
    try {
      fsyncSync(dir);
    } finally {
      closeSync(dir);
    }
  }
}

/**
 * A temporary file created afresh, never opened through what is there: a link planted under its name (the folder may
 * be shared) would have sent a share card, the audit PIN or an export into a file of its owner's choosing, keeping
 * that file's mode.
 */
export function openFresh(temp: string, mode: number): number {
  rmSync(temp, { force: true });
  return openSync(temp, 'wx', mode);
}
