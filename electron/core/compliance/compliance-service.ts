import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, realpathSync } from 'node:fs';
import { basename, join } from 'node:path';
import { actionTitle, DESTRUCTION_WAIT_DAYS, PROPOSABLE_ACTIONS, type ActionName } from '../../../shared/actions';
import type { AuditActor } from '../../../shared/audit';
import type { ComplianceView, Finding, PracticeStatementFiles, ValidationRecord } from '../../../shared/compliance';
import type { ControlStatus } from '../../../shared/reports';
import type { Role } from '../../../shared/custodians';
import { Algorithm, KeyUsage } from '../../../shared/keys';
import type { ModuleInfo } from '../../../shared/tokens';
import { CHECKPOINT_EVERY, type AuditService } from '../audit/audit-service';
import { signedEntries, signedEntryAt } from '../audit/signed-entries';
import type { BackupService } from '../backup/backup-service';
import { LOCK_AFTER, THROTTLE_AFTER, type CustodianService } from '../custodians/custodian-service';
import type { CustodyService } from '../custody/custody-service';
import { ALGORITHM_POLICY, defaultCryptoperiodDays } from '../keys/algorithm-policy';
import { TRANSITIONS, type KeyInventory } from '../keys/key-inventory';
import { ACTION_POLICIES, DEFAULT_HOLD_MINUTES, DEFAULT_PROPOSAL_MINUTES } from '../quorum/quorum-service';
import type { Settings } from '../settings/settings';
import type { Store } from '../store/database';
import { sql } from '../store/sql';
import { CustosError, fileError, printable } from '../errors';
import { sha256Hex } from '../canonical-json';
import { closureOf } from '../quorum/proposal-closure';
import { recogniseSoftwareLibraryFile } from '../hsm/software-tokens';
import { renderMarkdownPdf } from '../reports/markdown-pdf';
import { writeFileAtomic } from '../secret-vault';
import { analyze, ANALYZER_LIMITS, CONTROLS, type ComplianceInputs } from './analyzer';
import { practiceStatement, type PracticeFacts } from './practice-statement';
import { recordedValidation, type RecordedValidation } from './recorded-validation';

/** The codes with which a list refuses a record a database writer changed or deleted. */
const TAMPERED_RECORDS: readonly string[] = [
  'KEY_TAMPERED',
  'DESTRUCTION_TAMPERED',
  'CUSTODY_TAMPERED',
  'CUSTODIAN_TAMPERED',
  'PROPOSAL_TAMPERED',
];

/**
 * Gathers what the analyzer needs from the database, the settings and the token module, and
 * maps it onto the controls auditors ask about. Dates come from the caller, so any day can be
 * examined ("as of").
 */
export class ComplianceService {
  constructor(
    private readonly options: {
      store: Store;
      audit: AuditService;
      settings: Settings;
      keys: KeyInventory;
      custody: CustodyService;
      custodians: CustodianService;
      backups: BackupService;
      /** The token module in use, when it loads; and the embedded module holding the audit key. */
      modules: () => ModuleInfo[];
      clock: () => Date;
      /** What a report says about a token in custody: kind, model, validation (reports/token-facts.ts). */
      token?: (ref: { serial: string; label: string }) => Record<string, unknown>;
      /** The Custos version, named in the practice statement. */
      version?: string;
      /** The trust-store audit's inputs (pki/): issued certificates, CRLs, certificate objects on the tokens. */
      certificates?: () => ComplianceInputs['certificates'];
      /** Rehearsals recorded here (ceremony/): who took part in one that passed. */
      rehearsals?: () => ComplianceInputs['rehearsals'];
    },
  ) {}

