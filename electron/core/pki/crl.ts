import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import {
  AuthorityKeyIdentifier,
  CertificateList,
  CRLNumber,
  CRLReason,
  CRLReasons,
  Extension,
  KeyIdentifier,
  RevokedCertificate,
  TBSCertList,
  Time,
  Version,
  id_ce_authorityKeyIdentifier,
  id_ce_cRLNumber,
  id_ce_cRLReasons,
  type Name,
} from '@peculiar/asn1-x509';
import type { RevocationReason } from '../../../shared/pki';
import { arrayBuffer, keyIdentifier } from './certificate';
import { algorithmIdentifier, signatureScheme } from './token-signer';

export interface CrlEntry {
  serial: string;
  reason: RevocationReason;
  revokedAt: string;
}

const extension = (extnID: string, value: unknown) =>
  new Extension({ extnID, critical: false, extnValue: new OctetString(AsnConvert.serialize(value)) });

/**
 * The to-be-signed RFC 5280 §5 v2 CRL: issuer, this and next update, each revoked serial with its
 * date and reason code, and the CRL number and authority key identifier extensions.
 */
export function tbsCertList(c: {
  issuer: Name;
  issuerSpki: Buffer;
  algorithm: string;
  number: number;
  thisUpdate: Date;
  nextUpdate: Date;
  entries: CrlEntry[];
}): { tbs: TBSCertList; der: Buffer } {
  const tbs = new TBSCertList({
    version: Version.v2,
    signature: algorithmIdentifier(signatureScheme(c.algorithm)),
    issuer: c.issuer,
    thisUpdate: new Time(c.thisUpdate),
    nextUpdate: new Time(c.nextUpdate),
    ...(c.entries.length
      ? {
          revokedCertificates: c.entries.map(
            (e) =>
              new RevokedCertificate({
                userCertificate: arrayBuffer(Buffer.from(e.serial, 'hex')),
                revocationDate: new Time(new Date(e.revokedAt)),
                crlEntryExtensions: [extension(id_ce_cRLReasons, new CRLReason(CRLReasons[e.reason]))],
              }),
          ),
        }
      : {}),
    crlExtensions: [
      extension(
        id_ce_authorityKeyIdentifier,
        new AuthorityKeyIdentifier({ keyIdentifier: new KeyIdentifier(keyIdentifier(c.issuerSpki)) }),
      ),
      extension(id_ce_cRLNumber, new CRLNumber(c.number)),
    ],
  });
  return { tbs, der: Buffer.from(AsnConvert.serialize(tbs)) };
}

export function assembleCrl(tbs: TBSCertList, algorithm: string, signature: Buffer): Buffer {
  const list = new CertificateList({
    tbsCertList: tbs,
    signatureAlgorithm: algorithmIdentifier(signatureScheme(algorithm)),
    signature: arrayBuffer(signature),
  });
  return Buffer.from(AsnConvert.serialize(list));
}
