import type { BackupSummary } from '../../../shared/backups';
import { sql } from '../store/sql';
import {
  assemble,
  ceremonySeqs,
  keysOf,
  outcomeAsRecorded,
  type CeremonyReport,
  type ReportSources,
} from '../reports/ceremony-report';
import type { PartEntry } from '../reports/participant-record';
import { runParts } from '../reports/run-participants';
import type { CeremonyRuns } from './ceremony-runs';

/** A rehearsal's report also names the practice backup sets it restored. */
type RunReportSources = ReportSources & { backups: { list(): BackupSummary[] } };

/**
 * A script run as one signed report: the script's exact text and SHA-256, every step with its outcome, who
 * performed it and who witnessed it, and every audit entry of the run and of its steps (the proposals with their
 * approvals and executions, the custody) with an inclusion proof against a checkpoint signed for the report.
 */
export function runReport(sources: RunReportSources, runs: CeremonyRuns, runId: string): CeremonyReport {
  const run = runs.view(runId);
  const script = runs.scriptOf(runId);
  const seqs = new Set(runs.eventSeqs(runId));
  const keyIds = new Set<string>();
  // Each quorum step's action and outcome exactly as stored, which its execution's signed entry hashes: report verify
  // ties the keys the run's report lists to them (run-outcomes.ts).
  const recorded = new Map<string, { action: string; outcomeAsRecorded?: string }>();
  for (const step of run.steps) {
    if (step.proposalId) {
      ceremonySeqs(sources.store, step.proposalId).forEach((seq) => seqs.add(seq));
      const proposal = sources.quorum.provenView(step.proposalId);
      const ok = proposal.outcome?.status === 'ok';
      recorded.set(step.id, { action: proposal.action, ...(ok ? outcomeAsRecorded(sources.store, proposal) : {}) });
      // keysOf reads the result out of the outcome: handed the result, it found no key a restore's outcome names.
      keysOf(proposal.params, proposal.outcome?.status === 'ok' ? proposal.outcome : null).forEach((k) =>
        keyIds.add(k),
      );
    }
  }
  const custodyEntries = sources.store.all<{ seq: number }>(
    sql`SELECT e.seq FROM audit_entries e JOIN ceremony_events c ON e.object = 'custody:' || json_extract(c.body, '$.custodyId')
        WHERE c.run_id = ${runId} AND c.kind = 'custody'`,
  );
  custodyEntries.forEach((e) => seqs.add(e.seq));
  // Made from the run's signed entries, as report verify makes them again: each person's entry names them, its time
  // and its step (through the event its params hash), never the step view's names and times.
  const runEvents = runs.eventRecords(runId);
  const log = sources.audit.log();
  const texts = runEvents.map((r) => JSON.parse(log.entry(r.seq).entry) as PartEntry);
  const titles = new Map(run.steps.map((s) => [s.id, s.title]));
  const people = new Map(sources.custodians.list().map((c) => [c.id, c]));
  const participants = runParts(texts, runId, runEvents, (id) => titles.get(id) ?? id).parts.map((p) => {
    const person = people.get(p.id);
    return {
      id: p.id,
      name: person?.name ?? p.id,
      roles: person?.roles ?? [],
      part: p.part,
      at: p.at,
      factors: ['passphrase', 'totp'],
      seq: p.seq,
    };
  });
  const rehearsal = runs.isRehearsal(runId);
  const standIns = rehearsal ? standInsOf(sources) : [];
  for (const made of standIns) ceremonySeqs(sources.store, made.proposalId).forEach((seq) => seqs.add(seq));
  const practiceSets = rehearsal ? practiceSetsOf(sources) : [];
  for (const set of practiceSets) seqs.add(set.seq);
  return assemble(
    sources,
    rehearsal ? 'ceremony.rehearsal' : 'ceremony.script-run',
    [...seqs].sort((a, b) => a - b),
    {
      ceremony: {
        id: run.id,
        action: 'ceremony.script-run',
        rehearsal,
        title: rehearsal ? `REHEARSAL: ${run.title}` : run.title,
        // Made as the last step is confirmed, just before the run records that it finished.
        state: run.state === 'in-progress' && run.steps.every((s) => s.state === 'done') ? 'done' : run.state,
        token: sources.token(run.token),
        script: { sha256: script.sha256, text: script.text },
        startedAt: run.startedAt,
        startedBy: run.startedBy,
        steps: run.steps.map((s) => ({
          id: s.id,
          title: s.title,
          kind: s.kind,
          state: s.state,
          by: s.by,
          witnesses: s.witnesses,
          proposalId: s.proposalId,
          fingerprint: s.fingerprint,
          value: s.value,
          checkpoint: s.checkpoint,
          outcome: s.outcome,
          performedAt: s.performedAt,
          ...recorded.get(s.id),
        })),
        // A rehearsal's steps on real keys acted on stand-ins made in its token: said, with their entries.
        ...(rehearsal ? { standIns } : {}),
        // And its restores restored practice sets, made by its setup in the real sets' place: said, with the entry.
        ...(rehearsal ? { practiceSets } : {}),
        // Each the exact params of one of the run's signed entries: they tie each participant to a step.
        runEvents,
      },
      participants,
      keyIds: [...keyIds],
    },
  );
}

/** The stand-in keys a rehearsal made (rehearsal.stand-ins, executed), each with the proposal that made it. */
function standInsOf(sources: ReportSources) {
  const names = new Map(sources.custodians.list().map((c) => [c.id, c.name]));
  const ids = sources.store.all<{ id: string }>(
    sql`SELECT id FROM proposals WHERE json_extract(body, '$.action') = 'rehearsal.stand-ins' ORDER BY created_at`,
  );
  return ids.flatMap(({ id }) => {
    const proposal = sources.quorum.provenView(id);
    if (proposal.state !== 'executed' || proposal.outcome?.status !== 'ok') return [];
    const made = (proposal.outcome.result as { keys: { keyId: string; label: string }[] }).keys;
    return [
      {
        proposalId: id,
        approvedBy: proposal.approvals.map((a) => names.get(a.custodianId) ?? a.custodianId).sort(),
        keys: made.map((k) => ({ keyId: k.keyId, label: k.label })),
      },
    ];
  });
}

/**
 * The practice backup sets a rehearsal's setup made (rehearsal.practice-set): each with the entry that records it, and
 * its keys and holders as its signed manifest says.
 */
function practiceSetsOf(sources: RunReportSources) {
  const made = sources.store.all<{ seq: number; id: string }>(
    sql`SELECT seq, substr(object, 8) AS id FROM audit_entries WHERE action = 'rehearsal.practice-set' ORDER BY seq`,
  );
  return made.map(({ seq, id }) => {
    const set = sources.backups.list().find((b) => b.setId === id);
    return {
      seq,
      setId: id,
      threshold: set?.threshold ?? null,
      holders: set?.holders.map((h) => h.name) ?? [],
      keys: set?.keys.map((k) => ({ keyId: k.id, label: k.label })) ?? [],
    };
  });
}