  /** `existedBy`: keys made after it are left out (as of a past day: the end of that day). */
  inputs(now: Date, existedBy: Date = now): ComplianceInputs {
    const { store, audit } = this.options;
    // From entries the audit key signed only: these clear findings, and a read answers even while the log is refused.
    const lastVerified =
      signedEntries(store, audit, { action: 'audit.verify', anyObject: true })
        .map((e) => e.time)
        .sort()
        .at(-1) ?? null;
    const until = existedBy.toISOString();
    const noticed = signedEntries(store, audit, { action: 'key.revocation-notice', objectPrefix: 'key:' })
      .filter((e) => e.time <= until && e.object?.type === 'key')
      .map((e) => e.object!.id);
    // A list a database writer changed (a row edited, put back or deleted) is refused where it is read, and recorded;
    // here it becomes a finding of its own, so the rest of the analysis still shows.
    const tampered: NonNullable<ComplianceInputs['tampered']> = [];
    const unlessTampered = <T>(subject: 'keys' | 'custody' | 'custodians', read: () => T[]): T[] => {
      try {
        return read();
      } catch (error) {
        if (!(error instanceof CustosError) || !TAMPERED_RECORDS.includes(error.code)) throw error;
        tampered.push({ subject, code: error.code, message: error.message });
        return [];
      }
    };
    unlessTampered('custodians', () => this.options.custodians.list());
    return {
      now,
      tampered,
      custodies: unlessTampered('custody', () => this.options.custody.list())
        .filter((c) => c.state === 'active')
        .map((c) => ({
          id: c.id,
          token: `${c.token.label} (${c.token.serial})`,
          threshold: c.threshold,
          holders: c.holders,
        })),
      pendingCustodies: store
        .all<{ id: string; token_serial: string; token_label: string; created_at: string }>(
          sql`SELECT id, token_serial, token_label, created_at FROM custody WHERE state = 'pending'`,
        )
        .map((p) => ({ id: p.id, token: `${p.token_label} (${p.token_serial})`, createdAt: p.created_at })),
      keys: unlessTampered('keys', () => this.options.keys.list())
        // As of a past day, only the keys that existed then (in the state they are in now).
        .filter((k) => new Date(k.createdAt) <= existedBy)
        .map(
          ({ id, label, algorithm, state, expiresAt, rotateBy, backupable, destructionNotBefore, partlyDestroyed }) => {
            return {
              id,
              label,
              algorithm,
              state,
              expiresAt,
              rotateBy,
              backupable,
              destructionNotBefore,
              partlyDestroyed,
            };
          },
        ),
      modules: this.options.modules().map((m) => ({
        path: m.path,
        description: `${m.manufacturer} ${m.libraryDescription}`.trim(),
        software: m.software,
        validation: this.validation(m.path) ?? null,
      })),
      lastAuditVerification: lastVerified,
      backups: this.options.backups.list().map((b) => ({
        setId: b.setId,
        keyIds: b.keys.map((k) => k.id),
        verifiedAt: b.verifiedAt,
        createdAt: b.createdAt,
        holders: b.holders.map((h) => ({ name: h.name, lastChecked: h.lastChecked })),
        retiredAt: b.retirement?.retiredAt ?? null,
        // Cards are released (and recorded) only where the set was made.
        cards: b.madeBy.here ? { released: b.holders.filter((h) => h.released).length, threshold: b.threshold } : null,
      })),
      policyReviewedAt: this.policyReviewedAt(),
      revocationNotices: [...new Set(noticed)],
      ...(this.options.certificates ? { certificates: this.options.certificates() } : {}),
      ...(this.options.rehearsals ? { rehearsals: this.options.rehearsals() } : {}),
    };
  }

  view(asOf?: string): ComplianceView {
    const now = asOf ? new Date(`${asOf}T12:00:00Z`) : this.options.clock();
    const inputs = this.inputs(now, asOf ? new Date(`${asOf}T23:59:59.999Z`) : now);
    const keysByState = countBy(inputs.keys.map((k) => k.state));
    return {
      asOf: now.toISOString(),
      findings: analyze(inputs),
      keysByState,
      expiries: inputs.keys
        .filter((k) => k.state !== 'destroyed')
        .map((k) => ({ id: k.id, label: k.label, expiresAt: k.expiresAt, state: k.state }))
        .sort((a, b) => a.expiresAt.localeCompare(b.expiresAt)),
      modules: inputs.modules.map((m) => ({
        path: m.path,
        description: m.description,
        validation: m.software
          ? `not counted as validated: software token (${m.software.product})`
          : m.validation
            ? `${m.validation.standard} certificate #${m.validation.certificate}, level ${m.validation.level}`
            : 'none recorded',
      })),
    };
  }

  /** The validation recorded for a module, as the signed audit entry that recorded it proves it (else refused). */
  validation(modulePath: string): RecordedValidation | undefined {
    const { store, audit, settings } = this.options;
    return recordedValidation(store, audit, settings, modulePath);
  }

  /** The findings and control mapping as of a date, for a signed compliance report. */
  snapshot(asOf?: string) {
    const view = this.view(asOf);
    return { asOf: view.asOf, findings: view.findings, controls: this.controls(view.findings) };
  }

