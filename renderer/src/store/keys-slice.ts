import type { StateCreator } from 'zustand';
import type { ActionName } from '../../../shared/actions';
import type { WireError } from '../../../shared/errors';
import type { KeyRecord } from '../../../shared/keys';
import type { TokenRef } from '../../../shared/tokens';
import type { CustosState, Deps } from './index';
import type { Proof } from './quorum-slice';

export interface KeysSlice {
  keys: KeyRecord[] | null;
  exported: { keyId: string; text: string } | null;
  keyError: WireError | null;
  /** The form that shows keyError beside its fields (KEY_FORMS); null: the screen's outcome shows it. */
  keyErrorAt: string | null;
  keyNotice: string | null;
  loadKeys(): Promise<void>;
  exportKey(keyId: string, format: 'pem' | 'jwk'): Promise<void>;
  proposeKey(
    custodyId: string,
    params: Record<string, string | number | boolean>,
    action: ActionName,
    requester: Proof,
    at?: string,
  ): Promise<boolean>;
  emergency(
    keyId: string,
    transition: 'suspend' | 'compromise',
    token: TokenRef,
    officer: Proof,
    reason?: string,
  ): Promise<boolean>;
}

/** The key forms that show their own refusals beside the fields that fix them (`keyErrorAt`). */
export const KEY_FORMS = { generate: 'key-generate' } as const;

export const createKeysSlice =
  ({ bridge }: Deps): StateCreator<CustosState, [], [], KeysSlice> =>
  (set, get) => ({
    keys: null,
    exported: null,
    keyError: null,
    keyErrorAt: null,
    keyNotice: null,
    async loadKeys() {
      const result = await bridge.keys.list({});
      set(result.ok ? { keys: result.value } : { keyError: result.error, keyErrorAt: null });
    },
    async exportKey(keyId, format) {
      const result = await bridge.keys.exportPublic({ keyId, format });
      set(
        result.ok
          ? { exported: { keyId, text: result.value.text }, keyError: null }
          : { keyError: result.error, keyErrorAt: null },
      );
    },
    async proposeKey(custodyId, params, action, requester, at) {
      set({ keyError: null, keyErrorAt: null, keyNotice: null });
      const result = await bridge.proposals.create({ custodyId, action, params, requester });
      set(
        result.ok
          ? {
              keyNotice: `Proposal ${result.value.shortFingerprint} is open. Approvers confirm it on the Approvals screen.`,
            }
          : { keyError: result.error, keyErrorAt: at ?? null },
      );
      return result.ok;
    },
    async emergency(keyId, transition, token, officer, reason) {
      set({ keyError: null, keyErrorAt: null, keyNotice: null });
      const request = { keyId, transition, token, officer, ...(reason !== undefined ? { reason } : {}) };
      const result = await bridge.keys.emergency(request);
      const notice = result.ok ? result.value.revocationNotice : null;
      const written = notice
        ? ` Its signed revocation notice is in ${notice.dir}: hand it to everyone who relies on the key.`
        : '';
      set(
        result.ok
          ? { keyNotice: `Key “${result.value.label}” is now ${result.value.state}.${written}` }
          : { keyError: result.error, keyErrorAt: null },
      );
      await get().loadKeys();
      return result.ok;
    },
  });
