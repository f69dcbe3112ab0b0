import { type Presence, presenceStatement } from "../db/presence";
import { logError } from "../lib/log";

/** The version of the object's last report, in its own key-value store. */
const VERSION = "presence_version";

/**
 * A realtime object's row of D1's `socket_presence`: whether it holds a socket (written as it changes
 * between none and some), which the send reads in its own batch to skip objects that have none.
 * Versions count up in the object's storage, so a late write never overwrites a newer one. The row
 * may overstate what is open (a socket gone without a close event) and then costs a wasted
 * notification; it must never understate it, so the first socket is reported before it syncs and
 * "none" only after the last one closed.
 */
export class PresenceReports {
  constructor(
    private readonly ctx: DurableObjectState,
    /** Read at each write: the object's binding (which a test may swap). */
    private readonly db: () => D1Database,
  ) {}

  /** A report of `sockets` for `scope`, with a version newer than any before (the caller writes it). */
  next(scope: string, sockets: number): Presence {
    const version = (this.ctx.storage.kv.get<number>(VERSION) ?? 0) + 1;
    this.ctx.storage.kv.put(VERSION, version);
    return { scope, sockets, version };
  }

  /** Writes it now; `await` it where a sync must follow a committed count. */
  write(scope: string, sockets: number): Promise<void> {
    return presenceStatement(this.db(), this.next(scope, sockets))
      .run()
      .then(() => undefined);
  }

  /** Writes it in the background (after a close: until it lands, a send may still notify the object, at no harm). */
  report(scope: string, sockets: number): void {
    this.ctx.waitUntil(this.write(scope, sockets).catch((err: unknown) => logError("presence.write_failed", err, { scope, sockets })));
  }
}
