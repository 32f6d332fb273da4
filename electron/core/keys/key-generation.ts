import { createHash, createPublicKey, verify } from 'node:crypto';
import pkcs11js from 'pkcs11js';
import { GenerateParams, TestSignatureParams } from '../../../shared/actions';
import type { KeyRecord, KeyState, KeyUsage } from '../../../shared/keys';
import { CustosError } from '../errors';
import { attributeTrue, destroyed, everyObject, findObjects, privateKeyObject } from '../hsm/find-objects';
import {
  firstOffered,
  probeWrapWithTrusted,
  sessionMechanisms,
  type MechanismOption,
  type Need,
} from '../hsm/capabilities';
import { CKM_EC_EDWARDS_KEY_PAIR_GEN, CKM_EDDSA, mechanismName } from '../hsm/mechanisms';
import { tokenStep } from '../hsm/pkcs11-errors';
import type { Store } from '../store/database';
import { sql } from '../store/sql';
import { NEEDS_LOGIN, type QuorumOperation, type QuorumReconciler } from '../quorum/quorum-service';
import { policyVerdict } from './algorithm-policy';
import { refuseLookalikeLabel } from './key-labels';
import { algorithmOfPublicKey } from './public-key-algorithm';
import { checkValue } from './check-value';
import { refusePastUsagePeriod } from './usage-period';
import {
  attributeDifferences,
  checkLeastPrivilege,
  keyAgreement,
  leastPrivilege,
  withLockdown,
} from './key-attributes';
import { NO_FINGERPRINT } from './key-inventory';
import type { KeyAction, KeyInventory } from './key-inventory';
import type { TokenRef } from '../../../shared/tokens';

export const CURVES: Record<string, { params: string; crv: string; size: number }> = {
  'EC-P256': { params: '06082a8648ce3d030107', crv: 'P-256', size: 32 },
  'EC-P384': { params: '06052b81040022', crv: 'P-384', size: 48 },
};

const t = (type: number, value: pkcs11js.Template[number]['value']) => ({ type, value });

/**
 * Generates the approved key inside the token with custody attributes (DESIGN §4): CKA_LOCAL by
 * construction, sensitive, extractable only when backup-able and then only under a trusted
 * wrapping key, one CKA_ID linking its objects, and least-privilege usage attributes that are
 * read back before the key is registered (key-attributes.ts). Nothing secret leaves the token.
 */
export function keyGeneration(store: Store, now: () => Date, inventory: KeyInventory): QuorumOperation {
  return ({ session, lib, params, proposalId, token }) => {
    const p = GenerateParams.parse(params);
    refuseDisallowed(p.algorithm, now());
    refuseLookalikeLabel(p.label, token, inventory, NEW_LABEL_FIX);
    // A key id the log records is never made again, even with its row deleted outside Custos (refused, KEY_TAMPERED):
    // a new key would take over the old one's history.
    if (inventory.known(p.ckaId))
      throw new CustosError(
        'ATTRIBUTE_INVALID',
        'The inventory already has a key with this id; nothing was generated.',
      );
    clearPlanted(lib, session, p, (planted) =>
      inventory.recordPlantedRemoved(proposalId, { keyId: p.ckaId, token, ...planted }),
    );
    const { spki, kcv, trustedOnly } = generateInToken(lib, session, p);
    const registered = registration(store, inventory, proposalId, p, spki, kcv, now());
    return p.backupable
      ? { ...registered, result: { ...registered.result, exportRestrictedToTrustedKeys: trustedOnly } }
      : registered;
  };
}

export const NEW_LABEL_FIX = 'Propose the key with a label in one script that no key on the token has in other case.';

/** A new key's label, checked when proposed (the run checks it again): it must not read as another key's. */
export const generationCheck =
  (inventory: KeyInventory) =>
  (params: unknown, custody: { token: TokenRef }): void =>
    refuseLookalikeLabel(GenerateParams.parse(params).label, custody.token, inventory, NEW_LABEL_FIX);

export function refuseDisallowed(algorithm: GenerateParams['algorithm'], on: Date): void {
  if (policyVerdict(algorithm, on).status === 'disallowed') {
    throw new CustosError(
      'ALGORITHM_DISALLOWED',
      `${algorithm} is disallowed by the algorithm policy today; nothing was generated.`,
      ['Propose a key with an algorithm the policy allows.'],
    );
  }
}

/**
 * Before a key is generated under the CKA_ID its proposal bound (or its script derived, for all to read): anyone can
 * create objects there with no PIN, every one CKA_PRIVATE false (a key pair the token generates, CKA_LOCAL true,
 * included), and when they blocked the generation a stranger could stop an approved ceremony step. An object made with
 * the PIN (CKA_PRIVATE true) may be a key: it refuses, and nothing is removed. The others are not the key and are
 * destroyed, and `record` hears how many went and how many stayed, before one the token will not destroy
 * (CKA_DESTROYABLE false) refuses the generation: the new key would share its id with it.
 */
