import type { StateCreator } from 'zustand';
import type { WireError } from '../../../shared/errors';
import type { AppSnapshot } from '../../../shared/ipc-schema';
import type { CustosState, Deps } from './index';

export interface AppSlice {
  snapshot: AppSnapshot | null;
  /** Set when the core could not start (database locked or damaged…): the whole app explains it. */
  startupError: WireError | null;
  load(): Promise<void>;
}

export const createAppSlice =
  ({ bridge }: Deps): StateCreator<CustosState, [], [], AppSlice> =>
  (set, get) => ({
    snapshot: null,
    startupError: null,
    async load() {
      const result = await bridge.app.snapshot({});
      if (!result.ok) {
        set({ startupError: result.error });
        return;
      }
      set({ snapshot: result.value, startupError: null });
      get().applyStatus(result.value.tokens);
      get().applySelection(result.value.selectedToken);
    },
  });
