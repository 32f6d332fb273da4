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
