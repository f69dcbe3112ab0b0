import { useRef, useState } from "preact/hooks";
import { ACCEPT } from "../state/attachments";
import type { ConversationStore } from "../state/conversation";

/** The composer's paperclip: opens the file picker; the file becomes the draft the next Send takes. */
export function AttachmentPicker({ store }: { store: ConversationStore }) {
  const input = useRef<HTMLInputElement>(null);
  return (
    <>
      <button
        type="button"
        class="icon-button attach"
        aria-label="Attach a photo or file"
        title="Photo, video, voice note or PDF"
        onClick={() => input.current?.click()}
      >
        <svg viewBox="0 0 24 24" width="22" height="22" aria-hidden="true">
          <path
            fill="currentColor"
            d="M16.5 6.5v10a4.5 4.5 0 0 1-9 0V6a3 3 0 0 1 6 0v9.5a1.5 1.5 0 0 1-3 0V6.5H9v9a3 3 0 0 0 6 0V6a4.5 4.5 0 0 0-9 0v10.5a6 6 0 0 0 12 0v-10h-1.5z"
          />
        </svg>
      </button>
      <input
        ref={input}
        type="file"
        accept={ACCEPT}
        hidden
        onChange={(e) => {
          const file = e.currentTarget.files?.[0];
          e.currentTarget.value = "";
          if (file) void store.attach(file);
        }}
      />
    </>
  );
}

const carriesFiles = (e: DragEvent) => Array.from(e.dataTransfer?.types ?? []).includes("Files");

/** Dropping a file anywhere on the conversation attaches it; `dragging` drives the "Drop to attach" overlay. */
export function useDropTarget(store: ConversationStore) {
  const [dragging, setDragging] = useState(false);
  const depth = useRef(0);
  return {
    dragging,
    handlers: {
      onDragEnter: (e: DragEvent) => {
        if (!carriesFiles(e)) return;
        e.preventDefault();
        depth.current++;
        setDragging(true);
      },
      onDragOver: (e: DragEvent) => {
        if (!carriesFiles(e)) return;
        e.preventDefault();
        if (e.dataTransfer) e.dataTransfer.dropEffect = "copy";
      },
      onDragLeave: (e: DragEvent) => {
        if (!carriesFiles(e)) return;
        depth.current = Math.max(0, depth.current - 1);
        if (!depth.current) setDragging(false);
      },
      onDrop: (e: DragEvent) => {
        if (!carriesFiles(e)) return;
        e.preventDefault();
        depth.current = 0;
        setDragging(false);
        const file = e.dataTransfer?.files[0];
        if (file) void store.attach(file);
      },
    },
  };
}

export function DropOverlay() {
  return (
    <div class="drop-overlay" aria-hidden="true">
      <p>Drop to attach</p>
    </div>
  );
}
