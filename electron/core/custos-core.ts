import { join } from 'node:path';
import type { AuditActor, AuditVerdict, CheckpointInfo } from '../../shared/audit';
import { channelNames, type AppSnapshot, type ChannelName } from '../../shared/ipc-schema';
import { ACTION_PARAMS } from '../../shared/actions';
import { auditLogPlan, auditHandlers } from './audit/audit-handlers';
import { AuditOperations } from './audit/audit-operations';
import { AuditService } from './audit/audit-service';
import type { Trail } from './audit/exports';
import type { VerifyOptions } from './audit/verify-store';
import { backupHandlers, backupPlan } from './backup/backup-handlers';
import { BackupService } from './backup/backup-service';
import { BACKUP_NEEDS } from './backup/key-wrap';
import { reconcileRestore } from './backup/reconcile-restore';
import { complianceHandlers, compliancePlan } from './compliance/compliance-handlers';
import { ComplianceService } from './compliance/compliance-service';
import { custodianHandlers, custodianPlan } from './custodians/custodian-handlers';
import { CustodianService } from './custodians/custodian-service';
import { factorProofs } from './custodians/factor-proofs';
import { holdingsOf } from './custodians/holdings';
import { custodyHandlers, custodyPlan } from './custody/custody-handlers';
import { CustodyService } from './custody/custody-service';
import { reconcileTurnover, turnover } from './custody/turnover';
import { CustosError, isCustosError } from './errors';
import { EventHub } from './events/event-hub';
import { ModuleHost } from './hsm/module-host';
import { recordRequest, type AuditPlans } from './ipc/request-record';
import { Router, type Handlers } from './ipc/router';
import { keyHandlers, keyPlan } from './keys/key-handlers';
import { KeyInventory } from './keys/key-inventory';
import { keyChecks, keyNeeds, keyOperations, keyReconcilers } from './keys/key-operations';
import { consoleLog, type Log } from './log';
import { quorumDrill } from './quorum/drill';
import { proposalBinder, proposalHandlers, proposalPlan } from './quorum/proposal-handlers';
import { CeremonyRuns } from './ceremony/ceremony-runs';
import { ceremonyHandlers, ceremonyPlan, rehearsalHandlers, rehearsalPlan } from './ceremony/ceremony-handlers';
import { countInterruptedRehearsals } from './ceremony/rehearsal';
import { PlannedCeremonies } from './ceremony/planned';
import { RehearsalHost } from './ceremony/rehearsal-host';
import type { SpawnRehearsal } from './ceremony/rehearsal-protocol';
import { runReport } from './ceremony/run-report';
import { CertificateStore } from './pki/certificate-store';
import { pkiOperations } from './pki/pki-operations';
import { standInKeys } from './ceremony/stand-ins';
import { pkiHandlers, pkiPlan } from './pki/pki-handlers';
import { certificatesOnTokens } from './pki/trust-store';
import { proposeCompromiseRevocations } from './pki/compromise-revocations';
import { QuorumService } from './quorum/quorum-service';
import { publishReport, reportHandlers, reportPlan } from './reports/report-handlers';
import { ReportService } from './reports/report-service';
import { tokenFacts } from './reports/token-facts';
import { FileSecretVault, type VaultKind, type Vaults } from './secret-vault';
import { Settings } from './settings/settings';
import { checkInBackground, type CheckedFile } from './store/background-check';
import { Store } from './store/database';
import { tokenHandlers, tokenPlan } from './tokens/token-handlers';
import { TokenService } from './tokens/token-service';
import { TransportRecipients } from './transport/recipients';
import { transportHandlers, transportPlan } from './transport/transport-handlers';
import { TransportService } from './transport/transport-service';
import { outsideOwnFiles, type ChooseDestination } from './destinations';

