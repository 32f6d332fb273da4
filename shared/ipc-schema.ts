import { z } from 'zod';
import {
  BackupImportRequest,
  BackupImportResult,
  BackupSummary,
  CardDestroyed,
  CardRelease,
  CardsRequest,
  PrintableCard,
  ShareCheck,
  ShareCheckResult,
  ShareEntry,
} from './backups';
import {
  ComplianceRequest,
  ComplianceView,
  PolicyReviewRequest,
  PracticeStatementFiles,
  ValidationRequest,
} from './compliance';
import {
  AbortRequest,
  LintReport,
  LintRequest,
  PlannedCeremony,
  RehearsalPolicy,
  RehearsalPolicyRequest,
  RunSummary,
  RunView,
  StartRequest,
  StepRequest,
  WithdrawPlanRequest,
  WitnessStepRequest,
} from './ceremony-script';
import { RehearsalCustody, RehearsalStandIns, RehearsalStart, RehearsalStatus } from './rehearsals';
import { ControlStatus, ReportRequest, ReportSummary, WitnessRequest } from './reports';
import { CertificateExport, CertificateRecord, CertificateText, CrlRequest, CrlText } from './pki';
import {
  AnchorCopy,
  AnchorCopyRequest,
  AuditEntryDetail,
  AuditExport,
  AuditExportRequest,
  AuditPage,
  AuditPublicKey,
  ConsistencyProof,
  ConsistencyRequest,
  InclusionProof,
  InclusionRequest,
  TreeRepair,
  VerifyRequest,
  AuditPageRequest,
  AuditStatus,
  AuditVerdict,
  CheckpointInfo,
  VerifyProgress,
} from './audit';
import {
  CustodianSummary,
  EnrolmentChallenge,
  EnrolmentConfirmation,
  EnrolmentRequest,
  FactorCheck,
  Retirement,
  Unlock,
} from './custodians';
import type { Envelope } from './errors';
import { EmergencyResult, KeyRecord, PublicKeyExport } from './keys';
import {
  ApprovalRequest,
  CustodyRequest,
  CustodyView,
  EmergencyRequest,
  FactorProof,
  ProposalCancellation,
  ProposalRejection,
  ProposalRequest,
  ProposalView,
  SettleRequest,
} from './quorum';
import { ModuleStatus, TokenMechanisms, TokenRef } from './tokens';
import {
  ReceivePackageRequest,
  TransportPackageSummary,
  TransportRecipient,
  TrustRecipientRequest,
  WritePackageRequest,
} from './transport';

/**
 * Every channel between the renderer and the main process, declared once (Mullvad style).
 * Main validates each input with these schemas and parses each result through them, so a
 * field that is not declared here (a PIN, a share, key bytes) cannot reach the renderer.
 */
function invoke<I extends z.ZodType, R extends z.ZodType>(input: I, result: R) {
  return { input, result } as const;
}
function notify<P extends z.ZodType>(payload: P) {
  return { payload } as const;
}

const Empty = z.strictObject({});

export const AppSnapshot = z.object({
  version: z.string(),
  dataDir: z.string(),
  production: z.boolean(),
  tokens: ModuleStatus,
  selectedToken: TokenRef.nullable(),
  audit: AuditStatus,
});
export type AppSnapshot = z.infer<typeof AppSnapshot>;

/**
 * Choosing the PKCS#11 library is a security officer's decision (both factors). The renderer
 * never names a path: main asks for it (a file dialog in the app, --module in the CLI).
 */
export const ModuleChoice = z.strictObject({
  /** "picked": the library main asks the officer to choose; "built-in": the embedded SoftHSM2. */
  source: z.enum(['picked', 'built-in']),
  officer: FactorProof,
});
export type ModuleChoice = z.infer<typeof ModuleChoice>;

