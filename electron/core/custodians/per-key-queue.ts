/**
 * Runs tasks one at a time per key, in the order they were queued. Factor checks await scrypt;
 * two checks of one custodian must still read and write the failure count and last TOTP step
 * one after the other, or one code could pass twice and a failure could be lost.
 */
export class PerKeyQueue {
  private readonly tails = new Map<string, Promise<unknown>>();

  run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    const result = previous.then(task, task);
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return result;
  }

  /**
   * Settles once no task is queued or running, including tasks queued by those that finish meanwhile; null when none
   * is (so a caller with nothing to wait for goes on at once).
   */
  idle(): Promise<void> | null {
    if (this.tails.size === 0) return null;
    return (async () => {
      while (this.tails.size > 0) await Promise.all(this.tails.values());
    })();
  }
}
