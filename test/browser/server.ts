/**
 * The real server as `npm start` runs it (the built web client, `wrangler dev`, local D1 migrated),
 * on its own port and a throwaway database, so the browser suite never touches a developer's data
 * or the port 8787 of `npm start`. Restartable, to test what a client does when the server goes away.
 * One is shared by the suite (started in global-setup.ts); a file that restarts it runs its own.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const OFFLINE = { WRANGLER_SEND_METRICS: "false", CLOUDFLARE_CF_FETCH_ENABLED: "false", WRANGLER_HIDE_BANNER: "true", CI: "1" };

export const PORT = Number(process.env.BROWSER_TEST_PORT ?? 8794);

function wrangler(args: string[]) {
  const run = spawnSync("wrangler", args, {
    cwd: ROOT,
    env: { ...process.env, ...OFFLINE },
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
  });
  if (run.status !== 0) throw new Error(`wrangler ${args.join(" ")} failed:\n${run.stdout}\n${run.stderr}`);
  return run.stdout;
}

export class Server {
  readonly url: string;
  private child: ChildProcess | null = null;
  private log = "";

  constructor(
    readonly port = PORT,
    readonly persist = mkdtempSync(join(tmpdir(), "pairly-browser-")),
  ) {
    this.url = `http://127.0.0.1:${port}`;
  }

  /** `.dev.vars` from the template (as npm start does), then the migrations on the throwaway database. */
  async start() {
    spawnSync("node", ["src/cli/dev-vars.ts"], { cwd: ROOT, stdio: "ignore" });
    wrangler(["d1", "migrations", "apply", "DB", "--local", "--persist-to", this.persist]);
    await this.boot();
  }

  async boot() {
    this.log = "";
    const child = spawn("wrangler", ["dev", "--ip", "127.0.0.1", "--port", String(this.port), "--persist-to", this.persist], {
      cwd: ROOT,
      env: { ...process.env, ...OFFLINE },
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    });
    this.child = child;
    child.stdout?.on("data", (d) => {
      this.log += d;
    });
    child.stderr?.on("data", (d) => {
      this.log += d;
    });
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      if (child.exitCode !== null) throw new Error(`wrangler dev exited (${child.exitCode}):\n${this.log}`);
      try {
        const res = await fetch(`${this.url}/healthz`);
        if (res.ok) return;
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    throw new Error(`wrangler dev did not answer /healthz within 60 s:\n${this.log}`);
  }

  /** Stops wrangler dev and everything it started (its process group), and waits until it is gone. */
  async stop() {
    const child = this.child;
    this.child = null;
    if (!child?.pid || child.exitCode !== null) return;
    const gone = new Promise((r) => child.once("exit", r));
    try {
      process.kill(-child.pid, "SIGTERM");
    } catch {
      return;
    }
    const timer = setTimeout(() => child.pid && process.kill(-child.pid, "SIGKILL"), 5_000);
    await gone;
    clearTimeout(timer);
    // The port is free once the socket closes; wait for that rather than guessing.
    while (
      await fetch(`${this.url}/healthz`).then(
        () => true,
        () => false,
      )
    )
      await new Promise((r) => setTimeout(r, 100));
  }

  async restart() {
    await this.stop();
    await this.boot();
  }

  /** SQL on the same local database (wrangler d1 execute works while dev runs). */
  sql(command: string) {
    return wrangler(["d1", "execute", "DB", "--local", "--persist-to", this.persist, "--command", command]);
  }

  async dispose() {
    await this.stop();
    rmSync(this.persist, { recursive: true, force: true });
  }
}
