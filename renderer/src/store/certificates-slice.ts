import type { StateCreator } from 'zustand';
import type { WireError } from '../../../shared/errors';
import type { CertificateRecord, CrlText } from '../../../shared/pki';
import type { CustosState, Deps } from './index';

export interface CertificatesSlice {
  certificates: CertificateRecord[] | null;
  /** The latest revocation list of each CA key that has signed one. */
  crls: CrlText[];
  /** The certificate whose PEM is on screen. */
  shownCertificate: { serial: string; text: string } | null;
  certificateError: WireError | null;
  loadCertificates(): Promise<void>;
  showCertificate(serial: string): Promise<void>;
  hideCertificate(): void;
}

/** The CA keys here: inventory keys that hold a CA certificate (a key known only from a request signs nothing here). */
export const caKeyIds = (certificates: readonly CertificateRecord[]) => [
  ...new Set(certificates.filter((c) => c.ca && c.keyId).map((c) => c.keyId)),
];

export const createCertificatesSlice =
  ({ bridge }: Deps): StateCreator<CustosState, [], [], CertificatesSlice> =>
  (set) => ({
    certificates: null,
    crls: [],
    shownCertificate: null,
    certificateError: null,
    async loadCertificates() {
      const listed = await bridge.certificates.list({});
      if (!listed.ok) {
        set({ certificates: [], certificateError: listed.error });
        return;
      }
      const answers = await Promise.all(
        caKeyIds(listed.value).map((issuerKeyId) => bridge.certificates.crl({ issuerKeyId })),
      );
      // A CA that has signed no list yet answers CERT_NOT_FOUND: that is a state, not a failure.
      const failed = answers.find((a) => !a.ok && a.error.code !== 'CERT_NOT_FOUND');
      set({
        certificates: listed.value,
        crls: answers.flatMap((a) => (a.ok ? [a.value] : [])),
        certificateError: failed && !failed.ok ? failed.error : null,
      });
    },
    async showCertificate(serial) {
      const result = await bridge.certificates.export({ serial, format: 'pem' });
      set(
        result.ok
          ? { shownCertificate: { serial, text: result.value.text }, certificateError: null }
          : { certificateError: result.error },
      );
    },
    hideCertificate() {
      set({ shownCertificate: null });
    },
  });
