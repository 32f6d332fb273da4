import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CustosCore } from '../custos-core';
import { ceremonyInstallation, CEREMONY_PEOPLE } from '../testing/ceremony-fixture';
import { asDatabaseWriter } from '../testing/audit-fixture';
import { SETUP_OFFICER } from '../testing/enrolment';
import { totpCodeAt } from './totp';

/** What a retirement must see before it goes ahead, read from a real installation (real token, database, factors). */
let dataDir: string;
let cleanup: () => void;
let clock: { now: Date };
let people: Record<string, { id: string; passphrase: string; secret: string }>;
let token: { serial: string; label: string };
let core: CustosCore;

beforeEach(async () => {
  ({ dataDir, cleanup, clock, people, token } = await ceremonyInstallation([...CEREMONY_PEOPLE, { name: 'Dora' }]));
  core = CustosCore.open({ dataDir, version: 'test', production: false, operator: 'test', clock: () => clock.now });
}, 30_000);
afterEach(() => {
  core.close();
  cleanup();
});

/** Both factors of people giving them together, a TOTP step after the last one used. */
function proofs(...names: string[]) {
  clock.now = new Date(clock.now.getTime() + 30_000);
  return names.map((name) => {
    const p = people[name]!;
    return { custodianId: p.id, passphrase: p.passphrase, code: totpCodeAt(p.secret, clock.now) };
  });
}

/** Olga retires the person; the answer's code, or 'retired'. */
async function retire(name: string) {
  const answer = await core.router.dispatch('custodians.retire', {
    custodianId: people[name]!.id,
    officers: proofs(SETUP_OFFICER.name),
  });
  return answer.ok ? 'retired' : `${answer.error.code}: ${answer.error.message}`;
}

async function takeCustody(...holders: string[]) {
  const [first, ...others] = proofs(...holders);
  return core.custody.take({ token, threshold: 2, holders: [first!, ...others], currentSoPin: '87654321' });
}

const outcomes = () =>
  [...core.audit.log().entries()]
    .map((e) => JSON.parse(e.entry) as { action: string; result: { status: string; code?: string } })
    .map((e) => `${e.action} ${e.result.status}${e.result.code ? ` ${e.result.code}` : ''}`);

