import Database from 'better-sqlite3';
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pkcs11js from 'pkcs11js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AuditEntry } from '../../../shared/audit';
import { findObjects } from '../hsm/find-objects';
import { CKM_EC_EDWARDS_KEY_PAIR_GEN } from '../hsm/mechanisms';
import { prepareEmbeddedSoftHsm } from '../hsm/softhsm';
import { DATABASE_FILE, Store } from '../store/database';
import { Settings } from '../settings/settings';
import { sql } from '../store/sql';
import { openAudit } from '../testing/audit-fixture';
import { plantPublicKey } from '../testing/planted-objects';
import { tempDataDir } from '../testing/softhsm-fixture';
import { canonicalJson } from '../canonical-json';
import { canonicalEntry } from './audit-log';
import { SYSTEM } from './audit-service';
import { verifyStoredLog } from './verify-store';
import { parseCheckpoint, parseNote, verifyNote } from './checkpoint';
import { leafHash, verifyConsistency, verifyInclusion } from './merkle';

let dataDir: string;
let cleanup: () => void;
let opened: ReturnType<typeof openAudit> | null = null;
beforeEach(() => ({ dataDir, cleanup } = tempDataDir()));
afterEach(() => {
  opened?.close();
  opened = null;
  cleanup();
});
const open = () => (opened = openAudit(dataDir));
const operator = { type: 'operator', id: 'test' } as const;

describe('audit key and token', () => {
  it('provisions its own audit token, keeps the PIN only in a 0600 file, and records that first', () => {
    const { audit, store } = open();
    const status = audit.status();
    expect(status.state).toBe('ready');
    const pinFile = join(dataDir, 'audit-token.pin');
    expect(statSync(pinFile).mode & 0o777).toBe(0o600);
    const pin = readFileSync(pinFile, 'utf8');
    expect(pin.length).toBeGreaterThanOrEqual(32);
    opened!.close();
    opened = null;
    expect(readFileSync(join(dataDir, DATABASE_FILE)).includes(Buffer.from(pin))).toBe(false);
    const first = open().audit.log().entry(0);
    expect(JSON.parse(first.entry)).toMatchObject({ seq: 0, action: 'audit.key.create', actor: SYSTEM });
    expect(store).toBeDefined();
  });

  it('reopens the same key on the next start instead of provisioning another', () => {
    const keyId = (open().audit.status() as { keyId: string }).keyId;
    opened!.close();
    const again = open().audit.status();
    expect(again).toMatchObject({ state: 'ready', keyId, size: 1 });
  });

  it('exports a PEM that openssl uses to verify an entry and a checkpoint', () => {
    const { audit } = open();
    audit.record({ actor: operator, action: 'token.select', object: { type: 'token', id: 'abc/label' } });
    const checkpoint = audit.checkpoint('test');
    const pem = join(dataDir, 'audit.pem');
    writeFileSync(pem, audit.publicKeyPem());
    const entry = audit.log().entry(1);
    writeFileSync(join(dataDir, 'entry.json'), entry.entry);
    writeFileSync(join(dataDir, 'entry.sig'), entry.signature);
    const openssl = (msg: string, sig: string) =>
      execFileSync(
        'openssl',
        [
          'pkeyutl',
          '-verify',
          '-pubin',
          '-inkey',
          pem,
          '-rawin',
          '-in',
          join(dataDir, msg),
          '-sigfile',
          join(dataDir, sig),
        ],
        { encoding: 'utf8' },
      );
    expect(openssl('entry.json', 'entry.sig')).toMatch(/Signature Verified Successfully/);
    const note = parseNote(checkpoint.note);
    writeFileSync(join(dataDir, 'checkpoint.txt'), note.text);
    writeFileSync(join(dataDir, 'checkpoint.sig'), note.signatures[0]!.signature);
    expect(openssl('checkpoint.txt', 'checkpoint.sig')).toMatch(/Signature Verified Successfully/);
    writeFileSync(join(dataDir, 'entry.json'), entry.entry.replace('token.select', 'token.delete'));
    expect(() => openssl('entry.json', 'entry.sig')).toThrow();
  });
});

