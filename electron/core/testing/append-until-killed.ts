// Child process for the crash test: appends audited state changes until it is killed.
import { openAudit } from './audit-fixture';
import { Settings } from '../settings/settings';

const dataDir = process.argv[2]!;
const opened = openAudit(dataDir);
const settings = new Settings(opened.store);
let i = Number(settings.get('token.selected')?.serial ?? 0);
for (;;) {
  i += 1;
  const ref = { serial: String(i), label: 'crash' };
  opened.audit.record({ actor: { type: 'operator', id: 'crash-test' }, action: 'token.select', params: ref }, () =>
    settings.set('token.selected', ref),
  );
  if (i % 10 === 0) process.stdout.write(`${i}\n`);
}
