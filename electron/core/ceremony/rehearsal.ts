import { randomBytes } from 'node:crypto';
import Database from 'better-sqlite3';
import { chmodSync, existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { basename, join } from 'node:path';
import pkcs11js from 'pkcs11js';
import type { TokenRef } from '../../../shared/tokens';
import { CustosError, isCustosError } from '../errors';
import { DATABASE_FILE } from '../store/database';
import { sql } from '../store/sql';
import type { FactorState } from '../custodians/custodian-service';
import type { CustosCore } from '../custos-core';
import { parseScript, peopleNamed, type ParsedScript } from '../ceremony-script';
import { ofTheScript, rehearsalLimits } from './rehearsal-limits';
import { caProfileOf } from '../pki/certificate';
import type { ScriptStep } from '../../../shared/ceremony-script';
import { CrlParams, type StandIn } from '../../../shared/actions';
import { Algorithm, KeyUsage } from '../../../shared/keys';
import type { PracticeSet } from '../../../shared/rehearsals';
import { factorProofs, type FactorProof } from '../custodians/factor-proofs';

/**
 * A rehearsal runs the same script in a scratch installation beside the real one — its own data directory,
 * database, audit token and a scratch SoftHSM2 token — so it touches no real token and no real key by
 * construction. The people the script names are copied into it with their sealed factors (their passphrase and
 * authenticator work there as here); their rows are signed again by the scratch audit key.
 */
export interface RehearsalPlan {
  parsed: ParsedScript;
  people: PersonSeed[];
  /** For a script without a custody step: the holders and threshold of the real token's custody. */
  custody: { holders: string[]; holderIds: string[]; threshold: number } | null;
  /** What stands in, in the scratch token, for each real key the script acts on (stand-ins.ts); none for most. */
  standIns: StandIn[];
  /**
   * Who proposes the stand-ins in the rehearsal: the performer of the first step on a real key, who proposes that step
   * for real (lint: they may propose, and the custody's threshold of holders is among the others).
   */
  standInsBy: { id: string; name: string } | null;
  /** For each real backup set the script restores: the practice set the rehearsal's setup makes in its place. */
  practiceSets: PracticeSet[];
}

/**
 * The custodian row of someone the script names, as stored (their factors stay sealed under their passphrase); plain
 * strings, so it crosses to a rehearsal process as it is.
 */
export interface PersonSeed {
  id: string;
  name: string;
  roles: string;
  kdf: string;
  /** base64 */
  sealedTotp: string;
  enrolledAt: string;
  /** Where their factors stand here: a rehearsal starts from it, and what happens there counts here. */
  factors: FactorState;
}

/** The scratch token's label: the screens name it, so main refuses a rehearsal process that names another. */
export const REHEARSAL_LABEL = 'REHEARSAL';
const PRACTICE_LABEL = 'PRACTICE';

/** What the real installation gives a rehearsal, read before the scratch one opens. */
export function planRehearsal(core: CustosCore, text: string): RehearsalPlan {
  const parsed = parseScript(text);
  if ('problems' in parsed)
    throw new CustosError('CEREMONY_SCRIPT_INVALID', 'This ceremony script cannot be rehearsed.', parsed.problems);
  const lint = core.ceremonies.lint(text);
  // The real token's state (in custody already) is no problem for a rehearsal; anything else is.
  const problems = [
    ...lint.problems.filter((p) => !p.includes('is already in custody')),
    ...rehearsalLimits(parsed.script.steps),
    ...restoreRefusals(core, parsed.script.steps),
  ];
  if (problems.length > 0)
    throw new CustosError('CEREMONY_SCRIPT_INVALID', 'This ceremony script cannot be rehearsed as written.', problems);
  const practiceSets = practiceSetsFor(core, parsed.script.steps);
  const restored = new Set(practiceSets.flatMap((set) => set.keys.map((k) => k.keyId)));
  // A key the script restores is the practice set's stand-in, not a stand-in of its own.
  const standIns = standInsFor(core, parsed.script.steps).filter((k) => !restored.has(k.keyId));
  const hasCustodyStep = parsed.script.steps.some((s) => 'custody' in s);
  const real = hasCustodyStep
    ? null
    : core.custody
        .list()
        .find(
          (c) =>
            c.state === 'active' &&
            c.token.serial === parsed.script.token.serial &&
            c.token.label === parsed.script.token.label,
        );
  if (standIns.length > 0 && !real)
    throw new CustosError(
      'CEREMONY_SCRIPT_INVALID',
      'This script acts on keys of the real installation but its token is not in custody there.',
      ['A rehearsal makes stand-ins for keys of a token in custody; check the script’s token.'],
    );
  const names = peopleNamed(parsed.script);
  const everyone = core.custodians.list();
  // The real custody's holders take the scratch token first, named in the script or not.
  // So do the holders of the real backup sets it restores, who get the practice cards.
  const ids = [
    ...new Set([
      ...everyone.filter((c) => names.includes(c.name)).map((c) => c.id),
      ...(real?.holderIds ?? []),
      ...practiceSets.flatMap((set) => set.holders.map((h) => h.id)),
    ]),
  ];
  const people = core.custodians.rehearsalSeeds(ids).map((row) => ({
    id: row.id,
    name: row.name,
    roles: row.roles,
    kdf: row.kdf,
    sealedTotp: row.sealed_totp.toString('base64'),
    enrolledAt: row.enrolled_at,
    factors: {
      lastTimeStep: row.last_time_step,
      failures: row.failures,
      throttledUntil: row.throttled_until,
      locked: row.locked === 1,
    },
  }));
  const byId = new Map(everyone.map((c) => [c.id, c.name]));
  return {
    parsed,
    people,
    standIns,
    standInsBy: standIns.length > 0 ? standInProposer(everyone, parsed.script.steps, restored) : null,
    practiceSets,
    custody: real
      ? {
          holders: real.holderIds.map((id) => byId.get(id) ?? id),
          holderIds: real.holderIds,
          threshold: real.threshold,
        }
      : null,
  };
}

/** The real keys each step names: every key parameter that is not `@step` (nor, when given, a restored key). */
function realKeysOf(
  steps: readonly ScriptStep[],
  restored: ReadonlySet<string> = new Set(),
): { step: ScriptStep; keys: string[] }[] {
  const ofThisScript = ofTheScript(steps);
  return steps.map((step) => ({
    step,
    keys:
      'action' in step
        ? Object.entries(step.params).flatMap(([name, value]) =>
            /keyId|KeyId|keyIds/.test(name)
              ? (Array.isArray(value) ? value : [value]).filter(
                  (ref): ref is string => typeof ref === 'string' && !ofThisScript(ref) && !restored.has(ref),
                )
              : [],
          )
        : [],
  }));
}

/**
 * What the real installation would refuse of a restore (a retired set, keys recorded as destroyed without the
 * override): its practice set would let it pass, and lint cannot ask before the drill token is in custody.
 */
function restoreRefusals(core: CustosCore, steps: readonly ScriptStep[]): string[] {
  const check = core.backups.restoreCeremony().check!;
  return steps.flatMap((step) => {
    if (!('action' in step) || step.action !== 'key.restore') return [];
    try {
      check(step.params, '');
      return [];
    } catch (error) {
      if (!isCustosError(error)) throw error;
      return [`${step.id}: ${error.message} (${error.code})`];
    }
  });
}

/**
 * The real backup sets the script restores, each as the practice set made in its place: its id, threshold and
 * holders, and its keys with their ids, labels, algorithms, usages and states (as the inventory has them now, as a
 * restore would restore them).
 */
function practiceSetsFor(core: CustosCore, steps: readonly ScriptStep[]): PracticeSet[] {
  const ids = new Set(
    steps.flatMap((s) =>
      'action' in s && s.action === 'key.restore' && typeof s.params.setId === 'string' ? [s.params.setId] : [],
    ),
  );
  return [...ids].map((setId) => {
    const manifest = core.backups.manifest(setId);
    const known = new Set(core.keys.list().map((k) => k.id));
    return {
      setId,
      threshold: manifest.threshold,
      holders: manifest.shares.map(({ holder }) => ({ id: holder.id, name: holder.name })),
      keys: manifest.keys.map((k) => ({
        keyId: k.id,
        label: k.label,
        algorithm: Algorithm.parse(k.algorithm),
        usage: KeyUsage.parse(k.usage),
        cryptoperiodDays: Math.min(3650, Math.max(1, k.cryptoperiodDays)),
        expiresAt: known.has(k.id) ? core.keys.get(k.id).expiresAt : k.expiresAt,
        state: known.has(k.id) ? core.keys.get(k.id).state : k.state,
      })),
    };
  });
}

/**
 * The performer of the first step on a real key proposes the stand-ins, as they propose that step for real: the
 * administrator may be an auditor (who proposes nothing) or a holder the threshold cannot do without.
 */
function standInProposer(
  everyone: readonly { id: string; name: string }[],
  steps: readonly ScriptStep[],
  restored: ReadonlySet<string>,
): { id: string; name: string } | null {
  const first = realKeysOf(steps, restored).find(({ keys }) => keys.length > 0)?.step;
  return (first && everyone.find((c) => c.name === first.by)) || null;
}

/**
 * The real keys a script acts on (a parameter naming a key that is not `@step`), each as the stand-in the rehearsal
 * makes for it, with the real key's id, label, algorithm, usage, state, usage period's end and waiting destruction.
 */
function standInsFor(core: CustosCore, steps: readonly ScriptStep[]): StandIn[] {
  const existing = new Set(realKeysOf(steps).flatMap(({ keys }) => keys));
  return [...existing].map((id) => {
    const key = core.keys.get(id);
    // A compromised key is still scheduled for destruction and destroyed; a destroyed one is gone.
    if (key.state === 'destroyed')
      throw new CustosError('CEREMONY_SCRIPT_INVALID', `“${key.label}” is destroyed: no step can act on it.`, [
        'Take the steps naming it out of the script.',
      ]);
    const ca = core.certificates.caCertificateOf(id);
    const caCertificate = ca ? caProfileOf(ca.der) : null;
    if (ca && !caCertificate)
      throw new CustosError(
        'CEREMONY_SCRIPT_INVALID',
        `The CA certificate of “${key.label}” says what a stand-in’s certificate cannot repeat.`,
        ['Rehearse the ceremony on a CA made by Custos.'],
      );
    // What the script's revocation lists revoke of this CA's certificates, for the stand-in to issue again.
    const reissue = caCertificate
      ? revokedBy(steps, id).map((serial) => ({
          serial,
          subject: core.certificates.get(serial).subject,
          der: core.certificates.export(serial, 'der'),
        }))
      : [];
    const days = Math.round((Date.parse(key.expiresAt) - Date.parse(key.createdAt)) / 86_400_000);
    return {
      keyId: key.id,
      label: key.label,
      algorithm: key.algorithm as StandIn['algorithm'],
      usage: key.usage as StandIn['usage'],
      backupable: key.backupable,
      cryptoperiodDays: Math.min(3650, Math.max(1, days)),
      expiresAt: key.expiresAt,
      state: key.state,
      family: key.family,
      version: key.version,
      destroyableFrom: key.destructionNotBefore,
      ...(caCertificate ? { caCertificate } : {}),
      ...(reissue.length > 0 ? { reissue } : {}),
    };
  });
}

/** The serials the script's revocation lists signed by this CA key revoke. */
function revokedBy(steps: readonly ScriptStep[], issuerKeyId: string): string[] {
  const serials = steps.flatMap((s) => {
    if (!('action' in s) || s.action !== 'crl.issue' || s.params.issuerKeyId !== issuerKeyId) return [];
    const parsed = CrlParams.omit({ crlNumber: true }).safeParse(s.params);
    return parsed.success ? parsed.data.revoke.map((r) => r.serial) : [];
  });
  return [...new Set(serials)];
}

/** A new scratch data directory under the real one's `rehearsals/`, owner-only. */
export function rehearsalDir(dataDir: string, now = new Date()): string {
  const dir = join(dataDir, 'rehearsals', `${now.toISOString().slice(0, 10)}-${randomBytes(4).toString('hex')}`);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(join(dataDir, 'rehearsals'), 0o700);
  return dir;
}

/**
 * Copies the people into a scratch installation that has no one yet (opened once, so its audit token exists, then
 * closed): their rows go in unsigned, and the scratch core signs them when it opens, as for an installation set up
 * before rows were signed. Their counters come along: someone locked out here is locked out there, and a code used
 * here is not accepted there.
 */
export function seedPeople(store: CustosCore['store'], people: readonly PersonSeed[]): void {
  for (const p of people)
    store.execute(sql`
      INSERT INTO custodians (id, name, roles, kdf, sealed_totp, enrolled_at,
                              last_time_step, failures, throttled_until, locked)
      VALUES (${p.id}, ${p.name}, ${p.roles}, ${p.kdf}, ${Buffer.from(p.sealedTotp, 'base64')}, ${p.enrolledAt},
              ${p.factors.lastTimeStep}, ${p.factors.failures}, ${p.factors.throttledUntil},
              ${p.factors.locked ? 1 : 0})`);
}

/**
 * Initialises the scratch installation's blank SoftHSM2 token for the rehearsal, with an SO PIN the custody step
 * replaces at once (nobody types it: the rehearsal hands it over), and marks the installation as the rehearsal's.
 */
export function scratchToken(core: CustosCore): { token: TokenRef; soPin: string } {
  const module = core.tokens.ready();
  const slot = module.run('Looking for a blank slot for the rehearsal token', (lib) =>
    lib.C_GetSlotList(true).find((s) => (lib.C_GetTokenInfo(s).flags & pkcs11js.CKF_TOKEN_INITIALIZED) === 0),
  );
  if (!slot) throw new CustosError('TOKEN_NOT_FOUND', 'The rehearsal installation has no blank software token.');
  const soPin = randomBytes(6).toString('hex');
  module.run('Initialising the rehearsal token', (lib) =>
    lib.C_InitToken(slot, soPin, REHEARSAL_LABEL.padEnd(32, ' ')),
  );
  const info = module.run('Reading the rehearsal token', (lib) => lib.C_GetTokenInfo(slot));
  const token = { serial: info.serialNumber.trim(), label: info.label.trim() };
  core.ceremonies.markScratch(token);
  return { token, soPin };
}

/**
 * The rehearsal's practice token, standing in for the token a restored set was made from: initialised with PINs
 * nobody knows but this process, which makes the practice sets in it (BackupService.makePracticeSet) and forgets
 * them. No custody is taken of it: nothing but the setup ever opens it.
 */
export async function makePracticeSets(core: CustosCore, sets: readonly PracticeSet[]): Promise<void> {
  if (sets.length === 0) return;
  const module = core.tokens.ready();
  const slot = module.run('Looking for a blank slot for the practice token', (lib) =>
    lib.C_GetSlotList(true).find((s) => (lib.C_GetTokenInfo(s).flags & pkcs11js.CKF_TOKEN_INITIALIZED) === 0),
  );
  if (slot === undefined)
    throw new CustosError('TOKEN_NOT_FOUND', 'The rehearsal installation has no blank token left.');
  const pins = { so: randomBytes(8).toString('hex'), user: randomBytes(8).toString('hex') };
  module.run('Initialising the practice token', (lib) =>
    lib.C_InitToken(slot, pins.so, PRACTICE_LABEL.padEnd(32, ' ')),
  );
  const info = module.run('Reading the practice token', (lib) => lib.C_GetTokenInfo(slot));
  const token = { serial: info.serialNumber.trim(), label: info.label.trim() };
  module.withSession(token, { write: true, login: { user: 'so', pin: pins.so } }, (session, lib) =>
    lib.C_InitPIN(session, pins.user),
  );
  for (const set of sets) await core.backups.makePracticeSet(set, token, pins);
}

/** For a script whose token is already in custody: the real custody's holders first take the scratch token. */
export async function takeScratchCustody(
  core: CustosCore,
  scratch: { token: TokenRef; soPin: string },
  threshold: number,
  holders: { custodianId: string; passphrase: string; code: string }[],
): Promise<void> {
  await core.custody.take({ token: scratch.token, threshold, holders, currentSoPin: scratch.soPin });
}

/**
 * Once the holders have taken the scratch token: the stand-ins for the real keys the script acts on, proposed in the
 * scratch installation by the performer of the script's first step on a real key — with both factors, as any proposal
 * — for the other holders to approve as any quorum action.
 */
export async function proposeStandIns(core: CustosCore, keys: StandIn[], proposer: FactorProof) {
  const scratch = core.ceremonies.scratch()!;
  const custody = core.custody
    .list()
    .find(
      (c) => c.state === 'active' && c.token.serial === scratch.token.serial && c.token.label === scratch.token.label,
    );
  if (!custody)
    throw new CustosError(
      'CEREMONY_STEP_REFUSED',
      'The rehearsal token is not in custody yet: the holders take it first.',
    );
  core.quorum.mayAct(proposer.custodianId, 'propose');
  await factorProofs(core.custodians).proveFactors(proposer, 'propose');
  return core.quorum.propose({
    custodyId: custody.id,
    action: 'rehearsal.stand-ins',
    params: { keys },
    requestedBy: proposer.custodianId,
  });
}

/** The rehearsal's signed report, written with its PDF (REHEARSAL on every page) into the rehearsal's folder. */
export async function exportRehearsalReport(
  core: CustosCore,
  reportId: string,
  dir: string,
): Promise<{ dir: string; sha256: string }> {
  const written = await core.reports.exportTo(reportId, dir);
  return { dir: written.dir, sha256: core.reports.stored(reportId).sha256 };
}

const FACTOR_ROWS = sql`SELECT id, last_time_step AS step, failures, throttled_until AS until, locked FROM custodians`;
type FactorRow = { id: string; step: number | null; failures: number; until: string | null; locked: number };

/** Where each person's factors stand in the scratch installation, to count in the real one (rehearsedFactors). */
export function factorStates(scratch: CustosCore): Record<string, FactorState> {
  return statesOf(scratch.store.all<FactorRow>(FACTOR_ROWS));
}

/**
 * Who took part in a rehearsal: a code of theirs was accepted there. Being named in the script, or holding a share
 * of the real custody, is not taking part (an approver beyond the threshold, a holder who did not take the scratch
 * token); the analyzer reads this record as who has rehearsed.
 */
export function tookPart(people: readonly PersonSeed[], there: Record<string, FactorState>): string[] {
  return people
    .filter((p) => {
      const step = there[p.id]?.lastTimeStep ?? null;
      return step !== null && step > (p.factors.lastTimeStep ?? -1);
    })
    .map((p) => p.id);
}

/**
 * Once what its people's factors went through counts in the real installation, a rehearsal's folder keeps only its
 * report: the scratch database (with copies of people's sealed factors and the scratch custody's sealed shares), its
 * tokens and its audit token's PIN are removed. Fewer copies of sealed secrets lie about, a counted rehearsal is never
 * counted again (it has no database), and starting rehearsals over and over leaves reports, not installations.
 */
export function retireRehearsal(dir: string): void {
  for (const name of readdirSync(dir)) if (name !== 'report') rmSync(join(dir, name), { recursive: true, force: true });
}

/**
 * At every start of the real installation: a rehearsal that was cut off before it was recorded (the CLI stopped with
 * Ctrl-C, the machine lost power) still counts — its people's failed attempts towards the lockout, its codes as spent.
 * One that cannot be read is tried again at the next start, and keeps none of the others from counting (else one
 * damaged folder would make every later cut-off rehearsal a way round the lockout); the first such error is thrown
 * once the others are counted.
 */
export function countInterruptedRehearsals(
  core: CustosCore,
  dataDir: string,
  nativeBinding?: string,
): { counted: number; ignored: number } {
  const root = join(dataDir, 'rehearsals');
  const total = { counted: 0, ignored: 0 };
  if (!existsSync(root)) return total;
  let unreadable: unknown = null;
  for (const name of readdirSync(root)) {
    const dir = join(root, name);
    if (!existsSync(join(dir, DATABASE_FILE))) continue;
    try {
      total.ignored += countRehearsal(core, dir, nativeBinding).ignored;
      total.counted++;
    } catch (error) {
      unreadable ??= error;
    }
  }
  if (unreadable !== null) throw unreadable;
  return total;
}

/**
 * Only the people copied into a rehearsal: its process, or its database, may say anything of anyone, and a count it
 * gave a real officer it never saw (a lockout) would be signed here. `ignored`: how many others it named.
 */
export function copiedInOnly(
  states: Record<string, FactorState>,
  copiedIn: readonly string[],
): { states: Record<string, FactorState>; ignored: number } {
  const theirs = Object.entries(states).filter(([id]) => copiedIn.includes(id));
  return { states: Object.fromEntries(theirs), ignored: Object.keys(states).length - theirs.length };
}

/**
 * Reads where people's factors stand in a closed rehearsal's database, counts that here for those copied into it (as
 * recorded here when it opened; never as a lockout, since anyone who can write the data directory can write it), and
 * retires its folder. `ignored`: how many others its database named.
 */
export function countRehearsal(core: CustosCore, dir: string, nativeBinding?: string): { ignored: number } {
  const db = new Database(join(dir, DATABASE_FILE), {
    readonly: true,
    fileMustExist: true,
    ...(nativeBinding ? { nativeBinding } : {}),
  });
  let rows: FactorRow[];
  try {
    // Cut off before its people were copied in (its database just made): nothing to count.
    const seeded = db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'custodians'`).get();
    rows = seeded ? (db.prepare(FACTOR_ROWS.text).all(...FACTOR_ROWS.params) as FactorRow[]) : [];
  } finally {
    db.close();
  }
  const { states, ignored } = copiedInOnly(statesOf(rows), core.ceremonies.copiedIn(basename(dir)));
  core.custodians.rehearsedFactors(states, 'database');
  retireRehearsal(dir);
  return { ignored };
}

/**
 * A cut-off rehearsal's database may have been written by anyone who can write the data directory: ill-formed rows
 * count for nothing (else one would stop its folder from ever being counted).
 */
function statesOf(rows: FactorRow[]): Record<string, FactorState> {
  const wellFormed = rows.filter(
    (r) =>
      typeof r.id === 'string' &&
      (r.step === null || Number.isSafeInteger(r.step)) &&
      Number.isSafeInteger(r.failures) &&
      r.failures >= 0 &&
      (r.until === null || (typeof r.until === 'string' && !Number.isNaN(Date.parse(r.until)))) &&
      (r.locked === 0 || r.locked === 1),
  );
  return Object.fromEntries(
    wellFormed.map((r) => [
      r.id,
      { lastTimeStep: r.step, failures: r.failures, throttledUntil: r.until, locked: r.locked === 1 },
    ]),
  );
}

/** Records, in the real installation, how a rehearsal in a scratch one went, and what people's factors went through. */
export function recordRehearsal(
  core: CustosCore,
  rehearsal: Parameters<CustosCore['ceremonies']['recordRehearsal']>[0],
  factors: Record<string, FactorState>,
) {
  core.custodians.rehearsedFactors(factors);
  core.ceremonies.recordRehearsal(rehearsal);
}