  /**
   * A software token never counts as a validated HSM, so a FIPS certificate recorded for its library
   * would only mislead a reader of the settings: refused, before any officer's factors are spent.
   */
  refuseSoftwareModule(modulePath: string): void {
    const real = realPathOr(modulePath);
    const loaded = this.options.modules().find((m) => m.path === modulePath || realPathOr(m.path) === real);
    const product = loaded ? loaded.software?.product : recogniseSoftwareLibraryFile(basename(real));
    if (!product) return;
    const message = `${printable(modulePath)} is a software token (${product}), not a FIPS 140-3 validated HSM: not recorded.`;
    const remedy = 'Record the certificate of the HSM or smartcard module you use for production keys instead.';
    throw new CustosError('MODULE_IS_SOFTWARE', message, [remedy]);
  }

  recordValidation(record: ValidationRecord, by: AuditActor): ComplianceView {
    this.refuseSoftwareModule(record.modulePath);
    const validations = {
      ...this.options.settings.get('compliance.validations'),
      [record.modulePath]: { ...record, recordedAt: this.options.clock().toISOString() },
    };
    this.options.audit.record(
      {
        actor: by,
        action: 'compliance.validation.record',
        object: { type: 'module', id: record.modulePath },
        params: record,
      },
      () => this.options.settings.set('compliance.validations', validations),
    );
    return this.view();
  }

  recordPolicyReview(by: AuditActor): ComplianceView {
    const at = this.options.clock().toISOString();
    this.options.audit.record({ actor: by, action: 'compliance.policy-review', params: { at } });
    return this.view();
  }

  /** When the policy was last reviewed: the time of the latest review entry the audit key signed, not a saved date. */
  private policyReviewedAt(): string | null {
    const { store, audit } = this.options;
    for (const stored of store.all<{ entry: string; signature: Buffer }>(sql`
      SELECT entry, signature FROM audit_entries
      WHERE action = 'compliance.policy-review' AND result = 'ok' ORDER BY seq DESC`)) {
      const entry = JSON.parse(stored.entry) as { action: string; time: string; result: { status: string } };
      if (
        entry.action === 'compliance.policy-review' &&
        entry.result.status === 'ok' &&
        audit.verifyDocument(Buffer.from(stored.entry, 'utf8'), stored.signature)
      )
        return entry.time;
    }
    return null;
  }

  /**
   * Each control with the evidence this installation holds for it, every item counted from the
   * database and the token modules, and what is missing: the findings that bear on it, except
   * informational ones (a key waiting to be destroyed, the quantum inventory) which ask nothing.
   */
  controls(findings: Finding[] = this.view().findings): ControlStatus[] {
    const { store, audit } = this.options;
    // Counted as the audit key signed them, since a signed compliance report states these counts: an entry a database
    // writer renamed, a checkpoint row copied, or a report row nobody signed counts for nothing.
    const count = (action: string, onlyOk = false) =>
      store
        .all<{ entry: string; signature: Buffer }>(
          sql`SELECT entry, signature FROM audit_entries WHERE action = ${action} AND (${onlyOk ? 1 : 0} = 0 OR result = 'ok')`,
        )
        .filter(({ entry, signature }) => audit.verifyDocument(Buffer.from(entry, 'utf8'), signature)).length;
    const entries = store.get<{ n: number }>(sql`SELECT count(*) AS n FROM audit_entries`)!.n;
    const checkpoints = audit.signedCheckpoints().length;
    const reports = this.signedReports().length;
    const custodies = this.options.custody.list().filter((c) => c.state === 'active');
    const quorum =
      custodies.map((c) => `${c.token.label}: ${c.threshold} of ${c.holders}`).join(', ') || 'no token in custody';
    const keys = this.options.keys.list();
    const noKeys = 'no key in the inventory yet';
    const byState = Object.entries(countBy(keys.map((k) => k.state))).map(([state, n]) => `${state} ${n}`);
    const backupable = keys.filter((k) => k.backupable).length;
    const reviewed = this.policyReviewedAt();
    const modules = this.view().modules.map((m) => `${m.description}: ${m.validation}`);
    const table: [string, string, string[]][] = [
      [
        CONTROLS.sc12,
        'Cryptographic key establishment and management',
        [
          `tokens in custody, PINs split t-of-n: ${quorum}`,
          `${count('proposal.execute')} quorum operations recorded`,
          `${keys.length} keys in the inventory with states and cryptoperiods`,
        ],
      ],
      [
        CONTROLS.sc13,
        'Cryptographic protection (approved algorithms, validated modules)',
        [
          `algorithm policy with ${ALGORITHM_POLICY.length} dated rules (SP 800-131A, IR 8547)`,
          `modules: ${modules.join('; ')}`,
        ],
      ],
      [CONTROLS.au2, 'Event logging', [`${entries} audit entries: every request, refusal and failure`]],
      [
        CONTROLS.au9,
        'Protection of audit information',
        [
          `signed entries in an RFC 6962 tree, ${checkpoints} signed checkpoints`,
          `${count('audit.verify')} verifications recorded`,
        ],
      ],
      [
        CONTROLS.au10,
        'Non-repudiation',
        [
          `${count('proposal.approve', true)} approvals, each bound to its proposal’s fingerprint by passphrase + TOTP`,
          `${reports} signed reports`,
        ],
      ],
      [
        CONTROLS.sp57,
        'Key management policy and practices (SP 800-57 Part 2)',
        [
          keys.length ? `keys by SP 800-57 state: ${byState.join(', ')}` : noKeys,
          reviewed ? `policy review recorded ${reviewed.slice(0, 10)}` : 'no policy review recorded',
        ],
      ],
      [
        CONTROLS.pci36,
        'PCI DSS 4.0 3.6: keys protected (split knowledge, dual control, least custodians)',
        [`dual control by quorum: ${quorum}`, `${this.options.backups.list().length} backup sets under split KEKs`],
      ],
      [CONTROLS.pci37, 'PCI DSS 4.0 3.7: key-management lifecycle procedures', this.lifecycleEvidence()],
      [
        CONTROLS.sec08,
        'AWS Well-Architected SEC08-BP01: secure key management',
        [
          keys.length
            ? `${keys.length} keys generated and kept in a token: ${keys.length - backupable} never extractable, ` +
              `${backupable} backup-able only under a trusted KEK`
            : noKeys,
        ],
      ],
    ];
    const gaps = findings.filter((f) => f.severity !== 'info');
    const missing = (control: string) => gaps.filter((f) => f.controls.includes(control)).map((f) => f.title);
    return table.map(([control, what, evidence]) => ({ control, what, evidence, missing: missing(control) }));
  }

