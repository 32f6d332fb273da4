import { renderToStaticMarkup } from 'react-dom/server';
import { expect, it } from 'vitest';
import type { CustodianSummary, Role } from '../../../shared/custodians';
import { emptyProof, FactorFields } from '../app/FactorFields';
import { retirementApprovers } from './RetireCustodian';

const person = (id: string, roles: Role[], more: Partial<CustodianSummary> = {}): CustodianSummary => ({
  id,
  name: id,
  roles,
  enrolledAt: '2026-01-01T00:00:00.000Z',
  locked: false,
  failures: 0,
  throttledUntil: null,
  retiredAt: null,
  ...more,
});

it('asks the approvers the core will ask for: one officer, two others, a handover, or nobody for the last', () => {
  const ada = person('ada', ['custodian']);
  const olga = person('olga', ['security-officer']);
  const pat = person('pat', ['security-officer'], { locked: true });
  const gone = person('gone', ['security-officer'], { retiredAt: '2026-02-01T00:00:00.000Z' });
  expect(retirementApprovers(ada, [ada, olga])).toEqual({ others: 1, leaving: false });
  // A locked-out officer counts, as in the core; a retired one does not.
  expect(retirementApprovers(olga, [ada, olga, pat, gone])).toEqual({ others: 1, leaving: true });
  expect(retirementApprovers(olga, [olga, pat, person('quinn', ['security-officer'])])).toEqual({
    others: 2,
    leaving: false,
  });
  expect(retirementApprovers(olga, [ada, olga, gone])).toBeNull();
});

it('offers nobody retired in a picker of who proves their factors', () => {
  const choices = [
    person('ada', ['custodian']),
    person('bo', ['custodian'], { retiredAt: '2026-02-01T00:00:00.000Z' }),
  ];
  const html = renderToStaticMarkup(
    <FactorFields id="t" label="Approver" proof={emptyProof()} onChange={() => {}} choices={choices} />,
  );
  expect(html).toContain('>ada</option>');
  expect(html).not.toContain('bo</option>');
});
