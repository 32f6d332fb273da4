import { KeyParams } from '../../../shared/actions';
import type { KeyCopy } from '../../../shared/backups';
import type { TokenRef } from '../../../shared/tokens';
import type { Need } from '../hsm/capabilities';
import type { ProposalCheck, QuorumOperation, QuorumReconciler } from '../quorum/quorum-service';
import type { Store } from '../store/database';
import { destructionActions } from './destruction';
import { generationCheck, generationNeeds, keyGeneration, reconcileGeneration, testSignature } from './key-generation';
import type { KeyAction, KeyInventory, KeyTransition } from './key-inventory';
import { keyRotation, reconcileRotation } from './key-rotation';

/*
 * What keys/ contributes to the quorum's registry: every action on a key, with its checks, needs and
 * reconcilers. The composition root (custos-core.ts) assembles the registry from these and the other
 * folders' contributions, so quorum/ never imports the folders whose actions it runs.
 */

/** A key state change the quorum approved, committed with the execution's audit entry. */
function keyTransition(inventory: KeyInventory, transition: KeyTransition): KeyAction {
  const ready = (params: unknown, token: TokenRef) => {
    const { keyId } = KeyParams.parse(params);
    inventory.checkToken(keyId, token);
    inventory.check(keyId, transition, 'quorum');
    return keyId;
  };
  return {
    ready,
    run: ({ params, token }) => {
      const keyId = ready(params, token);
      const commit = () => inventory.transition(keyId, transition, 'quorum', { type: 'system', id: 'system' });
      return { result: { keyId, transition }, commit };
    },
  };
}

/** Every quorum action on an existing key: bound to the key's token, checked when proposed and when run. */
function keyActions(
  store: Store,
  now: () => Date,
  inventory: KeyInventory,
  copiesOf?: (keyId: string) => KeyCopy[],
): Record<string, KeyAction> {
  return {
    'key.test-signature': testSignature(store, inventory),
    'key.activate': keyTransition(inventory, 'activate'),
    'key.deactivate': keyTransition(inventory, 'deactivate'),
    'key.reactivate': keyTransition(inventory, 'reactivate'),
    'key.rotate': keyRotation(store, now, inventory),
    ...destructionActions(store, inventory, now, copiesOf).actions,
  };
}

/**
 * The key operations a quorum can approve, by action name. Each runs once, inside the session the
 * rebuilt PIN opened, and returns only what may be shown and recorded (never key material).
 */
export function keyOperations(
  store: Store,
  now: () => Date,
  inventory: KeyInventory,
  copiesOf?: (keyId: string) => KeyCopy[],
): Record<string, QuorumOperation> {
  const keyed = Object.entries(keyActions(store, now, inventory, copiesOf)).map(
    ([action, { run }]) => [action, run] as const,
  );
  return {
    'key.generate': keyGeneration(store, now, inventory),
    ...Object.fromEntries(keyed),
  };
}

/** How each key action a crash interrupted is settled: at start, or at the next quorum login on its token. */
export function keyReconcilers(
  store: Store,
  now: () => Date,
  inventory: KeyInventory,
  copiesOf?: (keyId: string) => KeyCopy[],
): Record<string, QuorumReconciler> {
  return {
    'key.generate': reconcileGeneration(store, now, inventory),
    'key.destroy': destructionActions(store, inventory, now, copiesOf).reconcile,
    'key.rotate': reconcileRotation(store, now, inventory),
  };
}

/** What each action needs from the token (mechanisms, attributes): checked when proposed, before any approval. */
export function keyNeeds(
  store: Store,
  now: () => Date,
  inventory: KeyInventory,
): Record<string, (params: unknown) => Need[]> {
  const keyed = Object.entries(keyActions(store, now, inventory)).flatMap(([action, { needs }]) =>
    needs ? [[action, needs] as const] : [],
  );
  return { 'key.generate': generationNeeds, ...Object.fromEntries(keyed) };
}

/**
 * What must hold when an action is proposed: the key is the custody token's, in a state that allows it; a new key's
 * label reads as no other key's.
 */
export function keyChecks(store: Store, now: () => Date, inventory: KeyInventory): Record<string, ProposalCheck> {
  const check =
    (ready: KeyAction['ready']): ProposalCheck =>
    (params, custody) =>
      ready(params, custody.token);
  return {
    'key.generate': generationCheck(inventory),
    ...Object.fromEntries(
      Object.entries(keyActions(store, now, inventory)).map(([action, { ready }]) => [action, check(ready)]),
    ),
  };
}
