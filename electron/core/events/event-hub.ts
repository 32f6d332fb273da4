import type { EventName, PayloadOf } from '../../../shared/ipc-schema';
import { eventPayload } from '../../../shared/ipc-schema';

export type EventListener = (event: EventName, payload: unknown) => void;

/** Push events from the core to whoever shows them (Electron windows, the e2e harness, tests). */
export class EventHub {
  private readonly listeners = new Set<EventListener>();
  /** During a rehearsal the screens show the scratch installation: its events are relayed, this core's held back. */
  private diverted = false;

  subscribe(listener: EventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  emit<E extends EventName>(event: E, payload: PayloadOf<E>): void {
    if (!this.diverted || event.startsWith('rehearsals.')) this.deliver(event, payload);
  }

  divert(diverted: boolean): void {
    this.diverted = diverted;
  }

  /** An event of the rehearsal's scratch installation, delivered while the screens show it. */
  relay(event: EventName, payload: unknown): void {
    if (this.diverted && !event.startsWith('rehearsals.')) this.deliver(event, payload);
  }

  private deliver(event: EventName, payload: unknown): void {
    // Parsed like results: only declared fields leave the core.
    const parsed: unknown = eventPayload(event).parse(payload);
    for (const listener of this.listeners) listener(event, parsed);
  }
}
