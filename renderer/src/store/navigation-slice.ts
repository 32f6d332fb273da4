import type { StateCreator } from 'zustand';
import type { CustosState } from './index';

export const screens = [
  { id: 'tokens', title: 'Tokens' },
  { id: 'keys', title: 'Keys' },
  { id: 'ceremonies', title: 'Ceremonies' },
  { id: 'approvals', title: 'Approvals' },
  { id: 'audit', title: 'Audit' },
  { id: 'reports', title: 'Reports' },
  { id: 'custodians', title: 'Custodians' },
  { id: 'settings', title: 'Settings' },
  // Last, so that the shortcuts people already know (Alt+1…Alt+8) keep their sections.
  { id: 'certificates', title: 'Certificates' },
] as const;
export type ScreenId = (typeof screens)[number]['id'];

/** Pages of the Ceremonies screen that the store opens itself, as a rehearsal starts, moves on or ends. */
export const CHECK_SCRIPT_PAGE = 'check-script';
export const REHEARSAL_CUSTODY_PAGE = 'rehearsal-custody';
export const REHEARSAL_RESULT_PAGE = 'rehearsal-result';

export interface NavigationSlice {
  screen: ScreenId;
  /** One page of the screen (list → detail → action), or null for the screen's list itself. */
  page: string | null;
  /** Going to a screen without a page opens its list: a page never outlives the visit that opened it. */
  navigate(screen: ScreenId, page?: string): void;
}

export const createNavigationSlice: StateCreator<CustosState, [], [], NavigationSlice> = (set) => ({
  screen: 'tokens',
  page: null,
  navigate: (screen, page) => set({ screen, page: page ?? null }),
});
