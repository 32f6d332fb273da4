import { CustosError } from './errors';

/** The files and folders Custos writes for the person at the console. */
export type DestinationKind =
  'backup-file' | 'report-folder' | 'audit-export' | 'anchor-copy' | 'practice-statement' | 'transport-package';

export interface Destination {
  /** An absolute path on this machine. */
  path: string;
  /** An existing report or practice statement may be replaced (the CLI's --force). */
  replace: boolean;
}

/**
 * Asks main where a file goes (the CLI: its --out / --file). The renderer never names a path: a page
 * that could would choose where secrets-adjacent files (wrapped keys, logs) land.
 */
export type ChooseDestination = (kind: DestinationKind) => Destination | null;

/** The place chosen at the console, else the default under the data directory, else a clear refusal. */
export function destination(
  choose: ChooseDestination | undefined,
  kind: DestinationKind,
  fallback: string | null,
): Destination {
  const chosen = choose?.(kind) ?? null;
  if (chosen) return chosen;
  if (fallback !== null) return { path: fallback, replace: false };
  throw new CustosError('DESTINATION_NOT_CHOSEN', 'No file was named for this, so nothing was written.', [
    'Give the path on the command line (custos audit copy --file PATH).',
  ]);
}
