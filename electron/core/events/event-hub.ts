import type { EventName, PayloadOf } from '../../../shared/ipc-schema';
import { eventPayload } from '../../../shared/ipc-schema';

export type EventListener = (event: EventName, payload: unknown) => void;

/** Push events from the core to whoever shows them (Electron windows, the e2e harness, tests). */
export class EventHub {
  private readonly listeners = new Set<EventListener>();

  subscribe(listener: EventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  emit<E extends EventName>(event: E, payload: PayloadOf<E>): void {
    // Parsed like results: only declared fields leave the core.
    const parsed: unknown = eventPayload(event).parse(payload);
    for (const listener of this.listeners) listener(event, parsed);
  }
}
