import { expect, it } from 'vitest';
import type { WireError } from '../../../shared/errors';
import { factorIds, personProblem } from '../app/ErrorSummary';
import { missingHolders } from './CustodyForms';

const proof = (custodianId: string, passphrase = 'typed', code = '123456') => ({ custodianId, passphrase, code });

it('names each holder’s place in what is left out, and links anyone chosen twice to the later choice', () => {
  expect(missingHolders([proof('ada'), proof('', ''), proof('ada', 'p', '12')], 'holder', 'Share holder')).toEqual([
    { field: 'holder-1-who', text: 'Share holder 2: choose who it is' },
    { field: 'holder-1-passphrase', text: 'Share holder 2: type the passphrase' },
    { field: 'holder-2-code', text: 'Share holder 3: type the 6-digit code the authenticator shows' },
    { field: 'holder-2-who', text: 'Choose someone else: already chosen above' },
  ]);
  expect(missingHolders([proof('ada'), proof('bo')], 'settle', 'Holder')).toEqual([]);
});

it('points a refusal at the person whose factors the core names, or at the only person asked', () => {
  const ids = (i: number) => factorIds(`holder-${i}`);
  const refusal = (custodianId?: string): WireError => ({
    code: 'TOTP_INCORRECT',
    message: 'm',
    remedy: [],
    ...(custodianId ? { custodianId } : {}),
  });
  expect(personProblem(refusal('bo'), [proof('ada'), proof('bo')], ids)).toEqual({
    index: 1,
    problem: { field: 'holder-1-code', text: 'Type the code the authenticator shows now' },
  });
  // Named nobody, among several: nobody's field.
  expect(personProblem(refusal(), [proof('ada'), proof('bo')], ids)).toBeNull();
  expect(personProblem(refusal(), [proof('ada')], ids)?.index).toBe(0);
  // Names someone not in the form: nobody's field.
  expect(personProblem(refusal('zed'), [proof('ada'), proof('bo')], ids)).toBeNull();
});
