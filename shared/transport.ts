import { z } from 'zod';
import { Algorithm, KeyUsage } from './keys';
import { FactorProof } from './quorum';

/*
 * Key transport (issue #14 §2; NIST SP 800-57 Part 1 §6.2.2, "keys sent between modules are wrapped"):
 * a key leaves a token only wrapped for a recipient's public key that a security officer recorded
 * as trusted, and enters one only unwrapped in the token. The package format is in docs/key-transport.md.
 */

const Hex64 = z.string().regex(/^[0-9a-f]{64}$/);
const Hex32 = z.string().regex(/^[0-9a-f]{32}$/);
const Base64 = z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/);

/** The recipient kinds Custos wraps for: RSA-OAEP (SHA-256) or ECDH on these curves. */
export const RecipientAlgorithm = z.enum(['RSA', 'EC-P256', 'EC-P384']);
export type RecipientAlgorithm = z.infer<typeof RecipientAlgorithm>;

/** How the wrapping key reaches the recipient; the key itself is always wrapped with AES-KWP (RFC 5649). */
export const TransportScheme = z.enum(['rsa-oaep-sha256+aes-kwp', 'ecdh-hkdf-sha256+aes-kwp']);
export type TransportScheme = z.infer<typeof TransportScheme>;

/** A recipient public key a security officer recorded as trusted, with both factors. */
export const TransportRecipient = z.object({
  /** SHA-256 of the public key's SubjectPublicKeyInfo DER, in hex. */
  fingerprint: Hex64,
  label: z.string(),
  algorithm: RecipientAlgorithm,
  publicKeyPem: z.string(),
  recordedBy: z.object({ id: z.string(), name: z.string() }),
  recordedAt: z.string(),
  /** 'tampered': the stored record was changed outside Custos; it is not used. */
  status: z.enum(['trusted', 'tampered']),
});
export type TransportRecipient = z.infer<typeof TransportRecipient>;

export const TrustRecipientRequest = z.strictObject({
  label: z.string().trim().min(1).max(64),
  publicKeyPem: z.string().min(1).max(8192),
  officer: FactorProof,
});
export type TrustRecipientRequest = z.infer<typeof TrustRecipientRequest>;

/** The key a package carries, as the sender declares it (bound into the unwrap: see `transportInfo`). */
export const TransportedKey = z.strictObject({
  ckaId: Hex32,
  label: z.string().min(1).max(64),
  algorithm: Algorithm,
  usage: KeyUsage,
  /** SubjectPublicKeyInfo DER (base64) of a key pair; null for a secret key. */
  publicKey: Base64.nullable(),
  /** SHA-256 of that public key (hex); null for a secret key. */
  fingerprint: Hex64.nullable(),
  /** An AES key's check value, when the sender has one; null otherwise. */
  kcv: z
    .string()
    .regex(/^[0-9A-F]{6}$/)
    .nullable(),
});
export type TransportedKey = z.infer<typeof TransportedKey>;

/**
 * A key transport package, format 1: canonical JSON (RFC 8785). Packages Custos makes are signed by
 * its audit key (Ed25519, detached, over the file's exact bytes); packages from elsewhere need not be.
 */
export const TransportPackage = z.strictObject({
  kind: z.literal('custos-key-transport'),
  v: z.literal(1),
  id: Hex32,
  createdAt: z.string().max(40),
  /** The installation that made it (its audit log origin and audit key), or null for a sender outside Custos. */
  madeBy: z.strictObject({ installation: z.string().max(200), auditKey: Base64 }).nullable(),
  key: TransportedKey,
  recipient: z.strictObject({ fingerprint: Hex64, algorithm: RecipientAlgorithm }),
  scheme: TransportScheme,
  /** RSA: the 32-byte wrapping key, RSA-OAEP encrypted (SHA-256, MGF1-SHA-256, label = info). */
  encryptedKek: Base64.optional(),
  /** EC: the sender's ephemeral public key (SubjectPublicKeyInfo DER, base64) on the recipient's curve. */
  ephemeralPublicKey: Base64.optional(),
  /** The bytes that bind the package's declarations to its wrapping key (hex): OAEP label or HKDF info. */
  info: z.string().regex(/^[0-9a-f]{2,1024}$/),
  /** The key, wrapped with AES-256 key wrap with padding (RFC 5649) under the wrapping key. */
  wrappedKey: Base64,
});
export type TransportPackage = z.infer<typeof TransportPackage>;

/** A package Custos made or received, as lists show it. */
export const TransportPackageSummary = z.object({
  /** SHA-256 of the package file's exact bytes (hex): what an import proposal binds. */
  sha256: Hex64,
  id: Hex32,
  direction: z.enum(['out', 'in']),
  key: TransportedKey,
  recipient: z.object({ fingerprint: Hex64, algorithm: RecipientAlgorithm }),
  scheme: TransportScheme,
  madeBy: z.object({ installation: z.string(), auditKey: z.string() }).nullable(),
  recordedAt: z.string(),
  /** The proposal that made it (out) or imported it (in); null for a received package not yet imported. */
  proposalId: z.string().nullable(),
  /** For a received package once imported: the key it became. */
  importedAs: z.string().nullable(),
});
export type TransportPackageSummary = z.infer<typeof TransportPackageSummary>;

export const ReceivePackageRequest = z.strictObject({ text: z.string().min(2).max(65536) });
export const WritePackageRequest = z.strictObject({ sha256: Hex64 });