export interface CoreOptions {
  dataDir: string;
  version: string;
  production: boolean;
  /** Who is at the console: "desktop", "cli"… recorded as the actor until custodians sign in. */
  operator?: string;
  moduleOverride?: string | undefined;
  /**
   * Asks the security officer, in main, for the PKCS#11 library to use (the app: a file dialog;
   * the CLI: its --module argument); null when they cancel. The renderer never supplies a path.
   */
  pickModule?: () => Promise<string | null>;
  /**
   * Asks the person at the console, in main, for a backup file to import (the app: a file dialog); null when they
   * cancel.
   */
  pickBackupFile?: () => Promise<string | null>;
  /** Where files Custos writes for the person at the console go (the CLI: --out / --file); see destinations.ts. */
  chooseDestination?: ChooseDestination;
  softHsmCandidates?: readonly string[];
  nativeBinding?: string;
  /** What a background integrity check found intact just before this open (`startCoreInBackground`). */
  checkedDatabase?: CheckedFile | null;
  /** Where the audit token PIN can be sealed; a 0600 file in the data directory by default. */
  vaults?: Vaults;
  preferredVault?: VaultKind;
  clock?: () => Date;
  /** Starts a rehearsal process (the app: a utilityProcess; elsewhere a Node child); without it, no app rehearsals. */
  spawnRehearsal?: SpawnRehearsal;
  /** How long ending a rehearsal may take before its process is stopped; tests shorten it. */
  rehearsalEndDeadlineMs?: number;
  /** How long opening a rehearsal may take before its process is stopped; tests shorten it. */
  rehearsalOpenDeadlineMs?: number;
  /** scrypt cost for new custodians; tests lower it. */
  kdfCost?: { N: number; r: number; p: number };
  log?: Log;
}

/** How each request is recorded: every channel has its row, beside its handler in its domain's module. */
const auditPlan = {
  'app.snapshot': { action: 'app.open', self: false, params: false },
  // The adoption is recorded by the log it opens; a directory that is no copy changes nothing.
  'app.adoptCopy': { action: 'data-dir.adopt', self: true, params: false },
  ...tokenPlan,
  ...custodianPlan,
  ...custodyPlan,
  ...proposalPlan,
  ...keyPlan,
  ...pkiPlan,
  ...backupPlan,
  ...reportPlan,
  ...ceremonyPlan,
  ...rehearsalPlan,
  ...compliancePlan,
  ...transportPlan,
  ...auditLogPlan,
} satisfies AuditPlans<ChannelName>;

/**
 * The privileged core: everything Custos can do, with no Electron in it. The desktop shell, the
 * CLI and the tests all drive this same object. This is the composition root: it builds the
 * services, wires them together and to the router, and settles what a crash interrupted.
 */
export class CustosCore {
  readonly events = new EventHub();
  readonly router: Router;
  readonly tokens: TokenService;
  readonly settings: Settings;
  readonly host: ModuleHost;
  readonly audit: AuditService;
  readonly custodians: CustodianService;
  readonly custody: CustodyService;
  readonly quorum: QuorumService;
  readonly keys: KeyInventory;
  readonly certificates: CertificateStore;
  private readonly pki: ReturnType<typeof pkiOperations>;
  readonly backups: BackupService;
  readonly reports: ReportService;
  readonly compliance: ComplianceService;
  readonly recipients: TransportRecipients;
  readonly transport: TransportService;
  readonly auditOperations: AuditOperations;
  readonly ceremonies: CeremonyRuns;
  readonly rehearsals: RehearsalHost | null;
  readonly plans: PlannedCeremonies;
  private readonly bind: ReturnType<typeof proposalBinder>;
  readonly actor: AuditActor;
  private readonly clock: () => Date;

