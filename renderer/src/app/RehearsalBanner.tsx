import { END_REHEARSAL_PAGE } from '../screens/run-words';
import { useCustos } from '../store/context';
import { rehearsalRun } from '../store/rehearsal-slice';
import { Outcome } from './Outcome';

/**
 * While a rehearsal is open every screen shows its scratch installation, so every screen says so, above its content,
 * with the way out: finishing at once once the rehearsal's run is complete, otherwise a page that confirms it.
 */
export function RehearsalBanner() {
  const active = useCustos((s) => s.rehearsal.active);
  const run = useCustos(rehearsalRun);
  const end = useCustos((s) => s.endRehearsal);
  const navigate = useCustos((s) => s.navigate);
  const page = useCustos((s) => s.page);
  const busy = useCustos((s) => s.rehearsalBusy === 'end');
  // The confirmation page shows its own refusal.
  const error = useCustos((s) =>
    s.rehearsalErrorAt === 'end' && s.page !== END_REHEARSAL_PAGE ? s.rehearsalError : null,
  );
  if (!active) return null;
  const finished = run?.state === 'done';
  return (
    <section className="rehearsal-banner" aria-labelledby="rehearsal-banner-title">
      <div className="rehearsal-banner-text">
        <h2 id="rehearsal-banner-title">REHEARSAL</h2>
        <p>
          This is a scratch installation on the token {active.token.label} (serial <code>{active.token.serial}</code>).
          No real token or key is touched.
        </p>
        <p>
          Rehearsing “{active.title}”
          {finished ? ': its run is complete. Finish the rehearsal to write its report.' : '.'}
        </p>
        <Outcome error={error} errorTitle="The rehearsal did not end" notice={null} />
      </div>
      {page === END_REHEARSAL_PAGE ? null : finished ? (
        <button type="button" onClick={() => void end()} disabled={busy}>
          {busy ? 'Finishing…' : 'Finish the rehearsal'}
        </button>
      ) : (
        <button type="button" onClick={() => navigate('ceremonies', END_REHEARSAL_PAGE)}>
          End the rehearsal…
        </button>
      )}
    </section>
  );
}
