import type { ModuleInfo, SlotInfo, TokenInfo, TokenRef } from '../../../shared/tokens';
import { ErrorNotice } from '../app/ErrorNotice';
import { useCustos } from '../store/context';
import { tokenKey } from '../store/tokens-slice';

export function TokensScreen() {
  const status = useCustos((s) => s.status);
  const busy = useCustos((s) => s.busy);
  const error = useCustos((s) => s.tokenError);
  const refresh = useCustos((s) => s.refresh);
  const navigate = useCustos((s) => s.navigate);

  return (
    <section aria-labelledby="screen-title" aria-busy={busy !== null}>
      <div className="screen-header">
        <h1 id="screen-title">Tokens</h1>
        <button type="button" onClick={() => void refresh()} disabled={busy === 'refresh'}>
          {busy === 'refresh' ? 'Refreshing…' : 'Refresh'}
        </button>
      </div>
      {error && <ErrorNotice error={error} />}
      {status?.state === 'unavailable' && (
        <>
          <ErrorNotice error={status} title="No token module is available" />
          {status.path && (
            <p>
              Configured module: <code>{status.path}</code>
            </p>
          )}
          <button type="button" onClick={() => navigate('settings')}>
            Open Settings to choose a token module
          </button>
        </>
      )}
      {status?.state === 'ready' && (
        <>
          <ModuleSummary module={status.module} />
          <TokenList slots={status.slots} />
          <MechanismPanel />
        </>
      )}
    </section>
  );
}

function ModuleSummary({ module }: { module: ModuleInfo }) {
  return (
    <section aria-labelledby="module-title" className="card">
      <h2 id="module-title">Token module</h2>
      {module.notice && (
        <p className="notice notice-warning" role="note">
          {module.notice}
        </p>
      )}
      <dl className="facts">
        <dt>Library</dt>
        <dd>
          <code>{module.path}</code>{' '}
          {module.kind === 'embedded-softhsm' && <span className="badge">built-in default</span>}
        </dd>
        <dt>Maker</dt>
        <dd>
          {module.manufacturer} — {module.libraryDescription} {module.libraryVersion}
        </dd>
        <dt>PKCS#11 version</dt>
        <dd>{module.cryptokiVersion}</dd>
      </dl>
    </section>
  );
}

function TokenList({ slots }: { slots: SlotInfo[] }) {
  const tokens = slots.flatMap((slot) => (slot.token?.initialized ? [slot.token] : []));
  const blank = slots.filter((slot) => slot.token && !slot.token.initialized);
  const empty = slots.filter((slot) => !slot.tokenPresent);
  return (
    <section aria-labelledby="tokens-title" className="card">
      <h2 id="tokens-title">Attached tokens</h2>
      {tokens.length === 0 ? (
        <p>No initialised token is attached. Attach a token or smartcard and press Refresh.</p>
      ) : (
        <table className="data">
          <caption className="visually-hidden">Attached tokens: label, serial, device, PIN status and actions</caption>
          <thead>
            <tr>
              <th scope="col">Label</th>
              <th scope="col">Serial</th>
              <th scope="col">Device</th>
              <th scope="col">PIN status</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {tokens.map((token) => (
              <TokenRow key={tokenKey(token)} token={token} />
            ))}
          </tbody>
        </table>
      )}
      {blank.length > 0 && (
        <p className="muted">
          {blank.length === 1 ? 'One blank token is' : `${blank.length} blank tokens are`} also present; blank tokens
          are initialised in a custody ceremony (Ceremonies).
        </p>
      )}
      {empty.length > 0 && <p className="muted">{empty.length} reader slot(s) without a token.</p>}
    </section>
  );
}

function TokenRow({ token }: { token: TokenInfo }) {
  const audit = useCustos((s) => s.snapshot?.audit);
  const isAuditToken =
    audit?.state === 'ready' && audit.token.serial === token.serial && audit.token.label === token.label;
  const selected = useCustos((s) => s.selected);
  const busy = useCustos((s) => s.busy);
  const select = useCustos((s) => s.select);
  const inspect = useCustos((s) => s.inspect);
  const ref: TokenRef = { serial: token.serial, label: token.label };
  const isSelected = selected?.serial === token.serial && selected.label === token.label;
  const severe = token.userPin.locked || token.userPin.finalTry || token.soPin.locked || token.soPin.finalTry;
  return (
    <tr data-serial={token.serial} aria-current={isSelected ? 'true' : undefined}>
      <th scope="row">
        {token.label} {isSelected && <span className="badge badge-ok">Selected</span>}
        {isAuditToken && <span className="badge">Audit token — signs the log, holds no custody keys</span>}
      </th>
      <td>
        <code>{token.serial}</code>
      </td>
      <td>
        {token.manufacturer} {token.model} <span className="muted">fw {token.firmwareVersion}</span>{' '}
        {token.software.software && <span className="badge badge-warning">Software token</span>}
        <br />
        <span className="muted">{token.software.reason}</span>
      </td>
      <td>
        {token.warnings.length === 0 ? (
          <span>OK</span>
        ) : (
          <ul className={severe ? 'warnings warnings-severe' : 'warnings'} role={severe ? 'alert' : undefined}>
            {token.warnings.map((w) => (
              <li key={w}>{w}</li>
            ))}
          </ul>
        )}
      </td>
      <td className="actions">
        {!isAuditToken && (
          <button
            type="button"
            onClick={() => void select(ref)}
            disabled={isSelected || busy === 'select'}
            aria-label={`Select token ${token.label}`}
          >
            {isSelected ? 'Selected' : 'Select'}
          </button>
        )}
        <button
          type="button"
          onClick={() => void inspect(ref)}
          disabled={busy === 'mechanisms'}
          aria-label={`Show mechanisms of ${token.label}`}
        >
          Mechanisms
        </button>
      </td>
    </tr>
  );
}

function MechanismPanel() {
  const inspecting = useCustos((s) => s.inspecting);
  const mechanisms = useCustos((s) => (s.inspecting ? s.mechanisms[tokenKey(s.inspecting)] : undefined));
  const busy = useCustos((s) => s.busy);
  if (!inspecting) return null;
  return (
    <section aria-labelledby="mechanisms-title" className="card">
      <h2 id="mechanisms-title">
        Mechanisms of {inspecting.label} <code>{inspecting.serial}</code>
      </h2>
      {!mechanisms ? (
        <p role="status">{busy === 'mechanisms' ? 'Asking the token what it supports…' : 'Not loaded.'}</p>
      ) : (
        <table className="data mechanisms">
          <caption>{mechanisms.length} mechanisms supported by this token</caption>
          <thead>
            <tr>
              <th scope="col">Mechanism</th>
              <th scope="col">Code</th>
              <th scope="col">Key sizes</th>
              <th scope="col">Functions</th>
              <th scope="col">In hardware</th>
            </tr>
          </thead>
          <tbody>
            {mechanisms.map((m) => (
              <tr key={m.type}>
                <th scope="row">{m.name}</th>
                <td>
                  <code>0x{m.type.toString(16).padStart(4, '0')}</code>
                </td>
                <td>{m.maxKeySize > 0 ? `${m.minKeySize}–${m.maxKeySize}` : '—'}</td>
                <td>{m.functions.join(', ')}</td>
                <td>{m.hardware ? 'yes' : 'no'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
