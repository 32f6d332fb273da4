import { fork } from 'node:child_process';
import { existsSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { z } from 'zod';
import type { Envelope } from '../../../shared/errors';
import { channel, type ChannelName } from '../../../shared/ipc-schema';
import type { FactorProof } from '../../../shared/quorum';
import type { ActiveRehearsal, EndedRehearsal, RehearsalStatus } from '../../../shared/rehearsals';
import type { FactorState } from '../custodians/custodian-service';
import type { CustosCore } from '../custos-core';
import { CustosError } from '../errors';
import type { Log } from '../log';
import { DATABASE_FILE } from '../store/database';
import {
  copiedInOnly,
  countRehearsal,
  planRehearsal,
  recordRehearsal,
  REHEARSAL_LABEL,
  rehearsalDir,
  retireRehearsal,
  tookPart,
  type RehearsalPlan,
} from './rehearsal';
import {
  FromRehearsalMessage,
  StandInsProposed,
  type FromRehearsal,
  type RehearsalProcess,
  type SpawnRehearsal,
  type ToRehearsal,
} from './rehearsal-protocol';

/**
 * Main's side of a rehearsal in the app. The real installation stays open here; the scratch one runs in a rehearsal
 * process, and while a rehearsal is active the router sends it every request but `rehearsals.*`, so every screen shows
 * the scratch installation. The codes people type there are spent here at once (a rehearsal's TOTP code is never
 * accepted for real), and how the rehearsal went is recorded here when it ends, or when its process stops on its own.
 */
export class RehearsalHost {
  private active: {
    plan: RehearsalPlan;
    view: ActiveRehearsal;
    process: RehearsalProcess;
    runId: string | null;
    /** `end` was asked: nothing more goes to the rehearsal process, which is closing its installation. */
    ending: boolean;
    /** Where people's factors stood there at its last answer. */
    factors: Record<string, FactorState>;
  } | null = null;
  /** The process of a rehearsal that is opening (the app may close meanwhile). */
  private opening: RehearsalProcess | null = null;
  /**
   * A rehearsal is being planned and opened: requests are refused meanwhile. Its people's counters are read when it is
   * planned; a failed attempt counted here after that would be forgiven there (the higher count wins, counted back).
   */
  private starting = false;
  private last: EndedRehearsal | null = null;
  private nextId = 1;
  private readonly pending = new Map<number, (message: FromRehearsal | null) => void>();

  constructor(
    private readonly deps: {
      core: CustosCore;
      dataDir: string;
      version: string;
      spawn: SpawnRehearsal;
      clock: () => Date;
      log: Log;
      nativeBinding?: string | undefined;
      /** How long ending may take (writing the report) before the rehearsal process is stopped; tests shorten it. */
      endDeadlineMs?: number;
      /** How long opening (making the scratch installation) may last before its process is stopped; tests cut it. */
      openDeadlineMs?: number;
    },
  ) {}

  status(): RehearsalStatus {
    return { active: this.active?.view ?? null, last: this.last };
  }

  /** Plans the rehearsal from the real installation, opens the scratch one in its own process, and diverts to it. */
  async start(script: string): Promise<RehearsalStatus> {
    if (this.active || this.opening || this.starting)
      throw new CustosError('REHEARSAL_ACTIVE', 'A rehearsal is already open.', ['End it before starting another.']);
    this.starting = true;
    try {
      // Checks already under way finish first, so the scratch installation starts from what they counted.
      const settling = this.deps.core.custodians.checksSettled();
      if (settling) {
        await settling;
        if (!this.starting) throw stoppedError();
      }
      return await this.open(script);
    } finally {
      this.starting = false;
    }
  }

  private async open(script: string): Promise<RehearsalStatus> {
    const plan = planRehearsal(this.deps.core, script);
    const dir = rehearsalDir(this.deps.dataDir, this.deps.clock());
    // Before the process exists: what it, or its database at a later start, says of anyone else is not counted here.
    this.deps.core.ceremonies.recordCopiedIn(
      basename(dir),
      plan.people.map((p) => p.id),
    );
    const process = this.deps.spawn();
    this.opening = process;
    // A process that never answers would keep every request refused ("a rehearsal is opening") until the app closed.
    const deadline = setTimeout(() => process.kill(), this.deps.openDeadlineMs ?? OPEN_DEADLINE_MS);
    try {
      const ready = new Promise<FromRehearsal | null>((resolve) => {
        process.onMessage((raw) => {
          const message = this.checked(raw, process);
          if (message === null) return;
          if (message.type === 'ready' || message.type === 'open-failed') resolve(message);
          else this.receive(message);
        });
        process.onExit(() => {
          resolve(null);
          this.stopped(process);
        });
      });
      process.post({
        type: 'open',
        now: this.now(),
        dir,
        version: this.deps.version,
        people: plan.people,
        practiceSets: plan.practiceSets,
      });
      const said = await ready;
      // The screens name the token the rehearsal is open on: never the script's real one, nor one not marked REHEARSAL.
      const real = plan.parsed.script.token;
      const misnamed =
        said?.type === 'ready' && (said.token.label !== REHEARSAL_LABEL || said.token.serial === real.serial);
      if (misnamed) this.deps.log.error('the rehearsal process named a token other than its own; stopping it');
      const answer = misnamed ? null : said;
      if (answer?.type !== 'ready') {
        process.kill();
        if (answer?.type === 'open-failed')
          throw new CustosError(
            answer.error.code,
            `The rehearsal installation could not open: ${answer.error.message}`,
            answer.error.remedy,
          );
        throw new CustosError('REHEARSAL_STOPPED', 'The rehearsal process stopped while it was opening.', [
          'Nothing was changed here; start the rehearsal again.',
        ]);
      }
      const view: ActiveRehearsal = {
        title: plan.parsed.script.title,
        scriptSha256: plan.parsed.sha256,
        dir,
        token: answer.token,
        startedAt: this.now(),
        custody: plan.custody
          ? { holders: plan.custody.holders, threshold: plan.custody.threshold, taken: false }
          : null,
        standIns:
          plan.standIns.length > 0
            ? { keys: plan.standIns.map((k) => k.label), by: plan.standInsBy?.name ?? '', proposalId: null }
            : null,
        practiceSets: plan.practiceSets.map((set) => ({
          setId: set.setId,
          threshold: set.threshold,
          holders: set.holders.map((h) => h.name),
          keys: set.keys.map((k) => k.label),
        })),
      };
      this.active = { plan, view, process, runId: null, ending: false, factors: {} };
      this.deps.core.events.divert(true);
      this.changed();
      return this.status();
    } finally {
      clearTimeout(deadline);
      this.opening = null;
    }
  }

  /** The real custody's holders take the scratch token first, when the script itself takes none. */
  async takeCustody(holders: z.infer<typeof FactorProof>[]): Promise<RehearsalStatus> {
    const active = this.serving();
    const custody = active.view.custody;
    if (!custody || custody.taken)
      throw new CustosError('CEREMONY_STEP_REFUSED', 'The rehearsal token needs no custody taken first.');
    // The scratch token stands in for the real one: only its holders take it (those present, at least the threshold).
    const outsiders = holders.filter((h) => !active.plan.custody!.holderIds.includes(h.custodianId));
    if (outsiders.length > 0)
      throw new CustosError(
        'CEREMONY_STEP_REFUSED',
        'Only holders of the real token’s custody take the rehearsal token.',
        [`Its holders: ${custody.holders.join(', ')}.`],
      );
    const { standIns, standInsBy } = active.plan;
    if (standIns.length > 0) {
      // Whoever proposes the stand-ins does not approve them: the other holders present must suffice.
      if (standInsBy === null)
        throw new CustosError(
          'CEREMONY_STEP_REFUSED',
          'Who performs the script’s first step on a real key is not enrolled here.',
        );
      const others = holders.filter((h) => h.custodianId !== standInsBy.id).length;
      if (others < custody.threshold)
        throw new CustosError(
          'CEREMONY_STEP_REFUSED',
          `${standInsBy.name} proposes the rehearsal’s stand-in keys and cannot approve them: ${custody.threshold} ` +
            `other holders must take the rehearsal token (${others} did).`,
          ['Bring another holder of the real token.'],
        );
    }
    const answer = await this.ask({
      type: 'take-custody',
      now: this.now(),
      id: this.nextId++,
      holders,
      threshold: custody.threshold,
      standInsBy: standIns.length > 0 ? standInsBy!.id : null,
    });
    if (answer.type !== 'reply') throw stoppedError();
    if (!answer.envelope.ok)
      throw new CustosError(answer.envelope.error.code, answer.envelope.error.message, answer.envelope.error.remedy);
    custody.taken = true;
    this.changed();
    return this.status();
  }

  /**
   * Once the holders have taken the rehearsal token: the person who performs the script's first step on a real key
   * proposes its stand-ins, with both factors as for any proposal. The keys are the plan's, read from the real
   * inventory; the request carries only the proposer's factors.
   */
  async proposeStandIns(proposer: z.infer<typeof FactorProof>): Promise<RehearsalStatus> {
    const active = this.serving();
    const standIns = active.view.standIns;
    const by = active.plan.standInsBy;
    if (!standIns || !by || !active.view.custody?.taken || standIns.proposalId !== null)
      throw new CustosError(
        'CEREMONY_STEP_REFUSED',
        !standIns || !by
          ? 'This rehearsal makes no stand-in keys.'
          : standIns.proposalId !== null
            ? 'The stand-in keys are proposed already: the other holders approve them on Approvals.'
            : 'The holders take the rehearsal token first; then the stand-ins are proposed.',
      );
    if (proposer.custodianId !== by.id)
      throw new CustosError(
        'CEREMONY_STEP_REFUSED',
        `${by.name} proposes the stand-in keys: they perform the script’s first step on a real key.`,
      );
    const answer = await this.ask({
      type: 'propose-stand-ins',
      now: this.now(),
      id: this.nextId++,
      keys: active.plan.standIns,
      proposer,
    });
    if (answer.type !== 'reply') throw stoppedError();
    if (!answer.envelope.ok)
      throw new CustosError(answer.envelope.error.code, answer.envelope.error.message, answer.envelope.error.remedy);
    const proposed = StandInsProposed.safeParse(answer.envelope.value);
    if (!proposed.success) {
      // Kept, it would make the status and every `rehearsals.changed` push fail to parse: the screens would lose track.
      this.deps.log.error('the rehearsal process sent something main does not accept; stopping it', {
        fault: 'a stand-ins proposal that is not one',
      });
      active.process.kill();
      throw stoppedError();
    }
    standIns.proposalId = proposed.data.proposalId;
    this.changed();
    return this.status();
  }

  /** A request the renderer made during the rehearsal, answered by the scratch installation. */
  async forward(name: ChannelName, payload: unknown): Promise<Envelope<unknown>> {
    const active = this.serving();
    const answer = await this.ask({ type: 'request', now: this.now(), id: this.nextId++, channel: name, payload });
    if (answer.type !== 'reply') throw stoppedError();
    if (!answer.envelope.ok) return answer.envelope;
    // Parsed here too: only declared fields reach the renderer, whichever installation answered.
    const value: unknown = (channel(name).result as z.ZodType).parse(answer.envelope.value);
    if (name === 'ceremonies.start') active.runId = (value as { id: string }).id;
    return { ok: true, value };
  }

  /** Ends the rehearsal: its report is written if its run finished, and how it went is recorded here. */
  async end(): Promise<RehearsalStatus> {
    const active = this.require();
    if (active.ending) throw new CustosError('REHEARSAL_NOT_ACTIVE', 'The rehearsal is ending already.');
    active.ending = true;
    // A rehearsal process that does not answer is stopped: ending must always give the real installation back.
    const deadline = setTimeout(() => active.process.kill(), this.deps.endDeadlineMs ?? END_DEADLINE_MS);
    const answer = await this.ask({
      type: 'finish',
      now: this.now(),
      id: this.nextId++,
      scriptSha256: active.view.scriptSha256,
    }).finally(() => clearTimeout(deadline));
    if (answer.type !== 'finished') throw stoppedError();
    active.process.kill();
    // Counted here, its folder is retired (its database removed); not counted, the database stays to be counted.
    const counted = this.spend(answer.factors);
    this.finish('ended', counted ? 'counted' : 'from-its-database', {
      runId: answer.run?.id ?? active.runId,
      passed: answer.run?.state === 'done',
      reportDir: answer.reportDir,
      reportSha256: answer.reportSha256,
    });
    return this.status();
  }

  /**
   * The app is closing: the rehearsal goes with it, recorded as incomplete (the next start begins a new one). Its
   * database is still held by its process, so what its people's factors went through is counted at the next start.
   */
  close(): void {
    this.starting = false;
    this.opening?.kill();
    const active = this.active;
    if (!active) return;
    this.stopped(active.process, 'at-next-start');
    active.process.kill();
  }

  get diverting(): boolean {
    return this.active !== null || this.starting;
  }

  private require() {
    if (!this.active) throw new CustosError('REHEARSAL_NOT_ACTIVE', 'No rehearsal is open.');
    return this.active;
  }

  /**
   * The rehearsal, still taking requests. Once it is ending they are refused, and never sent to the real installation
   * either: what someone does for the rehearsal must never be done for real.
   */
  private serving() {
    if (!this.active && this.starting)
      throw new CustosError('REHEARSAL_ACTIVE', 'A rehearsal is opening: nothing is done until it has opened.', [
        'Wait a moment, then try again: it is answered in the rehearsal.',
      ]);
    const active = this.require();
    if (active.ending)
      throw new CustosError('REHEARSAL_NOT_ACTIVE', 'The rehearsal is ending: nothing more is done in it.', [
        'Wait a moment for the real installation to come back, then try again.',
      ]);
    return active;
  }

  private ask(message: ToRehearsal & { id: number }): Promise<FromRehearsal> {
    const { process } = this.require();
    return new Promise((resolve, reject) => {
      this.pending.set(message.id, (answer) => (answer ? resolve(answer) : reject(stoppedError())));
      process.post(message);
    });
  }

  /**
   * The message if it is one of the protocol's, else null, and the process is stopped (its exit ends the rehearsal as
   * incomplete): a process that says what it should not cannot be trusted with the rest of the rehearsal. Its end may
   * not name a run of the real installation nor a report outside its own folder, which the real installation records.
   */
  private checked(raw: unknown, process: RehearsalProcess): FromRehearsal | null {
    // A process of an earlier rehearsal (its messages may still be on their way): nothing it says counts any more.
    if (process !== this.opening && process !== this.active?.process) return null;
    const parsed = FromRehearsalMessage.safeParse(raw);
    const message = parsed.success ? parsed.data : null;
    const active = this.active?.process === process ? this.active : null;
    const fault =
      message === null
        ? 'a message that is not of the protocol'
        : message.type !== 'finished'
          ? null
          : !active
            ? 'an end nobody asked for'
            : message.run !== null && this.deps.core.ceremonies.list().some((r) => r.id === message.run!.id)
              ? 'an end that names a run of the real installation'
              : message.reportDir !== null && message.reportDir !== join(active.view.dir, 'report')
                ? 'an end whose report lies outside its folder'
                : null;
    if (fault === null) return message;
    // Never what it sent: that came from the scratch installation, whose folder anyone with the data directory shapes.
    this.deps.log.error('the rehearsal process sent something main does not accept; stopping it', { fault });
    process.kill();
    return null;
  }

  private receive(message: FromRehearsal): void {
    if (message.type === 'event') {
      try {
        this.deps.core.events.relay(message.name, message.payload);
      } catch {
        // Not the declared shape: dropped, as main drops anything undeclared; the screens reload on the next answer.
        this.deps.log.warn('dropped an undeclared event from the rehearsal process', { event: String(message.name) });
      }
      return;
    }
    if (message.type === 'failed') {
      this.deps.log.error('the rehearsal process hit an unexpected problem and stops', {
        code: message.error.code,
        message: message.error.message,
        kind: message.kind,
      });
      return;
    }
    if (message.type === 'reply') this.spend(message.factors);
    if (message.type === 'reply' || message.type === 'finished') {
      this.pending.get(message.id)?.(message);
      this.pending.delete(message.id);
    }
  }

  /**
   * What people's factors went through there counts here as it happens: a code accepted there is spent here, and
   * failed attempts count towards the lockout here (a rehearsal cannot be used to guess passphrases).
   */
  private spend(reported: Record<string, FactorState>): boolean {
    // A process still opening has been asked nothing: what it says of anyone counts for nothing.
    const copiedIn = this.active?.plan.people.map((p) => p.id) ?? [];
    const { states: factors, ignored } = copiedInOnly(reported, copiedIn);
    if (ignored > 0)
      this.deps.log.warn('the rehearsal process counted people not copied into it; ignored', { ignored });
    if (this.active) this.active.factors = factors;
    try {
      this.deps.core.custodians.rehearsedFactors(factors);
      return true;
    } catch (error) {
      this.deps.log.error('could not count the rehearsal’s factor checks in the real installation', {
        error: error instanceof Error ? error.message : typeof error,
      });
      return false;
    }
  }

  /**
   * The process stopped: after `finished` as planned, or on its own (a crash), which ends the rehearsal incomplete;
   * or the app is closing and stops it.
   */
  private stopped(process: RehearsalProcess, count: 'from-its-database' | 'at-next-start' = 'from-its-database'): void {
    // What waits for an answer waits for the active process: an ended rehearsal's process, whose exit may be seen
    // after the next rehearsal has begun, fails none of the next one's requests.
    if (this.active?.process !== process) return;
    for (const settle of this.pending.values()) settle(null);
    this.pending.clear();
    this.deps.log.warn('the rehearsal stopped before it ended; recording it as incomplete');
    try {
      this.finish('stopped', count, {
        runId: this.active.runId,
        passed: false,
        reportDir: null,
        reportSha256: null,
      });
    } catch (error) {
      this.deps.log.error('could not record the rehearsal that stopped', {
        code: error instanceof CustosError ? error.code : 'INTERNAL',
      });
    }
  }

  /**
   * Gives the real installation back and records how the rehearsal went. The screens are told in any case: were they
   * not, they would go on saying REHEARSAL over the real installation.
   */
  private finish(
    how: EndedRehearsal['how'],
    count: 'counted' | 'from-its-database' | 'at-next-start',
    result: { runId: string | null; passed: boolean; reportDir: string | null; reportSha256: string | null },
  ): void {
    const active = this.require();
    this.active = null;
    this.deps.core.events.divert(false);
    const outcome = result.passed ? 'passed' : 'incomplete';
    this.last = {
      title: active.view.title,
      scriptSha256: active.view.scriptSha256,
      outcome,
      how,
      dir: active.view.dir,
      reportDir: result.reportDir,
      reportSha256: result.reportSha256,
      endedAt: this.now(),
    };
    try {
      this.count(active.view.dir, count);
      recordRehearsal(
        this.deps.core,
        {
          script: active.view.scriptSha256,
          title: active.view.title,
          outcome,
          people: tookPart(active.plan.people, active.factors),
          runId: result.runId,
          reportSha256: result.reportSha256,
        },
        {},
      );
    } finally {
      this.changed();
    }
  }

  /**
   * Counted: its last answer brought the final counts. From its database: whatever it accepted after its last answer
   * (if it had opened one). At the next start: its process still holds its database (countInterruptedRehearsals).
   */
  private count(dir: string, how: 'counted' | 'from-its-database' | 'at-next-start'): void {
    if (how === 'counted') return retireRehearsal(dir);
    if (how === 'at-next-start' || !existsSync(join(dir, DATABASE_FILE))) return;
    try {
      const { ignored } = countRehearsal(this.deps.core, dir, this.deps.nativeBinding);
      if (ignored > 0)
        this.deps.log.warn('the rehearsal’s database counted people not copied into it; ignored', { ignored });
    } catch (error) {
      // Not marked counted, so the next start counts it; the rehearsal is recorded meanwhile.
      this.deps.log.error('could not count the factor checks of the rehearsal that stopped; will at the next start', {
        code: error instanceof CustosError ? error.code : 'INTERNAL',
      });
    }
  }

  private changed(): void {
    this.deps.core.events.emit('rehearsals.changed', this.status());
  }

  private now(): string {
    return this.deps.clock().toISOString();
  }
}

const END_DEADLINE_MS = 120_000;
/** Generous: a practice set generates and wraps every key of a real set in the scratch token first. */
const OPEN_DEADLINE_MS = 600_000;

function stoppedError(): CustosError {
  return new CustosError('REHEARSAL_STOPPED', 'The rehearsal process stopped before it answered.', [
    'The real installation is back; start the rehearsal again.',
  ]);
}

/** A rehearsal process as a Node child (the CLI, the Chromium shell, the tests); the app uses utilityProcess. */
export function forkRehearsal(entry: string, execArgv: readonly string[] = []): SpawnRehearsal {
  return () => {
    const child = fork(entry, [], { serialization: 'advanced', execArgv: [...execArgv], stdio: 'inherit' });
    return {
      // A message that cannot be sent (the process has just gone, its exit not yet seen) stops it: its exit settles
      // what waited for an answer. Without a callback Node raises an 'error' event that would bring main down.
      post: (message) => child.send(message, (error) => error && child.kill()),
      onMessage: (listener) => child.on('message', (message) => listener(message as FromRehearsal)),
      onExit: (listener) => child.on('exit', (code) => listener(code)),
      kill: () => child.kill(),
    };
  };
}
