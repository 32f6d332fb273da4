import { useState, type ChangeEvent, type FormEvent } from 'react';
import { fingerprintInGroups } from '../../../shared/backups';
import type { LintReport, LintedStep } from '../../../shared/ceremony-script';
import { ErrorSummary, factorIds, factorProblem, missingFactors, type Problem } from '../app/ErrorSummary';
import { emptyProof, FactorFields } from '../app/FactorFields';
import { useCustos } from '../store/context';
import { RehearseHint } from './CeremonyScripts';
import { runPage } from './run-words';

const FILE_FIELD = 'script-file';

/**
 * Check a script: the file chosen here is read in the page and its text (never a path) goes to lint. A clean script is
 * shown as it is printed for review and signing, and its administrator can start it.
 */
export function ScriptCheckPage() {
  const check = useCustos((s) => s.checkScript);
  const checked = useCustos((s) => s.scriptCheck);
  const busy = useCustos((s) => s.runBusy);
  const error = useCustos((s) => (s.runErrorAt === 'check' ? s.runError : null));
  const [unreadable, setUnreadable] = useState<Problem[]>([]);
  const choose = async (event: ChangeEvent<HTMLInputElement>) => {
    const file = event.target.files?.[0];
    if (!file) return;
    setUnreadable([]);
    try {
      await check(file.name, await file.text());
    } catch {
      setUnreadable([{ field: FILE_FIELD, text: `“${file.name}” could not be read: choose the file again` }]);
    }
  };
  return (
    <>
      <div className="card no-print">
        <p>
          Choose the ceremony script, a YAML file written from a template in <code>resources/ceremonies/</code>. Custos
          checks it against this installation — the people, their roles, the token, the policy — and computes the
          fingerprint of every quorum step, so the printed script carries what the approvers will compare aloud.
        </p>
        <ErrorSummary problems={unreadable} error={error} link={null} />
        <label htmlFor={FILE_FIELD}>Ceremony script (YAML)</label>
        <input
          id={FILE_FIELD}
          type="file"
          accept=".yml,.yaml,text/yaml"
          onChange={(e) => void choose(e)}
          disabled={busy}
        />
        <RehearseHint />
      </div>
      {checked && <CheckedScript fileName={checked.fileName} report={checked.report} />}
    </>
  );
}

function CheckedScript({ fileName, report }: { fileName: string; report: LintReport }) {
  return (
    <>
      {!report.ok && (
        <ErrorSummary
          problems={[]}
          error={{
            code: 'CEREMONY_SCRIPT_INVALID',
            message: `“${fileName}” cannot be run as written. Fix each problem in the file, then choose it again.`,
            remedy: report.problems,
          }}
          link={{ field: FILE_FIELD, text: 'Choose the corrected file' }}
        />
      )}
      {report.ok && (
        <div className="no-print script-checked">
          <p role="status" className="notice notice-ok">
            “{fileName}” has no problems. Print it, have it reviewed and signed, and do not change a byte of the file:
            its SHA-256 is bound into every proposal of the run.
          </p>
          <button type="button" onClick={() => window.print()}>
            Print the script
          </button>
        </div>
      )}
      {report.steps.length > 0 && <PrintedScript report={report} />}
      {report.ok && <StartForm report={report} />}
    </>
  );
}