export function clearPlanted(
  lib: pkcs11js.PKCS11,
  session: Buffer,
  p: GenerateParams,
  record: (planted: { removed: number; left: number }) => void,
): void {
  const id = t(pkcs11js.CKA_ID, Buffer.from(p.ckaId, 'hex'));
  if (findObjects(lib, session, [id, t(pkcs11js.CKA_PRIVATE, true)], 1).length > 0)
    throw new CustosError(
      'ATTRIBUTE_INVALID',
      'The token already holds an object made with the PIN under this key’s CKA_ID; nothing was generated.',
    );
  const planted = everyObject(lib, session, [id, t(pkcs11js.CKA_PRIVATE, false)]);
  if (planted.length === 0) return;
  const removed = planted.filter((handle) => destroyed(lib, session, handle)).length;
  const left = planted.length - removed;
  record({ removed, left });
  if (left > 0)
    throw new CustosError(
      'ATTRIBUTE_INVALID',
      `The token holds ${left} object(s) under this key’s CKA_ID that anyone could have created without a PIN and ` +
        'that it will not destroy (CKA_DESTROYABLE false); nothing was generated.',
      [
        'Propose the generation again: a new proposal draws a new CKA_ID (a script’s step needs a new script).',
        'Tell your security officer: someone else wrote to the token.',
      ],
    );
}

/**
 * The key made in the token, its least-privilege attributes read back (a key the token did not
 * make so is removed again): its public key (SPKI DER) or, for an AES key that may encrypt, its check value.
 */
export function generateInToken(
  lib: pkcs11js.PKCS11,
  session: Buffer,
  p: GenerateParams,
): { spki: Buffer | null; kcv: string | null; trustedOnly: boolean } {
  const id = Buffer.from(p.ckaId, 'hex');
  if (findObjects(lib, session, [t(pkcs11js.CKA_ID, id)], 1).length > 0)
    throw new CustosError(
      'ATTRIBUTE_INVALID',
      'The token already holds objects with this key’s CKA_ID; nothing was generated.',
    );
  const common = [t(pkcs11js.CKA_TOKEN, true), t(pkcs11js.CKA_ID, id), t(pkcs11js.CKA_LABEL, p.label)];
  const trustedOnly = p.backupable && exportRestriction(lib, session, p);
  const secretAttrs = [
    t(pkcs11js.CKA_PRIVATE, true),
    t(pkcs11js.CKA_SENSITIVE, true),
    t(pkcs11js.CKA_EXTRACTABLE, p.backupable),
    ...(trustedOnly ? [t(pkcs11js.CKA_WRAP_WITH_TRUSTED, true)] : []),
  ];
  let spki: Buffer | null = null;
  let kcv: string | null = null;
  if (p.algorithm === 'AES-256') {
    const template = (l: boolean) => [
      ...common,
      ...secretAttrs,
      t(pkcs11js.CKA_VALUE_LEN, 32),
      ...leastPrivilege(p.usage, 'secret', l),
    ];
    const keyGen = { mechanism: pkcs11js.CKM_AES_KEY_GEN };
    const generate = (l: boolean) =>
      tokenStep('C_GenerateKey', keyGen, () => lib.C_GenerateKey(session, keyGen, template(l)));
    const { value: key, lockdown } = withLockdown(generate);
    registeredOnlyIfLeast(lib, session, p.label, [{ handle: key, usage: p.usage, half: 'secret' }], lockdown, {
      backupable: p.backupable,
      trustedOnly,
    });
    registeredOnlyIfShaped(lib, session, p, key, [key]);
    kcv = aesCheckValue(lib, session, key, p.usage);
  } else {
    const rsa = p.algorithm.startsWith('RSA');
    const mechanism = rsa
      ? pkcs11js.CKM_RSA_PKCS_KEY_PAIR_GEN
      : p.algorithm === 'Ed25519'
        ? CKM_EC_EDWARDS_KEY_PAIR_GEN
        : pkcs11js.CKM_EC_KEY_PAIR_GEN;
    const shape = rsa
      ? [
          t(pkcs11js.CKA_MODULUS_BITS, p.algorithm === 'RSA-3072' ? 3072 : 4096),
          t(pkcs11js.CKA_PUBLIC_EXPONENT, Buffer.from([1, 0, 1])),
        ]
      : [
          t(
            pkcs11js.CKA_EC_PARAMS,
            Buffer.from(p.algorithm === 'Ed25519' ? '06032b6570' : CURVES[p.algorithm]!.params, 'hex'),
          ),
        ];
    const { value: pair, lockdown } = tokenStep('C_GenerateKeyPair', { mechanism }, () =>
      withLockdown((l) =>
        lib.C_GenerateKeyPair(
          session,
          { mechanism },
          [...common, t(pkcs11js.CKA_PRIVATE, false), ...shape, ...leastPrivilege(p.usage, 'public', l)],
          [...common, ...secretAttrs, ...leastPrivilege(p.usage, 'private', l, keyAgreement(p.algorithm, p.usage))],
        ),
      ),
    );
    const halves = [
      {
        handle: pair.privateKey,
        usage: p.usage,
        half: 'private' as const,
        agreement: keyAgreement(p.algorithm, p.usage),
      },
      { handle: pair.publicKey, usage: p.usage, half: 'public' as const },
    ];
    registeredOnlyIfLeast(lib, session, p.label, halves, lockdown, { backupable: p.backupable, trustedOnly });
    registeredOnlyIfShaped(lib, session, p, pair.publicKey, [pair.privateKey, pair.publicKey]);
    spki = publicKeySpki(lib, session, pair.publicKey, p.algorithm);
  }
  return { spki, kcv, trustedOnly };
}

