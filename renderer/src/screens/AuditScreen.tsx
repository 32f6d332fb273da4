import { useEffect, useRef, useState, type FormEvent, type KeyboardEvent } from 'react';
import type { AuditFilter, AuditRow } from '../../../shared/audit';
import { ErrorNotice } from '../app/ErrorNotice';
import { actionTitle } from '../../../shared/actions';
import { AUDIT_PAGE } from '../store/audit-slice';
import { useCustos } from '../store/context';

const ROW = 32;
const VISIBLE = 16;
/** Browsers cap an element's height (~33M px in Chromium): beyond this the scrollbar is scaled. */
const MAX_SCROLL_HEIGHT = 8_000_000;

export function AuditScreen() {
  const search = useCustos((s) => s.searchAudit);
  const error = useCustos((s) => s.auditError);
  const detail = useCustos((s) => s.auditDetail);
  const audit = useCustos((s) => s.snapshot?.audit);
  const query = useCustos((s) => s.auditQuery);

  const loadCustodians = useCustos((s) => s.loadCustodians);
  const loadKeys = useCustos((s) => s.loadKeys);
  const loadQuorum = useCustos((s) => s.loadQuorum);

  useEffect(() => {
    // Names are read after the first search, so the reads they record fall outside the rows it counts.
    void search({}).then(() => Promise.all([loadCustodians(), loadKeys(), loadQuorum()]));
  }, [search, loadCustodians, loadKeys, loadQuorum]);

  return (
    <section aria-labelledby="screen-title">
      <h1 id="screen-title">Audit log</h1>
      {audit?.state === 'ready' && (
        <p className="muted">
          Log <code>{audit.origin}</code>, signed by audit key <code>{audit.keyId}</code> in token “{audit.token.label}
          ”.
        </p>
      )}
      <VerifyPanel />
      <Filters />
      {error && <ErrorNotice error={error} />}
      {/* A new search starts a fresh table: scroll position and cursor reset with it. */}
      <AuditTable key={query} />
      {detail && <EntryDetail />}
    </section>
  );
}

function Filters() {
  const search = useCustos((s) => s.searchAudit);
  const [form, setForm] = useState({ actor: '', action: '', object: '', result: '', from: '', to: '' });
  const [hideReads, setHideReads] = useState(false);
  const [tried, setTried] = useState(false);
  const from = utcBound(form.from, false);
  const to = utcBound(form.to, true);
  const field = (name: keyof typeof form) => ({
    id: `filter-${name}`,
    value: form[name],
    onChange: (e: { target: { value: string } }) => setForm({ ...form, [name]: e.target.value }),
  });
  const apply = (hide: boolean) => {
    setTried(true);
    const filter: AuditFilter = hide ? { hideReads: true } : {};
    if (form.actor.trim()) filter.actor = form.actor.trim();
    if (form.action.trim()) filter.action = form.action.trim();
    if (form.object.trim()) filter.object = form.object.trim();
    if (form.result === 'ok' || form.result === 'refused' || form.result === 'failed') filter.result = form.result;
    if (from === undefined || to === undefined) return;
    if (from) filter.from = from;
    if (to) filter.to = to;
    void search(filter);
  };
  const submit = (event: FormEvent) => {
    event.preventDefault();
    apply(hideReads);
  };
  return (
    <form className="card filters" onSubmit={submit} aria-label="Filter the audit log">
      <div>
        <label htmlFor="filter-actor">Actor</label>
        <input type="text" {...field('actor')} placeholder="desktop, cli, system, or a custodian’s id" />
      </div>
      <div>
        <label htmlFor="filter-action">Action</label>
        <input type="text" {...field('action')} placeholder="token.select, or token. for all" />
      </div>
      <div>
        <label htmlFor="filter-object">Object</label>
        <input type="text" {...field('object')} placeholder="token:SERIAL/LABEL" />
      </div>
      <div>
        <label htmlFor="filter-result">Result</label>
        <select {...field('result')}>
          <option value="">any</option>
          <option value="ok">ok</option>
          <option value="refused">refused</option>
          <option value="failed">failed</option>
        </select>
      </div>
      <div>
        <label htmlFor="filter-from">From (UTC)</label>
        <input
          type="text"
          {...field('from')}
          aria-describedby="filter-date-hint"
          aria-invalid={tried && from === undefined}
        />
      </div>
      <div>
        <label htmlFor="filter-to">To (UTC)</label>
        <input
          type="text"
          {...field('to')}
          aria-describedby="filter-date-hint"
          aria-invalid={tried && to === undefined}
        />
      </div>
      <p id="filter-date-hint" className="hint">
        Dates as YYYY-MM-DD, or YYYY-MM-DD HH:MM, in UTC like the list: for example 2026-01-31 14:30.
      </p>
      {tried && (from === undefined || to === undefined) && (
        <p role="alert" className="bad">
          Write the date as YYYY-MM-DD, or YYYY-MM-DD HH:MM, for example 2026-01-31 14:30.
        </p>
      )}
      <label className="checkbox switch">
        <input
          type="checkbox"
          role="switch"
          checked={hideReads}
          onChange={(e) => {
            setHideReads(e.target.checked);
            apply(e.target.checked);
          }}
        />{' '}
        Hide reads (lists, views and searches), so that changes stand out
      </label>
      <div className="actions">
        <button type="submit">Apply filters</button>
      </div>
    </form>
  );
}

