import { app } from "./app";

export { AuditSealer } from "./durable-objects/audit-sealer";
export { ConversationRoom } from "./durable-objects/conversation-room";
export { Inbox } from "./durable-objects/inbox";

export default { fetch: app.fetch } satisfies ExportedHandler<Env>;
