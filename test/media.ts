/**
 * Real file headers, built byte by byte, for every type the server verifies. Only the headers are
 * real; the rest is filler, which is all the server reads of them.
 */
const ascii = (s: string) => Array.from(s, (ch) => ch.charCodeAt(0));
const be16 = (n: number) => [(n >> 8) & 0xff, n & 0xff];
const le16 = (n: number) => [n & 0xff, (n >> 8) & 0xff];
const le24 = (n: number) => [n & 0xff, (n >> 8) & 0xff, (n >> 16) & 0xff];
const be32 = (n: number) => [(n >>> 24) & 0xff, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff];

/** `head` followed by filler up to `size` bytes. */
export function bytesOf(head: number[], size = Math.max(head.length, 64)): Uint8Array {
  const out = new Uint8Array(size);
  out.set(head.slice(0, size));
  for (let i = head.length; i < size; i++) out[i] = (i * 31 + 7) & 0xff;
  return out;
}

/** A JPEG whose frame header (SOF0) comes after an APP1 (EXIF) block of `exifBytes` bytes, split into 64 KiB segments. */
export function jpeg(width: number, height: number, opts: { exifBytes?: number; size?: number; progressive?: boolean } = {}): Uint8Array {
  const head: number[] = [0xff, 0xd8, 0xff, 0xe0, ...be16(16), ...ascii("JFIF"), 0, 1, 1, 0, 0, 1, 0, 1, 0, 0];
  for (let left = opts.exifBytes ?? 0; left > 0; ) {
    const n = Math.min(left, 65533);
    head.push(0xff, 0xe1, ...be16(n + 2), ...new Array(n).fill(0x45));
    left -= n;
  }
  head.push(0xff, 0xdb, ...be16(67), 0, ...new Array(64).fill(1)); // a quantization table before the frame
  head.push(0xff, opts.progressive ? 0xc2 : 0xc0, ...be16(17), 8, ...be16(height), ...be16(width), 3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1);
  head.push(0xff, 0xda, ...be16(12), 3, 1, 0, 2, 0x11, 3, 0x11, 0, 0x3f, 0);
  return bytesOf(head, Math.max(opts.size ?? 0, head.length + 16));
}

export const png = (width: number, height: number, size = 256) =>
  bytesOf(
    [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, ...be32(13), ...ascii("IHDR"), ...be32(width), ...be32(height), 8, 6, 0, 0, 0],
    size,
  );

export const gif = (width: number, height: number, size = 128) =>
  bytesOf([...ascii("GIF89a"), ...le16(width), ...le16(height), 0xf7, 0, 0], size);

export const webpLossy = (width: number, height: number, size = 128) =>
  bytesOf(
    [
      ...ascii("RIFF"),
      ...be32(size - 8).reverse(),
      ...ascii("WEBPVP8 "),
      0,
      0,
      0,
      0,
      0x30,
      0x01,
      0,
      0x9d,
      0x01,
      0x2a,
      ...le16(width),
      ...le16(height),
    ],
    size,
  );

export function webpLossless(width: number, height: number, size = 128): Uint8Array {
  const bits = ((width - 1) & 0x3fff) | (((height - 1) & 0x3fff) << 14);
  return bytesOf(
    [
      ...ascii("RIFF"),
      0,
      0,
      0,
      0,
      ...ascii("WEBPVP8L"),
      0,
      0,
      0,
      0,
      0x2f,
      bits & 0xff,
      (bits >> 8) & 0xff,
      (bits >> 16) & 0xff,
      (bits >>> 24) & 0xff,
    ],
    size,
  );
}

export const webpExtended = (width: number, height: number, size = 128) =>
  bytesOf([...ascii("RIFF"), 0, 0, 0, 0, ...ascii("WEBPVP8X"), 10, 0, 0, 0, 0x10, 0, 0, 0, ...le24(width - 1), ...le24(height - 1)], size);

export const mp4 = (size = 4096, brand = "isom") =>
  bytesOf([...be32(24), ...ascii("ftyp"), ...ascii(brand), 0, 0, 2, 0, ...ascii("isomiso2")], size);

/** An EBML header with the given DocType (webm, or matroska for an .mkv). */
export function ebml(docType = "webm", size = 4096): Uint8Array {
  const body = [
    0x42,
    0x86,
    0x81,
    1,
    0x42,
    0xf7,
    0x81,
    1,
    0x42,
    0xf2,
    0x81,
    4,
    0x42,
    0xf3,
    0x81,
    8,
    0x42,
    0x82,
    0x80 | docType.length,
    ...ascii(docType),
  ];
  return bytesOf([0x1a, 0x45, 0xdf, 0xa3, 0x80 | body.length, ...body, 0x18, 0x53, 0x80, 0x67], size);
}

export const mp3 = (size = 2048) => bytesOf([...ascii("ID3"), 4, 0, 0, 0, 0, 0, 0], size);
export const mp3Frame = (size = 2048) => bytesOf([0xff, 0xfb, 0x90, 0x64], size);
export const ogg = (size = 2048) => bytesOf([...ascii("OggS"), 0, 2], size);
export const pdf = (size = 1024) => bytesOf(ascii("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"), size);

/** A body that arrives in chunks of `chunk` bytes (no Content-Length: sent chunked). */
export function chunked(bytes: Uint8Array, chunk = 16 * 1024): ReadableStream<Uint8Array> {
  let at = 0;
  return new ReadableStream({
    pull(controller) {
      if (at >= bytes.length) return controller.close();
      controller.enqueue(bytes.slice(at, at + chunk));
      at += chunk;
    },
  });
}

/** `size` bytes generated as they are read, starting with `head`: a large upload without a large buffer in the test. */
export function generated(head: Uint8Array, size: number, chunk = 256 * 1024): ReadableStream<Uint8Array> {
  let at = 0;
  return new ReadableStream({
    pull(controller) {
      if (at >= size) return controller.close();
      const n = Math.min(chunk, size - at);
      const part = new Uint8Array(n);
      for (let i = 0; i < n; i++) part[i] = at + i < head.length ? (head[at + i] ?? 0) : (at + i) & 0xff;
      controller.enqueue(part);
      at += n;
    },
  });
}

export async function sha256(data: ArrayBuffer | Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", data);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}
