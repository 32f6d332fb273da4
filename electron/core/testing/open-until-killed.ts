// Child process for the crash tests: opens the audit log, dying (SIGKILL) when it first timestamps entry `n` (from 1).
import { openAudit } from './audit-fixture';

const [dataDir, n] = [process.argv[2]!, Number(process.argv[3])];
let calls = 0;
openAudit(dataDir, () => {
  calls += 1;
  if (calls >= n) process.kill(process.pid, 'SIGKILL');
  return new Date();
});
process.stdout.write('opened\n');
