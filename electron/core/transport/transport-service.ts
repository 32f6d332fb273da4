import { constants, publicEncrypt } from 'node:crypto';
import pkcs11js from 'pkcs11js';
import { ExportWrappedParams, GenerateParams, ImportWrappedParams } from '../../../shared/actions';
import type { TokenRef } from '../../../shared/tokens';
import type { TransportPackage, TransportPackageSummary } from '../../../shared/transport';
import type { AuditService } from '../audit/audit-service';
import {
  chooseWrapMechanism,
  continueAsUser,
  createPublicObject,
  findKek,
  importTrustedKek,
  importUnwrapKek,
  kwpOptions,
  leftoverKekReconciler,
  objectsWithId,
  openingRefusal,
  proveKey,
  unwrapKey,
  wrapKey,
  type KeyShape,
  type WrapMechanism,
} from '../backup/key-wrap';
import { canonicalJson, sha256Hex } from '../canonical-json';
import { CustosError, isCustosError } from '../errors';
import type { MechanismOption, Need } from '../hsm/capabilities';
import { destroyed, privateKeyObject } from '../hsm/find-objects';
import type { TokenModule } from '../hsm/token-module';
import { checkLeastPrivilege, keyAgreement, withLockdown } from '../keys/key-attributes';
import { CURVES, registration } from '../keys/key-generation';
import type { KeyInventory } from '../keys/key-inventory';
import {
  LeftUnsettled,
  NEEDS_LOGIN,
  type CeremonyOperation,
  type ProposalCheck,
  type QuorumOperation,
  type QuorumReconciler,
} from '../quorum/quorum-service';
import { signedEntries } from '../audit/signed-entries';
import { refusalName } from '../hsm/pkcs11-errors';
import type { Store } from '../store/database';
import { refuseTampered, signState, stateDocument } from '../store/signed-state';
import { sql } from '../store/sql';
import { ecdhKek, parsePackage, transportInfo } from './package';
import type { TransportRecipients } from './recipients';
import {
  agreementKey,
  ephemeralAgreement,
  OAEP_SHA256,
  probeOaepSha256,
  sharedSecret,
  unwrapOaepKek,
} from './transport-wrap';
import { refuseLookalikeLabel } from '../keys/key-labels';

interface PackageRow {
  sha256: string;
  id: string;
  direction: 'out' | 'in';
  body: string;
  signature: Buffer | null;
  recorded_at: string;
  proposal_id: string | null;
}

const RETIRED_STATES = ['compromised', 'destroyed'];
const ECDH: MechanismOption = { type: pkcs11js.CKM_ECDH1_DERIVE, fn: 'derive' };

/**
 * Key transport (issue #14 §2, docs/key-transport.md): `key.export-wrapped` wraps a backup-able key
 * for a trusted recipient's public key; `key.import-wrapped` unwraps a received package into the
 * token. Both are quorum actions recorded with their participants and fingerprints; the packages
 * are kept (they hold keys only wrapped) so they can be written out and reported.
 */
export class TransportService {
  constructor(
    private readonly options: {
      store: Store;
      audit: AuditService;
      keys: KeyInventory;
      recipients: TransportRecipients;
      module: () => TokenModule;
      clock: () => Date;
      /** This installation is a rehearsal's scratch one: nothing is wrapped for a recipient, or received, here. */
      rehearsal?: () => boolean;
    },
  ) {}

  /**
   * A rehearsal neither sends nor receives keys. What it received would be a real sender's package: one wrapped for a
   * real key opens only in the real token (the scratch one holds stand-ins, with key pairs of their own), and one
   * wrapped for a key of the rehearsal's would put a real key into a scratch token, outside the real inventory and
   * log, removed with the rehearsal's folder rather than destroyed. No template rehearses a transport.
   */
  private refuseInRehearsal(message: string, instead: string): void {
    if (this.options.rehearsal?.())
      throw new CustosError('REHEARSAL_ACTIVE', message, [
        `${instead} in the real installation, once the rehearsal has ended.`,
      ]);
  }

  // ── export ──────────────────────────────────────────────────────────────────────────────────────

