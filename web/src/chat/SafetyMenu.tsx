import { useSignal } from "@preact/signals";
import { closeConversation, openConversation } from "../state/chat";
import {
  blocked,
  blockedView,
  blockUser,
  notice,
  REPORT_REASONS,
  type ReportReason,
  reportUser,
  suspended,
  unblockUser,
  unmatchUser,
} from "../state/safety";
import { Avatar } from "../ui/Avatar";
import { Dialog } from "../ui/Dialog";
import "../ui/safety.css";

function ReportDialog({ partner, onClose }: { partner: string; onClose: () => void }) {
  const reason = useSignal<ReportReason>("harassment");
  const details = useSignal("");
  const alsoBlock = useSignal(false);
  const error = useSignal<string | null>(null);
  const busy = useSignal(false);
  return (
    <Dialog title={`Report ${partner}`} onClose={onClose}>
      <p class="muted">Our moderators see your conversation as it is now, even if {partner} deletes messages later.</p>
      <form
        onSubmit={async (e) => {
          e.preventDefault();
          busy.value = true;
          error.value = await reportUser(partner, { reason: reason.value, details: details.value, alsoBlock: alsoBlock.value });
          busy.value = false;
          if (!error.value) onClose();
        }}
      >
        <div class="field">
          <label for="report-reason">Reason</label>
          <select id="report-reason" value={reason.value} onChange={(e) => (reason.value = e.currentTarget.value as ReportReason)}>
            {REPORT_REASONS.map(([value, label]) => (
              <option key={value} value={value}>
                {label}
              </option>
            ))}
          </select>
        </div>
        <label class="field">
          <span>Details (optional)</span>
          <textarea rows={3} maxLength={2000} value={details.value} onInput={(e) => (details.value = e.currentTarget.value)} />
        </label>
        <label class="check">
          <input type="checkbox" checked={alsoBlock.value} onChange={(e) => (alsoBlock.value = e.currentTarget.checked)} />
          Also block {partner}
        </label>
        {error.value && (
          <p class="error" role="alert">
            {error.value}
          </p>
        )}
        <div class="actions">
          <button type="submit" class="button primary" disabled={busy.value}>
            Send report
          </button>
        </div>
      </form>
    </Dialog>
  );
}

function UnmatchDialog({ partner, onClose }: { partner: string; onClose: () => void }) {
  const error = useSignal<string | null>(null);
  const busy = useSignal(false);
  return (
    <Dialog title={`Unmatch ${partner}?`} onClose={onClose}>
      <p>The conversation ends for both of you and cannot be restored. Neither of you can write to the other again.</p>
      <form
        onSubmit={async (e) => {
          e.preventDefault();
          busy.value = true;
          error.value = await unmatchUser(partner);
          busy.value = false;
          if (!error.value) onClose();
        }}
      >
        {error.value && (
          <p class="error" role="alert">
            {error.value}
          </p>
        )}
        <div class="actions">
          <button type="button" class="button ghost" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" class="button danger" disabled={busy.value}>
            Unmatch
          </button>
        </div>
      </form>
    </Dialog>
  );
}

/** "Block" (or "Unblock"), "Report" and "Unmatch" for the open conversation. Block needs no confirmation: it is undone by Unblock. */
export function SafetyMenu({ partner }: { partner: string }) {
  const dialog = useSignal<"report" | "unmatch" | null>(null);
  const isBlocked = blocked.value.has(partner);
  return (
    <div class="safety-menu">
      <button
        type="button"
        class="button small ghost"
        onClick={() => void (isBlocked ? unblockUser(partner, openConversation) : blockUser(partner))}
      >
        {isBlocked ? "Unblock" : "Block"}
      </button>
      <button type="button" class="button small ghost" onClick={() => (dialog.value = "report")}>
        Report
      </button>
      <button type="button" class="button small ghost" onClick={() => (dialog.value = "unmatch")}>
        Unmatch
      </button>
      {dialog.value === "report" && <ReportDialog partner={partner} onClose={() => (dialog.value = null)} />}
      {dialog.value === "unmatch" && <UnmatchDialog partner={partner} onClose={() => (dialog.value = null)} />}
    </div>
  );
}

/** A partner the user blocks, opened by id: no conversation until they unblock. */
export function BlockedConversation({ partner }: { partner: string }) {
  return (
    <section class="conversation" aria-labelledby="conversation-title">
      <header class="conversation-head">
        <button
          type="button"
          class="icon-button back"
          aria-label="Back to conversations"
          onClick={() => {
            blockedView.value = null;
            closeConversation();
          }}
        >
          <svg viewBox="0 0 24 24" width="22" height="22" aria-hidden="true">
            <path fill="currentColor" d="M15.4 5.4 14 4l-8 8 8 8 1.4-1.4L8.8 12z" />
          </svg>
        </button>
        <Avatar id={partner} size={40} />
        <div class="conversation-title">
          <h2 id="conversation-title">{partner}</h2>
        </div>
        <div class="conversation-actions">
          <SafetyMenu partner={partner} />
        </div>
      </header>
      <div class="empty pane-empty">
        <p class="empty-title">You blocked {partner}</p>
        <p class="muted">They cannot message you. Unblock them to see your conversation again.</p>
      </div>
    </section>
  );
}

/** What safety has to tell the user: a suspended account, the outcome of a block, report or unmatch. */
export function SafetyNotice() {
  return (
    <>
      {suspended.value && (
        <p class="error banner" role="alert">
          Your account is suspended. You can read your conversations, but not send messages.
        </p>
      )}
      {notice.value && (
        <p class={`notice${notice.value.bad ? " bad" : ""}`} role="status">
          {notice.value.text}{" "}
          <button type="button" class="button small ghost" onClick={() => (notice.value = null)}>
            Dismiss
          </button>
        </p>
      )}
    </>
  );
}
