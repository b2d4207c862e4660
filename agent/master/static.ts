// Static files: GET and HEAD, one Range per request, conditional requests, streamed from disk.
// Paths are checked twice: syntactically (no "..", no dot segments, no NUL, no encoded or back
// slashes) and then on disk (realpath must stay inside the mount's realpath, so a symlink cannot
// lead out). Directories are never listed. File data goes through a bounded pool of reused
// buffers (pread into a buffer, write it to the socket, reuse it once the kernel has it): memory
// does not grow with file size or client count, and no fresh pages are faulted in per chunk,
// which on a loaded 2-core machine more than halves the CPU per byte compared to a stream pipe.
// Node has no sendfile, so the cost per byte is one pread copy, one socket copy and a fixed cost
// per chunk (a thread-pool round trip for the read, a write call): 1 MiB chunks instead of 256 KiB
// cut that fixed cost by four: bench:master (50 downloads of a 500 MB file, loaded machine) went
// from 1.16-1.30 x nginx (sendfile) to 1.38-1.50 x (docs/benchmarks-hall.md). The pool is capped
// at 32 MiB, so the master's RSS stays under its target with many peers downloading.
import type { FileHandle } from "node:fs/promises";
import { open, realpath } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import path from "node:path";

/** Size of one pooled buffer (one pread, one socket write). */
const CHUNK = 1024 * 1024;
/** At most this many pooled buffers exist at once (32 MiB); downloads wait for one beyond. */
const POOL_MAX = 32;
/** Writes in flight per download (read-ahead of one chunk while the previous one is sent). */
const INFLIGHT = 2;
/** A download whose client reads nothing for this long is dropped, freeing its buffers. */
const STALL_MS = 60_000;

class BufferPool {
  private readonly free: Buffer[] = [];
  private readonly waiting: ((buf: Buffer) => void)[] = [];
  private total = 0;

