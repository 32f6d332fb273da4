import { z } from 'zod';
import { ErrorCode } from './errors';

/** PKCS#11 CK_TOKEN_INFO fields are fixed byte arrays: a label holds 32 bytes, a serial 16. */
const utf8Bytes = (text: string) => new TextEncoder().encode(text).length;
export const TokenLabel = z
  .string()
  .max(32)
  .refine((label) => utf8Bytes(label) <= 32, 'at most 32 bytes of UTF-8');
export const TokenSerial = z.string().max(16);

/** A token is addressed by serial + label, never by slot number: slot ids change between runs. */
export const TokenRef = z.object({
  serial: TokenSerial.min(1),
  label: TokenLabel,
});
export type TokenRef = z.infer<typeof TokenRef>;

/** An absolute file path as the OS accepts it: bounded, and never with a NUL that would cut it short. */
export const ModulePath = z
  .string()
  .min(1)
  .max(4096)
  .refine((p) => !p.includes('\0'), 'path must not contain NUL');

export const PinCounters = z.object({
  countLow: z.boolean(),
  finalTry: z.boolean(),
  locked: z.boolean(),
  toBeChanged: z.boolean(),
});
export type PinCounters = z.infer<typeof PinCounters>;

/** Whether a token keeps its keys in software (never FIPS-validated hardware), and what decided it. */
export const SoftwareVerdict = z.object({
  software: z.boolean(),
  /** The software product recognised ("SoftHSM", "opencryptoki software token"…); null when none. */
  product: z.string().nullable(),
  /** In words: the maker or model recognised, or what the slot and mechanism flags say. */
  reason: z.string(),
});
export type SoftwareVerdict = z.infer<typeof SoftwareVerdict>;

export const TokenInfo = z.object({
  slotDescription: z.string(),
  label: z.string(),
  serial: z.string(),
  manufacturer: z.string(),
  model: z.string(),
  hardwareVersion: z.string(),
  firmwareVersion: z.string(),
  initialized: z.boolean(),
  loginRequired: z.boolean(),
  hasRng: z.boolean(),
  writeProtected: z.boolean(),
  protectedAuthenticationPath: z.boolean(),
  minPinLength: z.number().int(),
  maxPinLength: z.number().int(),
  /** A blank token that wants its current (factory) SO PIN to be initialised (opencryptoki); most take any. */
  blankInitNeedsSoPin: z.boolean(),
  userPin: PinCounters.extend({ initialized: z.boolean() }),
  soPin: PinCounters,
  /** Plain-language warnings for the custodian (PIN counters, write protection…). */
  warnings: z.array(z.string()),
  software: SoftwareVerdict,
});
export type TokenInfo = z.infer<typeof TokenInfo>;

export const SlotInfo = z.object({
  description: z.string(),
  manufacturer: z.string(),
  tokenPresent: z.boolean(),
  removableDevice: z.boolean(),
  hardwareSlot: z.boolean(),
  token: TokenInfo.nullable(),
});
export type SlotInfo = z.infer<typeof SlotInfo>;

export const ModuleKind = z.enum(['embedded-softhsm', 'configured']);
export type ModuleKind = z.infer<typeof ModuleKind>;

export const ModuleInfo = z.object({
  path: z.string(),
  kind: ModuleKind,
  libraryDescription: z.string(),
  manufacturer: z.string(),
  libraryVersion: z.string(),
  cryptokiVersion: z.string(),
  /**
   * True when the library is a known software implementation, or every token it shows is software:
   * fine for rehearsal and evaluation, never a FIPS-validated HSM.
   */
  softwareToken: z.boolean(),
  /** Which software product, and what decided it; null when softwareToken is false. */
  software: z.object({ product: z.string(), reason: z.string() }).nullable(),
  notice: z.string().nullable(),
});
export type ModuleInfo = z.infer<typeof ModuleInfo>;

export const ModuleStatus = z.discriminatedUnion('state', [
  z.object({ state: z.literal('ready'), module: ModuleInfo, slots: z.array(SlotInfo) }),
  z.object({
    state: z.literal('unavailable'),
    code: ErrorCode,
    message: z.string(),
    /** What the custodian can do about it, one step per line. */
    remedy: z.array(z.string()),
    path: z.string().nullable(),
  }),
]);
export type ModuleStatus = z.infer<typeof ModuleStatus>;

export const MechanismInfo = z.object({
  type: z.number().int().nonnegative(),
  /** e.g. "CKM_AES_KEY_WRAP_PAD"; "0x…" for vendor or unknown mechanisms. */
  name: z.string(),
  minKeySize: z.number().int(),
  maxKeySize: z.number().int(),
  hardware: z.boolean(),
  functions: z.array(
    z.enum([
      'encrypt',
      'decrypt',
      'digest',
      'sign',
      'sign-recover',
      'verify',
      'verify-recover',
      'generate',
      'generate-key-pair',
      'wrap',
      'unwrap',
      'derive',
    ]),
  ),
});
export type MechanismInfo = z.infer<typeof MechanismInfo>;

export const TokenMechanisms = z.object({
  token: TokenRef,
  mechanisms: z.array(MechanismInfo),
});
export type TokenMechanisms = z.infer<typeof TokenMechanisms>;
