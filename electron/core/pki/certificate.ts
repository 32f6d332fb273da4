import { createHash, X509Certificate } from 'node:crypto';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import {
  AttributeTypeAndValue,
  AttributeValue,
  AuthorityKeyIdentifier,
  BasicConstraints,
  Certificate,
  CRLDistributionPoints,
  DistributionPoint,
  DistributionPointName,
  ExtendedKeyUsage,
  Extension,
  Extensions,
  GeneralName,
  GeneralSubtree,
  GeneralSubtrees,
  KeyIdentifier,
  KeyUsage,
  KeyUsageFlags,
  Name,
  NameConstraints,
  RelativeDistinguishedName,
  SubjectKeyIdentifier,
  SubjectPublicKeyInfo,
  TBSCertificate,
  Validity,
  Version,
  id_ce_authorityKeyIdentifier,
  id_ce_basicConstraints,
  id_ce_cRLDistributionPoints,
  id_ce_extKeyUsage,
  id_ce_keyUsage,
  id_ce_nameConstraints,
  id_ce_subjectKeyIdentifier,
} from '@peculiar/asn1-x509';
import {
  EXTENDED_KEY_USAGES,
  KEY_USAGES,
  NAME_ATTRIBUTES,
  type CertificateProfile,
  type DistinguishedName,
} from '../../../shared/pki';
import { algorithmIdentifier, signatureScheme } from './token-signer';

/** X.520 attribute types of the subject fields Custos writes. */
const NAME_OIDS: Record<string, string> = {
  C: '2.5.4.6',
  ST: '2.5.4.8',
  L: '2.5.4.7',
  O: '2.5.4.10',
  OU: '2.5.4.11',
  CN: '2.5.4.3',
};

/** A distinguished name, one attribute per RDN; countryName is a PrintableString (RFC 5280 App. A). */
export function encodeName(name: DistinguishedName): Name {
  return new Name(
    NAME_ATTRIBUTES.flatMap(([field, short]) => {
      const value = name[field];
      if (!value) return [];
      const typed = short === 'C' ? { printableString: value } : { utf8String: value };
      return [
        new RelativeDistinguishedName([
          new AttributeTypeAndValue({ type: NAME_OIDS[short]!, value: new AttributeValue(typed) }),
        ]),
      ];
    }),
  );
}

/**
 * RFC 7093 §2 method 1: the leftmost 160 bits of the SHA-256 of the subjectPublicKey BIT STRING's
 * value, so the identifier needs no SHA-1.
 */
export function keyIdentifier(spki: Buffer): Buffer {
  const info = AsnConvert.parse(spki, SubjectPublicKeyInfo);
  return createHash('sha256').update(Buffer.from(info.subjectPublicKey)).digest().subarray(0, 20);
}

/** A copy in its own ArrayBuffer: a small Buffer's .buffer is Node's shared pool, not just its bytes. */
export const arrayBuffer = (bytes: Uint8Array): ArrayBuffer => new Uint8Array(bytes).buffer;

const extension = (extnID: string, critical: boolean, value: unknown) =>
  new Extension({ extnID, critical, extnValue: new OctetString(AsnConvert.serialize(value)) });

function keyUsageValue(usages: CertificateProfile['keyUsage']): KeyUsage {
  return new KeyUsage(usages.reduce((flags, usage) => flags | KeyUsageFlags[usage], 0));
}

