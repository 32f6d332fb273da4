import { createHash, randomBytes } from 'node:crypto';
import QRCode from 'qrcode';
import type { AuditActor } from '../../../shared/audit';
import type { CustodianSummary, EnrolmentChallenge, Role } from '../../../shared/custodians';
import type { AuditService } from '../audit/audit-service';
import { signedObjectIds } from '../audit/signed-entries';
import { printsAs } from '../../../shared/people-names';
import { CustosError } from '../errors';
import type { Store } from '../store/database';
import { refuseTampered, type SignedColumns, signState, stateDocument, stateVerdict } from '../store/signed-state';
import { sql } from '../store/sql';
import { passphraseProblems } from './passphrase-policy';
import { PerKeyQueue } from './per-key-queue';
import { DEFAULT_KDF, deriveKey, KdfParams, newKdfParams, open, seal } from './sealing';
import { acceptTotp, newTotpSecret, TOTP_PERIOD, totpUri } from './totp';

const ENROLMENT_MINUTES = 10;
const ENROLMENT_TRIES = 5;
/** After this many failures in a row, each further try waits longer; at LOCK_AFTER only a security officer can help. */
export const THROTTLE_AFTER = 3;
export const LOCK_AFTER = 10;
/** The longest wait between tries of the last security officer who is not locked out, who is never locked out. */
export const LAST_OFFICER_MAX_WAIT_MS = 60 * 60_000;

interface PendingEnrolment {
  name: string;
  roles: Role[];
  /** The security officers who approved it; empty only for the installation's first officer. */
  approvedBy: string[];
  kdf: KdfParams;
  sealed: Buffer;
  secret: string;
  expiresAt: Date;
  tries: number;
}

/** A person's factor counters, as a rehearsal's scratch installation reports them back. */
export interface FactorState {
  lastTimeStep: number | null;
  failures: number;
  throttledUntil: string | null;
  locked: boolean;
}

interface Row extends SignedColumns {
  id: string;
  name: string;
  roles: string;
  kdf: string;
  sealed_totp: Buffer;
  last_time_step: number | null;
  failures: number;
  throttled_until: string | null;
  locked: number;
  enrolled_at: string;
  retired_at: string | null;
}

export interface CustodianServiceOptions {
  store: Store;
  audit: AuditService;
  actor: AuditActor;
  /** scrypt cost; tests lower it (still real scrypt), production uses DEFAULT_KDF. */
  kdfCost?: { N: number; r: number; p: number };
  clock?: () => Date;
  /**
   * What a person still holds (custody shares, backup cards, open proposals), in words: a retirement is refused
   * while any is left. The services that keep those records are built after this one, hence a function.
   */
  holdings?: (person: { id: string; name: string }) => string[];
}

const aad = (id: string) => `custos/totp-secret/v1/${id}`;

/** A custodian proving both factors, here an officer approving an enrolment. */
export interface OfficerProof {
  custodianId: string;
  passphrase: string;
  code: string;
}

/**
 * Custodians and their two factors. A custodian's TOTP secret is sealed under a key derived from
 * their passphrase, so the database alone yields neither; a factor check needs both, and a TOTP
 * time step is accepted at most once per custodian.
 */
export class CustodianService {
  private readonly pending = new Map<string, PendingEnrolment>();
  private readonly checks = new PerKeyQueue();
  private readonly clock: () => Date;

  constructor(private readonly options: CustodianServiceOptions) {
    this.clock = options.clock ?? (() => new Date());
  }

  /**
   * Everyone enrolled, each as the audit key signed them. A custodian the signed log enrolled but the table no longer
   * holds (their row deleted outside Custos: a locked-out officer gone from the list) refuses the list
   * (CUSTODIAN_TAMPERED, recorded) rather than leave them out unseen.
   */
  list(): CustodianSummary[] {
    const rows = this.options.store.all<Row>(sql`SELECT * FROM custodians ORDER BY name`);
    const held = new Set(rows.map((row) => row.id));
    const gone = [...this.enrolledIds()].find((id) => !held.has(id));
    if (gone !== undefined) this.refuseDeleted(gone);
    return rows.map((row) => summary(this.authentic(row)));
  }

  /** The custodians the signed log enrolled (at setup, by an enrolment, or sealed at an upgrade) or its heads name. */
  private enrolledIds(): Set<string> {
    const ids = signedObjectIds(this.options.store, this.options.audit, 'custodian', ENROLLING_ENTRIES);
    for (const id of this.options.audit.recordsNamed('custodians')) ids.add(id);
    return ids;
  }

  private refuseDeleted(id: string): never {
    return refuseTampered(
      this.options.audit,
      'CUSTODIAN_TAMPERED',
      custodianObject(id),
      `The record of custodian ${id}`,
      'deleted',
    );
  }