/**
 * Whether a backup-able key gets CKA_WRAP_WITH_TRUSTED: always where the token honours it (tried
 * in this session). Where it does not, only if the approvers accepted unrestricted export.
 */
function exportRestriction(lib: pkcs11js.PKCS11, session: Buffer, p: GenerateParams): boolean {
  if (probeWrapWithTrusted(lib, session) === true) return true;
  if (p.acceptUnrestrictedExport) return false;
  throw new CustosError(
    'TOKEN_CAPABILITY_MISSING',
    'The token does not honour CKA_WRAP_WITH_TRUSTED, and the approved proposal did not accept unrestricted export; nothing was generated.',
    [
      'Propose the key again with acceptUnrestrictedExport: true if the approvers accept that, or use a token that honours it.',
    ],
  );
}

const DIGEST_INFO_SHA256 = Buffer.from('3031300d060960864801650304020105000420', 'hex');

/**
 * How each algorithm signs, best first: the fallbacks are the standard ones (PKCS#1 v1.5 over a DigestInfo; ECDSA over
 * a digest).
 */
export function signatureOptions(
  algorithm: string,
): (MechanismOption & { input: 'message' | 'digest' | 'digest-info' })[] {
  if (algorithm.startsWith('RSA')) {
    return [
      { type: pkcs11js.CKM_SHA256_RSA_PKCS, fn: 'sign', input: 'message' },
      { type: pkcs11js.CKM_RSA_PKCS, fn: 'sign', input: 'digest-info' },
    ];
  }
  if (algorithm.startsWith('EC-')) return [{ type: pkcs11js.CKM_ECDSA, fn: 'sign', input: 'digest' }];
  if (algorithm === 'Ed25519') return [{ type: CKM_EDDSA, fn: 'sign', input: 'message' }];
  return [];
}

/** What generating this key needs from the token; checked when it is proposed. */
export function generationNeeds(params: unknown): Need[] {
  const p = GenerateParams.parse(params);
  const needs: Need[] = [];
  const generate = (purpose: string, option: MechanismOption) =>
    needs.push({ kind: 'mechanism', purpose, anyOf: [option] });
  if (p.algorithm === 'AES-256') {
    generate('Generating an AES-256 key', { type: pkcs11js.CKM_AES_KEY_GEN, fn: 'generate', size: 32 });
    if (p.usage === 'encrypt')
      needs.push({
        kind: 'mechanism',
        purpose: 'The AES key check value',
        anyOf: [{ type: pkcs11js.CKM_AES_ECB, fn: 'encrypt', size: 32 }],
      });
  } else if (p.algorithm.startsWith('RSA')) {
    generate(`Generating an ${p.algorithm} key pair`, {
      type: pkcs11js.CKM_RSA_PKCS_KEY_PAIR_GEN,
      fn: 'generate-key-pair',
      size: p.algorithm === 'RSA-3072' ? 3072 : 4096,
    });
  } else if (p.algorithm === 'Ed25519') {
    generate('Generating an Ed25519 key pair', {
      type: CKM_EC_EDWARDS_KEY_PAIR_GEN,
      fn: 'generate-key-pair',
      size: 256,
    });
  } else {
    generate(`Generating an ${p.algorithm} key pair`, {
      type: pkcs11js.CKM_EC_KEY_PAIR_GEN,
      fn: 'generate-key-pair',
      size: CURVES[p.algorithm]!.size * 8,
    });
  }
  if (p.usage === 'sign' && p.algorithm !== 'AES-256') {
    needs.push({
      kind: 'mechanism',
      purpose: `Signing with the ${p.algorithm} key (its test signature)`,
      anyOf: signatureOptions(p.algorithm),
    });
  }
  if (p.backupable && !p.acceptUnrestrictedExport)
    needs.push({ kind: 'wrap-with-trusted', purpose: 'A backup-able key' });
  return needs;
}