  private constructor(
    private readonly options: CoreOptions,
    readonly store: Store,
    log: Log,
  ) {
    const clock = options.clock ?? (() => new Date());
    this.clock = clock;
    this.settings = new Settings(store, clock);
    this.actor = { type: 'operator', id: options.operator ?? 'desktop' };
    this.host = new ModuleHost((error) =>
      log.warn('token cleanup failed', { code: error.code, message: error.message }),
    );
    this.audit = new AuditService({
      dataDir: options.dataDir,
      store,
      settings: this.settings,
      host: this.host,
      vaults: options.vaults ?? { file: new FileSecretVault(join(options.dataDir, 'audit-token.pin')) },
      preferredVault: options.preferredVault ?? 'file',
      log,
      ...(options.softHsmCandidates ? { softHsmCandidates: options.softHsmCandidates } : {}),
      clock,
    });
    this.tokens = new TokenService({
      store,
      host: this.host,
      audit: this.audit,
      actor: this.actor,
      dataDir: options.dataDir,
      settings: this.settings,
      events: this.events,
      log,
      moduleOverride: options.moduleOverride,
      ...(options.softHsmCandidates ? { softHsmCandidates: options.softHsmCandidates } : {}),
    });
    this.custodians = new CustodianService({
      store,
      audit: this.audit,
      actor: this.actor,
      ...(options.kdfCost ? { kdfCost: options.kdfCost } : {}),
      clock,
      holdings: (person) =>
        holdingsOf(
          { custody: this.custody, backups: this.backups, proposals: this.quorum, ceremonies: this.ceremonies },
          person,
        ),
    });
    this.keys = new KeyInventory(store, this.audit, clock);
    this.certificates = new CertificateStore(store, this.keys, this.audit);
    this.pki = pkiOperations(clock, this.keys, this.certificates);
    this.custody = new CustodyService({
      store,
      audit: this.audit,
      custodians: this.custodians,
      actor: this.actor,
      module: () => this.tokens.ready(),
      clock,
    });
    this.backups = new BackupService({
      store,
      audit: this.audit,
      custodians: this.custodians,
      keys: this.keys,
      module: () => this.tokens.ready(),
      quorum: () => this.quorum,
      clock,
      rehearsal: () => this.ceremonies.scratch() !== null,
    });
    this.recipients = new TransportRecipients({ store, audit: this.audit, custodians: this.custodians, clock });
    this.transport = new TransportService({
      store,
      audit: this.audit,
      keys: this.keys,
      recipients: this.recipients,
      module: () => this.tokens.ready(),
      clock,
      rehearsal: () => this.ceremonies.scratch() !== null,
    });
    const standIns = standInKeys(store, clock, this.keys, this.certificates, () => this.ceremonies.scratch());
    this.quorum = new QuorumService({
      store,
      audit: this.audit,
      custodians: this.custodians,
      custody: this.custody,
      module: () => this.tokens.ready(),
      // The registry is assembled here from each folder's contributions: quorum/ imports none of them.
      operations: {
        'token.quorum-drill': quorumDrill,
        ...keyOperations(store, clock, this.keys, (keyId) => this.backups.copiesOf(keyId)),
        'backup.retire': this.backups.retirements.operation(),
        ...this.pki.operations,
        'key.import-wrapped': this.transport.importOperation(),
        'rehearsal.stand-ins': standIns.operation,
      },
      checks: {
        ...keyChecks(store, clock, this.keys),
        'backup.retire': this.backups.retirements.check,
        ...this.pki.checks,
        'key.export-wrapped': this.transport.exportCheck,
        'key.import-wrapped': this.transport.importCheck,
        'rehearsal.stand-ins': standIns.check,
      },
      needs: {
        ...keyNeeds(store, clock, this.keys),
        ...this.pki.needs,
        'key.backup': () => BACKUP_NEEDS,
        'key.restore': (p) => this.backups.restoreNeeds(p),
        'key.export-wrapped': (p) => this.transport.exportNeeds(p),
        'key.import-wrapped': (p) => this.transport.importNeeds(p),
      },
      ceremonies: {
        'custody.redeal': turnover(this.custody),
        'key.backup': this.backups.backupCeremony(),
        'key.restore': this.backups.restoreCeremony(),
        'key.export-wrapped': this.transport.exportCeremony(),
      },
      reconcilers: {
        ...keyReconcilers(store, clock, this.keys, (keyId) => this.backups.copiesOf(keyId)),
        ...this.pki.reconcilers,
        'custody.redeal': reconcileTurnover(this.custody),
        'key.backup': this.backups.reconcileBackup(),
        'key.export-wrapped': this.transport.reconcileExport(),
        'key.import-wrapped': this.transport.reconcileImport(),
        'key.restore': reconcileRestore({
          store: this.store,
          audit: this.audit,
          keys: this.keys,
          manifest: (setId) => this.backups.manifest(setId),
        }),
      },
      params: ACTION_PARAMS,
      scriptApprovers: (proposalId) => this.ceremonies.approversOf(proposalId),
      clock,
    });
    const reportSources: ConstructorParameters<typeof ReportService>[0] = {
      store,
      audit: this.audit,
      custodians: this.custodians,
      custody: this.custody,
      backups: this.backups,
      keys: this.keys,
      quorum: this.quorum,
      clock,
      token: (ref) => this.tokenFacts(ref),
      copies: {
        of: (keyId) => this.backups.copiesOf(keyId),
        retirement: (setId) => this.backups.retirements.retirement(setId),
      },
    };
    this.reports = new ReportService(reportSources);
    this.compliance = new ComplianceService({
      store,
      audit: this.audit,
      settings: this.settings,
      keys: this.keys,
      custody: this.custody,
      custodians: this.custodians,
      backups: this.backups,
      clock,
      token: (ref) => this.tokenFacts(ref),
      version: options.version,
      certificates: () => this.trustStore(),
      rehearsals: () => {
        // A tampered record is refused (and recorded) where it is read; the analyzer then tracks nothing.
        try {
          const names = new Map(this.custodians.list().map((c) => [c.id, c.name]));
          const holders = new Set(this.custody.list().flatMap((c) => (c.state === 'active' ? c.holderIds : [])));
          const passed = this.ceremonies.rehearsals().filter((r) => r.outcome === 'passed');
          return {
            holders: [...holders].map((id) => ({ id, name: names.get(id) ?? id })),
            rehearsed: passed.flatMap((r) => r.people),
            passed: passed.length,
            required: this.ceremonies.policy().requireRehearsal,
          };
        } catch {
          return undefined;
        }
      },
      modules: () => {
        const status = this.tokens.status();
        const found = [
          ...(status.state === 'ready' ? [status.module] : []),
          ...[this.audit.moduleInfo()].filter((m) => m !== null),
        ];
        return [...new Map(found.map((m) => [m.path, m])).values()];
      },
    });
    this.auditOperations = new AuditOperations({
      store,
      audit: this.audit,
      actor: this.actor,
      version: options.version,
    });
    this.bind = proposalBinder({
      copiesOf: (keyId) => this.backups.copiesOf(keyId),
      bindings: { ...this.pki.bindings, ...this.transport.bindings },
      tokenRandom: (custodyId, bytes) =>
        this.tokens
          .ready()
          .withSession(this.custody.record(custodyId).token, {}, (session, lib) =>
            lib.C_GenerateRandom(session, Buffer.alloc(bytes)),
          ),
    });
    this.ceremonies = new CeremonyRuns({
      store,
      audit: this.audit,
      custodians: this.custodians,
      custody: this.custody,
      quorum: this.quorum,
      keys: this.keys,
      bind: this.bind,
      proveFactors: factorProofs(this.custodians).proveFactors,
      // Kept signed, and written with its PDF under the data directory's reports/ (the Reports screen lists it).
      report: async (runId) => {
        // A report signed before its files could be written (a full disk) is written again, never signed twice.
        const kept = this.reports
          .list()
          .find((r) => r.ceremonyId === runId && (r.type === 'ceremony.script-run' || r.type === 'ceremony.rehearsal'));
        const id = kept?.id ?? this.reports.keep(runReport(reportSources, this.ceremonies, runId)).id;
        await this.reports.exportTo(id, join(options.dataDir, 'reports', id));
        return id;
      },
      clock,
    });
    this.plans = new PlannedCeremonies({
      store,
      audit: this.audit,
      actor: this.actor,
      lint: (text) => this.ceremonies.lint(text),
      started: () => new Set(this.ceremonies.list().map((r) => r.scriptSha256)),
    });
    this.rehearsals = options.spawnRehearsal
      ? new RehearsalHost({
          core: this,
          dataDir: options.dataDir,
          version: options.version,
          spawn: options.spawnRehearsal,
          clock,
          log,
          nativeBinding: options.nativeBinding,
          ...(options.rehearsalEndDeadlineMs ? { endDeadlineMs: options.rehearsalEndDeadlineMs } : {}),
          ...(options.rehearsalOpenDeadlineMs ? { openDeadlineMs: options.rehearsalOpenDeadlineMs } : {}),
        })
      : null;
    const rehearsals = this.rehearsals;
    this.router = new Router(
      this.handlers(),
      log,
      recordRequest(auditPlan, this.audit, this.actor),
      rehearsals && {
        applies: (name) => rehearsals.diverting && !name.startsWith('rehearsals.'),
        forward: (name, payload) => rehearsals.forward(name, payload),
      },
    );
    this.reconcile(log);
  }

