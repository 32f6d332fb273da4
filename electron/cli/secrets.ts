import { readSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { CustosError, fileError } from '../core/errors';

/**
 * Passphrases reach the CLI from a file descriptor (`--passphrase-fd 3`, for scripts and
 * ceremony tooling) or from the terminal with echo off — never from argv, where any other user
 * of the machine could read them in the process list.
 */
export function passphraseFromFd(fd: string, option = '--passphrase-fd'): string {
  const remedy = [`Give ${option} the number of a descriptor the shell opened, e.g. \`${option} 3 3<file\`.`];
  if (!/^\d{1,9}$/.test(fd))
    throw new CustosError('IPC_INVALID_PAYLOAD', `${option} takes a file descriptor number.`, remedy);
  let line: string | null;
  try {
    line = firstLine(Number(fd));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    // Said as what the descriptor is: a folder read "already exists", an empty non-blocking pipe was INTERNAL.
    if (code === 'EISDIR')
      throw new CustosError('IPC_INVALID_PAYLOAD', `${option} ${fd} is a folder, not a file or a pipe.`, remedy);
    if (code === 'EAGAIN')
      throw new CustosError('INPUT_ENDED', `File descriptor ${fd} (${option}) had nothing to read yet.`, remedy);
    if (code !== 'EBADF') throw fileError(error) ?? error;
    throw new CustosError('IPC_INVALID_PAYLOAD', `${option} ${fd}: no such file descriptor is open.`, remedy);
  }
  if (line === null)
    throw new CustosError(
      'IPC_INVALID_PAYLOAD',
      `${option} ${fd} holds no line of at most ${FD_LINE_BYTES} bytes; it was not read further and nothing was done.`,
      remedy,
    );
  if (line.length === 0)
    throw new CustosError('INPUT_ENDED', `File descriptor ${fd} (${option}) held nothing; nothing was done.`, remedy);
  return line;
}

/** Room for the longest passphrase (1,024 characters) or share card in UTF-8, with its line break. */
const FD_LINE_BYTES = 16 * 1024;

/**
 * The descriptor's first line, read no further than its line break: a descriptor on /dev/zero or a huge file never
 * ends a line, and was read whole into memory until the process died. Null when no line ends within the limit.
 */
function firstLine(fd: number): string | null {
  const buffer = Buffer.alloc(FD_LINE_BYTES + 1);
  try {
    let length = 0;
    let newline = -1;
    for (let read = 1; read > 0 && newline < 0 && length < buffer.length; length += read) {
      read = readSync(fd, buffer, length, buffer.length - length, null);
      newline = buffer.subarray(0, length + read).indexOf(0x0a);
    }
    const end = newline >= 0 ? newline : length;
    return end > FD_LINE_BYTES ? null : buffer.subarray(0, end).toString('utf8').replace(/\r$/, '');
  } finally {
    buffer.fill(0);
  }
}

export function promptHidden(prompt: string): Promise<string> {
  const stdin = process.stdin;
  if (!stdin.isTTY) return promptLine(prompt);
  return new Promise((resolve, reject) => {
    // Raw before the prompt shows: an answer typed at once must never be echoed by the terminal.
    stdin.setRawMode(true);
    process.stderr.write(prompt);
    let value = '';
    stdin.resume();
    stdin.setEncoding('utf8');
    const done = (result: string | null, cancelled = false) => {
      stdin.setRawMode(false);
      stdin.pause();
      stdin.removeListener('data', onData);
      process.stderr.write('\n');
      if (result === null) reject(inputEnded(prompt, cancelled));
      else resolve(result);
    };
    const onData = (chunk: string) => {
      for (const [at, char] of [...chunk].entries()) {
        if (char === '\r' || char === '\n') {
          // What the terminal would have done outside raw mode (ICRNL), for the next, line-read prompt.
          const rest = [...chunk]
            .slice(at + 1)
            .join('')
            .replace(/\r/g, '\n');
          done(value);
          // After done(): unshifted into a flowing stream it would come straight back to this listener.
          if (rest.length > 0) stdin.unshift(rest, 'utf8');
          return;
        }
        if (char === '\u0003') return done(null, true);
        if (char === '\u0004') return done(null);
        if (char === '\u007f' || char === '\b') value = value.slice(0, -1);
        else value += char;
      }
    };
    stdin.on('data', onData);
  });
}

/**
 * One line from standard input. Input that ends first (a closed pipe, Ctrl-D) is a failure with its
 * own code, never an empty answer and never a silent exit.
 */
export function promptLine(
  prompt: string,
  input: Readable = process.stdin,
  output: { write(text: string): unknown } = process.stderr,
): Promise<string> {
  output.write(prompt);
  return new Promise((resolve, reject) => {
    let data = '';
    const finish = () => {
      input.removeListener('data', onData);
      input.removeListener('end', onEnd);
      input.pause();
    };
    const onData = (chunk: Buffer | string) => {
      data += chunk.toString();
      const newline = data.indexOf('\n');
      if (newline >= 0) {
        finish();
        // Answers typed ahead (or piped all at once) belong to the next prompts.
        const rest = data.slice(newline + 1);
        if (rest.length > 0) input.unshift(Buffer.from(rest));
        resolve(data.slice(0, newline).replace(/\r$/, ''));
      }
    };
    const onEnd = () => {
      finish();
      reject(inputEnded(prompt));
    };
    if (input.readableEnded) return onEnd();
    input.on('data', onData);
    input.once('end', onEnd);
    input.resume();
  });
}

function inputEnded(prompt: string, cancelled = false): CustosError {
  const asked = prompt.trim().replace(/:$/, '');
  const what = cancelled
    ? `Cancelled (Ctrl-C) at “${asked}”`
    : `Standard input ended before an answer to “${asked}” was given`;
  return new CustosError('INPUT_ENDED', `${what}; nothing was done.`, [
    'Give the answer on standard input, or pass the option that supplies it (custos --help).',
  ]);
}
