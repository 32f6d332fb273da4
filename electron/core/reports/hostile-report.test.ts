import { generateKeyPairSync, sign } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { REPORT_KIND } from './ceremony-report';
import { verifyReport } from './report-verify';

/** A report.json handed to an auditor is anyone's input: it fails naming what is wrong, never as INTERNAL. */
describe('a hostile report.json', () => {
  it('nested thousands deep in a member read as is (the outcome) fails its format check, not the verifier', () => {
    const { publicKey, privateKey } = generateKeyPairSync('ed25519');
    const key = {
      name: 'custos.local/audit/0000',
      publicKey: publicKey.export({ format: 'der', type: 'spki' }).subarray(-32),
    };
    const deep = `${'['.repeat(20_000)}${']'.repeat(20_000)}`;
    const json = Buffer.from(
      `{"kind":"${REPORT_KIND}","v":1,"reportId":"r","type":"key.generate","installation":"i",` +
        `"auditKey":{"name":"${key.name}"},"ceremony":{"id":"p","action":"key.generate","state":"executed",` +
        `"outcome":${deep},"outcomeAsRecorded":${JSON.stringify(deep)}},"participants":[],"witnesses":[],` +
        `"audit":{"checkpoint":"x","treeSize":0,"root":"","entries":[]}}`,
    );
    // Signed with the key it is checked against: only its shape is wrong.
    const verdict = verifyReport(json, sign(null, json, privateKey), key);
    expect(verdict.ok).toBe(false);
    expect(verdict.checks).toContainEqual({
      check: 'report format',
      ok: false,
      detail: 'report.json nests deeper than a report does (more than 64 levels)',
    });
  });

  it('carrying JSON text nested thousands deep (the outcome as stored, the proposal body) fails that check alone', () => {
    const { publicKey, privateKey } = generateKeyPairSync('ed25519');
    const key = {
      name: 'custos.local/audit/0000',
      publicKey: publicKey.export({ format: 'der', type: 'spki' }).subarray(-32),
    };
    const deep = JSON.stringify(`${'['.repeat(20_000)}${']'.repeat(20_000)}`);
    const json = Buffer.from(
      `{"kind":"${REPORT_KIND}","v":2,"reportId":"r","type":"key.generate","installation":"i",` +
        `"auditKey":{"name":"${key.name}"},"ceremony":{"id":"p","action":"key.generate","state":"executed",` +
        `"fingerprint":"f","outcome":[],"outcomeAsRecorded":${deep},"fingerprinted":${deep}},"participants":[],` +
        `"keys":[{"id":"k","fingerprint":null,"kcv":null,"publicKeyPem":null}],"witnesses":[],` +
        `"audit":{"checkpoint":"x","treeSize":0,"root":"","entries":[]}}`,
    );
    const verdict = verifyReport(json, sign(null, json, privateKey), key);
    expect(verdict.ok).toBe(false);
    expect(verdict.checks.filter((c) => !c.ok).map((c) => c.check)).toEqual(
      expect.arrayContaining([expect.stringMatching(/^outcome and state/), expect.stringMatching(/^fingerprint/)]),
    );
  });
});
