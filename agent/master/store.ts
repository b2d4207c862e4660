// Node storage on the master: <root>/nodes/<nodeId>/{inventory.json,evidence.tar.gz,history/}.
// Every write is atomic: the bytes go to a dot-named temp file in the same directory, which is
// fsynced, then renamed over the current file, then the directory is fsynced. A crash at any point
// leaves either the previous or the new version, never a partial file; temp files start with a
// dot (never served) and are removed at start. Writes to one node are serialised; different nodes
// proceed in parallel. A small in-memory index of summaries is rebuilt from disk at start.
import { createHash, randomBytes } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import {
  link,
  lstat,
  mkdir,
  open,
  readdir,
  readFile,
  rename,
  stat,
  unlink,
} from "node:fs/promises";
import path from "node:path";
import type { Readable } from "node:stream";
import { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { type Inventory, NODE_ID_PATTERN } from "../../schema/inventory.ts";
import { makeDirectory } from "../fs.ts";

export type Kind = "inventory" | "evidence";

export const FILE_NAMES: Record<Kind, string> = {
  inventory: "inventory.json",
  evidence: "evidence.tar.gz",
};
const HISTORY_EXT: Record<Kind, string> = { inventory: ".json", evidence: ".tar.gz" };
const TEMP_PREFIX = ".tmp-";
/** Per node: documents with the node's id that describe other hardware. */
const CONFLICTS_DIR = "conflicts";

/** What the API and the status page show about a node, taken from its latest inventory. */
export interface NodeSummary {
  hostname: string | null;
  serial: string | null;
  manufacturer: string | null;
  product: string | null;
  cpuModel: string | null;
  cpuSockets: number | null;
  logicalCpus: number | null;
  memoryBytes: number | null;
  dimms: number;
  disks: number;
  /** Sum of the known disk sizes; null when none is known. */
  diskBytes: number | null;
  nics: number;
  /** Collectors that failed or timed out (the status page shows them). */
  failedCollectors: string[];
  /** Cross-check warnings of the document (1.2 warnings[]). */
  warnings: number;
  bmcAddress: string | null;
  bootMac: string | null;
  collectedAt: string | null;
  /** The facts that tell machines apart (see contradicts). */
  identity: Identity;
}

/** Hardware identity of a document: two documents contradicting here are different machines. */
export interface Identity {
  systemUuid: string | null;
  systemSerial: string | null;
  /** Permanent (else current) MACs of the NICs, lowercase, sorted. */
  macs: string[];
}

/** Different system UUID, different system serial, or two non-empty MAC sets with none shared. */
export function contradicts(a: Identity, b: Identity): boolean {
  const differ = (x: string | null, y: string | null) =>
    x !== null && y !== null && x.toLowerCase() !== y.toLowerCase();
  if (differ(a.systemUuid, b.systemUuid) || differ(a.systemSerial, b.systemSerial)) return true;
  if (a.macs.length === 0 || b.macs.length === 0) return false;
  return !a.macs.some((mac) => b.macs.includes(mac));
}

export interface FileMeta {
  bytes: number;
  storedAt: string;
  /** Hex sha256; computed lazily for files found on disk at start. */
  sha256: string | null;
}

export interface NodeRecord {
  nodeId: string;
  summary: NodeSummary | null;
  inventory: FileMeta | null;
  evidence: FileMeta | null;
  /** Last accepted upload of either kind, identical re-uploads included (memory only). */
  lastSeenAt: string | null;
  /** Documents kept apart in conflicts/ (same nodeId, other hardware). */
  conflicts: number;
}

export interface StoreResult {
  nodeId: string;
  sha256: string;
  bytes: number;
  storedAt: string;
  unchanged: boolean;
  /** Stored in conflicts/, not as the node's document: it describes other hardware. */
  conflict?: boolean;
}

export interface HistoryEntry {
  kind: Kind;
  file: string;
  bytes: number;
  storedAt: string;
}

/** Thrown for conditions the HTTP layer maps to a status code. */
export class StoreError extends Error {
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, message: string, options: { cause?: unknown } = {}) {
    super(message, options);
    this.name = "StoreError";
    this.status = status;
    this.code = code;
  }
}

