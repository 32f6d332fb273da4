import type { EventHub } from '../events/event-hub';
import type { Handlers } from '../ipc/router';
import type { AuditPlans } from '../ipc/request-record';
import type { AuditOperations } from './audit-operations';
import type { AuditService } from './audit-service';

type AuditChannel = 'audit.status' | 'audit.checkpoint' | 'audit.page' | 'audit.entry' | 'audit.verify';

export const auditLogPlan: AuditPlans<AuditChannel> = {
  'audit.status': { action: 'audit.status', self: false, params: false },
  'audit.checkpoint': { action: 'audit.checkpoint', self: true, params: false },
  // Scrolling fetches many pages: only the first page of a query (a search) is recorded.
  'audit.page': { action: 'audit.search', self: false, params: true },
  'audit.entry': { action: 'audit.read', self: false, params: true },
  'audit.verify': { action: 'audit.verify', self: true, params: false },
};

export function auditHandlers({
  audit,
  operations,
  events,
}: {
  audit: AuditService;
  operations: AuditOperations;
  events: EventHub;
}): Pick<Handlers, AuditChannel> {
  return {
    'audit.status': () => audit.status(),
    'audit.checkpoint': () => operations.checkpoint('on demand'),
    'audit.page': ({ filter, offset, limit }) => operations.browser().page(filter, offset, limit),
    'audit.entry': ({ seq }) => operations.browser().entry(seq),
    'audit.verify': () =>
      operations.verify({
        onProgress: (checked, total) => events.emit('audit.verifyProgress', { checked, total: total ?? checked }),
      }),
  };
}
