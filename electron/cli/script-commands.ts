import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { LintReport, PlannedCeremony, RunStepView, RunSummary, RunView } from '../../shared/ceremony-script';
import type { Envelope, WireError } from '../../shared/errors';
import type { ProposalView } from '../../shared/quorum';
import type { RehearsalStatus } from '../../shared/rehearsals';
import type { CustosCore } from '../core/custos-core';
import { resolveDataDir } from '../core/data-dir';
import { refuseCardsInside } from '../core/destinations';
import { parseScript } from '../core/ceremony-script';
import type { CeremonyScript, ScriptStep } from '../../shared/ceremony-script';
import { forkRehearsal } from '../core/ceremony/rehearsal-host';
import type { SpawnRehearsal } from '../core/ceremony/rehearsal-protocol';
import { CustosError } from '../core/errors';
import { readBoundedText } from '../core/bounded-file';
import { enterCards, writeCards, writeSetCards } from './ceremony-commands';
import {
  ask,
  call,
  factors,
  proposalById,
  read,
  str,
  usageFailure,
  type Io,
  type Request,
  type Values,
} from './cli-support';
import { custodianId, renderProposal } from './proposal-words';

export const SCRIPT_USAGE = `  ceremony templates                  The ceremony script templates Custos ships (no data directory needed)
  ceremony template NAME              One template's text, to fill in: … > my-ceremony.yml
  ceremony lint FILE                  Check a ceremony script against this installation and print it with
                                      each quorum step's fingerprint, to print and sign before the ceremony
  ceremony run FILE [--cards-dir DIR] Run the script (or resume its run) step by step, asking each person
                                      for both factors in turn; approvers compare the fingerprint aloud
                                      with the printed script. DIR receives the share cards of a backup step
  ceremony rehearse FILE [--cards-dir DIR]
                                      Rehearse the script in a scratch installation beside this one (a new
                                      SoftHSM2 token; no real token or key is touched), the people it names
                                      with their own factors; the report says REHEARSAL on every page
  ceremony policy --require-rehearsal on|off --as OFFICER [--passphrase-fd N] [--code CODE]
                                      A security officer requires a passed rehearsal of the same script
                                      before a real run (or no longer does)
  ceremony plan FILE                  Keep a script that lints clean as planned (listed until its run starts)
  ceremony withdraw --id SHA256       Withdraw a planned ceremony
  ceremony list                       Ceremonies: planned, in progress, done, aborted
  ceremony show --id RUN              One run, step by step, with who did and witnessed what
  ceremony abort --id RUN --as WHO --reason TEXT [--passphrase-fd N] [--code CODE]
                                      The administrator or a security officer stops a run for good
`;

/** At most what a request may carry; a device or a pipe named as the script is refused before it is read. */
const SCRIPT_BYTES = 200_000;

function scriptText(file: string): string {
  const limit = { bytes: SCRIPT_BYTES, code: 'CEREMONY_SCRIPT_INVALID', what: 'a ceremony script (YAML)' } as const;
  return readBoundedText(resolve(file), limit);
}

/** The script as it is printed for review: each step in words, who acts, and what the approvers compare. */
export function renderLint(report: LintReport): string {
  const lines = [
    `Ceremony script: ${report.title ?? '(unreadable)'}`,
    `SHA-256 of the script: ${report.sha256}`,
    report.ok ? 'Lint: no problems.' : `Lint: ${report.problems.length} problem(s):`,
    ...report.problems.map((p) => `  - ${p}`),
    ...(report.rehearsal?.required
      ? [
          `Rehearsal: the policy asks for a passed rehearsal of this exact script before the real run; ${
            report.rehearsal.lastPassed
              ? `one passed ${report.rehearsal.lastPassed.slice(0, 16).replace('T', ' ')} UTC.`
              : report.rehearsal.limits.length > 0
                ? 'this script cannot be rehearsed, so it cannot be run as a script while the policy is on.'
                : 'none yet (custos ceremony rehearse FILE).'
          }`,
        ]
      : []),
    ...(report.rehearsal && report.rehearsal.limits.length > 0
      ? ['Rehearsal: not possible for this script:', ...report.rehearsal.limits.map((l) => `  - ${l}`)]
      : []),
    '',
  ];
  for (const step of report.steps) {
    lines.push(`${step.index + 1}. ${step.title} [${step.id}] — ${step.kind}, by ${step.by}`);
    step.words.forEach((w) => lines.push(`     ${w}`));
    if (step.approvers.length > 0) lines.push(`     Approvers: ${step.approvers.join(', ')}`);
    if (step.shortFingerprint) lines.push(`     Fingerprint: ${step.shortFingerprint}  (full: ${step.fingerprint})`);
    if (step.readAloud) lines.push(`     ${step.readAloud}`);
    if (step.witnesses.length > 0)
      lines.push(`     Witnessed by: ${step.witnesses.join(', ')}   signature: ____________`);
    lines.push('');
  }
  return `${lines.join('\n')}\n`;
}

