import { createStore, type StoreApi } from 'zustand';
import type { CustosState } from './index';

/** A store holding only `state`, for rendering a component to markup once (no effect runs, no action is called). */
export const storeWith = (state: Partial<CustosState>): StoreApi<CustosState> =>
  createStore<CustosState>()(() => state as CustosState);
