import {
  createCipheriv,
  createHash,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  hkdfSync,
  randomBytes,
} from 'node:crypto';
import type { TransportPackage } from '../../../shared/transport';

/** A package made by a sender outside Custos with node:crypto, for a Custos EC P-256 wrapping key. */
export function packageOf(
  custosSpki: Buffer,
  keyBytes: Buffer,
  declared: Omit<TransportPackage['key'], 'ckaId' | 'label'>,
) {
  const custos = createPublicKey({ key: custosSpki, format: 'der', type: 'spki' });
  const eph = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const id = randomBytes(16).toString('hex');
  const key = { ...declared, ckaId: randomBytes(16).toString('hex'), label: 'partner key' };
  const recipient = createHash('sha256').update(custosSpki).digest('hex');
  const info = Buffer.from(
    `custos-key-transport/v1 ${id} ${key.ckaId} ${key.algorithm} ${key.usage} ${recipient}`,
  ).toString('hex');
  const z = diffieHellman({ privateKey: eph.privateKey, publicKey: custos });
  const kek = Buffer.from(hkdfSync('sha256', z, Buffer.alloc(0), Buffer.from(info, 'hex'), 32));
  const wrap = createCipheriv('id-aes256-wrap-pad', kek, Buffer.from('A65959A6', 'hex'));
  const pkg: TransportPackage = {
    kind: 'custos-key-transport',
    v: 1,
    id,
    createdAt: '2026-12-01T10:00:00.000Z',
    madeBy: null,
    key,
    recipient: { fingerprint: recipient, algorithm: 'EC-P256' },
    scheme: 'ecdh-hkdf-sha256+aes-kwp',
    ephemeralPublicKey: eph.publicKey.export({ format: 'der', type: 'spki' }).toString('base64'),
    info,
    wrappedKey: Buffer.concat([wrap.update(keyBytes), wrap.final()]).toString('base64'),
  };
  return pkg;
}