const STATE_WORDS: Record<RunStepView['state'], string> = {
  waiting: 'to do',
  proposed: 'proposed, waiting for approvals',
  performed: 'done, waiting for its witnesses',
  failed: 'failed',
  done: 'done and witnessed',
};

export function renderRun(run: RunView): string {
  const lines = [
    `Ceremony run ${run.id}: ${run.title} — ${run.state}`,
    `  Token ${run.token.label} (${run.token.serial}); script SHA-256 ${run.scriptSha256}`,
    `  Started ${run.startedAt} by ${run.startedBy}${run.finishedAt ? `; closed ${run.finishedAt}` : ''}`,
    ...(run.abortReason ? [`  Aborted: ${run.abortReason}`] : []),
    ...(run.reportId
      ? [`  Signed report: ${run.reportId}, written with its PDF to the data directory's reports/${run.reportId}/`]
      : []),
    ...run.steps.map((s) => {
      const witnessed = s.witnesses.map((w) => `${w.name}${w.signedAt ? ' ✓' : ''}`).join(', ');
      return (
        `  ${s.id === run.current ? '→' : ' '} ${s.index + 1}. ${s.title}: ${STATE_WORDS[s.state]}` +
        (s.shortFingerprint ? ` — fingerprint ${s.shortFingerprint}` : '') +
        (s.value ? ` — recorded “${s.value}”` : '') +
        (s.outcome && s.state === 'failed' ? ` — ${s.outcome}` : '') +
        (witnessed ? ` — witnesses: ${witnessed}` : '')
      );
    }),
  ];
  return `${lines.join('\n')}\n`;
}

const renderPlanned = (planned: PlannedCeremony[]) =>
  planned
    .map((p) => `planned      ${p.window.opens.slice(0, 16)}  ${p.title} (${p.location}; script ${p.sha256})\n`)
    .join('');

const renderRuns = (runs: RunSummary[]) =>
  runs.length === 0
    ? 'No ceremony has been run from a script yet (custos ceremony run FILE).\n'
    : `${runs.map((r) => `${r.id}  ${r.state.padEnd(11)} ${r.startedAt.slice(0, 16)}  ${r.title}`).join('\n')}\n`;

