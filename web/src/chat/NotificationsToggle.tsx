import { disableNotifications, enableNotifications, pushError, pushState } from "../push/client";
import { session } from "../session";

function Bell({ off }: { off?: boolean }) {
  return (
    <svg viewBox="0 0 24 24" width="18" height="18" aria-hidden="true">
      <path
        fill="currentColor"
        d="M12 22a2.5 2.5 0 0 0 2.45-2h-4.9A2.5 2.5 0 0 0 12 22zm7-6V11a7 7 0 0 0-5.5-6.84V3.5a1.5 1.5 0 0 0-3 0v.66A7 7 0 0 0 5 11v5l-2 2v1h18v-1l-2-2z"
      />
      {off && <path stroke="currentColor" stroke-width="2" d="M4 4l16 16" />}
    </svg>
  );
}

/** "Enable notifications", or what they are on this device: on (with a way to turn them off) or blocked by the browser. */
export function NotificationsToggle() {
  const me = session.value?.userId;
  const state = pushState.value;
  if (!me || state === "unsupported") return null;
  if (state === "on") {
    return (
      <div class="notify on">
        <Bell />
        <p class="notify-text" role="status">
          Notifications on
        </p>
        <button type="button" class="button ghost small" onClick={() => void disableNotifications(me)}>
          Turn off
        </button>
      </div>
    );
  }
  if (state === "denied") {
    return (
      <div class="notify denied">
        <Bell off />
        <p class="notify-text" role="status">
          Notifications are blocked for Pairly in your browser's site settings.
        </p>
      </div>
    );
  }
  const working = state === "working";
  return (
    <div class="notify">
      <Bell />
      <button
        type="button"
        class="notify-enable"
        title="Know when your matches write, even with Pairly closed"
        disabled={working}
        aria-busy={working ? "true" : undefined}
        onClick={() => void enableNotifications(me)}
      >
        Enable notifications
      </button>
      {state === "failed" && pushError.value && (
        <p class="error-text notify-error" role="alert">
          {pushError.value}
        </p>
      )}
    </div>
  );
}
