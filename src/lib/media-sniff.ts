/**
 * Checks that a file's bytes are what its declared type says (magic bytes) and reads an image's
 * width and height from its headers, incrementally: chunks are pushed as they stream past, and
 * only the few header bytes a parser asks for are ever copied. A JPEG's frame header (SOF) may
 * sit after a large EXIF block; the parser skips segments by their length without buffering them.
 */

export type Dimensions = { width: number; height: number };

/** The bytes do not match the declared type (or end before the headers it needs). */
export class MediaMismatch extends Error {
  override name = "MediaMismatch";
}

/** What a parser asks for next: exactly n bytes, or to pass over n bytes unseen. */
type Step = number | { skip: number };
type Parser = Generator<Step, Dimensions | null, Uint8Array>;

const ascii = (s: string) => Array.from(s, (ch) => ch.charCodeAt(0));
const startsWith = (bytes: Uint8Array, at: number, expected: number[]) => expected.every((b, i) => bytes[at + i] === b);
const u16be = (b: Uint8Array, at: number) => ((b[at] ?? 0) << 8) | (b[at + 1] ?? 0);
const u16le = (b: Uint8Array, at: number) => (b[at] ?? 0) | ((b[at + 1] ?? 0) << 8);
const u24le = (b: Uint8Array, at: number) => (b[at] ?? 0) | ((b[at + 1] ?? 0) << 8) | ((b[at + 2] ?? 0) << 16);
const u32be = (b: Uint8Array, at: number) =>
  (((b[at] ?? 0) << 24) | ((b[at + 1] ?? 0) << 16) | ((b[at + 2] ?? 0) << 8) | (b[at + 3] ?? 0)) >>> 0;

function expectBytes(bytes: Uint8Array, at: number, expected: number[], what: string): void {
  if (!startsWith(bytes, at, expected)) throw new MediaMismatch(`not ${what}`);
}

function dimensions(width: number, height: number, what: string): Dimensions {
  if (width < 1 || height < 1) throw new MediaMismatch(`${what} without a width and height`);
  return { width, height };
}

// Each parser checks the magic bytes first, so a wrong file is refused on its first chunk.

function* png(): Parser {
  expectBytes(yield 8, 0, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], "a PNG file");
  const ihdr = yield 16; // length, "IHDR", width, height
  expectBytes(ihdr, 4, ascii("IHDR"), "a PNG file");
  return dimensions(u32be(ihdr, 8), u32be(ihdr, 12), "a PNG");
}

function* gif(): Parser {
  const magic = yield 6;
  if (!startsWith(magic, 0, ascii("GIF87a")) && !startsWith(magic, 0, ascii("GIF89a"))) throw new MediaMismatch("not a GIF file");
  const screen = yield 4;
  return dimensions(u16le(screen, 0), u16le(screen, 2), "a GIF");
}

function* webp(): Parser {
  const riff = yield 12;
  expectBytes(riff, 0, ascii("RIFF"), "a WebP file");
  expectBytes(riff, 8, ascii("WEBP"), "a WebP file");
  const h = new Uint8Array(30);
  h.set(riff);
  h.set(yield 18, 12);
  if (startsWith(h, 12, ascii("VP8 "))) {
    // Lossy: a frame tag, the start code 9d 01 2a, then 14-bit width and height.
    expectBytes(h, 23, [0x9d, 0x01, 0x2a], "a WebP file");
    return dimensions(u16le(h, 26) & 0x3fff, u16le(h, 28) & 0x3fff, "a WebP");
  }
  if (startsWith(h, 12, ascii("VP8L"))) {
    // Lossless: the signature 0x2f, then width-1 and height-1 as two 14-bit fields.
    expectBytes(h, 20, [0x2f], "a WebP file");
    const bits = (h[21] ?? 0) | ((h[22] ?? 0) << 8) | ((h[23] ?? 0) << 16) | ((h[24] ?? 0) << 24);
    return dimensions((bits & 0x3fff) + 1, ((bits >>> 14) & 0x3fff) + 1, "a WebP");
  }
  if (startsWith(h, 12, ascii("VP8X"))) return dimensions(u24le(h, 24) + 1, u24le(h, 27) + 1, "a WebP"); // extended: canvas size
  throw new MediaMismatch("not a WebP file");
}

/** SOF0-3, 5-7, 9-11, 13-15: the frame headers that carry the size (C4, C8 and CC are other markers). */
const isStartOfFrame = (m: number) => m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc;

function* jpeg(): Parser {
  expectBytes(yield 2, 0, [0xff, 0xd8], "a JPEG file");
  for (;;) {
    if ((yield 1)[0] !== 0xff) throw new MediaMismatch("not a JPEG file");
    let marker = (yield 1)[0] ?? 0;
    while (marker === 0xff) marker = (yield 1)[0] ?? 0; // fill bytes
    if ((marker >= 0xd0 && marker <= 0xd7) || marker === 0x01) continue; // markers without a length
    // The image data (SOS) or its end before any frame header: there is no size to read.
    if (marker === 0xda || marker === 0xd9 || marker === 0xd8 || marker === 0x00) throw new MediaMismatch("a JPEG without a frame header");
    const length = u16be(yield 2, 0);
    if (length < 2) throw new MediaMismatch("not a JPEG file");
    if (isStartOfFrame(marker)) {
      if (length < 7) throw new MediaMismatch("not a JPEG file");
      const frame = yield 5; // precision, height, width
      return dimensions(u16be(frame, 3), u16be(frame, 1), "a JPEG");
    }
    if (length > 2) yield { skip: length - 2 };
  }
}