  /**
   * Refuses, when proposed and when run: any export in a rehearsal; a key elsewhere, unexportable or retired; an
   * untrusted recipient.
   */
  private readyToExport(params: unknown, token: TokenRef) {
    const p = ExportWrappedParams.parse(params);
    // A package made here would be signed by the scratch audit key, hold a stand-in or practice key, and say nothing
    // of it: an importer would take it for real. No template rehearses a transport (rehearsal-limits.ts).
    this.refuseInRehearsal('No key is exported for a recipient from a rehearsal.', 'Export the real key');
    const key = this.options.keys.checkToken(p.keyId, token);
    if (!key.backupable)
      throw new CustosError(
        'KEY_TYPE_UNSUITED',
        `“${key.label}” was generated never to leave the token (not extractable); it cannot be exported.`,
        ['Only keys generated backup-able can be wrapped for a recipient.'],
      );
    if (RETIRED_STATES.includes(key.state))
      throw new CustosError('KEY_STATE_FORBIDS', `“${key.label}” is ${key.state}; it is not sent to anyone.`);
    if (this.options.keys.waitingSchedule(p.keyId))
      throw new CustosError('DESTRUCTION_WAITING', 'This key is waiting to be destroyed and cannot be exported.', [
        'Cancel the destruction (a quorum) first.',
      ]);
    return { p, key, recipient: this.options.recipients.trusted(p.recipient) };
  }

  readonly exportCheck: ProposalCheck = (params, custody) => void this.readyToExport(params, custody.token);

  exportNeeds(params: unknown): Need[] {
    const p = ExportWrappedParams.parse(params);
    const recipient = this.options.recipients.trusted(p.recipient);
    const needs: Need[] = [
      {
        kind: 'mechanism',
        purpose: 'Wrapping the key for its recipient (AES key wrap with padding, RFC 5649)',
        anyOf: kwpOptions('wrap'),
      },
    ];
    if (recipient.algorithm !== 'RSA') {
      const size = CURVES[recipient.algorithm]!.size * 8;
      needs.push(
        {
          kind: 'mechanism',
          purpose: `An ephemeral ${recipient.algorithm} key pair for ECDH`,
          anyOf: [{ type: pkcs11js.CKM_EC_KEY_PAIR_GEN, fn: 'generate-key-pair', size }],
        },
        { kind: 'mechanism', purpose: 'ECDH with the recipient key', anyOf: [ECDH] },
      );
    }
    return needs;
  }