/**
 * An AES key's identity: its check value where the token computes one (a key that may encrypt),
 * else null, shown as "none". Its usage attributes, read back, forbid encryption to a wrap or sign
 * key, and no check value stands in for one (no hash of its CKA_ID, no other mechanism's output).
 */
function aesCheckValue(lib: pkcs11js.PKCS11, session: Buffer, key: Buffer, usage: KeyUsage): string | null {
  return usage === 'encrypt' ? checkValue(lib, session, key) : null;
}

/**
 * A key the token did not make least-privilege is taken out again and never registered. With
 * lockdown null (a key found after a crash), whether the token knew CKA_COPYABLE is probed again.
 */
function registeredOnlyIfLeast(
  lib: pkcs11js.PKCS11,
  session: Buffer,
  label: string,
  halves: Parameters<typeof checkLeastPrivilege>[3],
  lockdown: boolean | null,
  { backupable, trustedOnly }: { backupable: boolean; trustedOnly: boolean },
): void {
  const check = (l: boolean) => checkLeastPrivilege(lib, session, label, halves, l, backupable, trustedOnly);
  try {
    if (lockdown === null) withLockdown(check);
    else check(lockdown);
  } catch (error) {
    for (const { handle } of halves) lib.C_DestroyObject(session, handle);
    throw error;
  }
}

/**
 * A key not of the approved size and type is taken out again and never registered: the template asks for them, but a
 * token may ignore an entry, and a key found under the bound CKA_ID after a crash was not made from the template
 * (someone with the PIN could have put an RSA-2048 key there for an approved RSA-3072 one).
 */
function registeredOnlyIfShaped(
  lib: pkcs11js.PKCS11,
  session: Buffer,
  p: GenerateParams,
  shown: Buffer,
  handles: Buffer[],
): void {
  const differences = shapeDifferences(lib, session, p.algorithm, shown);
  if (differences.length === 0) return;
  for (const handle of handles) lib.C_DestroyObject(session, handle);
  throw new CustosError(
    'KEY_ATTRIBUTES_MISMATCH',
    `The token’s key for “${p.label}” is not the ${p.algorithm} key that was approved, so it is not registered.`,
    [...differences, 'The key’s objects were removed again. Tell your security officer.'],
  );
}

/**
 * How the key (its secret key, or a half of its pair) differs from the algorithm: size, exponent, curve. Also read
 * back from a restored key (backup-service.ts), whose size the token, not the manifest, says. `unwrapped`: a token may
 * leave CKA_VALUE_LEN 0 on an unwrapped key (SoftHSM2 2.6 does, and refuses it in the template): 0 says nothing there.
 */
export function shapeDifferences(
  lib: pkcs11js.PKCS11,
  session: Buffer,
  algorithm: string,
  handle: Buffer,
  unwrapped = false,
): string[] {
  if (algorithm === 'AES-256') {
    const [type, length] = lib.C_GetAttributeValue(session, handle, [
      { type: pkcs11js.CKA_KEY_TYPE },
      { type: pkcs11js.CKA_VALUE_LEN },
    ]);
    const bytes = ulong(length?.value);
    return [
      ...(ulong(type?.value) === pkcs11js.CKK_AES
        ? []
        : [`its key type is 0x${ulong(type?.value).toString(16)}, not AES`]),
      ...(bytes === 32 || (unwrapped && bytes === 0)
        ? []
        : [`its value is ${bytes} bytes long, not 32 (CKA_VALUE_LEN)`]),
    ];
  }
  if (algorithm.startsWith('RSA')) {
    const spki = publicKeySpki(lib, session, handle, algorithm);
    const found = algorithmOfPublicKey(spki);
    const exponent = createPublicKey({ key: spki, format: 'der', type: 'spki' }).asymmetricKeyDetails?.publicExponent;
    return [
      ...(found === algorithm ? [] : [`it is ${found}, not ${algorithm}`]),
      ...(exponent === 65537n ? [] : [`its public exponent is ${String(exponent)}, not 65537`]),
    ];
  }
  const [params] = lib.C_GetAttributeValue(session, handle, [{ type: pkcs11js.CKA_EC_PARAMS }]);
  const curve = Buffer.isBuffer(params?.value) ? params.value.toString('hex') : '';
  const approved = algorithm === 'Ed25519' ? '06032b6570' : CURVES[algorithm]!.params;
  return curve === approved ? [] : [`its curve (CKA_EC_PARAMS ${curve}) is not ${algorithm}’s`];
}

