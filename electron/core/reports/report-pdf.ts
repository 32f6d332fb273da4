import { algorithmName, keyIdentity } from '../../../shared/keys';
import { describeFailure, FailedOutcome } from '../../../shared/quorum';
import { auditKeyFingerprint, ed25519PublicKeyObject } from '../audit/checkpoint';
import { collectPdf, endWithFooters, FONT, monospaceBlock, newPdf, printable } from '../pdf';
import { ACTIONS, NO_LOOKUPS } from '../../../shared/actions';
import { paramsInWords, resultInWords } from './ceremony-params';
import type { CardHolder, CeremonyReport, CompromiseImpact, RevocationNotice } from './ceremony-report';
import { CONFIRMED_AS_NEW_HOLDER, HOLDS_A_SHARE, MARKED_COMPROMISED } from './participant-record';

/** What each person signs as on the PDF, by their (first) part in the ceremony. */
const SIGNS_AS: Record<string, string> = {
  proposed: 'proposer',
  approved: 'approver',
  rejected: 'rejected it',
  cancelled: 'cancelled it',
  [HOLDS_A_SHARE]: 'share holder',
  [CONFIRMED_AS_NEW_HOLDER]: 'new holder',
  [MARKED_COMPROMISED]: 'security officer',
};

/** Each quorum ceremony's title from the action catalogue, and the reports that are not a quorum's. */
const TITLES: Record<string, string> = {
  ...Object.fromEntries(Object.values(ACTIONS).map(({ report }) => [report.type, report.title])),
  'key-inventory': 'Key inventory report',
  compliance: 'Compliance report',
  'custody.take': 'Custody ceremony',
  'ceremony.script-run': 'Ceremony report (scripted ceremony)',
  'ceremony.rehearsal': 'REHEARSAL — ceremony rehearsal report',
  'revocation-notice': 'Key revocation notice (key compromise)',
  'compromise-impact': 'Compromise impact report',
};

/**
 * The printable form of a signed report. Every page carries the report id, the SHA-256 of the
 * signed JSON (so a page can be matched to the exact document) and "page i of n"; the last page has
 * signature lines for the participants, card holders and witnesses. Text in the embedded DejaVu Sans (see
 * printable); the audit entries, the checkpoint and the audit key print line for line in DejaVu Sans Mono.
 */
