import type { KeyRecord } from '../../../shared/keys';
import { CustosError } from '../errors';

/**
 * SP 800-57 §5.3: past the end of its originator-usage period (the key's expiresAt, by the core's clock) a key applies
 * no new protection. It still processes what it protected (verify, decrypt, unwrap), so only new protection is refused.
 */
export function refusePastUsagePeriod(key: KeyRecord, refused: string): void {
  if (!key.usagePeriodEnded) return;
  throw new CustosError(
    'KEY_PERIOD_ENDED',
    `The usage period of “${key.label}” ended on ${key.expiresAt.slice(0, 10)} (SP 800-57): it ${refused}. Nothing was changed.`,
    [
      'Rotate it (key.rotate): the successor takes over with a period of its own; this key keeps verifying what it signed.',
      'Or deactivate it (key.deactivate) if nothing is to replace it.',
    ],
  );
}