/** A typed UTC date (and time) as an ISO bound: '' when empty, undefined when it is not a date. */
function utcBound(text: string, end: boolean): string | undefined {
  const match = /^(\d{4}-\d{2}-\d{2})(?:[ T](\d{2}:\d{2})(:\d{2})?)?$/.exec(text.trim());
  if (!text.trim()) return '';
  if (!match) return undefined;
  const time = match[2]
    ? `${match[2]}${match[3] ?? (end ? ':59' : ':00')}${end ? '.999' : '.000'}`
    : end
      ? '23:59:59.999'
      : '00:00:00.000';
  const date = new Date(`${match[1]}T${time}Z`);
  return Number.isNaN(date.getTime()) ? undefined : date.toISOString();
}

function AuditTable() {
  const total = useCustos((s) => s.auditTotal);
  const pages = useCustos((s) => s.auditPages);
  const loadPage = useCustos((s) => s.loadAuditPage);
  const openEntry = useCustos((s) => s.openAuditEntry);
  const [scrollTop, setScrollTop] = useState(0);
  const [active, setActive] = useState(0);
  const viewport = useRef<HTMLDivElement>(null);
  const names = useAuditNames();

  const count = total ?? 0;
  const fullHeight = count * ROW;
  const height = Math.min(fullHeight, MAX_SCROLL_HEIGHT);
  const viewHeight = ROW * VISIBLE;
  const scaled = fullHeight > MAX_SCROLL_HEIGHT;
  const maxFirst = Math.max(0, count - VISIBLE);
  const first = Math.min(
    maxFirst,
    scaled ? Math.round((scrollTop / Math.max(1, height - viewHeight)) * maxFirst) : Math.floor(scrollTop / ROW),
  );
  const scrollFor = (index: number) =>
    scaled ? (Math.min(index, maxFirst) / Math.max(1, maxFirst)) * (height - viewHeight) : index * ROW;

  useEffect(() => {
    if (total === null) return;
    const last = Math.min(count - 1, first + VISIBLE);
    for (let page = Math.floor(first / AUDIT_PAGE); page <= Math.floor(Math.max(0, last) / AUDIT_PAGE); page++)
      void loadPage(page);
  }, [first, count, total, loadPage]);

  const rowAt = (index: number): AuditRow | undefined => pages[Math.floor(index / AUDIT_PAGE)]?.[index % AUDIT_PAGE];

  const moveTo = (index: number) => {
    const next = Math.max(0, Math.min(count - 1, index));
    setActive(next);
    if (next < first || next >= first + VISIBLE) {
      const top = scrollFor(next < first ? next : next - VISIBLE + 1);
      if (viewport.current) viewport.current.scrollTop = top;
      setScrollTop(top);
    }
  };
  const onKeyDown = (event: KeyboardEvent) => {
    const moves: Record<string, number> = {
      ArrowDown: active + 1,
      ArrowUp: active - 1,
      PageDown: active + VISIBLE,
      PageUp: active - VISIBLE,
      Home: 0,
      End: count - 1,
    };
    if (event.key in moves) {
      event.preventDefault();
      moveTo(moves[event.key]!);
    } else if (event.key === 'Enter') {
      const row = rowAt(active);
      if (row) void openEntry(row.seq);
    }
  };

  if (total === null) return <p role="status">Loading the audit log…</p>;
  const rows = Array.from({ length: Math.min(VISIBLE + 1, count - first) }, (_, i) => first + i);
  return (
    <section aria-labelledby="entries-title" className="card">
      <h2 id="entries-title">
        Entries <span className="muted">({count.toLocaleString('en')} matching)</span>
      </h2>
      {count === 0 ? (
        <p>No entry matches these filters. Clear a filter or turn off “Hide reads” to see more.</p>
      ) : (
        <p className="muted">Use the arrow keys, Page Up/Down, Home and End to move; Enter opens an entry.</p>
      )}
      {/* The grid itself scrolls (its header sticks), so the one focusable element is the scrollable one. */}
      <div
        className="audit-grid"
        role="grid"
        aria-rowcount={count + 1}
        aria-colcount={6}
        aria-label="Audit entries"
        tabIndex={0}
        onKeyDown={onKeyDown}
        aria-activedescendant={count ? `audit-row-${active}` : undefined}
        ref={viewport}
        style={{ height: viewHeight + ROW }}
        onScroll={(e) => setScrollTop(e.currentTarget.scrollTop)}
      >
        <div role="row" aria-rowindex={1} className="audit-row audit-head">
          {['#', 'Time (UTC)', 'Actor', 'Action', 'Object', 'Result'].map((h) => (
            <span role="columnheader" key={h}>
              {h}
            </span>
          ))}
        </div>
        <div style={{ height, position: 'relative' }}>
          <div role="rowgroup" style={{ position: 'absolute', top: scrollTop, left: 0, right: 0 }}>
            {rows.map((index) => {
              const row = rowAt(index);
              return (
                <div
                  role="row"
                  id={`audit-row-${index}`}
                  key={index}
                  aria-rowindex={index + 2}
                  aria-selected={index === active}
                  className={`audit-row${index === active ? ' active' : ''}${row && row.result !== 'ok' ? ' not-ok' : ''}`}
                  onClick={() => {
                    setActive(index);
                    if (row) void openEntry(row.seq);
                  }}
                >
                  {row ? (
                    <>
                      <span role="gridcell">{row.seq}</span>
                      <span role="gridcell">{row.time.replace('T', ' ').replace('Z', '')}</span>
                      <Cell text={names.actor(row.actor)} />
                      <Cell text={row.action} />
                      <Cell text={names.object(row.object)} />
                      <Cell text={row.result === 'ok' ? 'ok' : `${row.result} ${row.code}`} />
                    </>
                  ) : (
                    <span role="gridcell">Loading…</span>
                  )}
                </div>
              );
            })}
          </div>
        </div>
      </div>
    </section>
  );
}

