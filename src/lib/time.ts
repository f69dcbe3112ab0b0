/** ISO-8601 UTC with milliseconds: the one timestamp format of the API and of every table. */
export const nowIso = (): string => new Date().toISOString();