export function renderReportPdf(report: CeremonyReport, sha256: string): Promise<Buffer> {
  const doc = newPdf({
    size: 'A4',
    margins: { top: 56, bottom: 72, left: 56, right: 56 },
    bufferPages: true,
    info: { Title: `Custos report ${report.reportId}`, Author: 'Custos' },
  });
  const done = collectPdf(doc);
  const text = (value: string) => printable(value);
  const heading = (title: string) =>
    doc.moveDown(0.8).font(FONT.bold).fontSize(13).text(text(title)).font(FONT.sans).fontSize(10);
  const row = (label: string, value: string) =>
    doc
      .font(FONT.bold)
      .text(`${text(label)}: `, { continued: true })
      .font(FONT.sans)
      .text(text(value));

  doc
    .font(FONT.bold)
    .fontSize(18)
    .text(text(TITLES[report.type] ?? `Ceremony report: ${report.type}`));
  doc.font(FONT.sans).fontSize(10).moveDown(0.3);
  row('Report id', report.reportId);
  // What report verify holds the report to: the markers its format requires (docs/reports.md, “The report format”).
  row('Report format', String(report.v));
  row('Generated', report.generatedAt);
  row('Installation', report.installation);
  row('SHA-256 of report.json', sha256);

  const c = report.ceremony;
  if (c && c.action === 'ceremony.script-run') scriptRunSection(doc, c, heading, row);
  else if (c) {
    heading('Ceremony');
    row('Proposal', `${String(c.id)} (${String(c.action)}), ${String(c.state)}`);
    row('Fingerprint approved', `${String(c.shortFingerprint)}  (${String(c.fingerprint)})`);
    // Reports signed before parameters were described carry only the raw ones.
    const inWords = c.paramsInWords;
    const params = Array.isArray(inWords)
      ? (inWords as string[])
      : paramsInWords(String(c.action), c.params, NO_LOOKUPS);
    doc.font(FONT.bold).text('Parameters:').font(FONT.sans);
    for (const line of params) doc.text(text(`    ${line}`));
    const token = c.token as Record<string, unknown>;
    const kind = typeof token.kind === 'string' ? ` (${token.kind})` : '';
    row(
      'Token',
      `${String(token.label)} serial ${String(token.serial)}, ${String(token.manufacturer ?? '')} ${String(token.model ?? '')}${kind}`,
    );
    row('Validation', String(token.validation ?? 'none recorded'));
    row(
      'Quorum',
      // Reports made before n was carried give the threshold alone.
      `${String(c.threshold)} of ${typeof c.holders === 'number' ? String(c.holders) : 'the custody’s'} share holders${Number(c.securityOfficersRequired) > 0 ? ` + ${String(c.securityOfficersRequired)} security officer(s)` : ''}`,
    );
    const decision = c.decision as
      | { status: 'recorded'; byName: string; reason: string | null; at: string }
      | { status: 'tampered'; message: string }
      | undefined;
    if (decision) {
      const verb = c.state === 'cancelled' ? 'Cancelled by' : 'Rejected by';
      if (decision.status === 'tampered') row(verb, `NOT SHOWN: ${decision.message}`);
      else {
        row(verb, `${decision.byName}, ${decision.at}`);
        row('Reason', decision.reason ?? 'none recorded');
      }
    }
    if (c.outcome !== undefined) {
      const failed = FailedOutcome.safeParse(c.outcome);
      const status = String((c.outcome as { status?: unknown } | null)?.status ?? 'none');
      row('Outcome', failed.success ? describeFailure(failed.data) : status);
      // Reports signed before outcomes were described carry only the raw result.
      const inWords = c.outcomeInWords;
      const described = Array.isArray(inWords)
        ? (inWords as string[])
        : (resultInWords(String(c.action), c.outcome, NO_LOOKUPS) ?? []);
      for (const line of described) doc.text(text(`    ${line}`));
    }
    const copies = c.copies as { inWords: string }[] | undefined;
    if (copies) {
      doc.font(FONT.bold).text('Every copy of the key, as this certificate was made:').font(FONT.sans);
      for (const copy of copies) doc.text(text(`    ${copy.inWords}`));
    }
    if (typeof c.pinBits === 'number') {
      row(
        'PIN strength',
        `${c.pinBits} bits per PIN${c.pinBits < 64 ? ' — WARNING: under 64 bits, because the token caps PIN length' : ''}`,
      );
    }
  }

  if (report.revocation) revocationSection(doc, report.revocation, heading, row);
  if (report.impact) impactSection(doc, report.impact, heading, row);

  if (report.compliance) {
    heading(`Findings as of ${report.compliance.asOf.slice(0, 10)}`);
    const findings = report.compliance.findings as {
      severity: string;
      title: string;
      evidence: string[];
      fix: string;
      controls: string[];
    }[];
    if (findings.length === 0) doc.text('No findings.');
    for (const f of findings) {
      doc
        .font(FONT.bold)
        .text(text(`[${f.severity.toUpperCase()}] ${f.title}`))
        .font(FONT.sans);
      doc
        .text(text(`Evidence: ${f.evidence.join('; ')}`))
        .text(text(`Fix: ${f.fix}`))
        .text(text(`Controls: ${f.controls.join(', ')}`))
        .moveDown(0.3);
    }
    heading('Controls: evidence held and what is missing');
    for (const c of report.compliance.controls as {
      control: string;
      what: string;
      evidence: string[];
      missing: string[];
    }[]) {
      doc
        .font(FONT.bold)
        .text(text(`${c.control} — ${c.what}`))
        .font(FONT.sans);
      doc
        .text(text(`Evidence: ${c.evidence.join('; ')}`))
        .text(text(`Missing: ${c.missing.length ? c.missing.join('; ') : 'nothing found'}`))
        .moveDown(0.3);
    }
  }

  if (report.participants.length > 0) {
    heading('Participants');
    for (const p of report.participants)
      doc.text(text(`${p.name} (${p.roles.join(', ')}) ${p.part} at ${p.at} with ${p.factors.join(' + ')}`));
  }
  const cardHolders = (c?.cardHolders ?? []) as CardHolder[];
  if (cardHolders.length > 0) {
    heading('Share card holders');
    for (const h of cardHolders) {
      const released = h.releasedAt
        ? `released to them at ${h.releasedAt} after passphrase + TOTP`
        : 'not released when this report was made';
      doc.text(text(`Card ${h.index}: ${h.name} — ${released}`));
    }
    const forgotten = c?.cardsForgotten as { at: string; seq: number } | null | undefined;
    if (forgotten !== undefined)
      doc.text(
        text(
          forgotten
            ? `Custodians confirmed every card collected, and Custos forgot the cards at ${forgotten.at} (audit ` +
                `entry ${forgotten.seq}): no card of this set can be released again.`
            : 'When this report was made, nobody had confirmed in Custos that every card was collected.',
        ),
      );
  }

  const destroyedCards = (c?.cardsDestroyed ?? []) as { index: number; name: string; destroyedAt: string | null }[];
  if (destroyedCards.length > 0) {
    heading('Share cards of the retired set');
    for (const card of destroyedCards) {
      const fate = card.destroyedAt
        ? `confirmed destroyed by its holder at ${card.destroyedAt} with passphrase + TOTP`
        : 'NOT YET CONFIRMED destroyed when this report was made';
      doc.text(text(`Card ${card.index}: ${card.name} — ${fate}`));
    }
  }

  if (report.keys.length > 0) {
    heading('Keys');
    for (const k of report.keys) {
      doc
        .font(FONT.bold)
        .text(text(`${k.label} — ${k.algorithm}, ${k.state}`))
        .font(FONT.sans);
      doc.text(text(`Key id (CKA_ID) ${k.id}`));
      doc.text(text(`Identity: ${keyIdentity(k, true)}`));
      doc.text(
        text(`Algorithm policy: ${k.policy.status}${k.policy.notes.length ? ` — ${k.policy.notes.join(' ')}` : ''}`),
      );
    }
  }

  if (report.steps.length > 0) {
    heading(report.ceremony ? 'Audit entries of the ceremony' : 'Audit entries (each with its proof in report.json)');
    doc.font(FONT.mono).fontSize(8);
    for (const s of report.steps)
      doc.text(
        printable(
          `${String(s.seq).padStart(7)}  ${s.time}  ${s.action.padEnd(26)} ${s.actor.slice(0, 18).padEnd(18)} ${s.result}`,
          FONT.mono,
        ),
      );
    doc.font(FONT.sans).fontSize(10);
  }
  if (report.witnesses.length > 0) {
    heading('Witnesses');
    for (const w of report.witnesses) doc.text(text(`${w.name} (${w.role}) signed off at ${w.at}`));
  }
  heading('Audit checkpoint (C2SP signed note)');
  monospaceBlock(doc, report.audit.checkpoint);
  doc.font(FONT.sans).fontSize(10);

  heading('Audit public key');
  const publicKey = Buffer.from(report.auditKey.publicKey, 'base64');
  const auditKey = ed25519PublicKeyObject(publicKey);
  row('Name', report.auditKey.name);
  // The same fingerprint `backup import --expect-audit-key` takes from this printout.
  row('SHA-256 of the key (DER SubjectPublicKeyInfo)', auditKeyFingerprint(publicKey));
  doc.text(text('Compare: openssl pkey -pubin -in audit-key.pem -outform DER | sha256sum'));
  doc.moveDown(0.3);
  monospaceBlock(doc, auditKey.export({ format: 'pem', type: 'spki' }).toString());
  doc.font(FONT.sans).fontSize(10);

  heading('How to verify this report without Custos');
  doc.list(report.howToVerify.map(text), { bulletRadius: 2 });

  heading('Signatures');
  const scripted = c?.action === 'ceremony.script-run';
  // One line per person, named by their first part: a proposer who then confirms as a new holder signs as proposer.
  const signers = report.participants
    .filter((p, i, all) => all.findIndex((q) => q.id === p.id) === i)
    .map((p) => `${p.name} (${scripted ? 'took part' : (SIGNS_AS[p.part] ?? 'approver')})`);
  const holderLines = cardHolders.map((h) => `${h.name} (card ${h.index} received)`);
  // A scripted ceremony's witnesses are named by its script and sign above as people who took part.
  const witnessLines =
    report.witnesses.length > 0
      ? report.witnesses.map((w) => `${w.name} (witness)`)
      : scripted
        ? []
        : ['Witness', 'Witness'];
  for (const signer of [...signers, ...holderLines, ...witnessLines, 'Auditor']) {
    doc.moveDown(1.4);
    if (doc.y > doc.page.height - 120) doc.addPage();
    const y = doc.y;
    doc
      .moveTo(doc.page.margins.left, y)
      .lineTo(doc.page.margins.left + 260, y)
      .stroke();
    doc
      .moveTo(doc.page.margins.left + 300, y)
      .lineTo(doc.page.margins.left + 420, y)
      .stroke();
    doc
      .fontSize(8)
      .text(text(`${signer} — name and signature`), doc.page.margins.left, y + 3)
      .text('Date', doc.page.margins.left + 300, y + 3)
      .fontSize(10);
    doc.x = doc.page.margins.left;
  }

  const rehearsal = report.type === 'ceremony.rehearsal';
  endWithFooters(
    doc,
    `${rehearsal ? 'REHEARSAL · ' : ''}Custos report ${report.reportId} · SHA-256 ${sha256}`,
    rehearsal ? 'REHEARSAL — a scratch token; no real token or key was touched' : undefined,
  );
  return done;
}

