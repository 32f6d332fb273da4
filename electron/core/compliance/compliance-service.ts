import { realpathSync } from 'node:fs';
import { basename } from 'node:path';
import type { AuditActor } from '../../../shared/audit';
import type { ComplianceView, Finding, ValidationRecord } from '../../../shared/compliance';
import type { ControlStatus } from '../../../shared/reports';
import type { ModuleInfo } from '../../../shared/tokens';
import type { AuditService } from '../audit/audit-service';
import type { BackupService } from '../backup/backup-service';
import type { CustodianService } from '../custodians/custodian-service';
import type { CustodyService } from '../custody/custody-service';
import { ALGORITHM_POLICY, defaultCryptoperiodDays } from '../keys/algorithm-policy';
import type { KeyInventory } from '../keys/key-inventory';
import { ACTION_POLICIES } from '../quorum/quorum-service';
import type { Settings } from '../settings/settings';
import type { Store } from '../store/database';
import { sql } from '../store/sql';
import { CustosError } from '../errors';
import { recogniseSoftwareLibraryFile } from '../hsm/software-tokens';
import { analyze, CONTROLS, type ComplianceInputs } from './analyzer';

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
    },
  ) {}

  /** `existedBy`: keys made after it are left out (as of a past day: the end of that day). */
  inputs(now: Date, existedBy: Date = now): ComplianceInputs {
    const { store, settings } = this.options;
    const validations = settings.get('compliance.validations');
    const lastVerified =
      store.get<{ at: string | null }>(
        sql`SELECT max(time) AS at FROM audit_entries WHERE action = 'audit.verify' AND result = 'ok'`,
      )?.at ?? null;
    return {
      now,
      custodies: this.options.custody
        .list()
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
      keys: this.options.keys
        .list()
        // As of a past day, only the keys that existed then (in the state they are in now).
        .filter((k) => new Date(k.createdAt) <= existedBy)
        .map(({ id, label, algorithm, state, expiresAt, rotateBy, backupable, destructionNotBefore }) => {
          return { id, label, algorithm, state, expiresAt, rotateBy, backupable, destructionNotBefore };
        }),
      modules: this.options.modules().map((m) => ({
        path: m.path,
        description: `${m.manufacturer} ${m.libraryDescription}`.trim(),
        software: m.software,
        validation: validations[m.path] ?? null,
      })),
      lastAuditVerification: lastVerified,
      backups: this.options.backups.list().map((b) => ({
        setId: b.setId,
        keyIds: b.keys.map((k) => k.id),
        verifiedAt: b.verifiedAt,
        createdAt: b.createdAt,
        holders: b.holders.map((h) => ({ name: h.name, lastChecked: h.lastChecked })),
      })),
      policyReviewedAt: settings.get('compliance.policyReviewedAt'),
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
    const message = `${modulePath} is a software token (${product}), not a FIPS 140-3 validated HSM: not recorded.`;
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
    this.options.audit.record({ actor: by, action: 'compliance.policy-review', params: { at } }, () =>
      this.options.settings.set('compliance.policyReviewedAt', at),
    );
    return this.view();
  }

  /**
   * Each control with the evidence this installation holds for it, every item counted from the
   * database and the token modules, and what is missing: the findings that bear on it, except
   * informational ones (a key waiting to be destroyed, the quantum inventory) which ask nothing.
   */
  controls(findings: Finding[] = this.view().findings): ControlStatus[] {
    const { store } = this.options;
    const count = (action: string, onlyOk = false) =>
      store.get<{ n: number }>(sql`
        SELECT count(*) AS n FROM audit_entries
        WHERE action = ${action} AND (${onlyOk ? 1 : 0} = 0 OR result = 'ok')`)!.n;
    const entries = store.get<{ n: number }>(sql`SELECT count(*) AS n FROM audit_entries`)!.n;
    const checkpoints = store.get<{ n: number }>(sql`SELECT count(*) AS n FROM audit_checkpoints`)!.n;
    const reports = store.get<{ n: number }>(sql`SELECT count(*) AS n FROM reports`)!.n;
    const custodies = this.options.custody.list().filter((c) => c.state === 'active');
    const quorum =
      custodies.map((c) => `${c.token.label}: ${c.threshold} of ${c.holders}`).join(', ') || 'no token in custody';
    const keys = this.options.keys.list();
    const noKeys = 'no key in the inventory yet';
    const byState = Object.entries(countBy(keys.map((k) => k.state))).map(([state, n]) => `${state} ${n}`);
    const backupable = keys.filter((k) => k.backupable).length;
    const reviewed = this.options.settings.get('compliance.policyReviewedAt');
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
    const { store } = this.options;
    const proposals = store.all<{ action: string }>(sql`
      SELECT json_extract(body, '$.action') AS action FROM proposals WHERE state = 'executed'`);
    const executed = countBy(proposals.map((p) => p.action));
    const reported = countBy(store.all<{ type: string }>(sql`SELECT type FROM reports`).map((r) => r.type));
    const line = ([name, action, type]: (typeof LIFECYCLE)[number]) =>
      `${name}: ${executed[action] ?? 0} carried out, ${reported[type] ?? 0} with a signed report`;
    return LIFECYCLE.map(line);
  }

  /** A Key Management Practice Statement draft, written from the actual configuration, to edit. */
  practiceStatement(): string {
    const custodians = this.options.custodians.list();
    const byRole = (role: string) =>
      custodians
        .filter((c) => c.roles.includes(role as never))
        .map((c) => c.name)
        .join(', ') || '(none enrolled)';
    const custodies = this.options.custody.list().filter((c) => c.state === 'active');
    const lines = [
      '# Key Management Practice Statement (draft)',
      '',
      `Generated by Custos on ${this.options.clock().toISOString().slice(0, 10)} from its configuration. Edit it; it is a draft, not a policy.`,
      '',
      '## 1. Roles',
      `- Custodians (hold PIN shares, approve quorum actions): ${byRole('custodian')}.`,
      `- Security officers (lift lockouts, emergency suspension, approve destructions): ${byRole('security-officer')}.`,
      `- Auditors (verify logs and reports): ${byRole('auditor')}.`,
      '- Every person proves a passphrase (scrypt) and a TOTP code for every step; each code is accepted once.',
      '',
      '## 2. Dual control and split knowledge',
      ...(custodies.length
        ? custodies.map(
            (c) =>
              `- Token ${c.token.label} (${c.token.serial}): user and SO PINs drawn from the token, split ${c.threshold} of ${c.holders}; nobody knows a PIN.`,
          )
        : ['- No token is in custody yet.']),
      ...Object.entries(ACTION_POLICIES).map(
        ([action, policy]) => `- ${action}: additionally ${policy.securityOfficers} security officer(s).`,
      ),
      '- Approvals bind to the SHA-256 fingerprint of the exact proposal; proposals expire after 60 minutes; approved shares are held in memory for 15 minutes.',
      '',
      '## 3. Algorithms',
      ...ALGORITHM_POLICY.map(
        (r) =>
          `- ${r.algorithm}: ${r.disallowedFrom ? `disallowed from ${r.disallowedFrom}` : 'no end date'}${r.deprecatedFrom ? `, deprecated from ${r.deprecatedFrom}` : ''} (${r.source}).`,
      ),
      '',
      '## 4. Cryptoperiods (SP 800-57 Part 1 Table 1)',
      ...(['sign', 'encrypt', 'wrap'] as const).map(
        (u) => `- ${u} keys: ${defaultCryptoperiodDays(u)} days by default; the quorum may set another period per key.`,
      ),
      '',
      '## 5. Backup and recovery',
      '- Backup-able keys are wrapped (RFC 5649) under a fresh KEK from the token, imported as trusted and wrap-only; the KEK exists only as t-of-n share cards, each checked on entry and health-checked by its holder.',
      '- Every backup is verified in the token before its cards are printed; restore proves every key before keeping any.',
      '',
      '## 6. Destruction',
      '- Scheduled by the quorum with a waiting period of 7 to 30 days (default 30), cancellable by the quorum; carried out by the quorum and a security officer; absence proven by search and recorded.',
      '',
      '## 7. Records',
      '- Every action is a signed audit entry in a Merkle tree; checkpoints are signed after each ceremony and on every export; each ceremony has a signed report.',
      '- The policy is reviewed at least once a year; the review is recorded.',
      '',
    ];
    return lines.join('\n');
  }
}

/** The lifecycle ceremonies PCI DSS 3.7 asks procedures for: name, quorum action, report type. */
const LIFECYCLE = [
  ['generation', 'key.generate', 'key.generate'],
  ['backup', 'key.backup', 'key.backup'],
  ['restore', 'key.restore', 'key.restore'],
  ['custodian turnover', 'custody.redeal', 'custody.redeal'],
  ['destruction', 'key.destroy', 'destruction-certificate'],
] as const;

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
