import pkcs11js from 'pkcs11js';
import { z } from 'zod';
import type { TokenRef } from '../../../shared/tokens';
import { CustosError } from '../errors';
import { findObjects } from '../hsm/find-objects';
import type { Store } from '../store/database';
import { sql } from '../store/sql';
import type { KeyAction, KeyInventory } from './key-inventory';

/** SP 800-57 destruction with a waiting period during which the quorum can still change its mind. */
export const ScheduleParams = z.strictObject({ keyId: z.string().regex(/^[0-9a-f]{32}$/), waitDays: z.number().int().min(7).max(30).default(30) });
const KeyParams = z.strictObject({ keyId: z.string().regex(/^[0-9a-f]{32}$/) });

interface Schedule {
  id: number;
  proposal_id: string;
  scheduled_at: string;
  not_before: string;
}

export function waitingSchedule(store: Store, keyId: string): Schedule | undefined {
  return store.get<Schedule>(sql`SELECT id, proposal_id, scheduled_at, not_before FROM destruction_schedules WHERE key_id = ${keyId} AND state = 'waiting'`);
}

export function destructionActions(store: Store, inventory: KeyInventory, now: () => Date): Record<string, KeyAction> {
  const scheduleReady = (params: unknown, token: TokenRef) => {
    const { keyId, waitDays } = ScheduleParams.parse(params);
    const key = inventory.checkToken(keyId, token);
    if (key.state === 'destroyed') throw new CustosError('KEY_INVALID', 'This key is already destroyed.');
    if (waitingSchedule(store, keyId)) throw new CustosError('KEY_INVALID', 'This key’s destruction is already scheduled.');
    return { keyId, waitDays };
  };
  const cancelReady = (params: unknown, token: TokenRef) => {
    const { keyId } = KeyParams.parse(params);
    inventory.checkToken(keyId, token);
    const schedule = waitingSchedule(store, keyId);
    if (!schedule) throw new CustosError('KEY_INVALID', 'No destruction of this key is waiting.');
    return { keyId, schedule };
  };
  const destroyReady = (params: unknown, token: TokenRef) => {
    const { keyId } = KeyParams.parse(params);
    inventory.checkToken(keyId, token);
    const schedule = waitingSchedule(store, keyId);
    if (!schedule) throw new CustosError('KEY_INVALID', 'Destruction must be scheduled, and its waiting period pass, first.');
    const at = now();
    if (at.toISOString() < schedule.scheduled_at) {
      throw new CustosError('KEY_INVALID', `The clock reads earlier than when the destruction was scheduled (${schedule.scheduled_at}): it went backwards. Nothing was destroyed.`, ['Check the computer’s clock against a trusted source before going on.']);
    }
    if (at.toISOString() < schedule.not_before) {
      const ends = schedule.not_before.slice(0, 10);
      throw new CustosError('KEY_INVALID', `The waiting period ends on ${ends}; until then the destruction can only be cancelled.`, [
        'Propose the destruction once the waiting period is over.',
      ]);
    }
    return { keyId, schedule, at };
  };

  return {
    'key.schedule-destruction': {
      ready: scheduleReady,
      run: ({ params, proposalId, token }) => {
        const { keyId, waitDays } = scheduleReady(params, token);
        const at = now();
        const notBefore = new Date(at.getTime() + waitDays * 86_400_000).toISOString();
        return {
          result: { keyId, notBefore, waitDays },
          commit: () =>
            store.execute(sql`INSERT INTO destruction_schedules (key_id, proposal_id, scheduled_at, not_before, state) VALUES (${keyId}, ${proposalId}, ${at.toISOString()}, ${notBefore}, ${'waiting'})`),
        };
      },
    },

    'key.cancel-destruction': {
      ready: cancelReady,
      run: ({ params, proposalId, token }) => {
        const { keyId, schedule } = cancelReady(params, token);
        return {
          result: { keyId, cancelled: true },
          commit: () => store.execute(sql`UPDATE destruction_schedules SET state = 'cancelled', closed_at = ${now().toISOString()}, closed_by_proposal = ${proposalId} WHERE id = ${schedule.id}`),
        };
      },
    },

    /**
     * After the wait: destroys every object carrying the key's CKA_ID, then searches again and
     * records that nothing is left — the proof of absence. Finding nothing to destroy proves
     * nothing (another token, objects already gone): refused, never certified.
     */
    'key.destroy': {
      ready: destroyReady,
      run: ({ session, lib, params, proposalId, token }) => {
        const { keyId, schedule, at } = destroyReady(params, token);
        const id = Buffer.from(keyId, 'hex');
        const find = () => findObjects(lib, session, [{ type: pkcs11js.CKA_ID, value: id }], 100);
        const found = find();
        if (found.length === 0) {
          throw new CustosError(
            'KEY_OBJECTS_MISSING',
            `Token ${token.label} holds no object of this key, so its destruction cannot be proven; nothing was recorded as destroyed.`,
            ['Check that the key’s token is the one attached, and tell your security officer.'],
          );
        }
        for (const handle of found) lib.C_DestroyObject(session, handle);
        const remaining = find().length;
        if (remaining !== 0) throw new CustosError('TOKEN_ERROR', `${remaining} object(s) of the key are still in the token after destruction.`);
        // The destruction record names who decided it: the certificate an auditor reads (issue 6 reports it).
        const proposedBy = store.get<{ requested_by: string }>(sql`SELECT requested_by FROM proposals WHERE id = ${proposalId}`)!.requested_by;
        const approvedBy = store.all<{ custodian_id: string }>(sql`SELECT custodian_id FROM approvals WHERE proposal_id = ${proposalId} ORDER BY approved_at`).map((a) => a.custodian_id);
        const proof = { objectsDestroyed: found.length, searchedFor: `CKA_ID=${keyId}`, remaining, checkedAt: at.toISOString(), proposal: proposalId, proposedBy, approvedBy, scheduledBy: schedule.proposal_id };
        return {
          result: { keyId, ...proof },
          commit: () => {
            store.execute(sql`UPDATE destruction_schedules SET state = 'destroyed', closed_at = ${at.toISOString()}, closed_by_proposal = ${proposalId}, proof = ${JSON.stringify(proof)} WHERE id = ${schedule.id}`);
            inventory.markDestroyed(keyId, proof);
          },
        };
      },
    },
  };
}
