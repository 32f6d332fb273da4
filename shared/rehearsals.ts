import { z } from 'zod';
import { ScriptText } from './ceremony-script';
import { FactorProof } from './quorum';
import { TokenRef } from './tokens';
import type { Algorithm, KeyUsage } from './keys';

/**
 * A rehearsal in the app (issue #16 §3): the script runs in a scratch installation served by a separate process, so
 * the real one stays open and untouched. While it is active every request but these goes to the scratch installation,
 * and every screen says REHEARSAL.
 */
export const RehearsalStart = z.strictObject({ script: ScriptText });

/** For a script that acts on a token already in custody: its holders first take the scratch token. */
export const RehearsalCustody = z.strictObject({ holders: z.array(FactorProof).min(1).max(16) });

/**
 * A practice backup set, for a script that restores a real one: stand-ins for the real set's keys, with its id,
 * threshold and holders (in card order), made by the rehearsal's setup in a practice token, its practice cards dealt
 * to the same holders. Nothing of the real set goes into it.
 */
export interface PracticeSet {
  setId: string;
  threshold: number;
  holders: { id: string; name: string }[];
  keys: {
    keyId: string;
    label: string;
    algorithm: Algorithm;
    usage: KeyUsage;
    cryptoperiodDays: number;
    /** The end of the real key's usage period, which its stand-in keeps (a restore keeps the key's). */
    expiresAt: string;
    state: string;
  }[];
}

/** The stand-ins' proposer (who performs the script's first step on a real key), with both factors. */
export const RehearsalStandIns = z.strictObject({ proposer: FactorProof });

export const ActiveRehearsal = z.object({
  title: z.string(),
  scriptSha256: z.string(),
  /** The scratch installation's folder (under the data directory's rehearsals/). */
  dir: z.string(),
  token: TokenRef,
  startedAt: z.string(),
  /** The real custody's holders who take the scratch token before the run, when the script has no custody step. */
  custody: z
    .object({ holders: z.array(z.string()), threshold: z.number().int().positive(), taken: z.boolean() })
    .nullable(),
  /**
   * The real keys the script acts on, by label, for which the rehearsal makes stand-ins in its token once the holders
   * have taken it; `by` proposes them with both factors (who performs the script's first step on a real key), and
   * `proposalId` is then the proposal the other holders approve (on Approvals) before the run starts; null until
   * proposed. Null when the script acts on no existing key.
   */
  standIns: z.object({ keys: z.array(z.string()), by: z.string(), proposalId: z.string().nullable() }).nullable(),
  /**
   * The practice backup sets made in place of the real sets the script restores (same id, threshold and holders;
   * stand-in keys, by label): each holder takes their practice card before the run, to type it at the restore step.
   */
  practiceSets: z.array(
    z.object({
      setId: z.string(),
      threshold: z.number().int(),
      holders: z.array(z.string()),
      keys: z.array(z.string()),
    }),
  ),
});
export type ActiveRehearsal = z.infer<typeof ActiveRehearsal>;

export const EndedRehearsal = z.object({
  title: z.string(),
  scriptSha256: z.string(),
  outcome: z.enum(['passed', 'incomplete']),
  /** ended: someone ended it; stopped: its process stopped on its own (the outcome is then incomplete). */
  how: z.enum(['ended', 'stopped']),
  dir: z.string(),
  /** The rehearsal report's folder (report.pdf says REHEARSAL on every page), when its run finished. */
  reportDir: z.string().nullable(),
  reportSha256: z.string().nullable(),
  endedAt: z.string(),
});
export type EndedRehearsal = z.infer<typeof EndedRehearsal>;

export const RehearsalStatus = z.object({
  active: ActiveRehearsal.nullable(),
  /** The rehearsal that ended last since the app opened, for its result page. */
  last: EndedRehearsal.nullable(),
});
export type RehearsalStatus = z.infer<typeof RehearsalStatus>;