describe('what a retirement waits for', () => {
  it('sees every open proposal, not the first 50: a turnover naming Dora behind 50 newer drills', async () => {
    const custody = await takeCustody('Ada', 'Babbage', 'Curie');
    const ada = people.Ada!.id;
    const holders = [ada, people.Babbage!.id, people.Dora!.id];
    const turnover = core.quorum.propose({
      custodyId: custody.id,
      action: 'custody.redeal',
      params: { threshold: 2, holders },
      requestedBy: ada,
    });
    for (let i = 0; i < 50; i++)
      core.quorum.propose({ custodyId: custody.id, action: 'token.quorum-drill', params: {}, requestedBy: ada });
    expect(core.quorum.list().filter((p) => p.state === 'open')).toHaveLength(51);
    expect(await retire('Dora')).toBe(
      `CUSTODIAN_STILL_HOLDS: Dora still holds a place in open proposal ${turnover.shortFingerprint} (custody.redeal).`,
    );
  }, 60_000);

  it('sees an open proposal a database writer marked closed in its column: the log has not closed it', async () => {
    const custody = await takeCustody('Ada', 'Babbage', 'Curie');
    const ada = people.Ada!.id;
    const params = { threshold: 2, holders: [ada, people.Babbage!.id, people.Dora!.id] };
    const turnover = core.quorum.propose({ custodyId: custody.id, action: 'custody.redeal', params, requestedBy: ada });
    // Custos closed, the file edited, Custos started again.
    core.close();
    asDatabaseWriter(dataDir, (db) =>
      db.prepare("UPDATE proposals SET state = 'cancelled' WHERE id = ?").run(turnover.id),
    );
    core = CustosCore.open({ dataDir, version: 'test', production: false, operator: 'test', clock: () => clock.now });
    expect(await retire('Dora')).toMatch(/^CUSTODIAN_STILL_HOLDS: Dora still holds a place in open proposal/);
    expect(core.custodians.get(people.Dora!.id).retiredAt ?? null).toBeNull();
  }, 60_000);

  it('refuses while a ceremony run in progress still needs the person, naming the run; after its abort, retires', async () => {
    const steps = `steps:
  - id: custody
    title: Take the token into custody
    by: Ada
    custody: { holders: [Ada, Babbage, Curie], threshold: 2 }
  - id: drill
    title: Open the token together
    by: Ada
    action: token.quorum-drill
    params: {}
    approvers: [Babbage, Curie]
    witnesses: [Dora]
`;
    const opens = new Date(clock.now.getTime() - 3600_000).toISOString();
    const closes = new Date(clock.now.getTime() + 6 * 3600_000).toISOString();
    const script = `format: custos-ceremony/1
title: Drill
purpose: Show that the holders open the token together.
location: Room 4.12
window: { opens: "${opens}", closes: "${closes}" }
token: { serial: "${token.serial}", label: "${token.label}" }
roles:
  administrator: Ada
  custodians: [Ada, Babbage, Curie, Dora]
  witnesses: [Eve]
${steps}`;
    const run = await core.ceremonies.start(script, proofs('Ada')[0]!);
    expect(await retire('Eve')).toBe(
      `CUSTODIAN_STILL_HOLDS: Eve still holds a place in ceremony run ${run.id} “Drill” ` +
        '(witness of step “Take the token into custody”).',
    );
    expect(await retire('Curie')).toMatch(
      /ceremony run [0-9a-f]{16} “Drill” \(holder of step “Take the token into custody”, approver of step “Open the/,
    );
    expect(await retire('Dora')).toMatch(/“Drill” \(witness of step “Open the token together”\)\.$/);
    await core.ceremonies.abort(run.id, proofs('Ada')[0]!, 'Postponed');
    expect([await retire('Eve'), await retire('Curie'), await retire('Dora')]).toEqual([
      'retired',
      'retired',
      'retired',
    ]);
    expect(outcomes().filter((o) => o.startsWith('custodian.retire'))).toEqual([
      ...Array(3).fill('custodian.retire refused CUSTODIAN_STILL_HOLDS'),
      ...Array(3).fill('custodian.retire ok'),
    ]);
  });
});

describe('a retired person named in a request', () => {
  it('is refused when the request is made (CUSTODIAN_RETIRED, recorded), before anyone’s factors are spent', async () => {
    expect(await retire('Dora')).toBe('retired');
    const day = clock.now.toISOString().slice(0, 10);
    const refusal = `CUSTODIAN_RETIRED: Dora was retired on ${day}: they can approve nothing.`;
    const answer = (envelope: { ok: boolean; error?: { code: string; message: string } }) =>
      envelope.ok ? 'accepted' : `${envelope.error!.code}: ${envelope.error!.message}`;
    const factorChecks = () => outcomes().filter((o) => o.startsWith('custodian.factor.verify')).length;
    const before = factorChecks();
    expect(
      answer(
        await core.router.dispatch('custody.take', {
          token,
          threshold: 2,
          holders: proofs('Ada', 'Dora'),
          currentSoPin: '87654321',
        }),
      ),
    ).toBe(refusal);
    expect(factorChecks()).toBe(before);
    const custody = await takeCustody('Ada', 'Babbage', 'Curie');
    const propose = async (action: string, params: Record<string, unknown>) =>
      answer(
        await core.router.dispatch('proposals.create', {
          custodyId: custody.id,
          action,
          params,
          requester: proofs('Ada')[0]!,
        }),
      );
    const [ada, dora] = [people.Ada!.id, people.Dora!.id];
    const proposerChecks = factorChecks();
    expect(await propose('key.backup', { keyIds: ['0'.repeat(32)], holders: [ada, dora], threshold: 2 })).toBe(refusal);
    expect(await propose('custody.redeal', { holders: [ada, dora], threshold: 2 })).toBe(refusal);
    // Refused before Ada's factors are checked: she spends no passphrase try on a proposal that cannot be made.
    expect(factorChecks()).toBe(proposerChecks);
    expect(core.quorum.list()).toEqual([]);
    expect(outcomes().filter((o) => o.endsWith('CUSTODIAN_RETIRED'))).toEqual([
      'custody.take refused CUSTODIAN_RETIRED',
      'proposal.create refused CUSTODIAN_RETIRED',
      'proposal.create refused CUSTODIAN_RETIRED',
    ]);
    // A ceremony script naming her, as a witness here, does not lint, so no run of it starts.
    const lint = core.ceremonies.lint(
      `format: custos-ceremony/1
title: Checkpoint
purpose: Sign a checkpoint.
location: Room 4.12
window: { opens: "${new Date(clock.now.getTime() - 3600_000).toISOString()}", closes: "${new Date(clock.now.getTime() + 3600_000).toISOString()}" }
token: { serial: "${token.serial}", label: "${token.label}" }
roles:
  administrator: Ada
  custodians: [Ada, Babbage]
  witnesses: [Dora]
steps:
  - id: checkpoint
    title: Sign the checkpoint
    by: Ada
    checkpoint: true
`,
    );
    expect(lint.problems).toContain(refusal.replace('CUSTODIAN_RETIRED: ', ''));
  }, 60_000);
});
