import { useEffect, useState, type FormEvent } from 'react';
import type { ProposalView } from '../../../shared/quorum';
import { emptyProof, FactorFields } from '../app/FactorFields';
import { fingerprintInGroups, shareCardWords as words } from '../../../shared/backups';
import { GROUPS_PER_LINE } from '../../../shared/share-card-text';
import { useCardCheck } from '../app/card-check';
import { useCustos } from '../store/context';
import { PAGE_TITLE_ID } from '../app/SubPage';
import { ErrorSummary } from '../app/ErrorSummary';
import { cardFormOf } from '../store/quorum-slice';

/** Backup ceremony, step one: which keys, which card holders, how many cards restore. */
export function BackupForm() {
  const custodies = (useCustos((s) => s.custodies) ?? []).filter((c) => c.state === 'active');
  const custodians = useCustos((s) => s.custodians) ?? [];
  const keys = useCustos((s) => s.keys) ?? [];
  const loadKeys = useCustos((s) => s.loadKeys);
  const propose = useCustos((s) => s.proposeBackup);
  const busy = useCustos((s) => s.quorumBusy);
  const [custodyId, setCustodyId] = useState('');
  const [chosenKeys, setChosenKeys] = useState<string[]>([]);
  const [holders, setHolders] = useState<string[]>([]);
  const [threshold, setThreshold] = useState(2);
  const [proof, setProof] = useState(emptyProof());
  useEffect(() => void loadKeys(), [loadKeys]);
  const custody = custodies.find((c) => c.id === custodyId) ?? custodies[0];
  if (!custody) return null;
  const eligible = keys.filter(
    (k) =>
      k.backupable &&
      // No new copy of a key that is to be gone (the core refuses it too).
      k.state !== 'destroyed' &&
      k.state !== 'compromised' &&
      k.destructionNotBefore === null &&
      k.token.serial === custody.token.serial &&
      k.token.label === custody.token.label,
  );
  const toggle = (list: string[], id: string) => (list.includes(id) ? list.filter((x) => x !== id) : [...list, id]);
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (await propose(custody.id, chosenKeys, holders, threshold, proof)) setChosenKeys([]);
    setProof({ ...proof, passphrase: '', code: '' });
  };
  return (
    <form className="card" aria-labelledby={PAGE_TITLE_ID} onSubmit={(e) => void submit(e)}>
      <p>
        The token wraps the chosen keys under a new key-encryption key, which is then split into share cards, one per
        holder. Any {threshold} cards restore the backup; fewer reveal nothing. Every wrapped key is checked in the
        token before the cards are printed.
      </p>
      <label htmlFor="backup-custody">Token</label>
      <select id="backup-custody" value={custody.id} onChange={(e) => setCustodyId(e.target.value)}>
        {custodies.map((c) => (
          <option key={c.id} value={c.id}>
            {c.token.label} ({c.token.serial})
          </option>
        ))}
      </select>
      <fieldset>
        <legend>Keys to back up</legend>
        {eligible.length === 0 && <p className="muted">No backup-able key lives in this token.</p>}
        {eligible.map((k) => (
          <label key={k.id} className="checkbox">
            <input
              type="checkbox"
              checked={chosenKeys.includes(k.id)}
              onChange={() => setChosenKeys(toggle(chosenKeys, k.id))}
            />{' '}
            {k.label} ({k.algorithm})
          </label>
        ))}
      </fieldset>
      <fieldset>
        <legend>Card holders</legend>
        {custodians
          .filter((c) => c.retiredAt === null)
          .map((c) => (
            <label key={c.id} className="checkbox">
              <input
                type="checkbox"
                checked={holders.includes(c.id)}
                onChange={() => setHolders(toggle(holders, c.id))}
              />{' '}
              {c.name}
            </label>
          ))}
      </fieldset>
      <label htmlFor="backup-threshold">Cards needed to restore</label>
      <select id="backup-threshold" value={threshold} onChange={(e) => setThreshold(Number(e.target.value))}>
        {Array.from({ length: Math.max(1, holders.length - 1) }, (_, i) => i + 2).map((t) => (
          <option key={t} value={t}>
            {t} of {Math.max(holders.length, 2)}
          </option>
        ))}
      </select>
      <FactorFields id="backup-requester" label="Proposed by" proof={proof} onChange={setProof} choices={custodians} />
      <button
        type="submit"
        disabled={busy || chosenKeys.length === 0 || holders.length < 2 || threshold > holders.length}
      >
        Propose the backup
      </button>
    </form>
  );
}

