import type { Migration } from '../migrate';
import { settings } from './0001-settings';

/** In version order; the runner refuses gaps and reordering. */
export const migrations: readonly Migration[] = [settings];
