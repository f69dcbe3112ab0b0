/** `npm start` step 1: a fresh clone gets its .dev.vars from the committed template. */
import { ensureDevVars } from "./project.ts";

if (ensureDevVars()) console.log("Created .dev.vars from .dev.vars.example (local secrets; never committed).");
