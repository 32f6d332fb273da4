import { useEffect, useMemo } from 'react';
import type { ProposalLookups } from '../../../shared/actions';
import { useCustos } from '../store/context';

/**
 * What a proposal's parameters point at, from what the app already holds: the key list (loaded
 * here if no screen has yet), the custodians, the tokens in custody and the backup sets.
 */
export function useProposalLookups(): ProposalLookups {
  const keys = useCustos((s) => s.keys);
  const loadKeys = useCustos((s) => s.loadKeys);
  const custodians = useCustos((s) => s.custodians);
  const custodies = useCustos((s) => s.custodies);
  const backups = useCustos((s) => s.backups);
  useEffect(() => {
    if (keys === null) void loadKeys();
  }, [keys, loadKeys]);
  return useMemo(
    () => ({
      key: (id) => keys?.find((k) => k.id === id) ?? null,
      person: (id) => custodians?.find((c) => c.id === id)?.name ?? null,
      token: (serial) => custodies?.find((c) => c.token.serial === serial)?.token.label ?? null,
      backup: (setId) => backups?.find((b) => b.setId === setId) ?? null,
    }),
    [keys, custodians, custodies, backups],
  );
}