/** A CK_ULONG as pkcs11js returns it: the native-endian bytes of the platform's unsigned long. */
function ulong(value: unknown): number {
  if (!Buffer.isBuffer(value)) return Number(value);
  return value.length >= 8 ? Number(value.readBigUInt64LE(0)) : value.readUInt32LE(0);
}

/**
 * Where a rotation's successor stands in its key family, and the state it starts in; a rehearsal's stand-in takes the
 * real key's family, version and state, and has no predecessor in the rehearsal.
 */
export interface Lineage {
  family: string | null;
  version: number | null;
  previous: string | null;
  state: KeyState;
  /** The end of its usage period when it is not the generation's own (a rehearsal's stand-in keeps the real key's). */
  expiresAt?: string;
}

/**
 * The inventory record of a key now in the token, committed with the audit entry that says so: a
 * new key in pre-activation, a rotation's successor as its lineage says.
 */
export function registration(
  store: Store,
  inventory: KeyInventory,
  proposalId: string,
  p: GenerateParams,
  spki: Buffer | null,
  kcv: string | null,
  created: Date,
  lineage?: Lineage,
) {
  // Only a public key has a fingerprint; a secret key is identified by its check value, or by none.
  const fingerprint = spki ? createHash('sha256').update(spki).digest('hex') : NO_FINGERPRINT;
  const expires = lineage?.expiresAt
    ? new Date(lineage.expiresAt)
    : new Date(created.getTime() + p.cryptoperiodDays * 86_400_000);
  return {
    result: { keyId: p.ckaId, label: p.label, algorithm: p.algorithm, fingerprint: spki ? fingerprint : null, kcv },
    commit: () => {
      const proposal = store.get<{ custody_id: string; body: string }>(
        sql`SELECT custody_id, body FROM proposals WHERE id = ${proposalId}`,
      )!;
      const token = (JSON.parse(proposal.body) as { token: { serial: string; label: string } }).token;
      store.execute(sql`
        INSERT INTO keys (id, custody_id, token_serial, token_label, label, algorithm, usage, backupable, state, created_at, cryptoperiod_days, expires_at, public_key, kcv, fingerprint, proposal_id, family, version, previous)
        VALUES (${p.ckaId}, ${proposal.custody_id}, ${token.serial}, ${token.label}, ${p.label}, ${p.algorithm}, ${p.usage}, ${p.backupable ? 1 : 0}, ${lineage?.state ?? 'pre-activation'},
                ${created.toISOString()}, ${p.cryptoperiodDays}, ${expires.toISOString()}, ${spki}, ${kcv}, ${fingerprint}, ${proposalId},
                ${lineage?.family ?? null}, ${lineage?.version ?? null}, ${lineage?.previous ?? null})`);
      inventory.signState(p.ckaId);
    },
  };
}

/**
 * After a crash during generation: the CKA_ID was bound into the proposal, so the token is searched for exactly that
 * key, at a quorum login (a private or secret half shows only then, and a public object anyone can create without a
 * PIN proves nothing). Found, it is registered with its attributes read back; absent, the generation fails as
 * interrupted. Objects anyone could have planted under the id are removed and recorded (key.generate.planted-removed).
 */
export function reconcileGeneration(store: Store, now: () => Date, inventory: KeyInventory): QuorumReconciler {
  return ({ session, lib, params, proposalId, loggedIn, token }) => {
    const p = GenerateParams.parse(params);
    const found = examineGenerated(lib, session, p, loggedIn, (planted) =>
      inventory.recordPlantedRemoved(proposalId, { keyId: p.ckaId, token, ...planted }),
    );
    if (found === null || found === NEEDS_LOGIN) return found;
    const registered = registration(store, inventory, proposalId, p, found.spki, found.kcv, now());
    return { ...registered, result: { ...registered.result, reconciled: true } };
  };
}

/**
 * What a generation a crash interrupted left in the token, found by its bound CKA_ID at a login: its private or secret
 * half, made with the PIN (CKA_PRIVATE true) by the token itself (CKA_LOCAL), and a key pair's public half, generated
 * by the token too, with their least-privilege attributes read back. Null when no object is there. A key pair's public
 * half alone is a generation cut off between its halves (SoftHSM2 writes them one after the other): nothing usable,
 * the stray half removed, OPERATION_INTERRUPTED. Every other object under the id that anyone could have created
 * without a PIN (CKA_PRIVATE false) is not the key: removed, whether the key is there or not, and told to `record`.
 * A key there twice, or not made by the token, is refused and never registered.
 */
