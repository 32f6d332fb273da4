import { mkdirSync, readdirSync, readFileSync, renameSync, statSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { tempDataDir } from '../core/testing/softhsm-fixture';
import { cardFolder, openCardFolder } from './card-folder';

/** A shared cards folder, and a folder of Mallory's beside it that she can read. */
function sharedFolder() {
  const { dataDir, cleanup } = tempDataDir('custos-card-folder-');
  onTestFinished(cleanup);
  const cards = join(dataDir, 'cards');
  const mallory = join(dataDir, 'mallory');
  mkdirSync(cards);
  mkdirSync(mallory);
  return { cards, mallory, folder: cardFolder(cards, 'card', 1, 'Ada') };
}

describe.runIf(process.platform === 'linux')('a holder’s card folder', () => {
  it('is written through what was opened: moved aside and replaced by a link meanwhile, nothing goes through it', () => {
    const { cards, mallory, folder } = sharedFolder();
    const out = openCardFolder(folder);
    // Between the check and the writes, someone who can write the shared folder swaps it for a link to theirs.
    // Before, the card was checked by its path and written by its path: into Mallory's folder.
    renameSync(folder, join(cards, 'moved-aside'));
    symlinkSync(mallory, folder);
    out.write('custos-card-1.txt', 'share');
    expect(readdirSync(mallory)).toEqual([]);
    expect(readdirSync(join(cards, 'moved-aside'))).toEqual(['custos-card-1.txt']);
    // Its holder would look under the name printed and find the link: the card is taken back and refused.
    expect(() => out.close()).toThrow(expect.objectContaining({ code: 'FILE_ACCESS_DENIED' }));
    expect(readdirSync(join(cards, 'moved-aside'))).toEqual([]);
  });

  it('writes into the folder where its holder will look, mode 0600', () => {
    const { folder } = sharedFolder();
    const out = openCardFolder(folder);
    out.write('custos-card-1.txt', 'share');
    out.close();
    expect(readFileSync(join(folder, 'custos-card-1.txt'), 'utf8')).toBe('share');
    expect(statSync(join(folder, 'custos-card-1.txt')).mode & 0o777).toBe(0o600);
  });

  it('refuses a link planted under the folder’s name before anything is written', () => {
    const { mallory, folder } = sharedFolder();
    symlinkSync(mallory, folder);
    expect(() => openCardFolder(folder)).toThrow(expect.objectContaining({ code: 'FILE_ACCESS_DENIED' }));
    expect(readdirSync(mallory)).toEqual([]);
  });
});
