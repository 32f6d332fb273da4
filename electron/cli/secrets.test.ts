import { execFileSync } from 'node:child_process';
import { closeSync, constants, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { passphraseFromFd, promptLine } from './secrets';

const quiet = { write: () => true };

describe('a prompt on standard input', () => {
  it('answers with the line typed', async () => {
    const input = new PassThrough();
    const answer = promptLine('6-digit code: ', input, quiet);
    input.write('123456\n');
    await expect(answer).resolves.toBe('123456');
    expect(input.listenerCount('data') + input.listenerCount('end')).toBe(0);
  });

  it('fails with INPUT_ENDED when input ends before a whole line, never with an empty answer', async () => {
    const input = new PassThrough();
    const answer = promptLine('Fingerprint as read aloud to you: ', input, quiet);
    input.end('12ab');
    await expect(answer).rejects.toMatchObject({
      code: 'INPUT_ENDED',
      message: expect.stringContaining('“Fingerprint as read aloud to you”'),
    });
  });

  it('fails at once when input has already ended', async () => {
    const input = new PassThrough();
    input.end();
    input.resume();
    await new Promise((resolve) => input.once('end', resolve));
    await expect(promptLine('Passphrase: ', input, quiet)).rejects.toMatchObject({ code: 'INPUT_ENDED' });
  });
});

describe('a secret read from a file descriptor', () => {
  it('is its first line; a bad or empty descriptor is invalid input, never INTERNAL (before: a raw TypeError)', () => {
    const file = join(tmpdir(), `custos-fd-${process.pid}`);
    writeFileSync(file, 'correct horse battery staple\nnext line\n', { mode: 0o600 });
    const held = openSync(file, 'r');
    expect(passphraseFromFd(String(held))).toBe('correct horse battery staple');
    closeSync(held);
    // Closed now: EBADF, said as such.
    for (const fd of ['abc', '3.5', String(held)])
      expect(() => passphraseFromFd(fd, '--card-fd'), fd).toThrow(
        expect.objectContaining({ code: 'IPC_INVALID_PAYLOAD', message: expect.stringContaining('--card-fd') }),
      );
    writeFileSync(file, '');
    const empty = openSync(file, 'r');
    expect(() => passphraseFromFd(String(empty))).toThrow(expect.objectContaining({ code: 'INPUT_ENDED' }));
    closeSync(empty);
    rmSync(file);
  });
});

describe('a secret read from a descriptor that is no file', () => {
  it('says a folder is a folder (before: FILE_EXISTS) and an empty non-blocking pipe is empty (before: INTERNAL)', () => {
    const folder = openSync(tmpdir(), 'r');
    expect(() => passphraseFromFd(String(folder))).toThrow(
      expect.objectContaining({
        code: 'IPC_INVALID_PAYLOAD',
        message: `--passphrase-fd ${folder} is a folder, not a file or a pipe.`,
      }),
    );
    closeSync(folder);
    const fifo = join(tmpdir(), `custos-fd-fifo-${process.pid}`);
    execFileSync('mkfifo', [fifo]);
    const reader = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
    const writer = openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK);
    expect(() => passphraseFromFd(String(reader))).toThrow(
      expect.objectContaining({ code: 'INPUT_ENDED', message: expect.stringContaining('had nothing to read yet') }),
    );
    closeSync(writer);
    closeSync(reader);
    rmSync(fifo);
  });
});

describe('a secret read from a descriptor that never ends a line', () => {
  it('is refused as invalid input after at most 16 KiB, never read whole (before: /dev/zero aborted the process)', () => {
    const file = join(tmpdir(), `custos-fd-huge-${process.pid}`);
    // 10 MB and no line break: a passphrase is at most 1,024 characters, a card 400.
    writeFileSync(file, 'x'.repeat(10 * 1024 * 1024), { mode: 0o600 });
    const huge = openSync(file, 'r');
    expect(() => passphraseFromFd(String(huge))).toThrow(
      expect.objectContaining({ code: 'IPC_INVALID_PAYLOAD', message: expect.stringContaining('16384 bytes') }),
    );
    closeSync(huge);
    // A first line of the longest passphrase (1,024 four-byte characters) is read, whatever follows it.
    const longest = '𝄞'.repeat(1024);
    writeFileSync(file, `${longest}\r\n${'y'.repeat(10 * 1024 * 1024)}`);
    const long = openSync(file, 'r');
    expect(passphraseFromFd(String(long))).toBe(longest);
    closeSync(long);
    rmSync(file);
    const zero = openSync('/dev/zero', 'r');
    expect(() => passphraseFromFd(String(zero), '--card-fd')).toThrow(
      expect.objectContaining({ code: 'IPC_INVALID_PAYLOAD', message: expect.stringContaining('--card-fd') }),
    );
    closeSync(zero);
  });
});