/** Restore ceremony, step one: which backup, into which token in custody. */
export function RestoreForm() {
  const custodies = (useCustos((s) => s.custodies) ?? []).filter((c) => c.state === 'active');
  const custodians = useCustos((s) => s.custodians) ?? [];
  // A retired set is never restored (BACKUP_RETIRED): it is not offered.
  const backups = (useCustos((s) => s.backups) ?? []).filter((b) => !b.retirement);
  const propose = useCustos((s) => s.proposeRestore);
  const busy = useCustos((s) => s.quorumBusy);
  const [setId, setSetId] = useState('');
  const [custodyId, setCustodyId] = useState('');
  const [override, setOverride] = useState(false);
  const [proof, setProof] = useState(emptyProof());
  const backup = backups.find((b) => b.setId === setId) ?? backups[0];
  const custody = custodies.find((c) => c.id === custodyId) ?? custodies[0];
  if (!backup || !custody) return null;
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    await propose(custody.id, backup.setId, override, proof);
    setProof({ ...proof, passphrase: '', code: '' });
  };
  return (
    <form className="card" aria-labelledby={PAGE_TITLE_ID} onSubmit={(e) => void submit(e)}>
      <p>
        The quorum of the target token approves; then {backup.threshold} card holders enter their cards. Each card is
        checked the moment it is entered, and every key is proven to be the one backed up before anything is kept.
      </p>
      <label htmlFor="restore-set">Backup</label>
      <select id="restore-set" value={backup.setId} onChange={(e) => setSetId(e.target.value)}>
        {backups.map((b) => (
          <option key={b.setId} value={b.setId}>
            {b.createdAt.slice(0, 16).replace('T', ' ')} from {b.token.label}: {b.keys.map((k) => k.label).join(', ')}
          </option>
        ))}
      </select>
      <label htmlFor="restore-custody">Into the token</label>
      <select id="restore-custody" value={custody.id} onChange={(e) => setCustodyId(e.target.value)}>
        {custodies.map((c) => (
          <option key={c.id} value={c.id}>
            {c.token.label} ({c.token.serial})
          </option>
        ))}
      </select>
      <label className="checkbox">
        <input type="checkbox" checked={override} onChange={(e) => setOverride(e.target.checked)} /> Restore keys
        recorded as destroyed (the approvers approve this override explicitly; such keys come back suspended)
      </label>
      <FactorFields id="restore-requester" label="Proposed by" proof={proof} onChange={setProof} choices={custodians} />
      <button type="submit" disabled={busy}>
        Propose the restore
      </button>
    </form>
  );
}

/**
 * Where a holder types a card: each group is checked in the page as it is completed, so a typo is
 * named before anything is sent; the core checks the whole card again on submit.
 */
function CardTextField({ id, text, onChange }: { id: string; text: string; onChange: (text: string) => void }) {
  const said = useCardCheck(text);
  return (
    <>
      <textarea
        id={id}
        rows={5}
        value={text}
        onChange={(e) => onChange(e.target.value)}
        autoComplete="off"
        spellCheck={false}
        aria-describedby={`${id}-check`}
        aria-invalid={said?.tone === 'problem' ? true : undefined}
      />
      <p
        id={`${id}-check`}
        className={said?.tone === 'problem' ? 'hint card-check problem' : 'hint card-check'}
        aria-live="polite"
      >
        {said?.text ?? 'Each group is checked here as you type; nothing is sent until you submit.'}
      </p>
    </>
  );
}

/** A holder types or pastes one card for an open restore; checked at once. */
export function ShareEntryForm({ proposal }: { proposal: ProposalView }) {
  const enter = useCustos((s) => s.enterShare);
  const busy = useCustos((s) => s.quorumBusy);
  const error = useCustos((s) => (s.quorumErrorAt === cardFormOf(proposal.id) ? s.quorumError : null));
  const [text, setText] = useState('');
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (await enter(proposal.id, text)) setText('');
  };
  const field = `card-${proposal.id}`;
  return (
    <form onSubmit={(e) => void submit(e)} aria-label={`Enter a share card for proposal ${proposal.shortFingerprint}`}>
      <ErrorSummary
        problems={[]}
        error={error}
        link={{ field, text: 'Compare the card with the printed one and correct it' }}
      />
      <label htmlFor={field}>Share card (type the groups as printed, or paste the QR text)</label>
      <CardTextField id={field} text={text} onChange={setText} />
      <button type="submit" disabled={busy || text.trim().length === 0}>
        {busy ? 'Checking the card; restoring once enough are in…' : 'Check and enter this card'}
      </button>
    </form>
  );
}

