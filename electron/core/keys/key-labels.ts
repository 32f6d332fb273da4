import type { TokenRef } from '../../../shared/tokens';
import { CustosError } from '../errors';
import { caseFolded, mixedScripts } from '../../../shared/mixed-scripts';
import type { KeyInventory } from './key-inventory';

/** Both refusals are about the request's `label`: a form shows them at its label field. */
const LABEL_FIELD = { field: 'label' };

/**
 * A label names its key on every screen, proposal and report, so it must not read as another key's: letters of more
 * than one script (UTS #39 Highly Restrictive, the rule host-like CNs follow: `pаyments-root` with a Cyrillic а), or
 * another key's label on the same token written in other case or compatibility characters (`Payments-Root`,
 * `ｐａｙｍｅｎｔｓ-root`). The very same label is allowed: a rotation's successor keeps its key's. `fix` says what to
 * do instead, which differs where the label is chosen (a new key) or declared (a received package). `recordedAs` names
 * the key when the inventory already records it under this label (a restore moving it to the token): its own record
 * is no other key, and its label, which the inventory shows already, is not held to the script rule again (a key
 * labelled before the rule would otherwise never be restored: Custos has no rename).
 */
export function refuseLookalikeLabel(
  label: string,
  token: TokenRef,
  inventory: KeyInventory,
  fix: string,
  recordedAs?: string,
): void {
  const odd = recordedAs === undefined ? mixedScripts(label) : [];
  if (odd.length > 0)
    throw new CustosError(
      'PROPOSAL_INVALID',
      `The key label “${label}” mixes scripts, so it would read as another label on every screen and report.`,
      [...odd.map((letter) => `It has ${letter}.`), fix],
      LABEL_FIELD,
    );
  // Labels clash per token: only its keys are read, so a tampered record elsewhere does not refuse this one.
  const twin = inventory
    .onToken(token)
    .find((k) => k.id !== recordedAs && k.label !== label && caseFolded(k.label) === caseFolded(label));
  if (twin)
    throw new CustosError(
      'PROPOSAL_INVALID',
      `The key label “${label}” differs from that of the key “${twin.label}” on the same token only by case or ` +
        'Unicode compatibility characters (NFKC), so the two would read as one key.',
      [fix],
      LABEL_FIELD,
    );
}