/** The script as it is printed for review: each step in words, who acts, the fingerprint, and a signature line. */
function PrintedScript({ report }: { report: LintReport }) {
  const header = report.header;
  return (
    <article className="card printed-script" aria-labelledby="script-title">
      <h2 id="script-title">Ceremony script: {report.title}</h2>
      <dl className="facts">
        <dt>SHA-256 of the file</dt>
        <dd>
          <code className="script-hash">{fingerprintInGroups(report.sha256)}</code>
        </dd>
        {header && (
          <>
            <dt>Purpose</dt>
            <dd>{header.purpose}</dd>
            <dt>Where</dt>
            <dd>{header.location}</dd>
            <dt>When</dt>
            <dd>
              from {utc(header.window.opens)} until {utc(header.window.closes)}
            </dd>
            <dt>Token</dt>
            <dd>
              {header.token.label} (serial <code>{header.token.serial}</code>)
            </dd>
            <dt>Administrator</dt>
            <dd>{header.roles.administrator}</dd>
            <dt>Custodians</dt>
            <dd>{header.roles.custodians.join(', ')}</dd>
            {header.roles.securityOfficer && (
              <>
                <dt>Security officer</dt>
                <dd>{header.roles.securityOfficer}</dd>
              </>
            )}
            <dt>Witnesses</dt>
            <dd>{header.roles.witnesses.join(', ') || 'none'}</dd>
            {header.roles.auditor && (
              <>
                <dt>Auditor</dt>
                <dd>{header.roles.auditor}</dd>
              </>
            )}
          </>
        )}
      </dl>
      <ol className="script-steps">
        {report.steps.map((step) => (
          <ScriptStepLine key={step.id} step={step} />
        ))}
      </ol>
      <p className="signature-line">
        Reviewed and approved for the ceremony: name ________________ signature ________________ date ________
      </p>
    </article>
  );
}

function ScriptStepLine({ step }: { step: LintedStep }) {
  return (
    <li className="script-step">
      <h3>
        {step.index + 1}. {step.title}
      </h3>
      {step.words.map((line) => (
        <p key={line}>{line}</p>
      ))}
      <p>
        Performed by <strong>{step.by}</strong>
        {step.approvers.length > 0 && (
          <>
            ; approved by <strong>{step.approvers.join(', ')}</strong>
          </>
        )}
        .
      </p>
      {step.shortFingerprint && (
        <p>
          Fingerprint to compare aloud: <code className="fingerprint fingerprint-large">{step.shortFingerprint}</code>
          <br />
          <span className="muted">
            full: <code>{fingerprintInGroups(step.fingerprint ?? '')}</code>
          </span>
        </p>
      )}
      {step.readAloud && <p>{step.readAloud}</p>}
      {step.witnesses.map((w) => (
        <p key={w} className="signature-line">
          Witnessed by {w}: signature ________________ time ________
        </p>
      ))}
    </li>
  );
}

/** The administrator the script names proves both factors; the run opens on its page. */
function StartForm({ report }: { report: LintReport }) {
  const custodians = useCustos((s) => s.custodians) ?? [];
  const start = useCustos((s) => s.startRun);
  const navigate = useCustos((s) => s.navigate);
  const busy = useCustos((s) => s.runBusy);
  const error = useCustos((s) => (s.runErrorAt === 'start' ? s.runError : null));
  const name = report.header?.roles.administrator ?? '';
  const administrator = custodians.filter((c) => c.name === name);
  const [typed, setProof] = useState(emptyProof());
  // The administrator is chosen already: the list of people may arrive after the page opened.
  const proof = { ...typed, custodianId: typed.custodianId || (administrator[0]?.id ?? '') };
  const [problems, setProblems] = useState<Problem[]>([]);
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const missing = missingFactors(proof, 'start', 'starts it');
    setProblems(missing);
    if (missing.length > 0) return;
    const runId = await start(proof);
    setProof(emptyProof(proof.custodianId));
    if (runId) navigate('ceremonies', runPage(runId));
  };
  return (
    <form className="card no-print" aria-labelledby="start-title" onSubmit={(e) => void submit(e)} noValidate>
      <h2 id="start-title">Start this ceremony</h2>
      <ErrorSummary problems={problems} error={error} link={error && factorProblem(error.code, factorIds('start'))} />
      <p>
        {name}, the administrator this script names, starts it with both factors. Each step is then done by the person
        the script names, and confirmed by its witnesses. The run is recorded step by step: Custos can be closed at any
        time, and the run resumes on its page.
      </p>
      <FactorFields id="start" label="Administrator" proof={proof} onChange={setProof} choices={administrator} />
      <button type="submit" disabled={busy}>
        {busy ? 'Starting…' : 'Start this ceremony'}
      </button>
    </form>
  );
}

const utc = (instant: string) => `${new Date(instant).toISOString().slice(0, 16).replace('T', ' ')} UTC`;
