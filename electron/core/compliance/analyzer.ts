import type { Finding, ValidationRecord } from '../../../shared/compliance';
import { inUtc } from '../../../shared/key-lifecycle';
import { policyVerdict } from '../keys/algorithm-policy';
import { certificateFindings, type CertificateInputs } from './certificate-findings';

/** Everything the analyzer looks at, gathered from the database and the token module; dates injected. */
export interface ComplianceInputs {
  now: Date;
  custodies: { id: string; token: string; threshold: number; holders: number }[];
  /** Custody records journaled but never activated: a crash between the journal and the token's new PINs. */
  pendingCustodies?: { id: string; token: string; createdAt: string }[];
  keys: {
    id: string;
    label: string;
    algorithm: string;
    state: string;
    expiresAt: string;
    /** When it must be rotated (the inventory's rotateBy); its cryptoperiod's end when not given. */
    rotateBy?: string | null;
    backupable: boolean;
    destructionNotBefore: string | null;
    /** What a destruction cut short left of the key (the inventory's partlyDestroyed); absent or null if none. */
    partlyDestroyed?: { proposalId: string; destroyed: string[]; remaining: string[] } | null;
  }[];
  /** `software`: the software product and what recognised it; such a module never counts as validated. */
  modules: {
    path: string;
    description: string;
    software: { product: string; reason: string } | null;
    validation: ValidationRecord | null;
  }[];
  lastAuditVerification: string | null;
  backups: {
    setId: string;
    keyIds: string[];
    verifiedAt: string | null;
    createdAt: string;
    holders: { name: string; lastChecked: string | null }[];
    /** When the quorum retired the set (never restorable again); absent or null while it is live. */
    retiredAt?: string | null;
    /**
     * For a set made here: how many of its cards were released to their holders (signed `backup.card.release`
     * entries), and how many a restore needs. A set whose cards were never handed out restores nothing.
     */
    cards?: { released: number; threshold: number } | null;
  }[];
  policyReviewedAt: string | null;
  /** Keys with a signed revocation notice (a `key.revocation-notice` entry in the log). */
  revocationNotices?: string[];
  limits?: { auditVerifyDays?: number; shareCheckMonths?: number };
  /** The trust-store audit's inputs: issued certificates, CRLs, certificate objects on the tokens. */
  certificates?: CertificateInputs;
  /**
   * Training by rehearsal: the custodians who hold a share of a token in custody, and the ids of everyone who took
   * part in a passed rehearsal. Absent where rehearsals are not tracked.
   */
  rehearsals?: { holders: { id: string; name: string }[]; rehearsed: string[]; passed: number; required: boolean };
  /**
   * Lists refused because a database writer changed or deleted one of their records (the signed log says otherwise):
   * the list's subject, the stable code and its message. What they would have shown is left out of the other inputs.
   */
  tampered?: { subject: 'keys' | 'custody' | 'custodians'; code: string; message: string }[];
}

const DAY = 86_400_000;
const TAMPERED_LISTS = { keys: 'the key inventory', custody: 'the custody records', custodians: 'the custodians' };

/** How long may pass before a missing verification, card check or review is a finding (the statement cites them). */
export const ANALYZER_LIMITS = { auditVerifyDays: 30, shareCheckMonths: 6, policyReviewDays: 365 } as const;
/** FIPS 140-2 validations moved to the CMVP historical list on this day. */
export const FIPS_140_2_HISTORICAL = '2026-09-21';

export const CONTROLS = {
  sc12: 'NIST SP 800-53 SC-12',
  sc13: 'NIST SP 800-53 SC-13',
  au2: 'NIST SP 800-53 AU-2',
  au9: 'NIST SP 800-53 AU-9',
  au10: 'NIST SP 800-53 AU-10',
  sp57: 'NIST SP 800-57 Part 2',
  pci36: 'PCI DSS 4.0 3.6',
  pci37: 'PCI DSS 4.0 3.7',
  sec08: 'AWS Well-Architected SEC08-BP01',
} as const;
const C = CONTROLS;

/** Whole days from `from` until `to` (negative once passed). */
const daysUntil = (from: Date, to: string) => Math.ceil((new Date(to).getTime() - from.getTime()) / DAY);
const daysSince = (then: string, now: Date) => Math.floor((now.getTime() - new Date(then).getTime()) / DAY);
const algorithmVerdict = (algorithm: string, on: Date) =>
  policyVerdict(algorithm as Parameters<typeof policyVerdict>[0], on);

