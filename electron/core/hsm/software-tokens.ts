import type { SoftwareVerdict } from '../../../shared/tokens';

/**
 * PKCS#11 implementations that keep their keys in files, recognised by how they name themselves
 * in CK_TOKEN_INFO (token) and CK_INFO (library). Strings as the implementations set them:
 * SoftHSM2 2.6 ("SoftHSM project" / "SoftHSM v2", library "SoftHSM"); opencryptoki's software
 * token ("IBM Corp." / "IBM SoftTok": the same maker also names its hardware tokens, so only the
 * model counts); Mozilla NSS softoken (lib/softoken/pkcs11.c: "Mozilla Foundation" / "NSS 3",
 * library "NSS Internal Crypto Services"); Kryoptic ("Kryoptic Project"); wolfPKCS11
 * ("wolfpkcs11" / "wolfpkcs11", src/slot.c).
 */
interface KnownSoftware {
  product: string;
  /** The library's file name as its packages install it, for a module Custos has not loaded. */
  file?: RegExp;
  token?: (t: { manufacturer: string; model: string }) => boolean;
  library?: (l: { manufacturer: string; description: string }) => boolean;
}

const KNOWN_SOFTWARE: readonly KnownSoftware[] = [
  {
    product: 'SoftHSM',
    file: /^libsofthsm2\.so(\.|$)/,
    token: (t) => /^SoftHSM\b/i.test(t.manufacturer) || /^SoftHSM\b/i.test(t.model),
    library: (l) => /^SoftHSM\b/i.test(l.manufacturer),
  },
  { product: 'opencryptoki software token', token: (t) => t.model === 'IBM SoftTok' },
  {
    product: 'Mozilla NSS softoken',
    file: /^libsoftokn3\.so(\.|$)/,
    token: (t) => t.manufacturer === 'Mozilla Foundation' && /^NSS 3\b/.test(t.model),
    library: (l) => l.manufacturer === 'Mozilla Foundation' && /^NSS Internal Crypto Services\b/.test(l.description),
  },
  {
    product: 'Kryoptic',
    file: /^libkryoptic_pkcs11\.so(\.|$)/,
    token: (t) => /^Kryoptic\b/i.test(t.manufacturer),
    library: (l) => /^Kryoptic\b/i.test(l.manufacturer),
  },
  {
    product: 'wolfPKCS11',
    file: /^libwolfpkcs11\.so(\.|$)/,
    token: (t) => /^wolfpkcs11$/i.test(t.manufacturer) && /^wolfpkcs11$/i.test(t.model),
  },
];

/** What the slot and the token's mechanisms say about hardware; mechanisms are read only when needed. */
export interface HardwareFlags {
  /** CKF_HW_SLOT on the slot. */
  hardwareSlot: boolean;
  /** How many of the token's mechanisms carry CKF_HW. */
  hardwareMechanisms: () => number;
}

/**
 * Whether a token keeps its keys in software. A known maker or model decides; the flags only
 * support it, because vendors set them loosely (a network HSM may claim no hardware slot), so an
 * unknown token is never called software on its flags alone, but the reason says when nothing
 * shows hardware either.
 */
export function recogniseSoftwareToken(
  token: { manufacturer: string; model: string },
  flags: HardwareFlags,
): SoftwareVerdict {
  const known = KNOWN_SOFTWARE.find((k) => k.token?.(token));
  const named = `“${token.manufacturer}”, model “${token.model}”`;
  if (known) {
    const evidence = flags.hardwareSlot
      ? ' (its slot claims to be hardware, but this maker’s token is software)'
      : '; its slot is not a hardware slot';
    return {
      software: true,
      product: known.product,
      reason: `Known software token: ${known.product} (${named})${evidence}.`,
    };
  }
  if (flags.hardwareSlot)
    return { software: false, product: null, reason: `Not a known software token; its slot is a hardware slot.` };
  const hardware = flags.hardwareMechanisms();
  if (hardware > 0) {
    return {
      software: false,
      product: null,
      reason: `Not a known software token; ${hardware} of its mechanisms run in hardware.`,
    };
  }
  return {
    software: false,
    product: null,
    reason: `Not a known software token (${named}), but it claims neither a hardware slot nor a hardware mechanism: ask its vendor whether its keys stay in hardware.`,
  };
}

/** The software product a whole library is, when it is one whatever tokens it shows. */
export function recogniseSoftwareLibrary(library: { manufacturer: string; description: string }): string | null {
  return KNOWN_SOFTWARE.find((k) => k.library?.(library))?.product ?? null;
}

/** The software product a library file is by its name (SoftHSM2's libsofthsm2.so…), without loading it. */
export function recogniseSoftwareLibraryFile(fileName: string): string | null {
  return KNOWN_SOFTWARE.find((k) => k.file?.test(fileName))?.product ?? null;
}

/** The warning shown wherever a software token is in use, naming the product. */
export function softwareNotice(product: string): string {
  return `Software token (${product}): for rehearsal and evaluation only. Keys live in files on this computer; it is not a FIPS 140-3 validated HSM.`;
}
