import { useSignal } from "@preact/signals";
import { session } from "../session";
import { active, auth, balance, inboxState, openConversation, signOut } from "../state/chat";
import { blockedView } from "../state/safety";
import { Avatar } from "../ui/Avatar";
import { credits } from "../ui/format";
import { SignIn } from "../ui/SignIn";
import { Conversation } from "./Conversation";
import { ConversationList } from "./ConversationList";
import { NotificationsToggle } from "./NotificationsToggle";
import { BlockedConversation, SafetyMenu, SafetyNotice } from "./SafetyMenu";

const USER_ID = /^[A-Za-z0-9_-]{1,64}$/;

function StartConversation() {
  const partner = useSignal("");
  const error = useSignal<string | null>(null);
  return (
    <form
      class="start"
      onSubmit={(e) => {
        e.preventDefault();
        const id = partner.value.trim();
        if (!USER_ID.test(id)) error.value = "A user id is 1–64 letters, digits, _ or -.";
        else if (id === session.value?.userId) error.value = "That is you. Pick someone else.";
        else {
          error.value = null;
          partner.value = "";
          openConversation(id);
        }
      }}
    >
      <label class="visually-hidden" for="partner-id">
        Partner id
      </label>
      <input
        id="partner-id"
        placeholder="Partner id"
        autoComplete="off"
        value={partner.value}
        aria-invalid={error.value ? "true" : undefined}
        aria-describedby={error.value ? "partner-error" : undefined}
        onInput={(e) => {
          partner.value = e.currentTarget.value;
        }}
      />
      <button type="submit" class="button">
        Start
      </button>
      {error.value && (
        <p id="partner-error" class="error-text">
          {error.value}
        </p>
      )}
    </form>
  );
}

function ConnectionStatus() {
  const down = inboxState.value === "reconnecting" || active.value?.socket.state.value === "reconnecting";
  if (!down) return null;
  return (
    <p class="reconnecting" role="status" aria-label="Reconnecting">
      <span class="spinner" aria-hidden="true" /> Reconnecting…
    </p>
  );
}

function ChatShell() {
  const me = session.value?.userId ?? "";
  const store = active.value;
  const blockedPartner = blockedView.value;
  return (
    <div class={`chat${store || blockedPartner ? " has-active" : ""}`}>
      <aside class="sidebar">
        <header class="topbar">
          <div class="brand">
            <span class="brand-mark" aria-hidden="true">
              ♥
            </span>{" "}
            Pairly
          </div>
          <span class="balance" role="status" aria-label={balance.value === null ? undefined : credits(balance.value)}>
            {balance.value === null ? "" : credits(balance.value)}
          </span>
        </header>
        <div class="me">
          <Avatar id={me} size={32} />
          <span class="me-name" title={me}>
            {me}
          </span>
          <button type="button" class="button ghost small" onClick={() => void signOut()}>
            Sign out
          </button>
        </div>
        <NotificationsToggle />
        <StartConversation />
        <ConnectionStatus />
        <SafetyNotice />
        <nav class="list-wrap" aria-label="Your conversations">
          <ConversationList />
        </nav>
      </aside>
      <main class="pane">
        {store ? (
          <Conversation key={store.partner} store={store} header={<SafetyMenu partner={store.partner} />} />
        ) : blockedPartner ? (
          <BlockedConversation partner={blockedPartner} />
        ) : (
          <div class="empty pane-empty">
            <p class="empty-title">Pick a conversation</p>
            <p class="muted">Or start a new one with a match's user id.</p>
          </div>
        )}
      </main>
    </div>
  );
}

export function App() {
  if (!session.value) {
    return <SignIn title="Your conversations" lead="Chat with your matches in real time." onSignIn={auth.signIn} />;
  }
  return <ChatShell />;
}