  /** Each lifecycle ceremony: how many the quorum carried out, and how many signed reports there are of it. */
  private lifecycleEvidence(): string[] {
    const { store, audit } = this.options;
    // Carried out as the signed log says, under the action the proposal's body names: the state column, which nothing
    // signs, is not read. The run's entry binds action, fingerprint and outcome, and the body must hash to that
    // fingerprint, so a body rewritten to another action (or a row added) counts under none.
    const proposals = store.all<{
      id: string;
      state: string;
      fingerprint: string;
      body: string;
      outcome: string | null;
    }>(sql`SELECT id, state, fingerprint, body, outcome FROM proposals`);
    let altered = 0;
    const executed = countBy(
      proposals.flatMap((row) => {
        const action = sha256Hex(row.body) === row.fingerprint ? bodyAction(row.body) : null;
        const closure = action === null ? null : closureOf(store, audit, { ...row, action });
        if (closure?.outcome === 'altered' || action === null) altered++;
        return closure?.state === 'executed' && closure.outcome !== 'altered' ? [action!] : [];
      }),
    );
    const signed = this.signedReports();
    altered += store.get<{ n: number }>(sql`SELECT count(*) AS n FROM reports`)!.n - signed.length;
    const reported = countBy(signed.map((r) => r.type));
    const line = ([name, action, type]: (typeof LIFECYCLE)[number]) =>
      `${name}: ${executed[action] ?? 0} carried out, ${reported[type] ?? 0} with a signed report`;
    return [
      ...LIFECYCLE.map(line),
      ...(altered > 0 ? [`${altered} proposals or reports changed in the database outside Custos, not counted`] : []),
    ];
  }

  /** The kept reports as the audit key signed them, each under the type its signed bytes name. */
  private signedReports(): { id: string; type: string }[] {
    const { store, audit } = this.options;
    return store
      .all<{ id: string; json: string; signature: Buffer }>(sql`SELECT id, json, signature FROM reports`)
      .flatMap(({ id, json, signature }) => {
        const type = audit.verifyDocument(Buffer.from(json, 'utf8'), signature) ? signedReportType(json, id) : null;
        return type === null ? [] : [{ id, type }];
      });
  }

  /** A Key Management Practice Statement draft, written from the actual configuration, to edit. */
  practiceStatement(): string {
    return practiceStatement(this.practiceFacts());
  }