/** ENOSPC/EDQUOT become 507; anything else is re-thrown untouched. */
function mapFsError(error: unknown): never {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  if (code === "ENOSPC" || code === "EDQUOT") {
    throw new StoreError(507, "insufficient_storage", "the master's disk is full", {
      cause: error,
    });
  }
  throw error;
}

export function isValidNodeId(nodeId: string): boolean {
  return NODE_ID_PATTERN.test(nodeId) && nodeId !== "." && nodeId !== "..";
}

function first<T>(...values: (T | null | undefined)[]): T | null {
  for (const value of values) if (value !== null && value !== undefined) return value;
  return null;
}

export function summarize(doc: Inventory): NodeSummary {
  const processor = doc.processors[0];
  return {
    hostname: doc.hostname,
    serial: first(doc.system.serialNumber, doc.chassis.serialNumber, doc.baseboard.serialNumber),
    manufacturer: first(doc.system.manufacturer, doc.baseboard.manufacturer),
    product: first(doc.system.productName, doc.baseboard.productName),
    cpuModel: first(doc.cpu.model, processor?.model),
    cpuSockets: first(doc.cpu.sockets, doc.processors.length > 0 ? doc.processors.length : null),
    logicalCpus: doc.cpu.logicalCpus,
    memoryBytes: first(doc.memory.totalBytes, doc.memory.osVisibleBytes),
    dimms: doc.memory.dimms.length,
    disks: doc.disks.length,
    diskBytes: doc.disks.some((d) => d.sizeBytes !== null)
      ? doc.disks.reduce((sum, d) => sum + (d.sizeBytes ?? 0), 0)
      : null,
    nics: doc.nics.filter((nic) => !nic.bmcUsb).length,
    failedCollectors: doc.collectors
      .filter((c) => c.status === "failed" || c.status === "timeout")
      .map((c) => c.name),
    warnings: doc.warnings?.length ?? 0,
    bmcAddress: doc.bmc?.ipv4Address ?? null,
    bootMac: doc.boot.bootMac,
    collectedAt: doc.collectedAt,
    identity: {
      systemUuid: doc.system.uuid,
      systemSerial: doc.system.serialNumber,
      // The BMC's USB NIC often has the same MAC on every machine of a model: not an identity.
      macs: [
        ...new Set(
          doc.nics
            .filter((nic) => nic.bmcUsb !== true)
            .map((nic) => (nic.permanentMacAddress ?? nic.macAddress)?.toLowerCase())
            .filter((mac): mac is string => typeof mac === "string"),
        ),
      ].sort(),
    },
  };
}

function sha256Hex(data: Buffer): string {
  return createHash("sha256").update(data).digest("hex");
}

async function hashFile(file: string): Promise<string> {
  const hash = createHash("sha256");
  await pipeline(createReadStream(file), hash);
  return hash.digest("hex");
}

