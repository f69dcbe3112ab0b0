/**
 * Real files for the browser tests, made by Chromium itself: a photo drawn on a canvas and encoded
 * as JPEG or PNG, a voice note recorded by MediaRecorder from an oscillator, and a one-page PDF.
 */
import type { Page } from "playwright-core";
import { apiAs, server, tokenOf } from "./harness";

/** A small landscape "photo" (sky, sun, two ridges), encoded by the browser. */
export async function photo(page: Page, type: "image/jpeg" | "image/png" = "image/jpeg", width = 480, height = 360): Promise<Buffer> {
  const bytes = await page.evaluate(
    async ({ type, width, height }) => {
      const canvas = new OffscreenCanvas(width, height);
      const g = canvas.getContext("2d") as OffscreenCanvasRenderingContext2D;
      const sky = g.createLinearGradient(0, 0, 0, height);
      sky.addColorStop(0, "#ff9a76");
      sky.addColorStop(0.55, "#ffd3a5");
      sky.addColorStop(1, "#fce9d4");
      g.fillStyle = sky;
      g.fillRect(0, 0, width, height);
      g.fillStyle = "#fff4d6";
      g.beginPath();
      g.arc(width * 0.7, height * 0.42, height * 0.12, 0, Math.PI * 2);
      g.fill();
      const ridge = (color: string, base: number, peaks: [number, number][]) => {
        g.fillStyle = color;
        g.beginPath();
        g.moveTo(0, height);
        g.lineTo(0, base);
        for (const [x, y] of peaks) g.lineTo(x * width, y * height);
        g.lineTo(width, base);
        g.lineTo(width, height);
        g.fill();
      };
      ridge("#b5677d", height * 0.7, [
        [0.18, 0.48],
        [0.34, 0.62],
        [0.55, 0.4],
        [0.78, 0.6],
        [0.92, 0.5],
      ]);
      ridge("#5d3a5a", height * 0.85, [
        [0.12, 0.7],
        [0.3, 0.78],
        [0.46, 0.62],
        [0.66, 0.8],
        [0.86, 0.68],
      ]);
      const blob = await canvas.convertToBlob({ type, quality: 0.85 });
      return Array.from(new Uint8Array(await blob.arrayBuffer()));
    },
    { type, width, height },
  );
  return Buffer.from(bytes);
}

/** About a second of a 440 Hz tone, recorded the way a voice note is (MediaRecorder, WebM/Opus). */
export async function voiceNote(page: Page): Promise<Buffer> {
  const bytes = await page.evaluate(async () => {
    const ctx = new AudioContext();
    const tone = ctx.createOscillator();
    const out = ctx.createMediaStreamDestination();
    tone.connect(out);
    tone.start();
    const recorder = new MediaRecorder(out.stream, { mimeType: "audio/webm" });
    const chunks: Blob[] = [];
    recorder.ondataavailable = (e) => chunks.push(e.data);
    const done = new Promise((resolve) => {
      recorder.onstop = resolve;
    });
    recorder.start();
    await new Promise((resolve) => setTimeout(resolve, 1000));
    recorder.stop();
    await done;
    tone.stop();
    await ctx.close();
    return Array.from(new Uint8Array(await new Blob(chunks).arrayBuffer()));
  });
  return Buffer.from(bytes);
}

/** About a second of video (a moving sun), recorded from a canvas by MediaRecorder (WebM). */
export async function video(page: Page): Promise<Buffer> {
  const bytes = await page.evaluate(async () => {
    const canvas = Object.assign(document.createElement("canvas"), { width: 320, height: 240 });
    const g = canvas.getContext("2d") as CanvasRenderingContext2D;
    const recorder = new MediaRecorder(canvas.captureStream(25), { mimeType: "video/webm" });
    const chunks: Blob[] = [];
    recorder.ondataavailable = (e) => chunks.push(e.data);
    const done = new Promise((resolve) => {
      recorder.onstop = resolve;
    });
    recorder.start();
    const started = performance.now();
    await new Promise<void>((resolve) => {
      const frame = (now: number) => {
        const t = (now - started) / 1000;
        g.fillStyle = "#ffd3a5";
        g.fillRect(0, 0, 320, 240);
        g.fillStyle = "#e0436b";
        g.beginPath();
        g.arc(40 + 240 * Math.min(t, 1), 120, 30, 0, Math.PI * 2);
        g.fill();
        if (t < 1) requestAnimationFrame(frame);
        else resolve();
      };
      requestAnimationFrame(frame);
    });
    recorder.stop();
    await done;
    return Array.from(new Uint8Array(await new Blob(chunks).arrayBuffer()));
  });
  return Buffer.from(bytes);
}

/** A minimal one-page PDF (header, catalog, page, trailer). */
export function pdf(title: string): Buffer {
  const text = `BT /F1 18 Tf 30 100 Td (${title}) Tj ET`;
  const objects = [
    "<< /Type /Catalog /Pages 2 0 R >>",
    "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
    "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 300 200] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
    `<< /Length ${text.length} >>\nstream\n${text}\nendstream`,
    "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
  ];
  let body = "%PDF-1.4\n";
  const offsets: number[] = [];
  objects.forEach((o, i) => {
    offsets.push(body.length);
    body += `${i + 1} 0 obj\n${o}\nendobj\n`;
  });
  const xref = body.length;
  body += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n`;
  for (const at of offsets) body += `${String(at).padStart(10, "0")} 00000 n \n`;
  body += `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  return Buffer.from(body, "latin1");
}

/** A photo message sent over the API (announce, PUT the bytes, send), for a test whose subject is elsewhere. */
export async function sendPhoto(from: string, to: string, bytes: Buffer, caption: string) {
  const token = await tokenOf(from);
  const json = { authorization: `Bearer ${token}`, "content-type": "application/json" };
  const created = await fetch(`${server.url}/api/v2/attachments`, {
    method: "POST",
    headers: json,
    body: JSON.stringify({ mime_type: "image/jpeg", size_bytes: bytes.length, name: "photo.jpg" }),
  }).then((r) => r.json() as Promise<{ attachment_id: string; upload_url: string }>);
  const put = await fetch(created.upload_url, {
    method: "PUT",
    headers: { authorization: `Bearer ${token}`, "content-type": "image/jpeg" },
    body: new Uint8Array(bytes),
  });
  if (!put.ok) throw new Error(`upload → ${put.status} ${await put.text()}`);
  return apiAs(from, "POST", "/api/v2/messages/send", {
    receiver_id: to,
    content: caption,
    message_type: "image",
    attachments: [{ attachment_id: created.attachment_id }],
  });
}