  /**
   * Step 1: checks who approves it and the passphrase, makes and seals a TOTP secret, and shows
   * it once. With nobody enrolled yet this is the installation's setup: the first person must be a
   * security officer, and needs nobody's approval. After that an enrolment needs a security
   * officer's two factors, and a new security officer needs two officers' (one while only one exists).
   */
  async beginEnrolment(request: {
    name: string;
    roles: Role[];
    passphrase: string;
    officers?: OfficerProof[];
  }): Promise<EnrolmentChallenge> {
    const name = request.name.trim();
    const roles = [...new Set(request.roles)];
    this.assertNameFree(name);
    const problems = passphraseProblems(request.passphrase, name);
    if (problems.length > 0)
      throw new CustosError('PASSPHRASE_WEAK', 'That passphrase is too easy to guess.', problems);
    const approvedBy = await this.approveEnrolment(name, roles, request.officers ?? []);
    const enrolmentId = randomBytes(16).toString('hex');
    const secret = newTotpSecret();
    const kdf = newKdfParams(this.options.kdfCost ?? DEFAULT_KDF);
    const passphrase = Buffer.from(request.passphrase, 'utf8');
    const key = await deriveKey(passphrase, kdf).finally(() => passphrase.fill(0));
    // Another enrolment of the same name may have begun while the key was derived.
    try {
      this.assertNameFree(name);
    } catch (error) {
      key.fill(0);
      throw error;
    }
    const sealed = seal(key, Buffer.from(secret, 'utf8'), aad(enrolmentId.slice(0, 16)));
    key.fill(0);
    const expiresAt = new Date(this.clock().getTime() + ENROLMENT_MINUTES * 60_000);
    this.pending.set(enrolmentId, { name, roles, approvedBy, kdf, sealed, secret, expiresAt, tries: 0 });
    const uri = totpUri(secret, name);
    return {
      enrolmentId,
      name,
      secret,
      uri,
      qrSvg: await QRCode.toString(uri, { type: 'svg', errorCorrectionLevel: 'M', margin: 2 }),
      expiresAt: expiresAt.toISOString(),
    };
  }

  /** Step 2: the first code proves the authenticator holds the secret; only then is the custodian saved. */
  confirmEnrolment(enrolmentId: string, code: string): CustodianSummary {
    const pending = this.pending.get(enrolmentId);
    if (!pending || pending.expiresAt <= this.clock()) {
      this.pending.delete(enrolmentId);
      throw new CustosError('ENROLMENT_EXPIRED', 'This enrolment has expired or was cancelled.', [
        'Start the enrolment again; the old QR code is no longer valid.',
      ]);
    }
    const step = acceptTotp(pending.secret, code, null, this.clock());
    if (step === null) {
      pending.tries += 1;
      // The last wrong code ends the enrolment, and says so by its code: the screen drops its secret and QR code.
      if (pending.tries >= ENROLMENT_TRIES) {
        this.pending.delete(enrolmentId);
        throw new CustosError(
          'ENROLMENT_EXPIRED',
          `${ENROLMENT_TRIES} codes in a row were not the one the authenticator should show: this enrolment is cancelled.`,
          [
            'Delete this entry from the authenticator app: its QR code is no longer valid.',
            'Check that the phone’s clock is set automatically, then start the enrolment again.',
          ],
        );
      }
      throw new CustosError('TOTP_INCORRECT', 'That code is not the one the authenticator should show now.', [
        'Check that the phone’s clock is set automatically, then type the code currently shown.',
      ]);
    }
    const id = enrolmentId.slice(0, 16);
    const now = this.clock().toISOString();
    const setup = pending.approvedBy.length === 0;
    const [officer] = pending.approvedBy;
    if (!setup) this.refuseOutnumbered(enrolmentId, pending);
    this.options.audit.record(
      {
        actor: officer ? { type: 'custodian', id: officer, role: 'security-officer' } : this.options.actor,
        action: setup ? 'installation.setup' : 'custodian.enrol',
        object: { type: 'custodian', id },
        params: { name: pending.name, roles: pending.roles, ...(setup ? {} : { approvedBy: pending.approvedBy }) },
      },
      () => {
        // Two setups begun at once: only the first to finish is the installation's first officer.
        if (setup && this.options.store.get(sql`SELECT 1 AS yes FROM custodians LIMIT 1`)) {
          throw new CustosError(
            'NOT_AUTHORIZED',
            'This installation was set up meanwhile: its security officer must approve this enrolment.',
            ['Start the enrolment again with a security officer.'],
          );
        }
        this.options.store.execute(sql`
          INSERT INTO custodians (id, name, roles, kdf, sealed_totp, last_time_step, enrolled_at)
          VALUES (${id}, ${pending.name}, ${JSON.stringify(pending.roles)}, ${JSON.stringify(pending.kdf)}, ${pending.sealed}, ${step}, ${now})`);
        this.signState(id);
      },
    );
    this.pending.delete(enrolmentId);
    // After the commit: a crash in between is made good at the next start (sealUnsignedOnce).
    if (setup) this.options.audit.markInstallationSetUp();
    return this.get(id);
  }

  /**
   * An officer appointed by one officer while only one existed: refused when another officer was enrolled meanwhile
   * (two begun while there was one), else the only officer could appoint as many officers as they liked.
   */
  private refuseOutnumbered(enrolmentId: string, pending: PendingEnrolment): void {
    if (!pending.roles.includes('security-officer')) return;
    // Locked-out officers count: locking the other officer out must not let one officer appoint alone.
    const officers = this.list().filter(isServingOfficer).length;
    if (pending.approvedBy.length >= Math.min(2, officers)) return;
    this.pending.delete(enrolmentId);
    this.options.audit.record({
      actor: { type: 'custodian', id: pending.approvedBy[0]!, role: 'security-officer' },
      action: 'custodian.enrol',
      object: { type: 'custodian', id: enrolmentId.slice(0, 16) },
      params: { name: pending.name, roles: pending.roles, approvedBy: pending.approvedBy },
      result: { status: 'refused', code: 'NOT_AUTHORIZED' },
    });
    throw new CustosError(
      'NOT_AUTHORIZED',
      `Another security officer was enrolled since this began: appointing ${pending.name} as a security officer ` +
        'now needs two different security officers.',
      ['Start the enrolment again with two security officers’ passphrases and codes.'],
    );
  }

