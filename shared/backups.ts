import { z } from 'zod';
import { algorithmName, keyIdentity } from './keys';

const SetId = z.string().regex(/^[0-9a-f]{32}$/);
/** A share card as typed (groups, any case, dashes or spaces) or pasted from its QR code. */
const CardText = z.string().trim().min(20).max(400);

export const BackupSummary = z.object({
  setId: z.string(),
  token: z.object({ serial: z.string(), label: z.string() }),
  createdAt: z.string(),
  threshold: z.number().int(),
  holders: z.array(
    z.object({
      index: z.number().int(),
      id: z.string(),
      name: z.string(),
      lastChecked: z.string().nullable(),
      /** When the card was released to its holder here (both factors); null: never, or the set was made elsewhere. */
      released: z.string().nullable(),
    }),
  ),
  keys: z.array(z.object({ id: z.string(), label: z.string(), algorithm: z.string() })),
  verifiedAt: z.string().nullable(),
  mechanism: z.string(),
  /** SHA-256 of the signed manifest (hex): printed on every card of the set, so a card and a set can be matched. */
  fingerprint: z.string(),
  /** The installation that made the set: its audit log origin and audit key fingerprint (null: format 1). */
  madeBy: z.object({ installation: z.string(), auditKey: z.string().nullable(), here: z.boolean() }),
  /** Set when the quorum retired the set: never restorable again; each holder confirms their card destroyed. */
  retirement: z
    .object({
      retiredAt: z.string(),
      reason: z.string(),
      proposalId: z.string(),
      /** tampered: the audit log records the retirement but its stored row is missing or was changed. */
      status: z.enum(['recorded', 'tampered']),
      cards: z.array(
        z.object({ index: z.number().int(), id: z.string(), name: z.string(), destroyedAt: z.string().nullable() }),
      ),
    })
    .nullable(),
});
export type BackupSummary = z.infer<typeof BackupSummary>;

/** The one thing from a backup that ever reaches the renderer: a holder's card, while it is printed. */
export const PrintableCard = z.object({
  setId: z.string(),
  index: z.number().int(),
  threshold: z.number().int(),
  holders: z.number().int(),
  holder: z.object({ id: z.string(), name: z.string() }),
  /** What the holder files the card by: when the set was made, from which token, the keys it covers. */
  createdAt: z.string(),
  token: z.object({ serial: z.string(), label: z.string() }),
  keys: z.array(
    z.object({
      id: z.string(),
      label: z.string(),
      algorithm: z.string(),
      kcv: z.string().nullable(),
      fingerprint: z.string().nullable(),
    }),
  ),
  /** The set's fingerprint, as in BackupSummary. */
  setFingerprint: z.string(),
  text: z.string(),
  /** Made in a rehearsal's scratch installation: a practice card, marked REHEARSAL wherever it is shown or printed. */
  rehearsal: z.boolean(),
  /** What the QR code encodes (the same share as the text), for a printed card drawn in main (the CLI's PDF). */
  qr: z.string(),
  qrSvg: z.string(),
});
export type PrintableCard = z.infer<typeof PrintableCard>;

export const CardsRequest = z.strictObject({ setId: SetId });
/** A holder asking for their own card: both factors, like any ceremony step. */
export const CardRelease = z.strictObject({
  setId: SetId,
  holder: z.strictObject({
    custodianId: z.string().regex(/^[0-9a-f]{16}$/),
    passphrase: z.string().min(1).max(1024),
    code: z.string().regex(/^\d{6}$/),
  }),
});
/** A holder records, with both factors, that their card of a retired set is destroyed. */
export const CardDestroyed = CardRelease;
export const ShareEntry = z.strictObject({ proposalId: z.string().regex(/^[0-9a-f]{16}$/), text: CardText });
export const ShareCheck = z.strictObject({ text: CardText });
/** An audit key fingerprint as people copy it from a printout: case, colons and spaces do not matter. */
export const AuditKeyFingerprint = z
  .string()
  .max(200)
  .transform((text) => text.toLowerCase().replace(/[\s:]/g, ''))
  .pipe(
    z
      .string()
      .regex(/^[0-9a-f]{64}$/, 'An audit key fingerprint is 64 hexadecimal characters (SHA-256 of the public key).'),
  );

/**
 * How a backup manifest was found authentic. On import: signed by this installation's audit key,
 * or by the pinned audit key of the installation that made it, or not yet (a foreign file whose
 * MAC can only be checked once t cards rebuild the KEK). On restore: the KEK MAC verified.
 */