export const ipcSchema = {
  app: {
    snapshot: invoke(Empty, AppSnapshot),
    /** This copy of a data directory is its installation from now on (refused as DATA_DIR_COPIED until then). */
    adoptCopy: invoke(
      Empty,
      z.discriminatedUnion('adopted', [
        z.object({ adopted: z.literal(true), from: z.string(), to: z.string(), installation: z.string() }),
        z.object({ adopted: z.literal(false) }),
      ]),
    ),
  },
  tokens: {
    status: invoke(Empty, ModuleStatus),
    mechanisms: invoke(TokenRef.strict(), TokenMechanisms),
    select: invoke(TokenRef.strict(), TokenRef),
  },
  settings: {
    setModule: invoke(ModuleChoice, ModuleStatus),
  },
  custodians: {
    list: invoke(Empty, z.array(CustodianSummary)),
    enrolBegin: invoke(EnrolmentRequest, EnrolmentChallenge),
    enrolConfirm: invoke(EnrolmentConfirmation, CustodianSummary),
    enrolCancel: invoke(z.strictObject({ enrolmentId: z.string().max(64) }), z.object({ cancelled: z.literal(true) })),
    check: invoke(FactorCheck, z.object({ ok: z.literal(true) })),
    unlock: invoke(Unlock, CustodianSummary),
    retire: invoke(Retirement, CustodianSummary),
  },
  custody: {
    list: invoke(Empty, z.array(CustodyView)),
    take: invoke(CustodyRequest, CustodyView),
    settle: invoke(SettleRequest, z.object({ outcome: z.enum(['activated', 'set-aside']), custody: CustodyView })),
  },
  proposals: {
    list: invoke(Empty, z.array(ProposalView)),
    create: invoke(ProposalRequest, ProposalView),
    approve: invoke(ApprovalRequest, ProposalView),
    reject: invoke(ProposalRejection, ProposalView),
    cancel: invoke(ProposalCancellation, ProposalView),
  },
  keys: {
    list: invoke(Empty, z.array(KeyRecord)),
    exportPublic: invoke(PublicKeyExport, z.object({ keyId: z.string(), format: z.string(), text: z.string() })),
    /** A compromise also signs and writes its revocation notice (under the data directory's reports). */
    emergency: invoke(EmergencyRequest, EmergencyResult),
  },
  certificates: {
    list: invoke(Empty, z.array(CertificateRecord)),
    /** A certificate Custos issued, checked under its issuer's key: PEM text, or DER as base64. */
    export: invoke(CertificateExport, CertificateText),
    /** A CA key's latest revocation list (PEM), checked under the key. */
    crl: invoke(CrlRequest, CrlText),
  },
  backups: {
    list: invoke(Empty, z.array(BackupSummary)),
    card: invoke(CardRelease, PrintableCard),
    forgetCards: invoke(CardsRequest, z.object({ forgotten: z.literal(true) })),
    /**
     * Writes the signed backup file (wrapped keys: useless without t cards) under the data directory, or where main
     * is told (the CLI: --out); with the fingerprint of the audit key that made it, to print beside it.
     */
    exportFile: invoke(CardsRequest, z.object({ path: z.string(), auditKey: z.string().nullable() })),
    /** Stores a backup file made here or on a lost installation; main asks for the file (never a renderer path). */
    importFile: invoke(BackupImportRequest, BackupImportResult),
    enterShare: invoke(ShareEntry, ProposalView),
    checkShare: invoke(ShareCheck, ShareCheckResult),
    /** A holder of a retired set's card records, with both factors, that it is destroyed. */
    cardDestroyed: invoke(CardDestroyed, BackupSummary),
  },
  transport: {
    recipients: invoke(Empty, z.array(TransportRecipient)),
    /** A security officer, with both factors, records a recipient public key as trusted for key transport. */
    trustRecipient: invoke(TrustRecipientRequest, TransportRecipient),
    packages: invoke(Empty, z.array(TransportPackageSummary)),
    /** A package received for one of this installation's keys: checked and kept; an import proposal binds its hash. */
    receive: invoke(ReceivePackageRequest, TransportPackageSummary),
    /**
     * Writes a package (package.json, and for one made here package.sig and audit-key.pem) under the data directory,
     * or where main is told (the CLI: --out).
     */
    writePackage: invoke(WritePackageRequest, z.object({ dir: z.string(), sha256: z.string() })),
  },
  ceremonies: {
    /** Checks a ceremony script against this installation and gives each quorum step's fingerprint, for printing. */
    lint: invoke(LintRequest, LintReport),
    runs: invoke(Empty, z.array(RunSummary)),
    run: invoke(z.strictObject({ runId: z.string().regex(/^[0-9a-f]{16}$/) }), RunView),
    /** The administrator starts a run of a script that lints clean, inside its window. */
    start: invoke(StartRequest, RunView),
    /** The run's current step, done by the person the script names for it. */
    perform: invoke(StepRequest, RunView),
    witness: invoke(WitnessStepRequest, RunView),
    /**
     * Finishes a run whose every step is done but whose report was not made (it was refused, the disk was full, Custos
     * stopped in between): the signed report, then the run's finish. Any other run is refused as it stands.
     */
    finish: invoke(z.strictObject({ runId: z.string().regex(/^[0-9a-f]{16}$/) }), RunView),
    abort: invoke(AbortRequest, RunView),
    /** A security officer requires (or no longer requires) a passed rehearsal of the same script before a real run. */
    setPolicy: invoke(RehearsalPolicyRequest, RehearsalPolicy),
    /** Keeps a script that lints clean as planned, until a run of it starts or it is withdrawn. */
    plan: invoke(LintRequest, PlannedCeremony),
    planned: invoke(Empty, z.array(PlannedCeremony)),
    withdrawPlan: invoke(WithdrawPlanRequest, z.array(PlannedCeremony)),
  },
  rehearsals: {
    /** Whether a rehearsal is active; main answers this itself, never the scratch installation. */
    status: invoke(Empty, RehearsalStatus),
    /** Opens a scratch installation for a script that lints clean; from then on requests go there. */
    start: invoke(RehearsalStart, RehearsalStatus),
    /** The real custody's holders take the scratch token (both factors each), for a script without a custody step. */
    takeCustody: invoke(RehearsalCustody, RehearsalStatus),
    /** Once the token is taken, the stand-ins for the script's real keys, proposed by their proposer (both factors). */
    proposeStandIns: invoke(RehearsalStandIns, RehearsalStatus),
    /** Ends the rehearsal (passed if its run finished), records it here and gives the real installation back. */
    end: invoke(Empty, RehearsalStatus),
  },
  reports: {
    list: invoke(Empty, z.array(ReportSummary)),
    /**
     * Signs a report and writes report.json, report.sig, audit-key.pem and report.pdf under the data directory, or in
     * the folder main is told (the CLI: --out, replaced only with --force).
     */
    create: invoke(ReportRequest, ReportSummary.extend({ dir: z.string() })),
    witness: invoke(WitnessRequest, z.object({ ceremonyId: z.string(), name: z.string(), role: z.string() })),
  },
  compliance: {
    view: invoke(ComplianceRequest, ComplianceView),
    controls: invoke(Empty, z.array(ControlStatus)),
    practiceStatement: invoke(Empty, z.object({ markdown: z.string() })),
    /**
     * Writes the draft as practice-statement.md and practice-statement.pdf under the data directory, or in the folder
     * main is told (the CLI: --out, replaced only with --force).
     */
    writePracticeStatement: invoke(Empty, PracticeStatementFiles),
    recordValidation: invoke(ValidationRequest, ComplianceView),
    policyReviewed: invoke(PolicyReviewRequest, ComplianceView),
  },
  audit: {
    status: invoke(Empty, AuditStatus),
    checkpoint: invoke(Empty, CheckpointInfo),
    page: invoke(AuditPageRequest, AuditPage),
    entry: invoke(z.strictObject({ seq: z.number().int().nonnegative() }), AuditEntryDetail),
    verify: invoke(VerifyRequest, AuditVerdict),
    /** A verifiable bundle (folder), or CSV / CEF, written where main is told (the CLI: --out). */
    export: invoke(AuditExportRequest, AuditExport),
    /** Rebuilds the stored Merkle tree from the entries; the repair is an entry itself. */
    repairTree: invoke(Empty, TreeRepair),
    publicKey: invoke(Empty, AuditPublicKey),
    proof: invoke(InclusionRequest, InclusionProof),
    consistency: invoke(ConsistencyRequest, ConsistencyProof),
    anchorCopy: invoke(AnchorCopyRequest, AnchorCopy),
  },
} as const;

