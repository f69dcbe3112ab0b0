import type { ErrorHandler, NotFoundHandler } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { AppEnv } from "./env";
import { logError } from "./lib/log";

/** The contract's stable machine codes and the status each answers with. */
export const STATUS = {
  validation_failed: 400,
  unauthorized: 401,
  insufficient_credits: 402,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  range_not_satisfiable: 416,
  upgrade_required: 426,
  rate_limited: 429,
  internal: 500,
  service_unavailable: 503,
} as const satisfies Record<string, ContentfulStatusCode>;

export type ErrorCode = keyof typeof STATUS;
export type ErrorDetails = Record<string, unknown>;

export class AppError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: ErrorDetails,
    /** Extra response headers, e.g. `Retry-After` on 429. */
    readonly headers?: Record<string, string>,
  ) {
    super(message);
    this.name = "AppError";
  }

  get status(): ContentfulStatusCode {
    return STATUS[this.code];
  }

  toBody() {
    return { error: { code: this.code, message: this.message, ...(this.details && { details: this.details }) } };
  }
}

export const notFound = (what = "Not found") => new AppError("not_found", what);

/** Hono and its middleware throw HTTPException for what they reject themselves; give it our shape. */
function fromHttpException(err: HTTPException): AppError {
  switch (err.status) {
    case 400:
      return new AppError("validation_failed", "Malformed JSON in request body", { body: ["malformed JSON"] });
    case 401:
      return new AppError("unauthorized", "Authentication required");
    case 413:
      return new AppError("payload_too_large", "Request body is larger than 64 KiB");
    case 415:
      return new AppError("unsupported_media_type", "Send the body as application/json");
    default:
      return new AppError(err.status >= 500 ? "internal" : "validation_failed", err.message || "Bad request");
  }
}

/** Our error for anything thrown: null for the unexpected (answered as `internal`). */
export const appErrorOf = (err: unknown): AppError | null =>
  err instanceof AppError ? err : err instanceof HTTPException ? fromHttpException(err) : null;

/** The machine code a finished response carries, thrown or not (a 404 from no route is not thrown). */
export function errorCodeOf(status: number, err: unknown): ErrorCode | null {
  if (err) return appErrorOf(err)?.code ?? "internal";
  if (status < 400) return null;
  return (Object.keys(STATUS) as ErrorCode[]).find((code) => STATUS[code] === status) ?? "internal";
}

export const onError: ErrorHandler<AppEnv> = (err, c) => {
  const known = appErrorOf(err);
  if (!known) logError("unhandled", err, { requestId: c.get("requestId"), path: c.req.path });
  // Never SQL or a stack in the body: unknown errors are logged with the request id and answered generically.
  const e = known ?? new AppError("internal", "Something went wrong; the request id is in the X-Request-Id header");
  return c.json(e.toBody(), e.status, e.headers);
};

export const onNotFound: NotFoundHandler<AppEnv> = (c) =>
  c.json(new AppError("not_found", `No route for ${c.req.method} ${c.req.path}`).toBody(), 404);