/**
 * The policy analyzer: each rule looks at one kind of shortcoming and reports each subject once,
 * at its most severe, with the evidence and the fix. Pure: the same inputs give the same findings.
 */
export function analyze(inputs: ComplianceInputs): Finding[] {
  const { now } = inputs;
  const today = now.toISOString().slice(0, 10);
  const findings: Finding[] = [];
  const add = (f: Finding) => findings.push(f);
  const live = inputs.keys.filter((k) => k.state !== 'destroyed');

  for (const t of inputs.tampered ?? []) {
    add({
      rule: 'RECORD_TAMPERED',
      subject: t.subject,
      severity: 'critical',
      title: `A record in ${TAMPERED_LISTS[t.subject]} was changed or deleted outside Custos: the analysis leaves ${TAMPERED_LISTS[t.subject]} out`,
      evidence: [`${t.code}: ${t.message}`],
      fix: 'Treat this as a security incident: restore the data directory from a backup you trust. “custos audit verify” and the audit log show what the records should be.',
      controls: [C.au9, C.sc12, C.pci36],
    });
  }

  for (const c of inputs.custodies) {
    if (c.threshold < 2) {
      add({
        rule: 'QUORUM_SINGLE_PERSON',
        subject: c.token,
        severity: 'critical',
        title: `One person alone can use token ${c.token}`,
        evidence: [`custody ${c.id}: ${c.threshold} of ${c.holders}`],
        fix: 'Re-deal the token (Change the holders) with a threshold of at least 2.',
        controls: [C.sc12, C.pci36, C.sec08],
      });
    } else if (c.threshold === c.holders) {
      add({
        rule: 'QUORUM_T_EQUALS_N',
        subject: c.token,
        severity: 'high',
        title: `Token ${c.token} needs every holder (${c.threshold} of ${c.holders}): losing one locks it for good`,
        evidence: [`custody ${c.id}: ${c.threshold} of ${c.holders}`],
        fix: 'Add a holder or lower the threshold by re-dealing (Change the holders), so that t < n.',
        controls: [C.sc12, C.pci36],
      });
    }
  }

  const rehearsed = new Set(inputs.rehearsals?.rehearsed ?? []);
  for (const holder of inputs.rehearsals?.holders ?? []) {
    if (rehearsed.has(holder.id)) continue;
    add({
      rule: 'CUSTODIAN_NEVER_REHEARSED',
      subject: holder.id,
      severity: 'medium',
      title: `${holder.name} holds a share but has never taken part in a passed rehearsal`,
      evidence: [`no ceremony.rehearsal entry that passed names ${holder.name}`],
      fix:
        'Rehearse the next ceremony script with them (Rehearse this script on Ceremonies → Check a script, or ' +
        'custos ceremony rehearse FILE): it is how custodians train.',
      controls: [C.sp57, C.pci37],
    });
  }

  for (const p of inputs.pendingCustodies ?? []) {
    add({
      rule: 'CUSTODY_PENDING',
      subject: p.id,
      severity: 'critical',
      title: `The custody of ${p.token} begun ${p.createdAt.slice(0, 10)} never completed`,
      evidence: [
        `custody ${p.id} is journaled (its shares are sealed) but was never activated: Custos stopped between the journal and the token's new PINs`,
      ],
      fix: 'Settle it with its holders: custos custody settle --id ID --holder … (their PINs are tried on the token; the custody is activated or set aside, or a half-change is named).',
      controls: [C.sc12, C.pci36],
    });
  }

  for (const k of live) {
    // The rotation date: the cryptoperiod's end, or earlier when the algorithm policy disallows the algorithm first.
    const rotateBy = k.rotateBy ?? k.expiresAt;
    const left = daysUntil(now, rotateBy);
    const early = rotateBy < k.expiresAt ? ` (the policy disallows ${k.algorithm} from ${rotateBy.slice(0, 10)})` : '';
    const base = {
      subject: k.id,
      evidence: [
        `“${k.label}” (${k.algorithm}, ${k.state}) cryptoperiod ends ${k.expiresAt.slice(0, 10)}`,
        `rotate by ${rotateBy.slice(0, 10)}${early}`,
      ],
      controls: [C.sp57, C.pci36, C.sc12],
    };
    const rotate = `custos proposal create --action key.rotate --param keyId=${k.id}`;
    const retired = k.state === 'deactivated' || k.state === 'compromised';
    if (left <= 0 && !retired) {
      add({
        ...base,
        rule: 'KEY_CRYPTOPERIOD_ENDED',
        severity: 'high',
        title: `“${k.label}” is past its rotation date: rotation is overdue`,
        fix: `Rotate it now (a quorum: ${rotate}); its successor takes over and this key only verifies or decrypts.`,
      });
    } else if (left > 0 && left <= 7 && !retired) {
      add({
        ...base,
        rule: 'KEY_CRYPTOPERIOD_7_DAYS',
        severity: 'medium',
        title: `“${k.label}” is due for rotation in ${left} day${left === 1 ? '' : 's'}`,
        fix: `Rotate it now (a quorum: ${rotate}) and plan the switch to its successor.`,
      });
    } else if (left > 7 && left <= 30 && !retired) {
      add({
        ...base,
        rule: 'KEY_CRYPTOPERIOD_30_DAYS',
        severity: 'low',
        title: `“${k.label}” is due for rotation in ${left} days`,
        fix: `Schedule its rotation ceremony (${rotate}).`,
      });
    }
    if (k.state === 'compromised') {
      const until = k.destructionNotBefore;
      const scheduled = until ? `; destruction possible from ${inUtc(until)}` : ', and no destruction is scheduled';
      // Destruction is the only state after compromised: until then an attacker's copy and ours both work.
      add({
        rule: 'KEY_COMPROMISED_IN_TOKEN',
        subject: k.id,
        severity: 'high',
        title: `“${k.label}” is marked compromised but is still in the token`,
        evidence: [`“${k.label}” (${k.algorithm}) is in state compromised, not destroyed${scheduled}`],
        fix: 'Revoke what the key certified or protected, then schedule its destruction by quorum and carry it out.',
        controls: [C.sp57, C.pci36, C.pci37, C.sc12],
      });
    }
    if (k.partlyDestroyed && k.state !== 'destroyed') {
      const { destroyed, remaining, proposalId } = k.partlyDestroyed;
      add({
        rule: 'KEY_PARTLY_DESTROYED',
        subject: k.id,
        severity: 'high',
        title: `The destruction of “${k.label}” was cut short: part of it is still in the token`,
        evidence: [
          `proposal ${proposalId} destroyed ${destroyed.join(', ')}; still in the token: ${remaining.join(', ') || 'nothing'}`,
        ],
        fix: 'Propose key.destroy for it again (a quorum and a security officer): it destroys what is left.',
        controls: [C.sp57, C.pci36],
      });
    }
    if (k.destructionNotBefore) {
      const wait = daysUntil(now, k.destructionNotBefore);
      add({
        rule: 'KEY_PENDING_DESTRUCTION',
        subject: k.id,
        severity: 'info',
        title: `“${k.label}” is waiting to be destroyed: ${wait > 0 ? `${wait} day${wait === 1 ? '' : 's'} left` : 'the wait is over'}`,
        evidence: [`destruction possible from ${inUtc(k.destructionNotBefore)}`],
        fix:
          wait > 0
            ? 'Cancel it by quorum if the key is still needed; otherwise destroy it when the wait ends.'
            : 'Carry out the destruction (a quorum and a security officer).',
        controls: [C.sp57, C.pci36],
      });
    }
    const verdict = algorithmVerdict(k.algorithm, now);
    if (verdict.status !== 'acceptable') {
      const disallowed = verdict.status === 'disallowed';
      add({
        rule: disallowed ? 'ALGORITHM_DISALLOWED' : 'ALGORITHM_DEPRECATED',
        subject: k.id,
        severity: disallowed ? 'critical' : 'medium',
        title: `“${k.label}” uses ${k.algorithm}, ${verdict.status} as of ${today}`,
        evidence: verdict.notes,
        fix: 'Replace it with a key of an acceptable algorithm and retire this one.',
        controls: [C.sc13, C.pci36, C.sp57],
      });
    }
  }

  const quantum = live.filter((k) => /^(RSA|EC-|Ed25519)/.test(k.algorithm));
  if (quantum.length > 0) {
    add({
      rule: 'QUANTUM_VULNERABLE_INVENTORY',
      subject: 'inventory',
      severity: 'info',
      title: `${quantum.length} key${quantum.length === 1 ? ' is' : 's are'} quantum-vulnerable (RSA, ECC)`,
      evidence: quantum.map(
        (k) =>
          `“${k.label}” ${k.algorithm}: ${algorithmVerdict(k.algorithm, now).notes.join(' ') || 'see NIST IR 8547'}`,
      ),
      fix: 'Plan the migration to post-quantum algorithms (FIPS 203/204/205) before the NIST IR 8547 dates.',
      controls: [C.sc13, C.sp57],
    });
  }

  for (const m of inputs.modules) {
    const base = { subject: m.path, controls: [C.sc13, C.pci36, C.sc12] };
    if (m.software) {
      add({
        ...base,
        rule: 'MODULE_NOT_VALIDATED',
        severity: 'high',
        title: `${m.description} is a software token (${m.software.product}), not a FIPS 140-3 validated HSM`,
        evidence: [
          `${m.path}: ${m.software.reason}`,
          'Its keys live in files on the computer: it never counts as validated for custody, whatever certificate is recorded for it.',
        ],
        fix: 'Use a FIPS 140-3 validated HSM or smartcard for production keys, and record its certificate.',
      });
    } else if (!m.validation) {
      add({
        ...base,
        rule: 'MODULE_NOT_VALIDATED',
        severity: 'high',
        title: `No FIPS 140-3 validation is recorded for ${m.description}`,
        evidence: [`${m.path}: no certificate recorded`],
        fix: 'Check the module on the CMVP list, then record its certificate number and level (custos compliance record-validation).',
      });
    } else if (m.validation.standard === 'FIPS 140-2' && today >= FIPS_140_2_HISTORICAL) {
      add({
        ...base,
        rule: 'MODULE_FIPS_140_2_HISTORICAL',
        severity: 'high',
        title: `${m.description} has only a FIPS 140-2 certificate, historical since ${FIPS_140_2_HISTORICAL}`,
        evidence: [`certificate #${m.validation.certificate}, level ${m.validation.level}`],
        fix: 'Move to a module with a FIPS 140-3 validation for new keys.',
      });
    }
  }

  const auditDays = inputs.limits?.auditVerifyDays ?? ANALYZER_LIMITS.auditVerifyDays;
  if (!inputs.lastAuditVerification || daysSince(inputs.lastAuditVerification, now) > auditDays) {
    add({
      rule: 'AUDIT_NOT_VERIFIED',
      subject: 'audit-log',
      severity: 'high',
      title: inputs.lastAuditVerification
        ? `The audit log has not been verified for more than ${auditDays} days`
        : 'The audit log has never been verified',
      evidence: [
        inputs.lastAuditVerification
          ? `last successful verification ${inputs.lastAuditVerification.slice(0, 10)}`
          : 'no successful audit.verify entry',
      ],
      fix: 'Verify it now (Audit → Verify now, or custos audit verify) and keep the checkpoint elsewhere.',
      controls: [C.au9, C.au10],
    });
  }

  const unreleased = (b: ComplianceInputs['backups'][number]) => !!b.cards && b.cards.released < b.cards.threshold;
  const verified = new Set(
    inputs.backups.filter((b) => b.verifiedAt && !b.retiredAt && !unreleased(b)).flatMap((b) => b.keyIds),
  );
  for (const k of live.filter((key) => key.backupable && !verified.has(key.id))) {
    const withheld = inputs.backups.filter((b) => !b.retiredAt && unreleased(b) && b.keyIds.includes(k.id));
    add({
      rule: 'KEY_WITHOUT_VERIFIED_BACKUP',
      subject: k.id,
      severity: 'medium',
      title: `“${k.label}” is backup-able but has no verified backup`,
      evidence: [
        `no verified backup set covers key ${k.id}`,
        ...withheld.map(
          (b) =>
            `backup set ${b.setId}: only ${b.cards!.released} of its cards reached their holders, ${b.cards!.threshold} are needed`,
        ),
      ],
      fix: 'Run a backup ceremony for it (verification on).',
      controls: [C.pci36, C.sp57, C.sc12],
    });
  }

  // Destruction covers every copy (PCI DSS 3.7.5, SP 800-57 §8.3.4): a live set can bring the key back.
  const liveSets = inputs.backups.filter((b) => !b.retiredAt);
  for (const k of inputs.keys.filter((key) => key.state === 'destroyed' || key.destructionNotBefore)) {
    const holding = liveSets.filter((b) => b.keyIds.includes(k.id));
    if (holding.length === 0) continue;
    const sets = holding.map((b) => b.setId.slice(0, 8)).join(', ');
    const destroyed = k.state === 'destroyed';
    add({
      rule: 'DESTROYED_KEY_IN_LIVE_BACKUP',
      subject: k.id,
      severity: destroyed ? 'high' : 'medium',
      title: destroyed
        ? `“${k.label}” is destroyed, but backup set ${sets} still holds a copy`
        : `“${k.label}” is scheduled for destruction, but backup set ${sets} still holds a copy`,
      evidence: holding.map(
        (b) =>
          `backup set ${b.setId} (${b.holders.length} cards: ${b.holders.map((h) => h.name).join(', ')}) holds key ${k.id} and is not retired`,
      ),
      fix: 'Retire the set (custos proposal create --action backup.retire --param set=ID --param reason=…), then have each holder confirm their card destroyed (custos backup card-destroyed).',
      controls: [C.sp57, C.pci36, C.pci37],
    });
  }

  const notices = new Set(inputs.revocationNotices ?? []);
  for (const k of live.filter((key) => key.state === 'compromised')) {
    if (!notices.has(k.id)) {
      add({
        rule: 'KEY_COMPROMISED_NO_NOTICE',
        subject: k.id,
        severity: 'high',
        title: `“${k.label}” is marked compromised but no revocation notice was signed`,
        evidence: [`no key.revocation-notice entry for key ${k.id} in the audit log`],
        fix: `Sign it and hand it to relying parties: custos report create --revocation ${k.id} --out DIR (or Reports → Revocation notice).`,
        controls: [C.sp57, C.pci37, C.sc12],
      });
    }
    const holding = inputs.backups.filter((b) => !b.retiredAt && b.keyIds.includes(k.id));
    if (holding.length > 0) {
      // A restore brings a compromised key back as compromised; destroyed, it comes back only by the quorum's override.
      add({
        rule: 'KEY_COMPROMISED_IN_BACKUP',
        subject: k.id,
        severity: 'medium',
        title: `“${k.label}” is marked compromised and ${holding.length} backup set${holding.length === 1 ? ' holds' : 's hold'} a copy`,
        evidence: holding.map((b) => `backup set ${b.setId} (made ${b.createdAt.slice(0, 10)}) holds key ${k.id}`),
        fix: `Destroy the key by quorum; then have the holders destroy the share cards and delete the backup files of sets that hold nothing still needed. The impact report lists them: custos report create --impact ${k.id} --out DIR.`,
        controls: [C.sp57, C.pci36, C.pci37],
      });
    }
  }

  const months = inputs.limits?.shareCheckMonths ?? ANALYZER_LIMITS.shareCheckMonths;
  for (const b of inputs.backups.filter((set) => !set.retiredAt)) {
    const stale = b.holders.filter((h) => daysSince(h.lastChecked ?? b.createdAt, now) > months * 30);
    if (stale.length > 0) {
      add({
        rule: 'SHARE_CARDS_NOT_CHECKED',
        subject: b.setId,
        severity: 'low',
        title: `${stale.length} share card${stale.length === 1 ? '' : 's'} of backup ${b.setId.slice(0, 8)} not checked for ${months} months`,
        evidence: stale.map(
          (h) => `${h.name}: last checked ${h.lastChecked?.slice(0, 10) ?? `never (made ${b.createdAt.slice(0, 10)})`}`,
        ),
        fix: 'Ask each holder to check their card (Ceremonies → Check a share card).',
        controls: [C.pci36, C.sp57],
      });
    }
  }

  if (!inputs.policyReviewedAt || daysSince(inputs.policyReviewedAt, now) > ANALYZER_LIMITS.policyReviewDays) {
    add({
      rule: 'POLICY_REVIEW_DUE',
      subject: 'policy',
      severity: 'medium',
      title: inputs.policyReviewedAt
        ? 'The annual key management policy review is overdue'
        : 'No key management policy review is recorded',
      evidence: [
        inputs.policyReviewedAt ? `last review ${inputs.policyReviewedAt.slice(0, 10)}` : 'no review recorded',
      ],
      fix: 'Review the Key Management Practice Statement and record the review (custos compliance policy-reviewed).',
      controls: [C.sp57, C.pci37, C.sc12],
    });
  }
  if (inputs.certificates) findings.push(...certificateFindings(inputs.certificates, inputs.keys, now));
  const order = ['critical', 'high', 'medium', 'low', 'info'];
  return findings.sort((a, b) => order.indexOf(a.severity) - order.indexOf(b.severity));
}
