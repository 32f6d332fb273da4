import type { StateCreator } from 'zustand';
import type { RunSummary } from '../../../shared/ceremony-script';
import type { WireError } from '../../../shared/errors';
import type { ActiveRehearsal, RehearsalStatus } from '../../../shared/rehearsals';
import { CHECK_SCRIPT_PAGE, REHEARSAL_CUSTODY_PAGE, REHEARSAL_RESULT_PAGE } from './navigation-slice';
import type { CustosState, Deps } from './index';
import type { Proof } from './quorum-slice';

/** The rehearsal's forms, each showing its own refusal. */
export type RehearsalForm = 'start' | 'custody' | 'stand-ins' | 'end';

export interface RehearsalSlice {
  rehearsal: RehearsalStatus;
  rehearsalBusy: RehearsalForm | null;
  rehearsalError: WireError | null;
  rehearsalErrorAt: RehearsalForm | null;
  /** What the rehearsal's last move did, said at the top of the page it opened (and focused). */
  rehearsalNotice: string | null;
  /** Asks main whether a rehearsal is open (at startup, with the snapshot). */
  loadRehearsal(): Promise<void>;
  /** Opens a rehearsal of the script on "Check a script", exactly as checked. */
  startRehearsal(): Promise<boolean>;
  /** The real custody's holders take the scratch token, each with both factors. */
  takeRehearsalCustody(holders: Proof[]): Promise<boolean>;
  /** Who performs the script's first step on a real key proposes its stand-ins, with both factors. */
  proposeStandIns(proposer: Proof): Promise<boolean>;
  endRehearsal(): Promise<boolean>;
  /**
   * A status from main, answered or pushed (rehearsals.changed). When the installation the screens show changed —
   * a rehearsal opened, its token was taken, it ended or stopped on its own — everything on them is read again.
   */
  applyRehearsal(status: RehearsalStatus): Promise<void>;
}

type Answer<T> = { ok: true; value: T } | { ok: false; error: WireError };

/** The open rehearsal's run of its script, as the runs list shows it (the latest, should there be several). */
export function rehearsalRun(s: CustosState): RunSummary | undefined {
  const active = s.rehearsal.active;
  return active ? (s.runs ?? []).find((r) => r.scriptSha256 === active.scriptSha256) : undefined;
}

/** What happens once the holders took the rehearsal token: the run, after any stand-ins are proposed and approved. */
function tokenTaken(after: ActiveRehearsal): string {
  const standIns = after.standIns;
  if (!standIns) return 'The holders took the rehearsal token. The administrator starts the rehearsal run below.';
  const keys = standIns.keys.map((k) => `“${k}”`).join(', ');
  return (
    `The holders took the rehearsal token. The script acts on real keys (${keys}): ${standIns.by} now proposes ` +
    `stand-ins for them below, and ${after.custody?.threshold ?? 2} other holders approve them on Approvals; then ` +
    'the administrator starts the rehearsal run.'
  );
}

/** Which installation answers, as far as the screens are concerned: the real one, or a rehearsal at a stage. */
const installationOf = (active: ActiveRehearsal | null) =>
  active ? `${active.dir}:${active.custody?.taken ?? 'own custody'}` : 'real';

export const createRehearsalSlice =
  ({ bridge, forget }: Deps & { forget: () => void }): StateCreator<CustosState, [], [], RehearsalSlice> =>
  (set, get) => {
    let shown: Promise<void> = Promise.resolve();
    const reloadAll = async () => {
      forget();
      const s = get();
      await Promise.all([s.load(), s.loadCustodians(), s.loadQuorum(), s.loadKeys(), s.loadRuns(), s.recheckScript()]);
    };
    /** Where the rehearsal's move leads, and what is said there. */
    const lead = (before: ActiveRehearsal | null, after: ActiveRehearsal | null) => {
      if (!after) {
        set({ rehearsalNotice: null });
        get().navigate('ceremonies', REHEARSAL_RESULT_PAGE);
      } else if (after.custody && !after.custody.taken) {
        set({ rehearsalNotice: null });
        get().navigate('ceremonies', REHEARSAL_CUSTODY_PAGE);
      } else {
        set({
          rehearsalNotice: before
            ? tokenTaken(after)
            : `The rehearsal of “${after.title}” is open on the token ${after.token.label} (serial ${after.token.serial}). The administrator starts its run below; every screen now shows the scratch installation.`,
        });
        get().navigate('ceremonies', CHECK_SCRIPT_PAGE);
      }
    };
    const act = async (form: RehearsalForm, call: () => Promise<Answer<RehearsalStatus>>): Promise<boolean> => {
      set({ rehearsalBusy: form, rehearsalError: null, rehearsalErrorAt: null, rehearsalNotice: null });
      const result = await call();
      if (result.ok) await get().applyRehearsal(result.value);
      set(
        result.ok
          ? { rehearsalBusy: null }
          : { rehearsalBusy: null, rehearsalError: result.error, rehearsalErrorAt: form },
      );
      return result.ok;
    };
    return {
      rehearsal: { active: null, last: null },
      rehearsalBusy: null,
      rehearsalError: null,
      rehearsalErrorAt: null,
      rehearsalNotice: null,
      async loadRehearsal() {
        const status = await bridge.rehearsals.status({});
        if (status.ok) await get().applyRehearsal(status.value);
      },
      startRehearsal() {
        const text = get().scriptCheck?.text;
        if (!text) return Promise.resolve(false);
        return act('start', () => bridge.rehearsals.start({ script: text }));
      },
      takeRehearsalCustody: (holders) => act('custody', () => bridge.rehearsals.takeCustody({ holders })),
      async proposeStandIns(proposer) {
        const proposed = await act('stand-ins', () => bridge.rehearsals.proposeStandIns({ proposer }));
        // The same installation answers: only the new proposal is read.
        if (proposed) await get().loadQuorum();
        return proposed;
      },
      endRehearsal: () => act('end', () => bridge.rehearsals.end({})),
      async applyRehearsal(status) {
        const before = get().rehearsal.active;
        set({ rehearsal: status });
        // While the screens show it, every request is the rehearsal's: main refuses one that would reach the real
        // installation because the rehearsal stopped before this status arrived.
        bridge.expectRehearsal(status.active !== null);
        // The answer and the push of one move both arrive: the first reloads, the second waits for it.
        if (installationOf(before) === installationOf(status.active)) return shown;
        lead(before, status.active);
        shown = reloadAll();
        await shown;
      },
    };
  };