export function examineGenerated(
  lib: pkcs11js.PKCS11,
  session: Buffer,
  p: GenerateParams,
  loggedIn: boolean,
  record: (planted: { removed: number; left: number }) => void,
): { spki: Buffer | null; kcv: string | null } | null | typeof NEEDS_LOGIN {
  if (!loggedIn) return NEEDS_LOGIN;
  // As generateInToken decided it: a backup-able key is made trusted-only wherever the token honours the attribute.
  const custody = {
    backupable: p.backupable,
    trustedOnly: p.backupable && probeWrapWithTrusted(lib, session) === true,
  };
  const id = t(pkcs11js.CKA_ID, Buffer.from(p.ckaId, 'hex'));
  const withPin = (objectClass: number) =>
    everyObject(lib, session, [t(pkcs11js.CKA_CLASS, objectClass), id, t(pkcs11js.CKA_PRIVATE, true)]);
  /** Destroys what no PIN was needed for under the id, but the key's own public half; the counts are recorded. */
  const removeStrays = (keep: Buffer | null) => {
    const strays = everyObject(lib, session, [id, t(pkcs11js.CKA_PRIVATE, false)]).filter(
      (handle) => !keep?.equals(handle),
    );
    const removed = strays.filter((handle) => destroyed(lib, session, handle)).length;
    if (strays.length > 0) record({ removed, left: strays.length - removed });
    return { removed, left: strays.length - removed };
  };
  const isLocal = (handle: Buffer) =>
    attributeTrue(lib.C_GetAttributeValue(session, handle, [{ type: pkcs11js.CKA_LOCAL }])[0]?.value);
  if (p.algorithm === 'AES-256') {
    const keys = withPin(pkcs11js.CKO_SECRET_KEY);
    if (keys.length === 0) {
      const strays = removeStrays(null);
      throw new CustosError('OPERATION_INTERRUPTED', `${noSuchKey(p.label)}${straysRemoved(strays)}`, [
        'Propose the generation again.',
      ]);
    }
    const key = madeByToken(lib, session, p.label, keys);
    registeredOnlyIfLeast(lib, session, p.label, [{ handle: key, usage: p.usage, half: 'secret' }], null, custody);
    registeredOnlyIfShaped(lib, session, p, key, [key]);
    removeStrays(null);
    return { spki: null, kcv: aesCheckValue(lib, session, key, p.usage) };
  }
  const privates = withPin(pkcs11js.CKO_PRIVATE_KEY);
  // A public object someone created (C_CreateObject) is CKA_LOCAL false: the token generated only the key's own half.
  const publics = everyObject(lib, session, [t(pkcs11js.CKA_CLASS, pkcs11js.CKO_PUBLIC_KEY), id]).filter(isLocal);
  if (privates.length === 0) {
    const strays = removeStrays(null);
    if (strays.removed + strays.left === 0) return null;
    throw new CustosError(
      'OPERATION_INTERRUPTED',
      publics.length > 0
        ? `Custos stopped while generating “${p.label}” between its two halves: the token, examined at a quorum ` +
            'login, holds a public half it generated and no private half, so nothing usable was generated.' +
            straysRemoved(strays, 'The stray half was removed')
        : `${noSuchKey(p.label)}${straysRemoved(strays)}`,
      ['Propose the generation again.'],
    );
  }
  const publicKey = madeByToken(lib, session, p.label, publics);
  const privateKey = madeByToken(lib, session, p.label, privates);
  const halves = [
    { handle: privateKey, usage: p.usage, half: 'private' as const, agreement: keyAgreement(p.algorithm, p.usage) },
    { handle: publicKey, usage: p.usage, half: 'public' as const },
  ];
  registeredOnlyIfLeast(lib, session, p.label, halves, null, custody);
  registeredOnlyIfShaped(lib, session, p, publicKey, [privateKey, publicKey]);
  removeStrays(publicKey);
  return { spki: publicKeySpki(lib, session, publicKey, p.algorithm), kcv: null };
}

const noSuchKey = (label: string) =>
  `Custos stopped while generating “${label}”, and the token, examined at a quorum login, holds no such key: ` +
  'nothing was generated.';

/** What an examination removed under a key's id, in words; empty when it found nothing to remove. */
function straysRemoved({ removed, left }: { removed: number; left: number }, what?: string): string {
  if (removed + left === 0) return '';
  const said =
    what ?? `The ${removed + left} public object(s) under its id, which anyone could make without a PIN, were removed`;
  return ` ${said}${left > 0 ? `, but for ${left} the token will not destroy (CKA_DESTROYABLE false)` : ''}.`;
}

/**
 * The one object of a half, generated in the token (CKA_LOCAL true). Anything else — no such half, two, or an object
 * someone created with the PIN — is refused and left in place: Custos cannot tell what made it.
 */
