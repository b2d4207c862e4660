// Static files: GET and HEAD, one Range per request, conditional requests, streamed from disk.
// Paths are checked twice: syntactically (no "..", no dot segments, no NUL, no encoded or back
// slashes) and then on disk (realpath must stay inside the mount's realpath, so a symlink cannot
// lead out). Directories are never listed. Memory per download is one read buffer.
import type { FileHandle } from "node:fs/promises";
import { open, realpath } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import path from "node:path";
import { pipeline } from "node:stream/promises";

/** Read buffer per download: large enough to keep syscalls per GB low, small times 1000 clients. */
const READ_CHUNK = 512 * 1024;

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
  let handedOver = false;
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
    handedOver = true;
    const stream = handle.createReadStream({ start, end, highWaterMark: READ_CHUNK });
    try {
      await pipeline(stream, res);
    } catch {
      // Client went away or the disk failed mid-file: the socket is already destroyed.
    }
    return { status, bytes: length };
  } finally {
    if (!handedOver) await handle.close().catch(() => undefined);
  }
}