/** A cell cut to its column shows the whole text on hover; the entry's detail below gives it in full too. */
function Cell({ text }: { text: string }) {
  return (
    <span role="gridcell" title={text}>
      {text}
    </span>
  );
}

function EntryDetail() {
  const detail = useCustos((s) => s.auditDetail)!;
  const close = useCustos((s) => s.closeAuditEntry);
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => heading.current?.focus(), [detail.seq]);
  const names = useAuditNames();
  const { entry, inclusion } = detail;
  return (
    <section className="card" aria-labelledby="entry-title">
      <div className="screen-header">
        <h2 id="entry-title" tabIndex={-1} ref={heading}>
          Entry {detail.seq}: {entry.action}
        </h2>
        <button type="button" onClick={close}>
          Close
        </button>
      </div>
      <dl className="facts">
        <dt>Time (UTC)</dt>
        <dd>{entry.time}</dd>
        <dt>Actor</dt>
        <dd>
          {entry.actor.type === 'custodian'
            ? `${names.actor(entry.actor.id)} (${entry.actor.role}, ${entry.actor.id})`
            : entry.actor.id}
        </dd>
        <dt>Object</dt>
        <dd>
          {entry.object
            ? withId(
                names.object(`${entry.object.type}:${entry.object.id}`),
                `${entry.object.type}: ${entry.object.id}`,
              )
            : '—'}
        </dd>
        <dt>Parameters (SHA-256)</dt>
        <dd>
          <code>{entry.params ?? '—'}</code>
        </dd>
        <dt>Result</dt>
        <dd>{entry.result.status === 'ok' ? 'ok' : `${entry.result.status}: ${entry.result.code}`}</dd>
        <dt>Signature</dt>
        <dd className={detail.signatureValid ? 'good' : 'bad'}>
          {detail.signatureValid
            ? `Signature verified with audit key ${detail.keyId}`
            : `Signature does NOT verify (key ${detail.keyId})`}
        </dd>
        <dt>Inclusion</dt>
        <dd className={inclusion.verified ? 'good' : 'bad'}>
          {inclusion.verified
            ? `Included in the log of ${inclusion.treeSize} entries (proof verified against root ${inclusion.root})`
            : 'Inclusion proof does NOT verify'}
        </dd>
      </dl>
      <details>
        <summary>Inclusion proof ({inclusion.proof.length} hashes)</summary>
        <ol className="hashes">
          {inclusion.proof.map((h, i) => (
            <li key={i}>
              <code>{h}</code>
            </li>
          ))}
        </ol>
        {inclusion.checkpoint && (
          <>
            <p>Against this signed checkpoint:</p>
            <pre>{inclusion.checkpoint}</pre>
          </>
        )}
      </details>
      <details>
        <summary>Signed bytes (canonical JSON)</summary>
        <pre>{detail.canonical}</pre>
      </details>
    </section>
  );
}