  /** The officers whose two factors approve this enrolment (none at setup); refuses anything less. */
  private async approveEnrolment(name: string, roles: Role[], proofs: OfficerProof[]): Promise<string[]> {
    const everyone = this.list();
    if (everyone.length === 0) {
      // The token, not the database, says whether the first officer was ever set up.
      if (this.options.audit.installationSetUp()) {
        this.options.audit.record({
          actor: this.options.actor,
          action: 'custodian.tampered',
          object: { type: 'installation', id: 'setup' },
          result: { status: 'refused', code: 'CUSTODIAN_TAMPERED' },
        });
        throw new CustosError(
          'CUSTODIAN_TAMPERED',
          'This installation was set up already (its audit token says so), yet no custodian is on record: the database was changed outside Custos.',
          [
            'Do not enrol anyone now. Keep the machine as it is and tell your security officer and auditor.',
            'Restore the database that belongs with this audit token.',
          ],
        );
      }
      if (!roles.includes('security-officer')) {
        throw new CustosError(
          'NOT_AUTHORIZED',
          'The first person enrolled sets up this installation, and must be a security officer.',
          ['Enrol the installation’s security officer first; they then approve every other enrolment.'],
        );
      }
      if (proofs.length > 0)
        throw new CustosError('NOT_AUTHORIZED', 'Nobody is enrolled yet, so nobody can approve this enrolment.');
      return [];
    }
    // A locked-out officer still counts towards the two a new officer needs: anyone can lock an officer out by typing
    // wrong factors for them, and that must not leave the other officer appointing officers alone.
    // A retired officer counts nowhere: they can approve nothing.
    const officers = everyone.filter(isServingOfficer);
    const unlocked = officers.filter((c) => !c.locked);
    const needed = roles.includes('security-officer') ? Math.min(2, officers.length) : 1;
    const ids = [...new Set(proofs.map((p) => p.custodianId))];
    const approvers = ids.map((id) => this.get(id));
    const notOfficer = approvers.find((c) => !c.roles.includes('security-officer'));
    if (notOfficer)
      throw new CustosError(
        'NOT_AUTHORIZED',
        `${notOfficer.name} is not a security officer, so cannot approve an enrolment.`,
      );
    if (ids.length < needed || unlocked.length === 0) {
      const what = needed === 2 ? 'two different security officers' : 'a security officer';
      throw new CustosError(
        'NOT_AUTHORIZED',
        `Enrolling ${name}${roles.includes('security-officer') ? ' as a security officer' : ''} needs ${what} to prove both factors.`,
        [
          unlocked.length === 0
            ? 'Every security officer is locked out (a lockout from before this version): the next officer to prove ' +
              'their factors is let in, and then unlocks the others (Custodians → Unlock).'
            : unlocked.length < needed
              ? 'A security officer is locked out: another security officer unlocks them first (Custodians → Unlock).'
              : `Ask ${what} to type their passphrase and code.`,
        ],
      );
    }
    for (const proof of proofs.filter((p, i) => proofs.findIndex((q) => q.custodianId === p.custodianId) === i)) {
      (await this.verifyFactors(proof.custodianId, proof.passphrase, proof.code, `enrol ${name}`)).fill(0);
    }
    return ids;
  }

  private assertNameFree(name: string): void {
    // A name that only looks the same on paper (a Cyrillic Е for an E, a full-width letter) is the same name to the
    // people reading a printed ceremony script.
    // Case stays a difference (“Ada” and “ADA” are told apart by the CLI's own ambiguity check).
    const prints = printsAs(name);
    // An enrolment left unconfirmed past its window can never be confirmed: it holds neither the name nor its secret.
    for (const [id, pending] of this.pending) if (pending.expiresAt <= this.clock()) this.pending.delete(id);
    const taken = [
      ...this.options.store.all<{ name: string }>(sql`SELECT name FROM custodians`).map((r) => r.name),
      ...[...this.pending.values()].map((p) => p.name),
    ].find((other) => other === name || printsAs(other) === prints);
    if (taken !== undefined) {
      const same = taken === name ? `named “${name}”` : `named “${taken}”, which reads the same as “${name}”,`;
      throw new CustosError('CUSTODIAN_EXISTS', `A custodian ${same} is already enrolled or being enrolled.`, [
        'Use a different name, for example with an initial.',
      ]);
    }
  }

  cancelEnrolment(enrolmentId: string): void {
    this.pending.delete(enrolmentId);
  }

  /**
   * Checks passphrase + TOTP and returns the passphrase-derived key for what the caller must
   * unseal (the caller overwrites it). Every outcome is recorded with the failure count it sets.
   */
  verifyFactors(custodianId: string, passphrase: string, code: string, purpose: string): Promise<Buffer> {
    // Checks of one custodian run in turn: each reads the state the previous one wrote.
    return this.checks.run(custodianId, () => this.checkFactors(custodianId, passphrase, code, purpose));
  }

