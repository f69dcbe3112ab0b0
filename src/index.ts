import { app } from "./app";

export { ConversationRoom } from "./durable-objects/conversation-room";
export { Inbox } from "./durable-objects/inbox";

export default { fetch: app.fetch } satisfies ExportedHandler<Env>;
