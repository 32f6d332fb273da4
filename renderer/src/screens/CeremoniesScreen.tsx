import type { ReactNode } from 'react';
import { fingerprintInGroups } from '../../../shared/backups';
import { QuorumScreen } from '../app/QuorumScreen';
import { PageLinks, PageUnavailable, useOpenPage, type ScreenPage } from '../app/SubPage';
import { useCustos } from '../store/context';
import { BackupImportForm } from './BackupImportForm';
import { BackupForm, CardPrinter, RestoreForm, ShareCheckForm } from './BackupPanels';
import { CeremonyScriptsSection, useScriptPages } from './CeremonyScripts';
import { backupState, BackupStateCell, CardDestroyedForm, RetireForm } from './BackupRetirement';
import { CustodyForm, CustodyList, SettleForm, TurnoverForm } from './CustodyForms';

/**
 * Ceremonies: what waits for someone, the ceremonies run from scripts (with their runner and a script's check), the
 * tokens in custody, then every ad-hoc action, each on its own page.
 * The list is made of sections in a fixed order (ceremonyListSections); a new kind of ceremony adds a section there.
 */
export function CeremoniesScreen() {
  const pages = useCeremonyPages();
  const scriptPages = useScriptPages();
  const open = useOpenPage([scriptPages, ...pages]);
  return (
    <QuorumScreen title="Ceremonies" page={open?.title ?? null} errorTitle="The ceremony did not go ahead">
      {open ? (
        open.unavailable === null ? (
          open.render()
        ) : (
          <PageUnavailable reason={open.unavailable} />
        )
      ) : (
        ceremonyListSections(pages)
      )}
    </QuorumScreen>
  );
}

/** The list page, top to bottom: who must act now, ceremony scripts, the tokens in custody, then the actions. */
function ceremonyListSections(pages: { title: string; pages: ScreenPage[] }[]): ReactNode {
  return (
    <>
      <CardPrinter />
      <WaitingForSomeone />
      <CeremonyScriptsSection />
      <CustodyList />
      <PageLinks title="Ad-hoc actions" id="actions-title" groups={pages} />
    </>
  );
}

/** What the state of custody and backups allows now, page by page; a page that cannot be used says why. */
function useCeremonyPages(): { title: string; pages: ScreenPage[] }[] {
  const custodies = useCustos((s) => s.custodies) ?? [];
  const backups = useCustos((s) => s.backups) ?? [];
  const proposals = useCustos((s) => s.proposals) ?? [];
  const holders = useCustos(
    (s) => (s.custodians ?? []).filter((c) => c.roles.includes('custodian') && c.retiredAt === null).length,
  );
  const loaded = useCustos((s) => s.custodians !== null);
  const active = custodies.some((c) => c.state === 'active');
  const pending = custodies.some((c) => c.state === 'pending');
  const restorable = backups.some((b) => !b.retirement);
  const live = backups.some((b) => backupState(b, proposals).kind === 'live');
  const cardsToRecord = backups.some((b) => b.retirement?.cards.some((c) => !c.destroyedAt));
  const noCustody = 'Needs a token in custody first.';
  return [
    {
      title: 'Custody',
      pages: [
        {
          id: 'take-custody',
          title: 'Take a token into custody',
          summary: 'New PINs from the token, split among its holders.',
          unavailable:
            loaded && holders < 2 ? 'Needs two custodians enrolled with the custodian role (Custodians screen).' : null,
          render: () => <CustodyForm />,
        },
        {
          id: 'change-holders',
          title: 'Change the holders of a token',
          summary: 'Add, remove or replace holders, or change how many must approve.',
          unavailable: active ? null : noCustody,
          render: () => <TurnoverForm />,
        },
        {
          id: 'settle',
          title: 'Settle an interrupted custody',
          summary: 'Its holders try its PINs on the token after a crash.',
          unavailable: pending ? null : 'Nothing to settle: no custody was interrupted.',
          render: () => <SettleForm />,
        },
      ],
    },
    {
      title: 'Backups',
      pages: [
        {
          id: 'backups',
          title: 'Backups',
          summary: 'Every backup set, its state and its cards; export a backup file.',
          unavailable: backups.length > 0 ? null : 'No backup yet.',
          render: () => <BackupList />,
        },
        {
          id: 'back-up',
          title: 'Back up keys',
          summary: 'Wrap keys under a new key split into share cards.',
          unavailable: active ? null : noCustody,
          render: () => <BackupForm />,
        },
        {
          id: 'import-backup',
          title: 'Import a backup file',
          summary: 'A backup file from this or a lost workstation, to restore it here.',
          unavailable: null,
          render: () => <BackupImportForm />,
        },
        {
          id: 'restore',
          title: 'Restore a backup',
          summary: 'Into a token in custody, with enough share cards.',
          unavailable: !active ? noCustody : restorable ? null : 'No backup to restore: make or import one first.',
          render: () => <RestoreForm />,
        },
        {
          id: 'check-card',
          title: 'Check a share card',
          summary: 'A holder confirms their card still reads and belongs to its backup.',
          unavailable: null,
          render: () => <ShareCheckForm />,
        },
        {
          id: 'retire',
          title: 'Retire a backup set',
          summary: 'A set that must never be restored again.',
          unavailable: !active ? noCustody : live ? null : 'No live backup set to retire.',
          render: () => <RetireForm />,
        },
        {
          id: 'card-destroyed',
          title: 'Record that a card is destroyed',
          summary: 'Each holder of a retired set’s card, one at a time.',
          unavailable: cardsToRecord ? null : 'No retired set waits for its cards to be destroyed.',
          render: () => <CardDestroyedForm />,
        },
      ],
    },
  ];
}