export const BackupAuthentication = z.enum([
  'own-audit-key',
  'pinned-audit-key',
  'kek-mac-pending',
  'kek-mac-verified',
]);

/** How a backup file was found authentic, in the words of someone restoring after a loss: app, CLI, reports. */
export const AUTHENTICATION_IN_WORDS: Record<BackupAuthentication, string> = {
  'own-audit-key': 'Signed by this installation’s audit key.',
  'pinned-audit-key':
    'Signed by the audit key you entered. The share cards check it again before anything is unwrapped.',
  'kek-mac-pending':
    'Authenticity will be checked when the cards are entered: nothing is unwrapped unless the key the cards rebuild vouches for this file.',
  'kek-mac-verified': 'Verified with the key the share cards rebuilt.',
};
export type BackupAuthentication = z.infer<typeof BackupAuthentication>;

/** Importing a backup file: main asks for the file itself; the renderer may only pin the maker's audit key. */
export const BackupImportRequest = z.strictObject({ expectAuditKey: AuditKeyFingerprint.optional() });
export const BackupImportResult = z.discriminatedUnion('outcome', [
  /** Nobody chose a file: nothing was read, nothing changed. */
  z.object({ outcome: z.literal('cancelled') }),
  z.object({ outcome: z.literal('imported'), backup: BackupSummary, authentication: BackupAuthentication }),
]);
export type BackupImportResult = z.infer<typeof BackupImportResult>;

export const ShareCheckResult = z.object({ setId: z.string(), index: z.number().int(), holder: z.string() });

/**
 * One place a key lives: a token, or a backup set holding it wrapped. A destruction names every one,
 * so a copy in a backup cannot outlive a key certified destroyed.
 */
export const KeyCopy = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('token'), serial: z.string(), label: z.string() }),
  z.object({
    kind: z.literal('backup'),
    setId: z.string(),
    threshold: z.number().int(),
    /** The card holders by name. */
    holders: z.array(z.string()),
    /** When the quorum retired the set; null while it can still be restored. */
    retiredAt: z.string().nullable(),
  }),
]);
export type KeyCopy = z.infer<typeof KeyCopy>;

/** A SHA-256 fingerprint in groups of four, to read aloud or compare with a printout. */
export const fingerprintInGroups = (hex: string) => hex.match(/.{1,4}/g)!.join(' ');

/** What a share card says, the same on the PDF and the screen; the holder files the card by it. */
export const shareCardWords = {
  made: (card: Pick<PrintableCard, 'createdAt'>) => `${card.createdAt.slice(0, 16).replace('T', ' ')} UTC`,
  share: (card: Pick<PrintableCard, 'index' | 'holders' | 'threshold'>) =>
    `${card.index} of ${card.holders} (${card.threshold} needed)`,
  token: (card: Pick<PrintableCard, 'token'>) => `${card.token.label} (serial ${card.token.serial})`,
  /** A key as its label, algorithm, CKA_ID and short check value or fingerprint. */
  key: (key: PrintableCard['keys'][number]) =>
    `${key.label} (${algorithmName(key.algorithm)}), CKA_ID ${key.id}, ${keyIdentity(key)}`,
  receipt: 'Received by (signature) ______________________________   Date ______________',
  instructions: [
    'Sign above when you receive this card, and file it by the date and set fingerprint: every card of this backup shows the same ones, and so does the backup list in Custos.',
    'Keep this card apart from the backup file and from the other holders’ cards, somewhere only you can reach.',
    'Custos checks each card the moment it is entered: a typo names its group (by line and place on this card), and a card from another backup, a wrong or repeated card is named at once; nothing is used.',
    'Check your card from time to time (in Custos: Ceremonies, then Check a share card); the check is recorded and rebuilds nothing.',
    'Never photograph, scan or type this card anywhere but into Custos during a restore or a check. When the backup is retired, destroy the card and confirm it in Custos.',
  ],
};

/** A copy in words: “token Vault A (serial 1234)”, “backup set 1a2b3c4d (2-of-3, cards with Ann, Bob, Cy)”. */
export function copyInWords(copy: KeyCopy): string {
  if (copy.kind === 'token') return `token “${copy.label}” (serial ${copy.serial})`;
  const cards = `${copy.threshold}-of-${copy.holders.length}, cards with ${copy.holders.join(', ')}`;
  return `backup set ${copy.setId.slice(0, 8)} (${cards})${copy.retiredAt ? `, retired ${copy.retiredAt.slice(0, 10)}` : ''}`;
}