export const eventSchema = {
  tokens: {
    changed: notify(ModuleStatus),
  },
  audit: {
    verifyProgress: notify(VerifyProgress),
  },
  rehearsals: {
    /** A rehearsal started or ended (also when its process stopped on its own): the screens reload. */
    changed: notify(RehearsalStatus),
  },
} as const;

type Schema = typeof ipcSchema;
type Events = typeof eventSchema;
export type Domain = keyof Schema;
export type ChannelName = { [D in Domain]: `${D}.${keyof Schema[D] & string}` }[Domain];
export type EventName = { [D in keyof Events]: `${D}.${keyof Events[D] & string}` }[keyof Events];

type Lookup<T, N> = N extends `${infer D}.${infer C}`
  ? D extends keyof T
    ? C extends keyof T[D]
      ? T[D][C]
      : never
    : never
  : never;
export type Channel<N extends ChannelName> = Lookup<Schema, N>;
export type InputOf<N extends ChannelName> = z.input<Channel<N>['input']>;
export type ParsedInputOf<N extends ChannelName> = z.output<Channel<N>['input']>;
export type ResultOf<N extends ChannelName> = z.output<Channel<N>['result']>;
export type PayloadOf<E extends EventName> = z.output<Lookup<Events, E>['payload']>;

function names<T extends Record<string, Record<string, unknown>>>(schema: T): string[] {
  return Object.entries(schema).flatMap(([domain, group]) => Object.keys(group).map((name) => `${domain}.${name}`));
}
export const channelNames = names(ipcSchema) as ChannelName[];
export const eventNames = names(eventSchema) as EventName[];

