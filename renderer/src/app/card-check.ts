import { useEffect, useState } from 'react';
import {
  GROUPS_ON_A_CARD,
  SET_FINGERPRINT_TYPED,
  checkCardGroups,
  groupInWords,
  offsetOfDigest,
  type GroupCheck,
} from '../../../shared/share-card-text';

/** Group offsets hashed so far: keys are public (a position, a set id), never the share. */
const offsets = new Map<string, number>();

async function hashKeys(keys: string[]): Promise<void> {
  await Promise.all(
    keys.map(async (key) => {
      const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(key));
      offsets.set(key, offsetOfDigest(new Uint8Array(digest)));
    }),
  );
}

async function check(text: string): Promise<GroupCheck> {
  for (;;) {
    const result = checkCardGroups(text, (key) => offsets.get(key));
    if (result.outcome !== 'needs-offsets') return result;
    await hashKeys(result.keys);
  }
}

/**
 * What a holder typing a card should hear before submitting it: which group does not read
 * correctly. Computed in the page alone (WebCrypto for the position keys); nothing leaves it.
 * The core checks again on submit and decides. Null while there is nothing to say yet.
 */
export function useCardCheck(text: string): { tone: 'ok' | 'problem'; text: string } | null {
  const [said, setSaid] = useState<{ tone: 'ok' | 'problem'; text: string } | null>(null);
  useEffect(() => {
    let current = true;
    void check(text).then((result) => {
      if (current) setSaid(sentence(result, /[\s-]$/.test(text)));
    });
    return () => {
      current = false;
    };
  }, [text]);
  return text.trim() === '' ? null : said;
}

function sentence(result: GroupCheck, groupEnded: boolean): { tone: 'ok' | 'problem'; text: string } | null {
  if (result.outcome === 'bad-character')
    return { tone: 'problem', text: `“${result.character}” cannot appear on a share card: check that character.` };
  if (result.outcome === 'set-fingerprint') return { tone: 'problem', text: SET_FINGERPRINT_TYPED };
  if (result.outcome !== 'checked' || result.version === 1) return null;
  const { groups } = result;
  const total = Math.max(groups.length, GROUPS_ON_A_CARD);
  // The group being typed is judged once it is complete: a separator follows, or the card is.
  const complete = groupEnded || groups.length >= GROUPS_ON_A_CARD ? groups.length : groups.length - 1;
  const typo = result.typos.find((position) => position <= complete);
  if (typo !== undefined)
    return {
      tone: 'problem',
      text: `${capital(groupInWords(typo, total))}, typed “${groups[typo - 1]}”, does not read correctly: compare it with the printed card.`,
    };
  if (groups.length >= GROUPS_ON_A_CARD) return { tone: 'ok', text: `All ${groups.length} groups read correctly.` };
  return complete > 0 ? { tone: 'ok', text: `Groups 1 to ${complete} of ${total} read correctly.` } : null;
}

const capital = (text: string) => `${text[0]!.toUpperCase()}${text.slice(1)}`;
