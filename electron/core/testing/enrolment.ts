import type { Role } from '../../../shared/custodians';
import type { CustodianService } from '../custodians/custodian-service';
import { totpCodeAt } from '../custodians/totp';

export interface EnrolledPerson {
  id: string;
  name: string;
  roles: Role[];
  passphrase: string;
  secret: string;
}

/** The installation's first security officer in tests that do not name one. */
export const SETUP_OFFICER = {
  name: 'Olga Setup',
  roles: ['security-officer'] as Role[],
  passphrase: 'granite lantern orchard sleeps 1917 quietly',
};

/**
 * Enrols people the way an installation must (real scrypt, real TOTP): the first security
 * officer at setup, then everyone else approved by the officers' two factors (two for a new
 * officer once two exist). The clock moves one TOTP step per enrolment, as people taking turns.
 * When the first person named is no security officer, SETUP_OFFICER is enrolled before them.
 */
export async function enrolPeople(
  service: CustodianService,
  clock: { now: Date },
  people: { name: string; roles?: Role[]; passphrase: string }[],
): Promise<{ people: EnrolledPerson[]; setupOfficer: EnrolledPerson | null }> {
  const officers: EnrolledPerson[] = [];
  const enrol = async (person: { name: string; roles?: Role[]; passphrase: string }): Promise<EnrolledPerson> => {
    clock.now = new Date(clock.now.getTime() + 30_000);
    const roles = person.roles ?? ['custodian'];
    const approving = officers.slice(0, roles.includes('security-officer') ? 2 : 1);
    const proofs = approving.map((o) => ({
      custodianId: o.id,
      passphrase: o.passphrase,
      code: totpCodeAt(o.secret, clock.now),
    }));
    const challenge = await service.beginEnrolment({
      name: person.name,
      roles,
      passphrase: person.passphrase,
      ...(proofs.length ? { officers: proofs } : {}),
    });
    const saved = service.confirmEnrolment(challenge.enrolmentId, totpCodeAt(challenge.secret, clock.now));
    const enrolled = {
      id: saved.id,
      name: person.name,
      roles,
      passphrase: person.passphrase,
      secret: challenge.secret,
    };
    if (roles.includes('security-officer')) officers.push(enrolled);
    return enrolled;
  };
  const [first] = people;
  // Nobody to enrol (a test reopening a data directory): no setup either.
  if (!first) return { people: [], setupOfficer: null };
  const setupOfficer = first.roles?.includes('security-officer') ? null : await enrol(SETUP_OFFICER);
  const enrolled: EnrolledPerson[] = [];
  for (const person of people) enrolled.push(await enrol(person));
  return { people: enrolled, setupOfficer: setupOfficer ?? enrolled[0]! };
}