/** RFC 5280 §4.2 extensions, marked critical where the RFC and the Baseline Requirements say so. */
function extensionsOf(profile: CertificateProfile, subjectSpki: Buffer, issuerSpki: Buffer): Extensions {
  const list = [
    extension(
      id_ce_basicConstraints,
      true,
      new BasicConstraints(
        profile.ca
          ? { cA: true, ...(profile.pathLength === undefined ? {} : { pathLenConstraint: profile.pathLength }) }
          : { cA: false },
      ),
    ),
    extension(id_ce_keyUsage, true, keyUsageValue(profile.keyUsage)),
    extension(id_ce_subjectKeyIdentifier, false, new SubjectKeyIdentifier(keyIdentifier(subjectSpki))),
    extension(
      id_ce_authorityKeyIdentifier,
      false,
      new AuthorityKeyIdentifier({ keyIdentifier: new KeyIdentifier(keyIdentifier(issuerSpki)) }),
    ),
  ];
  if (profile.extendedKeyUsage?.length)
    list.push(
      extension(
        id_ce_extKeyUsage,
        false,
        new ExtendedKeyUsage(profile.extendedKeyUsage.map((usage) => EXTENDED_KEY_USAGES[usage])),
      ),
    );
  if (profile.crlDistributionPoints?.length)
    list.push(
      extension(
        id_ce_cRLDistributionPoints,
        false,
        new CRLDistributionPoints(
          profile.crlDistributionPoints.map(
            (uri) =>
              new DistributionPoint({
                distributionPoint: new DistributionPointName({
                  fullName: [new GeneralName({ uniformResourceIdentifier: uri })],
                }),
              }),
          ),
        ),
      ),
    );
  if (profile.nameConstraints) {
    const subtrees = (names: string[]) =>
      names.length
        ? new GeneralSubtrees(names.map((dNSName) => new GeneralSubtree({ base: new GeneralName({ dNSName }) })))
        : undefined;
    list.push(
      extension(
        id_ce_nameConstraints,
        true,
        new NameConstraints({
          permittedSubtrees: subtrees(profile.nameConstraints.permitted),
          excludedSubtrees: subtrees(profile.nameConstraints.excluded),
        }),
      ),
    );
  }
  return new Extensions(list);
}

export interface CertificateRequest {
  profile: CertificateProfile;
  /** 20 bytes, positive, from the token's RNG (bound into the proposal). */
  serial: string;
  subjectSpki: Buffer;
  issuer: { name: DistinguishedName | Name; spki: Buffer; algorithm: string };
}

/** The to-be-signed certificate in DER: exactly the bytes the token signs. */
export function tbsCertificate(request: CertificateRequest): { tbs: TBSCertificate; der: Buffer } {
  const { profile, issuer } = request;
  const tbs = new TBSCertificate({
    version: Version.v3,
    serialNumber: arrayBuffer(Buffer.from(request.serial, 'hex')),
    signature: algorithmIdentifier(signatureScheme(issuer.algorithm)),
    issuer: issuer.name instanceof Name ? issuer.name : encodeName(issuer.name),
    validity: new Validity({ notBefore: new Date(profile.notBefore), notAfter: new Date(profile.notAfter) }),
    subject: encodeName(profile.subject),
    subjectPublicKeyInfo: AsnConvert.parse(request.subjectSpki, SubjectPublicKeyInfo),
    extensions: extensionsOf(profile, request.subjectSpki, issuer.spki),
  });
  return { tbs, der: Buffer.from(AsnConvert.serialize(tbs)) };
}

/**
 * A certificate's to-be-signed part for another issuer key: every field kept (serial, subject, validity, subject key,
 * extensions) but the issuer's name, the signature algorithm and the authority key identifier, now the new issuer's.
 * A rehearsal's stand-in CA issues again this way what the real CA issued, so a revocation list of the real serials
 * is rehearsed.
 */
export function reissuedTbs(
  der: Buffer,
  issuer: { name: Name; spki: Buffer; algorithm: string },
): { tbs: TBSCertificate; der: Buffer } {
  const issuerSpki = issuer.spki;
  const tbs = AsnConvert.parse(der, Certificate).tbsCertificate;
  tbs.signature = algorithmIdentifier(signatureScheme(issuer.algorithm));
  // Byte for byte the new issuer's subject, as path building compares them.
  tbs.issuer = issuer.name;
  if (tbs.extensions)
    tbs.extensions = new Extensions(
      tbs.extensions.map((e) =>
        e.extnID === id_ce_authorityKeyIdentifier
          ? extension(
              id_ce_authorityKeyIdentifier,
              e.critical,
              new AuthorityKeyIdentifier({ keyIdentifier: new KeyIdentifier(keyIdentifier(issuerSpki)) }),
            )
          : e,
      ),
    );
  return { tbs, der: Buffer.from(AsnConvert.serialize(tbs)) };
}

