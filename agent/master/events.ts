// The master's event store: every step of every node's life, from its first DHCP lease to its
// power-off, one JSON line each in <root>/events/events.jsonl. The file is only ever appended to
// (one write and one fsync per batch of events), read back on open, and travels on the stick
// with the inventories. Peers POST their own progress (POST /api/v1/events); the master adds
// `dhcp` (from dnsmasq's lease file) and `boot-file` (a boot file served to an address that
// holds a lease). Before a node's id is known, its events are keyed by its boot MAC.
//
// Memory stays bounded: at most MAX_EVENTS_PER_KEY events per key and MAX_KEYS keys are held
// (the file keeps everything); the GET API answers from memory.
import { createReadStream } from "node:fs";
import { type FileHandle, mkdir, open, stat } from "node:fs/promises";
import path from "node:path";
import { createInterface } from "node:readline";
import { z } from "zod";
import { type Lease, macHex } from "../../packaging/dnsmasq-leases.ts";
import { NODE_ID_PATTERN } from "../../schema/inventory.ts";
import { jsonDepthExceeds } from "./json-depth.ts";
import { StoreError } from "./store.ts";

export const PEER_EVENT_TYPES = [
  "agent-started",
  "collected",
  "uploaded",
  "powering-off",
  "spooled",
  "error",
] as const;
export type PeerEventType = (typeof PEER_EVENT_TYPES)[number];
export const EVENT_TYPES = [...PEER_EVENT_TYPES, "dhcp", "boot-file"] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/** Largest POST /api/v1/events body: an event is a few hundred bytes. */
export const MAX_EVENT_BYTES = 8 * 1024;
/** Events held in memory per node (the oldest go first; the file keeps them all). */
export const MAX_EVENTS_PER_KEY = 64;
/** Nodes (keys) held in memory; events for further keys are refused. A hall has ~1,000. */
export const MAX_KEYS = 20_000;

const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;
const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const label = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._:+-]*$/);

/** The body of POST /api/v1/events (docs/api.md). */
export const PeerEvent = z
  .strictObject({
    type: z.enum(PEER_EVENT_TYPES),
    nodeId: z.string().regex(NODE_ID_PATTERN).nullable(),
    bootMac: z
      .string()
      .transform((v) => v.toLowerCase())
      .pipe(z.string().regex(MAC))
      .nullable(),
    at: z.iso.datetime({ offset: true }),
    failedCollectors: z.array(label).max(256).optional(),
    method: label.optional(),
    reason: z.string().max(2000).optional(),
  })
  .refine((e) => e.nodeId !== null || e.bootMac !== null, {
    message: "nodeId or bootMac is required",
    path: ["nodeId"],
  });
export type PeerEvent = z.output<typeof PeerEvent>;

/** One stored line of events.jsonl. */
export const EventRecord = z.strictObject({
  seq: z.number().int().positive(),
  receivedAt: z.iso.datetime({ offset: true }),
  key: z.string().regex(NODE_ID_PATTERN),
  mac: z.string().regex(MAC).nullable(),
  nodeId: z.string().regex(NODE_ID_PATTERN).nullable(),
  type: z.enum(EVENT_TYPES),
  ip: z.string().regex(IPV4).optional(),
  detail: z.record(z.string(), z.unknown()).optional(),
});
export type EventRecord = z.output<typeof EventRecord>;

/** The key of a node before its nodeId is known: "mac-525400123456". */
export function macKey(mac: string): string | null {
  const hex = macHex(mac);
  return hex === null ? null : `mac-${hex}`;
}

/** The boot file a URL path names, for `boot-file` events; null for any other path. */
export function bootFileOf(pathname: string): string | null {
  if (pathname === "/menu.ipxe") return "menu.ipxe";
  if (pathname === "/post.tgz") return "post.tgz";
  if (!pathname.startsWith("/install/")) return null;
  const name = pathname.slice(pathname.lastIndexOf("/") + 1);
  if (/\.iso$|\.squashfs$|\.img$/.test(name)) return "image";
  if (/initrd|initramfs/.test(name)) return "initrd";
  if (/vmlinuz|linux|kernel|bzImage/.test(name)) return "kernel";
  return null;
}