  /** Operations a crash interrupted are settled before anything else runs (DESIGN §6). */
  private reconcile(log: Log): void {
    for (const repair of this.store.modeRepairs) {
      // Others could read these until now: recorded, so auditors know the sealed records may have been copied.
      log.warn('tightened a permission in the data directory', { ...repair });
      void this.audit.tryRecord({
        actor: { type: 'system', id: 'system' },
        action: 'system.file-mode.tightened',
        object: { type: 'file', id: repair.path.slice(0, 200) },
        params: repair,
      });
    }
    // Keys, schedules and custody records first: the custodians' one-time sealing marks the installation set up in the
    // audit token, after which nothing from before records were signed is ever signed. If these could not be signed,
    // the custodians wait too, so the next start tries them all again.
    let recordsSealed = false;
    try {
      const sealed = this.keys.sealUnsigned() + this.custody.sealUnsignedOnce();
      recordsSealed = true;
      if (sealed > 0)
        log.warn('signed keys, destruction schedules and custody records from before they were signed', { sealed });
    } catch (error) {
      log.warn('could not sign the key and custody records yet; will try at the next start', {
        code: isCustosError(error) ? error.code : 'INTERNAL',
      });
    }
    /** One sealing step of the start: what it sealed is logged; a failure is logged and tried at the next start. */
    const sealing = (seal: () => number, done: string, pending: string) => {
      try {
        const sealed = seal();
        if (sealed > 0) log.warn(done, { sealed });
      } catch (error) {
        log.warn(`${pending}; will try at the next start`, { code: isCustosError(error) ? error.code : 'INTERNAL' });
      }
    };
    sealing(
      () => (recordsSealed ? this.custodians.sealUnsignedOnce() : 0),
      'signed the security state of custodians enrolled before it was signed',
      'could not sign the custodians’ security state yet',
    );
    // Each is checked under its CA key's signed record first: unsigned records would leave it out for good.
    sealing(
      () => (recordsSealed ? this.certificates.sealUnrecordedCertificatesOnce() : 0),
      'recorded the certificates issued before each was recorded',
      'could not record the certificates yet',
    );
    sealing(
      () => this.certificates.sealUnrecordedCrlsOnce(),
      'recorded the latest revocation lists from before they were recorded',
      'could not record the revocation lists yet',
    );
    try {
      const { counted, ignored } = countInterruptedRehearsals(this, this.options.dataDir, this.options.nativeBinding);
      if (counted > 0) log.warn('counted the factor checks of rehearsals that were cut off', { counted });
      if (ignored > 0)
        log.warn('ignored the counts of cut-off rehearsals for people not copied into them', { ignored });
    } catch (error) {
      log.warn('could not count the factor checks of a rehearsal that was cut off; will try at the next start', {
        code: isCustosError(error) ? error.code : 'INTERNAL',
      });
    }
    try {
      for (const { proposalId, action, status } of this.quorum.reconcile())
        log.warn('reconciled an interrupted quorum operation', { proposalId, action, status });
    } catch (error) {
      log.warn('could not reconcile interrupted operations yet; will try at the next start', {
        code: isCustosError(error) ? error.code : 'INTERNAL',
      });
    }
  }

