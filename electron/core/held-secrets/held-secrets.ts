/**
 * Secrets held in main-process memory for a limited time, by proposal and custodian: unsealed
 * PIN shares, new holders' passphrase keys, backup shares entered at a ceremony. Each is
 * overwritten when it expires, is replaced, or is dropped; all die with the process.
 */
export class HeldSecrets {
  private readonly byProposal = new Map<string, Map<string, { secret: Uint8Array; expiresAt: Date }>>();

  constructor(private readonly clock: () => Date) {}

  hold(proposalId: string, holder: string, secret: Uint8Array, expiresAt: Date): void {
    const holding = this.byProposal.get(proposalId) ?? new Map<string, { secret: Uint8Array; expiresAt: Date }>();
    holding.get(holder)?.secret.fill(0);
    const entry = { secret, expiresAt };
    holding.set(holder, entry);
    this.byProposal.set(proposalId, holding);
    // Overwritten when its time is up even if nobody looks at the proposal again (beyond a timer's
    // reach, ~24 days, only a test clock goes; there the next look overwrites it).
    const delay = expiresAt.getTime() - this.clock().getTime();
    if (delay <= 0x7fffffff) {
      setTimeout(
        () => {
          if (holding.get(holder) !== entry) return;
          entry.secret.fill(0);
          holding.delete(holder);
        },
        Math.max(0, delay),
      ).unref();
    }
  }

  /** What is still held for the proposal, after overwriting whatever expired. */
  live(proposalId: string): [string, Uint8Array][] {
    const holding = this.byProposal.get(proposalId);
    if (!holding) return [];
    const now = this.clock();
    for (const [holder, held] of holding) {
      if (held.expiresAt <= now) {
        held.secret.fill(0);
        holding.delete(holder);
      }
    }
    return [...holding.entries()].map(([holder, held]) => [holder, held.secret]);
  }

  drop(proposalId: string): void {
    for (const { secret } of this.byProposal.get(proposalId)?.values() ?? []) secret.fill(0);
    this.byProposal.delete(proposalId);
  }

  clear(): void {
    for (const id of [...this.byProposal.keys()]) this.drop(id);
  }
}
