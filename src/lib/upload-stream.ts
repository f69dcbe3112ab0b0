import { type Dimensions, MediaMismatch, type MediaSniffer } from "./media-sniff";

/** Why an upload's bytes were refused; the stream is errored with it, so nothing downstream commits. */
export class UploadRejected extends Error {
  override name = "UploadRejected";
  constructor(
    readonly reason: "type_mismatch" | "too_long" | "too_short" | "stalled",
    message: string,
  ) {
    super(message);
  }
}

export type InspectingStream = {
  stream: TransformStream<Uint8Array, Uint8Array>;
  /** Set once the stream errored itself: the reason the bytes were refused. */
  readonly rejection: UploadRejected | null;
  /** After the stream closed cleanly: the image's dimensions, or null for other types. */
  readonly dimensions: Dimensions | null;
};

/**
 * A pass-through stream that counts the bytes, checks them with a media sniffer as they go, and errors
 * (which aborts whatever it is piped into) on more bytes than `size`, fewer at the end, bytes that are
 * not the declared type, or no bytes for `idleMs`. Chunks are forwarded untouched: nothing is buffered
 * beyond the few header bytes the sniffer copies.
 */
export function inspectingStream(size: number, sniffer: MediaSniffer, idleMs: number): InspectingStream {
  let received = 0;
  let rejection: UploadRejected | null = null;
  let dimensions: Dimensions | null = null;
  let idle: number | null = null;

  const refuse = (err: unknown): never => {
    clearTimeout(idle);
    rejection = err instanceof UploadRejected ? err : new UploadRejected("type_mismatch", (err as Error).message);
    throw rejection;
  };
  const watch = (controller: TransformStreamDefaultController<Uint8Array>) => {
    clearTimeout(idle);
    idle = setTimeout(() => {
      rejection = new UploadRejected("stalled", `No bytes arrived for ${Math.round(idleMs / 1000)} s; the upload was abandoned`);
      controller.error(rejection);
    }, idleMs);
  };

  const stream = new TransformStream<Uint8Array, Uint8Array>({
    start: watch,
    transform(chunk, controller) {
      received += chunk.byteLength;
      if (received > size) refuse(new UploadRejected("too_long", `The body is longer than the declared ${size} bytes`));
      try {
        sniffer.push(chunk);
      } catch (err) {
        refuse(err instanceof MediaMismatch ? err : new Error(String(err)));
      }
      watch(controller);
      controller.enqueue(chunk);
    },
    flush() {
      clearTimeout(idle);
      if (received < size) refuse(new UploadRejected("too_short", `The body ended after ${received} of the declared ${size} bytes`));
      try {
        dimensions = sniffer.finish();
      } catch (err) {
        refuse(err);
      }
    },
    cancel() {
      clearTimeout(idle);
    },
  });

  return {
    stream,
    get rejection() {
      return rejection;
    },
    get dimensions() {
      return dimensions;
    },
  };
}