  /** Opens the data directory; throws STORE_* errors (locked, corrupt, too new…) as CustosError. */
  static open(options: CoreOptions): CustosCore {
    const log = options.log ?? consoleLog;
    const store = Store.open(options.dataDir, {
      ...(options.nativeBinding ? { nativeBinding: options.nativeBinding } : {}),
      ...(options.checkedDatabase ? { checked: options.checkedDatabase } : {}),
    });
    try {
      return new CustosCore(options, store, log);
    } catch (error) {
      store.close();
      throw error;
    }
  }

  snapshot(): AppSnapshot {
    return {
      version: this.options.version,
      dataDir: this.options.dataDir,
      production: this.options.production,
      tokens: this.tokens.status(),
      selectedToken: this.tokens.selected(),
      audit: this.audit.status(),
    };
  }

  close(): void {
    this.rehearsals?.close();
    this.quorum.forgetAll();
    this.backups.forgetAll();
    this.tokens.close();
    this.audit.close();
    this.host.closeAll();
    this.store.close();
  }

  /** Each domain's handlers, merged: a channel without one does not compile. */
  private handlers() {
    const { proveFactors, proveOfficer } = factorProofs(this.custodians);
    const { dataDir, pickModule, pickBackupFile } = this.options;
    const chooseDestination = outsideOwnFiles(this.options.chooseDestination, dataDir);
    return {
      'app.snapshot': () => this.snapshot(),
      'app.adoptCopy': () => {
        const adopted = this.audit.adoptCopy();
        return adopted ? { adopted: true, ...adopted, installation: this.audit.origin } : { adopted: false };
      },
      ...tokenHandlers({ tokens: this.tokens, proveOfficer, pickModule }),
      ...custodianHandlers({ custodians: this.custodians }),
      ...custodyHandlers({ custody: this.custody, custodians: this.custodians, tokens: this.tokens }),
      ...proposalHandlers({ quorum: this.quorum, proveFactors, bind: this.bind }),
      ...ceremonyHandlers({ runs: this.ceremonies, plans: this.plans }),
      ...rehearsalHandlers(this.rehearsals),
      ...pkiHandlers({ certificates: this.certificates }),
      ...transportHandlers({
        transport: this.transport,
        recipients: this.recipients,
        audit: this.audit,
        proveOfficer,
        dataDir,
        chooseDestination,
      }),
      ...keyHandlers({
        keys: this.keys,
        proveOfficer,
        // Always under the data directory: the console's --out names where a `report create` goes, not this.
        revocationNotice: (keyId) => publishReport(this.reports, { revocation: { keyId } }, dataDir, null),
        proposeRevocations: (keyId, officerId) =>
          proposeCompromiseRevocations(
            {
              certificates: this.certificates,
              keys: this.keys,
              custodies: () => this.custody.list(),
              bind: this.pki.bindings['crl.issue']!,
              propose: (custodyId, params, requestedBy) =>
                this.quorum.propose({ custodyId, action: 'crl.issue', params, requestedBy }),
            },
            keyId,
            officerId,
          ),
      }),
      ...backupHandlers({ backups: this.backups, dataDir, pickBackupFile, chooseDestination }),
      ...reportHandlers({ reports: this.reports, compliance: this.compliance, dataDir, chooseDestination }),
      ...complianceHandlers({
        compliance: this.compliance,
        proveOfficer,
        actor: this.actor,
        dataDir,
        clock: this.clock,
        chooseDestination,
      }),
      ...auditHandlers({
        audit: this.audit,
        operations: this.auditOperations,
        events: this.events,
        actor: this.actor,
        dataDir,
        clock: this.clock,
        chooseDestination,
      }),
    } satisfies Handlers;
  }

