/**
 * Does a first message try to take the conversation elsewhere? Finds links and contact details in
 * text: phone numbers in common international formats (also with odd separators or spelled out),
 * email addresses (also "name at gmail dot com"), URLs and bare domains, `@handles`, and messenger
 * or social network names followed by a handle. A pure function: the send passes its verdict into
 * the batch's guard (db/safety.ts), which is where the first-contact rule is decided.
 *
 * It is a filter for unsolicited first messages, tuned to catch what people type to get around
 * filters while leaving ordinary chat alone. Known misses and false alarms are listed in the README
 * ("First contact") and pinned by test/contact-details.test.ts.
 */

export type ContactKind = "url" | "email" | "phone" | "messenger" | "handle";
export type ContactHit = { kind: ContactKind; match: string };

/**
 * Top-level domains a bare domain must end in (without a scheme or `www.`), so "e.g." or "file.txt"
 * pass. Left out on purpose, because they are words a missing space makes look like domains
 * ("good.me too", "done.it"): me, it, in, at, no, be, us, so, to.
 */
const TLDS = [
  "com",
  "net",
  "org",
  "io",
  "co",
  "app",
  "dev",
  "ly",
  "gg",
  "tv",
  "xyz",
  "info",
  "biz",
  "site",
  "online",
  "link",
  "live",
  "fans",
  "chat",
  "social",
  "page",
  "uk",
  "ca",
  "au",
  "de",
  "fr",
  "es",
  "nl",
  "ch",
  "se",
  "dk",
  "fi",
  "pl",
  "pt",
  "ru",
  "ua",
  "br",
  "mx",
  "ar",
  "jp",
  "cn",
  "kr",
  "ie",
  "nz",
  "za",
  "eu",
].join("|");

/** Networks and messengers people move a conversation to. */
const NETWORKS = [
  "instagram",
  "insta",
  "ig",
  "snapchat",
  "snap",
  "sc",
  "telegram",
  "tg",
  "whatsapp",
  "whats app",
  "wa",
  "kik",
  "discord",
  "onlyfans",
  "fansly",
  "tiktok",
  "twitter",
  "facebook",
  "fb",
  "messenger",
  "signal",
  "wechat",
  "viber",
  "skype",
  "threads",
  "line id",
].join("|");

const DIGIT_WORDS: Record<string, string> = {
  zero: "0",
  oh: "0",
  one: "1",
  two: "2",
  three: "3",
  four: "4",
  five: "5",
  six: "6",
  seven: "7",
  eight: "8",
  nine: "9",
};