  /**
   * Writes the draft as Markdown and PDF into `dir` and records both files' SHA-256, so a printed copy can be traced
   * to the entry. An earlier draft there is replaced only when asked: someone may be marking it up.
   */
  async writePracticeStatement(dir: string, replace: boolean, by: AuditActor): Promise<PracticeStatementFiles> {
    const there = PRACTICE_STATEMENT_FILES.filter((name) => existsSync(join(dir, name)));
    if (there.length > 0 && !replace)
      throw new CustosError('FILE_EXISTS', `${dir} already holds a practice statement (${there.join(', ')}).`, [
        'Choose another folder, or pass --force to replace it.',
      ]);
    const facts = this.practiceFacts();
    const markdown = practiceStatement(facts);
    const pdf = await renderMarkdownPdf(
      markdown,
      `Custos · Key Management Practice Statement (draft) · ${facts.installation.origin}`,
    );
    const contents = [markdown, pdf] as const;
    let files: { name: string; sha256: string }[];
    try {
      mkdirSync(dir, { recursive: true });
      files = PRACTICE_STATEMENT_FILES.map((name, i) => {
        writeFileAtomic(join(dir, name), contents[i]!, 0o644);
        return { name, sha256: createHash('sha256').update(contents[i]!).digest('hex') };
      });
    } catch (error) {
      // A folder that cannot be made or written (a folder where a file goes, a full disk): said as such.
      throw fileError(error) ?? error;
    }
    this.options.audit.record({
      actor: by,
      action: 'compliance.practice-statement.write',
      object: { type: 'folder', id: dir },
      params: { files, auditSize: facts.installation.auditSize, auditRoot: facts.installation.auditRoot },
    });
    return { dir, files };
  }

