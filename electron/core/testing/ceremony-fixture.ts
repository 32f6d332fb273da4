import type { CustosCore } from '../custos-core';
import { totpCodeAt } from '../custodians/totp';
import { quorumFixture, type EnrolledCustodian } from './quorum-fixture';
import { initSoftHsmToken, tempDataDir } from './softhsm-fixture';

/** The people most ceremony tests need: three custodians and an auditor who witnesses. */
export const CEREMONY_PEOPLE: { name: string; roles?: ('custodian' | 'security-officer' | 'auditor')[] }[] = [
  { name: 'Ada' },
  { name: 'Babbage' },
  { name: 'Curie' },
  { name: 'Eve', roles: ['auditor'] },
];

/**
 * A real installation for a ceremony script: its data directory, people enrolled with real factors (the setup
 * officer among them), and an initialised SoftHSM2 token (SO PIN 87654321) the script's custody step takes.
 */
export async function ceremonyInstallation(people = CEREMONY_PEOPLE, tokenLabel = 'root-ceremony') {
  const { dataDir, cleanup } = tempDataDir();
  const seeded = await quorumFixture(dataDir, people);
  seeded.close();
  const everyone = [...seeded.enrolled, ...(seeded.setupOfficer ? [seeded.setupOfficer] : [])];
  return {
    dataDir,
    cleanup,
    clock: seeded.clock,
    people: Object.fromEntries(everyone.map((p) => [p.name, p])) as Record<string, EnrolledCustodian>,
    token: initSoftHsmToken(dataDir, tokenLabel, { so: '87654321', user: '12345678' }),
  };
}

type Installation = {
  clock: { now: Date };
  people: Record<string, { id: string; passphrase: string; secret: string }>;
  token: { serial: string; label: string };
};

/**
 * A short script run to its end on a ceremony installation: Ada takes the token into custody, Curie records a bag's
 * serial, Ada signs a checkpoint, and Eve witnesses each step. Returns the run and its signed report's id.
 */
export async function witnessedScriptRun(core: CustosCore, { clock, people, token }: Installation) {
  const proofs = (...names: string[]) => {
    clock.now = new Date(clock.now.getTime() + 30_000);
    return names.map((name) => {
      const p = people[name]!;
      return { custodianId: p.id, passphrase: p.passphrase, code: totpCodeAt(p.secret, clock.now) };
    });
  };
  const proof = (name: string) => proofs(name)[0]!;
  const hours = (n: number) => new Date(clock.now.getTime() + n * 3600_000).toISOString();
  const text = `format: custos-ceremony/1
title: Custody and a sealed bag
purpose: Take the token into custody and seal its report.
location: Room 4.12
window: { opens: "${hours(-1)}", closes: "${hours(6)}" }
token: { serial: "${token.serial}", label: "${token.label}" }
roles:
  administrator: Ada
  custodians: [Ada, Babbage, Curie]
  witnesses: [Eve]
steps:
  - { id: custody, title: Take the token into custody, by: Ada, custody: { holders: [Ada, Babbage, Curie], threshold: 2 } }
  - { id: bag, title: Seal the printed report, by: Curie, manual: Read the bag's serial aloud., record: bag serial }
  - { id: checkpoint, title: Sign the closing checkpoint, by: Ada, checkpoint: true }
`;
  let run = await core.ceremonies.start(text, proof('Ada'));
  const [ada, ...others] = proofs('Ada', 'Babbage', 'Curie');
  run = await core.ceremonies.perform({
    runId: run.id,
    stepId: 'custody',
    by: ada!,
    holders: others,
    currentSoPin: '87654321',
  });
  run = await core.ceremonies.witness(run.id, 'custody', proof('Eve'));
  run = await core.ceremonies.perform({ runId: run.id, stepId: 'bag', by: proof('Curie'), value: 'TE-1' });
  run = await core.ceremonies.witness(run.id, 'bag', proof('Eve'));
  run = await core.ceremonies.perform({ runId: run.id, stepId: 'checkpoint', by: proof('Ada') });
  run = await core.ceremonies.witness(run.id, 'checkpoint', proof('Eve'));
  return { runId: run.id, state: run.state, reportId: run.reportId! };
}
