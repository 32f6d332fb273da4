import { opencryptokiUnavailable, stopOpencryptoki } from './opencryptoki-fixture';

/** vitest globalSetup of the opencryptoki run: the tests start pkcsslotd, and stop it when they are done. */
export function teardown(): void {
  if (opencryptokiUnavailable() === null) stopOpencryptoki();
}
