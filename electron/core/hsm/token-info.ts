import pkcs11js from 'pkcs11js';
import type { SlotInfo, TokenInfo } from '../../../shared/tokens';
import { recogniseSoftwareToken } from './software-tokens';
import { tokenProfile } from './token-profiles';

/** Slot flags from the PKCS#11 spec that pkcs11js's typings omit. */
export const CKF_TOKEN_PRESENT = 0x1;
const CKF_REMOVABLE_DEVICE = 0x2;
const CKF_HW_SLOT = 0x4;

const has = (flags: number, flag: number) => (flags & flag) !== 0;
const version = (v: { major: number; minor: number }) => `${v.major}.${v.minor}`;
/** PKCS#11 pads its fixed-width strings with spaces. */
export const trimPadded = (s: string) => s.replace(/[\s\0]+$/u, '');

/**
 * A token as the custodian sees it. `hardwareMechanisms` counts the token's mechanisms flagged
 * CKF_HW; it is asked only when neither the maker nor the slot settles whether it is software.
 */
export function describeToken(
  slot: pkcs11js.SlotInfo,
  raw: pkcs11js.TokenInfo,
  hardwareMechanisms: () => number,
): TokenInfo {
  const f = raw.flags;
  const userPin = {
    initialized: has(f, pkcs11js.CKF_USER_PIN_INITIALIZED),
    countLow: has(f, pkcs11js.CKF_USER_PIN_COUNT_LOW),
    finalTry: has(f, pkcs11js.CKF_USER_PIN_FINAL_TRY),
    locked: has(f, pkcs11js.CKF_USER_PIN_LOCKED),
    toBeChanged: has(f, pkcs11js.CKF_USER_PIN_TO_BE_CHANGED),
  };
  const soPin = {
    countLow: has(f, pkcs11js.CKF_SO_PIN_COUNT_LOW),
    finalTry: has(f, pkcs11js.CKF_SO_PIN_FINAL_TRY),
    locked: has(f, pkcs11js.CKF_SO_PIN_LOCKED),
    toBeChanged: has(f, pkcs11js.CKF_SO_PIN_TO_BE_CHANGED),
  };
  const initialized = has(f, pkcs11js.CKF_TOKEN_INITIALIZED);
  const writeProtected = has(f, pkcs11js.CKF_WRITE_PROTECTED);
  const manufacturer = trimPadded(raw.manufacturerID);
  const model = trimPadded(raw.model);
  return {
    slotDescription: trimPadded(slot.slotDescription),
    label: trimPadded(raw.label),
    serial: trimPadded(raw.serialNumber),
    manufacturer,
    model,
    hardwareVersion: version(raw.hardwareVersion),
    firmwareVersion: version(raw.firmwareVersion),
    initialized,
    loginRequired: has(f, pkcs11js.CKF_LOGIN_REQUIRED),
    hasRng: has(f, pkcs11js.CKF_RNG),
    writeProtected,
    protectedAuthenticationPath: has(f, pkcs11js.CKF_PROTECTED_AUTHENTICATION_PATH),
    minPinLength: raw.minPinLen,
    maxPinLength: raw.maxPinLen,
    blankInitNeedsSoPin: tokenProfile({ manufacturer: trimPadded(raw.manufacturerID), model: trimPadded(raw.model) })
      .blankInitNeedsSoPin,
    userPin,
    soPin,
    warnings: pinWarnings({ initialized, writeProtected, userPin, soPin }),
    software: recogniseSoftwareToken(
      { manufacturer, model },
      { hardwareSlot: has(slot.flags, CKF_HW_SLOT), hardwareMechanisms },
    ),
  };
}

function pinWarnings(t: {
  initialized: boolean;
  writeProtected: boolean;
  userPin: TokenInfo['userPin'];
  soPin: TokenInfo['soPin'];
}): string[] {
  const warnings: string[] = [];
  if (!t.initialized) warnings.push('This token is blank: it must be initialised in a custody ceremony before use.');
  else if (!t.userPin.initialized)
    warnings.push('The user PIN has not been set: take the token into custody before use.');
  if (t.userPin.locked)
    warnings.push('User PIN LOCKED: the token refuses every login until a security officer unlocks it.');
  else if (t.userPin.finalTry) warnings.push('User PIN: one more wrong attempt will LOCK this token.');
  else if (t.userPin.countLow)
    warnings.push('User PIN: wrong attempts have been recorded; the token is closer to locking.');
  if (t.userPin.toBeChanged) warnings.push('User PIN must be changed before it can be used.');
  if (t.soPin.locked) warnings.push('SO PIN LOCKED: the security-officer PIN can no longer be used on this token.');
  else if (t.soPin.finalTry) warnings.push('SO PIN: one more wrong attempt will LOCK the security-officer PIN.');
  else if (t.soPin.countLow) warnings.push('SO PIN: wrong attempts have been recorded.');
  if (t.writeProtected) warnings.push('The token is write-protected: keys cannot be generated or changed on it.');
  return warnings;
}

export function describeSlot(raw: pkcs11js.SlotInfo, token: TokenInfo | null): SlotInfo {
  return {
    description: trimPadded(raw.slotDescription),
    manufacturer: trimPadded(raw.manufacturerID),
    tokenPresent: has(raw.flags, CKF_TOKEN_PRESENT),
    removableDevice: has(raw.flags, CKF_REMOVABLE_DEVICE),
    hardwareSlot: has(raw.flags, CKF_HW_SLOT),
    token,
  };
}
