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

export interface NavigationSlice {
  screen: ScreenId;
  navigate(screen: ScreenId): void;
}

export const createNavigationSlice: StateCreator<CustosState, [], [], NavigationSlice> = (set) => ({
  screen: 'tokens',
  navigate: (screen) => set({ screen }),
});