  /** What the practice statement states, each read from the database, the settings, the token or the code. */
  practiceFacts(): PracticeFacts {
    const { store, audit } = this.options;
    const now = this.options.clock();
    const inputs = this.inputs(now);
    const log = audit.log();
    const auditSize = log.size();
    // The latest checkpoint the audit key signed (a row's own size and date are not signed): its size, and the time of
    // the last entry it covers.
    const signedLatest = audit.signedCheckpoints().at(-1);
    const lastCovered =
      signedLatest && signedLatest.size > 0 ? signedEntryAt(store, audit, signedLatest.size - 1) : undefined;
    const latest =
      signedLatest && lastCovered ? { treeSize: signedLatest.size, createdAt: lastCovered.time } : undefined;
    const people = this.options.custodians.list();
    // Those serving now: a retired person's name stays in the history, not among the people who hold a role.
    const withRole = (role: Role) =>
      people.filter((c) => c.retiredAt === null && c.roles.includes(role)).map((c) => c.name);
    const custodies = this.options.custody.list().filter((c) => c.state === 'active');
    const keys = this.options.keys.list();
    const live = keys.filter((k) => k.state !== 'destroyed');
    const byAlgorithm = new Map<string, string[]>();
    for (const k of keys) byAlgorithm.set(k.algorithm, [...(byAlgorithm.get(k.algorithm) ?? []), k.state]);
    const backups = this.options.backups.list();
    const reviews = signedEntries(store, audit, { action: 'compliance.policy-review', anyObject: true });
    const rehearsals = inputs.rehearsals
      ? {
          passed: inputs.rehearsals.passed,
          required: inputs.rehearsals.required,
          neverRehearsed: inputs.rehearsals.holders
            .filter((h) => !inputs.rehearsals!.rehearsed.includes(h.id))
            .map((h) => h.name),
        }
      : null;
    return {
      rehearsals,
      generatedAt: now.toISOString(),
      version: this.options.version ?? null,
      installation: {
        origin: audit.origin,
        auditSize,
        auditRoot: log.root(auditSize).toString('base64'),
        latestCheckpoint: latest ?? null,
        checkpointEvery: CHECKPOINT_EVERY,
        anchorCopy: audit.anchorCopy() !== null,
        lastVerification: inputs.lastAuditVerification,
      },
      people: {
        custodians: withRole('custodian'),
        securityOfficers: withRole('security-officer'),
        auditors: withRole('auditor'),
      },
      factors: { throttleAfter: THROTTLE_AFTER, lockAfter: LOCK_AFTER },
      custodies: custodies.map((c) => ({
        token: `${c.token.label} (${c.token.serial})`,
        threshold: c.threshold,
        holders: c.holderIds.map((id) => people.find((p) => p.id === id)?.name ?? id).sort(),
        pinBits: c.pinBits,
      })),
      quorumActions: PROPOSABLE_ACTIONS.map(actionTitle),
      actionPolicies: Object.entries(ACTION_POLICIES).map(([action, policy]) => ({
        action: actionTitle(action as ActionName),
        securityOfficers: policy.securityOfficers,
      })),
      emergencyTransitions: Object.entries(TRANSITIONS)
        .filter(([, t]) => t.by === 'security-officer')
        .map(([transition, t]) => ({ transition, from: [...t.from], to: t.to })),
      quorum: { proposalMinutes: DEFAULT_PROPOSAL_MINUTES, holdMinutes: DEFAULT_HOLD_MINUTES },
      destruction: {
        minDays: DESTRUCTION_WAIT_DAYS.min,
        maxDays: DESTRUCTION_WAIT_DAYS.max,
        defaultDays: DESTRUCTION_WAIT_DAYS.default,
      },
      algorithms: ALGORITHM_POLICY.map((r) => ({ ...r, generated: Algorithm.safeParse(r.algorithm).success })),
      cryptoperiods: KeyUsage.options.map((usage) => ({ usage, defaultDays: defaultCryptoperiodDays(usage) })),
      cryptoperiodOverrides: live.flatMap((k) => {
        const usage = KeyUsage.safeParse(k.usage);
        const days = Math.round((Date.parse(k.expiresAt) - Date.parse(k.createdAt)) / 86_400_000);
        const defaultDays = usage.success ? defaultCryptoperiodDays(usage.data) : null;
        return days === defaultDays
          ? []
          : [{ label: k.label, algorithm: k.algorithm, usage: k.usage, days, defaultDays: defaultDays ?? 0 }];
      }),
      keys: [...byAlgorithm].map(([algorithm, states]) => ({ algorithm, byState: countBy(states) })),
      modules: inputs.modules.map((m) => {
        const recorded = m.software ? undefined : this.validation(m.path);
        return {
          path: m.path,
          description: m.description,
          software: m.software !== null,
          validation: m.software
            ? `software token (${m.software.product}), not validated`
            : recorded
              ? `${recorded.standard} certificate #${recorded.certificate}, level ${recorded.level} (recorded ${recorded.recordedAt.slice(0, 10)})`
              : 'none recorded',
        };
      }),
      tokens: custodies.flatMap((c) => {
        if (!this.options.token) return [];
        const facts = this.options.token(c.token);
        const text = (key: string) => (typeof facts[key] === 'string' ? (facts[key] as string) : null);
        return {
          token: `${c.token.label} (${c.token.serial})`,
          kind: text('kind') ?? 'token',
          model: [text('manufacturer'), text('model')].filter(Boolean).join(' ') || null,
          validation: text('validation') ?? 'unknown (token module unavailable)',
        };
      }),
      backups: {
        sets: backups.length,
        thresholds: backups.map(
          (b) => `${b.threshold} of ${b.holders.length}: ${b.keys.map((k) => k.label).join(', ')}`,
        ),
        unverified: backups.filter((b) => !b.verifiedAt).length,
      },
      policyReviews: reviews.map((r) => r.time),
      limits: ANALYZER_LIMITS,
    };
  }
}

const PRACTICE_STATEMENT_FILES = ['practice-statement.md', 'practice-statement.pdf'] as const;

/** The lifecycle ceremonies PCI DSS 3.7 asks procedures for: name, quorum action, report type. */
const LIFECYCLE = [
  ['generation', 'key.generate', 'key.generate'],
  ['backup', 'key.backup', 'key.backup'],
  ['restore', 'key.restore', 'key.restore'],
  ['custodian turnover', 'custody.redeal', 'custody.redeal'],
  ['destruction', 'key.destroy', 'destruction-certificate'],
] as const;

const bodyAction = (body: string): string | null => {
  try {
    const action = (JSON.parse(body) as { action?: unknown }).action;
    return typeof action === 'string' ? action : null;
  } catch {
    return null;
  }
};
/** The type a signed report's own bytes name, when they are a report with this id. */
const signedReportType = (json: string, id: string): string | null => {
  try {
    const report = JSON.parse(json) as { reportId?: unknown; type?: unknown };
    return report.reportId === id && typeof report.type === 'string' ? report.type : null;
  } catch {
    return null;
  }
};

const countBy = (values: string[]): Record<string, number> => {
  const counts: Record<string, number> = {};
  for (const v of values) counts[v] = (counts[v] ?? 0) + 1;
  return counts;
};

/** The file a path leads to through symbolic links; the path itself when it leads nowhere. */
function realPathOr(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
}
