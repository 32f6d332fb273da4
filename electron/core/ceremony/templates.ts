import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CORE_SCHEMA, load } from 'js-yaml';
import { CustosError, shown } from '../errors';

/** A ceremony script template Custos ships (resources/ceremonies): filled in, linted, printed, rehearsed and run. */
export interface CeremonyTemplate {
  /** The file's name without `.yml`: how a person asks for it. */
  name: string;
  title: string;
  file: string;
}

/**
 * Where the shipped templates are. A packaged app has them beside its asar (electron-builder.yml copies
 * resources/ceremonies to `<resources>/ceremonies` with extraResources), where Electron's `process.resourcesPath`
 * points: a property of `process`, so the core reads it without importing electron. Otherwise they are in the
 * repository: seen from the source (tsx, vitest: electron/core/ceremony) or from the build (out/main).
 */
export function templatesDir(): string {
  const packaged = (process as NodeJS.Process & { resourcesPath?: string }).resourcesPath;
  const candidates = [
    ...(packaged ? [join(packaged, 'ceremonies')] : []),
    join(__dirname, '../../../resources/ceremonies'),
    join(__dirname, '../../resources/ceremonies'),
  ];
  const found = candidates.find((dir) => existsSync(join(dir, 'root-key-generation.yml')));
  if (!found)
    throw new CustosError('CEREMONY_NOT_FOUND', 'The ceremony templates are missing from this installation.', [
      `Looked in ${candidates.join(', ')}.`,
    ]);
  return found;
}

/** Every shipped template, by name, with the title its script gives. */
export function listTemplates(dir = templatesDir()): CeremonyTemplate[] {
  return readdirSync(dir)
    .filter((file) => file.endsWith('.yml'))
    .sort()
    .map((file) => ({
      name: file.slice(0, -'.yml'.length),
      title: titleOf(readFileSync(join(dir, file), 'utf8')),
      file,
    }));
}

/** A template's text exactly as shipped, comments and placeholders included; only a listed name is read. */
export function templateText(name: string, dir = templatesDir()): string {
  const template = listTemplates(dir).find((t) => t.name === name);
  if (!template)
    throw new CustosError('CEREMONY_NOT_FOUND', `Custos ships no ceremony template “${shown(name)}”.`, [
      `The templates: ${listTemplates(dir)
        .map((t) => t.name)
        .join(', ')}.`,
    ]);
  return readFileSync(join(dir, template.file), 'utf8');
}

function titleOf(text: string): string {
  const parsed = load(text, { schema: CORE_SCHEMA }) as { title?: unknown } | null;
  return typeof parsed?.title === 'string' ? parsed.title : '(untitled)';
}
