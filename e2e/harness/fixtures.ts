import { test as base, expect, type Page } from '@playwright/test';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { findSoftHsmLibrary, softHsmPaths } from '../../electron/core/hsm/softhsm';
import { startCore, type CustosCore } from '../../electron/core/custos-core';
import { silentLog } from '../../electron/core/log';
import { forkRehearsal } from '../../electron/core/ceremony/rehearsal-host';
import { CustodianService } from '../../electron/core/custodians/custodian-service';
import { CustosError } from '../../electron/core/errors';
import { openAudit } from '../../electron/core/testing/audit-fixture';
import { enrolPeople } from '../../electron/core/testing/enrolment';
import { initSoftHsmToken, tempDataDir } from '../../electron/core/testing/softhsm-fixture';
import type { Router } from '../../electron/core/ipc/router';
import { attachCore } from './attach';

/**
 * Real scrypt at a lower cost, as every other suite but one uses (a custodian's parameters are stored with their
 * sealed secrets, so each later check pays what enrolment chose). The production cost, 0.4–0.7 s a check, is held by
 * custos-core.test.ts (the core answers other requests meanwhile) and measured by bench/quorum. At it this suite
 * took 8.8 min of CI's 20 instead of 7.1.
 */
const E2E_KDF = { N: 2 ** 14, r: 8, p: 1 };
import { serveRenderer } from './renderer-server';

export interface CustosHarness {
  dataDir: string;
  core: CustosCore | null;
  /** The core's clock: ceremonies take time (a TOTP code counts once), so tests move it on. */
  clock: { now: Date };
  advance(seconds: number): void;
  /** Starts the real core on the data directory and opens the renderer in Chromium. */
  /** `held`: the page's requests wait for it, as they wait for a core still checking a large database. */
  open(options?: { moduleOverride?: string; softHsmCandidates?: string[]; held?: Promise<void> }): Promise<Page>;
  /** What the main-process "choose a PKCS#11 library" dialog answers (null: cancelled); tests set it. */
  moduleChoice: { path: string | null };
  /** What the main-process "choose a backup file to import" dialog answers (null: cancelled); tests set it. */
  backupFileChoice: { path: string | null };
  /** Writes `count` real, signed audit entries before the app opens (alternating two actions). */
  seedAudit(count: number): void;
  /** Enrols custodians (real scrypt, real TOTP) before the app opens; returns what each would know. */
  seedCustodians(
    names: string[],
    roles?: ('custodian' | 'security-officer' | 'auditor')[],
  ): Promise<{ id: string; name: string; passphrase: string; secret: string }[]>;
  /** Locks a seeded person out before the app opens, as ten wrong tries would (each one recorded). */
  lockOut(custodianId: string): Promise<void>;
  /** The installation's first security officer, whom seedCustodians enrols first when it names none. */
  setupOfficer: { id: string; name: string; passphrase: string; secret: string } | null;
  /** A wrong user-PIN attempt made from outside Custos, with OpenSC's pkcs11-tool. */
  failLogin(label: string): void;
  addToken(label: string): { serial: string; label: string };
}

const rendererDir = join(__dirname, '../../out/renderer');
const rehearsalEntry = join(__dirname, '../../out/main/rehearsal.js');

export const test = base.extend<{ custos: CustosHarness }>({
  custos: async ({ page }, use) => {
    const { dataDir, cleanup } = tempDataDir('custos-e2e-');
    const server = await serveRenderer(rendererDir);
    let core: CustosCore | null = null;
    let detach = () => {};
    const clock = { now: new Date() };
    const withCustodians = async <T>(work: (service: CustodianService) => Promise<T>): Promise<T> => {
      const opened = openAudit(dataDir);
      try {
        return await work(
          new CustodianService({
            store: opened.store,
            audit: opened.audit,
            actor: { type: 'operator', id: 'seed' },
            clock: () => clock.now,
            kdfCost: E2E_KDF,
          }),
        );
      } finally {
        opened.close();
      }
    };
    const harness: CustosHarness = {
      dataDir,
      clock,
      advance(seconds) {
        clock.now = new Date(clock.now.getTime() + seconds * 1000);
      },
      get core() {
        return core;
      },
      addToken: (label) => initSoftHsmToken(dataDir, label),
      setupOfficer: null,
      moduleChoice: { path: null },
      backupFileChoice: { path: null },
      async seedCustodians(names, roles = ['custodian']) {
        return withCustodians(async (service) => {
          // The installation's setup officer is enrolled first and approves the others.
          const { people, setupOfficer } = await enrolPeople(
            service,
            clock,
            names.map((name, i) => ({ name, roles, passphrase: `amber river lantern meadow ${i + 1}` })),
          );
          harness.setupOfficer ??= setupOfficer;
          return people;
        });
      },
      async lockOut(custodianId) {
        await withCustodians(async (service) => {
          while (!service.get(custodianId).locked) {
            // Past any wait the tries before set, so each try counts.
            harness.advance(3600);
            await service.verifyFactors(custodianId, 'not their passphrase', '000000', 'e2e lockout').then(
              () => Promise.reject(new Error('a wrong passphrase was accepted')),
              (error: unknown) => {
                if (!(error instanceof CustosError)) throw error;
              },
            );
          }
        });
      },
      seedAudit(count) {
        const opened = openAudit(dataDir);
        try {
          for (let i = 0; i < count; i++) {
            opened.audit.record({
              actor: { type: 'operator', id: 'seed' },
              action: i % 3 === 0 ? 'token.select' : 'token.list',
              object: { type: 'token', id: `seed-${i}` },
            });
          }
        } finally {
          opened.close();
        }
      },
      failLogin(label) {
        const { configPath } = softHsmPaths(dataDir);
        const result = spawnSync(
          'pkcs11-tool',
          ['--module', findSoftHsmLibrary()!, '--token-label', label, '--login', '--pin', '000000', '--list-objects'],
          {
            env: { ...process.env, SOFTHSM2_CONF: configPath },
            encoding: 'utf8',
          },
        );
        if (!/CKR_PIN_INCORRECT/.test(result.stderr + result.stdout))
          throw new Error(`pkcs11-tool did not fail the login as expected: ${result.stderr}`);
      },
      async open(options = {}) {
        const started = startCore({
          dataDir,
          version: 'e2e',
          production: true,
          kdfCost: E2E_KDF,
          log: silentLog,
          clock: () => clock.now,
          moduleOverride: options.moduleOverride,
          pickModule: () => Promise.resolve(harness.moduleChoice.path),
          pickBackupFile: () => Promise.resolve(harness.backupFileChoice.path),
          // The built rehearsal process, as the app starts it (here a Node child rather than a utilityProcess).
          spawnRehearsal: forkRehearsal(rehearsalEntry),
          ...(options.softHsmCandidates ? { softHsmCandidates: options.softHsmCandidates } : {}),
        });
        core = started.core;
        const { held } = options;
        const router = held
          ? {
              dispatch: (...request: Parameters<Router['dispatch']>) =>
                held.then(() => started.router.dispatch(...request)),
            }
          : started.router;
        detach = await attachCore(page, router, core?.events ?? null, server.origin);
        await page.goto(`${server.origin}/index.html`);
        return page;
      },
    };
    await use(harness);
    detach();
    harness.core?.close();
    await server.close();
    cleanup();
  },
});

export { expect };
