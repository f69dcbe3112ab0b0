/**
 * WebSocket clients (the `ws` package) that wait for a given message to reach a given user:
 * `arrival(tag)` resolves with the moment (performance.now()) a partner's socket got the
 * `message.new` whose content is `tag`.
 */
import WebSocket from "ws";

type NewMessage = { type: "message.new"; message: { content: string | null; sender_id?: string; sender?: string } };

/** A message not at its partner by then counts as lost (an overloaded open loop can take seconds). */
const WAIT_MS = 60_000;

export class Arrivals {
  private readonly waiting = new Map<string, { resolve: (at: number) => void; timer: NodeJS.Timeout }>();
  readonly sockets: WebSocket[] = [];
  /** Sockets that closed (or failed) while the bench still wanted them. */
  unexpectedCloses = 0;
  /** `resync` and `error` frames received, and messages that never arrived. */
  resyncs = 0;
  errorFrames = 0;
  lost = 0;
  private closing = false;

  /** Resolves when the partner's socket gets the message with content `tag`; rejects after WAIT_MS. */
  arrival(tag: string): Promise<number> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(tag);
        this.lost++;
        reject(new Error(`no message.new for ${tag} within ${WAIT_MS} ms`));
      }, WAIT_MS);
      timer.unref();
      this.waiting.set(tag, { resolve, timer });
    });
  }

  /** Opens a socket for `user`; only messages from someone else count as arrivals on it. */
  async open(url: string, user: string, headers: Record<string, string> = {}): Promise<WebSocket> {
    const ws = new WebSocket(url, { headers, perMessageDeflate: false });
    await new Promise<void>((resolve, reject) => {
      ws.once("open", () => resolve());
      ws.once("error", reject);
      ws.once("unexpected-response", (_req, res) => reject(new Error(`upgrade answered ${res.statusCode}`)));
    });
    ws.on("message", (data) => {
      const at = performance.now();
      const event = JSON.parse(String(data)) as { type: string } | NewMessage;
      if (event.type === "resync") this.resyncs++;
      if (event.type === "error") this.errorFrames++;
      if (event.type !== "message.new") return;
      const m = (event as NewMessage).message;
      if ((m.sender_id ?? m.sender) === user || m.content === null) return;
      const w = this.waiting.get(m.content);
      if (!w) return;
      clearTimeout(w.timer);
      this.waiting.delete(m.content);
      w.resolve(at);
    });
    ws.on("close", () => {
      if (!this.closing) this.unexpectedCloses++;
    });
    this.sockets.push(ws);
    return ws;
  }

  async closeAll(): Promise<void> {
    this.closing = true;
    await Promise.all(
      this.sockets.map(
        (ws) =>
          new Promise<void>((resolve) => {
            if (ws.readyState === WebSocket.CLOSED) return resolve();
            ws.once("close", () => resolve());
            ws.close(1000, "bench done");
            setTimeout(() => {
              ws.terminate();
              resolve();
            }, 2000).unref();
          }),
      ),
    );
    this.sockets.length = 0;
    this.closing = false;
  }
}

/** Runs `f` over `items` with at most `limit` in flight. */
export async function inBatches<T>(items: T[], limit: number, f: (item: T, i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        await f(items[i] as T, i);
      }
    }),
  );
}