function* isoMedia(): Parser {
  // MP4 / M4A: the first box is `ftyp`.
  const h = yield 8;
  expectBytes(h, 4, ascii("ftyp"), "an MP4 file");
  if (u32be(h, 0) < 8) throw new MediaMismatch("not an MP4 file");
  return null;
}

/** An EBML variable-length integer: the first byte's leading zeros say how many bytes follow. */
function* vint(keepMarker: boolean): Generator<Step, number, Uint8Array> {
  const first = (yield 1)[0] ?? 0;
  let length = 1;
  while (length <= 8 && !(first & (0x80 >> (length - 1)))) length++;
  if (length > 8) throw new MediaMismatch("not a WebM file");
  let value = keepMarker ? first : first & (0xff >> length);
  if (length > 1) for (const b of yield length - 1) value = value * 256 + b;
  return value;
}

function* webm(): Parser {
  // An EBML header whose DocType is "webm" (Matroska files share the magic bytes, not the DocType).
  expectBytes(yield 4, 0, [0x1a, 0x45, 0xdf, 0xa3], "a WebM file");
  const headerSize = yield* vint(false);
  if (headerSize > 256) throw new MediaMismatch("not a WebM file");
  for (let elements = 0; elements < 16; elements++) {
    const id = yield* vint(true);
    const size = yield* vint(false);
    if (size > 64) throw new MediaMismatch("not a WebM file");
    if (id === 0x4282) {
      const docType = size ? yield size : new Uint8Array();
      if (String.fromCharCode(...docType).replace(/\0+$/, "") !== "webm") throw new MediaMismatch("not a WebM file");
      return null;
    }
    if (size) yield { skip: size };
  }
  throw new MediaMismatch("not a WebM file");
}

function* mp3(): Parser {
  const h = yield 3;
  if (startsWith(h, 0, ascii("ID3"))) return null;
  // An MPEG audio frame: 11 sync bits, a version that is not reserved, a layer that is not reserved.
  const b1 = h[1] ?? 0;
  if (h[0] === 0xff && (b1 & 0xe0) === 0xe0 && (b1 & 0x18) !== 0x08 && (b1 & 0x06) !== 0) return null;
  throw new MediaMismatch("not an MP3 file");
}

function* fixedMagic(magic: string, what: string): Parser {
  expectBytes(yield magic.length, 0, ascii(magic), what);
  return null;
}

const PARSERS = {
  "image/jpeg": jpeg,
  "image/png": png,
  "image/webp": webp,
  "image/gif": gif,
  "video/mp4": isoMedia,
  "audio/mp4": isoMedia,
  "video/webm": webm,
  "audio/webm": webm,
  "audio/mpeg": mp3,
  "audio/ogg": () => fixedMagic("OggS", "an Ogg file"),
  "application/pdf": () => fixedMagic("%PDF-", "a PDF file"),
} satisfies Record<string, () => Parser>;

export type SniffableType = keyof typeof PARSERS;
export const SNIFFABLE_TYPES = Object.keys(PARSERS) as SniffableType[];
export const isSniffable = (type: string): type is SniffableType => Object.hasOwn(PARSERS, type);

export type MediaSniffer = {
  /** Feeds the next chunk; throws MediaMismatch as soon as the bytes cannot be the declared type. */
  push(chunk: Uint8Array): void;
  /** At the end of the file: the dimensions (images), null (other types), or MediaMismatch if the headers never came. */
  finish(): Dimensions | null;
};

/** Drives a parser over chunks: copies only the bytes it asks to read, counts down those it skips. */
export function mediaSniffer(type: SniffableType): MediaSniffer {
  const parser = PARSERS[type]();
  let step: Step | null = null;
  let result: Dimensions | null = null;
  let wanted = new Uint8Array(0);
  let filled = 0;

  const advance = (input?: Uint8Array) => {
    const next = input === undefined ? parser.next() : parser.next(input);
    if (next.done) {
      step = null;
      result = next.value;
      return;
    }
    step = next.value;
    if (typeof step === "number") {
      wanted = new Uint8Array(step);
      filled = 0;
    }
  };
  advance();

  return {
    push(chunk) {
      let at = 0;
      while (step !== null && at < chunk.length) {
        if (typeof step === "number") {
          const n = Math.min(step - filled, chunk.length - at);
          wanted.set(chunk.subarray(at, at + n), filled);
          filled += n;
          at += n;
          if (filled === step) advance(wanted);
        } else {
          const n = Math.min(step.skip, chunk.length - at);
          at += n;
          step = step.skip === n ? null : { skip: step.skip - n };
          if (step === null) advance(new Uint8Array(0));
        }
      }
    },
    finish() {
      if (step !== null) throw new MediaMismatch("the file ends before its headers do");
      return result;
    },
  };
}
