import type { Migration } from '../migrate';

/**
 * Who rejected or cancelled a proposal and why. Signed by the audit key with the seq of the entry
 * that recorded the decision (like custodians and keys), so a reason a database writer edits is
 * shown as tampered, never believed. Decisions from before this version keep a null reason.
 */
export const proposalDecision: Migration = {
  version: 16,
  name: 'proposal-decision',
  up(db) {
    db.exec(`
      ALTER TABLE proposals ADD COLUMN decided_by TEXT REFERENCES custodians (id);
      ALTER TABLE proposals ADD COLUMN decision_reason TEXT;
      ALTER TABLE proposals ADD COLUMN decision_seq INTEGER;
      ALTER TABLE proposals ADD COLUMN decision_sig BLOB;
    `);
  },
};
