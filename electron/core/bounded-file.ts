import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import type { ErrorCode } from '../../shared/errors';
import { CustosError, fileError, printable } from './errors';

/**
 * Reads a file a person named (on the command line, or in a dialog) that Custos expects to be small: a folder, a
 * device or a pipe is refused before anything is read, and so is a file larger than any such file could be — a
 * device like /dev/zero reports no size and never ends, and a huge file would be read whole only to be refused.
 */
export function readBoundedFile(path: string, limit: { bytes: number; code: ErrorCode; what: string }): Buffer {
  const fd = openRegularFile(path, limit);
  try {
    // Up to one byte past the limit, whatever the size said: a file may grow while it is read.
    const buffer = Buffer.alloc(limit.bytes + 1);
    let length = 0;
    for (let read = 1; read > 0 && length < buffer.length; length += read)
      read = readSync(fd, buffer, length, buffer.length - length, null);
    if (length > limit.bytes)
      throw new CustosError(
        limit.code,
        `${printable(path)} is larger than ${limit.what} can be (at most ${limit.bytes} bytes); it was not read.`,
        [`Name ${limit.what} itself.`],
      );
    return buffer.subarray(0, length);
  } catch (error) {
    throw fileError(error) ?? error;
  } finally {
    closeSync(fd);
  }
}

/**
 * The same file as text. Bytes that are not UTF-8 are refused, never replaced: what Custos shows as a file's SHA-256
 * (a ceremony script's, a transport package's) is taken over the text, and must be what `sha256sum` says of the file.
 */
export function readBoundedText(path: string, limit: { bytes: number; code: ErrorCode; what: string }): string {
  const bytes = readBoundedFile(path, limit);
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    throw new CustosError(limit.code, `${printable(path)} is not UTF-8 text; it was not used.`, [
      `Name ${limit.what} itself, saved as UTF-8.`,
    ]);
  }
}

/**
 * Opens a file to read, refusing anything but a regular file before a byte is read. O_NONBLOCK: opening a pipe to
 * read otherwise waits for a writer, forever, before fstat could tell what it is (no effect on a regular file).
 */
export function openRegularFile(path: string, limit: { code: ErrorCode; what: string }): number {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (error) {
    throw fileError(error) ?? error;
  }
  if (fstatSync(fd).isFile()) return fd;
  closeSync(fd);
  throw new CustosError(limit.code, `${printable(path)} is not a file (a folder, a device or a pipe).`, [
    `Name ${limit.what} itself.`,
  ]);
}