/** A holder confirms their card still matches its backup; nothing is rebuilt. */
export function ShareCheckForm() {
  const check = useCustos((s) => s.checkShare);
  const busy = useCustos((s) => s.quorumBusy);
  const [text, setText] = useState('');
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    await check(text);
    setText('');
  };
  return (
    <form className="card" aria-labelledby={PAGE_TITLE_ID} onSubmit={(e) => void submit(e)}>
      <p>
        Confirms that your card still belongs to its backup and reads correctly. Nothing is rebuilt; the check is
        recorded.
      </p>
      <label htmlFor="check-card-text">Share card</label>
      <CardTextField id="check-card-text" text={text} onChange={setText} />
      <button type="submit" disabled={busy || text.trim().length === 0}>
        Check the card
      </button>
    </form>
  );
}

/**
 * The cards of a backup just made. Each holder proves both factors to see and print their own
 * card (one card per page); nobody else at the console sees it.
 */
export function CardPrinter() {
  const printing = useCustos((s) => s.printing);
  const release = useCustos((s) => s.releaseCard);
  const hide = useCustos((s) => s.hideCard);
  const forget = useCustos((s) => s.forgetCards);
  const custodians = useCustos((s) => s.custodians) ?? [];
  const busy = useCustos((s) => s.quorumBusy);
  const [proof, setProof] = useState(emptyProof());
  if (!printing) return null;
  const card = printing.card;
  if (card) {
    return (
      <section className="card share-card" aria-labelledby="share-card-title">
        <h2 id="share-card-title">
          Share card {card.index} of {card.holders} — for {card.holder.name}
        </h2>
        {card.rehearsal && (
          <p className="rehearsal-card">
            <strong>REHEARSAL</strong> — a practice card from a scratch token. It restores nothing real: destroy it
            after the rehearsal.
          </p>
        )}
        <p className="no-print">Only {card.holder.name} should see this card.</p>
        <dl className="card-facts">
          <dt>Holder</dt>
          <dd>{card.holder.name}</dd>
          <dt>Share</dt>
          <dd>
            {words.share(card)}. Any {card.threshold} cards of this set restore the backup; fewer reveal nothing.
          </dd>
          <dt>Backup made</dt>
          <dd>{words.made(card)}</dd>
          <dt>Token</dt>
          <dd>{words.token(card)}</dd>
          <dt>Keys it covers</dt>
          <dd>
            <ul>
              {card.keys.map((key) => (
                <li key={key.id}>{words.key(key)}</li>
              ))}
            </ul>
          </dd>
          <dt>Backup set</dt>
          <dd>
            <code>{card.setId.match(/.{8}/g)!.join(' ')}</code>
          </dd>
          <dt>Set fingerprint</dt>
          <dd>
            <code>{fingerprintInGroups(card.setFingerprint)}</code>
            <br />
            SHA-256 of the signed manifest; the same on every card of this set and in the backup list.
          </dd>
        </dl>
        <div className="share-layout">
          <pre className="share-text" aria-label="Share card text">
            {card.text
              .split('-')
              .reduce<string[]>(
                (lines, group, i) =>
                  i % GROUPS_PER_LINE === 0 ? [...lines, group] : [...lines.slice(0, -1), `${lines.at(-1)!}-${group}`],
                [],
              )
              .join('\n')}
          </pre>
          <img
            className="qr"
            alt={`QR code of share card ${card.index}`}
            src={`data:image/svg+xml;base64,${btoa(card.qrSvg)}`}
            width={200}
            height={200}
          />
        </div>
        <p className="receipt">{words.receipt}</p>
        <h3>What to do with this card</h3>
        <ul>
          {words.instructions.map((line) => (
            <li key={line}>{line}</li>
          ))}
        </ul>
        <div className="actions no-print">
          <button type="button" onClick={() => window.print()}>
            Print this card
          </button>
          <button type="button" onClick={hide}>
            Done: hide my card
          </button>
        </div>
      </section>
    );
  }
  const holders = custodians.filter((c) => printing.holders.some((h) => h.id === c.id));
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    await release(proof);
    setProof(emptyProof());
  };
  return (
    <form className="card" aria-labelledby="collect-title" onSubmit={(e) => void submit(e)}>
      <h2 id="collect-title">Collect the share cards</h2>
      <p>
        Each holder in turn proves their passphrase and code to see and print their own card, then hides it. Collected
        so far:{' '}
        {printing.collected.length === 0
          ? 'none'
          : printing.holders
              .filter((h) => printing.collected.includes(h.index))
              .map((h) => h.name)
              .join(', ')}{' '}
        ({printing.collected.length} of {printing.holders.length}).
      </p>
      <FactorFields id="card-holder" label="Card holder" proof={proof} onChange={setProof} choices={holders} />
      <div className="actions">
        <button type="submit" disabled={busy}>
          Show my card
        </button>
        <button type="button" onClick={() => void forget()}>
          {printing.collected.length === printing.holders.length
            ? 'All cards collected: forget them'
            : 'Stop and forget the cards'}
        </button>
      </div>
    </form>
  );
}