/** A scripted ceremony: the script's hash, each step as it went, and the script itself as reviewed. */
function scriptRunSection(doc: PDFKit.PDFDocument, c: Record<string, unknown>, heading: Heading, row: Row): void {
  const text = (value: string) => printable(value);
  heading('Ceremony');
  row('Title', String(c.title));
  row('Run', `${String(c.id)}, ${String(c.state)}; started ${String(c.startedAt)} by ${String(c.startedBy)}`);
  const token = c.token as Record<string, unknown>;
  row('Token', `${String(token.label)} serial ${String(token.serial)}`);
  const script = c.script as { sha256: string; text: string };
  row('SHA-256 of the script', script.sha256);
  heading('Steps');
  const steps = c.steps as {
    title: string;
    state: string;
    by: string;
    performedAt: string | null;
    witnesses: { name: string; signedAt: string | null }[];
    fingerprint: string | null;
    value: string | null;
    outcome: string | null;
  }[];
  steps.forEach((step, i) => {
    doc
      .font(FONT.bold)
      .text(text(`${i + 1}. ${step.title} — ${step.state}`))
      .font(FONT.sans);
    doc.text(text(`    by ${step.by}${step.performedAt ? ` at ${step.performedAt}` : ''}`));
    if (step.fingerprint) doc.text(text(`    fingerprint ${step.fingerprint}`));
    if (step.value) doc.text(text(`    recorded: ${step.value}`));
    if (step.outcome) doc.text(text(`    ${step.outcome}`));
    for (const w of step.witnesses)
      doc.text(text(`    witnessed by ${w.name}${w.signedAt ? ` at ${w.signedAt}` : ' (not confirmed)'}`));
  });
  const standIns = (c.standIns ?? []) as {
    proposalId: string;
    approvedBy: string[];
    keys: { label: string; keyId: string }[];
  }[];
  if (standIns.length > 0) {
    heading('Stand-in keys');
    doc.text(
      text(
        'The steps on real keys acted on stand-ins: new keys made in the rehearsal token with the real keys’ ids, ' +
          'labels, algorithms, usages and states. The real keys and their token were not touched.',
      ),
    );
    for (const made of standIns)
      for (const key of made.keys)
        doc.text(
          text(
            `    “${key.label}”, id ${key.keyId} (proposal ${made.proposalId}, approved by ${made.approvedBy.join(', ')})`,
          ),
        );
  }
  const practiceSets = (c.practiceSets ?? []) as {
    setId: string;
    threshold: number | null;
    holders: string[];
    keys: { label: string; keyId: string }[];
  }[];
  if (practiceSets.length > 0) {
    heading('Practice backup sets');
    doc.text(
      text(
        'The restores restored practice sets made by the rehearsal in the real sets’ place (same ids, holders and ' +
          'threshold; stand-ins for their keys), from practice cards. Real cards and keys were not used.',
      ),
    );
    for (const set of practiceSets)
      doc.text(
        text(
          `    set ${set.setId}: ${set.keys.map((k) => `“${k.label}”`).join(', ')}; practice cards for ` +
            `${set.holders.join(', ')} (any ${set.threshold ?? '?'})`,
        ),
      );
  }
  heading('The script, as reviewed');
  monospaceBlock(doc, script.text);
}

