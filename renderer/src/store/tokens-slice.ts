import type { StateCreator } from 'zustand';
import type { WireError } from '../../../shared/errors';
import type { MechanismInfo, ModuleStatus, TokenRef } from '../../../shared/tokens';
import type { CustosState, Deps } from './index';
import type { Proof } from './quorum-slice';

export const tokenKey = (ref: TokenRef) => `${ref.serial}\u0000${ref.label}`;

export interface TokensSlice {
  status: ModuleStatus | null;
  selected: TokenRef | null;
  /** The token whose mechanisms are on screen. */
  inspecting: TokenRef | null;
  mechanisms: Record<string, MechanismInfo[]>;
  busy: 'refresh' | 'mechanisms' | 'select' | 'module' | null;
  tokenError: WireError | null;
  refresh(): Promise<void>;
  inspect(ref: TokenRef): Promise<void>;
  select(ref: TokenRef): Promise<void>;
  /** A security officer chooses the module: a library picked in main, or the built-in SoftHSM2. */
  setModule(source: 'picked' | 'built-in', officer: Proof): Promise<boolean>;
  applyStatus(status: ModuleStatus): void;
  applySelection(ref: TokenRef | null): void;
}

export const createTokensSlice =
  ({ bridge }: Deps): StateCreator<CustosState, [], [], TokensSlice> =>
  (set, get) => ({
    status: null,
    selected: null,
    inspecting: null,
    mechanisms: {},
    busy: null,
    tokenError: null,
    async refresh() {
      set({ busy: 'refresh', tokenError: null });
      const result = await bridge.tokens.status({});
      set(result.ok ? { busy: null, status: result.value, mechanisms: {} } : { busy: null, tokenError: result.error });
    },
    async inspect(ref) {
      set({ busy: 'mechanisms', inspecting: ref, tokenError: null });
      const result = await bridge.tokens.mechanisms(ref);
      if (result.ok)
        set((s) => ({ busy: null, mechanisms: { ...s.mechanisms, [tokenKey(ref)]: result.value.mechanisms } }));
      else set({ busy: null, tokenError: result.error });
    },
    async select(ref) {
      set({ busy: 'select', tokenError: null });
      const result = await bridge.tokens.select(ref);
      set(result.ok ? { busy: null, selected: result.value } : { busy: null, tokenError: result.error });
    },
    async setModule(source, officer) {
      set({ busy: 'module', tokenError: null });
      const result = await bridge.settings.setModule({ source, officer });
      set(
        result.ok
          ? { busy: null, status: result.value, mechanisms: {}, inspecting: null }
          : { busy: null, tokenError: result.error },
      );
      return result.ok;
    },
    applyStatus(status) {
      const { inspecting } = get();
      const stillThere =
        status.state === 'ready' &&
        inspecting !== null &&
        status.slots.some((s) => s.token?.serial === inspecting.serial && s.token.label === inspecting.label);
      set({ status, inspecting: stillThere ? inspecting : null });
    },
    applySelection(ref) {
      set({ selected: ref });
    },
  });