/** Parses and validates a POST body; throws StoreError 400 with the failing fields. */
export function parsePeerEvent(data: Buffer): PeerEvent {
  if (jsonDepthExceeds(data, 8)) throw new StoreError(400, "too_deep", "JSON nested too deep");
  let parsed: unknown;
  try {
    parsed = JSON.parse(data.toString("utf8"));
  } catch (error) {
    throw new StoreError(400, "invalid_json", `not JSON: ${(error as Error).message}`);
  }
  const checked = PeerEvent.safeParse(parsed);
  if (!checked.success) {
    const fields = checked.error.issues
      .slice(0, 10)
      .map((i) => `${i.path.join(".") || "(event)"}: ${i.message}`);
    throw new StoreError(400, "invalid_event", `not a valid event: ${fields.join("; ")}`);
  }
  return checked.data;
}

type Draft = Omit<EventRecord, "seq" | "receivedAt">;

export interface EventsOpened {
  events: number;
  /** Lines of the file that were not a valid record (a torn last line after a crash). */
  skippedLines: number;
}

export class EventStore {
  readonly dir: string;
  readonly file: string;
  private readonly byKey = new Map<string, EventRecord[]>();
  /** Boot MAC -> nodeId, from events that carried both. */
  private readonly macToNode = new Map<string, string>();
  /** MAC -> IP of its last dhcp event: a renewal, a new hostname or a restart adds none. */
  private readonly lastLease = new Map<string, string>();
  private seq = 0;
  private handle: FileHandle | null = null;
  private queue: { line: string; done: (error?: unknown) => void }[] = [];
  private writing: Promise<void> | null = null;
  private readonly now: () => Date;

  constructor(root: string, now: () => Date = () => new Date()) {
    this.dir = path.join(path.resolve(root), "events");
    this.file = path.join(this.dir, "events.jsonl");
    this.now = now;
  }

  async open(): Promise<EventsOpened> {
    await mkdir(this.dir, { recursive: true });
    let events = 0;
    let skippedLines = 0;
    let endsWithNewline = true;
    const size = await stat(this.file).then(
      (s) => s.size,
      () => 0,
    );
    if (size > 0) {
      const lines = createInterface({ input: createReadStream(this.file), crlfDelay: Infinity });
      for await (const line of lines) {
        if (line.trim() === "") continue;
        let value: unknown;
        try {
          value = JSON.parse(line);
        } catch {
          skippedLines++;
          continue;
        }
        const checked = EventRecord.safeParse(value);
        if (!checked.success) {
          skippedLines++;
          continue;
        }
        this.remember(checked.data);
        this.seq = Math.max(this.seq, checked.data.seq);
        events++;
      }
      const tail = Buffer.alloc(1);
      const reader = await open(this.file, "r");
      try {
        await reader.read(tail, 0, 1, size - 1);
      } finally {
        await reader.close();
      }
      endsWithNewline = tail[0] === 0x0a;
    }
    this.handle = await open(this.file, "a", 0o644);
    // A torn last line (a crash mid-write) must not swallow the next record.
    if (!endsWithNewline) await this.handle.write("\n");
    return { events, skippedLines };
  }

  /** Highest sequence number stored (0 when none). */
  get lastSeq(): number {
    return this.seq;
  }

  private remember(record: EventRecord): void {
    let list = this.byKey.get(record.key);
    if (!list) {
      list = [];
      this.byKey.set(record.key, list);
    }
    list.push(record);
    if (list.length > MAX_EVENTS_PER_KEY) list.splice(0, list.length - MAX_EVENTS_PER_KEY);
    if (record.mac && record.nodeId) this.macToNode.set(record.mac, record.nodeId);
    if (record.type === "dhcp" && record.mac) {
      this.lastLease.set(record.mac, record.ip ?? "");
    }
  }

  /** Appends one event; resolves once it is on disk. Throws StoreError 503 past MAX_KEYS. */
  append(draft: Draft): Promise<EventRecord> {
    if (!this.handle) return Promise.reject(new Error("event store not open"));
    if (!this.byKey.has(draft.key) && this.byKey.size >= MAX_KEYS) {
      return Promise.reject(
        new StoreError(503, "too_many_nodes", `more than ${MAX_KEYS} nodes have events`),
      );
    }
    const record: EventRecord = {
      seq: ++this.seq,
      receivedAt: this.now().toISOString(),
      ...draft,
    };
    this.remember(record);
    return new Promise((resolve, reject) => {
      this.queue.push({
        line: `${JSON.stringify(record)}\n`,
        done: (error) => (error ? reject(error) : resolve(record)),
      });
      this.writing ??= this.drain();
    });
  }