export function isChannelName(name: unknown): name is ChannelName {
  return typeof name === 'string' && (channelNames as string[]).includes(name);
}

export function channel<N extends ChannelName>(name: N): Channel<N> {
  const [domain, call] = name.split('.') as [Domain, string];
  return (ipcSchema[domain] as Record<string, unknown>)[call] as Channel<N>;
}

export function eventPayload<E extends EventName>(name: E): Lookup<Events, E>['payload'] {
  const [domain, event] = name.split('.') as [keyof Events, string];
  return (eventSchema[domain] as Record<string, { payload: z.ZodType }>)[event]!.payload as Lookup<
    Events,
    E
  >['payload'];
}

/** What the preload exposes as `window.custos`: one function per channel, nothing generic. */
export type CustosBridge = {
  [D in Domain]: {
    [C in keyof Schema[D]]: Schema[D][C] extends { input: infer I; result: infer R }
      ? I extends z.ZodType
        ? R extends z.ZodType
          ? (input: z.input<I>) => Promise<Envelope<z.output<R>>>
          : never
        : never
      : never;
  };
} & {
  /**
   * Whether the screens show a rehearsal: from then on every request is meant for it, and main refuses one that would
   * reach the real installation instead (its process stopped before the screens heard), never carrying it out.
   */
  expectRehearsal(on: boolean): void;
  on: {
    [D in keyof Events]: {
      [E in keyof Events[D]]: Events[D][E] extends { payload: infer P }
        ? P extends z.ZodType
          ? (listener: (payload: z.output<P>) => void) => () => void
          : never
        : never;
    };
  };
};

/** What the screens meant a request for, sent beside it: main only ever refuses more because of it. */
export interface RequestIntent {
  rehearsal: boolean;
}

/**
 * Builds the bridge object from a transport; the preload and the e2e harness both use it. It
 * refers to nothing outside itself, so the harness can run this very function inside the page.
 */
export function buildBridge(
  transport: {
    invoke(channel: ChannelName, input: unknown, intent: RequestIntent): Promise<unknown>;
    subscribe(event: EventName, listener: (payload: unknown) => void): () => void;
  },
  channels: readonly ChannelName[],
  events: readonly EventName[],
): CustosBridge {
  let rehearsal = false;
  const bridge: Record<string, unknown> = {
    on: {},
    expectRehearsal: (on: unknown) => {
      rehearsal = on === true;
    },
  };
  const on = bridge.on as Record<string, Record<string, unknown>>;
  for (const name of channels) {
    const [domain, call] = name.split('.') as [string, string];
    const group = (bridge[domain] ??= {}) as Record<string, unknown>;
    group[call] = (input: unknown) => transport.invoke(name, input, { rehearsal });
  }
  for (const name of events) {
    const [domain, event] = name.split('.') as [string, string];
    on[domain] ??= {};
    on[domain][event] = (listener: (payload: unknown) => void) => transport.subscribe(name, listener);
  }
  return bridge as unknown as CustosBridge;
}