  /** The findings and control mapping as of a date, for a signed compliance report. */
  complianceSnapshot(asOf?: string) {
    return this.compliance.snapshot(asOf);
  }

  /** What a report says about a token: model, maker, software or not, and the validation recorded for its module. */
  /** The trust-store audit's inputs: what Custos issued, and every certificate on the tokens it can see now. */
  private trustStore() {
    const status = this.tokens.status();
    const auditToken = this.audit.auditToken();
    const onTokens =
      status.state === 'ready'
        ? certificatesOnTokens(
            this.tokens.ready(),
            (t) => auditToken !== null && t.serial === auditToken.serial && t.label === auditToken.label,
          )
        : [];
    return {
      certificates: this.certificates.audited(),
      crls: this.certificates.crls(),
      onTokens: onTokens.map((c) => ({
        token: `${c.token.label} (${c.token.serial})`,
        label: c.label,
        subject: c.subject,
        notAfter: c.notAfter,
        sha256: c.sha256,
        issuedHere: this.certificates.issuedHere(c.sha256, c.serial),
      })),
    };
  }

  private tokenFacts(ref: { serial: string; label: string }): Record<string, unknown> {
    const status = this.tokens.status();
    return tokenFacts(
      status,
      ref,
      status.state === 'ready' ? this.compliance.validation(status.module.path) : undefined,
    );
  }

