import { afterEach, beforeEach, expect } from 'vitest';
import type { Envelope } from '../../../shared/errors';
import type { RunView } from '../../../shared/ceremony-script';
import type { ProposalView } from '../../../shared/quorum';
import type { CustosCore } from '../custos-core';
import { totpCodeAt } from '../custodians/totp';
import { ceremonyInstallation, CEREMONY_PEOPLE } from './ceremony-fixture';
import { forkRehearsal } from '../ceremony/rehearsal-host';
import { CHILD } from './child-bundles';
import type { RehearsalProcess } from '../ceremony/rehearsal-protocol';
/**
 * The test bed of the rehearsal-host tests (two files, so that they run on both of vitest's workers).
 * A rehearsal in the app: the real installation stays open in this process, the scratch one runs in a real child
 * process (its own SoftHSM2 configuration), and the router sends it every request but rehearsals.* meanwhile.
 */
export let dataDir: string;
export let cleanup: () => void;
export let clock: { now: Date };
export let people: Record<string, { id: string; passphrase: string; secret: string }>;
export let token: { serial: string; label: string };
export let core: CustosCore;
export let spawned: RehearsalProcess[];

export const spawnChild = forkRehearsal(CHILD.rehearsal);

export function script(steps: string): string {
  const opens = new Date(clock.now.getTime() - 3600_000).toISOString();
  const closes = new Date(clock.now.getTime() + 6 * 3600_000).toISOString();
  return `format: custos-ceremony/1
title: Signing key, rehearsed in the app
purpose: Show that a rehearsal runs beside the real installation.
location: Lab
window: { opens: "${opens}", closes: "${closes}" }
token: { serial: "${token.serial}", label: "${token.label}" }
roles: { administrator: Ada, custodians: [Ada, Babbage, Curie], witnesses: [Eve] }
steps:
${steps}`;
}
export const CUSTODY =
  '  - { id: custody, title: Take custody, by: Ada, custody: { holders: [Ada, Babbage, Curie], threshold: 2 } }\n';
export const KEY = `  - id: signing-key
    title: Generate the signing key
    by: Ada
    action: key.generate
    params: { algorithm: EC-P256, label: app-key, usage: sign, backupable: false, cryptoperiodDays: 365 }
    approvers: [Babbage, Curie]
`;
export const MANUAL =
  '  - { id: bag, title: Bag the printout, by: Curie, manual: Seal the printout., record: bag serial }\n';

/** A person's next code waits for the next TOTP step, as it would for someone typing fresh codes. */
const lastStep = new Map<string, number>();
export function proof(name: string) {
  const person = people[name]!;
  if (lastStep.get(name) === Math.floor(clock.now.getTime() / 30_000))
    clock.now = new Date(clock.now.getTime() + 30_000);
  lastStep.set(name, Math.floor(clock.now.getTime() / 30_000));
  return { custodianId: person.id, passphrase: person.passphrase, code: totpCodeAt(person.secret, clock.now) };
}

export async function call<T>(channel: string, payload: unknown = {}): Promise<T> {
  const answer = (await core.router.dispatch(channel, payload)) as Envelope<T>;
  if (!answer.ok) throw new Error(`${channel}: ${answer.error.code} ${answer.error.message}`);
  return answer.value;
}

/** The real installation, opened in this process; its rehearsal processes are real children, kept in `spawned`. */
export function openCore(options: Partial<Parameters<typeof CustosCore.open>[0]> = {}) {
  return openApp({
    dataDir,
    version: 'test',
    production: false,
    operator: 'test',
    clock: () => clock.now,
    spawnRehearsal: () => {
      const child = spawnChild();
      spawned.push(child);
      return child;
    },
    ...options,
  });
}

/** How the app opens: CustosCore.open, passed in by the tests (testing/, like every folder, never imports the root). */
let openApp: typeof CustosCore.open;

/** Registers the bed's set-up and tear-down: a fresh real installation for every test. */
export function useRehearsalBed(open: typeof CustosCore.open): void {
  openApp = open;
  beforeEach(async () => {
    lastStep.clear();
    ({ dataDir, cleanup, clock, people, token } = await ceremonyInstallation(CEREMONY_PEOPLE, 'app-ceremony'));
    spawned = [];
    core = openCore();
  });
  afterEach(() => {
    core.close();
    cleanup();
  });
}

/** The app started again on the same data directory (the tests that close it mid-way). */
export function reopen(options: Partial<Parameters<typeof CustosCore.open>[0]> = {}): CustosCore {
  core = openCore(options);
  return core;
}

/** The real token taken into custody by Ada, Babbage and Curie (2 of 3), before any rehearsal. */
export function takeRealCustody() {
  return call('custody.take', {
    token,
    threshold: 2,
    holders: [proof('Ada'), proof('Babbage'), proof('Curie')],
    currentSoPin: '87654321',
  });
}

/** Walks a run to its end through the router, as the runner does: perform, approve, witness; a restore's `cards`. */
export async function runThrough(text: string, cards: string[] = []) {
  return walkRun(await call<RunView>('ceremonies.start', { script: text, administrator: proof('Ada') }), cards);
}

export async function walkRun(from: RunView, cards: string[] = []) {
  let run = from;
  while (run.state === 'in-progress' && run.current) {
    const step = run.steps.find((s) => s.id === run.current)!;
    if (step.state === 'waiting' && step.kind === 'custody')
      run = await call('ceremonies.perform', {
        runId: run.id,
        stepId: step.id,
        by: proof('Ada'),
        // No SO PIN: the rehearsal hands the scratch token's over.
        holders: [proof('Babbage'), proof('Curie')],
      });
    else if (step.state === 'waiting')
      run = await call('ceremonies.perform', {
        runId: run.id,
        stepId: step.id,
        by: proof(step.by),
        ...(step.kind === 'manual' ? { value: 'TE-1' } : {}),
      });
    else if (step.state === 'proposed') {
      for (const name of step.approvers) {
        const proposal = await call<ProposalView>('proposals.approve', {
          proposalId: step.proposalId,
          fingerprint: step.shortFingerprint,
          approver: proof(name),
        });
        if (proposal.state !== 'open') break;
      }
      // Approved, a restore waits for its cards, typed in turn.
      for (const text of cards.splice(0)) await call('backups.enterShare', { proposalId: step.proposalId, text });
      run = await call('ceremonies.run', { runId: run.id });
    } else if (step.state === 'performed')
      for (const w of step.witnesses.filter((x) => x.signedAt === null))
        run = await call('ceremonies.witness', { runId: run.id, stepId: step.id, witness: proof(w.name) });
    else throw new Error(`step ${step.id} is ${step.state}`);
  }
  return run;
}

/** A quorum action in the real installation, proposed by Ada and approved by Babbage and Curie. */
export async function realAction(custodyId: string, action: string, params: Record<string, unknown>) {
  let view = await call<ProposalView>('proposals.create', { custodyId, action, params, requester: proof('Ada') });
  for (const name of ['Babbage', 'Curie'])
    if (view.state === 'open')
      view = await call<ProposalView>('proposals.approve', {
        proposalId: view.id,
        fingerprint: view.shortFingerprint,
        approver: proof(name),
      });
  expect(view.state, JSON.stringify(view.outcome)).toBe('executed');
}