/** Work left half-done that blocks or waits for someone: impossible to miss, one step from its page. */
function WaitingForSomeone() {
  const pending = (useCustos((s) => s.custodies) ?? []).filter((c) => c.state === 'pending');
  const cards = (useCustos((s) => s.backups) ?? []).filter((b) => b.retirement?.cards.some((c) => !c.destroyedAt));
  const navigate = useCustos((s) => s.navigate);
  if (pending.length === 0 && cards.length === 0) return null;
  return (
    <section className="card notice notice-warning" aria-labelledby="waiting-title">
      <h2 id="waiting-title">Waiting for someone</h2>
      {pending.map((c) => (
        <div key={c.id} className="attention">
          <p>
            <strong>A custody was interrupted: settle it before using “{c.token.label}”.</strong> {c.threshold} of its
            holders prove their factors to settle it.
          </p>
          <button type="button" onClick={() => navigate('ceremonies', 'settle')}>
            Settle the custody of “{c.token.label}”
          </button>
        </div>
      ))}
      {cards.map((b) => (
        <div key={b.setId} className="attention">
          <p>
            A retired backup set of “{b.token.label}” waits for its cards to be destroyed. Still to record their card:{' '}
            {b
              .retirement!.cards.filter((c) => !c.destroyedAt)
              .map((c) => c.name)
              .join(', ')}
            .
          </p>
          <button type="button" onClick={() => navigate('ceremonies', 'card-destroyed')}>
            Record a card destroyed
          </button>
        </div>
      ))}
    </section>
  );
}

/** Every backup set: its state, who holds its cards, and its file to export. */
function BackupList() {
  const backups = useCustos((s) => s.backups) ?? [];
  const proposals = useCustos((s) => s.proposals) ?? [];
  const exportFile = useCustos((s) => s.exportBackup);
  if (backups.length === 0) return null;
  return (
    <div className="card">
      <table className="data">
        <thead>
          <tr>
            <th scope="col">Made</th>
            <th scope="col">State</th>
            <th scope="col">Made by</th>
            <th scope="col">Keys</th>
            <th scope="col">Cards</th>
            <th scope="col">Verified in the token</th>
            <th scope="col">File</th>
          </tr>
        </thead>
        <tbody>
          {backups.map((b) => (
            <tr key={b.setId} data-set={b.setId}>
              <th scope="row">
                {b.createdAt.slice(0, 16).replace('T', ' ')} from {b.token.label} <code>{b.setId.slice(0, 8)}</code>
                <span className="set-fingerprint">
                  fingerprint <code>{fingerprintInGroups(b.fingerprint.slice(0, 16))}…</code>
                </span>
              </th>
              <td>
                <BackupStateCell state={backupState(b, proposals)} threshold={b.threshold} />
              </td>
              <td>
                {b.madeBy.here
                  ? 'this installation'
                  : `audit key ${(b.madeBy.auditKey ?? b.madeBy.installation).slice(0, 16)}…`}
              </td>
              <td>{b.keys.map((k) => `${k.label} (${k.algorithm})`).join(', ')}</td>
              <td>
                any {b.threshold} of{' '}
                {b.holders
                  .map((h) => `${h.name}${h.lastChecked ? ` (checked ${h.lastChecked.slice(0, 10)})` : ''}`)
                  .join(', ')}
              </td>
              <td>{b.verifiedAt ? b.verifiedAt.slice(0, 10) : 'not verified'}</td>
              <td>
                <button
                  type="button"
                  onClick={() => void exportFile(b.setId)}
                  aria-label={`Export the backup file of set ${b.setId.slice(0, 8)}`}
                >
                  Export the backup file
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