  private async checkFactors(custodianId: string, passphrase: string, code: string, purpose: string): Promise<Buffer> {
    const row = this.row(custodianId);
    const now = this.clock();
    const object = { type: 'custodian', id: custodianId };
    // Before scrypt: a retired person's factors approve nothing, and their sealed secret is gone anyway.
    if (row.retired_at !== null) {
      this.options.audit.record({
        actor: this.options.actor,
        action: 'custodian.factor.verify',
        object,
        params: { purpose },
        result: { status: 'refused', code: 'CUSTODIAN_RETIRED' },
      });
      throw retiredError(row.name, row.retired_at, custodianId);
    }
    if (row.locked && !this.lastOfficerStanding(row)) {
      this.options.audit.record({
        actor: this.options.actor,
        action: 'custodian.factor.verify',
        object,
        params: { purpose },
        result: { status: 'refused', code: 'CUSTODIAN_LOCKED' },
      });
      throw new CustosError(
        'CUSTODIAN_LOCKED',
        `${row.name} is locked out after repeated failed attempts.`,
        ['A security officer must unlock this custodian (Custodians → Unlock).'],
        { custodianId },
      );
    }
    if (row.throttled_until && new Date(row.throttled_until) > now) {
      this.options.audit.record({
        actor: this.options.actor,
        action: 'custodian.factor.verify',
        object,
        params: { purpose },
        result: { status: 'refused', code: 'FACTORS_THROTTLED' },
      });
      throw new CustosError(
        'FACTORS_THROTTLED',
        `Too many failed attempts for ${row.name}: wait until ${untilInWords(row.throttled_until, now)} before trying again.`,
        ['Take a moment to check the passphrase and the authenticator entry.'],
        { custodianId },
      );
    }
    const bytes = Buffer.from(passphrase, 'utf8');
    const key = await deriveKey(bytes, KdfParams.parse(JSON.parse(row.kdf))).finally(() => bytes.fill(0));
    let failure: 'PASSPHRASE_INCORRECT' | 'TOTP_INCORRECT' | 'TOTP_REPLAYED' | null = null;
    let step: number | null = null;
    try {
      const secret = open(key, row.sealed_totp, aad(custodianId)).toString('utf8');
      step = acceptTotp(secret, code, row.last_time_step, now);
      if (step === null) failure = acceptTotp(secret, code, null, now) === null ? 'TOTP_INCORRECT' : 'TOTP_REPLAYED';
    } catch (error) {
      if (error instanceof CustosError && error.code === 'CLOCK_BACKWARDS') {
        key.fill(0);
        // Not the custodian's failure: recorded for the auditors, and no attempt is counted.
        this.options.audit.record({
          actor: { type: 'system', id: 'system' },
          action: 'system.clock-backwards',
          object,
          params: { purpose, now: now.toISOString(), lastTimeStep: row.last_time_step },
          result: { status: 'refused', code: 'CLOCK_BACKWARDS' },
        });
        throw error;
      }
      if (!(error instanceof CustosError && error.code === 'PASSPHRASE_INCORRECT')) {
        key.fill(0);
        throw error;
      }
      failure = 'PASSPHRASE_INCORRECT';
    }
    if (failure) {
      key.fill(0);
      const failures = row.failures + 1;
      // Read after scrypt, so of two officers failing at once the one answered second is the last standing.
      const lastOfficer = failures >= LOCK_AFTER && this.lastOfficerStanding(row);
      const locked = failures >= LOCK_AFTER && !lastOfficer;
      const throttledUntil =
        failures >= THROTTLE_AFTER && !locked ? new Date(now.getTime() + waitAfter(failures)).toISOString() : null;
      this.options.audit.record(
        {
          actor: this.options.actor,
          action: 'custodian.factor.verify',
          object,
          params: { purpose, failures },
          result: { status: 'failed', code: failure },
        },
        () =>
          this.changeState(custodianId, () =>
            this.options.store.execute(
              sql`UPDATE custodians SET failures = ${failures}, throttled_until = ${throttledUntil}, locked = ${locked ? 1 : 0} WHERE id = ${custodianId}`,
            ),
          ),
      );
      if (locked || lastOfficer)
        this.options.audit.record({
          actor: SYSTEM,
          action: locked ? 'custodian.lockout' : 'custodian.lockout.withheld',
          object,
          params: { failures },
        });
      throw factorError(failure, { name: row.name, id: custodianId }, locked);
    }
    this.options.audit.record(
      { actor: this.options.actor, action: 'custodian.factor.verify', object, params: { purpose } },
      () =>
        this.changeState(custodianId, () =>
          this.options.store.execute(
            sql`UPDATE custodians SET last_time_step = ${step}, failures = 0, throttled_until = NULL, locked = 0 WHERE id = ${custodianId}`,
          ),
        ),
    );
    return key;
  }

  /**
   * Settles once no factor check is running or waiting: what they count is then in the rows (a rehearsal's seeds).
   * Null when none is.
   */
  checksSettled(): Promise<void> | null {
    return this.checks.idle();
  }

  /** The rows of these people as the audit key signed them, to seed a rehearsal's scratch installation. */
  rehearsalSeeds(ids: readonly string[]): Row[] {
    return ids.map((id) => this.row(id));
  }