  /**
   * The quorum action `key.export-wrapped`. A backup-able key may be wrapped only by a trusted key
   * (CKA_WRAP_WITH_TRUSTED), which only the SO can make: the wrapping key is put in the token as a
   * trusted, wrap-only object in an SO session, used in the user session, and destroyed there.
   */
  exportCeremony(): CeremonyOperation {
    return {
      pins: ['user', 'so'],
      run: async ({ pins, params, proposalId, token }) => {
        const { p, key, recipient } = this.readyToExport(params, token);
        const module = this.options.module();
        const mechanism = chooseWrapMechanism(module.mechanisms(token));
        const user = { write: true, login: { user: 'user' as const, pin: pins.user!.toString('latin1') } };
        const so = { write: true, login: { user: 'so' as const, pin: pins.so!.toString('latin1') } };
        const declared = {
          ckaId: key.id,
          label: key.label,
          algorithm: GenerateParams.shape.algorithm.parse(key.algorithm),
          usage: GenerateParams.shape.usage.parse(key.usage),
          publicKey: this.options.keys.publicKey(key.id)?.toString('base64') ?? null,
          fingerprint: key.fingerprint,
          kcv: key.kcv,
        };
        const header = {
          id: p.packageId,
          key: declared,
          recipient: { fingerprint: recipient.fingerprint, algorithm: recipient.algorithm },
        };
        const info = transportInfo(header);
        let kek: Buffer | null = null;
        try {
          let carried: Pick<TransportPackage, 'encryptedKek' | 'ephemeralPublicKey'>;
          if (recipient.algorithm === 'RSA') {
            kek = module.withSession(token, so, (session, lib) => lib.C_GenerateRandom(session, Buffer.alloc(32)));
            const encrypted = publicEncrypt(
              { key: recipient.key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256', oaepLabel: info },
              kek,
            );
            carried = { encryptedKek: encrypted.toString('base64') };
          } else {
            const curve = recipient.algorithm;
            const agreed = module.withSession(token, user, (session, lib) =>
              ephemeralAgreement(lib, session, curve, recipient.spki),
            );
            try {
              kek = ecdhKek(agreed.z, info);
            } finally {
              agreed.z.fill(0);
            }
            carried = { ephemeralPublicKey: agreed.ephemeralSpki.toString('base64') };
          }
          const value = kek;
          // A session object of the SO's session (never in a file): the user logs in on that session to wrap.
          const wrapped = module.withSession(token, so, (session, lib) => {
            const label = `Custos transport KEK ${p.packageId.slice(0, 8)} (transient)`;
            importTrustedKek(lib, session, p.packageId, value, label);
            const handle = findKek(lib, session, p.packageId);
            try {
              continueAsUser(lib, session, pins.user!.toString('latin1'));
              return wrapKey(lib, session, mechanism, handle, this.shape(key.id));
            } finally {
              lib.C_DestroyObject(session, handle);
            }
          });
          const pkg: TransportPackage = {
            kind: 'custos-key-transport',
            v: 1,
            ...header,
            createdAt: this.options.clock().toISOString(),
            madeBy: this.madeBy(),
            scheme: recipient.algorithm === 'RSA' ? 'rsa-oaep-sha256+aes-kwp' : 'ecdh-hkdf-sha256+aes-kwp',
            ...carried,
            info: info.toString('hex'),
            wrappedKey: wrapped.toString('base64'),
          };
          const body = canonicalJson(pkg);
          const signature = this.options.audit.signDocument(Buffer.from(body, 'utf8'));
          const sha256 = sha256Hex(Buffer.from(body, 'utf8'));
          return {
            result: {
              keyId: key.id,
              packageId: p.packageId,
              sha256,
              recipient: { fingerprint: recipient.fingerprint, label: recipient.label, algorithm: recipient.algorithm },
              scheme: pkg.scheme,
            },
            commit: () => this.storePackage(sha256, pkg.id, 'out', body, signature, proposalId),
          };
        } finally {
          kek?.fill(0);
        }
      },
    };
  }

  /**
   * After a crash mid-export: the trusted wrapping key it may have left in the token is removed (a
   * public token object, so no login is needed; its value was never readable). No package was kept:
   * the export failed and is proposed again.
   */
  reconcileExport(): QuorumReconciler {
    return leftoverKekReconciler(this.options.audit, 'transport.kek-removed');
  }

  private madeBy(): TransportPackage['madeBy'] {
    const key = this.options.audit.noteKey();
    if (!key) throw new CustosError('AUDIT_UNAVAILABLE', 'No audit key has been created yet.');
    return { installation: this.options.audit.origin, auditKey: key.publicKey.toString('base64') };
  }

  private shape(id: string): KeyShape {
    const key = this.options.keys.get(id);
    return {
      id: key.id,
      algorithm: key.algorithm,
      usage: key.usage,
      backupable: key.backupable,
      label: key.label,
      publicKey: this.options.keys.publicKey(id),
      kcv: key.kcv,
    };
  }

  // ── packages ────────────────────────────────────────────────────────────────────────────────────

  private storePackage(
    sha256: string,
    id: string,
    direction: 'out' | 'in',
    body: string,
    signature: Buffer | null,
    proposalId: string | null,
  ): void {
    this.options.store.execute(sql`
      INSERT INTO transport_packages (sha256, id, direction, body, signature, recorded_at, proposal_id)
      VALUES (${sha256}, ${id}, ${direction}, ${body}, ${signature}, ${this.options.clock().toISOString()}, ${proposalId})`);
  }

  list(): TransportPackageSummary[] {
    return this.options.store
      .all<PackageRow>(sql`SELECT * FROM transport_packages ORDER BY recorded_at`)
      .map((row) => this.summary(this.checked(row)));
  }

  /** The package file and its detached signature (null for a received package), as written out. */
  packageFile(sha256: string): { body: string; signature: Buffer | null; summary: TransportPackageSummary } {
    const row = this.packageRow(sha256);
    return { body: row.body, signature: row.signature, summary: this.summary(row) };
  }

  private packageRow(sha256: string): PackageRow {
    const row = this.options.store.get<PackageRow>(sql`SELECT * FROM transport_packages WHERE sha256 = ${sha256}`);
    if (!row)
      throw new CustosError('TRANSPORT_PACKAGE_NOT_FOUND', 'There is no such key transport package.', [
        'Run `custos transport packages`.',
      ]);
    return this.checked(row);
  }

  /** A package is named by its hash, which proposals bind and the log records: a body without it is refused. */
  private checked(row: PackageRow): PackageRow {
    if (sha256Hex(Buffer.from(row.body, 'utf8')) !== row.sha256)
      refuseTampered(
        this.options.audit,
        'TRANSPORT_PACKAGE_INVALID',
        { type: 'transport-package', id: row.sha256 },
        `The stored key transport package ${row.sha256.slice(0, 16)}…`,
        'forged',
      );
    return row;
  }

  private summary(row: PackageRow): TransportPackageSummary {
    const pkg = JSON.parse(row.body) as TransportPackage;
    const imported = this.options.store.get<{ key_id: string }>(
      sql`SELECT key_id FROM key_origins WHERE package_sha256 = ${row.sha256}`,
    );
    return {
      sha256: row.sha256,
      id: pkg.id,
      direction: row.direction,
      key: pkg.key,
      recipient: pkg.recipient,
      scheme: pkg.scheme,
      madeBy: pkg.madeBy,
      recordedAt: row.recorded_at,
      proposalId: row.proposal_id,
      importedAs: imported?.key_id ?? null,
    };
  }

  /**
   * A package received for one of this installation's keys: checked (format, declarations bound to
   * its info, addressed to a wrapping key in the inventory that the token can unwrap with) and kept,
   * so an import proposal can bind its hash. Nothing in the token changes.
   */
  receive(text: string): TransportPackageSummary {
    this.refuseInRehearsal('No key transport package is received in a rehearsal.', 'Receive the package');
    const { pkg, sha256 } = parsePackage(text);
    const existing = this.options.store.get<PackageRow>(sql`SELECT * FROM transport_packages WHERE sha256 = ${sha256}`);
    if (existing) return this.summary(existing);
    const key = this.recipientKeyOf(pkg);
    if (pkg.scheme === 'rsa-oaep-sha256+aes-kwp')
      this.requireOaepSha256(key.token, this.options.keys.publicKey(key.id)!);
    this.options.audit.record(
      {
        actor: { type: 'system', id: 'system' },
        action: 'transport.package.received',
        object: { type: 'transport-package', id: sha256 },
        params: { key: pkg.key.fingerprint ?? pkg.key.ckaId, for: key.id, from: pkg.madeBy?.installation ?? null },
      },
      () => this.storePackage(sha256, pkg.id, 'in', text, null, null),
    );
    return this.summary(this.packageRow(sha256));
  }

  /** The Custos key a package is wrapped for, found by its public key's fingerprint: an active wrapping key. */
  private recipientKeyOf(pkg: TransportPackage) {
    const key = this.options.keys.list().find((k) => k.fingerprint === pkg.recipient.fingerprint);
    if (!key)
      throw new CustosError(
        'TRANSPORT_PACKAGE_INVALID',
        `This package is wrapped for the key ${pkg.recipient.fingerprint.slice(0, 16)}…, which is not one of this installation’s keys. Nothing was changed.`,
        ['Send the sender the public key of a wrapping key here (custos key export --id K).'],
      );
    if (key.usage !== 'wrap' || key.state !== 'active')
      throw new CustosError(
        'KEY_STATE_FORBIDS',
        `The package is for “${key.label}”, which is ${key.state === 'active' ? `a ${key.usage} key, not a wrapping key` : key.state}; it unwraps nothing.`,
      );
    return key;
  }

  /** Where the token has no RSA-OAEP with SHA-256, a package for an RSA key is refused, not opened in software. */
  private requireOaepSha256(token: TokenRef, spki: Buffer): void {
    const supported = this.options
      .module()
      .withSession(token, { write: false }, (session, lib) => probeOaepSha256(lib, session, spki));
    if (!supported)
      throw new CustosError(
        'TRANSPORT_MECHANISM_MISSING',
        `This token cannot unwrap an RSA-OAEP (SHA-256) package: it does not do ${OAEP_SHA256}. Nothing was changed.`,
        [
          'Custos does not unwrap with the private key outside the token.',
          'Ask the sender to wrap for an EC wrapping key of this installation (ECDH), or use a token that does OAEP with SHA-256.',
        ],
      );
  }

  // ── import ──────────────────────────────────────────────────────────────────────────────────────

  /** Bound when proposed, from the custody token's RNG: the package id; an import's declarations. */
  readonly bindings = {
    'key.export-wrapped': (params: Record<string, unknown>, random: (bytes: number) => Buffer) => ({
      ...params,
      packageId: random(16).toString('hex'),
    }),
    'key.import-wrapped': (params: Record<string, unknown>, random: (bytes: number) => Buffer) =>
      this.bindImport(params, random),
  };

  /** What an import proposal binds from the stored package: the new CKA_ID and what the package declares. */
  bindImport(params: Record<string, unknown>, random: (bytes: number) => Buffer): Record<string, unknown> {
    this.refuseInRehearsal('No key is imported from a transport package in a rehearsal.', 'Import the package');
    // A malformed hash is left to the parameter schema, which names it.
    if (typeof params.package !== 'string' || !/^[0-9a-f]{64}$/.test(params.package)) return params;
    const row = this.packageRow(params.package);
    if (row.direction !== 'in')
      throw new CustosError(
        'TRANSPORT_PACKAGE_INVALID',
        'This package was made here for a recipient; it is not imported.',
      );
    const pkg = JSON.parse(row.body) as TransportPackage;
    return {
      ...params,
      ckaId: random(16).toString('hex'),
      label: pkg.key.label,
      algorithm: pkg.key.algorithm,
      usage: pkg.key.usage,
      unwrapWith: this.recipientKeyOf(pkg).id,
      from: pkg.madeBy ? `installation ${pkg.madeBy.installation}` : 'outside Custos',
    };
  }

  /**
   * Which package a key came from is what stops a package being imported twice: a record the heads signed with the
   * latest checkpoint name, gone from the table, was deleted outside Custos (its package would read as never imported).
   */
  private refuseDeletedOrigin(): void {
    const held = new Set(
      this.options.store.all<{ key_id: string }>(sql`SELECT key_id FROM key_origins`).map((r) => r.key_id),
    );
    const gone = this.options.audit.recordsNamed('key_origins').find((id) => !held.has(id));
    if (gone !== undefined)
      refuseTampered(
        this.options.audit,
        'TRANSPORT_PACKAGE_INVALID',
        { type: 'key-origin', id: gone },
        `The record of the package key ${gone} was imported from`,
        'deleted',
      );
  }

  private readyToImport(params: unknown, token: TokenRef) {
    const p = ImportWrappedParams.parse(params);
    this.refuseInRehearsal('No key is imported from a transport package in a rehearsal.', 'Import the package');
    const row = this.packageRow(p.package);
    if (row.direction !== 'in')
      throw new CustosError(
        'TRANSPORT_PACKAGE_INVALID',
        'This package was made here for a recipient; it is not imported.',
      );
    const { pkg } = parsePackage(row.body);
    this.refuseDeletedOrigin();
    if (this.options.store.get(sql`SELECT key_id FROM key_origins WHERE package_sha256 = ${p.package}`))
      throw new CustosError('TRANSPORT_PACKAGE_INVALID', 'This package was imported already. Nothing was changed.');
    const key = this.recipientKeyOf(pkg);
    if (
      key.id !== p.unwrapWith ||
      pkg.key.label !== p.label ||
      pkg.key.usage !== p.usage ||
      pkg.key.algorithm !== p.algorithm
    )
      throw new CustosError('PROPOSAL_INVALID', 'The proposal does not state what the package declares.');
    this.options.keys.checkToken(key.id, token);
    refuseLookalikeLabel(
      p.label,
      token,
      this.options.keys,
      'Ask the sender for a package that labels the key in one script, as no key on this token is labelled.',
    );
    return { p, pkg, key };
  }

  readonly importCheck: ProposalCheck = (params, custody) => {
    const { pkg, key } = this.readyToImport(params, custody.token);
    if (pkg.scheme === 'rsa-oaep-sha256+aes-kwp')
      this.requireOaepSha256(key.token, this.options.keys.publicKey(key.id)!);
  };

  importNeeds(params: unknown): Need[] {
    const p = ImportWrappedParams.parse(params);
    const { pkg } = parsePackage(this.packageRow(p.package).body);
    return [
      {
        kind: 'mechanism',
        purpose: 'Unwrapping the key into the token (AES key wrap with padding, RFC 5649)',
        anyOf: kwpOptions('unwrap'),
      },
      ...(pkg.scheme === 'ecdh-hkdf-sha256+aes-kwp'
        ? [
            {
              kind: 'mechanism' as const,
              purpose: 'ECDH with the sender’s ephemeral key',
              anyOf: [ECDH],
            },
          ]
        : []),
    ];
  }

  /**
   * The quorum action `key.import-wrapped`: the wrapping key opened in the token (ECDH there, or
   * RSA-OAEP where the token does it), the key unwrapped as a verification copy and proven, then for
   * good: sensitive, not extractable, with the declared usage's least-privilege attributes read back.
   */
  importOperation(): QuorumOperation {
    return ({ session, lib, params, proposalId, token }) => {
      const { p, pkg, key } = this.readyToImport(params, token);
      const mechanism = chooseWrapMechanism(this.options.module().mechanisms(token));
      const shape: KeyShape = {
        id: p.ckaId,
        algorithm: p.algorithm,
        usage: p.usage,
        backupable: false,
        label: p.label,
        publicKey: pkg.key.publicKey === null ? null : Buffer.from(pkg.key.publicKey, 'base64'),
        kcv: pkg.key.kcv,
      };
      const kek = this.openKek(lib, session, pkg, key.id, key.label);
      const left = { proposalId, token, package: p.package };
      let measured: string | null;
      try {
        const blob = Buffer.from(pkg.wrappedKey, 'base64');
        measured = this.unwrapForGood(lib, session, mechanism, kek, shape, blob, left);
      } finally {
        lib.C_DestroyObject(session, kek);
      }
      const generated = GenerateParams.parse({
        algorithm: p.algorithm,
        label: p.label,
        usage: p.usage,
        backupable: false,
        cryptoperiodDays: p.cryptoperiodDays,
        ckaId: p.ckaId,
      });
      const registered = registration(
        this.options.store,
        this.options.keys,
        proposalId,
        generated,
        shape.publicKey,
        measured,
        this.options.clock(),
      );
      return {
        result: {
          ...registered.result,
          usage: p.usage,
          package: p.package,
          unwrappedWith: key.id,
          from: p.from,
        },
        commit: () => {
          registered.commit();
          this.recordOrigin(p, pkg, key.id, proposalId);
        },
      };
    };
  }

  /** The package's wrapping key as an unwrap-only session object in the token. */
  private openKek(lib: pkcs11js.PKCS11, session: Buffer, pkg: TransportPackage, keyId: string, label: string): Buffer {
    const info = Buffer.from(pkg.info, 'hex');
    if (pkg.scheme === 'rsa-oaep-sha256+aes-kwp') {
      const privateKey = privateKeyObject(lib, session, pkcs11js.CKO_PRIVATE_KEY, keyId);
      if (!privateKey) throw new CustosError('KEY_OBJECTS_MISSING', `The token no longer holds “${label}”.`);
      const encrypted = Buffer.from(pkg.encryptedKek!, 'base64');
      return this.opened(() => unwrapOaepKek(lib, session, privateKey, encrypted, info));
    }
    const privateKey = agreementKey(lib, session, keyId, label);
    const size = CURVES[pkg.recipient.algorithm]!.size;
    const z = sharedSecret(lib, session, privateKey, Buffer.from(pkg.ephemeralPublicKey!, 'base64'), size);
    let kek: Buffer;
    try {
      kek = ecdhKek(z, info);
    } finally {
      z.fill(0);
    }
    try {
      return importUnwrapKek(lib, session, kek);
    } finally {
      kek.fill(0);
    }
  }

  /** A token step whose refusal to open the wrapped data means the package was changed. */
  private opened<T>(step: () => T): T {
    try {
      return step();
    } catch (error) {
      const refusal = openingRefusal(error);
      if (refusal)
        throw new CustosError(
          'TRANSPORT_PACKAGE_INVALID',
          `The wrapped key does not open under the package’s wrapping key (${refusal}): the package was changed after it was made, or was not made for this key. Nothing was imported.`,
          ['Ask the sender for the package exactly as it was made.'],
          { cause: error },
        );
      throw error;
    }
  }

  /** The verification copy proven and destroyed, then the key for good with its attributes read back; its KCV. */
  private unwrapForGood(
    lib: pkcs11js.PKCS11,
    session: Buffer,
    mechanism: WrapMechanism,
    kek: Buffer,
    shape: KeyShape,
    blob: Buffer,
    left: { proposalId: string; token: TokenRef; package: string },
  ): string | null {
    const copy = asDeclared(() => this.opened(() => unwrapKey(lib, session, mechanism, kek, shape, blob, false)));
    let measured: string | null;
    try {
      measured = asDeclared(() => proveKey(lib, session, copy, shape));
    } finally {
      lib.C_DestroyObject(session, copy);
    }
    const { value: handles, lockdown } = withLockdown((l) => {
      const secret = unwrapKey(lib, session, mechanism, kek, shape, blob, true, l);
      try {
        return { secret, pub: createPublicObject(lib, session, shape, l) };
      } catch (error) {
        return this.takeBack(lib, session, [secret], shape, left, error);
      }
    });
    const usage = GenerateParams.shape.usage.parse(shape.usage);
    const halves = [
      {
        handle: handles.secret,
        usage,
        half: shape.publicKey ? ('private' as const) : ('secret' as const),
        agreement: keyAgreement(shape.algorithm, usage),
      },
      ...(handles.pub ? [{ handle: handles.pub, usage, half: 'public' as const }] : []),
    ];
    try {
      checkLeastPrivilege(lib, session, shape.label, halves, lockdown, false, false);
    } catch (error) {
      this.takeBack(
        lib,
        session,
        halves.map((h) => h.handle),
        shape,
        left,
        error,
      );
    }
    return measured;
  }

  /**
   * After a failed import, destroys what it made. What the token will not let go (pulled out half-way) is recorded
   * (TRANSPORT_IMPORT_UNSETTLED) and left, as after a crash, to reconcileImport at the next quorum login on that token.
   */
  private takeBack(
    lib: pkcs11js.PKCS11,
    session: Buffer,
    handles: Buffer[],
    shape: KeyShape,
    left: { proposalId: string; token: TokenRef; package: string },
    error: unknown,
  ): never {
    const kept = handles.filter((handle) => {
      try {
        lib.C_DestroyObject(session, handle);
        return false;
      } catch {
        return true;
      }
    }).length;
    if (kept === 0) throw error;
    const cause = isCustosError(error) ? error.code : (refusalName(error) ?? 'INTERNAL');
    this.options.audit.record({
      actor: { type: 'system', id: 'system' },
      action: TRANSPORT_IMPORT_UNSETTLED,
      object: { type: 'proposal', id: left.proposalId },
      params: { package: left.package, keyId: shape.id, token: left.token, objects: kept, cause },
    });
    throw new LeftUnsettled(
      `Token ${left.token.label} failed while importing “${shape.label}” (${cause}), and what it had already ` +
        'unwrapped could not be removed: the token may still hold it, unregistered and unused. Custos removes it at ' +
        'the next quorum login on that token and closes this import as failed. Nothing was imported.',
      ['Check the token is attached and answering, then run any approved operation on it (a quorum drill will do).'],
      error,
    );
  }

  /**
   * After a crash mid-import, or an import its token failed half-way through (TRANSPORT_IMPORT_UNSETTLED), at a quorum
   * login on that token: what it unwrapped, found by the CKA_ID its proposal bound, was never registered and is
   * removed (`transport.import.removed`); the import fails and is proposed again (its package is kept).
   */
  reconcileImport(): QuorumReconciler {
    return ({ session, lib, params, proposalId, token, loggedIn }) => {
      if (!loggedIn) return NEEDS_LOGIN;
      const p = ImportWrappedParams.parse(params);
      const found = this.options.keys.known(p.ckaId) ? [] : objectsWithId(lib, session, p.ckaId);
      // One the token will not destroy (CKA_DESTROYABLE false) is not the import's, whose objects all may be: it was
      // planted, stays, and is counted. Before, it failed the clean-up (TOKEN_ERROR), the unwrapped key still there.
      const removed = found.filter((handle) => destroyed(lib, session, handle)).length;
      const left = found.length - removed;
      const object = { type: 'proposal', id: proposalId };
      if (found.length > 0)
        this.options.audit.record({
          actor: { type: 'system', id: 'system' },
          action: 'transport.import.removed',
          object,
          params: { package: p.package, keyId: p.ckaId, token, objects: removed, ...(left > 0 ? { left } : {}) },
        });
      const { store, audit } = this.options;
      const failed = signedEntries(store, audit, {
        action: TRANSPORT_IMPORT_UNSETTLED,
        object: `proposal:${proposalId}`,
      });
      const what =
        found.length > 0
          ? `what it had unwrapped into token ${token.label} was never registered, so it was removed` +
            (left > 0
              ? ` (${left} object(s) under its id that the token will not destroy, not the import's, stay)`
              : '')
          : `token ${token.label} holds nothing of it`;
      throw new CustosError(
        'OPERATION_INTERRUPTED',
        `${failed.length > 0 ? `Token ${token.label} failed` : 'Custos stopped'} while importing “${p.label}”: ${what}. Nothing was imported.`,
        ['Propose the import again; the package is kept.'],
      );
    };
  }

  private recordOrigin(p: ImportWrappedParams, pkg: TransportPackage, unwrappedWith: string, proposalId: string): void {
    const { store, audit } = this.options;
    const sender = pkg.madeBy?.installation ?? 'outside Custos';
    store.execute(sql`
      INSERT INTO key_origins (key_id, package_sha256, sender, sender_key_id, unwrapped_with, proposal_id)
      VALUES (${p.ckaId}, ${p.package}, ${sender}, ${pkg.key.ckaId}, ${unwrappedWith}, ${proposalId})`);
    store.execute(sql`UPDATE transport_packages SET proposal_id = ${proposalId} WHERE sha256 = ${p.package}`);
    const fields = {
      keyId: p.ckaId,
      package: p.package,
      sender,
      senderKeyId: pkg.key.ckaId,
      unwrappedWith,
      proposalId,
    };
    const { seq, signature } = signState(audit, (at) => stateDocument('key-origin', fields, at), {
      table: 'key_origins',
      id: p.ckaId,
    });
    store.execute(sql`UPDATE key_origins SET state_seq = ${seq}, state_sig = ${signature} WHERE key_id = ${p.ckaId}`);
  }
}

/** Recorded when an import's token failed half-way and would not let go of what the import had unwrapped. */
export const TRANSPORT_IMPORT_UNSETTLED = 'transport.import.unsettled';

/** A package whose key is not the one it declares (length, check value, public key) is the package's fault. */
function asDeclared<T>(step: () => T): T {
  try {
    return step();
  } catch (error) {
    if (!isCustosError(error) || error.code !== 'RESTORE_MISMATCH') throw error;
    throw new CustosError(
      'TRANSPORT_PACKAGE_INVALID',
      `The package’s key is not the key it declares: ${error.message} Nothing was imported.`,
      ['Ask the sender for the package exactly as it was made, and compare its declarations with them.'],
      { cause: error },
    );
  }
}
