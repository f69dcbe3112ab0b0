import { useSignal } from "@preact/signals";
import { type AdminMessage, api, call, describeError } from "../api";
import { Dialog } from "../ui/Dialog";
import { credits } from "../ui/format";
import { AdminAttachments } from "./Attachments";
import { Pager, Select, stamp, Text } from "./Fields";
import { ModerateDialog } from "./ModerateDialog";
import { can } from "./state";

const LIMIT = 20;
const FILTERS = ["user_id", "sender_id", "receiver_id", "moderation_status", "message_type", "status", "from", "to"] as const;
type Filters = Record<(typeof FILTERS)[number] | "q", string> & { include_deleted: boolean };
const EMPTY: Filters = {
  q: "",
  user_id: "",
  sender_id: "",
  receiver_id: "",
  moderation_status: "",
  message_type: "",
  status: "",
  from: "",
  to: "",
  include_deleted: false,
};

/** Any two users' conversation, deleted and blocked messages included. */
function ConversationDialog({ a, b, onClose }: { a: string; b: string; onClose: () => void }) {
  const state = useSignal<{ messages: AdminMessage[] } | { error: string } | null>(null);
  if (state.value === null) {
    state.value = { messages: [] };
    call(() =>
      api.admin.messages.messages.conversation[":user1_id"][":user2_id"].$get({
        param: { user1_id: a, user2_id: b },
        query: { limit: "100" },
      }),
    ).then(
      (page) => {
        state.value = { messages: [...page.messages].reverse() };
      },
      (err) => {
        state.value = { error: describeError(err) };
      },
    );
  }
  const s = state.value;
  return (
    <Dialog title={`Conversation between ${a} and ${b}`} onClose={onClose}>
      {"error" in s ? (
        <p class="error">{s.error}</p>
      ) : s.messages.length ? (
        <ol class="thread">
          {s.messages.map((m) => (
            <li key={m.id} class="line">
              <strong>{m.sender_id}</strong> <span class="muted">{stamp(m.created_at)}</span>{" "}
              {m.is_deleted && <span class="pill">deleted</span>}{" "}
              {m.moderation_status !== "pending" && <span class={`pill ${m.moderation_status}`}>{m.moderation_status}</span>}
              <p>{m.content}</p>
              <AdminAttachments message={m} />
            </li>
          ))}
        </ol>
      ) : (
        <p class="muted">No messages between them.</p>
      )}
    </Dialog>
  );
}

function GrantCredits() {
  const userId = useSignal("");
  const amount = useSignal("10");
  const reason = useSignal("");
  const result = useSignal<{ ok: boolean; text: string } | null>(null);
  return (
    <form
      onSubmit={async (e) => {
        e.preventDefault();
        try {
          const r = await call(() =>
            api.admin.credits.credits.grant.$post({
              json: { user_id: userId.value.trim(), amount: Number(amount.value), reason: reason.value.trim() },
            }),
          );
          result.value = { ok: true, text: `Granted. ${r.user_id} now has ${credits(r.balance)}.` };
          reason.value = "";
        } catch (err) {
          result.value = { ok: false, text: describeError(err) };
        }
      }}
    >
      <fieldset class="filters">
        <legend>Grant credits</legend>
        <Text label="Recipient" value={userId.value} onChange={(v) => (userId.value = v)} />
        <Text label="Amount" type="number" value={amount.value} onChange={(v) => (amount.value = v)} />
        <span class="grow">
          <Text label="Note for the ledger" value={reason.value} onChange={(v) => (reason.value = v)} />
        </span>
        <div class="buttons">
          <button type="submit" class="button">
            Grant
          </button>
        </div>
        {result.value && (
          <p class={`notice grow${result.value.ok ? "" : " bad"}`} role="status">
            {result.value.text}
          </p>
        )}
      </fieldset>
    </form>
  );
}

