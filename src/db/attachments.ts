import { and, eq, inArray, lt, sql } from "drizzle-orm";
import type { Db } from "./client";
import type { Constraint } from "./constraints";
import { type AttachmentRow, attachmentClaimGuard, attachments, messages } from "./schema";

export type NewAttachmentRow = typeof attachments.$inferInsert;

export const insertAttachment = (db: Db, row: NewAttachmentRow) => db.insert(attachments).values(row);

export const findAttachment = (db: Db, id: string): Promise<AttachmentRow | undefined> =>
  db.select().from(attachments).where(eq(attachments.id, id)).get();

/**
 * The upload's bytes are in R2 under `r2Key`: the row moves pending → uploaded only if it still is
 * pending and the caller's, so of two racing PUTs exactly one wins (the other deletes its object).
 */
export const markUploaded = (
  db: Db,
  id: string,
  uploaderId: string,
  done: { r2Key: string; width: number | null; height: number | null; now: string },
) =>
  db
    .update(attachments)
    .set({ state: "uploaded", r2Key: done.r2Key, width: done.width, height: done.height, uploadedAt: done.now })
    .where(and(eq(attachments.id, id), eq(attachments.uploaderId, uploaderId), eq(attachments.state, "pending")))
    .returning()
    .get();

/** The sender's own attachments among `ids` (any state: the send decides what each state means). */
export const uploadsOf = (db: Db, uploaderId: string, ids: string[]) =>
  db
    .select()
    .from(attachments)
    .where(and(inArray(attachments.id, ids), eq(attachments.uploaderId, uploaderId)));

export type AttachmentClaim = { ids: string[]; uploaderId: string; sentAt: string };

/**
 * Two statements for the send batch, right after the message insert: claim the attachments for the
 * message (only the uploader's, only uploaded, never sent), then fail the whole batch unless every
 * one was claimed. `changes()` is the row count of the UPDATE just before, so two racing sends of one
 * attachment give exactly one message and one charge.
 */
export const claimAttachmentStatements = (db: Db, claim: AttachmentClaim, messageId: string) =>
  [
    db
      .update(attachments)
      .set({ state: "sent", messageId, sentAt: claim.sentAt })
      .where(
        and(
          sql`${attachments.id} IN (SELECT value FROM json_each(${JSON.stringify(claim.ids)}))`,
          eq(attachments.uploaderId, claim.uploaderId),
          // Unary +: look each id up by primary key, never walk the state index's "uploaded" range.
          sql`+${attachments.state} = 'uploaded'`,
        ),
      ),
    db.insert(attachmentClaimGuard).select(sql`SELECT 1 WHERE changes() <> ${claim.ids.length}`),
  ] as const;

/** The constraint the claim guard fails with: some attachment was taken (or removed) since the send read it. */
export const isAttachmentClaimFailure = (hit: Constraint | null) => hit?.kind === "check" && hit.name === "attachment_claim_complete";

export type AttachmentAccessRow = {
  attachment: AttachmentRow;
  message: { senderId: string; receiverId: string; isDeleted: boolean; moderationStatus: string } | null;
};

/** An attachment and, once sent, its message as it is NOW: serving checks the message's state on every request. */
export const accessQuery = (db: Db, id: string) =>
  db
    .select({
      attachment: attachments,
      message: {
        senderId: messages.senderId,
        receiverId: messages.receiverId,
        isDeleted: messages.isDeleted,
        moderationStatus: messages.moderationStatus,
      },
    })
    .from(attachments)
    .leftJoin(messages, eq(messages.id, attachments.messageId))
    .where(eq(attachments.id, id));

export const findWithMessage = (db: Db, id: string): Promise<AttachmentAccessRow | undefined> => accessQuery(db, id).get();

/**
 * Takes rows out of service before their bytes are deleted: a `deleting` row is never served or
 * claimed, and the scheduled purge finishes what a failed deletion left.
 */
export const markDeletingOfMessages = (db: Db, messageIds: string[]) =>
  db
    .update(attachments)
    .set({ state: "deleting" })
    .where(sql`${attachments.messageId} IN (SELECT value FROM json_each(${JSON.stringify(messageIds)}))`)
    .returning({ id: attachments.id });

const unsentBefore = (createdBefore: string) =>
  and(inArray(attachments.state, ["pending", "uploaded"]), lt(attachments.createdAt, createdBefore));

/** Uploads never sent, created before the cutoff (a range of the state/created_at index per state). */
export const staleUploadsQuery = (db: Db, createdBefore: string, limit: number) =>
  db.select({ id: attachments.id }).from(attachments).where(unsentBefore(createdBefore)).limit(limit);

/** A user's uploads never sent (an erasure of what they sent removes these too), a range of the state index. */
export const unsentUploadsOfQuery = (db: Db, uploaderId: string, limit: number) =>
  db
    .select({ id: attachments.id })
    .from(attachments)
    .where(and(inArray(attachments.state, ["pending", "uploaded"]), eq(attachments.uploaderId, uploaderId)))
    .limit(limit);

/** Rows whose bytes a deletion did not finish removing. */
export const deletingQuery = (db: Db, limit: number) =>
  db.select({ id: attachments.id }).from(attachments).where(eq(attachments.state, "deleting")).limit(limit);

/** Guarded like the claim: an upload sent in the meantime stays (and a send after this finds it gone). */
export async function markDeletingUnsent(db: Db, ids: string[], createdBefore: string): Promise<{ id: string }[]> {
  if (ids.length === 0) return [];
  return db
    .update(attachments)
    .set({ state: "deleting" })
    .where(and(inArray(attachments.id, ids), unsentBefore(createdBefore)))
    .returning({ id: attachments.id });
}

export const deleteAttachmentRows = (db: Db, ids: string[]) =>
  db.delete(attachments).where(and(inArray(attachments.id, ids), eq(attachments.state, "deleting")));
