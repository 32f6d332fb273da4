import type pkcs11js from 'pkcs11js';
import { CustodianService } from '../custodians/custodian-service';
import { totpCodeAt } from '../custodians/totp';
import { CustodyService, type Holder } from '../custody/custody-service';
import type { Need } from '../hsm/capabilities';
import { prepareEmbeddedSoftHsm } from '../hsm/softhsm';
import type { Synchronous } from '../hsm/token-module';
import type { ModuleKind } from '../../../shared/tokens';
import type { ZodType } from 'zod';
import {
  QuorumService,
  type CeremonyOperation,
  type ProposalCheck,
  type QuorumOperation,
} from '../quorum/quorum-service';
import type { ProposalView } from '../../../shared/quorum';
import { sql } from '../store/sql';
import { openAudit } from './audit-fixture';
import { enrolPeople } from './enrolment';

export interface EnrolledCustodian {
  id: string;
  name: string;
  secret: string;
  passphrase: string;
}

/**
 * Real parts for quorum tests: a data directory with its audit token, the embedded SoftHSM2
 * module, and custodians enrolled with real (lower-cost) scrypt and real TOTP. The clock moves
 * one TOTP step per call to holders(), as people typing fresh codes would.
 */
export async function quorumFixture(
  dataDir: string,
  names: { name: string; roles?: ('custodian' | 'security-officer' | 'auditor')[] }[],
  /** The custody tokens' library (default: the embedded SoftHSM2, which also holds the audit token). */
  custodyModule?: { path: string; kind: ModuleKind },
) {
  const clock = { now: new Date() };
  const actor = { type: 'operator', id: 'test' } as const;
  /** The parts a start of Custos opens on the data directory: its libraries loaded afresh. */
  const start = () => {
    const opened = openAudit(dataDir);
    const module = custodyModule
      ? opened.host.acquire(custodyModule.path, custodyModule.kind)
      : opened.host.acquire(prepareEmbeddedSoftHsm(dataDir).modulePath, 'embedded-softhsm');
    const custodians = new CustodianService({
      store: opened.store,
      audit: opened.audit,
      actor,
      kdfCost: { N: 2 ** 14, r: 8, p: 1 },
      clock: () => clock.now,
    });
    const custody = new CustodyService({
      store: opened.store,
      audit: opened.audit,
      custodians,
      actor,
      module: () => module,
      clock: () => new Date(),
    });
    return { opened, module, custodians, custody };
  };
  let { opened, module, custodians, custody } = start();
  const seeded = await enrolPeople(
    custodians,
    clock,
    names.map(({ name, roles }, i) => ({
      name,
      ...(roles ? { roles } : {}),
      passphrase: `long quiet harbour walk number ${i + 1}`,
    })),
  );
  const enrolled: EnrolledCustodian[] = seeded.people;
  const setupOfficer: EnrolledCustodian | null = seeded.setupOfficer;
  const tick = () => (clock.now = new Date(clock.now.getTime() + 30_000));
  return {
    get opened() {
      return opened;
    },
    get module() {
      return module;
    },
    clock,
    get custodians() {
      return custodians;
    },
    get custody() {
      return custody;
    },
    /** Closes the installation and starts it again on the same data directory, every library loaded afresh. */
    restart() {
      opened.host.release(module);
      opened.close();
      ({ opened, module, custodians, custody } = start());
    },
    enrolled,
    /** The installation's first security officer (enrolled first when none is named first). */
    setupOfficer,
    tick,
    /** A quorum service on these parts, with the given operations and the fixture's clock. */
    quorum(
      operations: Record<string, QuorumOperation>,
      ceremonies: Record<string, CeremonyOperation> = {},
      params?: Record<string, ZodType>,
      checks?: Record<string, ProposalCheck>,
      needs?: Record<string, (params: unknown) => Need[]>,
    ): QuorumService {
      return new QuorumService({
        store: opened.store,
        audit: opened.audit,
        custodians,
        custody,
        module: () => module,
        clock: () => clock.now,
        operations,
        ceremonies,
        ...(params ? { params } : {}),
        ...(checks ? { checks } : {}),
        ...(needs ? { needs } : {}),
      });
    },
    /** What a crash leaves first: the run journaled as execute() writes it, its signed begin entry with the row. */
    journal(proposal: ProposalView): void {
      opened.audit.record(
        {
          actor: { type: 'system', id: 'system' },
          action: 'proposal.execute.begin',
          object: { type: 'proposal', id: proposal.id },
          params: { action: proposal.action, fingerprint: proposal.fingerprint },
        },
        () =>
          opened.store.execute(
            sql`INSERT INTO executions (proposal_id, started_at) VALUES (${proposal.id}, ${clock.now.toISOString()})`,
          ),
      );
    },
    /** Each approver in turn, a TOTP step apart, confirming the proposal's short fingerprint. */
    async approveAll(quorum: QuorumService, proposal: ProposalView, approvers: number[]): Promise<ProposalView> {
      let view = proposal;
      for (const who of approvers) {
        tick();
        const c = enrolled[who]!;
        view = await quorum.approve({
          proposalId: proposal.id,
          custodianId: c.id,
          passphrase: c.passphrase,
          code: totpCodeAt(c.secret, clock.now),
          fingerprint: proposal.shortFingerprint,
        });
      }
      return view;
    },
    /**
     * A read-write session logged in with the custody's user PIN, rebuilt from these holders' shares:
     * for tests that do a token step directly, as an operation would have before a crash.
     */
    async loggedIn<T>(
      custodyId: string,
      who: number[],
      step: (session: Buffer, lib: pkcs11js.PKCS11) => Synchronous<T>,
    ): Promise<T> {
      tick();
      const keys = await Promise.all(
        who.map(async (i) => ({
          custodianId: enrolled[i]!.id,
          key: await custodians.verifyFactors(
            enrolled[i]!.id,
            enrolled[i]!.passphrase,
            totpCodeAt(enrolled[i]!.secret, clock.now),
            'test',
          ),
        })),
      );
      const pin = await custody.rebuildPin(custodyId, 'user', keys);
      keys.forEach((k) => k.key.fill(0));
      try {
        return module.withSession(
          custody.record(custodyId).token,
          { write: true, login: { user: 'user', pin: pin.toString('latin1') } },
          step,
        );
      } finally {
        pin.fill(0);
      }
    },
    holders(...who: number[]): Holder[] {
      tick();
      return who.map((i) => ({
        custodianId: enrolled[i]!.id,
        passphrase: enrolled[i]!.passphrase,
        code: totpCodeAt(enrolled[i]!.secret, clock.now),
      }));
    },
    close() {
      opened.host.release(module);
      opened.close();
    },
  };
}
export type QuorumFixture = Awaited<ReturnType<typeof quorumFixture>>;
