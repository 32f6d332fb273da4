import { AsnConvert } from '@peculiar/asn1-schema';
import type { AttributeValue, Name, RelativeDistinguishedName } from '@peculiar/asn1-x509';
import { caseFolded } from '../../../shared/mixed-scripts';

/**
 * RFC 4518's preparation as far as a comparison needs it: compatibility characters mapped (NFKC), case folded, and
 * insignificant space handled (none at either end, each inner run counted as one). The characters it maps to nothing
 * (zero-width, soft hyphen and the like) never reach a name here: the readable-text rule refuses them first.
 */
const prepared = (text: string) => caseFolded(text).replace(/\s+/gu, ' ').trim();

/** A value as compared: a string type prepared; anything else (an ASN.1 ANY) byte for byte. */
function comparable(value: AttributeValue): string {
  if (value.anyValue) return `#${Buffer.from(value.anyValue).toString('hex')}`;
  return prepared(value.toString());
}

/** One RDN as a set: its attributes in a fixed order, whatever order they were encoded in. */
const rdnKey = (rdn: RelativeDistinguishedName) =>
  JSON.stringify(rdn.map((a) => [a.type, comparable(a.value)]).sort((x, y) => (x.join('=') < y.join('=') ? -1 : 1)));

/**
 * Whether two distinguished names are one name as RFC 5280 §7.1 compares them: the same RDNs in the same order, each
 * the same set of attribute types whose string values match after RFC 4518 preparation (so `CN=Example  root, O=ACME`
 * is `cn=example root, o=acme`). OpenSSL's name lookups (its subject hash, `X509_NAME_cmp`) agree.
 */
export function sameName(a: Name, b: Name): boolean {
  if (a.length !== b.length) return false;
  if (Buffer.from(AsnConvert.serialize(a)).equals(Buffer.from(AsnConvert.serialize(b)))) return true;
  return a.every((rdn, i) => rdnKey(rdn) === rdnKey(b[i]!));
}