export function scriptRequest(command: string, positionals: string[], values: Values, io: Io): Request | null {
  const id = str(values.id) ?? '';
  switch (command.split(' ').slice(0, 2).join(' ')) {
    case 'ceremony lint': {
      const file = positionals[2];
      if (!file) return async () => usageFailure('ceremony lint needs the script FILE.');
      return async (core) => {
        const answer = await core.router.dispatch('ceremonies.lint', { script: scriptText(file) });
        if (!answer.ok) return { envelope: answer, render: () => '' };
        const report = answer.value as LintReport;
        const failed: WireError | undefined = report.ok
          ? undefined
          : {
              code: 'CEREMONY_SCRIPT_INVALID',
              message: 'The script cannot be run as written.',
              remedy: report.problems,
            };
        return { envelope: answer, render: renderLint as (v: never) => string, ...(failed ? { failed } : {}) };
      };
    }
    case 'ceremony list':
      return async (core) => {
        const planned = await read(core, 'ceremonies.planned', {});
        return call('ceremonies.runs', {}, (runs: RunSummary[]) => renderPlanned(planned) + renderRuns(runs))(core);
      };
    case 'ceremony plan': {
      const file = positionals[2];
      if (!file) return async () => usageFailure('ceremony plan needs the script FILE.');
      return (core) =>
        call('ceremonies.plan', { script: scriptText(file) }, (p) => `Planned: ${renderPlanned([p])}`)(core);
    }
    case 'ceremony withdraw':
      return call('ceremonies.withdrawPlan', { sha256: id }, (left) => `Withdrawn.\n${renderPlanned(left)}`);
    case 'ceremony policy':
      return async (core) => {
        const setting = str(values['require-rehearsal']);
        if (setting !== 'on' && setting !== 'off')
          return usageFailure('ceremony policy needs --require-rehearsal on|off.');
        const who = custodianId(core, str(values.as) ?? '');
        const officer = await factors(who, nameOf(core, who), values, io);
        return call('ceremonies.setPolicy', { requireRehearsal: setting === 'on', officer }, (policy) =>
          policy.requireRehearsal
            ? 'A real run now needs a passed rehearsal of the same script.\n'
            : 'A real run no longer needs a rehearsal first.\n',
        )(core);
      };
    case 'ceremony show':
      return call('ceremonies.run', { runId: id }, renderRun);
    case 'ceremony abort':
      return async (core) => {
        const reason = str(values.reason);
        if (!reason) return usageFailure('ceremony abort needs --reason TEXT.');
        const who = custodianId(core, str(values.as) ?? '');
        const by = await factors(who, nameOf(core, who), values, io);
        return call('ceremonies.abort', { runId: id, by, reason }, renderRun)(core);
      };
    case 'ceremony run': {
      const file = positionals[2];
      if (!file) return async () => usageFailure('ceremony run needs the script FILE.');
      return (core) => runScript(core, scriptText(file), values, io);
    }
    default:
      return null;
  }
}

function nameOf(core: CustosCore, id: string): string {
  return core.custodians.get(id).name;
}

/** Past every --passphrase-fd / --code: in a script's run each person types their factors when their turn comes. */
const AT_THE_TERMINAL = -1;

/** Both factors of a person the script names, asked at the terminal. */
async function proofOf(core: CustosCore, name: string, values: Values, io: Io, purpose: string) {
  io.stderr(`${name}: ${purpose}.\n`);
  return factors(custodianId(core, name), name, values, io, AT_THE_TERMINAL);
}

/**
 * Walks a script's run in the terminal, one step at a time, asking the person each step names; it resumes the
 * script's run in progress (after a stop or a crash) rather than starting another. Approvals are given here, in
 * this one process, like `custos proposal approve`: their shares live only in its memory.
 */
async function runScript(
  core: CustosCore,
  text: string,
  values: Values,
  io: Io,
  /** In a rehearsal the scratch token's SO PIN is handed over by the rehearsal process: nobody types it. */
  rehearsal = false,
) {
  const cardsDir = str(values['cards-dir']);
  if (!rehearsal && cardsDir) refuseCardsInside(cardsDir, resolveDataDir(str(values['data-dir']), io.env));
  const lint = await read(core, 'ceremonies.lint', { script: text });
  io.stderr(renderLint(lint));
  if (!lint.ok) throw new CustosError('CEREMONY_SCRIPT_INVALID', 'The script cannot be run as written.', lint.problems);
  const { script } = parseScript(text) as { script: CeremonyScript };
  const resumed = (await read(core, 'ceremonies.runs', {})).find(
    (r) => r.state === 'in-progress' && r.scriptSha256 === lint.sha256,
  );
  let run: RunView;
  if (resumed) {
    io.stderr(`Resuming run ${resumed.id}, started ${resumed.startedAt}.\n`);
    run = await read(core, 'ceremonies.run', { runId: resumed.id });
  } else {
    const administrator = await proofOf(core, script.roles.administrator, values, io, 'you start the ceremony');
    run = await read(core, 'ceremonies.start', { script: text, administrator });
  }
  while (run.state === 'in-progress' && run.current) {
    const step = run.steps.find((s) => s.id === run.current)!;
    io.stderr(`\nStep ${step.index + 1} of ${run.steps.length}: ${step.title} (${STATE_WORDS[step.state]})\n`);
    lint.steps[step.index]!.words.forEach((w) => io.stderr(`  ${w}\n`));
    const next = await advance(core, run, step, script.steps[step.index]!, values, io, rehearsal);
    if (!next.ok) return { envelope: next, render: () => '' };
    if (next.value === null) break;
    run = next.value;
  }
  if (run.state === 'in-progress' && run.current === null) {
    // Every step done, the report not made (refused, a full disk, a stop in between): made now.
    io.stderr('Every step is done; making the ceremony report.\n');
    const finished = (await core.router.dispatch('ceremonies.finish', { runId: run.id })) as Envelope<RunView>;
    if (!finished.ok) return { envelope: finished, render: () => '' };
    run = finished.value;
  }
  return { envelope: { ok: true, value: run } as Envelope<RunView>, render: renderRun as (v: never) => string };
}

