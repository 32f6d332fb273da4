import { z } from 'zod';
import { ValidationRecord } from '../../../shared/compliance';
import { TokenRef } from '../../../shared/tokens';
import { CustosError } from '../errors';
import type { Store } from '../store/database';
import { sql } from '../store/sql';

const settingSchemas = {
  'token.modulePath': z.string().nullable(),
  /** The audit key's signature over the saved module path (base64): a database writer cannot choose the library. */
  'token.moduleSignature': z.string().max(200).nullable(),
  'token.selected': TokenRef.nullable(),
  'installation.id': z
    .string()
    .regex(/^[0-9a-f]{16}$/)
    .nullable(),
  'audit.vault': z.enum(['file', 'os-keystore']).nullable(),
  /** A second place for the latest checkpoint (removable media), besides the audit token; null for none. */
  'audit.anchorCopy': z.string().min(1).max(4096).nullable(),
  /** When setting the audit token up began (ISO time), until its key is on record: a start that stopped part-way. */
  'audit.provisioning': z.string().max(64).nullable(),
  /** FIPS validations the organisation recorded, by module path (checked by people against the CMVP list). */
  'compliance.validations': z.record(z.string(), ValidationRecord.extend({ recordedAt: z.string() })),
} as const;
type SettingKey = keyof typeof settingSchemas;
type SettingValue<K extends SettingKey> = z.infer<(typeof settingSchemas)[K]>;

const defaults: { [K in SettingKey]: SettingValue<K> } = {
  'token.modulePath': null,
  'token.moduleSignature': null,
  'token.selected': null,
  'installation.id': null,
  'audit.vault': null,
  'audit.anchorCopy': null,
  'audit.provisioning': null,
  'compliance.validations': {},
};

/** Typed, validated application settings kept in the database. Never holds a secret. */
export class Settings {
  constructor(
    private readonly store: Store,
    private readonly clock: () => Date = () => new Date(),
  ) {}

  get<K extends SettingKey>(key: K): SettingValue<K> {
    const row = this.store.get<{ value: string }>(sql`SELECT value FROM settings WHERE key = ${key}`);
    if (!row) return defaults[key];
    try {
      return settingSchemas[key].parse(JSON.parse(row.value)) as SettingValue<K>;
    } catch (error) {
      throw new CustosError(
        'STORE_CORRUPT',
        `The saved setting “${key}” is damaged.`,
        ['Restore the data directory from backup, or set it again in Settings.'],
        { cause: error },
      );
    }
  }

  set<K extends SettingKey>(key: K, value: SettingValue<K>): void {
    const json = JSON.stringify(settingSchemas[key].parse(value));
    const now = this.clock().toISOString();
    this.store.execute(sql`
      INSERT INTO settings (key, value, updated_at) VALUES (${key}, ${json}, ${now})
      ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`);
  }
}
