import { app } from "./app";
import { scheduled } from "./scheduled";

export { ConversationRoom } from "./durable-objects/conversation-room";
export { Inbox } from "./durable-objects/inbox";

export default { fetch: app.fetch, scheduled } satisfies ExportedHandler<Env>;
