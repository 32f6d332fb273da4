import { keyChangeRefusal, type KeyChange, type KeyChangeFacts } from '../../../shared/key-lifecycle';
import { CustosError } from '../errors';

/** Throws what the shared rule says refuses this change, with its code and words: the Keys screen reads the same. */
export function refuseKeyChange(key: KeyChangeFacts, change: KeyChange, successor?: string): void {
  const refusal = keyChangeRefusal(key, change, successor);
  if (refusal) throw new CustosError(refusal.code, refusal.message, refusal.remedy);
}