/** Does what the current step needs next; null when the run must wait for something this terminal cannot give. */
async function advance(
  core: CustosCore,
  run: RunView,
  step: RunStepView,
  scripted: ScriptStep,
  values: Values,
  io: Io,
  rehearsal: boolean,
): Promise<Envelope<RunView | null>> {
  const runId = run.id;
  const perform = async (extra: Record<string, unknown> = {}) =>
    core.router.dispatch('ceremonies.perform', {
      runId,
      stepId: step.id,
      by: await proofOf(core, step.by, values, io, 'you perform this step'),
      ...extra,
    }) as Promise<Envelope<RunView>>;
  switch (step.state) {
    case 'waiting':
    case 'failed': {
      if (step.state === 'failed') io.stderr(`  The last attempt ${step.outcome ?? 'failed'}. Proposing it again.\n`);
      if ('custody' in scripted) {
        const holders = [];
        for (const name of scripted.custody.holders.filter((n) => n !== step.by))
          holders.push(await proofOf(core, name, values, io, 'you take a share of the token'));
        const currentSoPin = rehearsal ? null : await ask(io, 'The token’s current SO PIN (replaced at once): ', true);
        return perform({ holders, ...(currentSoPin ? { currentSoPin } : {}) });
      }
      if ('manual' in scripted && scripted.record) {
        const value = await ask(io, `${scripted.record}, as read aloud: `, false);
        return perform({ value });
      }
      if ('action' in scripted && scripted.action === 'key.backup' && !str(values['cards-dir']))
        return usageFailure('This step makes a backup: run with --cards-dir DIR, where the share cards are written.')
          .envelope;
      const done = await perform();
      if (done.ok && step.kind === 'checkpoint') io.stderr(`${done.value.steps[step.index]!.checkpoint ?? ''}\n`);
      if (done.ok && step.kind === 'action') {
        const made = done.value.steps[step.index]!;
        io.stderr(
          `  Proposed. Fingerprint: ${made.shortFingerprint}\n` +
            '  Each approver compares it, aloud, with the fingerprint printed on the signed script.\n',
        );
      }
      return done;
    }
    case 'proposed':
      return approveStep(core, run, step, values, io);
    case 'performed': {
      const waiting = step.witnesses.filter((w) => w.signedAt === null);
      let last: Envelope<RunView> | null = null;
      for (const w of waiting) {
        const witness = await proofOf(core, w.name, values, io, `you confirm that you witnessed “${step.title}”`);
        last = (await core.router.dispatch('ceremonies.witness', {
          runId,
          stepId: step.id,
          witness,
        })) as Envelope<RunView>;
        if (!last.ok) return last;
      }
      return last ?? { ok: true, value: await read(core, 'ceremonies.run', { runId }) };
    }
    default:
      return { ok: true, value: null };
  }
}

