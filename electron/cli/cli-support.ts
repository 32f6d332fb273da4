import type { Envelope, WireError } from '../../shared/errors';
import type { ChannelName, InputOf, ResultOf } from '../../shared/ipc-schema';
import type { ModuleStatus } from '../../shared/tokens';
import type { SpawnRehearsal } from '../core/ceremony/rehearsal-protocol';
import type { CustosCore } from '../core/custos-core';
import { CustosError } from '../core/errors';
import { passphraseFromFd, promptHidden, promptLine } from './secrets';

export interface Io {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  env: NodeJS.ProcessEnv;
  /** Asks the person at the terminal; tests answer instead. Secrets are read with echo off. */
  ask?: (prompt: string, secret: boolean) => Promise<string>;
  /** Tests pin the core's clock (TOTP steps, expiries); never settable from the command line. */
  clock?: () => Date;
  /** Tests start the rehearsal process bundled for them (electron/core/testing/child-bundles.ts); never settable from
   * the command line. */
  spawnRehearsal?: SpawnRehearsal;
}

/**
 * What a command answers. `failed`: the request itself went through (the value is printed), but
 * what it set off failed (an approval whose operation then failed in the token): the exit code and
 * the error are that failure's.
 */
export type Request = (
  core: CustosCore,
) => Promise<{ envelope: Envelope<unknown>; render: (value: never) => string; failed?: WireError }>;

export function call<N extends ChannelName>(
  name: N,
  input: InputOf<N>,
  render: (value: ResultOf<N>) => string,
): Request {
  return async (core) => {
    const envelope = await core.router.dispatch(name, input);
    if (envelope.ok && envelope.value && typeof envelope.value === 'object' && 'state' in envelope.value) {
      const status = envelope.value as ModuleStatus;
      // A module that cannot load is a failure for a script, even though the UI shows it as a state.
      if (status.state === 'unavailable')
        return {
          envelope: { ok: false, error: { code: status.code, message: status.message, remedy: status.remedy } },
          render: () => '',
        };
    }
    return { envelope, render: render as (value: never) => string };
  };
}

export type Values = Record<string, string | boolean | string[] | undefined>;

export function ask(io: Io, prompt: string, secret: boolean): Promise<string> {
  if (io.ask) return io.ask(prompt, secret);
  return secret ? promptHidden(prompt) : promptLine(prompt);
}

/** From --passphrase-fd, or typed with echo off (twice when setting one). */
export async function readPassphrase(values: Values, io: Io, confirm: boolean): Promise<string> {
  const fd = str(values['passphrase-fd']);
  if (fd !== undefined) return passphraseFromFd(fd);
  const first = await ask(io, 'Passphrase: ', true);
  if (confirm && (await ask(io, 'Passphrase again: ', true)) !== first) {
    throw new CustosError('PASSPHRASE_WEAK', 'The two passphrases differ.', [
      'Run the command again and type the same passphrase twice.',
    ]);
  }
  return first;
}
/** An option's value; for a repeatable option, its first. */
export const str = (value: unknown) =>
  typeof value === 'string' ? value : Array.isArray(value) && typeof value[0] === 'string' ? value[0] : undefined;

/**
 * An option's whole number as typed in decimal digits; anything else (0x2, 1e3, an empty or spaced value) is NaN,
 * which the request's schema refuses, where Number() would have read 0x2 as 2 and "" as 0.
 */
export const whole = (value: unknown): number => {
  const text = str(value);
  return text !== undefined && /^(0|[1-9][0-9]*)$/.test(text) ? Number(text) : Number.NaN;
};

export function usageFailure(message: string) {
  const error: WireError = { code: 'IPC_INVALID_PAYLOAD', message, remedy: ['Run `custos --help` for the options.'] };
  return { envelope: { ok: false as const, error }, render: () => '' };
}

/** Passphrase and code of one custodian, from the i-th --passphrase-fd / --code or asked in turn. */
export async function factors(custodianId: string, who: string, values: Values, io: Io, index = 0) {
  const fds = (values['passphrase-fd'] as string[] | undefined) ?? [];
  const codes = (values.code as string[] | undefined) ?? [];
  const fd = fds[index];
  const passphrase = fd !== undefined ? passphraseFromFd(fd) : await ask(io, `${who}’s passphrase: `, true);
  const code = codes[index] ?? (await ask(io, `${who}’s 6-digit code: `, false));
  return { custodianId, passphrase, code };
}

/** A read made as the app makes it: through the router, validated and recorded; a refusal is thrown. */
export async function read<N extends ChannelName>(core: CustosCore, name: N, input: InputOf<N>): Promise<ResultOf<N>> {
  const answer = await core.router.dispatch(name, input);
  if (!answer.ok) throw new CustosError(answer.error.code, answer.error.message, answer.error.remedy);
  return answer.value as ResultOf<N>;
}

/** One proposal as `custos proposal list` shows it. */
export async function proposalById(core: CustosCore, id: string) {
  const found = (await read(core, 'proposals.list', {})).find((p) => p.id === id);
  if (!found)
    throw new CustosError('PROPOSAL_NOT_FOUND', 'There is no such proposal.', ['Run `custos proposal list`.']);
  return found;
}