/** The audit token as someone on this machine reaches it, beside an open installation: its module and the key's id. */
function openAuditToken() {
  const { audit, store, host } = open();
  const { cka_id: ckaId } = store.get<{ cka_id: Buffer }>(sql`SELECT cka_id FROM audit_keys`)!;
  const module = host.acquire(prepareEmbeddedSoftHsm(dataDir).modulePath, 'embedded-softhsm');
  return { token: audit.auditToken()!, ckaId, module };
}

describe('audit key safety', () => {
  it('refuses to open an audit key whose private half was swapped for another under the same id', () => {
    const { token, ckaId, module } = openAuditToken();
    // Someone with the audit PIN (the data directory's 0600 file): a new Ed25519 private key under the key's id, the
    // recorded public object left as it is. Login state is per token and process: the audit signer's login serves.
    module.withSession(token, { write: true }, (session, lib) => {
      const id = { type: pkcs11js.CKA_ID, value: ckaId };
      const [old] = findObjects(lib, session, [{ type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY }, id]);
      const pair = lib.C_GenerateKeyPair(
        session,
        { mechanism: CKM_EC_EDWARDS_KEY_PAIR_GEN },
        [
          { type: pkcs11js.CKA_TOKEN, value: false },
          { type: pkcs11js.CKA_EC_PARAMS, value: Buffer.from('06032b6570', 'hex') },
        ],
        [{ type: pkcs11js.CKA_TOKEN, value: true }, { type: pkcs11js.CKA_PRIVATE, value: true }, id],
      );
      expect(pair.privateKey).toBeDefined();
      lib.C_DestroyObject(session, old!);
    });
    opened!.close();
    opened = null;
    // Before: it opened, and every entry it signed from then on failed verification.
    expect(open().audit.status()).toMatchObject({ state: 'unavailable', code: 'AUDIT_KEY_MISMATCH' });
  });

  it('opens its key with objects planted under the key’s id with no PIN, and signs with its own key', () => {
    const { token, ckaId, module } = openAuditToken();
    // What anyone who can load the token's library may do with no login: public objects (CKA_PRIVATE false), here
    // two public keys and a private key, under the audit key's id.
    module.withSession(token, { write: true }, (session, lib) => {
      for (const objectClass of [pkcs11js.CKO_PUBLIC_KEY, pkcs11js.CKO_PRIVATE_KEY, pkcs11js.CKO_PUBLIC_KEY])
        plantPublicKey(lib, session, ckaId.toString('hex'), objectClass);
    });
    opened!.close();
    opened = null;
    const again = open();
    expect(again.audit.status()).toMatchObject({ state: 'ready' });
    again.audit.record({ actor: operator, action: 'token.list' });
    again.audit.checkpoint('after the planting');
    return expect(verifyStoredLog(again.store)).resolves.toMatchObject({ ok: true });
  });

  it('will not provision over an existing audit PIN when the database has no key (restored or swapped database)', () => {
    open();
    opened!.close();
    opened = null;
    rmSync(join(dataDir, DATABASE_FILE));
    const pin = readFileSync(join(dataDir, 'audit-token.pin'));
    const status = open().audit.status();
    expect(status).toMatchObject({
      state: 'unavailable',
      code: 'AUDIT_UNAVAILABLE',
      message: expect.stringMatching(/no audit key/),
    });
    expect(readFileSync(join(dataDir, 'audit-token.pin')).equals(pin)).toBe(true);
  });

  it('will not provision over it either when the swapped database says its own first start stopped part-way', () => {
    open();
    opened!.close();
    opened = null;
    rmSync(join(dataDir, DATABASE_FILE));
    // Someone with the database file alone writes one setting into the empty database that replaces the real one.
    const store = Store.open(dataDir);
    new Settings(store).set('audit.provisioning', new Date().toISOString());
    store.close();
    const pin = readFileSync(join(dataDir, 'audit-token.pin'));
    expect(open().audit.status()).toMatchObject({ state: 'unavailable', code: 'AUDIT_UNAVAILABLE' });
    expect(readFileSync(join(dataDir, 'audit-token.pin')).equals(pin)).toBe(true);
  });
});

