import { createStore, type StoreApi } from 'zustand';
import type { CustosBridge } from '../bridge';
import { createAppSlice, type AppSlice } from './app-slice';
import { createAuditSlice, type AuditSlice } from './audit-slice';
import { createCeremonyRunsSlice, type CeremonyRunsSlice } from './ceremony-runs-slice';
import { createCertificatesSlice, type CertificatesSlice } from './certificates-slice';
import { createCustodiansSlice, type CustodiansSlice } from './custodians-slice';
import { createKeysSlice, type KeysSlice } from './keys-slice';
import { createQuorumSlice, type QuorumSlice } from './quorum-slice';
import { createRehearsalSlice, type RehearsalSlice } from './rehearsal-slice';
import { createReportsSlice, type ReportsSlice } from './reports-slice';
import { createNavigationSlice, type NavigationSlice } from './navigation-slice';
import { createTokensSlice, type TokensSlice } from './tokens-slice';
import { createTransportSlice, type TransportSlice } from './transport-slice';

export type CustosState = AppSlice &
  NavigationSlice &
  TokensSlice &
  AuditSlice &
  CustodiansSlice &
  QuorumSlice &
  KeysSlice &
  CertificatesSlice &
  TransportSlice &
  ReportsSlice &
  CeremonyRunsSlice &
  RehearsalSlice;
export interface Deps {
  bridge: CustosBridge;
}

/** One store of typed slices; it loads one snapshot, then applies what the core pushes. */
export function createCustosStore(bridge: CustosBridge): StoreApi<CustosState> {
  const deps = { bridge };
  const store = createStore<CustosState>()((...a) => ({
    ...createAppSlice(deps)(...a),
    ...createNavigationSlice(...a),
    ...createTokensSlice(deps)(...a),
    ...createAuditSlice(deps)(...a),
    ...createCustodiansSlice(deps)(...a),
    ...createQuorumSlice(deps)(...a),
    ...createKeysSlice(deps)(...a),
    ...createCertificatesSlice(deps)(...a),
    ...createTransportSlice(deps)(...a),
    ...createReportsSlice(deps)(...a),
    ...createCeremonyRunsSlice(deps)(...a),
    ...createRehearsalSlice({ ...deps, forget: () => forget() })(...a),
  }));
  const blank = store.getState();
  /**
   * Drops what one installation showed when the screens change installation (a rehearsal opens or ends): kept are
   * where the person is, the app's frame, the script being checked (linted again) and the rehearsal itself.
   */
  const forget = () =>
    store.setState((s) => ({
      ...blank,
      screen: s.screen,
      page: s.page,
      snapshot: s.snapshot,
      status: s.status,
      selected: s.selected,
      scriptCheck: s.scriptCheck,
      rehearsal: s.rehearsal,
      rehearsalBusy: s.rehearsalBusy,
      rehearsalError: s.rehearsalError,
      rehearsalErrorAt: s.rehearsalErrorAt,
      rehearsalNotice: s.rehearsalNotice,
    }));
  bridge.on.tokens.changed((status) => store.getState().applyStatus(status));
  bridge.on.rehearsals.changed((status) => void store.getState().applyRehearsal(status));
  bridge.on.audit.verifyProgress((progress) => store.getState().applyVerifyProgress(progress));
  return store;
}
