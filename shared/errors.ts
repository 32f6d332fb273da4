import { z } from 'zod';

/**
 * Every error that crosses the IPC boundary or leaves the CLI carries one of these codes.
 * They are a public contract: scripts and the UI branch on them, so never rename one.
 */
export const ErrorCode = z.enum([
  // IPC boundary
  'IPC_UNKNOWN_CHANNEL',
  'IPC_INVALID_PAYLOAD',
  // Token module (PKCS#11 library)
  'MODULE_NOT_FOUND',
  'MODULE_LOAD_FAILED',
  'MODULE_UNSAFE',
  'MODULE_OVERRIDDEN',
  'MODULE_NOT_CHOSEN',
  /** The saved module path does not carry the audit key's signature: not chosen through Custos. */
  'MODULE_SETTING_TAMPERED',
  /** A saved setting (a module's recorded validation, the checkpoint copy) is not what the audit log recorded. */
  'SETTING_TAMPERED',
  'SOFTHSM_NOT_INSTALLED',
  'SOFTHSM_TOKEN_DIR_MISSING',
  // Tokens and sessions
  'TOKEN_NOT_FOUND',
  'TOKEN_AMBIGUOUS',
  'TOKEN_NOT_PRESENT',
  'TOKEN_NOT_RECOGNIZED',
  'TOKEN_REMOVED',
  'TOKEN_WRITE_PROTECTED',
  'TOKEN_NOT_INITIALIZED',
  'PIN_INCORRECT',
  'PIN_LOCKED',
  'PIN_INVALID',
  'PIN_EXPIRED',
  'SESSION_CLOSED',
  'SESSION_LIMIT',
  'NOT_LOGGED_IN',
  'ALREADY_LOGGED_IN',
  'FUNCTION_NOT_SUPPORTED',
  'MECHANISM_INVALID',
  /** No longer raised (split into the codes below); kept so outcomes recorded before the split still read. */
  'KEY_INVALID',
  /** The inventory holds no key with that id. */
  'KEY_NOT_FOUND',
  /** The key's SP 800-57 state does not allow this (a transition, a use, a restore of a destroyed key). */
  'KEY_STATE_FORBIDS',
  /** The dated algorithm policy disallows the key's algorithm today. */
  'ALGORITHM_DISALLOWED',
  /** The key's originator-usage period (SP 800-57 §5.3) has ended: it applies no new protection, it still processes. */
  'KEY_PERIOD_ENDED',
  /** The key's algorithm cannot do what was asked (a public key of an AES key, a signature by one). */
  'KEY_TYPE_UNSUITED',
  /** A destruction is waiting: its period is not over, or the key is condemned and cannot be used. */
  'DESTRUCTION_WAITING',
  /** No destruction of the key is scheduled (to cancel, or to carry out). */
  'DESTRUCTION_NOT_SCHEDULED',
  /** The target token already holds objects with a key's CKA_ID. */
  'KEY_ALREADY_IN_TOKEN',
  /**
   * A key unwrapped from a backup (restored, or the backup's own check) is not the key recorded: check value, modulus
   * or signature.
   */
  'RESTORE_MISMATCH',
  /** The token refused a key for this step (its type, size, attributes or wrapping): the CKR_ name is in the detail. */
  'TOKEN_KEY_REFUSED',
  /** A key's or destruction schedule's stored record was changed outside Custos (signature or seq does not match). */
  'KEY_TAMPERED',
  'DESTRUCTION_TAMPERED',
  /** A key action asked of a custody (or officer) whose token is not the one the key lives in. */
  'KEY_WRONG_TOKEN',
  /** The token holds none of a key's objects: nothing to destroy, so no proof of absence is certified. */
  'KEY_OBJECTS_MISSING',
  /**
   * A destruction failed after the token had destroyed some of the key's objects: the key is recorded as partly
   * destroyed (which objects went, which remain), is never used again, and a new destruction finishes it.
   */
  'KEY_PARTLY_DESTROYED',
  /** The token's key under a key's id is not the key the inventory recorded (its signature does not verify). */
  'KEY_MATERIAL_MISMATCH',
  /** Marking a key compromised without saying why (SP 800-57 §5.3.4: the notice names the reason). */
  'REASON_REQUIRED',
  /** A key's usage attributes in the token are not the least-privilege set Custos asked for. */
  'KEY_ATTRIBUTES_MISMATCH',
  'ATTRIBUTE_INVALID',
  'OBJECT_INVALID',
  'DATA_INVALID',
  'TOKEN_MEMORY_FULL',
  'TOKEN_DEVICE_ERROR',
  'TOKEN_GENERAL_ERROR',
  'TOKEN_ERROR',
  'TOKEN_RESERVED',
  /** The token lacks a mechanism or attribute an action needs: refused when proposed, before any approval. */
  'TOKEN_CAPABILITY_MISSING',
  // Audit log
  'AUDIT_UNAVAILABLE',
  'AUDIT_KEY_MISMATCH',
  'AUDIT_VERIFY_FAILED',
  'AUDIT_BUNDLE_INVALID',
  'AUDIT_NOT_FOUND',
  'AUDIT_TREE_CORRUPT',
  /** The log no longer extends a checkpoint kept outside the database (the audit token, its copy). */
  'AUDIT_ROLLBACK',
  /** The data directory is a copy of an installation still in use elsewhere: one audit key, two logs. */
  'DATA_DIR_COPIED',
  // Custodians and their factors
  'CUSTODIAN_NOT_FOUND',
  /** A name given on the command line matches more than one custodian. */
  'CUSTODIAN_AMBIGUOUS',
  'CUSTODIAN_EXISTS',
  'CUSTODIAN_LOCKED',
  'CUSTODIAN_TAMPERED',
  /** The person was retired: their factors are refused everywhere, for good. */
  'CUSTODIAN_RETIRED',
  /** A retirement refused while the person still holds a share, a card, or a place in an open proposal/enrolment. */
  'CUSTODIAN_STILL_HOLDS',
  /** Retiring this security officer would leave the installation with none. */
  'CUSTODIAN_LAST_OFFICER',
  'PASSPHRASE_WEAK',
  'PASSPHRASE_INCORRECT',
  'TOTP_INCORRECT',
  'TOTP_REPLAYED',
  'FACTORS_THROTTLED',
  'ENROLMENT_EXPIRED',
  'CLOCK_BACKWARDS',
  'NOT_AUTHORIZED',
  'QUORUM_INVALID',
  'SHARE_MISMATCH',
  'SHARE_TYPO',
  'SHARE_FOREIGN',
  'SHARE_DUPLICATE',
  'BACKUP_INVALID',
  /** The KEK the cards rebuilt does not vouch for the manifest (its MAC): changed after it was made. */
  'BACKUP_MAC_MISMATCH',
  /** The backup names another audit key than the one pinned for the installation that made it. */
  'BACKUP_AUDIT_KEY_MISMATCH',
  /** A format-1 backup from another installation: nothing there can vouch for it here. */
  'BACKUP_NOT_PORTABLE',
  'BACKUP_NOT_FOUND',
  /** The quorum retired this backup set: it is never restored again. */
  'BACKUP_RETIRED',
  /** A card is confirmed destroyed only once the quorum has retired its set. */
  'BACKUP_NOT_RETIRED',
  /** Key transport: the recipient's public key was not recorded as trusted by a security officer. */
  'TRANSPORT_RECIPIENT_UNTRUSTED',
  /** A trusted recipient's record was changed outside Custos. */
  'TRANSPORT_RECIPIENT_TAMPERED',
  /** A key transport package that is malformed, not for this installation's keys, or changed after it was made. */
  'TRANSPORT_PACKAGE_INVALID',
  'TRANSPORT_PACKAGE_NOT_FOUND',
  /** The token cannot do the unwrap step a package needs (SoftHSM2: no RSA-OAEP with SHA-256). */
  'TRANSPORT_MECHANISM_MISSING',
  'REPORT_NOT_FOUND',
  /** A report folder lacks report.pdf or the signed report-pdf.json / report-pdf.sig that bind it to the report. */
  'REPORT_PDF_MISSING',
  /** report.pdf is not the one printed from this report.json (changed, or from another report). */
  'REPORT_PDF_MISMATCH',
  /** A FIPS validation was recorded for a software token's library: software tokens are never validated HSMs. */
  'MODULE_IS_SOFTWARE',
  'QUORUM_NOT_MET',
  'CUSTODY_NOT_FOUND',
  /** A custody record (threshold, holders, token, state) was changed outside Custos. */
  'CUSTODY_TAMPERED',
  'CUSTODY_HALF_CHANGED',
  /** Taking a token into custody that is already in (or pending) custody: turnover is the way to change holders. */
  'TOKEN_IN_CUSTODY',
  /** A blank token that wants its current (factory) SO PIN to be initialised, and none was entered. */
  'SO_PIN_REQUIRED',
  'PROPOSAL_NOT_FOUND',
  'PROPOSAL_CLOSED',
  'PROPOSAL_EXPIRED',
  'FINGERPRINT_MISMATCH',
  /** A stored proposal's body no longer hashes to the fingerprint its signed audit entry recorded. */
  'PROPOSAL_TAMPERED',
  'SELF_APPROVAL',
  'ALREADY_APPROVED',
  'ACTION_UNKNOWN',
  'PROPOSAL_INVALID',
  'OPERATION_INTERRUPTED',
  /** An approved operation ran in the token, but its outcome could not be saved (a full disk, the audit token gone). */
  'OPERATION_UNRECORDED',
  // Certificates (PKI ceremonies)
  /** A certificate profile breaks RFC 5280 or the key's cryptoperiod: each reason is named in the remedy. */
  'CERT_PROFILE_REFUSED',
  'CERT_NOT_FOUND',
  /** A certificate request that is not PKCS#10, whose signature does not verify, or signed with SHA-1. */
  'CSR_INVALID',
  /** Issuing or revoking under a CA key that has no CA certificate here yet (cert.self-sign comes first). */
  'CA_CERT_MISSING',
  // Ceremony scripts and their runs
  /** A ceremony script that does not parse, names an unknown action or person, or that the quorum cannot approve. */
  'CEREMONY_SCRIPT_INVALID',
  'CEREMONY_NOT_FOUND',
  /** A run started, or a step done, outside the window the script was written for. */
  'CEREMONY_OUTSIDE_WINDOW',
  /** A step done before the one the run is at, by someone the script does not name for it, or in a closed run. */
  'CEREMONY_STEP_REFUSED',
  /** A run's record or script was changed outside Custos (it no longer matches its signed audit entries). */
  'CEREMONY_TAMPERED',
  /** A rehearsal is already active (one at a time), or none is and the request needs one. */
  'REHEARSAL_ACTIVE',
  'REHEARSAL_NOT_ACTIVE',
  /** The rehearsal's process stopped before it answered; the real installation is back. */
  'REHEARSAL_STOPPED',
  /** Only a rehearsal's scratch installation does this (its stand-in keys). */
  'REHEARSAL_ONLY',
  // Store (SQLite)
  'STORE_LOCKED',
  'STORE_CORRUPT',
  /** The database's schema (tables, columns, triggers) is not what Custos makes: rewritten outside Custos. */
  'STORE_SCHEMA_ALTERED',
  'STORE_UNREADABLE',
  'STORE_TOO_NEW',
  'STORE_MIGRATION_FAILED',
  'STORE_DISK_FULL',
  'STORE_READ_ONLY',
  /** The CLI asked for an answer and standard input ended first. */
  'INPUT_ENDED',
  /** A file or folder named on the command line: missing, not allowed, or already there. */
  'FILE_NOT_FOUND',
  'FILE_ACCESS_DENIED',
  'FILE_EXISTS',
  /** A file Custos writes needs a place chosen at the console (the CLI's --out / --file), and none was. */
  'DESTINATION_NOT_CHOSEN',
  // Anything we did not anticipate; details go to the main-process log, never to the UI.
  'INTERNAL',
]);
export type ErrorCode = z.infer<typeof ErrorCode>;

