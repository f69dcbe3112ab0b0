import type { Message } from "../api";
import { session } from "../session";
import { active, listError, listLoaded, openConversation, sortedConversations } from "../state/chat";
import { Avatar } from "../ui/Avatar";
import { whenOf } from "../ui/format";

function preview(m: Message | null, me: string): string {
  if (!m) return "No messages yet";
  const mine = m.sender_id === me ? "You: " : "";
  if (m.is_deleted) return `${mine}Message deleted`;
  if (m.content === null) return "Message hidden by moderation";
  return `${mine}${m.content}`;
}

/** Newest activity first; each item is a button named with the partner id, its preview and unread count describe it. */
export function ConversationList() {
  const me = session.value?.userId ?? "";
  const list = sortedConversations.value;
  if (listError.value && !list.length)
    return (
      <p class="error" role="alert">
        {listError.value}
      </p>
    );
  if (listLoaded.value && !list.length) {
    return (
      <div class="empty small">
        <p class="empty-title">No conversations yet</p>
        <p class="muted">Start one with a match's user id above.</p>
      </div>
    );
  }
  return (
    <ul class="conversations" aria-label="Conversations">
      {list.map((c) => {
        const id = `conv-${c.partner_id}`;
        const unread = c.unread_count;
        return (
          <li key={c.partner_id}>
            <button
              type="button"
              class={`conversation-item${active.value?.partner === c.partner_id ? " current" : ""}${unread ? " unread" : ""}`}
              aria-label={c.partner_id}
              aria-describedby={`${id}-preview ${id}-unread`}
              aria-current={active.value?.partner === c.partner_id ? "true" : undefined}
              onClick={() => openConversation(c.partner_id)}
            >
              <Avatar id={c.partner_id} size={44} />
              <span class="conversation-text">
                <span class="conversation-top">
                  <span class="partner">{c.partner_id}</span>
                  <time class="when" dateTime={c.last_activity_at}>
                    {whenOf(c.last_activity_at)}
                  </time>
                </span>
                <span class="conversation-bottom">
                  <span id={`${id}-preview`} class={`preview${c.last_message?.content == null ? " tombstone" : ""}`}>
                    {preview(c.last_message, me)}
                  </span>
                  <span id={`${id}-unread`} class="badge" hidden={!unread}>
                    {unread ? `${unread} unread` : ""}
                  </span>
                </span>
              </span>
            </button>
          </li>
        );
      })}
    </ul>
  );
}
