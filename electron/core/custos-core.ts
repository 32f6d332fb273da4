import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { AuditActor, AuditVerdict, CheckpointInfo } from '../../shared/audit';
import type { ErrorCode } from '../../shared/errors';
import { AuditBrowser } from './audit/audit-browser';
import { writeBundle } from './audit/bundle';
import { writeExport, type Trail } from './audit/exports';
import { verifyStoredLog, type VerifyOptions } from './audit/verify-store';
import { channelNames, type AppSnapshot, type ChannelName } from '../../shared/ipc-schema';
import { AuditService } from './audit/audit-service';
import { CustodianService } from './custodians/custodian-service';
import { CustodyService } from './custody/custody-service';
import { KeyInventory } from './keys/key-inventory';
import { quorumChecks, quorumNeeds, quorumOperations, quorumReconcilers } from './quorum/operations';
import { ACTION_PARAMS } from '../../shared/actions';
import { BACKUP_NEEDS } from './backup/key-wrap';
import { reconcileRestore } from './backup/reconcile-restore';
import { turnover } from './custody/turnover';
import { BackupService } from './backup/backup-service';
import { IMPORT_FAILURES, importPickedBackup } from './backup/backup-import';
import { ComplianceService } from './compliance/compliance-service';
import { ReportService } from './reports/report-service';
import { tokenFacts } from './reports/token-facts';
import QRCode from 'qrcode';
import { QuorumService, type ProposalView as StoredProposal } from './quorum/quorum-service';
import type { ProposalView } from '../../shared/quorum';
import { CustosError, isCustosError } from './errors';
import { EventHub } from './events/event-hub';
import { ModuleHost } from './hsm/module-host';
import { Router, type DispatchReport, type Handlers } from './ipc/router';
import { consoleLog, type Log } from './log';
import { FileSecretVault, writeFileAtomic, type VaultKind, type Vaults } from './secret-vault';
import { Settings } from './settings/settings';
import { Store } from './store/database';
import { TokenService, tokenObject } from './tokens/token-service';
import { ModulePath, TokenRef } from '../../shared/tokens';
import { z } from 'zod';
import { auditRequests } from './audit/audit-requests';
import { destination, type ChooseDestination } from './destinations';
import { refuseExistingReport } from './reports/report-service';

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
  /** Where the audit token PIN can be sealed; a 0600 file in the data directory by default. */
  vaults?: Vaults;
  preferredVault?: VaultKind;
  clock?: () => Date;
  /** scrypt cost for new custodians; tests lower it. */
  kdfCost?: { N: number; r: number; p: number };
  log?: Log;
}

/**
 * How each request is recorded. Channels that change state record their own entry inside the
 * change's transaction ("self"); reads are recorded after they answer. Every refusal and
 * failure is recorded too. `params` says whether the input may be hashed into the entry: never
 * for a channel that carries a secret.
 */
interface AuditPlan {
  action: string;
  /** The handler records its own entry on success. */
  self: boolean;
  /** The input may be hashed into the entry (never when it carries a passphrase). */
  params: boolean;
  /** Failures the handler records itself, with the state they change (failure counts…). */
  selfFailures?: readonly ErrorCode[] | 'all';
}

const FACTOR_FAILURES: readonly ErrorCode[] = [
  'PASSPHRASE_INCORRECT',
  'TOTP_INCORRECT',
  'TOTP_REPLAYED',
  'FACTORS_THROTTLED',
  'CUSTODIAN_LOCKED',
];

const SHARE_FAILURES: readonly ErrorCode[] = ['SHARE_TYPO', 'SHARE_FOREIGN', 'SHARE_MISMATCH', 'SHARE_DUPLICATE'];

