import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { CustosError } from '../errors';
import { writeFileAtomic } from '../secret-vault';

/** Where distributions and installers put SoftHSM2's PKCS#11 library. */
export const SOFTHSM_LIBRARY_CANDIDATES: readonly string[] = [
  '/usr/lib/softhsm/libsofthsm2.so',
  '/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so',
  '/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so',
  '/usr/lib64/pkcs11/libsofthsm2.so',
  '/usr/lib/pkcs11/libsofthsm2.so',
  '/usr/local/lib/softhsm/libsofthsm2.so',
  '/opt/homebrew/lib/softhsm/libsofthsm2.so',
  '/usr/local/opt/softhsm/lib/softhsm/libsofthsm2.so',
  'C:\\SoftHSM2\\lib\\softhsm2-x64.dll',
];

export interface EmbeddedSoftHsm {
  modulePath: string;
  configPath: string;
  tokenDir: string;
}

export function softHsmPaths(dataDir: string): { configPath: string; tokenDir: string } {
  const root = join(dataDir, 'softhsm');
  return { configPath: join(root, 'softhsm2.conf'), tokenDir: join(root, 'tokens') };
}

function softHsmConfig(tokenDir: string): string {
  return [
    '# Written by Custos at every start: its own SoftHSM2 store for rehearsal and evaluation (not FIPS-validated).',
    `directories.tokendir = ${tokenDir}`,
    'objectstore.backend = file',
    'log.level = ERROR',
    'slots.removable = false',
    'slots.mechanisms = ALL',
    'library.reset_on_fork = false',
    '',
  ].join('\n');
}

/** The token directory a SoftHSM2 configuration names, or null when it names none. */
export function configuredTokenDir(configPath: string): string | null {
  if (!existsSync(configPath)) return null;
  return /^\s*directories\.tokendir\s*=\s*(.+?)\s*$/m.exec(readFileSync(configPath, 'utf8'))?.[1] ?? null;
}

export function findSoftHsmLibrary(candidates: readonly string[] = SOFTHSM_LIBRARY_CANDIDATES): string | null {
  return candidates.find((path) => existsSync(path)) ?? null;
}

/**
 * Custos's default token: its own SoftHSM2 configuration and token directory inside the data
 * directory, so rehearsals never touch the system's SoftHSM2 tokens. Created on first use only:
 * a configuration without its token directory means the tokens were removed, and recreating an
 * empty directory would hide that loss.
 */
export function prepareEmbeddedSoftHsm(
  dataDir: string,
  candidates: readonly string[] = SOFTHSM_LIBRARY_CANDIDATES,
): EmbeddedSoftHsm {
  const modulePath = findSoftHsmLibrary(candidates);
  if (!modulePath) {
    throw new CustosError(
      'SOFTHSM_NOT_INSTALLED',
      'No token module is configured and SoftHSM2 is not installed, so Custos has no token to work with.',
      [
        'To rehearse with a software token, install SoftHSM2: on Debian or Ubuntu `sudo apt-get install softhsm2`, on macOS `brew install softhsm`, then press Refresh.',
        'To use a real device, set its PKCS#11 module in Settings → Token module (or `custos --module PATH`): OpenSC for smartcards (opensc-pkcs11.so), YubiHSM 2 (yubihsm_pkcs11.so), Thales Luna (libCryptoki2_64.so), Entrust nShield (libcknfast.so).',
      ],
    );
  }
  const { configPath, tokenDir } = softHsmPaths(dataDir);
  if (existsSync(configPath)) {
    if (!existsSync(tokenDir)) {
      throw new CustosError(
        'SOFTHSM_TOKEN_DIR_MISSING',
        `The software token directory ${tokenDir} is missing: the rehearsal tokens stored there are gone.`,
        [
          'If it was moved, put it back and press Refresh. Custos did not recreate it, so nothing was overwritten.',
          'If the loss is intended, delete the file softhsm2.conf next to it and press Refresh to start with a new, empty software token store.',
        ],
      );
    }
  } else {
    mkdirSync(tokenDir, { recursive: true, mode: 0o700 });
  }
  // Written from where the data directory is now, at every start: a moved directory keeps its own tokens.
  const config = softHsmConfig(tokenDir);
  const current = existsSync(configPath) ? readFileSync(configPath, 'utf8') : null;
  if (current !== config) writeFileAtomic(configPath, config, 0o600);
  // SoftHSM2 reads its configuration path from the environment at C_Initialize.
  process.env.SOFTHSM2_CONF = configPath;
  return { modulePath, configPath, tokenDir };
}

/**
 * SoftHSM2 rewrites a token's `token.object` in place at every login: it truncates the file, then writes it (seen with
 * strace on 2.6.1). A process killed or a power cut between the two leaves it empty, and the token is gone with every
 * key in it. For a token whose PINs never change once it is made (the audit token) a copy of that file taken at
 * each start brings it back: call this before the library is loaded, with the token's serial (SoftHSM2's serial is
 * the last 16 hex digits of the token folder's UUID). Returns whether the file was brought back from the copy. Never
 * for a custody token: a copy from before a turnover would let the old PIN, and so the old holders, open it again.
 */
export function keepTokenFile(tokenDir: string, serial: string): 'restored' | 'kept' | 'not-found' {
  const wanted = serial.toLowerCase();
  const folder = existsSync(tokenDir)
    ? readdirSync(tokenDir).find((name) => wanted.length === 16 && name.replace(/-/g, '').endsWith(wanted))
    : undefined;
  if (!folder) return 'not-found';
  const file = join(tokenDir, folder, 'token.object');
  // Kept beside the token folders, not in one: SoftHSM2 reads every file in a token's folder as one of its objects.
  const copy = join(dirname(tokenDir), 'kept', `${folder}.token.object`);
  const size = existsSync(file) ? statSync(file).size : 0;
  const kept = existsSync(copy) ? readFileSync(copy) : null;
  // Shorter than the copy: cut off mid-rewrite (the audit token's file does not change size once it is made).
  if (kept && kept.length > 0 && size < kept.length) {
    writeFileAtomic(file, kept, 0o600);
    return 'restored';
  }
  if (size > 0) {
    const now = readFileSync(file);
    if (!kept || !kept.equals(now)) {
      mkdirSync(dirname(copy), { recursive: true, mode: 0o700 });
      writeFileAtomic(copy, now, 0o600);
    }
  }
  return 'kept';
}
