import { useSignal } from "@preact/signals";
import { type AdminMessage, api, call, describeError } from "../api";
import { Dialog } from "../ui/Dialog";

const STATUSES = ["pending", "approved", "flagged", "blocked"] as const;
type Status = (typeof STATUSES)[number];

/** Moderate one message with a reason; the caller shows the result in place at once. */
export function ModerateDialog({
  message,
  onDone,
  onClose,
}: {
  message: AdminMessage;
  onDone: (status: Status, reason: string) => void;
  onClose: () => void;
}) {
  const status = useSignal<Status>(message.moderation_status === "blocked" ? "approved" : "blocked");
  const reason = useSignal("");
  const error = useSignal<string | null>(null);
  const busy = useSignal(false);
  return (
    <Dialog title="Moderate message" onClose={onClose}>
      <blockquote class="thread">
        <p class="line">{message.content || "(no content)"}</p>
      </blockquote>
      <form
        onSubmit={async (e) => {
          e.preventDefault();
          busy.value = true;
          error.value = null;
          try {
            const text = reason.value.trim();
            await call(() =>
              api.admin.messages.messages[":message_id"].moderate.$post({
                param: { message_id: message.id },
                json: { moderation_status: status.value, ...(text && { reason: text }) },
              }),
            );
            onDone(status.value, text);
          } catch (err) {
            error.value = describeError(err);
          } finally {
            busy.value = false;
          }
        }}
      >
        <div class="field">
          <label for="moderation-status">Moderation status</label>
          <select
            id="moderation-status"
            value={status.value}
            onChange={(e) => {
              status.value = e.currentTarget.value as Status;
            }}
          >
            {STATUSES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </div>
        <label class="field">
          <span>Reason</span>
          <input
            value={reason.value}
            required={status.value === "flagged" || status.value === "blocked"}
            maxLength={1000}
            onInput={(e) => {
              reason.value = e.currentTarget.value;
            }}
          />
        </label>
        {error.value && (
          <p class="error" role="alert">
            {error.value}
          </p>
        )}
        <div class="actions">
          <button type="submit" class="button primary" disabled={busy.value}>
            Apply
          </button>
        </div>
      </form>
    </Dialog>
  );
}