  /**
   * What people's factors went through in a rehearsal's scratch installation counts here too, as it happens: a code
   * accepted there is never accepted here (no replay), and failed attempts count towards the throttle and the lockout
   * here (a rehearsal is no way round them). Counted one way only, never back: the scratch state may be older than
   * this one (a cut-off rehearsal counted at a later start, after codes were checked here), may come from a database
   * anyone who can write the data directory wrote, and an unlock there is no unlock here. So the later time step (no
   * later than the clock allows), the higher failure count, the later throttle (no longer than the longest wait from
   * now), and a lockout, never lifted this way. Recorded and signed.
   *
   * `from`: 'answers' as the rehearsal process reports them; 'database' read from a rehearsal's database once its
   * process is gone (cut off, or at the next start). A database can be written by whoever can write the data directory
   * (the scratch audit PIN lies beside it, so nothing in it proves itself), and a cut-off rehearsal's folder can be
   * filled again at any time: it never locks anyone out here. Its failures count up to one short of the lockout, and a
   * lockout there is withheld here with the longest wait and recorded (`custodian.lockout.withheld`) for the officers,
   * and every count from a database recorded as such (`custodian.factor.rehearsed.unproven`):
   * the next failure here locks, so a rehearsal cut off at its last answer is still no way round the lockout.
   */
  rehearsedFactors(states: Record<string, FactorState>, from: 'answers' | 'database' = 'answers'): void {
    // The latest step a code can be accepted at now (±1 step): a later one would shut the person out for good.
    const latestStep = Math.floor(this.clock().getTime() / 1000 / TOTP_PERIOD) + 1;
    // One person whose row cannot be used (edited in the database) keeps nobody else from being counted; the first
    // such refusal is thrown once the others are, so the caller knows the count is not complete.
    let refused: unknown = null;
    for (const [id, there] of Object.entries(states)) {
      try {
        this.countRehearsed(id, there, latestStep, from === 'database');
      } catch (error) {
        refused ??= error;
      }
    }
    if (refused !== null) throw refused;
  }

  private countRehearsed(id: string, there: FactorState, latestStep: number, fromDatabase: boolean): void {
    const stored = this.options.store.get<Row>(sql`SELECT * FROM custodians WHERE id = ${id}`);
    if (!stored) return;
    const row = this.authentic(stored);
    // Nothing of theirs counts any more: their factors are refused before anything is counted.
    if (row.retired_at !== null) return;
    const now = this.clock();
    const thereStep = there.lastTimeStep === null ? null : Math.min(there.lastTimeStep, latestStep);
    const step = row.last_time_step === null || (thereStep ?? -1) > row.last_time_step ? thereStep : row.last_time_step;
    const failures = Math.max(row.failures, fromDatabase ? Math.min(there.failures, LOCK_AFTER - 1) : there.failures);
    // A lockout there is one here, except for the last officer standing here, who waits instead (as after a failure),
    // and except from a database, which anyone who can write the data directory may have written.
    const waits = there.locked && row.locked !== 1 && (fromDatabase || this.lastOfficerStanding(row));
    const locked = row.locked === 1 || (there.locked && !waits);
    // Only failures not yet counted here set a new wait: the same state reported again changes nothing.
    const withheld = waits && there.failures > row.failures;
    const wait = fromDatabase ? LAST_OFFICER_MAX_WAIT_MS : waitAfter(failures);
    const throttledUntil = locked
      ? null
      : later(
          later(row.throttled_until, throttleFrom(there.throttledUntil, now)),
          withheld ? new Date(now.getTime() + wait).toISOString() : null,
        );
    if (
      step === row.last_time_step &&
      failures === row.failures &&
      throttledUntil === row.throttled_until &&
      locked === (row.locked === 1)
    )
      return;
    this.options.audit.record(
      {
        actor: SYSTEM,
        action: 'custodian.factor.rehearsed',
        object: custodianObject(id),
        params: { step, failures, locked },
      },
      () =>
        this.changeState(id, () =>
          this.options.store.execute(sql`
              UPDATE custodians SET last_time_step = ${step}, failures = ${failures},
                throttled_until = ${throttledUntil}, locked = ${locked ? 1 : 0}
              WHERE id = ${id}`),
        ),
    );
    // Entries keep their params as a hash only, so that the counts came from a database (nothing proves it: above) is
    // an entry of its own, which officers see beside the person's failures, withheld lockout or no.
    if (fromDatabase)
      this.options.audit.record({
        actor: SYSTEM,
        action: 'custodian.factor.rehearsed.unproven',
        object: custodianObject(id),
        params: { step, failures, throttledUntil },
      });
    if ((locked && row.locked !== 1) || withheld)
      this.options.audit.record({
        actor: SYSTEM,
        action: withheld ? 'custodian.lockout.withheld' : 'custodian.lockout',
        object: custodianObject(id),
        params: { failures, inRehearsal: true, ...(fromDatabase ? { fromItsDatabase: true } : {}) },
      });
  }

  /**
   * Whether this is a serving security officer and no other serving officer, as the audit key signed them, is free of a
   * lockout: then nobody could lift theirs, so they are throttled instead of locked out (a lockout from before lifts
   * at their next check).
   */
  private lastOfficerStanding(row: Row): boolean {
    if (row.retired_at !== null || !(JSON.parse(row.roles) as Role[]).includes('security-officer')) return false;
    const others = this.options.store.all<Row>(sql`SELECT * FROM custodians WHERE id != ${row.id}`);
    // A row edited or deleted in the database unlocks nobody: read as it stands it could hide a free officer (its
    // lockout, retirement or roles written in), and breaking another officer's row must not lift this one's lockout.
    const present = new Set([row.id, ...others.map((other) => other.id)]);
    if ([...this.enrolledIds()].some((id) => !present.has(id))) return false;
    return !others.some(
      (other) =>
        this.stateVerdict(other) !== 'authentic' ||
        ((JSON.parse(other.roles) as Role[]).includes('security-officer') &&
          other.locked === 0 &&
          other.retired_at === null),
    );
  }

