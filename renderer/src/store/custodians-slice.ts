import type { StateCreator } from 'zustand';
import type { CustodianSummary, EnrolmentChallenge, Role } from '../../../shared/custodians';
import type { WireError } from '../../../shared/errors';
import type { CustosState, Deps } from './index';

export interface OfficerFactors {
  custodianId: string;
  passphrase: string;
  code: string;
}

/** A form that shows its own refusal, linked to the field that fixes it, not at the screen's top: `unlock:ID`. */
export type CustodianForm = `${'unlock' | 'check' | 'retire'}:${string}` | 'enrol' | 'enrol-confirm';

export interface CustodiansSlice {
  custodians: CustodianSummary[] | null;
  /** The one-time TOTP enrolment on screen; dropped as soon as it is confirmed or cancelled. */
  enrolment: EnrolmentChallenge | null;
  custodianError: WireError | null;
  /** The form custodianError belongs to; null: the screen's. */
  custodianErrorAt: CustodianForm | null;
  custodianNotice: string | null;
  custodianBusy: boolean;
  loadCustodians(): Promise<void>;
  /** officers: the approving security officers' factors; none only at the installation's setup. */
  beginEnrolment(name: string, roles: Role[], passphrase: string, officers?: OfficerFactors[]): Promise<boolean>;
  confirmEnrolment(code: string): Promise<boolean>;
  cancelEnrolment(): Promise<void>;
  checkFactors(custodianId: string, passphrase: string, code: string): Promise<boolean>;
  /** officer: the approving security officer's factors. */
  unlockCustodian(custodianId: string, officer: OfficerFactors): Promise<boolean>;
  /** officers: the approving security officers' factors (for an officer's handover, the leaving officer's too). */
  retireCustodian(custodianId: string, officers: OfficerFactors[]): Promise<boolean>;
}

export const createCustodiansSlice =
  ({ bridge }: Deps): StateCreator<CustosState, [], [], CustodiansSlice> =>
  (set, get) => {
    /**
     * Runs one request; on failure keeps the error on screen, on success the notice. With `reload`, busy until the list
     * is read again (factors were checked either way, and a code counts once): a form clears when this returns, so
     * whoever types next, once "Checking…" is gone, must not have their entries wiped by a clear that came later.
     */
    const run = async <T>(
      call: () => Promise<{ ok: true; value: T } | { ok: false; error: WireError }>,
      notice: (value: T) => string | null,
      reload = true,
      at: CustodianForm | null = null,
    ): Promise<T | null> => {
      set({ custodianBusy: true, custodianError: null, custodianErrorAt: null, custodianNotice: null });
      const result = await call();
      try {
        if (reload) await get().loadCustodians();
      } finally {
        set(
          result.ok
            ? { custodianBusy: false, custodianNotice: notice(result.value) }
            : { custodianBusy: false, custodianError: result.error, custodianErrorAt: at },
        );
      }
      return result.ok ? result.value : null;
    };
    return {
      custodians: null,
      enrolment: null,
      custodianError: null,
      custodianErrorAt: null,
      custodianNotice: null,
      custodianBusy: false,
      async loadCustodians() {
        const result = await bridge.custodians.list({});
        set(result.ok ? { custodians: result.value } : { custodianError: result.error, custodianErrorAt: null });
      },
      async beginEnrolment(name, roles, passphrase, officers = []) {
        const challenge = await run(
          () => bridge.custodians.enrolBegin({ name, roles, passphrase, ...(officers.length ? { officers } : {}) }),
          () => null,
          // An officer's factors were checked either way (a code counts once): their status is read again.
          officers.length > 0,
          'enrol',
        );
        if (challenge) set({ enrolment: challenge });
        return challenge !== null;
      },
      async confirmEnrolment(code) {
        const enrolment = get().enrolment;
        if (!enrolment) return false;
        const custodian = await run(
          () => bridge.custodians.enrolConfirm({ enrolmentId: enrolment.enrolmentId, code }),
          (c) => `${c.name} is enrolled.`,
          true,
          'enrol-confirm',
        );
        // An enrolment the core ended (expired, too many wrong codes) takes its secret and QR code off the screen; the
        // first step's form, shown again, says why.
        if (!custodian && get().custodianError?.code === 'ENROLMENT_EXPIRED')
          set({ enrolment: null, custodianErrorAt: 'enrol' });
        if (!custodian) return false;
        set({ enrolment: null });
        return true;
      },
      async cancelEnrolment() {
        const enrolment = get().enrolment;
        set({ enrolment: null, custodianError: null, custodianErrorAt: null });
        if (enrolment) await bridge.custodians.enrolCancel({ enrolmentId: enrolment.enrolmentId });
      },
      async checkFactors(custodianId, passphrase, code) {
        const ok = await run(
          () => bridge.custodians.check({ custodianId, passphrase, code }),
          () => 'Both factors are correct.',
          true,
          `check:${custodianId}`,
        );
        return ok !== null;
      },
      async unlockCustodian(custodianId, { custodianId: officerId, passphrase, code }) {
        const ok = await run(
          () => bridge.custodians.unlock({ custodianId, officerId, passphrase, code }),
          (c) => `${c.name} is unlocked.`,
          true,
          `unlock:${custodianId}`,
        );
        return ok !== null;
      },
      async retireCustodian(custodianId, officers) {
        const retired = await run(
          () => bridge.custodians.retire({ custodianId, officers }),
          (c) => `${c.name} is retired. Their passphrase and codes approve nothing from now on.`,
          true,
          `retire:${custodianId}`,
        );
        return retired !== null;
      },
    };
  };
