// The one reader of export sources. A source is a master data directory
// (<root>/nodes/<nodeId>/inventory.json, e.g. the mounted RECON-DATA stick), a directory of
// inventory documents, one document file, or a master's URL (GET /api/v1/nodes, then each node's
// /inventory). Listing a source fails as a whole (ReconError IO); reading one document never
// throws: a bad or unreadable document becomes a failure for that node and the others go on.
import { readdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { Inventory, NODE_ID_PATTERN } from "../../schema/inventory.ts";
import { ERROR_CODES, ReconError } from "../errors.ts";

/** The master refuses inventories above 4 MiB; a document on disk is held to the same bound. */
export const MAX_DOCUMENT_BYTES = 4 * 1024 * 1024;
/** The master's node list: 64 MiB is far beyond any real data center. */
export const MAX_LIST_BYTES = 64 * 1024 * 1024;
const FETCH_TIMEOUT_MS = 30_000;

/** One document to read: where it is, and the node id the source names it by (if any). */
export interface SourceEntry {
  source: string;
  /** From the layout (data directory, master list); null for a plain file. */
  nodeId: string | null;
  read(): Promise<Buffer>;
}

export type Loaded =
  | { ok: true; source: string; document: Inventory }
  | { ok: false; source: string; node: string; reason: string };

export type Fetch = typeof globalThis.fetch;

export function isUrl(from: string): boolean {
  return /^https?:\/\//i.test(from);
}

/** Every document the sources name, in a stable order (sorted within each source). */
export async function listSources(
  sources: readonly string[],
  fetcher: Fetch = globalThis.fetch,
): Promise<SourceEntry[]> {
  const entries: SourceEntry[] = [];
  for (const from of sources) {
    entries.push(...(isUrl(from) ? await listMaster(from, fetcher) : await listPath(from)));
  }
  return entries;
}

async function listPath(path: string): Promise<SourceEntry[]> {
  let info: Awaited<ReturnType<typeof stat>>;
  try {
    info = await stat(path);
  } catch (error) {
    throw new ReconError(ERROR_CODES.IO, `cannot read source ${path}: ${errorText(error)}`, {
      cause: error,
    });
  }
  if (!info.isDirectory()) return [fileEntry(path, null)];
  const nodesDir = join(path, "nodes");
  if (await isDirectory(nodesDir)) {
    // A master data directory: only names the master itself would have written.
    const names = (await readDir(nodesDir)).filter((n) => NODE_ID_PATTERN.test(n));
    const entries: SourceEntry[] = [];
    for (const name of names) {
      const file = join(nodesDir, name, "inventory.json");
      // A node that sent evidence only has no document: nothing to export, nothing failed.
      if (await isFile(file)) entries.push(fileEntry(file, name));
    }
    return entries;
  }
  return (await readDir(path))
    .filter((n) => n.endsWith(".json") && !n.startsWith("."))
    .map((n) => fileEntry(join(path, n), null));
}

function fileEntry(file: string, nodeId: string | null): SourceEntry {
  return {
    source: file,
    nodeId,
    async read() {
      const info = await stat(file);
      if (info.size > MAX_DOCUMENT_BYTES) {
        throw new Error(`${info.size} bytes exceeds the ${MAX_DOCUMENT_BYTES}-byte limit`);
      }
      return readFile(file);
    },
  };
}

async function listMaster(base: string, fetcher: Fetch): Promise<SourceEntry[]> {
  const root = base.replace(/\/+$/, "");
  const listUrl = `${root}/api/v1/nodes`;
  let list: unknown;
  try {
    list = JSON.parse((await fetchLimited(fetcher, listUrl, MAX_LIST_BYTES)).toString("utf8"));
  } catch (error) {
    throw new ReconError(ERROR_CODES.IO, `cannot list ${listUrl}: ${errorText(error)}`, {
      cause: error,
    });
  }
  const nodes = (list as { nodes?: unknown }).nodes;
  if (!Array.isArray(nodes)) {
    throw new ReconError(ERROR_CODES.IO, `${listUrl} did not answer a node list`);
  }
  const entries: SourceEntry[] = [];
  for (const item of nodes as { nodeId?: unknown; inventory?: unknown }[]) {
    // Ids come from the network: only ones matching the pattern are put into a URL.
    if (typeof item.nodeId !== "string" || !NODE_ID_PATTERN.test(item.nodeId)) continue;
    if (item.inventory === null || item.inventory === undefined) continue;
    const url = `${root}/api/v1/nodes/${encodeURIComponent(item.nodeId)}/inventory`;
    entries.push({
      source: url,
      nodeId: item.nodeId,
      read: () => fetchLimited(fetcher, url, MAX_DOCUMENT_BYTES),
    });
  }
  return entries;
}

async function fetchLimited(fetcher: Fetch, url: string, limit: number): Promise<Buffer> {
  const response = await fetcher(url, { signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) });
  if (!response.ok) {
    await response.body?.cancel();
    throw new Error(`HTTP ${response.status}`);
  }
  return readBodyLimited(response, limit);
}

