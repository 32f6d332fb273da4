import { CustosError } from '../errors';
import type { Handlers } from '../ipc/router';
import type { AuditPlans } from '../ipc/request-record';
import { pem } from './certificate';
import type { CertificateStore } from './certificate-store';

type PkiChannel = 'certificates.list' | 'certificates.export' | 'certificates.crl';

export const pkiPlan: AuditPlans<PkiChannel> = {
  'certificates.list': { action: 'certificate.list', self: false, params: false },
  'certificates.export': { action: 'certificate.export', self: false, params: true },
  'certificates.crl': { action: 'crl.export', self: false, params: true },
};

/** Certificates and CRLs are public: reading them is recorded like every request, and needs no factor. */
export function pkiHandlers({ certificates }: { certificates: CertificateStore }): Pick<Handlers, PkiChannel> {
  return {
    'certificates.list': () => certificates.list(),
    'certificates.export': ({ serial, format }) => ({
      serial: serial.toLowerCase(),
      format,
      text: certificates.export(serial, format),
    }),
    'certificates.crl': ({ issuerKeyId }) => {
      const crl = certificates.latestCrl(issuerKeyId);
      if (!crl)
        throw new CustosError('CERT_NOT_FOUND', 'This CA key has signed no revocation list yet.', [
          'Propose one: custos proposal create --action crl.issue --param issuerKeyId=KEY.',
        ]);
      return { issuerKeyId, number: crl.number, nextUpdate: crl.nextUpdate, text: pem(crl.der, 'X509 CRL') };
    },
  };
}
