import { useEffect, useState, type ChangeEvent, type FormEvent } from 'react';
import { fingerprintInGroups } from '../../../shared/backups';
import type { LintReport, LintedStep } from '../../../shared/ceremony-script';
import { ErrorSummary, factorIds, factorProblem, missingFactors, type Problem } from '../app/ErrorSummary';
import { emptyProof, FactorFields } from '../app/FactorFields';
import { useCustos } from '../store/context';
import { Outcome } from '../app/Outcome';
import { NextStep } from '../app/NextStep';
import type { CustosState } from '../store/index';
import { rehearsalRun } from '../store/rehearsal-slice';
import { RehearseSection } from './RehearsalPages';
import { CardPrinter } from './BackupPanels';
import { runPage, utc } from './run-words';

const FILE_FIELD = 'script-file';

/**
 * Check a script: the file chosen here is read in the page and its text (never a path) goes to lint. A clean script is
 * shown as it is printed for review and signing, and its administrator can start it, or rehearse it first. While a
 * rehearsal is open the scratch installation checks it, and the run started here is the rehearsal's.
 */
export function ScriptCheckPage() {
  const check = useCustos((s) => s.checkScript);
  const checked = useCustos((s) => s.scriptCheck);
  const busy = useCustos((s) => s.runBusy);
  const error = useCustos((s) => (s.runErrorAt === 'check' ? s.runError : null));
  const rehearsalNotice = useCustos((s) => (s.rehearsal.active ? s.rehearsalNotice : null));
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
      <Outcome error={null} notice={rehearsalNotice} />
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
      </div>
      {checked && <CheckedScript fileName={checked.fileName} report={checked.report} />}
    </>
  );
}

function CheckedScript({ fileName, report }: { fileName: string; report: LintReport }) {
  const active = useCustos((s) => s.rehearsal.active);
  const otherScript = active !== null && report.sha256 !== active.scriptSha256;
  const standIns = useCustos(standInsState);
  const recheck = useCustos((s) => s.recheckScript);
  // Made since this check: the rehearsal now has the keys its steps name, so the script is checked again.
  const made = standIns === 'executed';
  useEffect(() => {
    if (made && !report.ok) void recheck();
  }, [made, report.ok, recheck]);
  if (standIns !== null && standIns !== 'executed' && !otherScript) return <StandInsFirst state={standIns} />;
  return (
    <>
      {otherScript && (
        <ErrorSummary
          problems={[]}
          error={{
            code: 'REHEARSAL_ACTIVE',
            message: `The rehearsal of “${active.title}” is open: only that script runs here until it ends.`,
            remedy: ['End the rehearsal first to check or run another script.'],
          }}
          link={{ field: FILE_FIELD, text: 'Choose the rehearsed file' }}
        />
      )}
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
      {report.ok && active && !otherScript && (
        <p className="notice notice-warning no-print script-checked">
          This is “{fileName}” as the rehearsal’s scratch installation checks it: its token is {active.token.label}, so
          its fingerprints differ from the printed script’s. During the rehearsal the approvers compare the runner’s
          fingerprint with this page; the real run’s are the printed ones.
        </p>
      )}
      {report.ok && !active && (
        <div className="no-print script-checked">
          <p role="status" className="notice notice-ok">
            “{fileName}” has no problems. Print it, have it reviewed and signed, and do not change a byte of the file:
            its SHA-256 is bound into every proposal of the run.
          </p>
          <button type="button" onClick={() => window.print()}>
            Print the script
          </button>{' '}
          <KeepAsPlanned sha256={report.sha256} />
        </div>
      )}
      {report.steps.length > 0 && <PrintedScript report={report} />}
      {report.ok && active && !otherScript && <PracticeCards />}
      {report.ok && !otherScript && <RunOrRehearse report={report} />}
    </>
  );
}

/**
 * Where the open rehearsal's stand-in keys stand once its token is taken: 'unproposed', then the proposal's state.
 * Null when it makes none.
 */
