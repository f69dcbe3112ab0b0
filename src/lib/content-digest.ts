/**
 * What the audit log keeps of a message's text instead of the text: its SHA-256 (hex) and its
 * length in Unicode code points (the unit of the content rule). Enough to tell that two records
 * speak of the same content, and nothing to read it back from, so erasing a message erases it.
 */
export type ContentDigest = { content_sha256: string; content_length: number };

export async function contentDigest(text: string): Promise<ContentDigest> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return {
    content_sha256: [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join(""),
    content_length: [...text].length,
  };
}