describe('AuditLog', () => {
  it('writes appends still queued when it closes, then refuses new ones', async () => {
    const { audit } = open();
    const log = audit.log();
    const before = log.size();
    const pending = log.append({ actor: operator, action: 'token.list' });
    log.close();
    await expect(pending).resolves.toMatchObject({ seq: before });
    expect(log.size()).toBe(before + 1);
    await expect(log.append({ actor: operator, action: 'token.list' })).rejects.toMatchObject({
      code: 'AUDIT_UNAVAILABLE',
    });
  });

  it('writes canonical, well-formed entries with the parameters hashed, never in the clear', () => {
    const { audit } = open();
    audit.record({ actor: operator, action: 'settings.module.set', params: { path: '/very/secret/path.so' } });
    const stored = audit.log().entry(1);
    const entry = AuditEntry.parse(JSON.parse(stored.entry));
    expect(entry).toMatchObject({ v: 1, seq: 1, action: 'settings.module.set', result: { status: 'ok' } });
    expect(entry.params).toMatch(/^[0-9a-f]{64}$/);
    expect(stored.entry).not.toContain('secret');
    expect(stored.entry).toBe(JSON.stringify(JSON.parse(stored.entry)));
    expect(entry.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  });

  it('writes each entry as exactly the canonical JSON of its fields, whatever they hold', () => {
    const entries: AuditEntry[] = [
      {
        v: 1,
        seq: 0,
        time: '2026-12-03T00:00:00.000Z',
        actor: SYSTEM,
        action: 'audit.key.create',
        object: null,
        params: null,
        result: { status: 'ok' },
      },
      {
        v: 1,
        seq: 9_007_199_254_740_991,
        time: '2026-12-03T23:59:59.999Z',
        actor: { type: 'custodian', id: 'Zoë "Z" \\ \u0000\u2028', role: 'security-officer' },
        action: 'key.destroy',
        object: { type: 'key\t"k"', id: '😀/é/\ud800/\u001f' },
        params: 'ab'.repeat(32),
        result: { status: 'refused', code: 'IPC_INVALID_PAYLOAD' },
      },
      {
        v: 1,
        seq: 42,
        time: '2026-12-03T12:00:00.123Z',
        actor: operator,
        action: 'token.list',
        object: { type: '', id: '' },
        params: null,
        result: { status: 'failed', code: 'TOKEN_ERROR' },
      },
    ];
    for (const entry of entries) expect(canonicalEntry(entry)).toBe(canonicalJson(entry));
  });

  it('cuts an over-long object name to what the viewer reads, so a signed entry never becomes unreadable', () => {
    const { audit } = open();
    const path = `/opt/${'deep/'.repeat(800)}libvendor-pkcs11.so`;
    audit.record({
      actor: operator,
      action: 'settings.module.set',
      object: { type: 'module', id: path },
      params: { path },
    });
    const entry = AuditEntry.parse(JSON.parse(audit.log().entry(1).entry));
    expect(entry.object).toEqual({ type: 'module', id: `${path.slice(0, 199)}…` });
  });

  it('commits a state change together with its entry, and neither when the change fails', () => {
    const { audit, store } = open();
    const before = audit.log().size();
    expect(() =>
      audit.record({ actor: operator, action: 'token.select' }, () => {
        store.execute(sql`INSERT INTO settings (key, value, updated_at) VALUES ('x', '1', 'now')`);
        throw new Error('the change failed half-way');
      }),
    ).toThrow('half-way');
    expect(audit.log().size()).toBe(before);
    expect(store.get(sql`SELECT key FROM settings WHERE key = 'x'`)).toBeUndefined();
  });

  it('forgets entries an enclosing transaction rolled back: the next entry takes their seq, and the log verifies', async () => {
    const { audit, store } = open();
    const before = audit.log().size();
    // As the one-time sealings do: several entries in one transaction around them, which then fails part-way.
    expect(() =>
      store.transaction(() => {
        audit.record({ actor: operator, action: 'token.select' });
        audit.record({ actor: operator, action: 'token.select' });
        throw new Error('the token was pulled out');
      }),
    ).toThrow('pulled out');
    expect(audit.log().size()).toBe(before);
    // Before: the next entry was numbered after the two rolled back: a gap that closed the log at the next open.
    expect(audit.record({ actor: operator, action: 'token.list' }, () => audit.log().size())).toBe(before);
    audit.checkpoint('after the rollback');
    opened!.close();
    const again = open();
    expect(again.audit.status()).toMatchObject({ state: 'ready', size: before + 1 });
    expect(await verifyStoredLog(again.store)).toMatchObject({ ok: true });
  });

  it('rolls the state change back when the token cannot sign, and says why', () => {
    const { audit, store, host } = open();
    const token = audit.auditToken()!;
    // Remove the audit key from the token behind Custos's back (a real token failure, not a mock).
    const module = host.acquire(prepareEmbeddedSoftHsm(dataDir).modulePath, 'embedded-softhsm');
    // Login state is per token and process: the audit signer's login covers this session too.
    module.withSession(token, { write: true }, (session, lib) => {
      lib.C_FindObjectsInit(session, [{ type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY }]);
      const keys = lib.C_FindObjects(session, 10);
      lib.C_FindObjectsFinal(session);
      for (const key of keys) lib.C_DestroyObject(session, key);
    });
    const before = audit.log().size();
    expect(() =>
      audit.record({ actor: operator, action: 'token.select' }, () =>
        store.execute(sql`INSERT INTO settings (key, value, updated_at) VALUES ('y', '1', 'now')`),
      ),
    ).toThrow(
      expect.objectContaining({ code: expect.stringMatching(/AUDIT_KEY_MISMATCH|KEY_OBJECTS_MISSING|OBJECT_INVALID/) }),
    );
    expect(audit.log().size()).toBe(before);
    expect(store.get(sql`SELECT key FROM settings WHERE key = 'y'`)).toBeUndefined();
  });

  it('group-commits appends made together, each durable before its promise settles', async () => {
    const { audit } = open();
    const log = audit.log();
    const before = log.size();
    const entries = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        log.append({ actor: operator, action: 'token.list', object: { type: 'token', id: `t${i}` } }),
      ),
    );
    expect(entries.map((e) => e.seq)).toEqual(Array.from({ length: 12 }, (_, i) => before + i));
    expect(log.size()).toBe(before + 12);
    expect(JSON.parse(log.entry(before + 11).entry)).toMatchObject({ object: { id: 't11' } });
  });

  it('refuses UPDATE and DELETE of entries, tree nodes, checkpoints and keys', () => {
    const { audit } = open();
    // A second entry completes the first tree node above the leaves, so the tree has a row to refuse.
    audit.record({ actor: operator, action: 'token.list' });
    audit.checkpoint('test');
    opened!.close();
    opened = null;
    const db = new Database(join(dataDir, DATABASE_FILE));
    for (const statement of [
      "UPDATE audit_entries SET entry = '{}' WHERE seq = 0",
      'DELETE FROM audit_entries WHERE seq = 0',
      'DELETE FROM audit_tree',
      "UPDATE audit_checkpoints SET note = ''",
      'DELETE FROM audit_keys',
    ]) {
      expect(() => db.exec(statement), statement).toThrow(/append-only/);
    }
    db.close();
  });

  it('proves inclusion of any entry and consistency between checkpoints with only the public key', () => {
    const { audit } = open();
    const log = audit.log();
    for (let i = 0; i < 12; i++) audit.record({ actor: operator, action: 'token.list' });
    const early = parseNote(log.checkpoint('early').note);
    for (let i = 0; i < 9; i++) audit.record({ actor: operator, action: 'token.list' });
    const late = parseNote(log.checkpoint('late').note);
    const key = audit.noteKey()!;
    expect(verifyNote(early, key).ok && verifyNote(late, key).ok).toBe(true);
    const a = parseCheckpoint(early.text);
    const b = parseCheckpoint(late.text);
    for (const seq of [0, 5, 12, b.size - 1]) {
      const leaf = leafHash(Buffer.from(log.entry(seq).entry, 'utf8'));
      expect(verifyInclusion(seq, b.size, leaf, log.inclusionProof(seq, b.size), b.root), `entry ${seq}`).toBe(true);
    }
    expect(verifyConsistency(a.size, b.size, a.root, b.root, log.consistencyProof(a.size, b.size))).toBe(true);
  });
});
