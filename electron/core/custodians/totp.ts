import { generateSecret, generateSync, generateURI, verifySync } from 'otplib';

/** RFC 6238 with otplib: 30-second steps, ±1 step accepted, a step never accepted twice. */
export const TOTP_PERIOD = 30;

export function newTotpSecret(): string {
  return generateSecret();
}

export function totpUri(secret: string, account: string): string {
  return generateURI({ issuer: 'Custos', label: account, secret });
}

/**
 * The accepted time step, or null. `afterTimeStep` is the last step this custodian used, so a
 * code seen once (even within its window) is refused the second time.
 */
export function acceptTotp(secret: string, code: string, afterTimeStep: number | null, now: Date): number | null {
  if (!/^\d{6}$/.test(code)) return null;
  const result = verifySync({
    secret,
    token: code,
    epoch: Math.floor(now.getTime() / 1000),
    epochTolerance: TOTP_PERIOD,
    ...(afterTimeStep === null ? {} : { afterTimeStep }),
  });
  return result.valid && 'timeStep' in result ? result.timeStep : null;
}

/** For tests and the CLI's self-check only: the code an authenticator would show at `now`. */
export function totpCodeAt(secret: string, now: Date): string {
  return generateSync({ secret, epoch: Math.floor(now.getTime() / 1000) });
}
