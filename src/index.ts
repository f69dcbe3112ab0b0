import { app } from "./app";
import { pushQueue } from "./queues/push";
import { scheduled } from "./scheduled";

export { AuditSealer } from "./durable-objects/audit-sealer";
export { ConversationRoom } from "./durable-objects/conversation-room";
export { Inbox } from "./durable-objects/inbox";
export { UserErasure } from "./durable-objects/user-erasure";

export default { fetch: app.fetch, queue: pushQueue, scheduled } satisfies ExportedHandler<Env>;
