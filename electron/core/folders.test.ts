import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

/**
 * The core's folders (audit, keys, quorum…) form a graph by their value imports, and it has no cycle: a
 * folder that needs another's code at run time takes it through a dependency the composition root
 * (custos-core.ts) injects. Type-only imports are free: they describe a shape and vanish at run time.
 *
 * Files directly in electron/core are of two kinds:
 *  - shared leaves (errors, log, canonical JSON, the secret vault, PDF helpers, the data directory, where files go,
 *    bounded reads of named files, reading a ceremony script): any folder may import them, and they import no
 *    folder, so they close no cycle;
 *  - the composition root (custos-core.ts, and any other file there): it may import anything, and no folder
 *    may import it.
 * Test files are left out: a test may reach wherever it needs to. testing/ (fixtures) counts as a folder like
 * the others.
 */
const CORE = resolve(__dirname);
const LEAVES = new Set([
  'errors.ts',
  'canonical-json.ts',
  'log.ts',
  'secret-vault.ts',
  'pdf.ts',
  'data-dir.ts',
  'destinations.ts',
  'bounded-file.ts',
  'ceremony-script.ts',
]);
const ROOT = '(root)';

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === 'node_modules' ? [] : sources(path);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts') && !entry.name.endsWith('.d.ts')
      ? [path]
      : [];
  });
}

/** The relative specifiers a file imports (or re-exports) values from; `import type` and `{ type X }`-only skipped. */
function valueImports(file: string, text: string): string[] {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, false, ts.ScriptKind.TS);
  const found: string[] = [];
  for (const node of source.statements) {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      const clause = node.importClause;
      const bindings = clause?.namedBindings;
      const typeOnly =
        clause !== undefined &&
        (clause.isTypeOnly ||
          (clause.name === undefined &&
            bindings !== undefined &&
            ts.isNamedImports(bindings) &&
            bindings.elements.length > 0 &&
            bindings.elements.every((element) => element.isTypeOnly)));
      if (!typeOnly) found.push(node.moduleSpecifier.text);
    } else if (ts.isExportDeclaration(node) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      const clause = node.exportClause;
      const typeOnly =
        node.isTypeOnly ||
        (clause !== undefined &&
          ts.isNamedExports(clause) &&
          clause.elements.length > 0 &&
          clause.elements.every((element) => element.isTypeOnly));
      if (!typeOnly) found.push(node.moduleSpecifier.text);
    }
  }
  return found.filter((specifier) => specifier.startsWith('.'));
}

/** The node a core file belongs to: its top-level folder, a leaf's own name, or the root. */
function nodeOf(file: string): string | null {
  const rel = relative(CORE, file);
  if (rel.startsWith('..')) return null;
  const parts = rel.split(sep);
  if (parts.length > 1) return parts[0]!;
  const name = parts[0]!.replace(/(\.ts)?$/, '.ts');
  return LEAVES.has(name) ? name : ROOT;
}

interface Edge {
  from: string;
  to: string;
  file: string;
  specifier: string;
}

function coreEdges(): Edge[] {
  return sources(CORE).flatMap((file) => {
    const from = nodeOf(file)!;
    return valueImports(file, readFileSync(file, 'utf8')).flatMap((specifier) => {
      const to = nodeOf(resolve(dirname(file), specifier));
      return to === null || to === from ? [] : [{ from, to, file: relative(CORE, file), specifier }];
    });
  });
}

/** One cycle in the graph as its nodes in order (first repeated last), or null; depth-first, colours. */
function findCycle(edges: readonly { from: string; to: string }[]): string[] | null {
  const next = new Map<string, string[]>();
  for (const { from, to } of edges) next.set(from, [...(next.get(from) ?? []), to]);
  const state = new Map<string, 'open' | 'done'>();
  const path: string[] = [];
  const visit = (node: string): string[] | null => {
    if (state.get(node) === 'done') return null;
    if (state.get(node) === 'open') return [...path.slice(path.indexOf(node)), node];
    state.set(node, 'open');
    path.push(node);
    for (const to of [...new Set(next.get(node) ?? [])].sort()) {
      const cycle = visit(to);
      if (cycle) return cycle;
    }
    path.pop();
    state.set(node, 'done');
    return null;
  };
  for (const node of [...next.keys()].sort()) {
    const cycle = visit(node);
    if (cycle) return cycle;
  }
  return null;
}

/** The cycle spelled out with the import behind each step, so the failure says what to move. */
function describeCycle(cycle: string[], edges: readonly Edge[]): string {
  return cycle
    .slice(0, -1)
    .map((from, i) => {
      const to = cycle[i + 1]!;
      const why = edges.filter((e) => e.from === from && e.to === to).map((e) => `${e.file} → ${e.specifier}`);
      return `${from} → ${to}   (${why.join('; ')})`;
    })
    .join('\n');
}

describe('core folders', () => {
  const edges = coreEdges();

  it('import one another without a cycle', () => {
    const cycle = findCycle(edges);
    expect(cycle && `cycle: ${cycle.join(' → ')}\n${describeCycle(cycle, edges)}`).toBeNull();
  });

  it('leave the quorum free of the folders whose actions it runs: the root registers them', () => {
    const reached = edges.filter((e) => e.from === 'quorum' && ['keys', 'backup', 'custody'].includes(e.to));
    expect(reached.map((e) => `${e.file} → ${e.specifier}`)).toEqual([]);
  });

  it('never import the composition root', () => {
    expect(edges.filter((e) => e.to === ROOT).map((e) => `${e.file} → ${e.specifier}`)).toEqual([]);
  });

  it('share leaves that import no folder', () => {
    const leaning = edges.filter((e) => LEAVES.has(e.from) && !LEAVES.has(e.to));
    expect(leaning.map((e) => `${e.file} → ${e.specifier}`)).toEqual([]);
  });

  it('see the graph it checks: the root reaches every folder it wires', () => {
    const fromRoot = new Set(edges.filter((e) => e.from === ROOT).map((e) => e.to));
    for (const folder of ['audit', 'backup', 'custodians', 'custody', 'keys', 'quorum', 'reports'])
      expect(fromRoot).toContain(folder);
  });
});

describe('the cycle finder and the import reader', () => {
  it('finds a cycle, and none in a chain', () => {
    expect(
      findCycle([
        { from: 'a', to: 'b' },
        { from: 'b', to: 'c' },
        { from: 'c', to: 'a' },
      ]),
    ).toEqual(['a', 'b', 'c', 'a']);
    expect(
      findCycle([
        { from: 'a', to: 'b' },
        { from: 'b', to: 'c' },
        { from: 'a', to: 'c' },
      ]),
    ).toBeNull();
  });

  it('counts value imports and re-exports, and skips type-only ones', () => {
    const text = [
      "import type { A } from './types-only';",
      "import { type B, type C } from './inline-types-only';",
      "import { type D, e } from './mixed';",
      "import f from './default';",
      "import * as g from './namespace';",
      "import './side-effect';",
      "export { h } from './re-export';",
      "export type { I } from './type-re-export';",
      "import { z } from 'zod';",
    ].join('\n');
    expect(valueImports('x.ts', text)).toEqual(['./mixed', './default', './namespace', './side-effect', './re-export']);
  });
});