  /** A security officer, proving both factors, lifts another custodian's lockout. */
  async unlock(custodianId: string, officerId: string, passphrase: string, code: string): Promise<CustodianSummary> {
    const officer = this.row(officerId);
    if (!(JSON.parse(officer.roles) as Role[]).includes('security-officer')) {
      throw new CustosError('NOT_AUTHORIZED', `${officer.name} is not a security officer.`, [
        'Ask a security officer to unlock the custodian.',
      ]);
    }
    if (officerId === custodianId)
      throw new CustosError('NOT_AUTHORIZED', 'Nobody can lift their own lockout.', ['Ask another security officer.']);
    const refuseRetired = (target: Row) => {
      if (target.retired_at === null) return;
      // The request's actor is recorded, not the officer (whose factors may not be checked yet).
      this.options.audit.record({
        actor: this.options.actor,
        params: { officer: officerId },
        action: 'custodian.unlock',
        object: custodianObject(custodianId),
        result: { status: 'refused', code: 'CUSTODIAN_RETIRED' },
      });
      throw retiredError(target.name, target.retired_at);
    };
    refuseRetired(this.row(custodianId));
    (await this.verifyFactors(officerId, passphrase, code, 'unlock')).fill(0);
    // Queued behind any check of the custodian in flight, so its failure count cannot overwrite the unlock.
    return this.checks.run(custodianId, async () => {
      // Retired meanwhile (while the officer's factors were checked): a retired person is never unlocked.
      refuseRetired(this.row(custodianId));
      this.options.audit.record(
        {
          actor: { type: 'custodian', id: officerId, role: 'security-officer' },
          action: 'custodian.unlock',
          object: { type: 'custodian', id: custodianId },
        },
        () =>
          this.changeState(custodianId, () =>
            this.options.store.execute(
              sql`UPDATE custodians SET locked = 0, failures = 0, throttled_until = NULL WHERE id = ${custodianId}`,
            ),
          ),
      );
      return this.get(custodianId);
    });
  }

  /**
   * Retires a person who left: their row stays (the name stays taken, the history readable), every factor check of
   * theirs is refused from now on, and their sealed TOTP secret is overwritten. A custodian or auditor is retired by
   * one security officer, never by themselves; a security officer by two other officers, or, where only one other
   * exists, by that officer with the retiring officer's own factors (a handover). Never the last serving officer,
   * and never while they still hold a share, a card or a place in an open proposal or enrolment.
   */
  async retire(custodianId: string, proofs: OfficerProof[]): Promise<CustodianSummary> {
    const target = this.row(custodianId);
    const ids = [...new Set(proofs.map((p) => p.custodianId))];
    this.refuseRetirement(custodianId, ids, this.retirementProblem(target, ids));
    for (const id of ids) {
      const proof = proofs.find((p) => p.custodianId === id)!;
      (await this.verifyFactors(id, proof.passphrase, proof.code, `retire ${target.name}`)).fill(0);
    }
    // Queued behind any check of the person in flight. Checked again after the awaits (another retirement, a share
    // dealt meanwhile), with nothing awaited between that check and the change.
    return this.checks.run(custodianId, async () => {
      this.refuseRetirement(custodianId, ids, this.retirementProblem(this.row(custodianId), ids));
      const officerId = ids.find((id) => id !== custodianId)!;
      this.options.audit.record(
        {
          actor: { type: 'custodian', id: officerId, role: 'security-officer' },
          action: 'custodian.retire',
          object: custodianObject(custodianId),
          params: { name: target.name, approvedBy: ids },
        },
        () =>
          this.changeState(custodianId, () =>
            this.options.store.execute(sql`
              UPDATE custodians SET retired_at = ${this.clock().toISOString()},
                sealed_totp = ${randomBytes(target.sealed_totp.length)}
              WHERE id = ${custodianId}`),
          ),
      );
      // The WAL's earlier frames, and the database file until a checkpoint, still hold the sealed secret.
      if (!this.options.store.inTransaction) this.options.store.checkpointAndTruncateWal();
      return this.get(custodianId);
    });
  }