async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Directory fsyncs with group commit: a caller joins an fsync that has not started yet, or queues
 * one behind the running one (which may have started before the caller's rename). Under a burst
 * of uploads, one fsync of nodes/ covers many new node directories.
 */
class DirSyncer {
  private readonly state = new Map<string, { running?: Promise<void>; next?: Promise<void> }>();

  sync(dir: string): Promise<void> {
    let entry = this.state.get(dir);
    if (!entry) {
      entry = {};
      this.state.set(dir, entry);
    }
    if (entry.next) return entry.next;
    const slot = entry;
    if (slot.running) {
      slot.next = slot.running
        .catch(() => undefined)
        .then(() => {
          slot.next = undefined;
          return this.start(dir, slot);
        });
      return slot.next;
    }
    return this.start(dir, slot);
  }

  private start(dir: string, slot: { running?: Promise<void>; next?: Promise<void> }) {
    const run: Promise<void> = fsyncDir(dir).finally(() => {
      if (slot.running === run) {
        slot.running = undefined;
        if (!slot.next) this.state.delete(dir);
      }
    });
    slot.running = run;
    return run;
  }
}

function compactTime(iso: string): string {
  return iso.replace(/[-:]/g, "");
}

async function unlinkQuietly(file: string): Promise<void> {
  await unlink(file).catch(() => undefined);
}

/** Write data to a new file and fsync it; on failure the file is removed (ENOSPC -> 507). */
async function writeDurable(file: string, data: Buffer): Promise<void> {
  try {
    const handle = await open(file, "wx", 0o644);
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch (error) {
    await unlinkQuietly(file);
    mapFsError(error);
  }
}

/** Limits and checks applied while a body streams to disk. */
export interface StreamCheck {
  maxBytes: number;
  /** Called once with the first bytes (at least `need` of them, or all at end of stream). */
  head?: { need: number; check: (head: Buffer) => void };
  /**
   * Sees every chunk in order (write throws to refuse the body at once) and the end of the body
   * (finish rejects to refuse it): the temp file is then removed and nothing is committed.
   */
  inspect?: { write(chunk: Buffer): void; finish(): Promise<void> };
}

class CountingHash extends Transform {
  readonly hash = createHash("sha256");
  bytes = 0;
  private head: Buffer[] = [];
  private headBytes = 0;
  private headDone = false;
  private readonly limits: StreamCheck;
  constructor(limits: StreamCheck) {
    super();
    this.limits = limits;
    if (!limits.head) this.headDone = true;
  }
  private checkHead(final: boolean): void {
    const head = this.limits.head;
    if (this.headDone || !head) return;
    if (this.headBytes >= head.need || final) {
      this.headDone = true;
      head.check(Buffer.concat(this.head));
      this.head = [];
    }
  }
  override _transform(
    chunk: Buffer,
    _encoding: BufferEncoding,
    done: (error?: Error | null, data?: Buffer) => void,
  ): void {
    try {
      this.bytes += chunk.length;
      if (this.bytes > this.limits.maxBytes) {
        throw new StoreError(413, "too_large", `body exceeds ${this.limits.maxBytes} bytes`);
      }
      if (!this.headDone) {
        this.head.push(chunk);
        this.headBytes += chunk.length;
        this.checkHead(false);
      }
      this.limits.inspect?.write(chunk);
      this.hash.update(chunk);
      done(undefined, chunk);
    } catch (error) {
      done(error as Error);
    }
  }
  override _flush(done: (e?: Error) => void): void {
    try {
      this.checkHead(true);
    } catch (error) {
      done(error as Error);
      return;
    }
    const inspect = this.limits.inspect;
    if (!inspect) {
      done();
      return;
    }
    inspect.finish().then(
      () => done(),
      (error: Error) => done(error),
    );
  }
}

export class NodeStore {
  readonly root: string;
  readonly nodesDir: string;
  private readonly index = new Map<string, NodeRecord>();
  private readonly locks = new Map<string, Promise<unknown>>();
  private readonly dirs = new DirSyncer();

  constructor(root: string) {
    this.root = path.resolve(root);
    this.nodesDir = path.join(this.root, "nodes");
  }

  /** Create the layout, remove leftover temp files, rebuild the index. Returns temp files removed. */
  async open(): Promise<{ nodes: number; removedTempFiles: number }> {
    await makeDirectory(this.nodesDir);
    let removed = 0;
    this.index.clear();
    for (const entry of await readdir(this.nodesDir, { withFileTypes: true })) {
      if (entry.name.startsWith(TEMP_PREFIX)) {
        await unlinkQuietly(path.join(this.nodesDir, entry.name));
        removed++;
        continue;
      }
      if (!entry.isDirectory() || !isValidNodeId(entry.name)) continue;
      const dir = path.join(this.nodesDir, entry.name);
      removed += await this.removeTemps(dir);
      removed += await this.removeTemps(path.join(dir, "history"));
      removed += await this.removeTemps(path.join(dir, CONFLICTS_DIR));
      const record = await this.loadRecord(entry.name, dir);
      if (record.inventory || record.evidence) this.index.set(entry.name, record);
    }
    return { nodes: this.index.size, removedTempFiles: removed };
  }

  private async removeTemps(dir: string): Promise<number> {
    let removed = 0;
    const names = await readdir(dir).catch(() => [] as string[]);
    for (const name of names) {
      if (name.startsWith(TEMP_PREFIX)) {
        await unlinkQuietly(path.join(dir, name));
        removed++;
      }
    }
    return removed;
  }

  private async loadRecord(nodeId: string, dir: string): Promise<NodeRecord> {
    const record: NodeRecord = {
      nodeId,
      summary: null,
      inventory: null,
      evidence: null,
      lastSeenAt: null,
      conflicts: (await readdir(path.join(dir, CONFLICTS_DIR)).catch(() => [] as string[])).filter(
        (name) => !name.startsWith("."),
      ).length,
    };
    try {
      const file = path.join(dir, FILE_NAMES.inventory);
      const [data, info] = await Promise.all([readFile(file), stat(file)]);
      record.inventory = {
        bytes: data.length,
        storedAt: info.mtime.toISOString(),
        sha256: sha256Hex(data),
      };
      try {
        // Stored documents were validated on upload; summarize defensively anyway.
        record.summary = summarize(JSON.parse(data.toString("utf8")) as Inventory);
      } catch {
        record.summary = null;
      }
    } catch {
      record.inventory = null;
    }
    try {
      const info = await stat(path.join(dir, FILE_NAMES.evidence));
      if (info.isFile()) {
        record.evidence = { bytes: info.size, storedAt: info.mtime.toISOString(), sha256: null };
      }
    } catch {
      record.evidence = null;
    }
    const times = [record.inventory?.storedAt, record.evidence?.storedAt].filter(
      (t): t is string => typeof t === "string",
    );
    record.lastSeenAt = times.sort().at(-1) ?? null;
    return record;
  }

  /** Nodes with an inventory, sorted by nodeId. */
  list(): NodeRecord[] {
    return [...this.index.values()]
      .filter((record) => record.inventory !== null)
      .sort((a, b) => (a.nodeId < b.nodeId ? -1 : 1));
  }

  /** Node ids with evidence but no inventory yet (kept apart: not nodes until one arrives). */
  evidenceOnly(): string[] {
    return [...this.index.values()]
      .filter((record) => record.inventory === null && record.evidence !== null)
      .map((record) => record.nodeId)
      .sort();
  }

  get(nodeId: string): NodeRecord | undefined {
    return this.index.get(nodeId);
  }

  nodeDir(nodeId: string): string {
    if (!isValidNodeId(nodeId)) throw new StoreError(400, "invalid_node_id", "invalid nodeId");
    const dir = path.resolve(this.nodesDir, nodeId);
    // Belt and braces: the pattern already excludes separators and leading dots.
    if (path.dirname(dir) !== this.nodesDir) {
      throw new StoreError(400, "invalid_node_id", "invalid nodeId");
    }
    return dir;
  }

  private async ensureNodeDir(nodeId: string): Promise<string> {
    const dir = this.nodeDir(nodeId);
    try {
      await mkdir(dir);
      await this.dirs.sync(this.nodesDir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") mapFsError(error);
    }
    const info = await lstat(dir);
    if (!info.isDirectory()) {
      throw new StoreError(500, "bad_node_dir", `${nodeId}: not a directory on the master`);
    }
    return dir;
  }

  /** Run fn with the node's lock held (one writer per node at a time). */
  private async withLock<T>(nodeId: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.locks.get(nodeId) ?? Promise.resolve();
    const run = previous.then(fn, fn);
    const tail = run.catch(() => undefined);
    this.locks.set(nodeId, tail);
    try {
      return await run;
    } finally {
      if (this.locks.get(nodeId) === tail) this.locks.delete(nodeId);
    }
  }

  private tempName(dir: string, kind: Kind): string {
    return path.join(dir, `${TEMP_PREFIX}${kind}-${process.pid}-${randomBytes(6).toString("hex")}`);
  }

  /** The sha256 of the current file (hashing it once if it was found on disk at start). */
  private async currentMeta(record: NodeRecord | undefined, kind: Kind, dir: string) {
    const meta = record?.[kind] ?? null;
    if (!meta) return null;
    if (meta.sha256 === null) {
      try {
        meta.sha256 = await hashFile(path.join(dir, FILE_NAMES[kind]));
      } catch {
        return null;
      }
    }
    return meta;
  }

  async sha256Of(nodeId: string, kind: Kind): Promise<string | null> {
    const record = this.index.get(nodeId);
    const meta = await this.currentMeta(record, kind, this.nodeDir(nodeId));
    return meta?.sha256 ?? null;
  }

  private record(nodeId: string): NodeRecord {
    let record = this.index.get(nodeId);
    if (!record) {
      record = {
        nodeId,
        summary: null,
        inventory: null,
        evidence: null,
        lastSeenAt: null,
        conflicts: 0,
      };
      this.index.set(nodeId, record);
    }
    return record;
  }

  /**
   * Replace the current file with the temp file (already fsynced), keeping the previous version
   * in history/. Called with the node lock held.
   */
  private async commit(
    nodeId: string,
    kind: Kind,
    dir: string,
    temp: string,
    meta: { sha256: string; bytes: number },
  ): Promise<StoreResult> {
    const current = path.join(dir, FILE_NAMES[kind]);
    const previous = await this.currentMeta(this.index.get(nodeId), kind, dir);
    const now = new Date().toISOString();
    if (previous && previous.sha256 === meta.sha256) {
      await unlinkQuietly(temp);
      this.record(nodeId).lastSeenAt = now;
      return { nodeId, ...meta, storedAt: previous.storedAt, unchanged: true };
    }
    try {
      if (previous) {
        const historyDir = path.join(dir, "history");
        await makeDirectory(historyDir);
        const name = `${kind}-${compactTime(previous.storedAt)}-${previous.sha256?.slice(0, 16)}${HISTORY_EXT[kind]}`;
        try {
          await link(current, path.join(historyDir, name));
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
        }
        await this.dirs.sync(historyDir);
      }
      await rename(temp, current);
      await this.dirs.sync(dir);
    } catch (error) {
      await unlinkQuietly(temp);
      mapFsError(error);
    }
    const info = await stat(current);
    const storedAt = info.mtime.toISOString();
    const record = this.record(nodeId);
    record[kind] = { bytes: meta.bytes, storedAt, sha256: meta.sha256 };
    record.lastSeenAt = now;
    return { nodeId, ...meta, storedAt, unchanged: false };
  }

  /**
   * Store an inventory document (already validated) exactly as received. Takes the summary, not
   * the parsed document, so the large object graph is garbage before the fsyncs are awaited.
   */
  async putInventory(nodeId: string, data: Buffer, summary: NodeSummary): Promise<StoreResult> {
    const dir = await this.ensureNodeDir(nodeId);
    const sha256 = sha256Hex(data);
    return this.withLock(nodeId, async () => {
      const previous = await this.currentMeta(this.index.get(nodeId), "inventory", dir);
      if (previous && previous.sha256 === sha256) {
        this.record(nodeId).lastSeenAt = new Date().toISOString();
        return {
          nodeId,
          sha256,
          bytes: data.length,
          storedAt: previous.storedAt,
          unchanged: true,
        };
      }
      const current = this.index.get(nodeId)?.summary;
      if (current && contradicts(current.identity, summary.identity)) {
        return this.putConflict(nodeId, dir, data, sha256);
      }
      const temp = this.tempName(dir, "inventory");
      await writeDurable(temp, data);
      const result = await this.commit(nodeId, "inventory", dir, temp, {
        sha256,
        bytes: data.length,
      });
      this.record(nodeId).summary = summary;
      return result;
    });
  }

  /**
   * Keep a document that contradicts the node's current one (another machine under the same id)
   * in conflicts/, named by its sha256 so a duplicate upload is idempotent. Called with the lock.
   */
  private async putConflict(
    nodeId: string,
    dir: string,
    data: Buffer,
    sha256: string,
  ): Promise<StoreResult> {
    const conflictsDir = path.join(dir, CONFLICTS_DIR);
    const file = path.join(conflictsDir, `inventory-${sha256.slice(0, 32)}.json`);
    const base = { nodeId, sha256, bytes: data.length, conflict: true };
    const existing = await stat(file).catch(() => null);
    if (existing) {
      this.record(nodeId).lastSeenAt = new Date().toISOString();
      return { ...base, storedAt: existing.mtime.toISOString(), unchanged: true };
    }
    try {
      await mkdir(conflictsDir);
      await this.dirs.sync(dir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") mapFsError(error);
    }
    const temp = this.tempName(conflictsDir, "inventory");
    await writeDurable(temp, data);
    try {
      await rename(temp, file);
      await this.dirs.sync(conflictsDir);
    } catch (error) {
      await unlinkQuietly(temp);
      mapFsError(error);
    }
    const record = this.record(nodeId);
    record.conflicts++;
    record.lastSeenAt = new Date().toISOString();
    return { ...base, storedAt: (await stat(file)).mtime.toISOString(), unchanged: false };
  }

  /**
   * Stream a body to a temp file (hashing and counting as it goes), then commit it. The stream is
   * written outside the node lock so a slow client does not hold up other writers.
   */
  async putStream(
    nodeId: string,
    kind: Kind,
    body: Readable,
    check: StreamCheck,
  ): Promise<StoreResult> {
    const dir = await this.ensureNodeDir(nodeId);
    const temp = this.tempName(dir, kind);
    const counter = new CountingHash(check);
    // body is piped, not handed to pipeline(): on a refusal the caller still owns the request and
    // must be able to answer on its socket.
    const onGone = () => {
      if (!body.readableEnded) {
        counter.destroy(new StoreError(499, "client_aborted", "client went away mid-body"));
      }
    };
    try {
      // flush: fsync before close, so the rename below publishes durable bytes.
      const done = pipeline(
        counter,
        createWriteStream(temp, {
          flags: "wx",
          mode: 0o644,
          flush: true,
          highWaterMark: 256 * 1024,
        }),
      );
      body.once("close", onGone);
      body.once("error", onGone);
      body.pipe(counter);
      if (body.destroyed) onGone();
      try {
        await done;
      } finally {
        body.unpipe(counter);
        body.off("close", onGone);
        body.off("error", onGone);
      }
    } catch (error) {
      await unlinkQuietly(temp);
      mapFsError(error);
    }
    const sha256 = counter.hash.digest("hex");
    return this.withLock(nodeId, () =>
      this.commit(nodeId, kind, dir, temp, { sha256, bytes: counter.bytes }),
    );
  }

  async readInventory(nodeId: string): Promise<Buffer | null> {
    try {
      return await readFile(path.join(this.nodeDir(nodeId), FILE_NAMES.inventory));
    } catch {
      return null;
    }
  }

  async history(nodeId: string): Promise<HistoryEntry[]> {
    const dir = path.join(this.nodeDir(nodeId), "history");
    const names = await readdir(dir).catch(() => [] as string[]);
    const entries: HistoryEntry[] = [];
    for (const name of names.sort()) {
      if (name.startsWith(".")) continue;
      const kind: Kind | null = name.startsWith("inventory-")
        ? "inventory"
        : name.startsWith("evidence-")
          ? "evidence"
          : null;
      if (!kind) continue;
      try {
        const info = await stat(path.join(dir, name));
        entries.push({ kind, file: name, bytes: info.size, storedAt: info.mtime.toISOString() });
      } catch {
        // removed meanwhile
      }
    }
    return entries;
  }
}
