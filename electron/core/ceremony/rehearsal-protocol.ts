import type { Envelope, WireError } from '../../../shared/errors';
import type { ChannelName, EventName } from '../../../shared/ipc-schema';
import type { z } from 'zod';
import type { FactorProof } from '../../../shared/quorum';
import type { TokenRef } from '../../../shared/tokens';
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