  /** Why this retirement cannot go ahead with these approvers, or null. */
  private retirementProblem(target: Row, ids: string[]): CustosError | null {
    if (target.retired_at !== null) return retiredError(target.name, target.retired_at);
    const approvers = ids.map((id) => this.get(id));
    const retired = approvers.find((c) => c.retiredAt !== null);
    if (retired) return retiredError(retired.name, retired.retiredAt!);
    const notOfficer = approvers.find((c) => c.id !== target.id && !c.roles.includes('security-officer'));
    if (notOfficer)
      return new CustosError(
        'NOT_AUTHORIZED',
        `${notOfficer.name} is not a security officer, so cannot retire anyone.`,
        ['Ask a security officer to type their passphrase and code.'],
      );
    const others = ids.filter((id) => id !== target.id);
    const self = ids.includes(target.id);
    if (!(JSON.parse(target.roles) as Role[]).includes('security-officer')) {
      if (self || others.length === 0)
        return new CustosError(
          'NOT_AUTHORIZED',
          `Retiring ${target.name} needs one security officer’s passphrase and code${self ? ', not their own' : ''}.`,
          ['Ask one security officer (not the person leaving) to type their passphrase and code.'],
        );
    } else {
      // Locked-out officers count, as for enrolments: locking the others out must not let one officer act alone.
      const serving = this.list().filter((c) => isServingOfficer(c) && c.id !== target.id).length;
      if (serving === 0)
        return new CustosError(
          'CUSTODIAN_LAST_OFFICER',
          `${target.name} is the last security officer: retiring them would leave nobody to approve anything.`,
          ['Enrol another security officer first, then retire this one.'],
        );
      const handover = serving === 1 && others.length === 1 && self;
      if (!handover && others.length < 2)
        return new CustosError(
          'NOT_AUTHORIZED',
          serving === 1
            ? `Retiring ${target.name} needs the other security officer’s passphrase and code, and their own.`
            : `Retiring ${target.name} needs two other security officers’ passphrases and codes.`,
          [
            serving === 1
              ? `With only one other security officer, ${target.name} hands over: both type their passphrase and code.`
              : 'Ask two security officers (not the one leaving) to type their passphrase and code.',
          ],
        );
    }
    const held = [
      ...(this.options.holdings?.({ id: target.id, name: target.name }) ?? []),
      ...this.enrolmentsApprovedBy(target.id),
    ];
    if (held.length > 0)
      return new CustosError('CUSTODIAN_STILL_HOLDS', `${target.name} still holds ${held.join('; ')}.`, [
        'First change the custody’s holders (turnover), retire the backup set, close the proposal, or finish or ' +
          'abort the ceremony run.',
      ]);
    return null;
  }

  /** Enrolments this officer approved that are not yet confirmed. */
  private enrolmentsApprovedBy(id: string): string[] {
    return [...this.pending.values()]
      .filter((p) => p.expiresAt > this.clock() && p.approvedBy.includes(id))
      .map((p) => `an approval of the open enrolment of ${p.name}`);
  }

  /** Records a refused retirement (a signed entry like every outcome) and throws it. */
  private refuseRetirement(custodianId: string, ids: string[], problem: CustosError | null): void {
    if (problem === null) return;
    this.options.audit.record({
      actor: this.options.actor,
      action: 'custodian.retire',
      object: custodianObject(custodianId),
      params: { approvedBy: ids },
      result: { status: 'refused', code: problem.code },
    });
    throw problem;
  }

  get(id: string): CustodianSummary {
    return summary(this.row(id));
  }

  private row(id: string): Row {
    const row = this.options.store.get<Row>(sql`SELECT * FROM custodians WHERE id = ${id}`);
    if (!row && this.enrolledIds().has(id)) this.refuseDeleted(id);
    if (!row)
      throw new CustosError('CUSTODIAN_NOT_FOUND', 'There is no such custodian.', ['Refresh the list of custodians.']);
    return this.authentic(row);
  }

  /**
   * Signs rows from before custodian state was signed, once: only while the log shows neither an
   * installation setup nor an earlier sealing, so a row a database writer adds or strips of its
   * signature later is never signed, only refused. Returns how many were signed.
   */
  sealUnsignedOnce(): number {
    const { store, audit } = this.options;
    const unsigned = store.all<Row>(sql`SELECT * FROM custodians WHERE state_sig IS NULL ORDER BY enrolled_at`);
    if (unsigned.length === 0) {
      // Custodians on record (an upgrade, or a crash right after the setup): the token learns it now.
      if (store.get(sql`SELECT 1 AS yes FROM custodians LIMIT 1`)) audit.markInstallationSetUp();
      return 0;
    }
    audit.log();
    if (audit.installationSetUp()) return 0;
    if (
      store.get(
        sql`SELECT 1 AS yes FROM audit_entries WHERE action IN ('installation.setup', 'custodian.state.seal') LIMIT 1`,
      )
    )
      return 0;
    store.transaction(() => {
      for (const row of unsigned) {
        audit.record(
          {
            actor: SYSTEM,
            action: 'custodian.state.seal',
            object: custodianObject(row.id),
            params: { name: row.name, roles: JSON.parse(row.roles) as unknown },
          },
          () => this.signState(row.id),
        );
      }
    });
    audit.markInstallationSetUp();
    return unsigned.length;
  }

  /** Runs a change of a custodian's row inside its audit entry's transaction, and signs the new state. */
  private changeState(id: string, change: () => void): void {
    change();
    this.signState(id);
  }

  /** Must run inside the transaction of the entry that records the change: that entry is the next seq. */
  private signState(id: string): void {
    const row = this.options.store.get<Row>(sql`SELECT * FROM custodians WHERE id = ${id}`)!;
    const { seq, signature } = signState(this.options.audit, (at) => custodianDocument(row, at), {
      table: 'custodians',
      id,
    });
    this.options.store.execute(
      sql`UPDATE custodians SET state_seq = ${seq}, state_sig = ${signature} WHERE id = ${id}`,
    );
  }