const auditPlan: Record<ChannelName, AuditPlan> = {
  'app.snapshot': { action: 'app.open', self: false, params: false },
  // The adoption is recorded by the log it opens; a directory that is no copy changes nothing.
  'app.adoptCopy': { action: 'data-dir.adopt', self: true, params: false },
  'tokens.status': { action: 'token.list', self: false, params: false },
  'tokens.mechanisms': { action: 'token.mechanisms', self: false, params: true },
  'tokens.select': { action: 'token.select', self: true, params: true },
  'settings.setModule': { action: 'settings.module.set', self: true, params: false, selfFailures: FACTOR_FAILURES },
  'custodians.list': { action: 'custodian.list', self: false, params: false },
  'custodians.enrolBegin': {
    action: 'custodian.enrol.begin',
    self: false,
    params: false,
    selfFailures: FACTOR_FAILURES,
  },
  'custodians.enrolConfirm': { action: 'custodian.enrol', self: true, params: false },
  'custodians.enrolCancel': { action: 'custodian.enrol.cancel', self: false, params: false },
  'custodians.check': { action: 'custodian.factor.verify', self: true, params: false, selfFailures: FACTOR_FAILURES },
  'custodians.unlock': { action: 'custodian.unlock', self: true, params: false, selfFailures: FACTOR_FAILURES },
  'custody.list': { action: 'custody.list', self: false, params: false },
  'custody.take': {
    action: 'custody.take',
    self: true,
    params: false,
    selfFailures: [...FACTOR_FAILURES, 'TOKEN_IN_CUSTODY'],
  },
  'custody.settle': {
    action: 'custody.settle',
    self: true,
    params: false,
    selfFailures: [...FACTOR_FAILURES, 'CUSTODY_HALF_CHANGED'],
  },
  'proposals.list': { action: 'proposal.list', self: false, params: false },
  // A proposal reaching for another token's keys, or for what the token cannot do, is recorded by the quorum
  // service, whoever calls it.
  'proposals.create': {
    action: 'proposal.create',
    self: true,
    params: false,
    selfFailures: [...FACTOR_FAILURES, 'KEY_WRONG_TOKEN', 'TOKEN_CAPABILITY_MISSING'],
  },
  'proposals.approve': {
    action: 'proposal.approve',
    self: true,
    params: false,
    selfFailures: [...FACTOR_FAILURES, 'SELF_APPROVAL', 'ALREADY_APPROVED', 'FINGERPRINT_MISMATCH', 'NOT_AUTHORIZED'],
  },
  'proposals.reject': { action: 'proposal.reject', self: true, params: false, selfFailures: FACTOR_FAILURES },
  'proposals.cancel': { action: 'proposal.cancel', self: true, params: false, selfFailures: FACTOR_FAILURES },
  'keys.list': { action: 'key.list', self: false, params: false },
  'keys.exportPublic': { action: 'key.export-public', self: false, params: true },
  'keys.emergency': { action: 'key.emergency', self: true, params: false, selfFailures: FACTOR_FAILURES },
  'backups.list': { action: 'backup.list', self: false, params: false },
  // A card is released to its holder (both factors) and recorded before it leaves; the card itself never is.
  'backups.card': { action: 'backup.card.release', self: true, params: false, selfFailures: FACTOR_FAILURES },
  'backups.forgetCards': { action: 'backup.cards.forget', self: false, params: true },
  'backups.exportFile': { action: 'backup.export', self: true, params: true },
  // The import records itself, refusals included (the same entries as `custos backup import`); a cancelled dialog
  // changes nothing.
  'backups.importFile': { action: 'backup.import', self: true, params: false, selfFailures: IMPORT_FAILURES },
  'backups.enterShare': { action: 'backup.share-enter', self: true, params: false, selfFailures: SHARE_FAILURES },
  'backups.checkShare': {
    action: 'backup.share-check',
    self: true,
    params: false,
    selfFailures: [...SHARE_FAILURES, 'BACKUP_NOT_FOUND'],
  },
  'reports.list': { action: 'report.list', self: false, params: false },
  'reports.create': { action: 'report.create', self: true, params: true },
  'reports.witness': { action: 'ceremony.witness', self: true, params: true },
  'compliance.view': { action: 'compliance.view', self: false, params: true },
  'compliance.controls': { action: 'compliance.controls', self: false, params: false },
  'compliance.practiceStatement': { action: 'compliance.practice-statement', self: false, params: false },
  'compliance.recordValidation': {
    action: 'compliance.validation.record',
    self: true,
    params: false,
    selfFailures: FACTOR_FAILURES,
  },
  'compliance.policyReviewed': {
    action: 'compliance.policy-review',
    self: true,
    params: false,
    selfFailures: FACTOR_FAILURES,
  },
  'audit.status': { action: 'audit.status', self: false, params: false },
  'audit.checkpoint': { action: 'audit.checkpoint', self: true, params: false },
  // Scrolling fetches many pages: only the first page of a query (a search) is recorded.
  'audit.page': { action: 'audit.search', self: false, params: true },
  'audit.entry': { action: 'audit.read', self: false, params: true },
  'audit.verify': { action: 'audit.verify', self: true, params: false },
  // The export records its request first and then its failure, if any, itself.
  'audit.export': { action: 'audit.export', self: true, params: true, selfFailures: 'all' },
  'audit.repairTree': { action: 'audit.tree.repair', self: true, params: false, selfFailures: 'all' },
  'audit.publicKey': { action: 'audit.key.export', self: false, params: false },
  'audit.proof': { action: 'audit.proof', self: false, params: true },
  'audit.consistency': { action: 'audit.consistency', self: false, params: true },
  // The copy's path is recorded with the decision, refusals included.
  'audit.anchorCopy': { action: 'audit.anchor.copy', self: true, params: true, selfFailures: 'all' },
};

