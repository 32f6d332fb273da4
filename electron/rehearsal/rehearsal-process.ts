import { join } from 'node:path';
import type { Envelope, WireError } from '../../shared/errors';
import type { TokenRef } from '../../shared/tokens';
import type { PracticeSet } from '../../shared/rehearsals';
import { CustosCore } from '../core/custos-core';
import { CustosError, isCustosError, wireError } from '../core/errors';
import { silentLog } from '../core/log';
import {
  exportRehearsalReport,
  scratchToken,
  seedPeople,
  takeScratchCustody,
  proposeStandIns,
  factorStates,
  makePracticeSets,
  type PersonSeed,
} from '../core/ceremony/rehearsal';
import type { RehearsalParent, ToRehearsal } from '../core/ceremony/rehearsal-protocol';

/**
 * The rehearsal process: it opens the scratch installation (as `custos ceremony rehearse` does: made, seeded with the
 * people, opened again) and answers main's requests with the scratch core's own router. It has its own SoftHSM2
 * configuration, which is why it is a process of its own: the library reads one per process.
 */
export function serveRehearsal(parent: RehearsalParent, exit: (code: number) => void): void {
  let now = new Date();
  const clock = () => now;
  let scratch: Scratch | null = null;
  // One message at a time, in order: a request that arrives while another runs waits for it.
  let queue = Promise.resolve();

  const handle = async (message: ToRehearsal): Promise<void> => {
    now = new Date(message.now);
    if (message.type === 'open') {
      try {
        scratch = await openScratch(message.dir, message.version, message.people, message.practiceSets, clock);
        scratch.core.events.subscribe((name, payload) => parent.post({ type: 'event', name, payload }));
        parent.post({ type: 'ready', token: scratch.token });
      } catch (error) {
        // Main stops this process once it reads the answer (exiting here could lose the message).
        parent.post({ type: 'open-failed', error: wire(error) });
      }
      return;
    }
    if (!scratch) throw new Error('the rehearsal installation is not open');
    const { core, soPin, token, dir } = scratch;
    if (message.type === 'request') {
      const envelope = await core.router.dispatch(message.channel, handOver(message.channel, message.payload, soPin));
      parent.post({ type: 'reply', id: message.id, envelope, factors: factorStates(core) });
    } else if (message.type === 'take-custody') {
      let envelope: Envelope<null>;
      try {
        // Before the token is taken: a proposer refused afterwards would leave it taken, and the rehearsal stuck.
        if (message.standInsBy) core.quorum.mayAct(message.standInsBy, 'propose');
        await takeScratchCustody(core, { token, soPin }, message.threshold, message.holders);
        envelope = { ok: true, value: null };
      } catch (error) {
        envelope = { ok: false, error: wire(error) };
      }
      parent.post({ type: 'reply', id: message.id, envelope, factors: factorStates(core) });
    } else if (message.type === 'propose-stand-ins') {
      let envelope: Envelope<{ proposalId: string }>;
      try {
        envelope = {
          ok: true,
          value: { proposalId: (await proposeStandIns(core, message.keys, message.proposer)).id },
        };
      } catch (error) {
        envelope = { ok: false, error: wire(error) };
      }
      parent.post({ type: 'reply', id: message.id, envelope, factors: factorStates(core) });
    } else {
      // Newest first: a run that finished, else the latest (one may have been aborted and run again).
      const runs = core.ceremonies.list().filter((r) => r.scriptSha256 === message.scriptSha256);
      const run = runs.find((r) => r.state === 'done') ?? runs[0];
      const view = run ? core.ceremonies.view(run.id) : null;
      const report =
        view?.state === 'done' && view.reportId
          ? await exportRehearsalReport(core, view.reportId, join(dir, 'report'))
          : null;
      const factors = factorStates(core);
      core.close();
      scratch = null;
      parent.post({
        type: 'finished',
        id: message.id,
        run: view ? { id: view.id, state: view.state } : null,
        reportDir: report?.dir ?? null,
        reportSha256: report?.sha256 ?? null,
        factors,
      });
    }
  };
  parent.onMessage((message) => {
    queue = queue
      .then(() => handle(message))
      .catch((error: unknown) => {
        // Why it stops reaches main's log; no request's payload goes with it.
        parent.post({ type: 'failed', error: wire(error), kind: kindOf(error) });
        exit(1);
      });
  });
}

interface Scratch {
  core: CustosCore;
  token: TokenRef;
  soPin: string;
  dir: string;
}

async function openScratch(
  dir: string,
  version: string,
  people: readonly PersonSeed[],
  practiceSets: readonly PracticeSet[],
  clock: () => Date,
): Promise<Scratch> {
  // Always the embedded SoftHSM2, whatever module the real installation uses.
  const open = () =>
    CustosCore.open({ dataDir: dir, version, production: true, operator: 'desktop-rehearsal', clock, log: silentLog });
  open().close();
  const seeding = open();
  try {
    seedPeople(seeding.store, people);
  } finally {
    seeding.close();
  }
  const core = open();
  try {
    const scratch = { core, ...scratchToken(core), dir };
    await makePracticeSets(core, practiceSets);
    return scratch;
  } catch (error) {
    core.close();
    throw error;
  }
}

/** The scratch token's SO PIN is handed over by the rehearsal: nobody types it (the runner does not ask for it). */
function handOver(channel: string, payload: unknown, soPin: string): unknown {
  if (channel !== 'ceremonies.perform' || typeof payload !== 'object' || payload === null) return payload;
  const request = payload as Record<string, unknown>;
  return Array.isArray(request.holders) && request.currentSoPin === undefined
    ? { ...request, currentSoPin: soPin }
    : payload;
}

function wire(error: unknown): WireError {
  const known = isCustosError(error)
    ? error
    : new CustosError('INTERNAL', 'The rehearsal installation hit an unexpected problem.', [], { cause: error });
  return wireError(known);
}

function kindOf(error: unknown): string {
  if (!(error instanceof Error)) return typeof error;
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' ? `${error.name} ${code.slice(0, 40)}` : error.name;
}
