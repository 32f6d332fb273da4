import { renderToStaticMarkup } from 'react-dom/server';
import { expect, it } from 'vitest';
import { ErrorNotice } from './ErrorNotice';

it('titles an operation done in the token but not on record as such, whatever the screen’s own title says', () => {
  const notice = (code: 'OPERATION_UNRECORDED' | 'STORE_DISK_FULL') =>
    renderToStaticMarkup(<ErrorNotice error={{ code, message: 'm', remedy: [] }} title="Nothing was changed" />);
  expect(notice('OPERATION_UNRECORDED')).toContain('Done in the token, not yet on record');
  expect(notice('OPERATION_UNRECORDED')).not.toContain('Nothing was changed');
  expect(notice('STORE_DISK_FULL')).toContain('Nothing was changed');
});
