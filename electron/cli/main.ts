import { runCli } from './cli';

declare const __CUSTOS_VERSION__: string;

runCli(
  process.argv.slice(2),
  { stdout: (t) => process.stdout.write(t), stderr: (t) => process.stderr.write(t), env: process.env },
  typeof __CUSTOS_VERSION__ === 'string' ? __CUSTOS_VERSION__ : 'source',
)
  .then((code) => {
    process.exitCode = code;
  })
  .catch((error: unknown) => {
    process.stderr.write(`Error INTERNAL: ${error instanceof Error ? error.message : 'unexpected failure'}\n`);
    process.exitCode = 1;
  });