/** Ids in the log as people know them: custodians by name, keys by label, proposals by action and fingerprint. */
function useAuditNames() {
  const custodians = useCustos((s) => s.custodians) ?? [];
  const keys = useCustos((s) => s.keys) ?? [];
  const proposals = useCustos((s) => s.proposals) ?? [];
  const custodies = useCustos((s) => s.custodies) ?? [];
  const actor = (id: string) => custodians.find((c) => c.id === id)?.name ?? id;
  const object = (text: string) => {
    const [type, id = ''] = text.split(/:(.*)/s);
    if (type === 'custodian') return `custodian ${actor(id)}`;
    const key = type === 'key' ? keys.find((k) => k.id === id) : undefined;
    if (key) return `key “${key.label}”`;
    const proposal = type === 'proposal' ? proposals.find((p) => p.id === id) : undefined;
    if (proposal) return `proposal ${proposal.shortFingerprint} (${actionTitle(proposal.action)})`;
    const custody = type === 'custody' ? custodies.find((c) => c.id === id) : undefined;
    if (custody) return `custody of “${custody.token.label}”`;
    return text;
  };
  return { actor, object };
}

/** A name, with the raw id after it when the name is not the id itself. */
const withId = (name: string, id: string) => (name.replace(':', ': ') === id ? id : `${name} (${id})`);

const keySources = {
  pinned: 'the key you gave',
  token: 'the key the audit token proved it holds',
  record: 'the first key on record (the audit token could not be opened)',
  bundle: 'the key inside the bundle',
} as const;

function VerifyPanel() {
  const verifying = useCustos((s) => s.verifying);
  const verdict = useCustos((s) => s.verdict);
  const verify = useCustos((s) => s.verifyAudit);
  const checkpoint = useCustos((s) => s.lastCheckpoint);
  const sign = useCustos((s) => s.checkpointAudit);
  return (
    <section className="card" aria-labelledby="verify-title">
      <h2 id="verify-title">Integrity</h2>
      <div className="actions">
        <button type="button" onClick={() => void verify()} disabled={verifying !== null}>
          {verifying ? 'Verifying…' : 'Verify now'}
        </button>
        <button type="button" onClick={() => void sign()}>
          Sign a checkpoint now
        </button>
      </div>
      {verifying && (
        <div role="status">
          <label htmlFor="verify-progress">
            Checking signatures: {verifying.checked.toLocaleString('en')} of {verifying.total.toLocaleString('en')}
          </label>
          <progress id="verify-progress" max={Math.max(1, verifying.total)} value={verifying.checked} />
        </div>
      )}
      {verdict?.ok && (
        <p role="status" className="notice notice-ok">
          Audit log verified: {verdict.entries.toLocaleString('en')} {verdict.entries === 1 ? 'entry' : 'entries'} and{' '}
          {verdict.checkpoints} {verdict.checkpoints === 1 ? 'checkpoint' : 'checkpoints'}, every signature and
          checkpoint good.
        </p>
      )}
      {verdict && (
        <p className="muted">
          Checked against {keySources[verdict.keySource]}: <code>{verdict.trustedKey}</code>
        </p>
      )}
      {verdict && !verdict.ok && verdict.first && (
        <ErrorNotice
          title="The audit log FAILED verification"
          error={{
            code: 'AUDIT_VERIFY_FAILED',
            message: `${verdict.first.seq === null ? '' : `At entry ${verdict.first.seq} `}(${verdict.first.kind}): ${verdict.first.message}`,
            remedy: [
              ...verdict.problems.slice(1, 6).map((p) => `Also: ${p.message}`),
              'Keep this machine as it is and tell your security officer and auditor.',
            ],
          }}
        />
      )}
      {checkpoint && (
        <div>
          <p>
            Checkpoint of {checkpoint.treeSize} entries. Print it or give it to your auditor: a copy kept off this
            machine is what proves later that history was not rewritten.
          </p>
          <pre className="checkpoint">{checkpoint.note}</pre>
        </div>
      )}
    </section>
  );
}
