import type { AuditActor } from '../../../shared/audit';
import type { ComplianceView, Finding, ValidationRecord } from '../../../shared/compliance';
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
import { analyze, CONTROLS, type ComplianceInputs } from './analyzer';

export interface ControlStatus {
  control: string;
  what: string;
  evidence: string[];
  missing: string[];
}

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

  inputs(now: Date): ComplianceInputs {
    const { store, settings } = this.options;
    const validations = settings.get('compliance.validations');
    const lastVerified = store.get<{ at: string | null }>(sql`SELECT max(time) AS at FROM audit_entries WHERE action = 'audit.verify' AND result = 'ok'`)?.at ?? null;
    return {
      now,
      custodies: this.options.custody.list().filter((c) => c.state === 'active').map((c) => ({ id: c.id, token: `${c.token.label} (${c.token.serial})`, threshold: c.threshold, holders: c.holders })),
      pendingCustodies: store.all<{ id: string; token_serial: string; token_label: string; created_at: string }>(sql`SELECT id, token_serial, token_label, created_at FROM custody WHERE state = 'pending'`).map((p) => ({ id: p.id, token: `${p.token_label} (${p.token_serial})`, createdAt: p.created_at })),
      keys: this.options.keys.list().map((k) => ({ id: k.id, label: k.label, algorithm: k.algorithm, state: k.state, expiresAt: k.expiresAt, backupable: k.backupable, destructionNotBefore: k.destructionNotBefore })),
      modules: this.options.modules().map((m) => ({ path: m.path, description: `${m.manufacturer} ${m.libraryDescription}`.trim(), software: m.software, validation: validations[m.path] ?? null })),
      lastAuditVerification: lastVerified,
      backups: this.options.backups.list().map((b) => ({ setId: b.setId, keyIds: b.keys.map((k) => k.id), verifiedAt: b.verifiedAt, createdAt: b.createdAt, holders: b.holders.map((h) => ({ name: h.name, lastChecked: h.lastChecked })) })),
      policyReviewedAt: settings.get('compliance.policyReviewedAt'),
    };
  }

  view(asOf?: string): ComplianceView {
    const now = asOf ? new Date(`${asOf}T12:00:00Z`) : this.options.clock();
    const inputs = this.inputs(now);
    const keysByState: Record<string, number> = {};
    for (const k of inputs.keys) keysByState[k.state] = (keysByState[k.state] ?? 0) + 1;
    return {
      asOf: now.toISOString(),
      findings: analyze(inputs),
      keysByState,
      expiries: inputs.keys.filter((k) => k.state !== 'destroyed').map((k) => ({ id: k.id, label: k.label, expiresAt: k.expiresAt, state: k.state })).sort((a, b) => a.expiresAt.localeCompare(b.expiresAt)),
      modules: inputs.modules.map((m) => ({ path: m.path, description: m.description, validation: m.software ? `not counted as validated: software token (${m.software.product})` : m.validation ? `${m.validation.standard} certificate #${m.validation.certificate}, level ${m.validation.level}` : 'none recorded' })),
    };
  }

  recordValidation(record: ValidationRecord, by: AuditActor): ComplianceView {
    const validations = { ...this.options.settings.get('compliance.validations'), [record.modulePath]: { ...record, recordedAt: this.options.clock().toISOString() } };
    this.options.audit.record({ actor: by, action: 'compliance.validation.record', object: { type: 'module', id: record.modulePath }, params: record }, () => this.options.settings.set('compliance.validations', validations));
    return this.view();
  }

  recordPolicyReview(by: AuditActor): ComplianceView {
    const at = this.options.clock().toISOString();
    this.options.audit.record({ actor: by, action: 'compliance.policy-review', params: { at } }, () => this.options.settings.set('compliance.policyReviewedAt', at));
    return this.view();
  }

  /** Each control with the evidence Custos holds for it and what is missing (the findings that bear on it). */
  controls(findings: Finding[] = this.view().findings): ControlStatus[] {
    const { store } = this.options;
    const count = (action: string) => store.get<{ n: number }>(sql`SELECT count(*) AS n FROM audit_entries WHERE action = ${action}`)!.n;
    const entries = store.get<{ n: number }>(sql`SELECT count(*) AS n FROM audit_entries`)!.n;
    const checkpoints = store.get<{ n: number }>(sql`SELECT count(*) AS n FROM audit_checkpoints`)!.n;
    const reports = store.get<{ n: number }>(sql`SELECT count(*) AS n FROM reports`)!.n;
    const custodies = this.options.custody.list().filter((c) => c.state === 'active');
    const quorum = custodies.map((c) => `${c.token.label}: ${c.threshold} of ${c.holders}`).join(', ') || 'no token in custody';
    const table: [string, string, string[]][] = [
      [CONTROLS.sc12, 'Cryptographic key establishment and management', [`tokens in custody, PINs split t-of-n: ${quorum}`, `${count('proposal.execute')} quorum operations recorded`, `${this.options.keys.list().length} keys in the inventory with states and cryptoperiods`]],
      [CONTROLS.sc13, 'Cryptographic protection (approved algorithms, validated modules)', [`algorithm policy with ${ALGORITHM_POLICY.length} dated rules (SP 800-131A, IR 8547)`, `modules: ${this.view().modules.map((m) => `${m.description}: ${m.validation}`).join('; ')}`]],
      [CONTROLS.au2, 'Event logging', [`${entries} audit entries: every request, refusal and failure`]],
      [CONTROLS.au9, 'Protection of audit information', [`signed entries in an RFC 6962 tree, ${checkpoints} signed checkpoints`, `${count('audit.verify')} verifications recorded`]],
      [CONTROLS.au10, 'Non-repudiation', ['each approval bound to a proposal fingerprint with passphrase + TOTP', `${reports} signed reports`]],
      [CONTROLS.sp57, 'Key management policy and practices (SP 800-57 Part 2)', ['key states and transitions per SP 800-57 Part 1', 'practice statement draft generated from the configuration']],
      [CONTROLS.pci36, 'PCI DSS 4.0 3.6: keys protected (split knowledge, dual control, least custodians)', [`dual control by quorum: ${quorum}`, `${this.options.backups.list().length} backup sets under split KEKs`]],
      [CONTROLS.pci37, 'PCI DSS 4.0 3.7: key-management lifecycle procedures', ['generation, backup, restore, turnover, destruction as recorded ceremonies with reports']],
      [CONTROLS.sec08, 'AWS Well-Architected SEC08-BP01: secure key management', ['keys generated and kept in the token, non-extractable unless backup-able under a trusted KEK']],
    ];
    return table.map(([control, what, evidence]) => ({ control, what, evidence, missing: findings.filter((f) => f.controls.includes(control)).map((f) => f.title) }));
  }

  /** A Key Management Practice Statement draft, written from the actual configuration, to edit. */
  practiceStatement(): string {
    const custodians = this.options.custodians.list();
    const byRole = (role: string) => custodians.filter((c) => c.roles.includes(role as never)).map((c) => c.name).join(', ') || '(none enrolled)';
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
      ...(custodies.length ? custodies.map((c) => `- Token ${c.token.label} (${c.token.serial}): user and SO PINs drawn from the token, split ${c.threshold} of ${c.holders}; nobody knows a PIN.`) : ['- No token is in custody yet.']),
      ...Object.entries(ACTION_POLICIES).map(([action, policy]) => `- ${action}: additionally ${policy.securityOfficers} security officer(s).`),
      '- Approvals bind to the SHA-256 fingerprint of the exact proposal; proposals expire after 60 minutes; approved shares are held in memory for 15 minutes.',
      '',
      '## 3. Algorithms',
      ...ALGORITHM_POLICY.map((r) => `- ${r.algorithm}: ${r.disallowedFrom ? `disallowed from ${r.disallowedFrom}` : 'no end date'}${r.deprecatedFrom ? `, deprecated from ${r.deprecatedFrom}` : ''} (${r.source}).`),
      '',
      '## 4. Cryptoperiods (SP 800-57 Part 1 Table 1)',
      ...(['sign', 'encrypt', 'wrap'] as const).map((u) => `- ${u} keys: ${defaultCryptoperiodDays(u)} days by default; the quorum may set another period per key.`),
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