/**
 * Where a token refused an operation: the CKR_ name it returned, the PKCS#11 function (the step)
 * that returned it, and the mechanism or attribute Custos had asked for there. Names only, never
 * values: nothing here is secret.
 */
/**
 * What kind of failure each code is, for scripts (the CLI's exit code) and people. Every code is in
 * exactly one list; electron/cli/exit-codes.test.ts fails on a code added without a class.
 * - token: the token or its library (3); store: the database (4); input: the request as given (5);
 * - integrity: something failed verification or was changed outside Custos (6);
 * - refused: a factor, a permission, the quorum or the current state says no (7); failure: unexpected (1).
 */
export type ErrorClass = 'token' | 'store' | 'input' | 'integrity' | 'refused' | 'failure';

const classes: Record<ErrorClass, readonly ErrorCode[]> = {
  token: [
    'MODULE_NOT_FOUND',
    'MODULE_LOAD_FAILED',
    'MODULE_UNSAFE',
    'MODULE_NOT_CHOSEN',
    'SOFTHSM_NOT_INSTALLED',
    'SOFTHSM_TOKEN_DIR_MISSING',
    'TOKEN_NOT_FOUND',
    'TOKEN_AMBIGUOUS',
    'TOKEN_NOT_PRESENT',
    'TOKEN_NOT_RECOGNIZED',
    'TOKEN_REMOVED',
    'TOKEN_WRITE_PROTECTED',
    'TOKEN_NOT_INITIALIZED',
    'PIN_INCORRECT',
    'PIN_LOCKED',
    'PIN_INVALID',
    'PIN_EXPIRED',
    'SESSION_CLOSED',
    'SESSION_LIMIT',
    'NOT_LOGGED_IN',
    'ALREADY_LOGGED_IN',
    'FUNCTION_NOT_SUPPORTED',
    'MECHANISM_INVALID',
    'KEY_INVALID',
    'TOKEN_KEY_REFUSED',
    'KEY_OBJECTS_MISSING',
    'KEY_PARTLY_DESTROYED',
    'KEY_ATTRIBUTES_MISMATCH',
    'ATTRIBUTE_INVALID',
    'OBJECT_INVALID',
    'DATA_INVALID',
    'TOKEN_MEMORY_FULL',
    'TOKEN_DEVICE_ERROR',
    'TOKEN_GENERAL_ERROR',
    'TOKEN_ERROR',
    'TOKEN_CAPABILITY_MISSING',
    'TRANSPORT_MECHANISM_MISSING',
    'AUDIT_UNAVAILABLE',
    'OPERATION_INTERRUPTED',
  ],
  store: [
    'STORE_LOCKED',
    'STORE_CORRUPT',
    'STORE_SCHEMA_ALTERED',
    'STORE_UNREADABLE',
    'STORE_TOO_NEW',
    'STORE_MIGRATION_FAILED',
    'STORE_DISK_FULL',
    'STORE_READ_ONLY',
    'OPERATION_UNRECORDED',
  ],
  input: [
    'IPC_UNKNOWN_CHANNEL',
    'IPC_INVALID_PAYLOAD',
    'PROPOSAL_INVALID',
    'QUORUM_INVALID',
    'ACTION_UNKNOWN',
    'PASSPHRASE_WEAK',
    'SHARE_TYPO',
    'SHARE_FOREIGN',
    'SHARE_DUPLICATE',
    'SO_PIN_REQUIRED',
    'CUSTODIAN_NOT_FOUND',
    'CUSTODIAN_AMBIGUOUS',
    'CUSTODY_NOT_FOUND',
    'PROPOSAL_NOT_FOUND',
    'BACKUP_NOT_FOUND',
    'REPORT_NOT_FOUND',
    'AUDIT_NOT_FOUND',
    'TOKEN_RESERVED',
    'MODULE_OVERRIDDEN',
    'INPUT_ENDED',
    'FILE_NOT_FOUND',
    'FILE_ACCESS_DENIED',
    'FILE_EXISTS',
    'DESTINATION_NOT_CHOSEN',
    'MODULE_IS_SOFTWARE',
    'KEY_NOT_FOUND',
    'KEY_TYPE_UNSUITED',
    'REASON_REQUIRED',
    'CERT_PROFILE_REFUSED',
    'CERT_NOT_FOUND',
    'CA_CERT_MISSING',
    'TRANSPORT_PACKAGE_NOT_FOUND',
    'CEREMONY_SCRIPT_INVALID',
    'CEREMONY_NOT_FOUND',
  ],
  integrity: [
    'PROPOSAL_TAMPERED',
    'CSR_INVALID',
    'BACKUP_MAC_MISMATCH',
    'BACKUP_AUDIT_KEY_MISMATCH',
    'AUDIT_VERIFY_FAILED',
    'AUDIT_BUNDLE_INVALID',
    'AUDIT_KEY_MISMATCH',
    'AUDIT_TREE_CORRUPT',
    'AUDIT_ROLLBACK',
    'MODULE_SETTING_TAMPERED',
    'SETTING_TAMPERED',
    'KEY_TAMPERED',
    'KEY_MATERIAL_MISMATCH',
    'DESTRUCTION_TAMPERED',
    'CUSTODIAN_TAMPERED',
    'CUSTODY_TAMPERED',
    'CUSTODY_HALF_CHANGED',
    'SHARE_MISMATCH',
    'BACKUP_INVALID',
    'REPORT_PDF_MISSING',
    'REPORT_PDF_MISMATCH',
    'RESTORE_MISMATCH',
    'TRANSPORT_RECIPIENT_TAMPERED',
    'TRANSPORT_PACKAGE_INVALID',
    'CEREMONY_TAMPERED',
  ],
  refused: [
    'BACKUP_NOT_PORTABLE',
    'PASSPHRASE_INCORRECT',
    'TOTP_INCORRECT',
    'TOTP_REPLAYED',
    'FACTORS_THROTTLED',
    'CUSTODIAN_LOCKED',
    'CUSTODIAN_EXISTS',
    'CUSTODIAN_RETIRED',
    'CUSTODIAN_STILL_HOLDS',
    'CUSTODIAN_LAST_OFFICER',
    'ENROLMENT_EXPIRED',
    'CLOCK_BACKWARDS',
    'NOT_AUTHORIZED',
    'QUORUM_NOT_MET',
    'TOKEN_IN_CUSTODY',
    'PROPOSAL_CLOSED',
    'PROPOSAL_EXPIRED',
    'FINGERPRINT_MISMATCH',
    'SELF_APPROVAL',
    'ALREADY_APPROVED',
    'KEY_WRONG_TOKEN',
    'DATA_DIR_COPIED',
    'KEY_STATE_FORBIDS',
    'ALGORITHM_DISALLOWED',
    'KEY_PERIOD_ENDED',
    'DESTRUCTION_WAITING',
    'DESTRUCTION_NOT_SCHEDULED',
    'KEY_ALREADY_IN_TOKEN',
    'BACKUP_RETIRED',
    'BACKUP_NOT_RETIRED',
    'TRANSPORT_RECIPIENT_UNTRUSTED',
    'CEREMONY_OUTSIDE_WINDOW',
    'CEREMONY_STEP_REFUSED',
    'REHEARSAL_ACTIVE',
    'REHEARSAL_NOT_ACTIVE',
    'REHEARSAL_ONLY',
  ],
  failure: ['INTERNAL', 'REHEARSAL_STOPPED'],
};