type Heading = (title: string) => unknown;
type Row = (label: string, value: string) => unknown;

/** The notice itself: the key, when and by whom, why, and what relying parties must do, before anything else. */
function revocationSection(doc: PDFKit.PDFDocument, r: RevocationNotice, heading: Heading, row: Row) {
  heading('Compromised key');
  row('Key', `${r.key.label} — ${algorithmName(r.key.algorithm)}, for ${r.key.usage}`);
  row('Key id (CKA_ID)', r.key.id);
  row('Identity', keyIdentity(r.key, true));
  row('Token', `${r.key.token.label} (serial ${r.key.token.serial})`);
  row('Marked compromised at', r.compromisedAt);
  row('By', `${r.by.name} (${r.by.roles.join(', ')}), with passphrase + TOTP`);
  row('Reason', r.reason);
  row('Recorded in audit entry', `${r.seq} (its params hash binds the reason)`);
  heading('What relying parties must do');
  doc.list(
    r.relyingParties.map((line) => printable(line)),
    { bulletRadius: 2 },
  );
}

/** Where the compromised key went: ceremonies, backup sets, tokens and reports, each by id. */
function impactSection(doc: PDFKit.PDFDocument, i: CompromiseImpact, heading: Heading, row: Row) {
  const text = (value: string) => printable(value);
  heading('Compromised key');
  row('Key', `${i.key.label} — ${algorithmName(i.key.algorithm)}, for ${i.key.usage}; now ${i.key.state}`);
  row('Key id (CKA_ID)', i.key.id);
  row('Identity', keyIdentity(i.key, true));
  row('Marked compromised at', i.compromisedAt);
  row('Reason', i.reason ?? 'none recorded');
  heading(`Ceremonies that used or moved it (${i.ceremonies.length})`);
  if (i.ceremonies.length === 0) doc.text('None.');
  for (const c of i.ceremonies)
    doc.text(text(`${c.action} ${c.id}, ${c.state}${c.closedAt ? ` ${c.closedAt}` : ''}, at ${c.token.label}`));
  heading(`Backup sets holding a copy (${i.backupSets.length})`);
  if (i.backupSets.length === 0) doc.text('None.');
  for (const b of i.backupSets) {
    doc.font(FONT.bold).text(text(`Set ${b.setId}, made ${b.createdAt} from ${b.token.label}`));
    doc.font(FONT.sans).text(text(`Card holders: ${b.holders.join(', ')}`));
    doc.text(text(`Verified: ${b.verifiedAt ?? 'never'}`));
    doc.text(text(`Other keys in it: ${b.otherKeys.length ? b.otherKeys.join(', ') : 'none'}`));
  }
  heading(`Tokens a copy went into (${i.tokens.length})`);
  for (const t of i.tokens) doc.text(text(`${t.label} (serial ${t.serial}): ${t.how.join('; ')}`));
  heading(`Reports that name it (${i.reports.length})`);
  if (i.reports.length === 0) doc.text('None.');
  for (const r of i.reports) doc.text(text(`${r.id} ${r.type}, ${r.createdAt}, SHA-256 ${r.sha256}`));
  heading(`Exports of its public key (${i.publicKeyExports.length})`);
  if (i.publicKeyExports.length === 0) doc.text('None recorded.');
  for (const e of i.publicKeyExports) doc.text(text(`Entry ${e.seq}, ${e.time}, by ${e.actor}: ${e.result}`));
  const wrapped = i.wrappedCopies ?? [];
  heading(`Wrapped copies sent out (${wrapped.length})`);
  if (wrapped.length === 0) doc.text('None.');
  for (const w of wrapped) {
    doc.font(FONT.bold).text(text(`To “${w.recipient.label}” (${w.recipient.algorithm}), ${w.at ?? 'time unknown'}`));
    doc.font(FONT.sans).text(text(`Recipient key SHA-256: ${w.recipient.fingerprint}`));
    doc.text(text(`Package ${w.packageId} (${w.scheme}), file SHA-256: ${w.sha256}`));
    doc.text(text(`Ceremony ${w.proposalId}`));
  }
}