function madeByToken(lib: pkcs11js.PKCS11, session: Buffer, label: string, found: Buffer[]): Buffer {
  const [handle] = found;
  const problem =
    found.length !== 1
      ? `${found.length === 0 ? 'no' : 'more than one'} object of one of its halves`
      : attributeDifferences(lib, session, handle!, [t(pkcs11js.CKA_LOCAL, true)]).length > 0
        ? 'an object the token did not generate (CKA_LOCAL false)'
        : null;
  if (problem === null) return handle!;
  throw new CustosError(
    'KEY_ATTRIBUTES_MISMATCH',
    `Custos stopped while generating “${label}”, and the token holds ${problem} under its id: it is not registered.`,
    ['Tell your security officer: someone else may have written to the token. Propose the generation again.'],
  );
}

/** The public key as SubjectPublicKeyInfo DER, built through node:crypto from the token's attributes. */
export function publicKeySpki(lib: pkcs11js.PKCS11, session: Buffer, handle: Buffer, algorithm: string): Buffer {
  const b64u = (b: Buffer) => b.toString('base64url');
  if (algorithm.startsWith('RSA')) {
    const [n, e] = lib.C_GetAttributeValue(session, handle, [
      { type: pkcs11js.CKA_MODULUS },
      { type: pkcs11js.CKA_PUBLIC_EXPONENT },
    ]);
    return createPublicKey({
      key: { kty: 'RSA', n: b64u(n!.value as Buffer), e: b64u(e!.value as Buffer) },
      format: 'jwk',
    }).export({ format: 'der', type: 'spki' });
  }
  const point = lib.C_GetAttributeValue(session, handle, [{ type: pkcs11js.CKA_EC_POINT }])[0]!.value as Buffer;
  // CKA_EC_POINT is a DER OCTET STRING around the point (short or long length form).
  const raw =
    point[0] === 0x04 && (point[1]! & 0x80) === 0
      ? point.subarray(2)
      : point[0] === 0x04 && point[1] === 0x81
        ? point.subarray(3)
        : point;
  if (algorithm === 'Ed25519')
    return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: b64u(raw) }, format: 'jwk' }).export({
      format: 'der',
      type: 'spki',
    });
  const curve = CURVES[algorithm]!;
  const xy = raw.subarray(1);
  return createPublicKey({
    key: { kty: 'EC', crv: curve.crv, x: b64u(xy.subarray(0, curve.size)), y: b64u(xy.subarray(curve.size)) },
    format: 'jwk',
  }).export({ format: 'der', type: 'spki' });
}

/**
 * The public key objects under a key's id that hold its recorded public key. Anyone can create public key objects there
 * with no PIN, and the token may list them first: the first one found says nothing about the key.
 */
export function publicKeyObjectsHolding(
  lib: pkcs11js.PKCS11,
  session: Buffer,
  key: { id: string; algorithm: string },
  spki: Buffer,
): Buffer[] {
  return everyObject(lib, session, [
    t(pkcs11js.CKA_CLASS, pkcs11js.CKO_PUBLIC_KEY),
    t(pkcs11js.CKA_ID, Buffer.from(key.id, 'hex')),
  ]).filter((handle) => {
    try {
      return publicKeySpki(lib, session, handle, key.algorithm).equals(spki);
    } catch {
      // A planted object of another key type or with malformed values holds no public key of this algorithm.
      return false;
    }
  });
}

/**
 * A key that may sign now: in the token at hand, able to make a signature, active, within its usage period, and not
 * waiting to be destroyed. A suspended, deactivated, compromised or condemned key signs nothing. A revocation list is
 * the one signature allowed past the usage period: a CA keeps saying which of its certificates are revoked.
 */
export function requireSigningKey(
  inventory: KeyInventory,
  keyId: string,
  token: TokenRef,
  signs: 'protection' | 'revocation-list' = 'protection',
): KeyRecord {
  const key = inventory.checkToken(keyId, token);
  // What the key is comes first: an AES key never signs, whatever its state.
  if (signatureOptions(key.algorithm).length === 0) {
    const identity = key.kcv ? `; its check value ${key.kcv} identifies it` : '';
    throw new CustosError(
      'KEY_TYPE_UNSUITED',
      `“${key.label}” is an ${key.algorithm} key, which makes no signature${identity}.`,
      ['Make signatures with an RSA, EC or Ed25519 key.'],
    );
  }
  if (key.state !== 'active') {
    throw new CustosError('KEY_STATE_FORBIDS', `“${key.label}” is ${key.state}; only an active key signs.`, [
      'Activate it first (a quorum), if SP 800-57 allows that from its state.',
    ]);
  }
  // SP 800-131A: a disallowed algorithm applies no protection, however long ago the key was activated.
  if (key.policy.status === 'disallowed') {
    throw new CustosError(
      'ALGORITHM_DISALLOWED',
      `${key.algorithm} is disallowed today; “${key.label}” signs nothing.`,
      [...key.policy.notes, 'Rotate it to an algorithm the policy allows (key.rotate).'],
    );
  }
  // After the policy: a key both disallowed and past its period is rotated to another algorithm, not the same.
  if (signs === 'protection') refusePastUsagePeriod(key, 'signs nothing new');
  if (inventory.waitingSchedule(keyId)) {
    throw new CustosError('DESTRUCTION_WAITING', 'This key is waiting to be destroyed and cannot be used.', [
      'Cancel the destruction (a quorum) to use it again.',
    ]);
  }
  return key;
}