/**
 * The privileged core: everything Custos can do, with no Electron in it. The desktop shell, the
 * CLI and the tests all drive this same object.
 */
/** A proposal as the core reads it; the router parses it against the catalogue's schema before it crosses. */
const wire = (proposal: StoredProposal) => proposal as unknown as ProposalView;

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
  readonly backups: BackupService;
  readonly reports: ReportService;
  readonly compliance: ComplianceService;
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
    });
    this.keys = new KeyInventory(store, this.audit, clock);
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
    });
    this.quorum = new QuorumService({
      store,
      audit: this.audit,
      custodians: this.custodians,
      custody: this.custody,
      module: () => this.tokens.ready(),
      operations: quorumOperations(store, clock, this.keys),
      checks: quorumChecks(store, clock, this.keys),
      needs: {
        ...quorumNeeds(store, clock, this.keys),
        'key.backup': () => BACKUP_NEEDS,
        'key.restore': (p) => this.backups.restoreNeeds(p),
      },
      ceremonies: {
        'custody.redeal': turnover(this.custody),
        'key.backup': this.backups.backupCeremony(),
        'key.restore': this.backups.restoreCeremony(),
      },
      reconcilers: {
        ...quorumReconcilers(store, clock, this.keys),
        'key.backup': this.backups.reconcileBackup(),
        'key.restore': reconcileRestore({
          audit: this.audit,
          keys: this.keys,
          manifest: (setId) => this.backups.manifest(setId),
        }),
      },
      params: ACTION_PARAMS,
      clock,
    });
    this.reports = new ReportService({
      store,
      audit: this.audit,
      custodians: this.custodians,
      custody: this.custody,
      keys: this.keys,
      quorum: this.quorum,
      clock,
      token: (ref) => this.tokenFacts(ref),
    });
    this.compliance = new ComplianceService({
      store,
      audit: this.audit,
      settings: this.settings,
      keys: this.keys,
      custody: this.custody,
      custodians: this.custodians,
      backups: this.backups,
      clock,
      modules: () => {
        const status = this.tokens.status();
        const found = [
          ...(status.state === 'ready' ? [status.module] : []),
          ...[this.audit.moduleInfo()].filter((m) => m !== null),
        ];
        return [...new Map(found.map((m) => [m.path, m])).values()];
      },
    });
    this.router = new Router(this.handlers(), log, (report) => this.recordRequest(report));
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
    try {
      const sealed = this.custodians.sealUnsignedOnce();
      if (sealed > 0) log.warn('signed the security state of custodians enrolled before it was signed', { sealed });
    } catch (error) {
      log.warn('could not sign the custodians’ security state yet; will try at the next start', {
        code: isCustosError(error) ? error.code : 'INTERNAL',
      });
    }
    try {
      const sealed = this.keys.sealUnsigned() + this.custody.sealUnsignedOnce();
      if (sealed > 0)
        log.warn('signed keys, destruction schedules and custody records from before they were signed', { sealed });
    } catch (error) {
      log.warn('could not sign the key and custody records yet; will try at the next start', {
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
    const store = Store.open(options.dataDir, options.nativeBinding ? { nativeBinding: options.nativeBinding } : {});
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
    this.quorum.forgetAll();
    this.backups.forgetAll();
    this.tokens.close();
    this.audit.close();
    this.host.closeAll();
    this.store.close();
  }

  private handlers(): Handlers {
    return {
      'app.snapshot': () => this.snapshot(),
      'app.adoptCopy': () => {
        const adopted = this.audit.adoptCopy();
        return adopted ? { adopted: true, ...adopted, installation: this.audit.origin } : { adopted: false };
      },
      'tokens.status': () => this.tokens.refresh(),
      'tokens.mechanisms': (ref) => this.tokens.mechanisms(ref),
      'tokens.select': (ref) => this.tokens.select(ref),
      'settings.setModule': async ({ source, officer }) => {
        const by = await this.proveOfficer(officer, 'choose the token module');
        return this.tokens.setModule(source === 'built-in' ? null : await this.pickModulePath(), by);
      },
      'custodians.list': () => this.custodians.list(),
      'custodians.enrolBegin': (request) => this.custodians.beginEnrolment(request),
      'custodians.enrolConfirm': ({ enrolmentId, code }) => this.custodians.confirmEnrolment(enrolmentId, code),
      'custodians.enrolCancel': ({ enrolmentId }) => {
        this.custodians.cancelEnrolment(enrolmentId);
        return { cancelled: true as const };
      },
      'custodians.check': async ({ custodianId, passphrase, code }) => {
        (await this.custodians.verifyFactors(custodianId, passphrase, code, 'self-check')).fill(0);
        return { ok: true as const };
      },
      'custodians.unlock': ({ custodianId, officerId, passphrase, code }) =>
        this.custodians.unlock(custodianId, officerId, passphrase, code),
      'custody.list': () => this.custodyViews(),
      'custody.take': async (request) => {
        const record = await this.custody.take({
          token: request.token,
          threshold: request.threshold,
          holders: request.holders,
          ...(request.currentSoPin ? { currentSoPin: request.currentSoPin } : {}),
          ...(request.label ? { label: request.label } : {}),
          ...(request.pinAlphabet ? { pinAlphabet: request.pinAlphabet } : {}),
        });
        this.tokens.refresh();
        return this.custodyViews().find((c) => c.id === record.id)!;
      },
      'custody.settle': async ({ custodyId, holders }) => {
        const { outcome } = await this.custody.settle(custodyId, holders);
        return { outcome, custody: this.custodyViews().find((c) => c.id === custodyId)! };
      },
      'proposals.list': () => this.quorum.list().map(wire),
      'proposals.create': async ({ custodyId, action, params, requester }) => {
        this.quorum.mayAct(requester.custodianId, 'propose');
        await this.proveFactors(requester, 'propose');
        // A new key's CKA_ID is chosen now and bound into what the approvers approve, so a crash
        // mid-generation can be reconciled by looking for exactly that ID in the token.
        const bound = action === 'key.generate' ? { ...params, ckaId: randomBytes(16).toString('hex') } : params;
        return wire(this.quorum.propose({ custodyId, action, params: bound, requestedBy: requester.custodianId }));
      },
      'proposals.approve': async ({ proposalId, fingerprint, approver }) =>
        wire(await this.quorum.approve({ proposalId, fingerprint, ...approver })),
      'proposals.reject': async ({ proposalId, by }) => {
        this.quorum.mayAct(by.custodianId, 'reject');
        await this.proveFactors(by, 'reject');
        return wire(this.quorum.reject(proposalId, by.custodianId));
      },
      'proposals.cancel': async ({ proposalId, by }) => {
        await this.proveFactors(by, 'cancel');
        return wire(this.quorum.cancel(proposalId, by.custodianId));
      },
      'keys.list': () => this.keys.list(),
      'keys.exportPublic': ({ keyId, format, token }) => {
        if (token) this.keys.checkToken(keyId, token);
        return { keyId, format, text: this.keys.exportPublic(keyId, format) };
      },
      'keys.emergency': async ({ keyId, transition, token, officer }) => {
        // Refused before the officer's factors are tried: an officer at one token cannot reach another's keys.
        this.keys.checkToken(keyId, token);
        const actor = await this.proveOfficer(officer, `key ${transition}`);
        return this.keys.transition(keyId, transition, 'security-officer', actor);
      },
      'backups.list': () => this.backups.list(),
      'backups.card': async ({ setId, holder }) => {
        const card = await this.backups.releaseCard(setId, holder);
        return {
          ...card,
          qrSvg: await QRCode.toString(card.qr, { type: 'svg', errorCorrectionLevel: 'M', margin: 4 }),
        };
      },
      'backups.forgetCards': ({ setId }) => {
        this.backups.forgetCards(setId);
        return { forgotten: true as const };
      },
      'backups.exportFile': ({ setId }) => {
        const fallback = join(this.options.dataDir, 'backups', `custos-backup-${setId}.json`);
        const { path } = destination(this.options.chooseDestination, 'backup-file', fallback);
        const file = this.backups.exportFile(setId);
        // Wrapped keys and their manifest: readable by the owner only, like everything in the data directory.
        mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
        writeFileAtomic(path, file, 0o600);
        const made = this.backups.list().find((b) => b.setId === setId);
        return { path, auditKey: made?.madeBy.auditKey ?? null };
      },
      'backups.importFile': ({ expectAuditKey }) =>
        importPickedBackup(this.backups, this.options.pickBackupFile, expectAuditKey),
      'backups.enterShare': async ({ proposalId, text }) => wire(await this.backups.enterShare(proposalId, text)),
      'backups.checkShare': ({ text }) => this.backups.checkShare(text),
      'reports.list': () => this.reports.list(),
      'reports.create': async (request) => {
        const chosen = this.options.chooseDestination?.('report-folder') ?? null;
        // Checked before the report is made, so a refused folder leaves no signed report behind.
        if (chosen && !chosen.replace) refuseExistingReport(chosen.path);
        const summary = this.reports.create(
          'compliance' in request ? { compliance: this.complianceSnapshot(request.compliance.asOf) } : request,
        );
        const dir = chosen?.path ?? join(this.options.dataDir, 'reports', summary.id);
        const written = await this.reports.exportTo(summary.id, dir, chosen?.replace ?? false);
        return { ...summary, dir: written.dir };
      },
      'reports.witness': ({ ceremonyId, name, role }) => this.reports.witness(ceremonyId, name, role),
      'compliance.view': ({ asOf }) => this.compliance.view(asOf),
      'compliance.controls': () => this.compliance.controls(),
      'compliance.practiceStatement': () => ({ markdown: this.compliance.practiceStatement() }),
      'compliance.recordValidation': async ({ officer, ...record }) => {
        this.compliance.refuseSoftwareModule(record.modulePath);
        return this.compliance.recordValidation(record, await this.proveOfficer(officer, 'record a module validation'));
      },
      'compliance.policyReviewed': async ({ officer }) =>
        this.compliance.recordPolicyReview(await this.proveOfficer(officer, 'record the policy review')),
      'audit.status': () => this.audit.status(),
      'audit.checkpoint': () => this.checkpoint('on demand'),
      'audit.page': ({ filter, offset, limit }) => this.browser().page(filter, offset, limit),
      'audit.entry': ({ seq }) => this.browser().entry(seq),
      ...auditRequests({
        audit: this.audit,
        actor: this.actor,
        dataDir: this.options.dataDir,
        clock: this.clock,
        chooseDestination: this.options.chooseDestination,
        verify: (options) => this.verifyAudit(options),
        exportTo: (target, format, trail) => this.exportAudit(target, format, trail),
        repairTree: () => this.repairAuditTree(),
        onVerifyProgress: (checked, total) =>
          this.events.emit('audit.verifyProgress', { checked, total: total ?? checked }),
      }),
    };
  }

  /** The library the officer chose in main; nothing is loaded when they chose none. */
  private async pickModulePath(): Promise<string> {
    const picked = this.options.pickModule ? await this.options.pickModule() : null;
    if (picked === null) {
      throw new CustosError(
        'MODULE_NOT_CHOSEN',
        'No PKCS#11 library was chosen, so the token module was not changed.',
        [
          this.options.pickModule
            ? 'Choose the vendor’s library file in the dialog.'
            : 'This Custos cannot ask for a library here: use `custos module set PATH` with the officer’s factors.',
        ],
      );
    }
    const path = ModulePath.safeParse(picked);
    if (!path.success)
      throw new CustosError('MODULE_UNSAFE', 'The chosen library path is not a usable file path.', [
        'Choose the library file again.',
      ]);
    return path.data;
  }

  /** A security officer proving both factors; returns them as the actor to record. */
  private async proveOfficer(
    proof: { custodianId: string; passphrase: string; code: string },
    purpose: string,
  ): Promise<AuditActor> {
    const who = this.custodians.get(proof.custodianId);
    if (!who.roles.includes('security-officer'))
      throw new CustosError('NOT_AUTHORIZED', `${who.name} is not a security officer.`);
    await this.proveFactors(proof, purpose);
    return { type: 'custodian', id: who.id, role: 'security-officer' };
  }

  private async proveFactors(
    proof: { custodianId: string; passphrase: string; code: string },
    purpose: string,
  ): Promise<void> {
    (await this.custodians.verifyFactors(proof.custodianId, proof.passphrase, proof.code, purpose)).fill(0);
  }

  /** The findings and control mapping as of a date, for a signed compliance report. */
  complianceSnapshot(asOf?: string) {
    const view = this.compliance.view(asOf);
    return { asOf: view.asOf, findings: view.findings, controls: this.compliance.controls(view.findings) };
  }

  /** What a report says about a token: model, maker, software or not, and the validation recorded for its module. */
  private tokenFacts(ref: { serial: string; label: string }): Record<string, unknown> {
    const status = this.tokens.status();
    return tokenFacts(
      status,
      ref,
      status.state === 'ready' ? this.settings.get('compliance.validations')[status.module.path] : undefined,
    );
  }

  private custodyViews() {
    const names = new Map(this.custodians.list().map((c) => [c.id, c.name]));
    return this.custody.list().map(({ holderIds, ...record }) => ({
      ...record,
      holders: holderIds.map((id) => ({ id, name: names.get(id) ?? id })).sort((a, b) => a.name.localeCompare(b.name)),
    }));
  }

  private browser(): AuditBrowser {
    const key = this.audit.noteKey();
    if (!key) throw new CustosError('AUDIT_UNAVAILABLE', 'There is no audit log yet.');
    return new AuditBrowser(this.store, this.audit.log(), key);
  }

  /** Signs a checkpoint, recording the request first so the checkpoint covers it. */
  checkpoint(reason: string) {
    const log = this.audit.log();
    log.record({ actor: this.actor, action: 'audit.checkpoint', params: { reason } });
    const { treeSize, note, createdAt } = this.audit.checkpoint(reason);
    return { treeSize, note, createdAt, reason };
  }

  /** Rebuilds the stored Merkle tree from the entries (custos audit repair-tree); the repair is an entry itself. */
  repairAuditTree(): { size: number; rewritten: number; root: string } {
    const log = this.audit.log();
    try {
      return log.repairTree(this.actor);
    } catch (error) {
      log.record({
        actor: this.actor,
        action: 'audit.tree.repair',
        result: { status: 'failed', code: isCustosError(error) ? error.code : 'INTERNAL' },
      });
      throw error;
    }
  }

  /** Verifies the live log (optionally against checkpoints kept elsewhere) and records that it did. */
  async verifyAudit(options: VerifyOptions = {}): Promise<AuditVerdict> {
    const proven = this.audit.provenKey();
    const finding = this.audit.finding();
    const verdict = await verifyStoredLog(this.store, {
      ...options,
      ...(options.key ? {} : proven ? { key: proven, keySource: 'token' as const } : {}),
      // The checkpoint kept in the audit token is trusted like one kept by an auditor.
      trustedCheckpoints: [...(options.trustedCheckpoints ?? []), ...this.audit.anchors()],
      ...(finding
        ? {
            findings: [
              {
                kind: finding.code === 'AUDIT_ROLLBACK' ? ('rolled-back' as const) : ('key-mismatch' as const),
                seq: null,
                message: `${finding.code}: ${finding.message}`,
              },
            ],
          }
        : {}),
    });
    await this.audit.tryRecord({
      actor: this.actor,
      action: 'audit.verify',
      params: { trusted: options.trustedCheckpoints?.length ?? 0, size: verdict.entries, root: verdict.root },
      result: verdict.ok ? { status: 'ok' } : { status: 'failed', code: 'AUDIT_VERIFY_FAILED' },
    });
    return verdict;
  }

  /**
   * Exports the log: a verifiable bundle (folder), or CSV / CEF for spreadsheets and SIEMs. The
   * export is recorded and a checkpoint is signed first, so the export covers its own entry.
   */
  exportAudit(
    target: string,
    format: 'bundle' | 'csv' | 'cef',
    trail: Trail,
  ): { path: string; entries: number; checkpoint: CheckpointInfo } {
    const log = this.audit.log();
    log.record({ actor: this.actor, action: 'audit.export', params: { format, trail } });
    try {
      // Inside the try: a checkpoint refused (an unverifiable tail, a corrupt tree) is recorded too.
      const closing = this.audit.checkpoint(`export (${format})`);
      const checkpoint = {
        treeSize: closing.treeSize,
        note: closing.note,
        createdAt: closing.createdAt,
        reason: closing.reason,
      };
      if (format === 'bundle') {
        const summary = writeBundle(log, this.audit.noteKey()!, target, closing);
        return { path: target, entries: summary.entries, checkpoint };
      }
      const entries = writeExport(target, log.entries(), format, trail, this.options.version);
      return { path: target, entries, checkpoint };
    } catch (error) {
      // The request is on record already; its failure must be too.
      const code = isCustosError(error)
        ? error.code
        : (error as { code?: unknown }).code === 'ENOSPC'
          ? 'STORE_DISK_FULL'
          : 'INTERNAL';
      log.record({
        actor: this.actor,
        action: 'audit.export',
        params: { format, trail },
        result: { status: 'failed', code },
      });
      if (isCustosError(error)) throw error;
      throw new CustosError(
        code,
        `The export to ${target} failed; nothing usable was written there.`,
        ['Check that the folder exists, is writable and has space, then export again.'],
        { cause: error },
      );
    }
  }

  private async recordRequest(report: DispatchReport): Promise<void> {
    const plan = report.channel ? auditPlan[report.channel] : null;
    if (plan?.self && report.outcome === 'ok') return;
    if (report.handled && plan?.selfFailures === 'all') return;
    if (report.outcome === 'failed' && report.code && plan?.selfFailures?.includes(report.code)) return;
    // The input may be anything the renderer sent (null, 5 MB): read it only through its schema.
    const input: unknown = report.input;
    if (report.channel === 'audit.page' && report.outcome === 'ok' && (input as { offset?: unknown }).offset !== 0)
      return;
    const seq = AuditSeq.safeParse(input);
    const object =
      report.channel === null
        ? { type: 'channel', id: report.requested || '(none)' }
        : report.channel === 'tokens.select' || report.channel === 'tokens.mechanisms'
          ? tokenObjectOf(input)
          : report.channel === 'audit.entry' && seq.success
            ? { type: 'audit-entry', id: String(seq.data.seq) }
            : null;
    await this.audit.tryRecord({
      actor: this.actor,
      action: plan?.action ?? 'ipc.request',
      object,
      ...(plan?.params && report.outcome !== 'refused' ? { params: report.input } : {}),
      result: report.outcome === 'ok' ? { status: 'ok' } : { status: report.outcome, code: report.code ?? 'INTERNAL' },
    });
  }
}

/** The token a request named, when it is a well-formed reference; an oversized one is not recorded. */
function tokenObjectOf(input: unknown) {
  const ref = TokenRef.safeParse(input);
  return ref.success ? tokenObject(ref.data) : null;
}
const AuditSeq = z.object({ seq: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER) });

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
