import type { Migration } from '../migrate';
import { settings } from './0001-settings';
import { auditLog } from './0002-audit-log';
import { custodians } from './0003-custodians';
import { custody } from './0004-custody';
import { proposals } from './0005-proposals';
import { keys } from './0006-keys';
import { destruction } from './0007-destruction';
import { executions } from './0008-executions';
import { backups } from './0009-backups';
import { reports } from './0010-reports';
import { witnesses } from './0011-witnesses';
import { custodianState } from './0012-custodian-state';
import { recordState } from './0013-record-state';
import { custodyPinBits } from './0014-custody-pin-bits';
import { auditTreeByAppend } from './0015-audit-tree-by-append';
import { proposalDecision } from './0016-proposal-decision';
import { keyCompromiseReason } from './0017-key-compromise-reason';
import { backupRetirement } from './0018-backup-retirement';
import { keyFamilies } from './0019-key-families';
import { certificates } from './0020-certificates';
import { keyTransport } from './0021-key-transport';
import { ceremonyRuns } from './0022-ceremony-runs';
import { recordHeads } from './0023-record-heads';
import { custodianRetirement } from './0024-custodian-retirement';
import { keyPartialDestruction } from './0025-key-partial-destruction';

/** In version order; the runner refuses gaps and reordering. */
export const migrations: readonly Migration[] = [
  settings,
  auditLog,
  custodians,
  custody,
  proposals,
  keys,
  destruction,
  executions,
  backups,
  reports,
  witnesses,
  custodianState,
  recordState,
  custodyPinBits,
  auditTreeByAppend,
  proposalDecision,
  keyCompromiseReason,
  backupRetirement,
  keyFamilies,
  certificates,
  keyTransport,
  ceremonyRuns,
  recordHeads,
  custodianRetirement,
  keyPartialDestruction,
];
