import { generateSecret, generateSync, generateURI, verifySync } from 'otplib';
import { CustosError } from '../errors';

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
  const epoch = Math.floor(now.getTime() / 1000);
  // A last-used step beyond the window means this computer's clock now reads earlier than when
  // that code was accepted: the clock went backwards. Say so rather than fail obscurely.
  if (afterTimeStep !== null && afterTimeStep > Math.floor(epoch / TOTP_PERIOD) + 1) {
    throw new CustosError(
      'CLOCK_BACKWARDS',
      'This computer’s clock reads earlier than when your last code was accepted: it seems to have gone backwards.',
      ['Stop and check the clock against a trusted source. Nothing was approved.'],
    );
  }
  const result = verifySync({
    secret,
    token: code,
    epoch,
    epochTolerance: TOTP_PERIOD,
    ...(afterTimeStep === null ? {} : { afterTimeStep }),
  });
  return result.valid && 'timeStep' in result ? result.timeStep : null;
}

/** For tests and the CLI's self-check only: the code an authenticator would show at `now`. */
export function totpCodeAt(secret: string, now: Date): string {
  return generateSync({ secret, epoch: Math.floor(now.getTime() / 1000) });
}
