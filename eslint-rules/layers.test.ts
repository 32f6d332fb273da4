import { ESLint } from 'eslint';
import { join } from 'node:path';
import tseslint from 'typescript-eslint';
import { describe, expect, it } from 'vitest';

const root = join(__dirname, '..');
// The project's own configuration; only type information is off, because the snippets below
// are files that do not exist on disk for the TypeScript project service to find.
const eslint = new ESLint({
  cwd: root,
  overrideConfig: [{ files: ['**/*.ts'], ...tseslint.configs.disableTypeChecked }],
});

/** Lints a snippet as if it were a file at `path`, with the project's real configuration. */
async function layerErrors(path: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: join(root, path) });
  const fatal = result?.messages.find((m) => m.fatal);
  if (fatal) throw new Error(fatal.message);
  return (result?.messages ?? []).filter((m) => m.ruleId === 'custos/layers').map((m) => m.message);
}

describe('the layering lint rule', () => {
  it.each([
    [
      'shared/x.ts',
      "import { Store } from '../electron/core/store/database';\nexport const s = Store;",
      /may not import from layer 'core'/,
    ],
    [
      'shared/x.ts',
      "import { readFileSync } from 'node:fs';\nexport const r = readFileSync;",
      /Node built-in 'node:fs'/,
    ],
    ['shared/x.ts', "import { create } from 'zustand';\nexport const c = create;", /may only use the packages zod/],
    ['shared/x.ts', "import { expect } from 'vitest';\nexport const e = expect;", /may only use the packages zod/],
    [
      'renderer/src/x.ts',
      "import { ipcRenderer } from 'electron';\nexport const i = ipcRenderer;",
      /Only the Electron shell/,
    ],
    [
      'renderer/src/x.ts',
      "import { CustosCore } from '../../electron/core/custos-core';\nexport const c = CustosCore;",
      /may not import from layer 'core'/,
    ],
    [
      'renderer/src/x.ts',
      "import Database from 'better-sqlite3';\nexport const d = Database;",
      /Native module 'better-sqlite3'/,
    ],
    ['electron/core/x.ts', "import { app } from 'electron';\nexport const a = app;", /Only the Electron shell/],
    ['electron/core/x.ts', "export const m = import('electron');", /Only the Electron shell/],
    [
      'electron/core/x.ts',
      "import { startCustos } from '../main/custos-app';\nexport const s = startCustos;",
      /may not import from layer 'main'/,
    ],
    ['electron/cli/x.ts', "import { app } from 'electron';\nexport const a = app;", /Only the Electron shell/],
    [
      'electron/preload/x.ts',
      "import { CustosCore } from '../core/custos-core';\nexport const c = CustosCore;",
      /may not import from layer 'core'/,
    ],
  ])('refuses, in %s: %s', async (path, code, message) => {
    const errors = await layerErrors(path, code);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(message);
  });

  it.each([
    [
      'shared/x.ts',
      "import { z } from 'zod';\nimport { ErrorCode } from './errors';\nexport const s = [z, ErrorCode];",
    ],
    [
      'renderer/src/x.ts',
      "import { create } from 'zustand';\nimport { channelNames } from '../../shared/ipc-schema';\nexport const r = [create, channelNames];",
    ],
    [
      'electron/core/x.ts',
      "import Database from 'better-sqlite3';\nimport { join } from 'node:path';\nexport const c = [Database, join];",
    ],
    [
      'electron/main/x.ts',
      "import { app } from 'electron';\nimport { CustosCore } from '../core/custos-core';\nexport const m = [app, CustosCore];",
    ],
    [
      'electron/preload/x.ts',
      "import { contextBridge } from 'electron';\nimport { buildBridge } from '../../shared/ipc-schema';\nexport const p = [contextBridge, buildBridge];",
    ],
    ['shared/x.test.ts', "import { expect } from 'vitest';\nimport { z } from 'zod';\nexport const t = [expect, z];"],
  ])('allows, in %s, imports along the layering', async (path, code) => {
    expect(await layerErrors(path, code)).toEqual([]);
  });
});