/** Each approver the script names, in turn: the fingerprint as read from the paper, then both factors. */
async function approveStep(core: CustosCore, run: RunView, step: RunStepView, values: Values, io: Io) {
  const proposal = await proposalById(core, step.proposalId!);
  io.stderr(renderProposal(core)(proposal));
  // Only approvals still held count: one whose shares died with an earlier process is given again.
  const approved = new Set(proposal.approvals.filter((a) => a.held).map((a) => a.custodianId));
  const held = (p: ProposalView) => p.approvals.filter((a) => a.held).length;
  let view: ProposalView = proposal;
  for (const name of step.approvers) {
    // Approved, a restore still waits for its cards (from the start): that alone does not stop the approvals. A run
    // cut off waits for its re-examination at the next login, which no approval here brings.
    if (view.state !== 'open' || view.interrupted || held(view) >= view.threshold) break;
    const approverId = custodianId(core, name);
    if (approved.has(approverId)) continue;
    const fingerprint = await ask(io, `${name}: the fingerprint printed on your script, as you read it: `, false);
    const approver = await factors(approverId, name, values, io, AT_THE_TERMINAL);
    const answer = await core.router.dispatch('proposals.approve', { proposalId: view.id, fingerprint, approver });
    if (!answer.ok) return answer as Envelope<never>;
    view = answer.value as ProposalView;
  }
  // Cards only once the quorum holds: typed into a restore that cannot run, they would be asked for again.
  if (view.state === 'open' && view.action === 'key.restore' && !view.interrupted && held(view) >= view.threshold)
    await enterCards(core, view, values, io, renderProposal(core));
  view = await proposalById(core, view.id);
  if (view.action === 'key.backup' && view.state === 'executed') {
    const dir = str(values['cards-dir']);
    if (!dir)
      io.stderr('The backup ran, but no --cards-dir was given: run again with --cards-dir to print the cards.\n');
    else await writeCards(core, view, dir, values, io, AT_THE_TERMINAL);
  }
  if (view.state === 'open') {
    io.stderr(
      `  Still open: ${view.waitingFor.join('; ') || 'more approvals are needed'}. ` +
        'Run this command again to continue.\n',
    );
    return { ok: true as const, value: null };
  }
  return { ok: true as const, value: await read(core, 'ceremonies.run', { runId: run.id }) };
}

/**
 * The rehearsal process beside the built CLI (out/main/rehearsal.js), or its source under tsx when the CLI runs from
 * source (the tests).
 */
export function rehearsalProcess(): SpawnRehearsal {
  const built = join(__dirname, 'rehearsal.js');
  return existsSync(built)
    ? forkRehearsal(built)
    : forkRehearsal(join(__dirname, '../rehearsal/entry.ts'), ['--import', 'tsx']);
}

/**
 * `custos ceremony rehearse FILE`: the same rehearsal as the app's. The real installation stays open here; the script
 * runs in a scratch installation under <data-dir>/rehearsals/, in a rehearsal process of its own (its own SoftHSM2
 * configuration), and every request below goes there until the rehearsal ends. What people's factors go through
 * there counts here as each answer comes back, and how the rehearsal went is recorded here when it ends.
 */
export async function rehearse(
  file: string,
  core: CustosCore,
  values: Values,
  io: Io,
): Promise<Awaited<ReturnType<Request>>> {
  const text = scriptText(file);
  const { active } = await read(core, 'rehearsals.start', { script: text });
  const opened = active!;
  // From here every request is the rehearsal's: should its process stop, they fail instead of reaching this one.
  core.router.onlyWhileDiverted(true);
  try {
    return await rehearseIn(opened, text, core, values, io);
  } finally {
    core.router.onlyWhileDiverted(false);
  }
}