const URL_WITH_SCHEME = /\b(?:https?|ftp):\/\/[^\s<>"]+/i;
const WWW = /\bwww\s*\.\s*[a-z0-9-]+(?:\s*\.\s*[a-z0-9-]+)+/i;
const BARE_DOMAIN = new RegExp(`\\b[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\\.[a-z0-9-]+)*\\.(?:${TLDS})\\b(?![.-]?[a-z0-9])(?:/\\S*)?`, "i");
const EMAIL = /[a-z0-9._%+-]+@[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}/i;
/** "jane at gmail dot com", "jane(at)gmail(dot)com", "jane [at] gmail . com", "jane @ gmail dot com". */
const SPELLED_EMAIL = new RegExp(
  `[a-z0-9._%+-]+\\s*(?:@|[[(]\\s*at\\s*[\\])]|\\bat\\b)\\s*[a-z0-9-]+\\s*(?:\\.|[[(]\\s*dot\\s*[\\])]|\\bdot\\b)\\s*(?:${TLDS})\\b`,
  "i",
);
/** A run of 7-15 digits with up to three separators between any two: +1 (415) 555-0100, 0044 20 7946 0958, 4 1 5 5 5 5 0 1 0 0. */
const PHONE = /(?:\+|\b00)?\(?\d(?:[\s.\-/()]{0,3}\d){6,14}/g;
/** Dates are digits with separators too (2026-11-24, 24.11.2026, 11/24/2026): not phone numbers. */
const DATE = /^(?:\d{4}[-./]\d{1,2}[-./]\d{1,2}|\d{1,2}[-./]\d{1,2}[-./]\d{2,4})$/;
const SPELLED_DIGITS = new RegExp(
  `\\b(?:${Object.keys(DIGIT_WORDS).join("|")})\\b(?:[\\s,.-]+(?:${Object.keys(DIGIT_WORDS).join("|")})\\b){6,}`,
  "i",
);
/** A network's name, then (after ":", "-", "is", "me on"…) something that looks like a handle on it. */
const MESSENGER = new RegExp(
  `(\\bmy\\s+)?\\b(?:${NETWORKS})\\b\\s*((?:(?::|-|=|>|@|(?:is|me|on|at|add|id|name|handle|user(?:name)?)\\b)\\s*)*)@?([a-z0-9_.]{2,30}(?:#\\d{4})?)`,
  "gi",
);
/** What introduces a handle for certain ("insta: jane", "tg @jane", "discord id jane"). */
const STRONG_INTRO = /[:=@>-]|\bid\b|\bhandle\b|\buser/i;
const HANDLE = /(?:^|[^\w@.])@([a-z0-9_](?:[a-z0-9_.]{0,28}[a-z0-9_])?)/i;

/** Every digit run that is a phone number: 7 to 15 digits, not a date. */
function phoneIn(text: string): string | null {
  for (const m of text.matchAll(PHONE)) {
    const run = m[0].trim();
    const digits = run.replace(/\D/g, "").length;
    if (digits < 7 || digits > 15 || DATE.test(run)) continue;
    return run;
  }
  return null;
}

/** Words that are not handles even right after a network's name ("I'm on insta too"). */
const NOT_HANDLES = new Set([
  "too",
  "and",
  "or",
  "me",
  "you",
  "the",
  "a",
  "an",
  "it",
  "is",
  "on",
  "at",
  "if",
  "so",
  "pics",
  "photos",
  "later",
]);

/**
 * After a network's name, a handle is what a person would type to be found: it has a digit, an
 * underscore or a dot, or it was introduced as one (":", "@", "-", "=", "id", "username"), or the
 * network was "my" one ("my snap is janedoe"). "snap is fun" and "the signal is weak" are not.
 */
function messengerIn(text: string): string | null {
  for (const m of text.matchAll(MESSENGER)) {
    const [whole, my, intro = "", handle = ""] = m;
    if (NOT_HANDLES.has(handle.toLowerCase())) continue;
    if (STRONG_INTRO.test(intro) || /[\d_.]/.test(handle) || (my && intro.trim())) return whole.trim();
  }
  return null;
}

/** The first link or contact detail in `text`, or null. */
export function findContactDetails(input: string): ContactHit | null {
  // NFKC folds full-width digits and letters (０７９, ｇｍａｉｌ) into the ones the patterns know.
  const text = input.normalize("NFKC");
  const url = URL_WITH_SCHEME.exec(text) ?? WWW.exec(text);
  if (url) return { kind: "url", match: url[0] };
  const email = EMAIL.exec(text) ?? SPELLED_EMAIL.exec(text);
  if (email) return { kind: "email", match: email[0] };
  const phone = phoneIn(text);
  if (phone) return { kind: "phone", match: phone };
  const spelled = SPELLED_DIGITS.exec(text);
  if (spelled) return { kind: "phone", match: spelled[0] };
  const domain = BARE_DOMAIN.exec(text);
  if (domain) return { kind: "url", match: domain[0] };
  const messenger = messengerIn(text);
  if (messenger) return { kind: "messenger", match: messenger };
  const handle = HANDLE.exec(text);
  if (handle) return { kind: "handle", match: `@${handle[1]}` };
  return null;
}
