import { generateKeyPairSync, sign } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  EM_DASH,
  formatCheckpoint,
  keyId,
  parseCheckpoint,
  parseNote,
  signNote,
  verifierKeyString,
  verifyNote,
  type NoteKey,
} from './checkpoint';

function testKey(name: string) {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const raw = publicKey.export({ format: 'der', type: 'spki' }).subarray(-32);
  const key: NoteKey = { name, publicKey: raw };
  return { key, sign: (m: Buffer) => sign(null, m, privateKey) };
}

const root = Buffer.alloc(32, 7);
const body = formatCheckpoint({ origin: 'custos.local/audit/abc', size: 42, root, extensions: [] });

describe('C2SP checkpoints in signed notes', () => {
  it('formats origin, decimal size and padded base64 root, one per line', () => {
    expect(body).toBe(`custos.local/audit/abc\n42\n${root.toString('base64')}\n`);
    expect(root.toString('base64')).toHaveLength(44);
  });

  it('signs with an em dash line: key name, then base64 of a 4-byte key ID and a 64-byte signature', () => {
    const { key, sign: signer } = testKey('custos.local/audit/abc');
    const note = signNote(body, key, signer);
    const [text, signatureLine] = note.split('\n\n');
    expect(`${text}\n`).toBe(body);
    expect(signatureLine).toMatch(new RegExp(`^${EM_DASH} custos\\.local/audit/abc [A-Za-z0-9+/]{91}=\\n$`));
    expect(Buffer.from(signatureLine!.trim().split(' ')[2]!, 'base64').subarray(0, 4).equals(keyId(key))).toBe(true);
  });

  it('round-trips: parse(format(x)) is x and the note text is the exact checkpoint', () => {
    const { key, sign: signer } = testKey('k');
    const parsed = parseNote(signNote(body, key, signer));
    expect(parsed.text).toBe(body);
    expect(parseCheckpoint(parsed.text)).toEqual({ origin: 'custos.local/audit/abc', size: 42, root, extensions: [] });
    expect(formatCheckpoint(parseCheckpoint(parsed.text))).toBe(body);
  });

  it('verifies with the right key, and names a wrong key and a forged signature', () => {
    const signer = testKey('custos');
    const stranger = testKey('custos');
    const note = parseNote(signNote(body, signer.key, signer.sign));
    expect(verifyNote(note, signer.key)).toEqual({ ok: true });
    expect(verifyNote(note, stranger.key)).toEqual({ ok: false, reason: 'unknown-key' });
    const forged = parseNote(signNote(body.replace('42', '43'), signer.key, signer.sign));
    expect(verifyNote({ ...forged, text: body }, signer.key)).toEqual({ ok: false, reason: 'bad-signature' });
  });

  it('writes a verifier key string in the signed-note form name+keyid+base64(0x01‖key)', () => {
    const { key } = testKey('custos.local/audit/abc');
    const [, name, id, encoded] = /^([^+]+)\+([^+]+)\+(.+)$/.exec(verifierKeyString(key))!;
    expect(name).toBe('custos.local/audit/abc');
    expect(id).toMatch(/^[0-9a-f]{8}$/);
    expect(Buffer.from(encoded!, 'base64')[0]).toBe(1);
  });

  it.each([
    ['no blank line', 'a\n1\nroot\n'],
    ['a signature line without the em dash', `${body}\n- k AAAA\n`],
    ['no trailing newline', `${body}\n${EM_DASH} k AAAAAAAA`],
  ])('refuses a malformed note: %s', (_what, text) => {
    expect(() => parseNote(text)).toThrow();
  });

  it.each([
    ['a size with a leading zero', 'o\n042\n' + root.toString('base64') + '\n'],
    ['a short root', 'o\n1\nAAAA\n'],
    ['unpadded base64', 'o\n1\n' + root.toString('base64').replace('=', '') + '\n'],
  ])('refuses a malformed checkpoint: %s', (_what, text) => {
    expect(() => parseCheckpoint(text)).toThrow();
  });
});
