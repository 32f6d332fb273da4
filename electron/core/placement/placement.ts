import { existsSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { CustosError } from '../errors';
import { configuredTokenDir, softHsmPaths } from '../hsm/softhsm';
import { writeFileAtomic } from '../secret-vault';

/**
 * `<data-dir>/installation.json`: which installation this directory holds and where it was last
 * opened. A copy (`cp -a`) carries it along, so the copy can tell it is not where its installation lives.
 */
const PlaceRecord = z.strictObject({
  installation: z.string().regex(/^[0-9a-f]{16}$/),
  location: z.string().min(1),
  /** An operator confirmed this copy replaces the installation at that location; recorded at the next open. */
  adoptedFrom: z.string().min(1).optional(),
});
type PlaceRecord = z.infer<typeof PlaceRecord>;

/** How the data directory came to be where it is, once the audit log may record it. */
export interface Placement {
  change: { kind: 'moved' | 'adopted'; from: string; to: string } | null;
  /** Writes the record for this location; called once the change (if any) is in the audit log. */
  settle(): void;
}

export function placeRecordPath(dataDir: string): string {
  return join(dataDir, 'installation.json');
}

/**
 * Where this data directory stands. Same place as last time: nothing to say. Somewhere else while
 * the original location no longer holds the installation: a move, accepted. Somewhere else while
 * the original is still there: a copy that would sign with the same audit key and let two logs
 * diverge, refused with DATA_DIR_COPIED until an operator adopts it (adoptCopy).
 */
export function placeInstallation(dataDir: string, installation: string): Placement {
  const here = realpathSync(dataDir);
  const record = readPlace(dataDir) ?? legacyPlace(dataDir, installation);
  const settled: PlaceRecord = { installation: record.installation, location: here };
  const settle = () => writePlace(dataDir, settled);
  if (record.location === here) {
    return { change: record.adoptedFrom ? { kind: 'adopted', from: record.adoptedFrom, to: here } : null, settle };
  }
  // An old path that still reaches this very directory (a link left by a move, a bind mount) is no copy.
  if (!sameDirectory(record.location, here) && holdsInstallation(record.location, record.installation)) {
    // Kept before refusing: the SoftHSM2 configuration that pointed at the original is rewritten next.
    if (!existsSync(placeRecordPath(dataDir))) writePlace(dataDir, record);
    throw copied(here, record);
  }
  return { change: { kind: 'moved', from: record.location, to: here }, settle };
}

/**
 * The operator's decision that this copy is the installation from now on: accepted only for a
 * directory placeInstallation refuses as a copy. Returns the original's location, or null when
 * there was nothing to confirm.
 */
export function adoptCopy(dataDir: string, installation: string): string | null {
  try {
    placeInstallation(dataDir, installation);
    return null;
  } catch (error) {
    if (!(error instanceof CustosError) || error.code !== 'DATA_DIR_COPIED') throw error;
  }
  const record = readPlace(dataDir)!;
  const location = realpathSync(dataDir);
  writePlace(dataDir, { installation: record.installation, location, adoptedFrom: record.location });
  return record.location;
}

function readPlace(dataDir: string): PlaceRecord | null {
  const path = placeRecordPath(dataDir);
  if (!existsSync(path)) return null;
  const parsed = PlaceRecord.safeParse(parseJson(readFileSync(path, 'utf8')));
  if (parsed.success) return parsed.data;
  throw new CustosError('STORE_CORRUPT', `The file ${path} that says where this installation lives is damaged.`, [
    'Restore it from the backup of this data directory.',
    'If this directory is the only copy of its installation, delete the file; the next start writes it again.',
  ]);
}

/**
 * A data directory from before the record existed: its SoftHSM2 configuration still names the
 * token directory of the place it was created in.
 */
function legacyPlace(dataDir: string, installation: string): PlaceRecord {
  const here = realpathSync(dataDir);
  const configured = configuredTokenDir(softHsmPaths(dataDir).configPath);
  const origin = configured && dirname(dirname(configured));
  if (configured && origin && existsSync(configured) && configured === softHsmPaths(origin).tokenDir) {
    if (!sameDirectory(origin, here)) return { installation, location: realpathSync(origin) };
  }
  return { installation, location: here };
}

/**
 * Two paths to one directory, which realpath does not always unify (a bind mount, another letter case
 * on a case-insensitive disk): the same device and inode. Inode 0 (some FAT drivers) proves nothing.
 */
function sameDirectory(a: string, b: string): boolean {
  try {
    const [x, y] = [statSync(a), statSync(b)];
    return x.ino !== 0 && x.dev === y.dev && x.ino === y.ino;
  } catch {
    return false;
  }
}

/** Whether the installation still lives at this location (its record, or a legacy token store there). */
function holdsInstallation(location: string, installation: string): boolean {
  try {
    const record = readPlace(location);
    if (record) return record.installation === installation;
    return existsSync(softHsmPaths(location).tokenDir);
  } catch {
    // A damaged record there is still an installation there: never call that a move.
    return true;
  }
}

function writePlace(dataDir: string, record: PlaceRecord): void {
  writeFileAtomic(placeRecordPath(dataDir), `${JSON.stringify(record, null, 2)}\n`, 0o600);
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

function copied(here: string, record: PlaceRecord): CustosError {
  return new CustosError(
    'DATA_DIR_COPIED',
    `This data directory (${here}) is a copy of installation ${record.installation}, ` +
      `which is still at ${record.location}. Both hold the same audit key: used side by side, ` +
      'their audit logs would diverge under one identity, so nothing is recorded here.',
    [
      `If you meant to move it: check this copy, then delete or rename the original at ${record.location} ` +
        'and start Custos again; the move is recorded.',
      `If this is a backup, leave it closed and use the installation at ${record.location}.`,
      'To make this copy the installation from now on (e.g. restored from a backup): ' +
        `\`custos --data-dir ${here} data-dir adopt\`, recorded in the audit log; never start the original again.`,
    ],
  );
}