/**
 * Signs a stated challenge with a key, so anyone can check with openssl and the exported public
 * key that the key in the token is the one in the inventory. Custos checks it first: a signature
 * that does not verify under the recorded public key is refused (KEY_MATERIAL_MISMATCH). ECDSA
 * signatures come back in DER, as openssl expects them.
 */
export function testSignature(store: Store, inventory: KeyInventory): KeyAction {
  const ready = (params: unknown, token: TokenRef) => {
    const p = TestSignatureParams.parse(params);
    const key = requireSigningKey(inventory, p.keyId, token);
    return { p, key };
  };
  return {
    ready,
    needs: (params) => {
      const key = inventory.get(TestSignatureParams.parse(params).keyId);
      return [
        {
          kind: 'mechanism',
          purpose: `Signing with the ${key.algorithm} key “${key.label}”`,
          anyOf: signatureOptions(key.algorithm),
        },
      ];
    },
    run: ({ session, lib, params, token }) => {
      const { p, key } = ready(params, token);
      // Only a private object (it takes the PIN) can be the key: anyone could plant a public one under its id.
      const handle = privateKeyObject(lib, session, pkcs11js.CKO_PRIVATE_KEY, p.keyId);
      if (!handle) throw new CustosError('KEY_OBJECTS_MISSING', 'The token no longer holds this key.');
      // The best mechanism the token offers; the fallbacks hash here (SoftHSM2 2.6 offers plain CKM_ECDSA only,
      // opencryptoki 3.8 no CKM_SHA256_RSA_PKCS) and give the same signature openssl checks.
      const option = firstOffered(sessionMechanisms(lib, session), signatureOptions(key.algorithm));
      if (!option)
        throw new CustosError(
          'TOKEN_CAPABILITY_MISSING',
          `The token offers no mechanism that signs with ${key.algorithm}.`,
        );
      const message = Buffer.from(p.challenge, 'utf8');
      const digest = createHash('sha256').update(message).digest();
      const input =
        option.input === 'message'
          ? message
          : option.input === 'digest'
            ? digest
            : Buffer.concat([DIGEST_INFO_SHA256, digest]);
      const mechanism = option.type;
      tokenStep('C_SignInit', { mechanism }, () => lib.C_SignInit(session, { mechanism }, handle));
      const raw = tokenStep('C_Sign', { mechanism }, () => lib.C_Sign(session, input, Buffer.alloc(1024)));
      const signature = key.algorithm.startsWith('EC-') ? ecdsaDer(raw) : raw;
      // The token's own public half would vouch for a key swapped in under the same CKA_ID: the recorded one decides.
      const recorded = inventory.publicKey(p.keyId);
      const hash = key.algorithm === 'Ed25519' ? null : 'sha256';
      if (!recorded || !verify(hash, message, { key: recorded, format: 'der', type: 'spki' }, signature))
        throw new CustosError(
          'KEY_MATERIAL_MISMATCH',
          `The token’s key under the id of “${key.label}” is not the key the inventory recorded: its signature does not verify under the recorded public key. Nothing is shown as signed.`,
          ['Tell your security officer: someone with the PIN may have replaced the key in the token.'],
        );
      return {
        keyId: p.keyId,
        challenge: p.challenge,
        signature: signature.toString('base64'),
        mechanism: mechanismName(option.type),
      };
    },
  };
}

/** r ‖ s from PKCS#11 into the DER SEQUENCE of two INTEGERs that X.509 tools read. */
export function ecdsaDer(raw: Buffer): Buffer {
  const integer = (half: Buffer) => {
    let v = half;
    while (v.length > 1 && v[0] === 0 && (v[1]! & 0x80) === 0) v = v.subarray(1);
    if (v[0]! & 0x80) v = Buffer.concat([Buffer.from([0]), v]);
    return Buffer.concat([Buffer.from([0x02, v.length]), v]);
  };
  const body = Buffer.concat([integer(raw.subarray(0, raw.length / 2)), integer(raw.subarray(raw.length / 2))]);
  return Buffer.concat([Buffer.from([0x30, body.length]), body]);
}
