import type { AuditActor } from '../../../shared/audit';
import type { LintReport, PlannedCeremony } from '../../../shared/ceremony-script';
import type { AuditService } from '../audit/audit-service';
import { CustosError } from '../errors';
import type { Store } from '../store/database';
import { appendEvent, readEvents } from './ceremony-events';
import { parseScript } from '../ceremony-script';

type PlanEvent = { kind: 'plan'; script: string; sha256: string } | { kind: 'withdraw'; sha256: string };
const PLANS = { type: 'ceremony-plans', id: 'all' };

/**
 * Ceremonies planned ahead (issue #16 §4: planned, in progress, done). A plan is a signed event holding the script's
 * text; the list is read back from those events, each checked against its audit entry like a run's.
 */
export class PlannedCeremonies {
  constructor(
    private readonly sources: {
      store: Store;
      audit: AuditService;
      actor: AuditActor;
      lint: (text: string) => LintReport;
      /** The SHA-256 of every script a run was started for: those are no longer planned. */
      started: () => Set<string>;
    },
  ) {}

  /** Keeps a script that lints clean as planned (once per SHA-256). */
  plan(text: string): PlannedCeremony {
    const lint = this.sources.lint(text);
    if (!lint.ok)
      throw new CustosError('CEREMONY_SCRIPT_INVALID', 'Only a script that lints clean can be planned.', lint.problems);
    const existing = this.list().find((p) => p.sha256 === lint.sha256);
    if (existing) return existing;
    if (this.sources.started().has(lint.sha256))
      throw new CustosError(
        'CEREMONY_STEP_REFUSED',
        'A run of this exact script has started already: it is not planned any more.',
      );
    appendEvent(this.sources.store, this.sources.audit, PLANS, this.sources.actor, {
      kind: 'plan',
      script: text,
      sha256: lint.sha256,
    });
    return this.list().find((p) => p.sha256 === lint.sha256)!;
  }

  withdraw(sha256: string): PlannedCeremony[] {
    if (!this.list().some((p) => p.sha256 === sha256))
      throw new CustosError('CEREMONY_NOT_FOUND', 'No planned ceremony has that script.', ['Refresh the list.']);
    appendEvent(this.sources.store, this.sources.audit, PLANS, this.sources.actor, { kind: 'withdraw', sha256 });
    return this.list();
  }

  /** Planned and not yet started, soonest window first. */
  list(): PlannedCeremony[] {
    const events = readEvents<PlanEvent>(this.sources.store, this.sources.audit, PLANS, 'The planned ceremonies');
    const started = this.sources.started();
    const plans = new Map<string, PlannedCeremony>();
    for (const event of events) {
      if (event.kind === 'withdraw') {
        plans.delete(event.sha256);
        continue;
      }
      const parsed = parseScript(event.script);
      if ('problems' in parsed || parsed.sha256 !== event.sha256 || started.has(event.sha256)) continue;
      const { title, location, window } = parsed.script;
      plans.set(event.sha256, {
        sha256: event.sha256,
        title,
        location,
        window,
        plannedAt: event.at,
        script: event.script,
      });
    }
    return [...plans.values()].sort((a, b) => a.window.opens.localeCompare(b.window.opens));
  }
}