function standInsState(s: CustosState): string | null {
  const active = s.rehearsal.active;
  if (!active?.standIns || active.custody?.taken === false) return null;
  const id = active.standIns.proposalId;
  if (!id) return 'unproposed';
  return (s.proposals ?? []).find((p) => p.id === id)?.state ?? 'open';
}

/** Before a rehearsal's run: the stand-ins the script's real keys need, proposed here and approved on Approvals. */
function StandInsFirst({ state }: { state: string }) {
  const keys = useCustos((s) => s.rehearsal.active?.standIns?.keys ?? []);
  const by = useCustos((s) => s.rehearsal.active?.standIns?.by ?? '');
  return (
    <section className="card no-print" aria-labelledby="stand-ins-title">
      <h2 id="stand-ins-title">Before the rehearsal run: the stand-in keys</h2>
      <p>
        The script acts on real keys — {keys.map((k) => `“${k}”`).join(', ')}. The rehearsal runs those steps on
        stand-ins: new keys in the rehearsal token with the same ids, labels, algorithms, usages and states, never
        copies. {by}, who performs the first step on them, proposes them; until the other holders approve them, the
        rehearsal has no key for those steps and its run cannot start.
      </p>
      {state === 'unproposed' ? (
        <ProposeStandIns by={by} />
      ) : state === 'open' ? (
        <NextStep screen="approvals" action="Go to Approvals">
          The other holders approve the stand-ins on Approvals, as any proposal: the fingerprint is on that screen (the
          printed script has none for them).
        </NextStep>
      ) : (
        <p role="alert" className="notice notice-warning">
          The stand-ins were not made (their proposal is {state}). End the rehearsal and start it again to propose them
          anew.
        </p>
      )}
    </section>
  );
}

/** The stand-ins' proposer gives both factors, as for any proposal; the keys are what the real inventory says. */
function ProposeStandIns({ by }: { by: string }) {
  const custodians = useCustos((s) => s.custodians) ?? [];
  const propose = useCustos((s) => s.proposeStandIns);
  const busy = useCustos((s) => s.rehearsalBusy === 'stand-ins');
  const error = useCustos((s) => (s.rehearsalErrorAt === 'stand-ins' ? s.rehearsalError : null));
  const proposer = custodians.filter((c) => c.name === by);
  const [typed, setProof] = useState(emptyProof());
  // The proposer is chosen already: the list of people may arrive after the page opened.
  const proof = { ...typed, custodianId: typed.custodianId || (proposer[0]?.id ?? '') };
  const [problems, setProblems] = useState<Problem[]>([]);
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const missing = missingFactors(proof, 'stand-ins', 'proposes them');
    setProblems(missing);
    if (missing.length > 0) return;
    await propose(proof);
    setProof(emptyProof(proof.custodianId));
  };
  return (
    <form aria-label="Propose the stand-in keys" onSubmit={(e) => void submit(e)} noValidate>
      <ErrorSummary
        problems={problems}
        error={error}
        link={error && factorProblem(error.code, factorIds('stand-ins'))}
      />
      <p>
        {by} proposes them with both factors. A code used to take the token counts once: wait for the authenticator’s
        next code.
      </p>
      <FactorFields id="stand-ins" label="Proposer" proof={proof} onChange={setProof} choices={proposer} />
      <button type="submit" className="primary" disabled={busy}>
        {busy ? 'Proposing…' : 'Propose the stand-ins'}
      </button>
    </form>
  );
}

/**
 * Before a rehearsal's run, for a script that restores a real backup set: the practice set made in its place, whose
 * practice cards each holder takes here (both factors, one card each) to type at the restore step.
 */