/** A response body, at most limit bytes (throws beyond, without reading the rest). */
export async function readBodyLimited(response: Response, limit: number): Promise<Buffer> {
  const declared = Number(response.headers.get("content-length") ?? Number.NaN);
  if (declared > limit) {
    await response.body?.cancel();
    throw new Error(`${declared} bytes exceeds the ${limit}-byte limit`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  if (response.body) {
    for await (const chunk of response.body) {
      size += chunk.length;
      if (size > limit) {
        await response.body.cancel().catch(() => undefined);
        throw new Error(`body exceeds the ${limit}-byte limit`);
      }
      chunks.push(Buffer.from(chunk));
    }
  }
  return Buffer.concat(chunks);
}

/** Reads, parses and validates one document. Never throws. */
export async function loadEntry(entry: SourceEntry): Promise<Loaded> {
  const node = entry.nodeId ?? entry.source;
  let data: Buffer;
  try {
    data = await entry.read();
  } catch (error) {
    return { ok: false, source: entry.source, node, reason: `unreadable: ${errorText(error)}` };
  }
  return parseDocument(data, entry);
}

/** Parses and validates bytes already read (pure). */
export function parseDocument(data: Buffer, entry: Pick<SourceEntry, "source" | "nodeId">): Loaded {
  const node = entry.nodeId ?? entry.source;
  let json: unknown;
  try {
    json = JSON.parse(data.toString("utf8"));
  } catch (error) {
    return { ok: false, source: entry.source, node, reason: `not JSON: ${errorText(error)}` };
  }
  const parsed = Inventory.safeParse(json);
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    const where = first?.path.join(".") || "(document)";
    const docId = (json as { nodeId?: unknown } | null)?.nodeId;
    return {
      ok: false,
      source: entry.source,
      node: typeof docId === "string" && NODE_ID_PATTERN.test(docId) ? docId : node,
      reason: `invalid document: ${where}: ${first?.message ?? "schema mismatch"}${
        parsed.error.issues.length > 1 ? ` (+${parsed.error.issues.length - 1} more)` : ""
      }`,
    };
  }
  if (entry.nodeId !== null && parsed.data.nodeId !== entry.nodeId) {
    return {
      ok: false,
      source: entry.source,
      node: entry.nodeId,
      reason: `document says nodeId ${parsed.data.nodeId}, stored as ${entry.nodeId}`,
    };
  }
  return { ok: true, source: entry.source, document: parsed.data };
}

export function errorText(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as NodeJS.ErrnoException).code;
    return code && !error.message.includes(code) ? `${code}: ${error.message}` : error.message;
  }
  return String(error);
}

async function readDir(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).sort();
  } catch (error) {
    throw new ReconError(ERROR_CODES.IO, `cannot list ${dir}: ${errorText(error)}`, {
      cause: error,
    });
  }
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}
