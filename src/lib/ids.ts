/** Opaque, unguessable ids with a prefix that says what they name (msg_, txn_, aud_, att_). */
export const newId = (prefix: "msg" | "txn" | "aud" | "att"): string => `${prefix}_${crypto.randomUUID().replaceAll("-", "")}`;

/** One conversation per unordered pair: the same id whoever of the two asks. */
export function conversationIdOf(a: string, b: string): string {
  return a < b ? `${a}:${b}` : `${b}:${a}`;
}

export function participantsOf(conversationId: string): [string, string] {
  const [low, high] = conversationId.split(":");
  return [low ?? "", high ?? ""];
}
