import type { ValidationRecord } from '../../../shared/compliance';
import type { ModuleStatus } from '../../../shared/tokens';

/**
 * What a report says about the token a ceremony ran on: maker, model, whether it is a software
 * token, and the validation recorded for its module. A software token never counts as validated,
 * whatever is recorded for its library.
 */
export function tokenFacts(
  status: ModuleStatus,
  ref: { serial: string; label: string },
  recorded: (ValidationRecord & { recordedAt: string }) | undefined,
): Record<string, unknown> {
  if (status.state !== 'ready') return { ...ref, validation: 'unknown (token module unavailable)' };
  const token = status.slots.map((s) => s.token).find((t) => t?.serial === ref.serial && t.label === ref.label);
  const software = token?.software.software ? token.software.product : (status.module.software?.product ?? null);
  const validation = software
    ? `none: software token (${software}), not a FIPS 140-3 validated HSM`
    : recorded
      ? `${recorded.standard} certificate #${recorded.certificate}, level ${recorded.level} (recorded ${recorded.recordedAt.slice(0, 10)})`
      : 'none recorded';
  return {
    ...ref,
    manufacturer: token?.manufacturer ?? null,
    model: token?.model ?? null,
    kind: software ? 'software token' : 'hardware token',
    module: status.module.path,
    validation,
  };
}
