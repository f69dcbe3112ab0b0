/**
 * The bench's floor: the least a Worker can do for each shape of work Pairly does, run in the same
 * workerd as Pairly. Bench-only (never deployed, not wrangler.toml's `main`): test/bench/server.ts
 * bundles it with esbuild and hands it to Miniflare beside the built Pairly Worker.
 *
 *   GET  /json            a small JSON answer (routing and serialisation, nothing else)
 *   POST /insert          one-row D1 INSERT of the posted JSON
 *   GET  /read50          the 50 newest rows of a 1 000-row D1 table
 *   POST /chat/:room      a Durable Object chat: stores the message in its SQLite, broadcasts it
 *   GET  /chat/:room/ws   that chat's hibernating WebSocket
 */
import { DurableObject } from "cloudflare:workers";

type BaselineEnv = { DB: D1Database; CHAT: DurableObjectNamespace<Chat> };
type Posted = { room?: string; sender?: string; content?: string };

const SCHEMA =
  "CREATE TABLE IF NOT EXISTS items (id INTEGER PRIMARY KEY, room TEXT NOT NULL, sender TEXT NOT NULL, content TEXT NOT NULL, created_at TEXT NOT NULL)";

export class Chat extends DurableObject<BaselineEnv> {
  constructor(ctx: DurableObjectState, env: BaselineEnv) {
    super(ctx, env);
    ctx.storage.sql.exec(
      "CREATE TABLE IF NOT EXISTS messages (seq INTEGER PRIMARY KEY AUTOINCREMENT, sender TEXT NOT NULL, content TEXT NOT NULL, created_at TEXT NOT NULL)",
    );
  }

  override async fetch(): Promise<Response> {
    const { 0: client, 1: server } = new WebSocketPair();
    this.ctx.acceptWebSocket(server);
    return new Response(null, { status: 101, webSocket: client });
  }

  /** RPC: store, then broadcast to every socket of the room. */
  async send(sender: string, content: string): Promise<{ seq: number; sender: string; content: string; created_at: string }> {
    const createdAt = new Date().toISOString();
    const [row] = this.ctx.storage.sql
      .exec<{ seq: number }>(
        "INSERT INTO messages (sender, content, created_at) VALUES (?, ?, ?) RETURNING seq",
        sender,
        content,
        createdAt,
      )
      .toArray();
    const message = { seq: row?.seq ?? 0, sender, content, created_at: createdAt };
    const frame = JSON.stringify({ type: "message.new", message });
    for (const ws of this.ctx.getWebSockets()) ws.send(frame);
    return message;
  }

  override async webSocketMessage(): Promise<void> {}

  override async webSocketClose(ws: WebSocket, code: number): Promise<void> {
    ws.close(code === 1005 || code === 1006 ? 1000 : code, "bye");
  }
}

async function handle(request: Request, env: BaselineEnv): Promise<Response> {
  const url = new URL(request.url);
  const chat = /^\/chat\/([\w-]+)(\/ws)?$/.exec(url.pathname);
  if (chat?.[1]) {
    const room = env.CHAT.getByName(chat[1]);
    if (chat[2]) return room.fetch(request);
    const body = (await request.json()) as Posted;
    return Response.json(await room.send(body.sender ?? "", body.content ?? ""), { status: 201 });
  }
  switch (`${request.method} ${url.pathname}`) {
    case "GET /json":
      return Response.json({ ok: true, at: new Date().toISOString() });
    case "POST /insert": {
      const body = (await request.json()) as Posted;
      const row = await env.DB.prepare("INSERT INTO items (room, sender, content, created_at) VALUES (?, ?, ?, ?) RETURNING id")
        .bind(body.room ?? "", body.sender ?? "", body.content ?? "", new Date().toISOString())
        .first<{ id: number }>();
      return Response.json({ id: row?.id }, { status: 201 });
    }
    case "GET /read50": {
      const { results } = await env.DB.prepare("SELECT * FROM items ORDER BY id DESC LIMIT 50").all();
      return Response.json({ items: results });
    }
    case "POST /setup": {
      // The bench calls this once: the table and 1 000 rows for /read50.
      await env.DB.prepare(SCHEMA).run();
      await env.DB.prepare(
        `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000)
         INSERT INTO items (room, sender, content, created_at) SELECT 'seed', 'seed_' || (i % 10), 'seeded message number ' || i, '2026-01-01T00:00:00.000Z' FROM n`,
      ).run();
      return new Response(null, { status: 204 });
    }
  }
  return new Response("not found", { status: 404 });
}

export default { fetch: handle } satisfies ExportedHandler<BaselineEnv>;
