import canonicalize from 'canonicalize';
import { createHash } from 'node:crypto';

/** RFC 8785 JSON Canonicalization Scheme: the exact bytes Custos hashes and signs. */
export function canonicalJson(value: unknown): string {
  const text = canonicalize(value);
  if (text === undefined) throw new TypeError('value cannot be represented as JSON');
  return text;
}

export function sha256Hex(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}
