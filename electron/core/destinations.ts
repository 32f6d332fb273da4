import { realpathSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { CustosError, printable } from './errors';
import { DATABASE_FILE } from './data-dir';

/** The files and folders Custos writes for the person at the console. */
export type DestinationKind =
  'backup-file' | 'report-folder' | 'audit-export' | 'anchor-copy' | 'practice-statement' | 'transport-package';

export interface Destination {
  /** An absolute path on this machine. */
  path: string;
  /** An existing report or practice statement may be replaced (the CLI's --force). */
  replace: boolean;
}

/**
 * Asks main where a file goes (the CLI: its --out / --file). The renderer never names a path: a page
 * that could would choose where secrets-adjacent files (wrapped keys, logs) land.
 */
export type ChooseDestination = (kind: DestinationKind) => Destination | null;

/** The place chosen at the console, else the default under the data directory, else a clear refusal. */
export function destination(
  choose: ChooseDestination | undefined,
  kind: DestinationKind,
  fallback: string | null,
): Destination {
  const chosen = choose?.(kind) ?? null;
  if (chosen) return chosen;
  if (fallback !== null) return { path: fallback, replace: false };
  throw new CustosError('DESTINATION_NOT_CHOSEN', 'No file was named for this, so nothing was written.', [
    'Give the path on the command line (custos audit copy --file PATH).',
  ]);
}

/**
 * What Custos keeps in a data directory itself: a place chosen at the console that replaced one (the anchor copy
 * written over the database at every checkpoint, a backup file over the audit token's PIN) would end the installation.
 */
const OWN_ENTRIES: ReadonlySet<string> = new Set([
  DATABASE_FILE,
  `${DATABASE_FILE}-wal`,
  `${DATABASE_FILE}-shm`,
  `${DATABASE_FILE}-journal`,
  'audit-token.pin',
  'audit-token.pin.sealed',
  'audit-provisioning',
  'installation.json',
  'softhsm',
  'rehearsals',
]);

/**
 * The console's choices, refused (FILE_ACCESS_DENIED, before anything is written) when one is the data directory
 * itself or one of its own files or folders, also when named through a link.
 */
export function outsideOwnFiles(choose: ChooseDestination | undefined, dataDir: string): ChooseDestination | undefined {
  if (!choose) return undefined;
  return (kind) => {
    const chosen = choose(kind);
    if (!chosen) return null;
    const inside = relative(realLocation(dataDir), realLocation(chosen.path));
    const first = inside.split(sep)[0]!;
    if (inside === '' || (!isAbsolute(inside) && first !== '..' && OWN_ENTRIES.has(first.toLowerCase()))) {
      const what = inside === '' ? 'is the data directory itself' : 'is one of the data directory’s own files';
      throw new CustosError('FILE_ACCESS_DENIED', `${printable(chosen.path)} ${what}; nothing was written.`, [
        'Choose a place outside the data directory, e.g. removable media.',
      ]);
    }
    return chosen;
  };
}

/**
 * Real share cards written into the data directory would lie beside what they open (the backup file's wrapped keys
 * go there unless another place is named): whoever copies the folder would hold both. Refused (FILE_ACCESS_DENIED)
 * before the backup runs, also when named through a link. A rehearsal's practice cards open nothing real.
 */
export function refuseCardsInside(dir: string, dataDir: string): void {
  const inside = relative(realLocation(dataDir), realLocation(dir));
  if (inside !== '' && (isAbsolute(inside) || inside.split(sep)[0] === '..')) return;
  throw new CustosError(
    'FILE_ACCESS_DENIED',
    `${printable(dir)} is inside the data directory: share cards there would lie beside the wrapped keys they open. ` +
      'Nothing was approved.',
    ['Name a folder outside the data directory for --cards-dir (removable media), and delete the cards once printed.'],
  );
}

/** Where a path leads once the links on its way are followed; the part that does not exist yet as named. */
function realLocation(path: string): string {
  const rest: string[] = [];
  for (let head = resolve(path); ; head = dirname(head)) {
    try {
      return join(realpathSync(head), ...rest.reverse());
    } catch {
      if (dirname(head) === head) return resolve(path);
      rest.push(basename(head));
    }
  }
}
