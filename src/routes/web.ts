import { Hono } from "hono";
import type { AppEnv } from "../env";

const PLACEHOLDER = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Pairly Messaging</title></head>
<body style="font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem">
<h1>Pairly Messaging</h1>
<p>The API is running. Read the contract at <a href="/api/openapi.json">/api/openapi.json</a>; health at <a href="/healthz">/healthz</a>.</p>
</body></html>`;

export const webRoutes = new Hono<AppEnv>().get("/", (c) => c.html(PLACEHOLDER));