  /** Whether the row is as the audit key signed it and the latest state the log recorded for this custodian. */
  private stateVerdict(row: Row): ReturnType<typeof stateVerdict> {
    const latest = this.options.store.get<{ seq: number | null }>(sql`
      SELECT max(seq) AS seq FROM audit_entries
      WHERE object = ${`custodian:${row.id}`} AND result IN ('ok', 'failed')
        AND action IN ('installation.setup', 'custodian.enrol', 'custodian.factor.verify', 'custodian.unlock',
                       'custodian.state.seal', 'custodian.factor.rehearsed', 'custodian.retire')`)?.seq;
    return stateVerdict(this.options.audit, row, (seq) => custodianDocument(row, seq), latest, {
      table: 'custodians',
      id: row.id,
    });
  }

  /**
   * The row as the audit key signed it, and the latest state the log recorded for this custodian
   * (an older signed row put back would allow a replayed code or undo a lockout). Else refused and recorded.
   */
  private authentic(row: Row): Row {
    const verdict = this.stateVerdict(row);
    if (verdict === 'authentic') return row;
    return refuseTampered(
      this.options.audit,
      'CUSTODIAN_TAMPERED',
      custodianObject(row.id),
      `The stored record of custodian ${row.id}`,
      verdict,
    );
  }
}

const SYSTEM = { type: 'system', id: 'system' } as const;

/** How long the next try waits after this many failures in a row: 5 s at the third, doubling, at most an hour. */
function waitAfter(failures: number): number {
  return Math.min(5_000 * 2 ** (failures - THROTTLE_AFTER), LAST_OFFICER_MAX_WAIT_MS);
}
/** The entries that add a custodian's row (Custos never deletes one). */
const ENROLLING_ENTRIES = ['installation.setup', 'custodian.enrol', 'custodian.state.seal'];

/**
 * A throttle a rehearsal reports, at most the longest wait from now: it runs on this installation's clock and no
 * failure waits longer, so a later one was written (one until the year 9999 would shut the last officer out for good).
 */
function throttleFrom(until: string | null, now: Date): string | null {
  const at = until === null ? Number.NaN : Date.parse(until);
  return Number.isNaN(at) ? null : new Date(Math.min(at, now.getTime() + LAST_OFFICER_MAX_WAIT_MS)).toISOString();
}

/** The later of two ISO times, either absent. */
function later(a: string | null, b: string | null): string | null {
  if (a === null || b === null) return a ?? b;
  return new Date(b) > new Date(a) ? b : a;
}
const custodianObject = (id: string) => ({ type: 'custodian', id });

/** What the audit key signs: every field that grants or limits authority, and the secret blob's digest. */
function custodianDocument(row: Row, seq: number): Buffer {
  return stateDocument(
    'custos/custodian-state',
    {
      id: row.id,
      name: row.name,
      roles: row.roles,
      kdf: row.kdf,
      sealedTotp: createHash('sha256').update(row.sealed_totp).digest('hex'),
      lastTimeStep: row.last_time_step,
      failures: row.failures,
      throttledUntil: row.throttled_until,
      locked: row.locked,
      enrolledAt: row.enrolled_at,
      // Only when set: rows signed before retirement existed keep their signatures.
      ...(row.retired_at !== null ? { retiredAt: row.retired_at } : {}),
    },
    seq,
  );
}

function summary(row: Row): CustodianSummary {
  return {
    id: row.id,
    name: row.name,
    roles: JSON.parse(row.roles) as Role[],
    enrolledAt: row.enrolled_at,
    locked: row.locked === 1,
    failures: row.failures,
    throttledUntil: row.throttled_until,
    retiredAt: row.retired_at,
  };
}

const isServingOfficer = (c: CustodianSummary) => c.roles.includes('security-officer') && c.retiredAt === null;

/** Every refusal of a retired person, at a factor check or where a request names them to hold or approve anything. */
export function retiredError(name: string, retiredAt: string, custodianId?: string): CustosError {
  return new CustosError(
    'CUSTODIAN_RETIRED',
    `${name} was retired on ${retiredAt.slice(0, 10)}: they can approve nothing.`,
    ['Ask someone who serves now.'],
    custodianId === undefined ? undefined : { custodianId },
  );
}

/** "14:05:09 UTC" today, "2026-12-06 00:30:00 UTC" on another day: a wait past midnight must not read as today's. */
function untilInWords(iso: string, now: Date): string {
  const time = `${iso.slice(11, 19)} UTC`;
  return iso.slice(0, 10) === now.toISOString().slice(0, 10) ? time : `${iso.slice(0, 10)} ${time}`;
}

/** A failed factor check, naming the person: with several people typing in turn, each must know whose it was. */
function factorError(
  code: 'PASSPHRASE_INCORRECT' | 'TOTP_INCORRECT' | 'TOTP_REPLAYED',
  { name, id }: { name: string; id: string },
  locked: boolean,
): CustosError {
  const lockedNote = locked ? [`${name} is now locked out; a security officer must unlock them.`] : [];
  const about = { custodianId: id };
  if (code === 'PASSPHRASE_INCORRECT')
    return new CustosError(
      code,
      `The passphrase for ${name} is not correct.`,
      ['Type it again slowly; check Caps Lock.', ...lockedNote],
      about,
    );
  if (code === 'TOTP_REPLAYED')
    return new CustosError(
      code,
      `${name}’s code was already used. Each code counts once.`,
      ['Wait for the authenticator to show the next code, then type it.', ...lockedNote],
      about,
    );
  return new CustosError(
    code,
    `${name}’s code is not the one their authenticator should show now.`,
    ['Type the code currently shown; check that the phone’s clock is set automatically.', ...lockedNote],
    about,
  );
}
