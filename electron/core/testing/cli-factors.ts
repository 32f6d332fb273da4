import { openSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { totpCodeAt } from '../custodians/totp';

/** A secret handed to the CLI as a script would: a 0600 file in the folder, opened, its descriptor as text. */
export function secretFd(dir: string, text: string): string {
  const path = join(dir, `fd-${Math.random()}`);
  writeFileSync(path, `${text}\n`, { mode: 0o600 });
  return String(openSync(path, 'r'));
}

/** `--passphrase-fd`/`--code` of the given custodians for one step, a TOTP period after the last (moves the clock). */
export function factorArgs(
  dir: string,
  clock: { now: Date },
  enrolled: readonly { passphrase: string; secret: string }[],
  who: readonly number[],
): string[] {
  clock.now = new Date(clock.now.getTime() + 30_000);
  return who.flatMap((i) => {
    const { passphrase, secret } = enrolled[i]!;
    return ['--passphrase-fd', secretFd(dir, passphrase), '--code', totpCodeAt(secret, clock.now)];
  });
}
