import { sql } from '../store/sql';
import { assemble, ceremonySeqs, keysOf, type CeremonyReport, type ReportSources } from '../reports/ceremony-report';
import type { CeremonyRuns } from './ceremony-runs';

/**
 * A script run as one signed report: the script's exact text and SHA-256, every step with its outcome, who
 * performed it and who witnessed it, and every audit entry of the run and of its steps (the proposals with their
 * approvals and executions, the custody) with an inclusion proof against a checkpoint signed for the report.
 */
export function runReport(sources: ReportSources, runs: CeremonyRuns, runId: string): CeremonyReport {
  const run = runs.view(runId);
  const script = runs.scriptOf(runId);
  const seqs = new Set(runs.eventSeqs(runId));
  const keyIds = new Set<string>();
  for (const step of run.steps) {
    if (step.proposalId) {
      ceremonySeqs(sources.store, step.proposalId).forEach((seq) => seqs.add(seq));
      const proposal = sources.quorum.provenView(step.proposalId);
      keysOf(proposal.params, proposal.outcome?.status === 'ok' ? proposal.outcome.result : null).forEach((k) =>
        keyIds.add(k),
      );
    }
  }
  const custodyEntries = sources.store.all<{ seq: number }>(
    sql`SELECT e.seq FROM audit_entries e JOIN ceremony_events c ON e.object = 'custody:' || json_extract(c.body, '$.custodyId')
        WHERE c.run_id = ${runId} AND c.kind = 'custody'`,
  );
  custodyEntries.forEach((e) => seqs.add(e.seq));
  const people = new Map(sources.custodians.list().map((c) => [c.name, c]));
  const participants = run.steps.flatMap((step) => {
    const part = (name: string, what: string, at: string | null) => {
      const person = people.get(name);
      return person && at
        ? [
            {
              id: person.id,
              name,
              roles: person.roles,
              part: `${what}: ${step.title}`,
              at,
              factors: ['passphrase', 'totp'],
            },
          ]
        : [];
    };
    return [
      ...part(step.by, 'performed', step.performedAt),
      ...step.witnesses.flatMap((w) => part(w.name, 'witnessed', w.signedAt)),
    ];
  });
  const rehearsal = runs.isRehearsal(runId);
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
        })),
      },
      participants,
      keyIds: [...keyIds],
    },
  );
}
