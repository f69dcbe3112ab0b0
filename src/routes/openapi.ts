import { OpenAPIHono, type z } from "@hono/zod-openapi";
import type { AppEnv } from "../env";
import { AppError, type ErrorCode, STATUS } from "../errors";
import { ErrorBody } from "../schemas/common";

/**
 * Zod issues → the contract's per-field `details`: `{ "attachments.0.url": ["must be an https URL"] }`.
 * Field names come from the client (`constructor`, `__proto__`, `toString` are plain keys to them), so
 * they are collected in a Map: a plain object would read, or even replace, its prototype's members.
 */
export function validationError(error: z.ZodError, target?: string): AppError {
  const details = new Map<string, string[]>();
  const add = (path: string, message: string) => {
    details.set(path, [...(details.get(path) ?? []), message]);
  };
  for (const issue of error.issues) {
    const base = issue.path.map(String).join(".");
    if (issue.code === "unrecognized_keys") {
      for (const key of issue.keys) add(base ? `${base}.${key}` : key, "unknown field");
    } else {
      add(base || target || "body", issue.message);
    }
  }
  // fromEntries defines own properties, so even `__proto__` ends up as a plain key of the body.
  return new AppError("validation_failed", "The request is not valid", Object.fromEntries(details));
}

/** Every router shares the one validation hook, so every 400 has the same shape. */
export const createRouter = () =>
  new OpenAPIHono<AppEnv>({
    defaultHook: (result) => {
      if (!result.success) throw validationError(result.error, result.target);
    },
  });

export const jsonBody = <T extends z.ZodType>(schema: T, description?: string) => ({
  content: { "application/json": { schema } },
  required: true,
  ...(description && { description }),
});

export const jsonOf = <T extends z.ZodType>(schema: T, description: string) => ({
  content: { "application/json": { schema } },
  description,
});

const ERROR_TEXT: Record<ErrorCode, string> = {
  validation_failed: "Invalid input (`validation_failed`, with per-field `details`)",
  unauthorized: "Missing, malformed or expired token (`unauthorized`)",
  insufficient_credits: "Balance too low (`insufficient_credits`); nothing was written",
  forbidden: "Not allowed (`forbidden`)",
  not_found: "Does not exist or is not yours (`not_found`)",
  conflict: "Conflicts with the current state (`conflict`)",
  payload_too_large: "Body over 64 KiB (`payload_too_large`)",
  unsupported_media_type: "Body is not application/json (`unsupported_media_type`)",
  range_not_satisfiable: "The Range starts past the end (`range_not_satisfiable`, see `Content-Range`)",
  upgrade_required: "Not a WebSocket upgrade (`upgrade_required`)",
  rate_limited: "Too many requests (`rate_limited`, see `Retry-After`)",
  internal: "Unexpected failure (`internal`); nothing leaks",
  service_unavailable:
    "The identity provider's keys could not be fetched and none are cached (`service_unavailable`, see `Retry-After`); only with JWT_JWKS_URL",
};

/** What every route that reads a JSON body may also answer. */
export const BODY_ERRORS = ["validation_failed", "payload_too_large", "unsupported_media_type"] as const satisfies ErrorCode[];

const responsesOf = (codes: ErrorCode[]) =>
  Object.fromEntries([...new Set<ErrorCode>([...codes, "internal"])].map((code) => [STATUS[code], jsonOf(ErrorBody, ERROR_TEXT[code])]));

/** Error responses for an authenticated route's OpenAPI entry, all with the one error body. */
export const errors = (...codes: ErrorCode[]) => responsesOf(["unauthorized", "service_unavailable", ...codes]);

/** The same for the few routes without authentication. */
export const publicErrors = (...codes: ErrorCode[]) => responsesOf(codes);

export const bearer = [{ bearer: [] }];