  /** Group commit: whatever queued while the last fsync ran goes out in one write. */
  private async drain(): Promise<void> {
    try {
      while (this.queue.length > 0 && this.handle) {
        const batch = this.queue;
        this.queue = [];
        try {
          await this.handle.write(batch.map((b) => b.line).join(""));
          await this.handle.sync();
          for (const b of batch) b.done();
        } catch (error) {
          const code = (error as NodeJS.ErrnoException).code;
          const failure =
            code === "ENOSPC" || code === "EDQUOT"
              ? new StoreError(507, "insufficient_storage", "the master's disk is full")
              : error;
          for (const b of batch) b.done(failure);
        }
      }
    } finally {
      this.writing = null;
    }
  }

  /** A peer's event, keyed by its nodeId when it has one, else by its boot MAC. */
  appendPeer(event: PeerEvent, ip: string | null): Promise<EventRecord> {
    const key = event.nodeId ?? macKey(event.bootMac as string);
    const detail: Record<string, unknown> = { at: event.at };
    if (event.failedCollectors !== undefined) detail.failedCollectors = event.failedCollectors;
    if (event.method !== undefined) detail.method = event.method;
    if (event.reason !== undefined) detail.reason = event.reason;
    return this.append({
      key: key as string,
      mac: event.bootMac,
      nodeId: event.nodeId,
      type: event.type,
      ...(ip && IPV4.test(ip) ? { ip } : {}),
      detail,
    });
  }

  /**
   * A lease from dnsmasq, with the client architecture when the dhcp-script hook gave it: stored
   * when new or its IP changed; null when not stored. A renewal or a new hostname on the same
   * address is no new boot, and a second event would restart the node's life (node-state.ts).
   */
  appendLease(lease: Lease, clientArch: string | null = null): Promise<EventRecord> | null {
    if (this.lastLease.get(lease.mac) === lease.ip) return null;
    const nodeId = this.macToNode.get(lease.mac) ?? null;
    return this.append({
      key: nodeId ?? (macKey(lease.mac) as string),
      mac: lease.mac,
      nodeId,
      type: "dhcp",
      ip: lease.ip,
      detail: { hostname: lease.hostname, clientArch, expiresAt: lease.expiresAt },
    });
  }

  /** A boot file served to the holder of `lease`. */
  appendBootFile(lease: Lease, file: string, urlPath: string): Promise<EventRecord> {
    const nodeId = this.macToNode.get(lease.mac) ?? null;
    return this.append({
      key: nodeId ?? (macKey(lease.mac) as string),
      mac: lease.mac,
      nodeId,
      type: "boot-file",
      ip: lease.ip,
      detail: { file, path: urlPath.slice(0, 256) },
    });
  }

  /** Every key with events held in memory. */
  keys(): IterableIterator<string> {
    return this.byKey.keys();
  }

  /** The events of these keys (a node and its boot MAC's), in order. */
  eventsOf(keys: readonly string[]): EventRecord[] {
    const out: EventRecord[] = [];
    for (const key of new Set(keys)) out.push(...(this.byKey.get(key) ?? []));
    return out.sort((a, b) => a.seq - b.seq);
  }

  /**
   * The sequence number of a key's newest event held (0 when none): it changes with every event
   * the key gets (lists only grow at the end), so a cache of what the events gave can check it.
   */
  lastSeqOf(key: string): number {
    return this.byKey.get(key)?.at(-1)?.seq ?? 0;
  }

  /** The MACs events linked to this nodeId. */
  macsOfNode(nodeId: string): string[] {
    const macs: string[] = [];
    for (const [mac, owner] of this.macToNode) if (owner === nodeId) macs.push(mac);
    return macs;
  }

  /** The nodeId events linked to this MAC, if any. */
  nodeOfMac(mac: string): string | undefined {
    return this.macToNode.get(mac);
  }

  async close(): Promise<void> {
    while (this.writing) await this.writing;
    await this.handle?.close();
    this.handle = null;
  }
}
