import { closeSync, constants, fstatSync, lstatSync, mkdirSync, openSync, rmSync, type Stats } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { CustosError, printable } from '../core/errors';
import { writeFileAtomic } from '../core/secret-vault';

/** The folder a holder's card goes to, by the card's kind and index and the holder's name. */
export function cardFolder(dir: string, kind: string, index: number, name: string): string {
  return join(resolve(dir), `${kind}-${index}-${name.replace(/[^A-Za-z0-9]+/g, '-')}`);
}

/** Refuses a card folder that is there as a link or as someone else's folder; one not there yet is fine. */
export function refuseForeignFolder(folder: string): void {
  let found;
  try {
    found = lstatSync(folder);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  if (!ours(found)) throw foreign(folder);
}

const ours = (found: Stats) => found.isDirectory() && (process.getuid === undefined || found.uid === process.getuid());

const foreign = (folder: string) =>
  new CustosError(
    'FILE_ACCESS_DENIED',
    `${printable(folder)} is already there as a link or someone else's folder; the card was not written through it.`,
    ['Remove it, or name a cards folder only you can write to, then make a new backup.'],
  );

/** Writes a card's files into its holder's folder. */
export interface CardFolderWriter {
  write(name: string, data: Buffer | string): void;
  /** Checks the folder is still where its holder will look, and lets it go; a folder moved meanwhile is refused. */
  close(): void;
  /** Lets it go after a write failed. */
  abandon(): void;
}

/**
 * A holder's folder for their card, made here or already ours, opened once and written through what was opened. A
 * link planted under its name in a shared cards folder (or a folder someone else made there) would steer the card
 * wherever its owner chose, the data directory included; and a folder checked by its path and then written by its
 * path could be moved aside and replaced by such a link in between (a shared folder without the sticky bit allows
 * it). On Linux the opened folder is written as /proc/self/fd/N, which follows no name; elsewhere, by its path as
 * checked (that window stays open there).
 */
export function openCardFolder(folder: string): CardFolderWriter {
  mkdirSync(dirname(folder), { recursive: true, mode: 0o700 });
  try {
    mkdirSync(folder, { mode: 0o700 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  if (process.platform !== 'linux') {
    refuseForeignFolder(folder);
    const write = (name: string, data: Buffer | string) => writeFileAtomic(join(folder, name), data, 0o600);
    return { write, close: () => undefined, abandon: () => undefined };
  }
  let fd: number;
  try {
    fd = openSync(folder, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ELOOP' || code === 'ENOTDIR') throw foreign(folder);
    throw error;
  }
  const opened = fstatSync(fd);
  if (!ours(opened)) {
    closeSync(fd);
    throw foreign(folder);
  }
  const through = `/proc/self/fd/${fd}`;
  const written: string[] = [];
  return {
    write(name, data) {
      writeFileAtomic(join(through, name), data, 0o600);
      written.push(name);
    },
    close() {
      try {
        const now = lstatSync(folder, { throwIfNoEntry: false });
        if (now && now.isDirectory() && now.dev === opened.dev && now.ino === opened.ino) return;
        // Moved away meanwhile: the files are in our folder, wherever it went, not where the holder will look.
        for (const name of written) rmSync(join(through, name), { force: true });
        throw new CustosError(
          'FILE_ACCESS_DENIED',
          `${printable(folder)} was moved or replaced while the card was written; the card was taken back.`,
          ['Name a cards folder only you can write to, then make a new backup.'],
        );
      } finally {
        closeSync(fd);
      }
    },
    abandon: () => closeSync(fd),
  };
}
