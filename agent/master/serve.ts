// `recon-agent serve`: the master's HTTP server, on node:http alone. It serves the status page at
// "/", the upload API under /api/v1/nodes, the exports under /api/v1/export (downloads.ts),
// configured static roots (/export, /isos, /install, /nodes) and single files (/menu.ipxe,
// /post.tgz). The API is documented in docs/api.md.
import { createHash, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import path from "node:path";
import { Inventory, SCHEMA_VERSION } from "../../schema/inventory.ts";
import { ERROR_CODES, ReconError } from "../errors.ts";
import { EXPORT_PREFIX, isDownloadName, sendDownload } from "./downloads.ts";
import { MAX_EVENT_BYTES } from "./events.ts";
import { EvidenceCheck } from "./evidence.ts";
import { Hall } from "./hall.ts";
import { jsonDepthExceeds, MAX_JSON_DEPTH } from "./json-depth.ts";
import { sendNodePage } from "./node-page.ts";
import { PAGE_CSP, renderPage } from "./page.ts";
import {
  ClientRate,
  DEFAULT_EVENT_RATE,
  DEFAULT_UPLOAD_RATE,
  type RateLimit,
  watchRate,
} from "./rate.ts";
import { checkUrlPath, resolveInside, serveFile } from "./static.ts";
import {
  FILE_NAMES,
  isValidNodeId,
  type Kind,
  NodeStore,
  type NodeSummary,
  StoreError,
  summarize,
} from "./store.ts";

export const DEFAULT_MAX_INVENTORY_BYTES = 4 * 1024 * 1024;
export const DEFAULT_MAX_EVIDENCE_BYTES = 64 * 1024 * 1024;
/** After a refusal with the body still coming, read (and drop) at most this much, then hang up. */
const DISCARD_LIMIT = 1024 * 1024;
const DISCARD_MS = 2000;
/** Open requests get this long to finish after close() before their sockets are destroyed. */
const CLOSE_GRACE_MS = 1000;
/** An admitted upload whose client sends nothing for this long is dropped (frees its slot). */
const UPLOAD_IDLE_MS = 30_000;
const MAX_ISSUES = 100;
export const DEFAULT_MAX_CONCURRENT_UPLOADS = 16;
/** An upload slower than this on average, once past the grace period, is cut with 408. */
export const DEFAULT_MIN_UPLOAD_BYTES_PER_SECOND = 1024;
export const DEFAULT_UPLOAD_GRACE_MS = 10_000;
export const DEFAULT_MAX_CONNECTIONS = 256;

export type LogEvent = Record<string, unknown>;

export interface ServerOptions {
  /** Data directory; nodes are stored under <root>/nodes/<nodeId>/. */
  root: string;
  /** Address to bind; default 127.0.0.1. */
  host?: string;
  /** TCP port; 0 (the default) picks a free one. */
  port?: number;
  /** When set, uploads need `Authorization: Bearer <token>`; reads stay open. */
  token?: string | null;
  maxInventoryBytes?: number;
  maxEvidenceBytes?: number;
  /**
   * Minimum average transfer rate of an admitted upload body, checked once `uploadGraceMs` has
   * passed since admission: a client trickling bytes cannot hold an upload slot for long.
   */
  minUploadBytesPerSecond?: number;
  uploadGraceMs?: number;
  /** URL prefix -> directory, e.g. { "/isos": "/srv/isos", "/nodes": "<root>/nodes" }. */
  staticRoots?: Record<string, string>;
  /** Exact URL path -> file, e.g. { "/menu.ipxe": "/srv/tftp/menu.ipxe" }. */
  files?: Record<string, string>;
  /**
   * Uploads whose bodies are read at the same time; later ones wait with their sockets paused
   * (their bytes stay in kernel buffers), so memory does not grow with the number of peers.
   */
  maxConcurrentUploads?: number;
  /**
   * Connections served at once; later ones are accepted but not read until one closes (their
   * requests wait in kernel buffers), and while any wait, responses close their connection.
   */
  maxConnections?: number;
  /** dnsmasq.conf of the master's dnsmasq (its lease file and DHCP range: hall.ts). */
  dnsmasqConf?: string | null;
  /** dnsmasq's lease file, when not (or not as) in dnsmasqConf. */
  leaseFile?: string | null;
  /** The file dnsmasq's dhcp-script hook appends to (hall.ts: client architectures). */
  dhcpHookFile?: string | null;
  /** A node with no progress for this long is `stalled` (default 10 minutes). */
  stallAfterMs?: number;
  /** Requests per client IP (rate.ts): events and uploads each have their own bucket. */
  clientRate?: { events?: RateLimit; uploads?: RateLimit };
  /** One structured event per call (a request served, a document stored, an error). */
  log?: (event: LogEvent) => void;
}

export interface RunningServer {
  /** Base URL clients can use, e.g. http://127.0.0.1:8080 (wildcard binds show loopback). */
  url: string;
  port: number;
  /** Stop accepting, let open requests finish briefly, then drop the rest. */
  close(): Promise<void>;
}

class HttpError extends Error {
  readonly status: number;
  readonly code: string;
  readonly extra: Record<string, unknown>;
  readonly headers: Record<string, string>;
  constructor(
    status: number,
    code: string,
    message: string,
    extra: Record<string, unknown> = {},
    headers: Record<string, string> = {},
  ) {
    super(message);
    this.status = status;
    this.code = code;
    this.extra = extra;
    this.headers = headers;
  }
}

/** A counting semaphore with a FIFO queue. */
class Gate {
  private active = 0;
  private readonly waiting: (() => void)[] = [];
  private readonly limit: number;
  constructor(limit: number) {
    this.limit = Math.max(1, limit);
  }
  get queued(): number {
    return this.waiting.length;
  }
  async enter(): Promise<() => void> {
    if (this.active < this.limit) {
      this.active++;
    } else {
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting.shift();
      if (next) next();
      else this.active--;
    };
  }
}

function tokenDigest(value: string): Buffer {
  return createHash("sha256").update(value, "utf8").digest();
}

function normalizePrefix(prefix: string): string {
  const trimmed = prefix.replace(/\/+$/, "");
  if (!trimmed.startsWith("/") || trimmed === "" || /^\/api(\/|$)/.test(trimmed)) {
    throw new ReconError(ERROR_CODES.USAGE, `invalid static prefix ${JSON.stringify(prefix)}`);
  }
  if (checkUrlPath(trimmed).ok === false) {
    throw new ReconError(ERROR_CODES.USAGE, `invalid static prefix ${JSON.stringify(prefix)}`);
  }
  return trimmed;
}

function urlHost(host: string): string {
  if (host === "0.0.0.0" || host === "") return "127.0.0.1";
  if (host === "::") return "[::1]";
  return host.includes(":") ? `[${host}]` : host;
}

/** Dotted paths of the failing fields, one per unknown key for strict objects. */
function issuesOf(error: {
  issues: readonly {
    path: readonly PropertyKey[];
    code: string;
    message: string;
    keys?: readonly string[];
  }[];
}): { path: string; code: string; message: string }[] {
  const out: { path: string; code: string; message: string }[] = [];
  for (const issue of error.issues) {
    const base = issue.path.map(String);
    if (issue.code === "unrecognized_keys" && issue.keys && issue.keys.length > 0) {
      for (const key of issue.keys) {
        out.push({ path: [...base, key].join("."), code: issue.code, message: issue.message });
      }
    } else {
      out.push({ path: base.join(".") || "(document)", code: issue.code, message: issue.message });
    }
  }
  return out.slice(0, MAX_ISSUES);
}

/** The underlying error's own words, for messages that must say why (EADDRINUSE, ENOTDIR). */
export function causeText(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const code = (error as NodeJS.ErrnoException | null)?.code;
  return code && !message.includes(code) ? `${code}: ${message}` : message;
}

/** The client's IP address ("::ffff:10.0.0.5" as "10.0.0.5"): the key of its rate bucket. */
function clientAddress(req: IncomingMessage): string {
  const remote = req.socket.remoteAddress ?? "";
  return remote.startsWith("::ffff:") ? remote.slice(7) : remote;
}

/** Whether the request carries a body (one that may still be arriving). */
function hasBody(req: IncomingMessage): boolean {
  const length = req.headers["content-length"];
  return req.headers["transfer-encoding"] !== undefined || (length !== undefined && length !== "0");
}

/** Parse and validate an uploaded document; returns its summary or throws HttpError 400/409. */
function validateInventory(data: Buffer, nodeId: string): NodeSummary {
  // Before JSON.parse: a deeply nested body would block the event loop in the parser and schema.
  if (jsonDepthExceeds(data, MAX_JSON_DEPTH)) {
    throw new HttpError(400, "too_deep", `JSON nested deeper than ${MAX_JSON_DEPTH} levels`, {
      maxDepth: MAX_JSON_DEPTH,
    });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(data.toString("utf8"));
  } catch (error) {
    throw new HttpError(400, "invalid_json", `not JSON: ${(error as Error).message}`);
  }
  const checked = Inventory.safeParse(parsed);
  if (!checked.success) {
    throw new HttpError(
      400,
      "invalid_document",
      `the document does not satisfy the inventory schema ${SCHEMA_VERSION}`,
      { issues: issuesOf(checked.error) },
    );
  }
  if (checked.data.nodeId !== nodeId) {
    throw new HttpError(409, "node_id_mismatch", "the document's nodeId differs from the URL's", {
      documentNodeId: checked.data.nodeId,
    });
  }
  return summarize(checked.data);
}

interface Route {
  kind:
    | "page"
    | "node-page"
    | "list"
    | "node"
    | "upload"
    | "download"
    | "events"
    | "node-events"
    | "dhcp"
    | "file"
    | "static"
    | "api-404"
    | "not-found";
  nodeId?: string;
  /** The file name under /api/v1/export/. */
  download?: string;
  nodeIdError?: boolean;
  upload?: Kind;
}

/** The decoded nodeId of a raw URL segment, or null if it is not a valid one. */
function decodeNodeId(raw: string): string | null {
  if (raw.length > 3 * 128 || /%(2f|5c|00)/i.test(raw)) return null;
  let id: string;
  try {
    id = decodeURIComponent(raw);
  } catch {
    return null;
  }
  return isValidNodeId(id) ? id : null;
}

function route(pathname: string): Route {
  if (pathname === "/" || pathname === "/index.html") return { kind: "page" };
  if (pathname.startsWith("/node/")) {
    const nodeId = decodeNodeId(pathname.slice("/node/".length));
    return nodeId === null ? { kind: "not-found" } : { kind: "node-page", nodeId };
  }
  if (pathname === "/api/v1/nodes" || pathname === "/api/v1/nodes/") return { kind: "list" };
  if (pathname === "/api/v1/events") return { kind: "events" };
  if (pathname === "/api/v1/dhcp") return { kind: "dhcp" };
  if (pathname.startsWith("/api/v1/nodes/") && pathname.endsWith("/events")) {
    const nodeId = decodeNodeId(pathname.slice("/api/v1/nodes/".length, -"/events".length));
    return nodeId === null
      ? { kind: "node-events", nodeIdError: true }
      : { kind: "node-events", nodeId };
  }
  if (pathname.startsWith("/api/v1/nodes/")) {
    let rest = pathname.slice("/api/v1/nodes/".length);
    let upload: Kind | undefined;
    for (const kind of ["inventory", "evidence"] as const) {
      if (rest.endsWith(`/${kind}`)) {
        upload = kind;
        rest = rest.slice(0, -(kind.length + 1));
        break;
      }
    }
    const nodeId = decodeNodeId(rest);
    if (nodeId === null) return { kind: upload ? "upload" : "node", nodeIdError: true };
    return upload ? { kind: "upload", nodeId, upload } : { kind: "node", nodeId };
  }
  if (pathname.startsWith(EXPORT_PREFIX)) {
    return { kind: "download", download: pathname.slice(EXPORT_PREFIX.length) };
  }
  if (pathname === "/api" || pathname.startsWith("/api/")) return { kind: "api-404" };
  return { kind: "not-found" };
}

export async function startServer(options: ServerOptions): Promise<RunningServer> {
  const log = options.log ?? (() => undefined);
  const maxInventoryBytes = options.maxInventoryBytes ?? DEFAULT_MAX_INVENTORY_BYTES;
  const maxEvidenceBytes = options.maxEvidenceBytes ?? DEFAULT_MAX_EVIDENCE_BYTES;
  const minUploadRate = options.minUploadBytesPerSecond ?? DEFAULT_MIN_UPLOAD_BYTES_PER_SECOND;
  const uploadGraceMs = options.uploadGraceMs ?? DEFAULT_UPLOAD_GRACE_MS;
  if (options.token === "") {
    throw new ReconError(ERROR_CODES.USAGE, "empty token: omit it or give a non-empty one");
  }
  const tokenHash = options.token ? tokenDigest(options.token) : null;
  const uploads = new Gate(options.maxConcurrentUploads ?? DEFAULT_MAX_CONCURRENT_UPLOADS);
  const eventRate = new ClientRate(options.clientRate?.events ?? DEFAULT_EVENT_RATE);
  const uploadRate = new ClientRate(options.clientRate?.uploads ?? DEFAULT_UPLOAD_RATE);
  /** 429 when this client is past its bucket (per IP: one peer's flood stops only that peer). */
  const checkRate = (rate: ClientRate, req: IncomingMessage, code: string): void => {
    const client = clientAddress(req);
    if (rate.take(client)) return;
    const retry = { "Retry-After": "1" };
    throw new HttpError(429, code, `too many requests from ${client}`, {}, retry);
  };
  const mounts = Object.entries(options.staticRoots ?? {})
    .map(([prefix, dir]) => ({ prefix: normalizePrefix(prefix), dir: path.resolve(dir) }))
    .sort((a, b) => b.prefix.length - a.prefix.length);
  const files = new Map(
    Object.entries(options.files ?? {}).map(([urlPath, file]) => {
      if (!urlPath.startsWith("/") || checkUrlPath(urlPath).ok === false) {
        throw new ReconError(ERROR_CODES.USAGE, `invalid file path ${JSON.stringify(urlPath)}`);
      }
      return [urlPath, path.resolve(file)] as const;
    }),
  );

  const store = new NodeStore(options.root);
  try {
    const opened = await store.open();
    log({ event: "store_opened", root: store.root, ...opened });
  } catch (error) {
    throw new ReconError(
      ERROR_CODES.IO,
      `cannot open the data directory ${store.root}: ${causeText(error)}`,
      { cause: error },
    );
  }
  let hall: Hall;
  try {
    hall = await Hall.open({
      root: options.root,
      dnsmasqConf: options.dnsmasqConf ?? null,
      leaseFile: options.leaseFile ?? null,
      dhcpHookFile: options.dhcpHookFile ?? null,
      ...(options.stallAfterMs !== undefined ? { stallAfterMs: options.stallAfterMs } : {}),
      log,
    });
  } catch (error) {
    if (error instanceof ReconError) throw error;
    throw new ReconError(ERROR_CODES.IO, `cannot open the events: ${causeText(error)}`, {
      cause: error,
    });
  }

  function sendJson(
    req: IncomingMessage,
    res: ServerResponse,
    status: number,
    body: unknown,
    headers: Record<string, string> = {},
  ): void {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const text = `${JSON.stringify(body)}\n`;
    // Only a body still arriving forces the connection closed; bodiless GETs keep it alive.
    const bodyPending = !req.complete && hasBody(req);
    res.writeHead(status, {
      "Content-Type": "application/json; charset=utf-8",
      "Content-Length": Buffer.byteLength(text),
      "Cache-Control": "no-store",
      "X-Content-Type-Options": "nosniff",
      ...(bodyPending ? { Connection: "close" } : {}),
      ...headers,
    });
    res.end(text);
    if (bodyPending) discardRest(req);
  }

  /** Refused with the body still arriving: drop a bounded amount so the client reads the answer. */
  function discardRest(req: IncomingMessage): void {
    if (req.readableEnded || req.destroyed) return;
    let dropped = 0;
    const hangUp = () => req.socket.destroy();
    const timer = setTimeout(hangUp, DISCARD_MS);
    timer.unref();
    req.removeAllListeners("data");
    req.on("data", (chunk: Buffer) => {
      dropped += chunk.length;
      if (dropped > DISCARD_LIMIT) hangUp();
    });
    req.once("close", () => clearTimeout(timer));
    req.on("error", () => undefined);
    req.resume();
  }

  function sendError(req: IncomingMessage, res: ServerResponse, error: HttpError): void {
    sendJson(
      req,
      res,
      error.status,
      { error: error.code, message: error.message, ...error.extra },
      error.headers,
    );
  }

  function sendText(res: ServerResponse, status: number, text: string): void {
    res.writeHead(status, {
      "Content-Type": "text/plain; charset=utf-8",
      "Content-Length": Buffer.byteLength(text),
      "X-Content-Type-Options": "nosniff",
    });
    res.end(text);
  }

  function methodNotAllowed(allow: string): HttpError {
    return new HttpError(405, "method_not_allowed", "method not allowed", {}, { Allow: allow });
  }

  /** The bearer token rule of every write (uploads and events); null when it passes. */
  function checkToken(req: IncomingMessage): HttpError | null {
    if (tokenHash) {
      const header = req.headers.authorization ?? "";
      const match = /^Bearer[ ]+(\S+)\s*$/i.exec(header);
      const challenge = { "WWW-Authenticate": 'Bearer realm="recon"' };
      if (!match?.[1]) {
        return new HttpError(401, "unauthorized", "a bearer token is required", {}, challenge);
      }
      if (!timingSafeEqual(tokenDigest(match[1]), tokenHash)) {
        return new HttpError(401, "unauthorized", "wrong token", {}, challenge);
      }
    }
    return null;
  }

  /** Checks an upload can pass before its body is read (also answers Expect: 100-continue). */
  function precheckUpload(req: IncomingMessage, r: Route): HttpError | null {
    const unauthorized = checkToken(req);
    if (unauthorized) return unauthorized;
    if (r.nodeIdError || !r.nodeId || !r.upload) {
      return new HttpError(400, "invalid_node_id", "nodeId must match the node id pattern");
    }
    const limit = r.upload === "inventory" ? maxInventoryBytes : maxEvidenceBytes;
    const declared = req.headers["content-length"];
    if (declared !== undefined && Number(declared) > limit) {
      return new HttpError(413, "too_large", `body exceeds ${limit} bytes`, { limit });
    }
    const encoding = req.headers["content-encoding"];
    if (encoding !== undefined && encoding.toLowerCase() !== "identity") {
      return new HttpError(415, "unsupported_encoding", "send the body without Content-Encoding");
    }
    return null;
  }

  /** The whole body, at most limit bytes (413 beyond); one allocation when the length is known. */
  function readLimited(req: IncomingMessage, limit: number): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const declared = Number(req.headers["content-length"]);
      const known = Number.isSafeInteger(declared) && declared >= 0 && declared <= limit;
      const whole = known ? Buffer.allocUnsafe(declared) : null;
      const chunks: Buffer[] = [];
      let bytes = 0;
      const onData = (chunk: Buffer) => {
        if (bytes + chunk.length > limit || (whole && bytes + chunk.length > whole.length)) {
          cleanup();
          chunks.length = 0;
          reject(new HttpError(413, "too_large", `body exceeds ${limit} bytes`, { limit }));
          return;
        }
        if (whole) chunk.copy(whole, bytes);
        else chunks.push(chunk);
        bytes += chunk.length;
      };
      const onEnd = () => {
        cleanup();
        resolve(whole ? whole.subarray(0, bytes) : Buffer.concat(chunks, bytes));
      };
      const onClose = () => {
        cleanup();
        reject(new HttpError(499, "client_aborted", "client went away mid-body"));
      };
      const cleanup = () => {
        req.off("data", onData);
        req.off("end", onEnd);
        req.off("close", onClose);
        req.pause();
      };
      req.on("data", onData);
      req.once("end", onEnd);
      req.once("close", onClose);
      req.on("error", () => undefined);
    });
  }

  async function handleUpload(
    req: IncomingMessage,
    res: ServerResponse,
    r: Route,
    bag: LogEvent,
  ): Promise<void> {
    if (req.method !== "PUT") {
      if (req.method === "GET" || req.method === "HEAD") {
        if (r.nodeIdError || !r.nodeId || !r.upload) {
          throw new HttpError(400, "invalid_node_id", "nodeId must match the node id pattern");
        }
        const file = path.join(store.nodeDir(r.nodeId), FILE_NAMES[r.upload]);
        const sent = await serveFile(req, res, file);
        if (sent.status === 404) throw new HttpError(404, "not_found", `no ${r.upload} stored`);
        return;
      }
      throw methodNotAllowed("GET, HEAD, PUT");
    }
    const refused = precheckUpload(req, r);
    if (refused) throw refused;
    checkRate(uploadRate, req, "too_many_uploads");
    const nodeId = r.nodeId as string;
    const kind = r.upload as Kind;
    bag.nodeId = nodeId;
    bag.kind = kind;
    if (uploads.queued > 0) bag.queued = uploads.queued;
    // Stop reading this socket until the upload is admitted: a queued body stays in the kernel.
    req.socket.pause();
    const release = await uploads.enter();
    req.socket.resume();
    req.setTimeout(UPLOAD_IDLE_MS, () => req.destroy());
    const rate = watchRate(req.socket, minUploadRate, uploadGraceMs, (bytesPerSecond) => {
      bag.bytesPerSecond = bytesPerSecond;
      log({ event: "slow_upload", nodeId, kind, bytesPerSecond, minBytesPerSecond: minUploadRate });
      // Answer now; the pending read then fails when the socket goes, which frees the slot.
      sendError(
        req,
        res,
        new HttpError(408, "too_slow", `upload slower than ${minUploadRate} bytes/s`, {
          minBytesPerSecond: minUploadRate,
        }),
      );
      // A silent client never closes: once the 408 is out, close the socket ourselves.
      res.once("finish", () => req.destroy());
    });
    req.once("end", () => rate.stop());
    let result: Awaited<ReturnType<NodeStore["putInventory"]>>;
    try {
      if (req.destroyed)
        throw new HttpError(499, "client_aborted", "client went away while queued");
      if (kind === "inventory") {
        const data = await readLimited(req, maxInventoryBytes);
        // Parsed and validated in a synchronous helper: the document's object graph is garbage
        // before the fsyncs are awaited (1,000 parked uploads must not each hold one).
        result = await store.putInventory(nodeId, data, validateInventory(data, nodeId));
      } else {
        result = await store.putStream(nodeId, kind, req, {
          maxBytes: maxEvidenceBytes,
          head: {
            need: 3,
            check: (head) => {
              if (head.length < 3 || head[0] !== 0x1f || head[1] !== 0x8b || head[2] !== 0x08) {
                throw new StoreError(400, "not_gzip", "evidence must be a gzip (tar.gz) stream");
              }
            },
          },
          inspect: new EvidenceCheck(),
        });
      }
    } finally {
      rate.stop();
      release();
    }
    log({ event: "stored", ...result, kind });
    if (result.conflict) log({ event: "conflict", nodeId, sha256: result.sha256 });
    sendJson(req, res, result.conflict ? 202 : result.unchanged ? 200 : 201, result, {
      Location: `/api/v1/nodes/${encodeURIComponent(nodeId)}`,
    });
  }

  /** POST /api/v1/events: the upload rules (token, size, encoding, a rate per client IP). */
  async function handleEvent(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== "POST") throw methodNotAllowed("POST");
    const refused = checkToken(req);
    if (refused) throw refused;
    if (Number(req.headers["content-length"] ?? 0) > MAX_EVENT_BYTES) {
      throw new HttpError(413, "too_large", `body exceeds ${MAX_EVENT_BYTES} bytes`, {
        limit: MAX_EVENT_BYTES,
      });
    }
    const encoding = req.headers["content-encoding"];
    if (encoding !== undefined && encoding.toLowerCase() !== "identity") {
      throw new HttpError(415, "unsupported_encoding", "send the body without Content-Encoding");
    }
    checkRate(eventRate, req, "too_many_events");
    req.setTimeout(UPLOAD_IDLE_MS, () => req.destroy());
    const record = await hall.acceptPeerEvent(
      await readLimited(req, MAX_EVENT_BYTES),
      req.socket.remoteAddress,
    );
    sendJson(req, res, 202, { accepted: true, seq: record.seq, key: record.key });
  }

  async function handleNode(req: IncomingMessage, res: ServerResponse, r: Route): Promise<void> {
    if (req.method !== "GET" && req.method !== "HEAD") throw methodNotAllowed("GET, HEAD");
    if (r.nodeIdError || !r.nodeId) {
      throw new HttpError(400, "invalid_node_id", "nodeId must match the node id pattern");
    }
    const record = store.get(r.nodeId);
    if (!record?.inventory) {
      // Evidence alone does not make a node (its file stays readable under .../evidence).
      throw new HttpError(
        404,
        "not_found",
        record ? "no inventory for this node yet" : "no such node",
      );
    }
    const data = record.inventory ? await store.readInventory(r.nodeId) : null;
    let document: unknown = null;
    if (data) {
      try {
        document = JSON.parse(data.toString("utf8"));
      } catch {
        document = null;
      }
    }
    const evidenceSha = record.evidence ? await store.sha256Of(r.nodeId, "evidence") : null;
    const base = `/api/v1/nodes/${encodeURIComponent(r.nodeId)}`;
    sendJson(req, res, 200, {
      nodeId: record.nodeId,
      lastReportAt: record.lastSeenAt,
      inventory: record.inventory ? { ...record.inventory, url: `${base}/inventory` } : null,
      evidence: record.evidence
        ? { ...record.evidence, sha256: evidenceSha, url: `${base}/evidence` }
        : null,
      history: await store.history(r.nodeId),
      document,
    });
  }

  async function handleStatic(
    req: IncomingMessage,
    res: ServerResponse,
    pathname: string,
  ): Promise<boolean> {
    const exact = files.get(pathname);
    let file: string | null = null;
    if (exact !== undefined) {
      file = exact;
    } else {
      const mount = mounts.find(
        (m) => pathname === m.prefix || pathname.startsWith(`${m.prefix}/`),
      );
      if (!mount) return false;
      const checked = checkUrlPath(pathname.slice(mount.prefix.length));
      if (!checked.ok) {
        sendText(res, checked.status, checked.status === 400 ? "bad path\n" : "not found\n");
        return true;
      }
      file = await resolveInside(mount.dir, checked.segments);
      if (file === null) {
        sendText(res, 404, "not found\n");
        return true;
      }
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      sendText(res, 405, "method not allowed\n");
      return true;
    }
    const sent = await serveFile(req, res, file);
    if (sent.status === 404) sendText(res, 404, "not found\n");
    else if (req.method === "GET" && sent.status === 200)
      hall.fileServed(req.socket.remoteAddress, pathname);
    return true;
  }

  async function handle(req: IncomingMessage, res: ServerResponse, bag: LogEvent): Promise<void> {
    const target = req.url ?? "";
    if (!target.startsWith("/"))
      throw new HttpError(400, "bad_request", "origin-form URL expected");
    const pathname = target.split("?", 1)[0] ?? "/";
    const r = route(pathname);
    switch (r.kind) {
      case "page": {
        if (req.method !== "GET" && req.method !== "HEAD") throw methodNotAllowed("GET, HEAD");
        const html = renderPage(null, { dhcp: true });
        res.writeHead(200, {
          "Content-Type": "text/html; charset=utf-8",
          "Content-Length": Buffer.byteLength(html),
          "Cache-Control": "no-store",
          "Content-Security-Policy": PAGE_CSP,
          "X-Content-Type-Options": "nosniff",
          "Referrer-Policy": "no-referrer",
        });
        res.end(html);
        return;
      }
      case "node-page":
        if (req.method !== "GET" && req.method !== "HEAD") throw methodNotAllowed("GET, HEAD");
        return sendNodePage(req, res, store, r.nodeId as string, {
          item: hall.nodes(store.list()).find((n) => n.key === r.nodeId) ?? null,
          events: hall.nodeEvents(r.nodeId as string, store.get(r.nodeId as string)),
        });
      case "list": {
        if (req.method !== "GET" && req.method !== "HEAD") throw methodNotAllowed("GET, HEAD");
        const since = new URLSearchParams(target.slice(pathname.length + 1)).get("since");
        const { text, etag } = hall.listBody(store.list(), store.evidenceOnly().length, since);
        const cache = { ETag: etag, "Cache-Control": "no-cache" };
        const match = req.headers["if-none-match"];
        if (match?.split(",").some((tag) => tag.trim().replace(/^W\//, "") === etag)) {
          res.writeHead(304, cache);
          res.end();
          return;
        }
        res.writeHead(200, {
          "Content-Type": "application/json; charset=utf-8",
          "Content-Length": Buffer.byteLength(text),
          "X-Content-Type-Options": "nosniff",
          ...cache,
        });
        res.end(text);
        return;
      }
      case "events":
        return handleEvent(req, res);
      case "node-events": {
        if (req.method !== "GET" && req.method !== "HEAD") throw methodNotAllowed("GET, HEAD");
        if (r.nodeIdError || !r.nodeId) {
          throw new HttpError(400, "invalid_node_id", "the key must match the node id pattern");
        }
        const events = hall.nodeEvents(r.nodeId, store.get(r.nodeId));
        if (events === null) throw new HttpError(404, "not_found", "no such node");
        sendJson(req, res, 200, { key: r.nodeId, events });
        return;
      }
      case "dhcp":
        if (req.method !== "GET" && req.method !== "HEAD") throw methodNotAllowed("GET, HEAD");
        sendJson(req, res, 200, hall.dhcp());
        return;
      case "node":
        return handleNode(req, res, r);
      case "upload":
        return handleUpload(req, res, r, bag);
      case "download":
        if (r.download === undefined || !isDownloadName(r.download)) {
          throw new HttpError(404, "not_found", "no such export");
        }
        if (req.method !== "GET" && req.method !== "HEAD") throw methodNotAllowed("GET, HEAD");
        return sendDownload(req, res, store, r.download, log);
      case "api-404":
        throw new HttpError(404, "not_found", "no such API endpoint");
      default:
        if (await handleStatic(req, res, pathname)) return;
        sendText(res, 404, "not found\n");
    }
  }

  function onRequest(req: IncomingMessage, res: ServerResponse): void {
    const started = performance.now();
    // Connections are waiting for a slot: do not keep this one idle after the response.
    if (waitingConnections.size > 0) res.setHeader("Connection", "close");
    const bag: LogEvent = {};
    // What this response put on the connection (headers and body; peers do not pipeline), so
    // the labs can sum the bytes each peer fetched from its remote address.
    const writtenBefore = req.socket.bytesWritten;
    res.once("close", () => {
      log({
        event: "http",
        method: req.method,
        path: (req.url ?? "").slice(0, 256),
        // Nothing sent (the client went away first): not the 200 statusCode defaults to.
        status: res.headersSent ? res.statusCode : 499,
        ms: Math.round((performance.now() - started) * 10) / 10,
        remote: req.socket.remoteAddress ?? null,
        bytes: req.socket.bytesWritten - writtenBefore,
        ...(res.writableFinished ? {} : { aborted: true }),
        ...bag,
      });
    });
    handle(req, res, bag).catch((error: unknown) => {
      if (res.headersSent) {
        // Already answered (a slow upload cut with 408): the read failing afterwards is expected.
        if (!res.writableEnded) res.destroy();
        return;
      }
      if (error instanceof HttpError || error instanceof StoreError) {
        if (error.status === 499) {
          res.statusCode = 499;
          res.destroy();
          return;
        }
        if (error.status >= 500) {
          log({ event: "store_error", code: error.code, message: error.message, ...bag });
        }
        const extra = error instanceof HttpError ? error : null;
        sendError(req, res, extra ?? new HttpError(error.status, error.code, error.message));
        return;
      }
      log({ event: "error", message: String((error as Error)?.stack ?? error), ...bag });
      sendError(req, res, new HttpError(500, "internal_error", "internal error"));
    });
  }

  const server = createServer({
    headersTimeout: 30_000,
    requestTimeout: 600_000,
    keepAliveTimeout: 5_000,
    noDelay: true,
  });
  server.on("request", onRequest);

  // Connection slots. Every accepted socket starts paused (net.Server's pauseOnConnect, which
  // http.Server does not expose as an option): one with a free slot is resumed at once, others
  // are not read at all until a slot frees, so a burst of peers costs kernel buffers, not
  // process memory. (Pausing in the "connection" event instead would make http read it all.)
  const maxConnections = Math.max(1, options.maxConnections ?? DEFAULT_MAX_CONNECTIONS);
  let activeConnections = 0;
  const waitingConnections = new Set<Socket>();
  (server as unknown as { pauseOnConnect: boolean }).pauseOnConnect = true;
  const occupy = (socket: Socket) => {
    activeConnections++;
    socket.once("close", () => {
      activeConnections--;
      for (const next of waitingConnections) {
        if (activeConnections >= maxConnections) break;
        waitingConnections.delete(next);
        if (next.destroyed) continue;
        occupy(next);
      }
    });
    socket.resume();
  };
  server.on("connection", (socket: Socket) => {
    if (activeConnections < maxConnections) {
      occupy(socket);
      return;
    }
    waitingConnections.add(socket);
    socket.once("close", () => waitingConnections.delete(socket));
  });
  server.on("checkContinue", (req: IncomingMessage, res: ServerResponse) => {
    const r = route((req.url ?? "").split("?", 1)[0] ?? "/");
    const refused = r.kind === "upload" && req.method === "PUT" ? precheckUpload(req, r) : null;
    if (refused) {
      // The client has not sent the body: answer and close without reading it.
      res.shouldKeepAlive = false;
      res.once("close", () => log({ event: "http", method: req.method, status: refused.status }));
      sendError(req, res, refused);
      return;
    }
    res.writeContinue();
    onRequest(req, res);
  });
  server.on("clientError", (error: NodeJS.ErrnoException, socket: Socket) => {
    if (error.code !== "ECONNRESET" && socket.writable) {
      const status = error.code === "HPE_HEADER_OVERFLOW" ? 431 : 400;
      socket.end(
        `HTTP/1.1 ${status} Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`,
      );
    }
    socket.destroy();
  });

  const host = options.host ?? "127.0.0.1";
  await new Promise<void>((resolve, reject) => {
    const onError = (error: Error) => {
      reject(
        new ReconError(
          ERROR_CODES.IO,
          `cannot listen on ${host}:${options.port ?? 0}: ${causeText(error)}`,
          { cause: error },
        ),
      );
    };
    server.once("error", onError);
    server.listen({ host, port: options.port ?? 0, backlog: 4096 }, () => {
      server.off("error", onError);
      resolve();
    });
  });
  server.on("error", (error) => log({ event: "server_error", message: String(error) }));
  const port = (server.address() as AddressInfo).port;
  const url = `http://${urlHost(host)}:${port}`;
  log({
    event: "listening",
    url,
    host,
    port,
    token: tokenHash !== null,
    mounts: mounts.map((m) => m.prefix),
    files: [...files.keys()],
  });

  let closing: Promise<void> | null = null;
  return {
    url,
    port,
    close() {
      closing ??= new Promise<void>((resolve) => {
        const timer = setTimeout(() => server.closeAllConnections(), CLOSE_GRACE_MS);
        server.close(() => {
          clearTimeout(timer);
          hall
            .close()
            .catch((error: unknown) => log({ event: "hall_error", message: String(error) }))
            .finally(() => {
              log({ event: "closed", url });
              resolve();
            });
        });
        server.closeIdleConnections();
      });
      return closing;
    },
  };
}