  /** Signs a checkpoint, recording the request first so the checkpoint covers it. */
  checkpoint(reason: string) {
    return this.auditOperations.checkpoint(reason);
  }

  /** Rebuilds the stored Merkle tree from the entries (custos audit repair-tree); the repair is an entry itself. */
  repairAuditTree(): { size: number; rewritten: number; root: string } {
    return this.auditOperations.repairTree();
  }

  /** Verifies the live log (optionally against checkpoints kept elsewhere) and records that it did. */
  verifyAudit(options: VerifyOptions = {}): Promise<AuditVerdict> {
    return this.auditOperations.verify(options);
  }

  /** Exports the log (a verifiable bundle, CSV or CEF), recorded and covered by a checkpoint signed first. */
  exportAudit(
    target: string,
    format: 'bundle' | 'csv' | 'cef',
    trail: Trail,
  ): { path: string; entries: number; checkpoint: CheckpointInfo } {
    return this.auditOperations.export(target, format, trail);
  }
}

/**
 * When the core cannot start (database locked or damaged), the window still opens and every
 * request answers with the reason, so the custodian sees an explanation instead of a crash.
 */
export function unavailableRouter(reason: CustosError, log: Log = consoleLog): Router {
  const refuse = () => {
    throw reason;
  };
  const handlers = Object.fromEntries(channelNames.map((name) => [name, refuse])) as unknown as Handlers;
  return new Router(handlers, log);
}

export interface StartedCore {
  core: CustosCore | null;
  router: Router;
  startupError: CustosError | null;
}

/**
 * The desktop app's start: the database's integrity check runs on a worker thread first (seconds for a large log),
 * so the window is already open and saying "Starting Custos…" meanwhile, and main answers it; then `startCore`.
 */
export async function startCoreInBackground(options: CoreOptions): Promise<StartedCore> {
  const checkedDatabase = await checkInBackground(options.dataDir, options.nativeBinding);
  return startCore({ ...options, checkedDatabase });
}

/** Opens the core, or a router that explains why it could not open; the shell and harness share this. */
export function startCore(options: CoreOptions): StartedCore {
  const log = options.log ?? consoleLog;
  try {
    const core = CustosCore.open(options);
    return { core, router: core.router, startupError: null };
  } catch (error) {
    const reason =
      error instanceof CustosError
        ? error
        : new CustosError('INTERNAL', 'Custos could not start its core.', [], { cause: error });
    log.error('core unavailable', { code: reason.code });
    return { core: null, router: unavailableRouter(reason, log), startupError: reason };
  }
}
