// Custos's layering, enforced like VS Code's `code-import-patterns`: every import is resolved to
// the layer it lands in, and a layer may only reach the layers listed for it.
//   shared/          imports nothing of ours (and only zod from outside)
//   renderer/        imports only shared/ (and React, zustand, zod): it is untrusted web content
//   electron/core/   the privileged core: never `electron`
//   electron/cli/    the CLI on the core: never `electron`
//   electron/rehearsal/   the rehearsal process (a scratch installation on the core): never `electron`
//   electron/main/, electron/preload/   the only places `electron` may be imported
import { builtinModules } from 'node:module';
import { dirname, relative, resolve, sep } from 'node:path';

const layers = [
  ['shared', 'shared/'],
  ['renderer', 'renderer/'],
  ['core', 'electron/core/'],
  ['cli', 'electron/cli/'],
  ['rehearsal', 'electron/rehearsal/'],
  ['main', 'electron/main/'],
  ['preload', 'electron/preload/'],
  ['e2e', 'e2e/'],
  ['bench', 'bench/'],
];

const reach = {
  shared: ['shared'],
  renderer: ['renderer', 'shared'],
  core: ['core', 'shared'],
  cli: ['cli', 'core', 'shared'],
  rehearsal: ['rehearsal', 'core', 'shared'],
  main: ['main', 'core', 'shared'],
  preload: ['preload', 'shared'],
  e2e: ['e2e', 'core', 'shared', 'main'],
  bench: ['bench', 'core', 'shared'],
};

/** Packages a layer may use; null means any package except the rules below. */
const packages = {
  shared: ['zod'],
  renderer: ['react', 'react-dom', 'zustand', 'zod'],
};

const electronAllowed = new Set(['main', 'preload']);
const nativeAllowed = new Set(['core', 'cli', 'rehearsal', 'e2e', 'bench', 'tooling']);
const builtins = new Set([...builtinModules, ...builtinModules.map((m) => `node:${m}`)]);

function layerOf(root, file) {
  const rel = relative(root, file).split(sep).join('/');
  return layers.find(([, prefix]) => rel.startsWith(prefix))?.[0] ?? 'tooling';
}

function packageName(specifier) {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

export default {
  meta: {
    type: 'problem',
    docs: {
      description: 'Enforce Custos layering (shared ← renderer; shared ← core ← shell; electron only in the shell)',
    },
    schema: [],
    messages: {
      layer: "Layer '{{from}}' may not import from layer '{{to}}' ({{specifier}}). Allowed: {{allowed}}.",
      electron:
        "Only the Electron shell (electron/main, electron/preload) may import 'electron'; '{{from}}' must stay Electron-free.",
      node: "Layer '{{from}}' runs in the sandboxed renderer or is shared with it: Node built-in '{{specifier}}' is not allowed.",
      native: "Native module '{{specifier}}' belongs to the privileged core, not to layer '{{from}}'.",
      package: "Layer '{{from}}' may only use the packages {{allowed}}; '{{specifier}}' is not one of them.",
    },
  },
  create(context) {
    const root = context.settings?.custos?.root ?? context.cwd;
    const file = context.filename;
    const from = layerOf(root, file);

    function check(node, specifier) {
      if (typeof specifier !== 'string') return;
      if (specifier.startsWith('.') || specifier.startsWith('/')) {
        const target = resolve(dirname(file), specifier);
        const to = layerOf(root, target);
        const allowed = reach[from];
        if (allowed && !allowed.includes(to)) {
          context.report({ node, messageId: 'layer', data: { from, to, specifier, allowed: allowed.join(', ') } });
        }
        return;
      }
      const name = packageName(specifier);
      if (name === 'electron') {
        if (!electronAllowed.has(from)) context.report({ node, messageId: 'electron', data: { from } });
        return;
      }
      if (builtins.has(specifier) || builtins.has(name)) {
        if (from === 'shared' || from === 'renderer')
          context.report({ node, messageId: 'node', data: { from, specifier } });
        return;
      }
      if ((name === 'better-sqlite3' || name === 'pkcs11js') && !nativeAllowed.has(from)) {
        context.report({ node, messageId: 'native', data: { from, specifier } });
        return;
      }
      const allowedPackages = packages[from];
      // A test beside shared or renderer code runs under vitest, never in the page.
      if (name === 'vitest' && /\.test\.tsx?$/.test(file)) return;
      if (allowedPackages && !allowedPackages.includes(name)) {
        context.report({ node, messageId: 'package', data: { from, specifier, allowed: allowedPackages.join(', ') } });
      }
    }

    return {
      ImportDeclaration: (node) => check(node.source, node.source.value),
      ExportNamedDeclaration: (node) => node.source && check(node.source, node.source.value),
      ExportAllDeclaration: (node) => check(node.source, node.source.value),
      ImportExpression: (node) => node.source.type === 'Literal' && check(node.source, node.source.value),
      TSImportEqualsDeclaration: (node) =>
        node.moduleReference.type === 'TSExternalModuleReference' &&
        check(node.moduleReference, node.moduleReference.expression.value),
      CallExpression: (node) => {
        if (
          node.callee.type === 'Identifier' &&
          node.callee.name === 'require' &&
          node.arguments[0]?.type === 'Literal'
        ) {
          check(node.arguments[0], node.arguments[0].value);
        }
      },
    };
  },
};