/** The signed certificate: the TBS, its algorithm again, and the token's signature over the TBS DER. */
export function assembleCertificate(tbs: TBSCertificate, algorithm: string, signature: Buffer): Buffer {
  const certificate = new Certificate({
    tbsCertificate: tbs,
    signatureAlgorithm: algorithmIdentifier(signatureScheme(algorithm)),
    signatureValue: arrayBuffer(signature),
  });
  return Buffer.from(AsnConvert.serialize(certificate));
}

/** The pathLenConstraint of a CA certificate's basicConstraints; undefined when it sets none (no limit). */
export function pathLengthOf(der: Buffer): number | undefined {
  const basic = AsnConvert.parse(der, Certificate).tbsCertificate.extensions?.find(
    (e) => e.extnID === id_ce_basicConstraints,
  );
  return basic ? AsnConvert.parse(basic.extnValue.buffer, BasicConstraints).pathLenConstraint : undefined;
}

/**
 * Whether a CA certificate's keyUsage allows signing revocation lists (cRLSign; RFC 5280 §4.2.1.3): a relying party
 * refuses a CRL whose issuer's certificate does not (OpenSSL: "key usage does not include CRL signing").
 */
export function signsRevocationLists(der: Buffer): boolean {
  const usage = AsnConvert.parse(der, Certificate).tbsCertificate.extensions?.find((e) => e.extnID === id_ce_keyUsage);
  return (
    !usage || (Number(AsnConvert.parse(usage.extnValue.buffer, KeyUsage).toNumber()) & KeyUsageFlags.cRLSign) !== 0
  );
}

/** The subject name of a certificate Custos holds, to name it as the issuer of the next. */
export function subjectName(der: Buffer): Name {
  return AsnConvert.parse(der, Certificate).tbsCertificate.subject;
}

export const pem = (der: Buffer, label = 'CERTIFICATE') =>
  `-----BEGIN ${label}-----\n${der
    .toString('base64')
    .match(/.{1,64}/g)!
    .join('\n')}\n-----END ${label}-----\n`;

/** Node's own parser (OpenSSL) reads the result back: a second implementation, not ours. */
export function parsedByOpenssl(der: Buffer): X509Certificate {
  return new X509Certificate(der);
}

/**
 * What a CA certificate Custos made says, as a profile: its subject, validity, path length and key usages. A
 * rehearsal's stand-in for a CA key gets a certificate of its own with this profile (signed by the stand-in), so
 * what the real CA issues can be rehearsed. Null for a name or extension Custos does not write.
 */
export function caProfileOf(der: Buffer): CertificateProfile | null {
  const tbs = AsnConvert.parse(der, Certificate).tbsCertificate;
  const fields = Object.fromEntries(NAME_ATTRIBUTES.map(([field, short]) => [NAME_OIDS[short]!, field]));
  const subject: Record<string, string> = {};
  for (const rdn of tbs.subject)
    for (const attribute of rdn) {
      const field = fields[attribute.type];
      if (!field || field in subject) return null;
      subject[field] = attribute.value.toString();
    }
  const found = (id: string) => tbs.extensions?.find((e) => e.extnID === id)?.extnValue.buffer;
  const basic = found(id_ce_basicConstraints);
  const constraints = basic ? AsnConvert.parse(basic, BasicConstraints) : null;
  const usage = found(id_ce_keyUsage);
  if (!constraints?.cA || !usage || !subject.commonName) return null;
  const flags = Number(AsnConvert.parse(usage, KeyUsage).toNumber());
  const instant = (d: Date) => d.toISOString().replace(/\.\d+Z$/, 'Z');
  return {
    subject: subject as DistinguishedName,
    notBefore: instant(tbs.validity.notBefore.getTime()),
    notAfter: instant(tbs.validity.notAfter.getTime()),
    ca: true,
    ...(constraints.pathLenConstraint === undefined ? {} : { pathLength: constraints.pathLenConstraint }),
    keyUsage: KEY_USAGES.filter((name) => (flags & KeyUsageFlags[name]) !== 0),
  };
}
