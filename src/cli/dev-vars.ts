/** `npm start` step 1: a fresh clone gets its .dev.vars from the committed template. */
import { ensureDevVars } from "./project.ts";
import { ensureVapidKeys } from "./vapid-keys.ts";

const done = ensureDevVars();
if (done === "created") console.log("Created .dev.vars from .dev.vars.example (local secrets; never committed).");
if (done === "updated") console.log("Added the settings .dev.vars.example gained since to .dev.vars.");
if (ensureVapidKeys()) console.log("Generated a local VAPID key pair (Web Push) into .dev.vars.");