function PracticeCards() {
  const sets = useCustos((s) => s.rehearsal.active?.practiceSets ?? []);
  const printing = useCustos((s) => s.printing);
  const show = useCustos((s) => s.showCards);
  const run = useCustos(rehearsalRun);
  if (sets.length === 0 || run) return null;
  const handing = printing && sets.some((set) => set.setId === printing.setId);
  return (
    <>
      <section className="card no-print" aria-labelledby="practice-cards-title">
        <h2 id="practice-cards-title">Before the rehearsal run: the practice cards</h2>
        {sets.map((set) => (
          <div key={set.setId}>
            <p>
              The script restores backup set <code>{set.setId.slice(0, 8)}</code>. Real cards never go into a rehearsal:
              it made a practice set in its place, with the same id and holders, holding stand-ins for{' '}
              {set.keys.map((k) => `“${k}”`).join(', ')}. Its practice cards go to {set.holders.join(', ')}; any{' '}
              {set.threshold} of them restore it. Each holder takes their own card here, and types it at the restore
              step. The real cards stay sealed.
            </p>
            {!handing && (
              <button type="button" onClick={() => void show(set.setId)}>
                Hand out the practice cards
              </button>
            )}
          </div>
        ))}
      </section>
      {handing && <CardPrinter />}
    </>
  );
}

/** Keeps the checked script as planned (listed under Ceremony scripts until its run starts), once. */
function KeepAsPlanned({ sha256 }: { sha256: string }) {
  const plan = useCustos((s) => s.planScript);
  const busy = useCustos((s) => s.runBusy);
  const isPlanned = useCustos((s) => (s.planned ?? []).some((p) => p.sha256 === sha256));
  if (isPlanned)
    return (
      <p role="status" className="notice notice-ok">
        Kept as planned: Ceremonies lists it, from this same file, until its run starts.
      </p>
    );
  return (
    <button type="button" onClick={() => void plan()} disabled={busy}>
      Keep as planned
    </button>
  );
}

/**
 * The page's one primary action: starting the run, or rehearsing first where the policy asks for a passed rehearsal of
 * this exact file and none passed yet. While its rehearsal is open, starting (or going to) the rehearsal's run.
 */
function RunOrRehearse({ report }: { report: LintReport }) {
  const rehearsing = useCustos((s) => s.rehearsal.active !== null);
  const run = useCustos(rehearsalRun);
  const navigate = useCustos((s) => s.navigate);
  if (rehearsing && run)
    return (
      <div className="card no-print">
        <p>The rehearsal run of this script has started.</p>
        <button type="button" className="primary" onClick={() => navigate('ceremonies', runPage(run.id))}>
          Go to the rehearsal run
        </button>
      </div>
    );
  if (rehearsing) return <StartForm report={report} rehearsal />;
  if (report.rehearsal?.required && report.rehearsal.lastPassed === null)
    return <RehearseSection report={report} primary />;
  return (
    <>
      <StartForm report={report} rehearsal={false} />
      <RehearseSection report={report} primary={false} />
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

/** The administrator the script names proves both factors; the run (or the rehearsal's run) opens on its page. */
function StartForm({ report, rehearsal }: { report: LintReport; rehearsal: boolean }) {
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
      <h2 id="start-title">{rehearsal ? 'Start the rehearsal run' : 'Start this ceremony'}</h2>
      <ErrorSummary problems={problems} error={error} link={error && factorProblem(error.code, factorIds('start'))} />
      {rehearsal ? (
        <p>
          <strong>This run is the rehearsal.</strong> {name}, the administrator this script names, starts it with both
          factors; each step is then done and witnessed as in the real ceremony, on the scratch token.
        </p>
      ) : (
        <p>
          {name}, the administrator this script names, starts it with both factors. Each step is then done by the person
          the script names, and confirmed by its witnesses. The run is recorded step by step: Custos can be closed at
          any time, and the run resumes on its page.
        </p>
      )}
      <FactorFields id="start" label="Administrator" proof={proof} onChange={setProof} choices={administrator} />
      <button type="submit" disabled={busy}>
        {busy ? 'Starting…' : rehearsal ? 'Start the rehearsal run' : 'Start this ceremony'}
      </button>
    </form>
  );
}
