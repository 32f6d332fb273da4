import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { promptLine } from './secrets';

const quiet = { write: () => true };

describe('a prompt on standard input', () => {
  it('answers with the line typed', async () => {
    const input = new PassThrough();
    const answer = promptLine('6-digit code: ', input, quiet);
    input.write('123456\n');
    await expect(answer).resolves.toBe('123456');
    expect(input.listenerCount('data') + input.listenerCount('end')).toBe(0);
  });

  it('fails with INPUT_ENDED when input ends before a whole line, never with an empty answer', async () => {
    const input = new PassThrough();
    const answer = promptLine('Fingerprint as read aloud to you: ', input, quiet);
    input.end('12ab');
    await expect(answer).rejects.toMatchObject({
      code: 'INPUT_ENDED',
      message: expect.stringContaining('“Fingerprint as read aloud to you”'),
    });
  });

  it('fails at once when input has already ended', async () => {
    const input = new PassThrough();
    input.end();
    input.resume();
    await new Promise((resolve) => input.once('end', resolve));
    await expect(promptLine('Passphrase: ', input, quiet)).rejects.toMatchObject({ code: 'INPUT_ENDED' });
  });
});
