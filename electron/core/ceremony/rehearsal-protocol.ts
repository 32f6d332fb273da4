import { z } from 'zod';
import { WireError, type Envelope } from '../../../shared/errors';
import { eventNames, type ChannelName, type EventName } from '../../../shared/ipc-schema';
import { TokenRef } from '../../../shared/tokens';
import type { FactorProof } from '../../../shared/quorum';
import type { FactorState } from '../custodians/custodian-service';
import type { PersonSeed } from './rehearsal';
import type { StandIn } from '../../../shared/actions';
import type { PracticeSet } from '../../../shared/rehearsals';

/**
 * The messages between the main process and a rehearsal process (rehearsal-host.ts ⇄
 * electron/rehearsal/rehearsal-process.ts). Every message from main carries main's clock: the rehearsal keeps the same
 * time as the installation it rehearses for.
 */
export type ToRehearsal =
  | { type: 'open'; now: string; dir: string; version: string; people: PersonSeed[]; practiceSets: PracticeSet[] }
  | { type: 'request'; now: string; id: number; channel: ChannelName; payload: unknown }
  | {
      type: 'take-custody';
      now: string;
      id: number;
      holders: z.infer<typeof FactorProof>[];
      threshold: number;
      /** Who will propose the stand-ins once the token is taken: refused before it is, should they not be allowed. */
      standInsBy: string | null;
    }
  /** The stand-ins for the real keys the script acts on, proposed by the person whose factors `proposer` carries. */
  | { type: 'propose-stand-ins'; now: string; id: number; keys: StandIn[]; proposer: z.infer<typeof FactorProof> }
  | { type: 'finish'; now: string; id: number; scriptSha256: string };

export type FromRehearsal =
  | { type: 'ready'; token: TokenRef }
  | { type: 'open-failed'; error: WireError }
  /** `factors`: where each person's factors stand there, counted in the real installation at once. */
  | { type: 'reply'; id: number; envelope: Envelope<unknown>; factors: Record<string, FactorState> }
  | { type: 'event'; name: EventName; payload: unknown }
  /**
   * An unexpected error: the process says what it was, then stops (main records the rehearsal as stopped). `kind` is
   * the error's class and code (SqliteError SQLITE_FULL), never its message, which could quote what it was parsing.
   */
  | { type: 'failed'; error: WireError; kind: string }
  | {
      type: 'finished';
      id: number;
      run: { id: string; state: string } | null;
      reportDir: string | null;
      reportSha256: string | null;
      factors: Record<string, FactorState>;
    };

const FactorStates = z.record(
  z.string().max(64),
  z.strictObject({
    lastTimeStep: z.number().int().nullable(),
    failures: z.number().int().nonnegative(),
    throttledUntil: z.string().max(64).nullable(),
    locked: z.boolean(),
  }),
);
const Id = z.number().int().positive();

/**
 * The answer to `propose-stand-ins`: the proposal the other holders approve. Checked before main keeps it, since the
 * status and the `rehearsals.changed` push carry it to every screen.
 */
export const StandInsProposed = z.strictObject({ proposalId: z.string().regex(/^[0-9a-f]{16}$/) });

/**
 * What main accepts from a rehearsal process, checked before anything reads it: the process is less trusted than main
 * (its installation is a folder that whoever can write the data directory can shape), and a message of another shape
 * must neither throw in main's message listener nor reach the real installation's records.
 */
export const FromRehearsalMessage: z.ZodType<FromRehearsal> = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('ready'), token: TokenRef }),
  z.strictObject({ type: z.literal('open-failed'), error: WireError }),
  z.strictObject({
    type: z.literal('reply'),
    id: Id,
    envelope: z.union([
      z.strictObject({ ok: z.literal(true), value: z.unknown() }),
      z.strictObject({ ok: z.literal(false), error: WireError }),
    ]),
    factors: FactorStates,
  }),
  z.strictObject({
    type: z.literal('event'),
    name: z.enum(eventNames as [EventName, ...EventName[]]),
    payload: z.unknown(),
  }),
  z.strictObject({ type: z.literal('failed'), error: WireError, kind: z.string().max(200) }),
  z.strictObject({
    type: z.literal('finished'),
    id: Id,
    run: z.strictObject({ id: z.string().regex(/^[0-9a-f]{16}$/), state: z.string().max(32) }).nullable(),
    reportDir: z.string().max(4096).nullable(),
    reportSha256: z
      .string()
      .regex(/^[0-9a-f]{64}$/)
      .nullable(),
    factors: FactorStates,
  }),
]) as z.ZodType<FromRehearsal>;

/** A running rehearsal process as main sees it: Electron's utilityProcess in the app, a Node child elsewhere. */
export interface RehearsalProcess {
  post(message: ToRehearsal): void;
  onMessage(listener: (message: FromRehearsal) => void): void;
  onExit(listener: (code: number | null) => void): void;
  kill(): void;
}

export type SpawnRehearsal = () => RehearsalProcess;

/** The rehearsal process's side of the channel: Electron's parentPort, or Node's IPC channel to its parent. */
export interface RehearsalParent {
  post(message: FromRehearsal): void;
  onMessage(listener: (message: ToRehearsal) => void): void;
}
