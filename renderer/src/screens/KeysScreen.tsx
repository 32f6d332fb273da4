import { useEffect, useRef, useState } from 'react';
import { inUtc } from '../../../shared/key-lifecycle';
import { keyIdentity, type KeyRecord } from '../../../shared/keys';
import { NextStep } from '../app/NextStep';
import { Outcome } from '../app/Outcome';
import { PageBody, PageLinks, ScreenFrame, useOpenPage, type ScreenPage } from '../app/SubPage';
import { useCustos } from '../store/context';
import { KeyStateForm, ProposeKey } from './KeyForms';
import {
  ExportForRecipient,
  exportUnavailable,
  ReceivePackage,
  TransportLists,
  TrustRecipient,
} from './KeyTransportPages';

/**
 * Keys: the inventory first, each key's actions from its row; then proposing a key and moving keys between modules,
 * each on its own page.
 */
export function KeysScreen() {
  const loadKeys = useCustos((s) => s.loadKeys);
  const loadQuorum = useCustos((s) => s.loadQuorum);
  const loadCustodians = useCustos((s) => s.loadCustodians);
  const loadTransport = useCustos((s) => s.loadTransport);
  const keys = useCustos((s) => s.keys);
  // A form that shows its own refusals (KEY_FORMS) says them there, beside the field that fixes them.
  const error = useCustos((s) => (s.keyErrorAt === null ? s.keyError : null));
  const notice = useCustos((s) => s.keyNotice);
  const transportError = useCustos((s) => s.transportError);
  const transportNotice = useCustos((s) => s.transportNotice);
  useEffect(() => {
    void loadKeys();
    void loadQuorum();
    void loadCustodians();
    void loadTransport();
  }, [loadKeys, loadQuorum, loadCustodians, loadTransport]);
  const groups = useKeyPages(keys ?? []);
  // A key's own pages are reached from its row, not from the list of actions.
  const keyPages = (keys ?? []).map((k): ScreenPage => ({
    id: statePage(k),
    title: `Change the state of ${k.label}`,
    summary: '',
    unavailable: null,
    render: () => <KeyStateForm keyRecord={k} />,
  }));
  const open = useOpenPage([...groups, { pages: keyPages }]);
  return (
    <ScreenFrame
      title="Keys"
      page={open?.title ?? null}
      top={
        <>
          <Outcome error={error} errorTitle="Nothing was changed" notice={notice} />
          <Outcome error={transportError} errorTitle="Nothing was changed" notice={transportNotice} />
        </>
      }
    >
      {open ? (
        <PageBody page={open} />
      ) : (
        <>
          <Inventory keys={keys ?? []} />
          <PageLinks title="Actions" id="key-actions-title" groups={groups} />
        </>
      )}
    </ScreenFrame>
  );
}

const statePage = (k: KeyRecord) => `key-state-${k.id}`;

/** What proposing and transporting keys needs now, page by page; a page that cannot be used says why. */
function useKeyPages(keys: KeyRecord[]): { title: string; pages: ScreenPage[] }[] {
  const inCustody = (useCustos((s) => s.custodies) ?? []).some((c) => c.state === 'active');
  const recipients = (useCustos((s) => s.recipients) ?? []).filter((r) => r.status === 'trusted').length;
  const packages = (useCustos((s) => s.packages) ?? []).length;
  return [
    {
      title: 'Keys',
      pages: [
        {
          id: 'propose-key',
          title: 'Propose a new key',
          summary: 'Generated inside a token in custody once the quorum approves; it starts in pre-activation.',
          unavailable: inCustody ? null : 'Needs a token in custody first (Ceremonies screen).',
          render: () => <ProposeKey />,
        },
      ],
    },
    {
      title: 'Key transport',
      pages: [
        {
          id: 'transport',
          title: 'Trusted recipients and packages',
          summary: `${recipients} trusted recipient(s), ${packages} package(s). Write a package out for its recipient.`,
          unavailable: null,
          render: () => <TransportLists />,
        },
        {
          id: 'trust-recipient',
          title: 'Trust a recipient key (security officer)',
          summary: 'A recipient’s public key, its fingerprint compared with the recipient over a second channel.',
          unavailable: null,
          render: () => <TrustRecipient />,
        },
        {
          id: 'export-wrapped',
          title: 'Export a key for a recipient (quorum)',
          summary: 'A backup-able key leaves its token wrapped for a trusted recipient.',
          unavailable: exportUnavailable(keys, recipients),
          render: () => <ExportForRecipient keys={keys} />,
        },
        {
          id: 'receive-package',
          title: 'Receive a package wrapped for one of our keys',
          summary: 'Checked and kept, then its import proposed: it is unwrapped inside the token.',
          unavailable: null,
          render: () => <ReceivePackage keys={keys} />,
        },
      ],
    },
  ];
}

/** The inventory, or what to do before there is one. */
function Inventory({ keys }: { keys: KeyRecord[] }) {
  const inCustody = (useCustos((s) => s.custodies) ?? []).some((c) => c.state === 'active');
  return (
    <section className="card" aria-labelledby="inventory-title">
      <h2 id="inventory-title">Inventory</h2>
      {keys.length > 0 ? (
        <KeyTable keys={keys} />
      ) : inCustody ? (
        <NextStep screen="keys" page="propose-key" action="Propose a new key">
          No keys yet. A key is proposed, then generated in its token once the quorum approves it.
        </NextStep>
      ) : (
        <NextStep screen="ceremonies" action="Go to Ceremonies">
          Keys are generated inside a token held in custody, and no token is in custody yet. Take a token into custody
          on the Ceremonies screen first.
        </NextStep>
      )}
    </section>
  );
}

