import type { AuditActor, AuditVerdict, CheckpointInfo } from '../../../shared/audit';
import { CustosError, fileError, isCustosError, shown } from '../errors';
import type { Store } from '../store/database';
import { AuditBrowser } from './audit-browser';
import type { AuditService } from './audit-service';
import { writeBundle } from './bundle';
import { parseCheckpoint, parseNote } from './checkpoint';
import { writeExport, type Trail } from './exports';
import { verifyStoredLog, type VerifyOptions } from './verify-store';

/**
 * What a person does with the audit log — checkpoint, repair, verify, export, browse — each
 * recorded in the log itself. The audit handlers and the CLI (through the core) both use these.
 */
export class AuditOperations {
  constructor(private readonly options: { store: Store; audit: AuditService; actor: AuditActor; version: string }) {}

  browser(): AuditBrowser {
    const key = this.options.audit.noteKey();
    if (!key) throw new CustosError('AUDIT_UNAVAILABLE', 'There is no audit log yet.');
    return new AuditBrowser(this.options.store, this.options.audit.log(), key);
  }

  /** Signs a checkpoint, recording the request first so the checkpoint covers it. */
  checkpoint(reason: string) {
    const log = this.options.audit.log();
    log.record({ actor: this.options.actor, action: 'audit.checkpoint', params: { reason } });
    const { treeSize, note, createdAt } = this.options.audit.checkpoint(reason);
    return { treeSize, note, createdAt, reason };
  }

  /** Rebuilds the stored Merkle tree from the entries (custos audit repair-tree); the repair is an entry itself. */
  repairTree(): { size: number; rewritten: number; root: string } {
    const log = this.options.audit.log();
    try {
      return log.repairTree(this.options.actor);
    } catch (error) {
      log.record({
        actor: this.options.actor,
        action: 'audit.tree.repair',
        result: { status: 'failed', code: isCustosError(error) ? error.code : 'INTERNAL' },
      });
      throw error;
    }
  }

  /** Verifies the live log (optionally against checkpoints kept elsewhere) and records that it did. */
  async verify(options: VerifyOptions = {}): Promise<AuditVerdict> {
    const { audit } = this.options;
    const proven = audit.provenKey();
    const finding = audit.finding();
    const verdict = await verifyStoredLog(this.options.store, {
      ...options,
      ...(options.key ? {} : proven ? { key: proven, keySource: 'token' as const } : {}),
      // The checkpoint kept in the audit token is trusted like one kept by an auditor.
      trustedCheckpoints: [...(options.trustedCheckpoints ?? []), ...audit.anchors()],
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
    await audit.tryRecord({
      actor: this.options.actor,
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
  export(
    target: string,
    format: 'bundle' | 'csv' | 'cef',
    trail: Trail,
  ): { path: string; entries: number; checkpoint: CheckpointInfo } {
    const { audit, actor } = this.options;
    const log = audit.log();
    log.record({ actor, action: 'audit.export', params: { format, trail } });
    try {
      // Inside the try: a checkpoint refused (an unverifiable tail, a corrupt tree) is recorded too.
      const closing = audit.checkpoint(`export (${format})`);
      const checkpoint = {
        treeSize: closing.treeSize,
        note: closing.note,
        createdAt: closing.createdAt,
        reason: closing.reason,
      };
      if (format === 'bundle') {
        const summary = writeBundle(log, audit.noteKey()!, target, closing);
        return { path: target, entries: summary.entries, checkpoint };
      }
      const { size: treeSize, root } = parseCheckpoint(parseNote(closing.note).text);
      const entries = writeExport(target, log.entries(), format, trail, this.options.version, { treeSize, root });
      return { path: target, entries, checkpoint };
    } catch (error) {
      // The request is on record already; its failure must be too. A destination that cannot be used (no such
      // folder, a folder where the file goes, no permission, a full disk) is said as such, not as INTERNAL.
      const known = isCustosError(error) ? error : fileError(error);
      const code = known?.code ?? 'INTERNAL';
      log.record({
        actor,
        action: 'audit.export',
        params: { format, trail },
        result: { status: 'failed', code },
      });
      if (isCustosError(error)) throw error;
      throw new CustosError(
        code,
        `The export to ${shown(target)} failed; nothing usable was written there.${known ? ` ${known.message}` : ''}`,
        known?.remedy.length
          ? known.remedy
          : ['Check that the folder exists, is writable and has space, then export again.'],
        { cause: error },
      );
    }
  }
}
