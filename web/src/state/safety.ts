/**
 * The chat client's side of safety: whom the user blocks, and what happens when a conversation ends
 * (a block, an unmatch, on this device or another, told by the inbox socket) or the account is
 * suspended. A conversation that ends disappears from the screen at once.
 */
import { signal } from "@preact/signals";
import { ApiError, api, call, describeError } from "../api";
import { active, closeConversation, conversations, inboxState } from "./chat";

export const REPORT_REASONS = [
  ["harassment", "Harassment"],
  ["spam", "Spam"],
  ["scam", "Scam or fraud"],
  ["inappropriate", "Inappropriate content"],
  ["underage", "May be under 18"],
  ["other", "Something else"],
] as const;
export type ReportReason = (typeof REPORT_REASONS)[number][0];

/** Partners the user blocks (the first 100; enough to show "Unblock" where it matters). */
export const blocked = signal<ReadonlySet<string>>(new Set());
/** A blocked partner the user opened: shown as a pane with "Unblock", never as a live conversation. */
export const blockedView = signal<string | null>(null);
/** Set once the server says the account is suspended (a refused send, or sockets closed with 4403). */
export const suspended = signal(false);
/** One line for the user after a safety action ("Report sent", "You unmatched …"). */
export const notice = signal<{ text: string; bad?: boolean } | null>(null);

const withBlocked = (partner: string, on: boolean) => {
  const next = new Set(blocked.value);
  if (on) next.add(partner);
  else next.delete(partner);
  blocked.value = next;
};

export async function loadBlocks() {
  try {
    const page = await call(() => api.blocks.index.$get({ query: { limit: "100" } }));
    blocked.value = new Set(page.blocks.map((b) => b.user_id));
  } catch {
    // The list shows its own errors; without the block list, "Block" is offered where "Unblock" would be.
  }
}

export function resetSafety() {
  blocked.value = new Set();
  blockedView.value = null;
  suspended.value = false;
  notice.value = null;
}

/** The conversation with `partner` leaves the screen now: the list, and the pane if it is open. */
export function conversationGone(partner: string) {
  conversations.value = conversations.value.filter((c) => c.partner_id !== partner);
  if (active.value?.partner === partner) closeConversation();
  if (blockedView.value === partner) blockedView.value = null;
}

/** Inbox events: `conversation.removed` (this user blocked, or either unmatched), `conversation.restored` (unblocked). */
export function onSafetyEvent(e: { type: string } & Record<string, unknown>, refresh: () => void) {
  const partner = String(e.partner_id ?? "");
  if (e.type === "conversation.removed") {
    if (e.reason === "blocked") withBlocked(partner, true);
    conversationGone(partner);
  } else if (e.type === "conversation.restored") {
    withBlocked(partner, false);
    refresh();
  }
}

/** Opening a partner the user blocks shows the blocked pane instead of a conversation. */
export function showsBlocked(partner: string): boolean {
  blockedView.value = blocked.value.has(partner) ? partner : null;
  return blockedView.value !== null;
}

export async function blockUser(partner: string) {
  try {
    await call(() => api.blocks.index.$post({ json: { user_id: partner } }));
    withBlocked(partner, true);
    conversationGone(partner);
    notice.value = { text: `You blocked ${partner}. They can no longer message you.` };
  } catch (err) {
    notice.value = { text: describeError(err), bad: true };
  }
}

export async function unblockUser(partner: string, reopen: (partner: string) => void) {
  try {
    await call(() => api.blocks[":user_id"].$delete({ param: { user_id: partner } }));
    withBlocked(partner, false);
    blockedView.value = null;
    notice.value = { text: `You unblocked ${partner}.` };
    reopen(partner);
  } catch (err) {
    notice.value = { text: describeError(err), bad: true };
  }
}

export async function unmatchUser(partner: string): Promise<string | null> {
  try {
    await call(() => api.unmatch[":partner_id"].unmatch.$post({ param: { partner_id: partner } }));
    conversationGone(partner);
    notice.value = { text: `You unmatched ${partner}. The conversation has ended for both of you.` };
    return null;
  } catch (err) {
    return describeError(err);
  }
}

export async function reportUser(
  partner: string,
  r: { reason: ReportReason; details: string; alsoBlock: boolean },
): Promise<string | null> {
  try {
    const details = r.details.trim();
    await call(() =>
      api.reports.index.$post({ json: { user_id: partner, reason: r.reason, block: r.alsoBlock, ...(details && { details }) } }),
    );
    if (r.alsoBlock) {
      withBlocked(partner, true);
      conversationGone(partner);
    }
    notice.value = { text: `Thanks. Your report about ${partner} was sent${r.alsoBlock ? ", and they are blocked" : ""}.` };
    return null;
  } catch (err) {
    if (err instanceof ApiError && err.code === "rate_limited") return "You have sent several reports just now. Try again in a minute.";
    return describeError(err);
  }
}

/**
 * Words for a send the safety rules refused, or null for any other failure. Every refusal gets a
 * sentence the user can act on; none is ever a silent failure.
 */
export function safetyRefusal(err: unknown, partner: string): string | null {
  if (!(err instanceof ApiError)) return null;
  const details = err.details ?? {};
  if (err.code === "forbidden" && details.reason === "suspended") {
    suspended.value = true;
    return "Not sent: your account is suspended. You can still read your conversations.";
  }
  if (err.code === "forbidden" && details.reason === "first_contact") {
    return details.rule === "limit"
      ? `Not sent: until ${partner} replies you can send ${Number(details.limit)} message${Number(details.limit) === 1 ? "" : "s"}.`
      : `Not sent: until ${partner} replies, send text only, without photos, links or contact details.`;
  }
  if (err.code === "conflict" && details.reason === "blocking") return `Not sent: you blocked ${partner}. Unblock them to send messages.`;
  if (err.code === "not_found") return `Not sent: ${partner} cannot be reached.`;
  return null;
}

/**
 * A conversation socket whose upgrade failed while the inbox socket is open: the server is there and
 * refused it (404: blocked or unmatched; the 4029 limits are close codes, so never this). Not retried.
 */
export const upgradeRefused = () => inboxState.value === "open";

/** A conversation socket the server closed for good: 4404 (blocked or unmatched), 4403 (suspended). */
export function socketEnded(code: number) {
  if (code === 4403) suspended.value = true;
}