function KeyTable({ keys }: { keys: KeyRecord[] }) {
  const exportKey = useCustos((s) => s.exportKey);
  const exported = useCustos((s) => s.exported);
  const shown = keys.find((k) => k.id === exported?.keyId);
  const navigate = useCustos((s) => s.navigate);
  // Read once when the list appears: the countdown is in days, so it need not tick.
  const [now] = useState(() => Date.now());
  const days = (iso: string) => Math.ceil((new Date(iso).getTime() - now) / 86_400_000);
  return (
    <>
      <table className="data">
        <thead>
          <tr>
            <th scope="col">Label</th>
            <th scope="col">Algorithm</th>
            <th scope="col">Version</th>
            <th scope="col">State</th>
            <th scope="col">Rotate by</th>
            <th scope="col">Check value or fingerprint</th>
            <th scope="col">Actions</th>
          </tr>
        </thead>
        {families(keys).map((family) => (
          <tbody key={family[0]!.family} data-family={family[0]!.family}>
            {family.map((k) => (
              <tr key={k.id} data-key={k.id}>
                <th scope="row">{k.label}</th>
                <td>
                  {k.algorithm}
                  {k.policy.status !== 'acceptable' && <span className="badge badge-warning"> {k.policy.status}</span>}
                  {k.policy.notes.map((n) => (
                    <div key={n} className="muted">
                      {n}
                    </div>
                  ))}
                </td>
                <td>
                  v{k.version}
                  {k.version > 1 && <div className="muted">replaces v{k.version - 1}</div>}
                  {k.rotatedTo && <PostOperational keyRecord={k} successor={keys.find((n) => n.id === k.rotatedTo)} />}
                </td>
                <KeyStateCell keyRecord={k} />
                <td>
                  {k.rotateBy === null
                    ? 'no longer applies protection'
                    : `${k.rotateBy.slice(0, 10)} (${days(k.rotateBy) > 0 ? `${days(k.rotateBy)} days left` : 'overdue'})`}
                </td>
                <td>
                  <code>{keyIdentity(k)}</code>
                </td>
                <td className="actions">
                  {k.fingerprint && (
                    <button
                      type="button"
                      onClick={() => void exportKey(k.id, 'pem')}
                      aria-label={`Export the public key of ${k.label} as PEM`}
                    >
                      PEM
                    </button>
                  )}
                  <button
                    type="button"
                    onClick={() => navigate('keys', statePage(k))}
                    aria-label={`Change the state of ${k.label}`}
                  >
                    State…
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        ))}
      </table>
      {shown && <ExportedKey keyRecord={shown} text={exported!.text} />}
    </>
  );
}

/**
 * A key's SP 800-57 state and what keeps it from use: its usage period's end (it applies no new protection, so no
 * signing is offered), a compromise, a waiting destruction, or one cut short.
 */
export function KeyStateCell({ keyRecord: k }: { keyRecord: KeyRecord }) {
  return (
    <td>
      {k.state}
      {k.usagePeriodEnded && k.rotateBy !== null && (
        <>
          {' '}
          <span className="chip chip-expired">usage period ended</span>
        </>
      )}
      {k.compromiseReason && <div className="bad">Reason: {k.compromiseReason}</div>}
      {k.partlyDestroyed ? (
        <div className="bad">
          <span className="chip chip-expired">Partly destroyed</span> {k.partlyDestroyed.at.slice(0, 10)}, the token
          failed half-way (destroyed: {k.partlyDestroyed.destroyed.join(', ')}; still in the token:{' '}
          {k.partlyDestroyed.remaining.join(', ') || 'nothing'}). Never used again; a new destruction finishes it.
        </div>
      ) : (
        k.destructionNotBefore && (
          <div className="bad">
            {k.destructionDue
              ? 'Destruction scheduled: the waiting period is over; it can be proposed now, or still cancelled.'
              : `Destruction scheduled: can be proposed from ${inUtc(k.destructionNotBefore)}; until then it can be ` +
                'cancelled.'}
          </div>
        )
      )}
    </td>
  );
}

/** The inventory by key family, newest family first, each family's current version first. */
function families(keys: KeyRecord[]): KeyRecord[][] {
  const byFamily = new Map<string, KeyRecord[]>();
  for (const k of keys) byFamily.set(k.family, [...(byFamily.get(k.family) ?? []), k]);
  return [...byFamily.values()].map((family) => family.sort((a, b) => b.version - a.version));
}

/** What a rotated key may still do, and who keeps it from doing more. */
function PostOperational({ keyRecord, successor }: { keyRecord: KeyRecord; successor: KeyRecord | undefined }) {
  return (
    <div className="muted">
      Rotated to v{successor?.version ?? keyRecord.version + 1}: it only verifies, decrypts or unwraps.{' '}
      {keyRecord.postOperational === 'token'
        ? 'The token itself refuses it new protection.'
        : 'The token would still let it sign, encrypt or wrap; Custos refuses to.'}
    </div>
  );
}

/**
 * An exported public key, right under the table, named by its key's label; it takes focus so it can be read or copied.
 */
function ExportedKey({ keyRecord, text }: { keyRecord: KeyRecord; text: string }) {
  const ref = useRef<HTMLElement>(null);
  useEffect(() => ref.current?.focus(), [text]);
  return (
    <figure className="exported" aria-labelledby="exported-title" ref={ref} tabIndex={-1}>
      <figcaption id="exported-title">
        Public key of <strong>{keyRecord.label}</strong> ({keyRecord.algorithm}, in {keyRecord.token.label}), PEM: give
        it to whoever checks this key’s signatures.
      </figcaption>
      <pre>{text}</pre>
    </figure>
  );
}
