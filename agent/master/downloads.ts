// The master's exports under /api/v1/export/: every current inventory as one tar.gz, the CSV
// export (agent/export/csv.ts, the same bytes `recon-agent export csv` writes for this root) as a
// tar.gz of its files, and nodes.csv alone. "Current" means the node's inventory.json: documents
// kept apart in conflicts/ and evidence without an inventory are not exported. Archives are
// streamed: one stored document is in memory at a time, gzip output goes out with backpressure.

import { once } from "node:events";
import type { IncomingMessage, ServerResponse } from "node:http";
import { pipeline } from "node:stream/promises";
import { createGzip } from "node:zlib";
import { Header, Pax } from "tar";
import { CSV_TABLES, type CsvTable, csvLine } from "../export/csv.ts";
import { parseDocument } from "../export/source.ts";
import { FILE_NAMES, type NodeStore } from "./store.ts";

export const EXPORT_PREFIX = "/api/v1/export/";

/** What the status page links to, in order. */
export const DOWNLOAD_LINKS: readonly { path: string; label: string }[] = [
  { path: `${EXPORT_PREFIX}inventories.tar.gz`, label: "all inventories (tar.gz of JSON)" },
  { path: `${EXPORT_PREFIX}csv.tar.gz`, label: "CSV export (tar.gz of 5 files)" },
  { path: `${EXPORT_PREFIX}nodes.csv`, label: "nodes.csv" },
];

const DOWNLOAD_NAMES = ["inventories.tar.gz", "csv.tar.gz", "nodes.csv"] as const;
export type DownloadName = (typeof DOWNLOAD_NAMES)[number];

export function isDownloadName(name: string): name is DownloadName {
  return (DOWNLOAD_NAMES as readonly string[]).includes(name);
}

const BLOCK = 512;

/** One regular file in a tar stream: header (a pax header first if ustar cannot hold it), data, padding. */
export function tarEntry(name: string, data: Buffer, mtime: Date): Buffer[] {
  const fields = { path: name, mode: 0o644, size: data.length, mtime, type: "File" as const };
  const header = Buffer.alloc(BLOCK);
  const parts: Buffer[] = [];
  if (new Header(fields).encode(header)) parts.push(new Pax(fields).encode());
  parts.push(header, data);
  const pad = (BLOCK - (data.length % BLOCK)) % BLOCK;
  if (pad > 0) parts.push(Buffer.alloc(pad));
  return parts;
}

/** The end of a tar stream: two zero blocks. */
export const TAR_END = Buffer.alloc(2 * BLOCK);

type Log = (event: Record<string, unknown>) => void;

/** Answers GET/HEAD of one export (the caller has checked the name and the method). */
export async function sendDownload(
  req: IncomingMessage,
  res: ServerResponse,
  store: NodeStore,
  name: DownloadName,
  log: Log,
): Promise<void> {
  const headers = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Content-Disposition": `attachment; filename="recon-${name}"`,
  };
  if (name === "inventories.tar.gz") {
    res.writeHead(200, { ...headers, "Content-Type": "application/gzip" });
    if (req.method === "HEAD") return void res.end();
    return streamArchive(res, inventoryFiles(store));
  }
  // CSV: every document is parsed and validated as the CLI does; the rows are kept, not the
  // documents. A stored document that no longer validates is left out, as the CLI fails it.
  const tables =
    name === "nodes.csv" ? CSV_TABLES.filter((x) => x.file === "nodes.csv") : CSV_TABLES;
  const { files, skipped } = await csvOf(store, tables);
  if (skipped.length > 0) log({ event: "export_skipped", export: name, nodes: skipped });
  const skippedHeader = { "X-Recon-Skipped-Nodes": String(skipped.length) };
  if (name === "nodes.csv") {
    const text = files.get("nodes.csv") ?? "";
    res.writeHead(200, {
      ...headers,
      ...skippedHeader,
      "Content-Type": "text/csv; charset=utf-8; header=present",
      "Content-Length": Buffer.byteLength(text),
    });
    res.end(req.method === "HEAD" ? undefined : text);
    return;
  }
  res.writeHead(200, { ...headers, ...skippedHeader, "Content-Type": "application/gzip" });
  if (req.method === "HEAD") return void res.end();
  const now = new Date();
  return streamArchive(
    res,
    (async function* () {
      for (const [file, text] of files) yield { name: file, data: Buffer.from(text), mtime: now };
    })(),
  );
}

interface ArchiveFile {
  name: string;
  data: Buffer;
  mtime: Date;
}

/** nodes/<nodeId>/inventory.json of every listed node, read one at a time, as stored. */
async function* inventoryFiles(store: NodeStore): AsyncGenerator<ArchiveFile> {
  for (const record of store.list()) {
    const data = await store.readInventory(record.nodeId);
    // Gone since the listing (the directory was removed by hand): nothing current to send.
    if (data === null || record.inventory === null) continue;
    yield {
      name: `nodes/${record.nodeId}/${FILE_NAMES.inventory}`,
      data,
      mtime: new Date(record.inventory.storedAt),
    };
  }
}

/** The files as tar, gzipped into res; stops reading when the client goes away. */
async function streamArchive(
  res: ServerResponse,
  files: AsyncIterable<ArchiveFile>,
): Promise<void> {
  const gzip = createGzip();
  const sent = pipeline(gzip, res);
  // Handled here at once: the client may go away while a document is being read.
  sent.catch(() => undefined);
  try {
    for await (const file of files) {
      if (res.destroyed) break;
      for (const part of tarEntry(file.name, file.data, file.mtime)) {
        if (!gzip.write(part)) await Promise.race([once(gzip, "drain"), sent]);
      }
    }
    gzip.end(TAR_END);
  } catch (error) {
    gzip.destroy(error as Error);
  }
  await sent.catch(() => {
    // The client went away mid-download: nothing to answer any more.
    res.destroy();
  });
}

export async function csvOf(
  store: NodeStore,
  tables: readonly CsvTable[],
): Promise<{ files: Map<string, string>; skipped: string[] }> {
  const lines = new Map(tables.map((x) => [x.file, [csvLine(x.header)]]));
  const skipped: string[] = [];
  for (const record of store.list()) {
    const data = await store.readInventory(record.nodeId);
    if (data === null) continue;
    const loaded = parseDocument(data, { source: record.nodeId, nodeId: record.nodeId });
    if (!loaded.ok) {
      skipped.push(record.nodeId);
      continue;
    }
    for (const table of tables)
      lines.get(table.file)?.push(...table.rows(loaded.document).map(csvLine));
  }
  return { files: new Map([...lines].map(([file, parts]) => [file, parts.join("")])), skipped };
}