  acquire(): Promise<Buffer> | Buffer {
    const buf = this.free.pop();
    if (buf) return buf;
    if (this.total < POOL_MAX) {
      this.total++;
      return Buffer.allocUnsafeSlow(CHUNK);
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  /** The kernel is done with buf: hand it to a waiter or keep it. */
  release(buf: Buffer): void {
    const next = this.waiting.shift();
    if (next) next(buf);
    else this.free.push(buf);
  }

  /** buf may still be referenced by a dead socket's queue: forget it, allow a new one. */
  lose(): void {
    const next = this.waiting.shift();
    if (next) next(Buffer.allocUnsafeSlow(CHUNK));
    else this.total--;
  }
}

const pool = new BufferPool();

class Slot {
  settled = false;
  readonly done: Promise<void>;
  private resolve!: () => void;
  readonly buf: Buffer;
  constructor(buf: Buffer) {
    this.buf = buf;
    this.done = new Promise((resolve) => {
      this.resolve = resolve;
    });
  }
  settle(error: Error | null | undefined): void {
    if (this.settled) return;
    this.settled = true;
    if (error) pool.lose();
    else pool.release(this.buf);
    this.resolve();
  }
  abandon(): void {
    if (this.settled) return;
    this.settled = true;
    pool.lose();
    this.resolve();
  }
}

/** Send bytes start..end (inclusive) of handle to res, then end it. Throws on read errors. */
async function sendRange(
  handle: FileHandle,
  res: ServerResponse,
  start: number,
  end: number,
): Promise<void> {
  const inflight: Slot[] = [];
  let closed = false;
  const onClose = () => {
    closed = true;
    for (const slot of inflight) slot.abandon();
  };
  res.once("close", onClose);
  res.setTimeout(STALL_MS, () => res.destroy());
  try {
    let pos = start;
    while (pos <= end && !closed) {
      if (inflight.length >= INFLIGHT) {
        // Await before removing, so a close meanwhile still abandons this slot.
        await inflight[0]?.done;
        inflight.shift();
        continue;
      }
      const buf = await pool.acquire();
      if (closed) {
        pool.release(buf);
        break;
      }
      let bytesRead: number;
      try {
        ({ bytesRead } = await handle.read(buf, 0, Math.min(CHUNK, end - pos + 1), pos));
      } catch (error) {
        pool.release(buf);
        throw error;
      }
      if (closed) {
        pool.release(buf);
        break;
      }
      if (bytesRead === 0) {
        pool.release(buf);
        throw new Error("file shrank while being sent");
      }
      pos += bytesRead;
      const slot = new Slot(buf);
      inflight.push(slot);
      res.write(bytesRead === CHUNK ? buf : buf.subarray(0, bytesRead), (error) =>
        slot.settle(error),
      );
    }
    for (const slot of inflight) await slot.done;
    if (!closed) res.end();
  } finally {
    res.off("close", onClose);
  }
}

const CONTENT_TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".txt": "text/plain; charset=utf-8",
  ".ipxe": "text/plain; charset=utf-8",
  ".cfg": "text/plain; charset=utf-8",
  ".sh": "text/plain; charset=utf-8",
  ".json": "application/json",
  ".xml": "application/xml",
  ".gz": "application/gzip",
  ".tgz": "application/gzip",
  ".xz": "application/x-xz",
  ".zst": "application/zstd",
  ".tar": "application/x-tar",
  ".iso": "application/x-iso9660-image",
  ".efi": "application/efi",
};

export function contentTypeOf(file: string): string {
  return CONTENT_TYPES[path.extname(file).toLowerCase()] ?? "application/octet-stream";
}

export type PathCheck = { ok: true; segments: string[] } | { ok: false; status: 400 | 404 };

/**
 * Split the part of a URL path below a mount into decoded segments, or refuse it: 400 for
 * traversal and malformed encodings, 404 for hidden (dot) names such as temp files.
 */
export function checkUrlPath(raw: string): PathCheck {
  if (/%(2f|5c|00)/i.test(raw) || raw.includes("\\") || raw.includes("\0")) {
    return { ok: false, status: 400 };
  }
  const segments: string[] = [];
  for (const part of raw.split("/")) {
    if (part === "") continue;
    let decoded: string;
    try {
      decoded = decodeURIComponent(part);
    } catch {
      return { ok: false, status: 400 };
    }
    if (decoded === "." || decoded === "..") return { ok: false, status: 400 };
    if (decoded.includes("/") || decoded.includes("\\") || decoded.includes("\0")) {
      return { ok: false, status: 400 };
    }
    if (decoded.startsWith(".")) return { ok: false, status: 404 };
    segments.push(decoded);
  }
  return { ok: true, segments };
}

function inside(root: string, candidate: string): boolean {
  const prefix = root.endsWith(path.sep) ? root : root + path.sep;
  return candidate.startsWith(prefix);
}

/** The real path of segments below dir, or null when missing or outside dir (symlinks included). */
export async function resolveInside(dir: string, segments: string[]): Promise<string | null> {
  let rootReal: string;
  try {
    rootReal = await realpath(dir);
  } catch {
    return null;
  }
  const candidate = path.join(rootReal, ...segments);
  if (!inside(rootReal, candidate)) return null;
  try {
    const real = await realpath(candidate);
    return inside(rootReal, real) ? real : null;
  } catch {
    return null;
  }
}

export type RangeResult = { start: number; end: number } | "unsatisfiable" | null;

/** One `bytes=` range against size; null means "ignore the header and send everything". */
export function parseRange(header: string, size: number): RangeResult {
  const match = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header);
  if (!match) return null; // multiple ranges, other units, garbage: RFC 9110 lets us ignore it
  const [, a = "", b = ""] = match;
  if (a === "" && b === "") return null;
  if (a === "") {
    const suffix = Number(b);
    if (suffix === 0 || size === 0) return "unsatisfiable";
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(a);
  if (b !== "" && Number(b) < start) return null;
  if (start >= size) return "unsatisfiable";
  const end = b === "" ? size - 1 : Math.min(Number(b), size - 1);
  return { start, end };
}

function etagOf(size: number, mtimeMs: number): string {
  return `"${size.toString(16)}-${Math.floor(mtimeMs).toString(16)}"`;
}

function notModified(req: IncomingMessage, etag: string, mtimeMs: number): boolean {
  const inm = req.headers["if-none-match"];
  if (inm !== undefined) {
    return inm
      .split(",")
      .map((tag) => tag.trim().replace(/^W\//, ""))
      .some((tag) => tag === etag || tag === "*");
  }
  const ims = req.headers["if-modified-since"];
  if (ims !== undefined) {
    const since = Date.parse(ims);
    return Number.isFinite(since) && Math.floor(mtimeMs / 1000) * 1000 <= since;
  }
  return false;
}

function ifRangeMatches(req: IncomingMessage, etag: string, lastModified: string): boolean {
  const ifRange = req.headers["if-range"];
  if (ifRange === undefined) return true;
  const value = String(ifRange).trim();
  return value.startsWith('"') ? value === etag : value === lastModified;
}

export interface ServeFileOptions {
  contentType?: string;
  cacheControl?: string;
}

/**
 * Send a regular file (already resolved and checked). Returns the status sent and the number of
 * body bytes intended; 404 when it is not a regular file. Errors after headers destroy the socket.
 */
export async function serveFile(
  req: IncomingMessage,
  res: ServerResponse,
  file: string,
  options: ServeFileOptions = {},
): Promise<{ status: number; bytes: number }> {
  let handle: FileHandle;
  try {
    handle = await open(file, "r");
  } catch {
    return { status: 404, bytes: 0 };
  }
  try {
    const info = await handle.stat();
    if (!info.isFile()) return { status: 404, bytes: 0 };
    const size = info.size;
    const lastModified = info.mtime.toUTCString();
    const etag = etagOf(size, info.mtimeMs);
    res.setHeader("Accept-Ranges", "bytes");
    res.setHeader("Last-Modified", lastModified);
    res.setHeader("ETag", etag);
    res.setHeader("Cache-Control", options.cacheControl ?? "no-cache");
    if (notModified(req, etag, info.mtimeMs)) {
      res.writeHead(304);
      res.end();
      return { status: 304, bytes: 0 };
    }
    let start = 0;
    let end = size - 1;
    let status = 200;
    const rangeHeader = req.headers.range;
    if (rangeHeader !== undefined && ifRangeMatches(req, etag, lastModified)) {
      const range = parseRange(rangeHeader, size);
      if (range === "unsatisfiable") {
        res.writeHead(416, { "Content-Range": `bytes */${size}`, "Content-Length": 0 });
        res.end();
        return { status: 416, bytes: 0 };
      }
      if (range) {
        start = range.start;
        end = range.end;
        status = 206;
        res.setHeader("Content-Range", `bytes ${start}-${end}/${size}`);
      }
    }
    const length = size === 0 ? 0 : end - start + 1;
    res.writeHead(status, {
      "Content-Type": options.contentType ?? contentTypeOf(file),
      "Content-Length": length,
    });
    if (req.method === "HEAD" || length === 0) {
      res.end();
      return { status, bytes: 0 };
    }
    try {
      await sendRange(handle, res, start, end);
    } catch {
      // The disk failed mid-file: the headers are out, so the only signal left is a reset.
      res.destroy();
    }
    return { status, bytes: length };
  } finally {
    await handle.close().catch(() => undefined);
  }
}
