/**
 * Key rotation. The sealer Durable Object reads its keys from the Worker's env, which a test cannot
 * change; so this file drives `sealPending` and `verifyChain` (exactly what the sealer and the verify
 * route run) with keyrings of its own, over rows written by real admin calls. It never calls the
 * verify route, whose sealer would seal with the env's key.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { auditKeyringOf } from "../src/lib/audit-hash";
import { type SealCursor, SealCursorMismatch, sealPending, verifyChain } from "../src/services/audit-chain";
import { as, count, createAdmin, db } from "./helpers";

const K1 = env.AUDIT_HMAC_KEY;
const K2 = "rotated-audit-key-k2-0123456789abcdef-0123456789";
const onlyK1 = auditKeyringOf({ AUDIT_HMAC_KEY: K1, AUDIT_HMAC_KEY_ID: "k1", AUDIT_HMAC_PREVIOUS_KEYS: "{}" });
const rotated = auditKeyringOf({ AUDIT_HMAC_KEY: K2, AUDIT_HMAC_KEY_ID: "k2", AUDIT_HMAC_PREVIOUS_KEYS: JSON.stringify({ k1: K1 }) });
const onlyK2 = auditKeyringOf({ AUDIT_HMAC_KEY: K2, AUDIT_HMAC_KEY_ID: "k2", AUDIT_HMAC_PREVIOUS_KEYS: "{}" });

const keyIds = async () =>
  (
    await env.DB.prepare("SELECT a.id, s.key_id FROM audit_log a JOIN audit_seals s ON s.audit_pk = a.pk ORDER BY a.pk").all<{
      id: string;
      key_id: string;
    }>()
  ).results;

describe("rotating AUDIT_HMAC_KEY", () => {
  it("rows sealed with k1, then k2 after the rotation: the chain verifies over both; without k1 verify names the first row it cannot check", async () => {
    const sa = await createAdmin("super_admin");
    for (let i = 0; i < 3; i++) expect((await as(sa).get("/api/admin/admins")).status).toBe(200);
    const before = await sealPending(db, onlyK1, { cursor: null });
    expect(before).toMatchObject({ sealed: 3, more: false });

    // Rotate: k2 seals from now on, k1 moves to AUDIT_HMAC_PREVIOUS_KEYS.
    for (let i = 0; i < 2; i++) expect((await as(sa).get("/api/admin/admins")).status).toBe(200);
    const after = await sealPending(db, rotated, { cursor: before.cursor });
    expect(after).toMatchObject({ sealed: 2, more: false });
    const cursor = after.cursor;
    const sealed = await keyIds();
    expect(sealed.map((r) => r.key_id)).toEqual(["k1", "k1", "k1", "k2", "k2"]);

    expect(await verifyChain(db, rotated, cursor)).toEqual({ ok: true, rows_checked: 5, head_hash: cursor?.hash, unsealed: 0 });
    // k1 dropped too early: the first row sealed with it cannot be checked, and verify says which key is missing.
    expect(await verifyChain(db, onlyK2, cursor)).toMatchObject({
      ok: false,
      rows_checked: 0,
      first_broken: { id: sealed[0]?.id, reason: "unknown_key", key_id: "k1" },
    });
    // The old configuration knows nothing of k2: it stops at the first row sealed after the rotation.
    expect(await verifyChain(db, onlyK1, cursor)).toMatchObject({
      ok: false,
      rows_checked: 3,
      first_broken: { id: sealed[3]?.id, reason: "unknown_key", key_id: "k2" },
    });
  });

  it("pages: a long tail is sealed a page per statement, within a bound on pages per pass", async () => {
    const sa = await createAdmin("super_admin");
    for (let i = 0; i < 7; i++) await as(sa).get("/api/admin/admins");
    const pending = await count("SELECT 1 FROM audit_log a WHERE NOT EXISTS (SELECT 1 FROM audit_seals s WHERE s.audit_pk = a.pk)");
    expect(pending).toBe(7);
    const pages: SealCursor[] = [];
    const first = await sealPending(db, rotated, { cursor: null, onPage: async (c) => void pages.push(c), pageSize: 2, maxPages: 2 });
    expect(first).toMatchObject({ sealed: 4, more: true });
    expect(pages).toHaveLength(2);
    const rest = await sealPending(db, rotated, { cursor: first.cursor, pageSize: 2, maxPages: 10 });
    expect(rest).toMatchObject({ sealed: 3, more: false });
    expect(await verifyChain(db, rotated, rest.cursor)).toMatchObject({ ok: true, unsealed: 0 });
  });

  it("a sealer whose last seal is gone from D1 refuses to extend the chain", async () => {
    const sa = await createAdmin("super_admin");
    await as(sa).get("/api/admin/admins");
    const forged = { pk: 1, hash: "f".repeat(64) };
    await expect(sealPending(db, rotated, { cursor: forged })).rejects.toBeInstanceOf(SealCursorMismatch);
    expect(await count("SELECT 1 FROM audit_log a WHERE NOT EXISTS (SELECT 1 FROM audit_seals s WHERE s.audit_pk = a.pk)")).toBe(1);
  });
});

describe("audit key settings", () => {
  const base = { AUDIT_HMAC_KEY: K1, AUDIT_HMAC_KEY_ID: "k1" };
  it("default id k1, previous keys by id", () => {
    expect(auditKeyringOf({ AUDIT_HMAC_KEY: K1 }).currentId).toBe("k1");
    expect([...rotated.secrets.keys()].sort()).toEqual(["k1", "k2"]);
  });

  it.each([
    ["malformed JSON", { AUDIT_HMAC_PREVIOUS_KEYS: "{k0:" }, /must be a JSON object/],
    ["an array", { AUDIT_HMAC_PREVIOUS_KEYS: "[]" }, /must be a JSON object/],
    ["a short previous key", { AUDIT_HMAC_PREVIOUS_KEYS: '{"k0":"short"}' }, /"k0" must be at least 32 characters/],
    ["a short current key", { AUDIT_HMAC_KEY: "short", AUDIT_HMAC_PREVIOUS_KEYS: "{}" }, /"k1" must be at least 32 characters/],
    [
      "the current id among the previous keys",
      { AUDIT_HMAC_PREVIOUS_KEYS: JSON.stringify({ k1: K2 }) },
      /must not hold the current key id "k1"/,
    ],
    ["a bad key id", { AUDIT_HMAC_KEY_ID: "k 1", AUDIT_HMAC_PREVIOUS_KEYS: "{}" }, /key id "k 1"/],
  ])("refuses %s, naming the problem and never a key", (_name, patch, message) => {
    const attempt = () => auditKeyringOf({ ...base, ...patch });
    expect(attempt).toThrow(message);
    expect(attempt).not.toThrow(K1);
  });
});
