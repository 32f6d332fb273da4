/**
 * What some tokens do differently from the PKCS#11 specification, known from their documentation
 * and checked in CI where the token is available (docs/tokens.md). Matched on the maker and model
 * the token reports. A token not listed here is treated as the specification says.
 */
export interface TokenProfile {
  /** The product, for messages. */
  product: string;
  /**
   * C_InitToken on a blank token wants the token's current (factory) SO PIN, where the
   * specification lets any PIN become the first SO PIN. Custos asks the operator for it.
   */
  blankInitNeedsSoPin: boolean;
  /** Where the vendor documents a factory SO PIN, its source (never the PIN itself in the UI). */
  factorySoPinSource: string | null;
}

const SPECIFICATION: TokenProfile = { product: 'this token', blankInitNeedsSoPin: false, factorySoPinSource: null };

const PROFILES: { match: (maker: string, model: string) => boolean; profile: TokenProfile }[] = [
  {
    // opencryptoki's tokens (IBM SoftTok, ICA, CCA, EP11 all report an IBM maker): usr/lib/common/new_host.c
    // checks the SO PIN in C_InitToken.
    match: (maker) => /^IBM\b/i.test(maker),
    profile: {
      product: 'opencryptoki',
      blankInitNeedsSoPin: true,
      factorySoPinSource: 'opencryptoki README: the default SO PIN is 87654321',
    },
  },
];

export function tokenProfile(token: { manufacturer: string; model: string }): TokenProfile {
  return PROFILES.find((p) => p.match(token.manufacturer, token.model))?.profile ?? SPECIFICATION;
}