/** Search with every filter of the contract, paged; moderate in place; open a conversation. */
export function Search() {
  const filters = useSignal<Filters>({ ...EMPTY });
  const page = useSignal<{ messages: AdminMessage[]; total: number; page: number } | null>(null);
  const error = useSignal<string | null>(null);
  const moderating = useSignal<AdminMessage | null>(null);
  const viewing = useSignal<[string, string] | null>(null);
  const set = (k: keyof Filters) => (v: string) => {
    filters.value = { ...filters.value, [k]: v };
  };

  const run = async (n: number) => {
    error.value = null;
    const f = filters.value;
    const query: Record<string, string> = { page: String(n), limit: String(LIMIT) };
    for (const k of [...FILTERS, "q"] as const) if (f[k].trim()) query[k] = f[k].trim();
    if (f.include_deleted) query.include_deleted = "true";
    try {
      const r = await call(() => api.admin.messages.messages.search.$get({ query }));
      page.value = { messages: r.messages, total: r.total, page: r.page };
    } catch (err) {
      error.value = describeError(err);
    }
  };

  const p = page.value;
  const f = filters.value;
  return (
    <section class="card" id="search" aria-labelledby="search-title">
      <h2 id="search-title">Search</h2>
      <form
        class="filters"
        onSubmit={(e) => {
          e.preventDefault();
          void run(1);
        }}
      >
        <label class="field grow">
          <span>Search text</span>
          <input
            type="search"
            value={f.q}
            placeholder="Words in the message; word* for a prefix"
            onInput={(e) => set("q")(e.currentTarget.value)}
          />
        </label>
        <Text label="Participant" value={f.user_id} onChange={set("user_id")} />
        <Text label="Sender" value={f.sender_id} onChange={set("sender_id")} />
        <Text label="Receiver" value={f.receiver_id} onChange={set("receiver_id")} />
        <Select
          label="Moderation filter"
          value={f.moderation_status}
          options={["pending", "approved", "flagged", "blocked"]}
          onChange={set("moderation_status")}
        />
        <Select label="Type" value={f.message_type} options={["text", "image", "video", "audio", "file"]} onChange={set("message_type")} />
        <Select label="Delivery" value={f.status} options={["sent", "delivered", "read", "failed"]} onChange={set("status")} />
        <Text label="From" type="date" value={f.from} onChange={set("from")} />
        <Text label="To" type="date" value={f.to} onChange={set("to")} />
        <label class="check">
          <input
            type="checkbox"
            checked={f.include_deleted}
            onChange={(e) => {
              filters.value = { ...filters.value, include_deleted: e.currentTarget.checked };
            }}
          />
          Include deleted
        </label>
        <div class="buttons">
          <button type="submit" class="button primary">
            Search
          </button>
          <button
            type="button"
            class="button ghost"
            onClick={() => {
              filters.value = { ...EMPTY };
            }}
          >
            Clear
          </button>
        </div>
      </form>
      {can("credits.manage") && <GrantCredits />}
      {error.value && (
        <p class="error" role="alert">
          {error.value}
        </p>
      )}
      {p && (
        <>
          <div class="table-wrap">
            <table>
              <caption>
                {p.total === 0 ? "No messages match." : `${p.total} ${p.total === 1 ? "message" : "messages"} match. Newest first.`}
              </caption>
              <thead>
                <tr>
                  <th scope="col">Sent</th>
                  <th scope="col">From</th>
                  <th scope="col">To</th>
                  <th scope="col">Content</th>
                  <th scope="col">Delivery</th>
                  <th scope="col">Moderation</th>
                  <th scope="col">Actions</th>
                </tr>
              </thead>
              <tbody>
                {p.messages.map((m) => (
                  <tr key={m.id}>
                    <td>{stamp(m.created_at)}</td>
                    <td>{m.sender_id}</td>
                    <td>{m.receiver_id}</td>
                    <td class="content-cell">
                      {m.is_deleted && <span class="pill">deleted</span>} {m.content}
                      {m.content_truncated && "…"}
                      <AdminAttachments message={m} />
                    </td>
                    <td>{m.status}</td>
                    <td>
                      <span class={`pill ${m.moderation_status}`}>{m.moderation_status}</span>
                      {m.moderation_reason && <div class="muted">{m.moderation_reason}</div>}
                    </td>
                    <td>
                      <div class="actions">
                        {can("moderation.action") && (
                          <button type="button" class="button small" onClick={() => (moderating.value = m)}>
                            Moderate
                          </button>
                        )}
                        <button type="button" class="button small ghost" onClick={() => (viewing.value = [m.sender_id, m.receiver_id])}>
                          Conversation
                        </button>
                      </div>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <Pager label="Search result pages" page={p.page} total={p.total} limit={LIMIT} onPage={(page) => void run(page)} />
        </>
      )}
      {moderating.value && (
        <ModerateDialog
          message={moderating.value}
          onClose={() => (moderating.value = null)}
          onDone={(status, reason) => {
            const id = moderating.value?.id;
            if (page.value) {
              page.value = {
                ...page.value,
                messages: page.value.messages.map((m) =>
                  m.id === id ? { ...m, moderation_status: status, moderation_reason: reason || null } : m,
                ),
              };
            }
            moderating.value = null;
          }}
        />
      )}
      {viewing.value && <ConversationDialog a={viewing.value[0]} b={viewing.value[1]} onClose={() => (viewing.value = null)} />}
    </section>
  );
}