/** Each code's class, from the lists above. */
export function errorClass(code: ErrorCode): ErrorClass {
  for (const [kind, codes] of Object.entries(classes) as [ErrorClass, readonly ErrorCode[]][])
    if (codes.includes(code)) return kind;
  return 'failure';
}

/** Every code in each class, for the test that each code is in exactly one. */
export const ERROR_CLASSES: Readonly<Record<ErrorClass, readonly ErrorCode[]>> = classes;

export const TokenFailureDetail = z.strictObject({
  ckr: z
    .string()
    .regex(/^CKR_[A-Z0-9_]+$/)
    .optional(),
  step: z
    .string()
    .regex(/^C_[A-Za-z]+$/)
    .optional(),
  mechanism: z.string().max(64).optional(),
  attribute: z.string().max(64).optional(),
});
export type TokenFailureDetail = z.infer<typeof TokenFailureDetail>;

export const WireError = z.object({
  code: ErrorCode,
  message: z.string(),
  /** What the person in front of the screen can do about it, one step per entry. */
  remedy: z.array(z.string()),
  /**
   * Whose factors were refused, when the refusal is about one person's passphrase or code (or their lockout), so that
   * a form asking several people at once can point at that person's fields. Never anything secret.
   */
  custodianId: z.string().max(64).optional(),
  /**
   * Which parameter of the request the refusal is about, by its name in the action's parameters (`label` of
   * key.generate), when it is about one alone: a form with a field for it shows the words there and links to it.
   */
  field: z.string().max(64).optional(),
});
export type WireError = z.infer<typeof WireError>;

/** The only shape a result ever has on the wire. */
export type Envelope<T> = { ok: true; value: T } | { ok: false; error: WireError };
