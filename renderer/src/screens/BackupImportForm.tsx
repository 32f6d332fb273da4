import { useEffect, useRef, useState, type FormEvent } from 'react';
import {
  AUTHENTICATION_IN_WORDS,
  AuditKeyFingerprint,
  fingerprintInGroups,
  type BackupImportResult,
} from '../../../shared/backups';
import { ErrorNotice } from '../app/ErrorNotice';
import { useCustos } from '../store/context';
import { PAGE_TITLE_ID } from '../app/SubPage';

/**
 * Disaster recovery, step one: a backup file (from this workstation or a lost one) is stored here.
 * Main asks for the file itself; this form only sends the fingerprint a person copied from a report.
 */
export function BackupImportForm() {
  const importBackup = useCustos((s) => s.importBackup);
  const { result, error } = useCustos((s) => s.backupImport);
  const busy = useCustos((s) => s.quorumBusy);
  const [fingerprint, setFingerprint] = useState('');
  const [fieldError, setFieldError] = useState<string | null>(null);
  const [answered, setAnswered] = useState(0);
  const answer = useRef<HTMLDivElement>(null);
  const field = useRef<HTMLInputElement>(null);
  useEffect(() => {
    if (answered > 0) answer.current?.focus();
  }, [answered]);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const typed = fingerprint.trim();
    const pinned = typed === '' ? null : AuditKeyFingerprint.safeParse(typed);
    if (pinned && !pinned.success) {
      setFieldError(pinned.error.issues[0]?.message ?? 'This is not an audit key fingerprint.');
      field.current?.focus();
      return;
    }
    setFieldError(null);
    if (await importBackup(pinned?.data)) setFingerprint('');
    setAnswered((n) => n + 1);
  };

  return (
    <form className="card" aria-labelledby={PAGE_TITLE_ID} onSubmit={(e) => void submit(e)}>
      <p>
        If the workstation that made a backup is lost, import its backup file here, then restore it with the share cards
        (Ceremonies › Restore a backup). Custos asks you to choose the file. Importing only stores it: nothing is
        restored until the quorum approves and enough card holders enter their cards.
      </p>
      <label htmlFor="import-audit-key">Audit key fingerprint from the printed report (optional)</label>
      <p id="import-audit-key-help" className="muted">
        In a report of the installation that made the backup, under “Audit public key”: the 64 characters of “SHA-256 of
        the key”. With it, Custos refuses a file that installation did not sign; without it, the share cards check the
        file when they are entered.
      </p>
      {fieldError && (
        <p id="import-audit-key-error" className="field-error">
          {fieldError}
        </p>
      )}
      <input
        id="import-audit-key"
        ref={field}
        type="text"
        value={fingerprint}
        onChange={(e) => setFingerprint(e.target.value)}
        aria-describedby={fieldError ? 'import-audit-key-error import-audit-key-help' : 'import-audit-key-help'}
        aria-invalid={fieldError ? true : undefined}
        autoComplete="off"
        spellCheck={false}
      />
      <button type="submit" disabled={busy}>
        {busy ? 'Importing the file…' : 'Choose the backup file…'}
      </button>
      {(result || error) && (
        <div ref={answer} tabIndex={-1} className="answer">
          {error ? (
            <ErrorNotice error={error} title="The backup file was not imported" />
          ) : (
            result && <ImportAnswer result={result} />
          )}
        </div>
      )}
    </form>
  );
}

function ImportAnswer({ result }: { result: BackupImportResult }) {
  const custodies = (useCustos((s) => s.custodies) ?? []).filter((c) => c.state === 'active');
  const navigate = useCustos((s) => s.navigate);
  if (result.outcome === 'cancelled') {
    return (
      <p role="status" className="notice">
        No file was chosen, so nothing was imported.
      </p>
    );
  }
  const { backup, authentication } = result;
  const { madeBy } = backup;
  return (
    <section role="status" className="notice notice-ok" aria-labelledby="import-answer-title">
      <h3 id="import-answer-title" className="notice-title">
        Backup set <code>{backup.setId.slice(0, 8)}</code> is stored on this installation
      </h3>
      <dl className="facts">
        <dt>Made by</dt>
        <dd>
          {madeBy.here ? (
            'this installation'
          ) : madeBy.auditKey ? (
            <>
              another installation, audit key <code>{fingerprintInGroups(madeBy.auditKey)}</code>
            </>
          ) : (
            `another installation (${madeBy.installation})`
          )}
        </dd>
        <dt>Authenticity</dt>
        <dd>{AUTHENTICATION_IN_WORDS[authentication]}</dd>
        <dt>Made on</dt>
        <dd>
          {backup.createdAt.slice(0, 16).replace('T', ' ')}, from token “{backup.token.label}”
        </dd>
        <dt>Keys</dt>
        <dd>{backup.keys.map((k) => `${k.label} (${k.algorithm})`).join(', ')}</dd>
        <dt>Cards needed</dt>
        <dd>
          any {backup.threshold} of {backup.holders.map((h) => h.name).join(', ')}
        </dd>
      </dl>
      <p>
        {custodies.length > 0 ? (
          <>
            Next:{' '}
            <button type="button" className="link" onClick={() => navigate('ceremonies', 'restore')}>
              propose the restore
            </button>{' '}
            into a token in custody here.
          </>
        ) : (
          <>
            Next:{' '}
            <button type="button" className="link" onClick={() => navigate('ceremonies', 'take-custody')}>
              take a token into custody
            </button>
            , then propose the restore into it.
          </>
        )}
      </p>
    </section>
  );
}
