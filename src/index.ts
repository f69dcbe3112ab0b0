import { app } from "./app";
import { pushQueue } from "./queues/push";

export { AuditSealer } from "./durable-objects/audit-sealer";
export { ConversationRoom } from "./durable-objects/conversation-room";
export { Inbox } from "./durable-objects/inbox";

export default { fetch: app.fetch, queue: pushQueue } satisfies ExportedHandler<Env>;
