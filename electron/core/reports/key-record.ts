/** What a run's outcome records of one key: its id, and its fingerprint and check value where it records them. */
export interface RecordedKey {
  keyId: string;
  fingerprint?: unknown;
  kcv?: unknown;
}

/**
 * Every key a run's outcome names, with the facts it records of each (a generation, each key a restore proved…). A
 * rotation's result names the old key as `keyId` and records the successor's fingerprint and check value beside
 * `successorId`: read as the old key's, they failed a genuine rotation's report.
 */
export function keysRecorded(action: string | undefined, outcome: unknown): RecordedKey[] {
  const result = (outcome as { result?: Record<string, unknown> } | null)?.result;
  if (action === 'key.rotate' && typeof result === 'object' && result !== null) {
    const { keyId, successorId, fingerprint, kcv } = result;
    return [
      ...(typeof keyId === 'string' ? [{ keyId }] : []),
      ...(typeof successorId === 'string' ? [{ keyId: successorId, fingerprint, kcv }] : []),
    ];
  }
  return objectsNamingKeys(outcome, []);
}

function objectsNamingKeys(value: unknown, found: RecordedKey[]): RecordedKey[] {
  if (Array.isArray(value)) value.forEach((item) => objectsNamingKeys(item, found));
  else if (typeof value === 'object' && value !== null) {
    const o = value as Record<string, unknown>;
    if (typeof o.keyId === 'string') found.push(o as unknown as RecordedKey);
    Object.values(o).forEach((item) => objectsNamingKeys(item, found));
  }
  return found;
}
