import type { ComponentChildren } from "preact";
import { useRef, useState } from "preact/hooks";
import { balance } from "../state/chat";
import type { ConversationStore } from "../state/conversation";
import { DraftAttachment } from "./AttachmentView";

const MAX = 4000;

/** Enter sends, Shift+Enter is a new line. `tools` is where an attachment picker goes. */
export function Composer({ store, tools }: { store: ConversationStore; tools?: ComponentChildren }) {
  const [text, setText] = useState("");
  const ref = useRef<HTMLTextAreaElement>(null);
  const broke = balance.value === 0;
  const draft = store.draft.value;

  const submit = () => {
    const content = text.trim();
    if (!content && !store.draft.value) return;
    setText("");
    if (ref.current) ref.current.style.height = "";
    void store.send(content, undefined, store.takeDraft());
  };

  return (
    <form
      class="composer"
      onSubmit={(e) => {
        e.preventDefault();
        submit();
      }}
    >
      {(draft || store.draftError.value) && (
        <div class="composer-draft">
          {draft && <DraftAttachment att={draft} onRemove={() => store.discardDraft()} />}
          {store.draftError.value && (
            <p class="error-text" role="alert">
              {store.draftError.value}
            </p>
          )}
        </div>
      )}
      {tools}
      <label class="visually-hidden" for="composer-input">
        Message
      </label>
      <textarea
        id="composer-input"
        ref={ref}
        rows={1}
        maxLength={MAX}
        placeholder={draft ? "Add a caption" : "Write a message"}
        value={text}
        onInput={(e) => {
          const el = e.currentTarget;
          setText(el.value);
          el.style.height = "";
          el.style.height = `${Math.min(el.scrollHeight, 160)}px`;
          store.typing(el.value.trim().length > 0);
        }}
        onKeyDown={(e) => {
          if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
            e.preventDefault();
            submit();
          }
        }}
        onBlur={() => store.stopTyping()}
      />
      <button
        type="submit"
        class="button primary send"
        disabled={!text.trim() && !draft}
        title={broke ? "You have no credits left" : undefined}
      >
        Send
      </button>
    </form>
  );
}
