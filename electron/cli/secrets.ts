import { readFileSync } from 'node:fs';

/**
 * Passphrases reach the CLI from a file descriptor (`--passphrase-fd 3`, for scripts and
 * ceremony tooling) or from the terminal with echo off — never from argv, where any other user
 * of the machine could read them in the process list.
 */
export function passphraseFromFd(fd: number): string {
  const text = readFileSync(fd, 'utf8');
  const line = text.split(/\r?\n/)[0] ?? '';
  if (line.length === 0) throw new Error(`file descriptor ${fd} held no passphrase`);
  return line;
}

export function promptHidden(prompt: string): Promise<string> {
  const stdin = process.stdin;
  if (!stdin.isTTY) return promptLine(prompt);
  return new Promise((resolve, reject) => {
    process.stderr.write(prompt);
    let value = '';
    stdin.setRawMode(true);
    stdin.resume();
    stdin.setEncoding('utf8');
    const done = (result: string | null) => {
      stdin.setRawMode(false);
      stdin.pause();
      stdin.removeListener('data', onData);
      process.stderr.write('\n');
      if (result === null) reject(new Error('cancelled'));
      else resolve(result);
    };
    const onData = (chunk: string) => {
      for (const char of chunk) {
        if (char === '\r' || char === '\n') return done(value);
        if (char === '\u0003' || char === '\u0004') return done(null);
        if (char === '\u007f' || char === '\b') value = value.slice(0, -1);
        else value += char;
      }
    };
    stdin.on('data', onData);
  });
}

export function promptLine(prompt: string): Promise<string> {
  process.stderr.write(prompt);
  return new Promise((resolve) => {
    let data = '';
    const onData = (chunk: Buffer) => {
      data += chunk.toString('utf8');
      const newline = data.indexOf('\n');
      if (newline >= 0) {
        process.stdin.removeListener('data', onData);
        process.stdin.pause();
        resolve(data.slice(0, newline).replace(/\r$/, ''));
      }
    };
    process.stdin.on('data', onData);
    process.stdin.resume();
  });
}
