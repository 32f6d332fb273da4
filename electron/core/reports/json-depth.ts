/**
 * A report nests a dozen levels at most. What a report carries is read by recursive checks (canonical JSON of an
 * outcome, a proposal body), so a report.json, or JSON text inside it, nested thousands deep overflowed the stack and
 * `report verify` ended as INTERNAL instead of failing the check that reads it.
 */
export const MAX_REPORT_DEPTH = 64;

/** Whether any array or object lies deeper than `max` levels, found without recursion. */
export function nestsDeeper(value: unknown, max = MAX_REPORT_DEPTH): boolean {
  const stack: [unknown, number][] = [[value, 0]];
  for (let next = stack.pop(); next; next = stack.pop()) {
    const [item, depth] = next;
    if (typeof item !== 'object' || item === null) continue;
    if (depth >= max) return true;
    for (const child of Object.values(item)) stack.push([child, depth + 1]);
  }
  return false;
}

/** JSON.parse for JSON text a report carries: throws, as for text that is not JSON, when it nests deeper than that. */
export function parseCarriedJson(text: string): unknown {
  const value: unknown = JSON.parse(text);
  if (nestsDeeper(value)) throw new SyntaxError(`nested deeper than ${MAX_REPORT_DEPTH} levels`);
  return value;
}