async function rehearseIn(
  opened: NonNullable<RehearsalStatus['active']>,
  text: string,
  core: CustosCore,
  values: Values,
  io: Io,
): Promise<Awaited<ReturnType<Request>>> {
  io.stderr(
    `REHEARSAL in ${opened.dir}, on the scratch token ${opened.token.label} (${opened.token.serial}). ` +
      'Nothing real is touched.\n',
  );
  let run: RunView;
  try {
    for (const set of opened.practiceSets) {
      io.stderr(
        `The script restores backup set ${set.setId.slice(0, 8)}. The rehearsal made a practice set in its place: ` +
          `stand-ins for ${set.keys.map((k) => `“${k}”`).join(', ')}, on practice cards for ` +
          `${set.holders.join(', ')} (any ${set.threshold}). Each takes their own now, and types it at the restore ` +
          'step. Real cards stay sealed.\n',
      );
      const dir = str(values['cards-dir']) ?? join(opened.dir, 'practice-cards');
      await writeSetCards(core, set.setId, dir, values, io, AT_THE_TERMINAL);
    }
    if (opened.custody) {
      io.stderr('The script runs on a token already in custody: its holders first take the scratch token.\n');
      const holders = [];
      for (const name of opened.custody.holders)
        holders.push(await proofOf(core, name, values, io, 'rehearsal custody'));
      const taken = await read(core, 'rehearsals.takeCustody', { holders });
      const standIns = taken.active?.standIns;
      if (standIns) {
        io.stderr(
          '\nThe script acts on real keys. The rehearsal makes stand-ins for them in its token: new keys with the same\n' +
            'ids, labels, algorithms, usages and states. Nothing of the real keys is copied.\n',
        );
        const proposer = await proofOf(core, standIns.by, values, io, 'propose the stand-in keys (a new code)');
        const proposed = await read(core, 'rehearsals.proposeStandIns', { proposer });
        await approveStandIns(core, proposed.active!.standIns!.proposalId!, opened.custody.holders, values, io);
      }
    }
    const result = await runScript(core, text, values, io, true);
    if (!result.envelope.ok) {
      await endQuietly(core);
      return result;
    }
    run = result.envelope.value;
  } catch (error) {
    await endQuietly(core);
    throw error;
  }
  const { last } = await read(core, 'rehearsals.end', {});
  if (last?.reportDir) io.stderr(`Rehearsal report (REHEARSAL on every page): ${join(last.reportDir, 'report.pdf')}\n`);
  return {
    envelope: { ok: true, value: { ...run, dir: opened.dir } },
    render: ((done: RunView) =>
      `REHEARSAL ${last?.outcome === 'passed' ? 'passed' : 'did not finish'}: ${done.title}\n${renderRun(done)}`) as (
      v: never,
    ) => string,
  };
}

/**
 * The script acts on real keys: stand-ins for them were proposed in the rehearsal's token (by whoever performs its
 * first step on a real key, with both factors), and the other holders approve them as any quorum action before the
 * run. Their fingerprint is on the screen only: the printed script has none for them.
 */
async function approveStandIns(
  core: CustosCore,
  proposalId: string,
  holders: readonly string[],
  values: Values,
  io: Io,
): Promise<void> {
  let view = await proposalById(core, proposalId);
  io.stderr(renderProposal(core)(view));
  io.stderr(
    `  Proposed. Fingerprint: ${view.shortFingerprint}\n` +
      '  Each approver compares it, aloud, with the fingerprint on this screen (the printed script has none).\n',
  );
  for (const name of holders.filter((n) => custodianId(core, n) !== view.requestedBy)) {
    if (view.state !== 'open') break;
    const fingerprint = await ask(io, `${name}: the stand-ins’ fingerprint, as you read it: `, false);
    const approver = await factors(custodianId(core, name), name, values, io, AT_THE_TERMINAL);
    const answer = await core.router.dispatch('proposals.approve', { proposalId, fingerprint, approver });
    if (!answer.ok) throw new CustosError(answer.error.code, answer.error.message, answer.error.remedy);
    view = answer.value as ProposalView;
  }
  if (view.state !== 'executed')
    throw new CustosError('CEREMONY_STEP_REFUSED', 'The rehearsal’s stand-in keys were not made.', [
      view.outcome?.status === 'failed'
        ? (view.outcome.message ?? view.outcome.code)
        : 'Too few holders approved them; end the rehearsal and start it again.',
    ]);
  io.stderr('  The stand-ins are in the rehearsal token.\n');
}

/** Ends a rehearsal that failed or was refused part-way: it is recorded here as incomplete, and the error stands. */
async function endQuietly(core: CustosCore): Promise<void> {
  await core.router.dispatch('rehearsals.end', {});
}
