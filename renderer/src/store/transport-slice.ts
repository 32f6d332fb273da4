import type { StateCreator } from 'zustand';
import type { WireError } from '../../../shared/errors';
import type { TransportPackageSummary, TransportRecipient } from '../../../shared/transport';
import type { CustosState, Deps } from './index';
import type { Proof } from './quorum-slice';

/** Key transport: trusted recipients and packages; proposals go through the keys slice's proposeKey. */
export interface TransportSlice {
  recipients: TransportRecipient[] | null;
  packages: TransportPackageSummary[] | null;
  transportError: WireError | null;
  transportNotice: string | null;
  /** The package just received, so its import can be proposed next. */
  received: TransportPackageSummary | null;
  loadTransport(): Promise<void>;
  trustRecipient(label: string, publicKeyPem: string, officer: Proof): Promise<boolean>;
  receivePackage(text: string): Promise<boolean>;
  writePackage(sha256: string): Promise<void>;
  /** A proposal made from the panel answers at the top of the screen: the panel's last answer is cleared. */
  forgetTransportOutcome(): void;
}

/** One answer on the Keys screen at a time: a panel request clears the screen's last proposal answer too. */
const NO_ANSWER = { transportError: null, transportNotice: null, keyError: null, keyErrorAt: null, keyNotice: null };

export const createTransportSlice =
  ({ bridge }: Deps): StateCreator<CustosState, [], [], TransportSlice> =>
  (set, get) => ({
    recipients: null,
    packages: null,
    transportError: null,
    transportNotice: null,
    received: null,
    async loadTransport() {
      const [recipients, packages] = await Promise.all([
        bridge.transport.recipients({}),
        bridge.transport.packages({}),
      ]);
      if (recipients.ok && packages.ok) set({ recipients: recipients.value, packages: packages.value });
      else set({ transportError: !recipients.ok ? recipients.error : !packages.ok ? packages.error : null });
    },
    async trustRecipient(label, publicKeyPem, officer) {
      set(NO_ANSWER);
      const result = await bridge.transport.trustRecipient({ label, publicKeyPem, officer });
      set(
        result.ok
          ? {
              transportNotice: `“${result.value.label}” (${result.value.algorithm}) is a trusted recipient. Its fingerprint: ${result.value.fingerprint}`,
            }
          : { transportError: result.error },
      );
      await get().loadTransport();
      return result.ok;
    },
    async receivePackage(text) {
      set({ ...NO_ANSWER, received: null });
      const result = await bridge.transport.receive({ text });
      set(
        result.ok
          ? {
              received: result.value,
              transportNotice: `The package for “${result.value.key.label}” is kept. Propose its import below.`,
            }
          : { transportError: result.error },
      );
      await get().loadTransport();
      return result.ok;
    },
    forgetTransportOutcome() {
      set({ transportError: null, transportNotice: null });
    },
    async writePackage(sha256) {
      set(NO_ANSWER);
      const result = await bridge.transport.writePackage({ sha256 });
      set(
        result.ok
          ? { transportNotice: `The package is written to ${result.value.dir}. Hand the folder to the recipient.` }
          : { transportError: result.error },
      );
    },
  });
