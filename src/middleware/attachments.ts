import type { HonoRequest } from "hono";
import { createMiddleware } from "hono/factory";
import type { AppEnv } from "../env";
import { AppError } from "../errors";
import { viewerOfTicket } from "../services/attachments";

/** `/api/v2/attachments/{attachment_id}`: the download (GET) and upload (PUT) of one attachment. */
const ONE_ATTACHMENT = /^\/api\/v2\/attachments\/[^/]+$/;

/**
 * A download that carries `?ticket=`: the ticket authenticates it instead of a bearer token (an
 * `<img>` or `<video>` cannot send headers), so app.ts skips requireUser for exactly this request
 * and `ticketOrUser` on the route checks the ticket.
 */
export const usesDownloadTicket = (req: HonoRequest) =>
  (req.method === "GET" || req.method === "HEAD") && ONE_ATTACHMENT.test(req.path) && req.query("ticket") !== undefined;

/** The upload PUT streams up to the type's size limit into R2; the 64 KiB JSON body limit is not for it. */
export const isAttachmentUpload = (req: HonoRequest) => req.method === "PUT" && ONE_ATTACHMENT.test(req.path);

const unauthorized = (message: string) => new AppError("unauthorized", message, undefined, { "WWW-Authenticate": 'Bearer realm="pairly"' });

/** On the download route: the viewer is the ticket's (when one is given) or the bearer token's. */
export const ticketOrUser = () =>
  createMiddleware<AppEnv>(async function ticketOrUser(c, next) {
    const ticket = c.req.query("ticket");
    if (ticket !== undefined) {
      const viewer = await viewerOfTicket(c.env, c.req.param("attachment_id") ?? "", ticket);
      if (!viewer) throw unauthorized("Invalid or expired ticket");
      c.set("userId", viewer);
    } else if (!c.var.userId) {
      throw unauthorized("Missing bearer token"); // requireUser runs first; this only keeps the route safe on its own
    }
    await next();
  });
