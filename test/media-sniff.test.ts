import { describe, expect, it } from "vitest";
import { MediaMismatch, mediaSniffer, type SniffableType } from "../src/lib/media-sniff";
import { bytesOf, ebml, gif, jpeg, mp3, mp3Frame, mp4, ogg, pdf, png, webpExtended, webpLossless, webpLossy } from "./media";

/** Feeds the bytes in chunks of `chunk` (1 = byte by byte) and returns what the sniffer concludes. */
function sniff(type: SniffableType, bytes: Uint8Array, chunk = bytes.length) {
  const s = mediaSniffer(type);
  for (let at = 0; at < bytes.length; at += chunk) s.push(bytes.subarray(at, at + chunk));
  return s.finish();
}

describe("media sniffing: magic bytes and image dimensions from the headers", () => {
  it.each([
    ["image/jpeg", jpeg(640, 480), { width: 640, height: 480 }],
    ["image/jpeg", jpeg(1080, 1920, { progressive: true }), { width: 1080, height: 1920 }],
    ["image/png", png(300, 200), { width: 300, height: 200 }],
    ["image/gif", gif(48, 32), { width: 48, height: 32 }],
    ["image/webp", webpLossy(800, 600), { width: 800, height: 600 }],
    ["image/webp", webpLossless(1023, 77), { width: 1023, height: 77 }],
    ["image/webp", webpExtended(4000, 3000), { width: 4000, height: 3000 }],
    ["video/mp4", mp4(), null],
    ["audio/mp4", mp4(4096, "M4A "), null],
    ["video/webm", ebml("webm"), null],
    ["audio/webm", ebml("webm"), null],
    ["audio/mpeg", mp3(), null],
    ["audio/mpeg", mp3Frame(), null],
    ["audio/ogg", ogg(), null],
    ["application/pdf", pdf(), null],
  ] as [SniffableType, Uint8Array, unknown][])("%s: whole, and byte by byte, give the same answer", (type, bytes, expected) => {
    expect(sniff(type, bytes)).toEqual(expected);
    expect(sniff(type, bytes, 1)).toEqual(expected);
    expect(sniff(type, bytes, 7)).toEqual(expected);
  });

  it("finds a JPEG's frame header after a 300 KB EXIF block, fed in odd-sized chunks, copying only header bytes", () => {
    const bytes = jpeg(4032, 3024, { exifBytes: 300_000 });
    expect(bytes.length).toBeGreaterThan(300_000);
    expect(sniff("image/jpeg", bytes, 4093)).toEqual({ width: 4032, height: 3024 });
    expect(sniff("image/jpeg", bytes, 65_536)).toEqual({ width: 4032, height: 3024 });
  });

  it.each([
    ["a PNG declared as JPEG", "image/jpeg", png(10, 10)],
    ["a JPEG declared as PNG", "image/png", jpeg(10, 10)],
    ["a PDF declared as GIF", "image/gif", pdf()],
    ["a GIF with another version", "image/gif", bytesOf([0x47, 0x49, 0x46, 0x38, 0x38, 0x61, 1, 0, 1, 0])],
    ["RIFF that is not WebP (a WAV)", "image/webp", bytesOf([0x52, 0x49, 0x46, 0x46, 0, 0, 0, 0, 0x57, 0x41, 0x56, 0x45])],
    ["an MP4 declared as WebM", "video/webm", mp4()],
    ["a Matroska file declared as WebM", "video/webm", ebml("matroska")],
    ["a WebM declared as MP4", "video/mp4", ebml("webm")],
    ["an Ogg declared as MP3", "audio/mpeg", ogg()],
    ["AAC (ADTS, layer 00) declared as MP3", "audio/mpeg", bytesOf([0xff, 0xf1, 0x50, 0x80])],
    ["text declared as PDF", "application/pdf", bytesOf([0x68, 0x65, 0x6c, 0x6c, 0x6f])],
    ["HTML declared as an image", "image/png", bytesOf(Array.from("<html><script>", (c) => c.charCodeAt(0)))],
    ["a JPEG whose image data starts before any frame header", "image/jpeg", bytesOf([0xff, 0xd8, 0xff, 0xda, 0, 4, 0, 0])],
    ["a JPEG of width 0", "image/jpeg", jpeg(0, 10)],
    ["a PNG without IHDR", "image/png", bytesOf([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x49, 0x44, 0x41, 0x54])],
  ] as [string, SniffableType, Uint8Array][])("refuses %s", (_name, type, bytes) => {
    expect(() => sniff(type, bytes)).toThrow(MediaMismatch);
    expect(() => sniff(type, bytes, 1)).toThrow(MediaMismatch);
  });

  it("refuses a file that ends before its headers (a JPEG cut before its frame header, a 3-byte PNG)", () => {
    const cut = jpeg(100, 100, { exifBytes: 1000 }).subarray(0, 900);
    expect(() => sniff("image/jpeg", cut)).toThrow(/ends before its headers/);
    expect(() => sniff("image/png", png(1, 1).subarray(0, 3))).toThrow(MediaMismatch);
  });

  it("says no as soon as the first bytes disagree, before the rest arrives", () => {
    const s = mediaSniffer("image/png");
    expect(() => s.push(new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 0, 0, 0, 0]))).toThrow(MediaMismatch);
  });
});
