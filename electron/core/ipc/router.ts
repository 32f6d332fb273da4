import type { z } from 'zod';
import type { Envelope, ErrorCode, WireError } from '../../../shared/errors';
import {
  channel,
  isChannelName,
  type ChannelName,
  type ParsedInputOf,
  type ResultOf,
} from '../../../shared/ipc-schema';
import { isCustosError, wireError } from '../errors';
import type { Log } from '../log';

/** What happened to one request, for the audit log; never carries the request's values. */
export interface DispatchReport {
  channel: ChannelName | null;
  /** The raw channel name asked for, cut short, when it was not a known one. */
  requested: string | null;
  outcome: 'ok' | 'refused' | 'failed';
  code: ErrorCode | null;
  input: unknown;
  /** The input passed its schema and the handler ran (so it may have recorded its own failure). */
  handled: boolean;
}

/** Where requests go instead of this router's handlers for a while (a rehearsal's scratch installation). */
export interface Diversion {
  applies(name: ChannelName): boolean;
  forward(name: ChannelName, payload: unknown): Promise<Envelope<unknown>>;
}

export type Handlers = {
  [N in ChannelName]: (input: ParsedInputOf<N>) => ResultOf<N> | Promise<ResultOf<N>>;
};

/**
 * The one entry point for requests from the renderer, used by Electron's ipcMain and by the
 * end-to-end harness alike. It treats every payload as hostile: unknown channels and invalid
 * inputs are refused before any handler runs, and results are parsed through their schema so
 * only declared fields leave the privileged side.
 */
export class Router {
  /** While set, what a diversion does not take is refused here instead of answered by this router's handlers. */
  private divertedOnly = false;

  constructor(
    private readonly handlers: Handlers,
    private readonly log: Log,
    private readonly observe: (report: DispatchReport) => void | Promise<void> = () => {},
    private readonly diversion: Diversion | null = null,
  ) {}

  /**
   * A console rehearsal sends everything after its start to the scratch installation: once the rehearsal is gone
   * (its process stopped), a request meant for it must fail, not be carried out here by people who believe nothing
   * real is touched. The router's own rehearsals.* channels still answer.
   */
  onlyWhileDiverted(on: boolean): void {
    this.divertedOnly = on;
  }

  /**
   * `intent` is what the sender meant the request for (the app's screens: `{ rehearsal: true }` while they show a
   * rehearsal). It can only make the router refuse: a request meant for a rehearsal that is gone is never done here.
   */
  async dispatch(name: unknown, payload: unknown, intent?: unknown): Promise<Envelope<unknown>> {
    // Answered and recorded where it went (the scratch installation validates and records it there); what the
    // rehearsal refused to take (opening, ending, gone) is recorded here.
    if (this.diversion && isChannelName(name) && this.diversion.applies(name))
      return this.diversion.forward(name, payload).catch(async (error: unknown) => {
        const result = this.failed(name, error);
        await this.report(name, payload, result, false);
        return result;
      });
    const forRehearsal = this.divertedOnly || (isRecord(intent) && intent.rehearsal === true);
    const { result, handled } =
      forRehearsal && !(isChannelName(name) && name.startsWith('rehearsals.'))
        ? { result: failure(REHEARSAL_GONE), handled: false }
        : await this.handle(name, payload);
    await this.report(name, payload, result, handled);
    return result;
  }

  private async report(name: unknown, payload: unknown, result: Envelope<unknown>, handled: boolean): Promise<void> {
    const known = isChannelName(name) ? name : null;
    try {
      // Awaited: the answer goes back only once the request is on record.
      await this.observe({
        channel: known,
        requested: known ? null : typeof name === 'string' ? name.slice(0, 64) : typeof name,
        outcome: result.ok ? 'ok' : result.error.code.startsWith('IPC_') ? 'refused' : 'failed',
        code: result.ok ? null : result.error.code,
        input: payload,
        handled,
      });
    } catch (error) {
      this.log.error('could not observe a request', { channel: known, error: describe(error) });
    }
  }

  private async handle(name: unknown, payload: unknown): Promise<{ result: Envelope<unknown>; handled: boolean }> {
    if (!isChannelName(name)) {
      return {
        result: failure({ code: 'IPC_UNKNOWN_CHANNEL', message: 'Custos does not know this request.', remedy: [] }),
        handled: false,
      };
    }
    const spec = channel(name) as { input: z.ZodType; result: z.ZodType };
    const input = spec.input.safeParse(payload);
    if (!input.success) {
      const message = `The request was malformed and nothing was done (${describeIssues(input.error.issues)}).`;
      return { result: failure({ code: 'IPC_INVALID_PAYLOAD', message, remedy: [] }), handled: false };
    }
    try {
      const handler = this.handlers[name] as (input: unknown) => unknown;
      const value: unknown = await handler(input.data);
      return { result: { ok: true, value: spec.result.parse(value) }, handled: true };
    } catch (error) {
      return { result: this.failed(name, error), handled: true };
    }
  }

  private failed(name: ChannelName, error: unknown): Envelope<never> {
    if (isCustosError(error)) return failure(wireError(error));
    this.log.error('unexpected failure in request', { channel: name, error: describe(error) });
    const message =
      'Custos hit an unexpected problem; the details are in its log. Nothing was changed by this request.';
    return failure({ code: 'INTERNAL', message, remedy: [] });
  }
}

/**
 * Paths and reasons only, each cut short: the rejected values may be secrets typed into the wrong
 * field, and a path or message can quote the input (a record key, an unknown field's name).
 */
function describeIssues(issues: readonly z.core.$ZodIssue[]): string {
  const clip = (text: string, max: number) => (text.length > max ? `${text.slice(0, max)}…` : text);
  const reasons = issues.slice(0, MAX_ISSUES).map((issue) => {
    const path = issue.path.map((part) => clip(String(part), 40)).join('.') || 'request';
    return `${clip(path, 120)}: ${clip(issue.message, 120)}`;
  });
  const more = issues.length > MAX_ISSUES ? `; and ${issues.length - MAX_ISSUES} more` : '';
  return reasons.join('; ') + more;
}
const MAX_ISSUES = 5;

const REHEARSAL_GONE: WireError = {
  code: 'REHEARSAL_STOPPED',
  message: 'The rehearsal is no longer open, so this was not done: nothing meant for a rehearsal is done for real.',
  remedy: ['Start the rehearsal again.'],
};

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

function failure(error: WireError): Envelope<never> {
  return { ok: false, error };
}

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : typeof error;
}
