// The hall as the master sees it: the event store, dnsmasq's leases and the node states behind
// POST /api/v1/events, GET /api/v1/nodes (state fields), GET /api/v1/nodes/<key>/events and
// GET /api/v1/dhcp. serve.ts routes to it; the logic is here, in events.ts and node-state.ts.
import { createHash, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import {
  DEFAULT_HOOK_FILE,
  type DhcpUsage,
  dhcpUsage,
  type HookLease,
  type HookWatcher,
  type Lease,
  type LeaseWatcher,
  readDnsmasqConf,
  watchHookFile,
  watchLeases,
} from "../../packaging/dnsmasq-leases.ts";
import { ERROR_CODES, ReconError } from "../errors.ts";
import {
  bootFileOf,
  type EventRecord,
  EventStore,
  MAX_KEYS,
  macKey,
  parsePeerEvent,
} from "./events.ts";
import {
  DEFAULT_STALL_AFTER_MS,
  HallItems,
  type HallNode,
  hallNodes,
  stateCounts,
} from "./node-state.ts";
import { type NodeRecord, StoreError } from "./store.ts";

export interface HallOptions {
  root: string;
  /** dnsmasq.conf the master's dnsmasq runs with: its lease file and DHCP range. */
  dnsmasqConf?: string | null;
  /** dnsmasq's lease file (overrides the one in dnsmasqConf). */
  leaseFile?: string | null;
  /**
   * The file packaging/dnsmasq-hook.sh appends to (its RECON_DHCP_HOOK_FILE); default
   * DEFAULT_HOOK_FILE when dnsmasqConf has a dhcp-script line, else none.
   */
  dhcpHookFile?: string | null;
  /** Milliseconds without a step after which a node counts as stalled (default 10 min). */
  stallAfterMs?: number;
  leasePollMs?: number;
  log: (event: Record<string, unknown>) => void;
  now?: () => Date;
}

export interface HallList {
  count: number;
  withEvidence: number;
  generatedAt: string;
  /** Highest event sequence number the list includes. */
  seq: number;
  states: ReturnType<typeof stateCounts>;
  dhcp: DhcpUsage;
  /** Every node, or with `?since=` only those that changed after the cursor. */
  nodes: HallNode[];
  evidenceWithoutInventory: number;
  /** Give it back as `?since=` to get only what changed after this list (listCursor). */
  cursor: string;
  /** True when `nodes` is every node; false for the changes since a cursor. */
  full: boolean;
  /** With `?since=`: keys listed before that are gone (a MAC-only node that got its nodeId). */
  removed: string[];
}

/** How long a lease from the lease file waits for its hook line (and architecture). */
const HOOK_WAIT_MS = 3000;

export class Hall {
  readonly events: EventStore;
  private leases: LeaseWatcher | null = null;
  private hook: HookWatcher | null = null;
  /** MAC -> client architecture, from the hook (the lease file has none). */
  private readonly archByMac = new Map<string, string>();
  /** Leases seen in the lease file whose hook line has not come yet (it brings the arch). */
  private readonly pending = new Map<string, { lease: Lease; sinceMs: number }>();
  private timer: NodeJS.Timeout | undefined;
  /** List cursors: this master run's epoch and the revision of the last list that changed. */
  private readonly epoch = randomBytes(4).toString("hex");
  private revision = 0;
  /** Per item key: the item and its JSON in the last list, and the revision it last changed at. */
  private readonly items = new Map<string, { node: HallNode; json: string; revision: number }>();
  /** The last list's items, reused for the nodes that did not change (node-state.ts). */
  readonly cache = new HallItems();
  /** The last listBody's text but generatedAt, its ETag, and what it was made of. */
  private lastBody: {
    head: string;
    nodes: readonly HallNode[];
    stable: string;
    etag: string;
  } | null = null;
  /** Keys gone from the list, and when (at most MAX_KEYS; cursors older than `floor` get all). */
  private readonly gone = new Map<string, number>();
  private floor = 0;
  private polling: Promise<void> | null = null;
  private range: [string, string] | null = null;
  private nearlyFull = false;
  private readonly options: HallOptions;
  private readonly now: () => Date;

  private constructor(options: HallOptions) {
    this.options = options;
    this.now = options.now ?? (() => new Date());
    this.events = new EventStore(options.root, this.now);
  }

  /** Opens the event store (reloading the file) and starts reading the lease file. */
  static async open(options: HallOptions): Promise<Hall> {
    const hall = new Hall(options);
    let leaseFile = options.leaseFile ?? null;
    let hookFile = options.dhcpHookFile ?? null;
    if (options.dnsmasqConf) {
      let text: string;
      try {
        text = readFileSync(options.dnsmasqConf, "utf8");
      } catch (error) {
        throw new ReconError(
          ERROR_CODES.USAGE,
          `--dnsmasq-conf: cannot read ${options.dnsmasqConf}: ${(error as Error).message}`,
        );
      }
      const conf = readDnsmasqConf(text);
      hall.range = conf.dhcpRange;
      leaseFile ??= conf.leaseFile;
      if (conf.dhcpScript) hookFile ??= DEFAULT_HOOK_FILE;
    }
    const opened = await hall.events.open();
    options.log({ event: "events_opened", file: hall.events.file, ...opened });
    if (hookFile) {
      hall.hook = watchHookFile({
        file: hookFile,
        onLease: (lease) => hall.hookLease(lease),
        onError: (error) => hall.failed("dhcp_hook_file", error),
      });
    }
    if (leaseFile) {
      hall.leases = watchLeases({
        file: leaseFile,
        intervalMs: 0,
        onLease: (lease) => hall.fileLease(lease),
        onError: (error) => hall.failed("lease_file", error),
      });
    }
    if (hall.hook || hall.leases) {
      await hall.pollDhcp();
      hall.timer = setInterval(() => void hall.pollDhcp(), options.leasePollMs ?? 1000);
      hall.timer.unref();
      options.log({
        event: "dhcp_watching",
        leaseFile,
        hookFile,
        range: hall.range,
        ...hall.dhcp(),
      });
    }
    return hall;
  }

  /** The hook's lines first (they carry the architecture), then the lease file. */
  private pollDhcp(): Promise<void> {
    this.polling ??= (async () => {
      await this.hook?.poll();
      await this.leases?.poll();
      const due = this.now().getTime() - HOOK_WAIT_MS;
      for (const [mac, { sinceMs }] of this.pending) if (sinceMs <= due) this.flushLease(mac);
    })().finally(() => {
      this.polling = null;
    });
    return this.polling;
  }

  private appendLease(lease: Lease, clientArch: string | null): void {
    this.events
      .appendLease(lease, clientArch)
      ?.catch((error: unknown) => this.failed("dhcp", error));
  }

  /** A lease line of dnsmasq's dhcp-script: stored at once, with its architecture. */
  private hookLease(lease: HookLease): void {
    if (lease.clientArch !== null) {
      // An "old" line (dnsmasq restarted) has no vendor class: it keeps the known architecture.
      this.archByMac.delete(lease.mac);
      this.archByMac.set(lease.mac, lease.clientArch);
      if (this.archByMac.size > MAX_KEYS) {
        const oldest = this.archByMac.keys().next().value;
        if (oldest !== undefined) this.archByMac.delete(oldest);
      }
    }
    this.pending.delete(lease.mac);
    this.appendLease(lease, this.archByMac.get(lease.mac) ?? null);
  }

  /**
   * A lease of the lease file. With the hook on, its line (and the architecture) usually comes
   * a moment later: the lease waits for it up to HOOK_WAIT_MS, or until its holder fetches a
   * boot file (fileServed), then is stored without one.
   */
  private fileLease(lease: Lease): void {
    this.checkRange();
    if (!this.hook || this.archByMac.has(lease.mac)) {
      this.appendLease(lease, this.archByMac.get(lease.mac) ?? null);
    } else if (!this.pending.has(lease.mac)) {
      this.pending.set(lease.mac, { lease, sinceMs: this.now().getTime() });
    }
  }

  private flushLease(mac: string): void {
    const waiting = this.pending.get(mac);
    if (!waiting) return;
    this.pending.delete(mac);
    this.appendLease(waiting.lease, this.archByMac.get(mac) ?? null);
  }

  private failed(what: string, error: unknown): void {
    this.options.log({ event: "hall_error", what, message: String(error) });
  }

  /** Says so on the console when the range gets nearly used up (and when it recovers). */
  private checkRange(): void {
    const usage = this.dhcp();
    if (usage.nearlyFull === this.nearlyFull) return;
    this.nearlyFull = usage.nearlyFull;
    this.options.log({
      event: usage.nearlyFull ? "dhcp_nearly_full" : "dhcp_range_ok",
      ...usage,
      message: usage.nearlyFull
        ? `DHCP range nearly used up: ${usage.free} of ${usage.rangeSize} addresses free; further peers may get no address`
        : `DHCP range has room again: ${usage.free} of ${usage.rangeSize} addresses free`,
    });
  }

  dhcp(): DhcpUsage {
    return dhcpUsage(this.leases?.current() ?? [], this.range, this.now().getTime() / 1000);
  }

  /** Validates and stores a POSTed event (throws StoreError 400/503/507). */
  acceptPeerEvent(body: Buffer, remote: string | undefined): Promise<EventRecord> {
    const event = parsePeerEvent(body);
    return this.events.appendPeer(event, remoteIpv4(remote));
  }

  /** A static file was served: a `boot-file` event when it is one and its client holds a lease. */
  fileServed(remote: string | undefined, pathname: string): void {
    const file = bootFileOf(pathname);
    const ip = remoteIpv4(remote);
    const leases = this.leases;
    if (file === null || ip === null || !leases) return;
    // A client fetching within a poll interval of its lease: read the lease file first.
    const lease = leases.byIp(ip);
    (lease ? Promise.resolve(lease) : this.pollDhcp().then(() => leases.byIp(ip)))
      .then((found) => {
        if (!found) return null;
        // Its dhcp event first: a boot file before it would be undone by the lease.
        this.flushLease(found.mac);
        return this.events.appendBootFile(found, file, pathname);
      })
      .catch((error: unknown) => this.failed("boot_file", error));
  }

  nodes(records: readonly NodeRecord[]): HallNode[] {
    return hallNodes(
      {
        records,
        events: this.events,
        leases: this.leases?.current() ?? [],
        clientArchOf: (mac) => this.archByMac.get(mac) ?? null,
        nowMs: this.now().getTime(),
        stallAfterMs: this.options.stallAfterMs ?? DEFAULT_STALL_AFTER_MS,
      },
      this.cache,
    );
  }

  /**
   * Notes which items differ from the last list computed (each list, with or without `since`,
   * is compared with the one before): a changed, new or gone item gets the next revision.
   * Time alone changes items too (a node turning `stalled`): the comparison sees that. An item
   * the cache gave again (the same object) has the same JSON: it is not serialized again.
   */
  private track(nodes: readonly HallNode[]): void {
    const next = this.revision + 1;
    let changed = false;
    const present = new Set<string>();
    for (const node of nodes) {
      present.add(node.key);
      const known = this.items.get(node.key);
      if (known?.node === node) continue;
      const json = JSON.stringify(node);
      if (known?.json === json) {
        known.node = node;
        continue;
      }
      this.items.set(node.key, { node, json, revision: next });
      this.gone.delete(node.key);
      changed = true;
    }
    for (const key of this.items.keys()) {
      if (present.has(key)) continue;
      this.items.delete(key);
      this.gone.set(key, next);
      changed = true;
    }
    while (this.gone.size > MAX_KEYS) {
      const [oldest, revision] = this.gone.entries().next().value as [string, number];
      this.gone.delete(oldest);
      this.floor = Math.max(this.floor, revision);
    }
    if (changed) this.revision = next;
  }

  /**
   * GET /api/v1/nodes, or with `since` (a cursor of an earlier list) only the items changed
   * after it and the keys gone. A cursor of another master run, or older than what is
   * remembered, gets the whole list (`full: true`). Throws StoreError 400 for a malformed one.
   */
  list(
    records: readonly NodeRecord[],
    evidenceWithoutInventory: number,
    since: string | null = null,
  ): HallList {
    const from = since === null ? null : this.parseCursor(since);
    const nodes = this.nodes(records);
    this.track(nodes);
    const delta = from !== null && from >= this.floor && from <= this.revision;
    return {
      count: nodes.length,
      withEvidence: nodes.filter((n) => n.evidence !== null).length,
      generatedAt: this.now().toISOString(),
      seq: this.events.lastSeq,
      states: stateCounts(nodes),
      dhcp: this.dhcp(),
      nodes: delta
        ? nodes.filter((n) => (this.items.get(n.key)?.revision ?? Infinity) > from)
        : nodes,
      evidenceWithoutInventory,
      cursor: `${this.epoch}-${this.revision}`,
      full: !delta,
      removed: delta ? [...this.gone].filter(([, r]) => r > from).map(([key]) => key) : [],
    };
  }

  /**
   * GET /api/v1/nodes as sent: the JSON text and its ETag (over all but generatedAt, which comes
   * last). Each item's JSON is the one track() made: 1,000 nodes are serialized once, not once
   * for the comparison, once for the ETag and once for the body.
   */
  listBody(
    records: readonly NodeRecord[],
    evidenceWithoutInventory: number,
    since: string | null = null,
  ): { text: string; etag: string } {
    const { nodes, generatedAt, ...rest } = this.list(records, evidenceWithoutInventory, since);
    const head = JSON.stringify(rest).slice(0, -1);
    // A list like the last one (the same fields, the same item objects in the same order: the
    // cache gave them all again) has the same text and ETag: no join, no hash of 1 MB again.
    const last = this.lastBody;
    let stable: string;
    let etag: string;
    if (last !== null && last.head === head && sameItems(last.nodes, nodes)) {
      ({ stable, etag } = last);
    } else {
      const items = nodes.map((n) => this.items.get(n.key)?.json ?? JSON.stringify(n));
      stable = `${head},"nodes":[${items.join(",")}]`;
      etag = etagOf(stable);
      this.lastBody = { head, nodes, stable, etag };
    }
    return { text: `${stable},"generatedAt":${JSON.stringify(generatedAt)}}\n`, etag };
  }

  /** The revision of a cursor "<epoch>-<revision>"; -1 for another master run's. */
  private parseCursor(cursor: string): number {
    const m = /^([0-9a-f]{8})-(\d{1,15})$/.exec(cursor);
    if (!m) {
      throw new StoreError(400, "invalid_cursor", "since: give the cursor of an earlier list");
    }
    return m[1] === this.epoch ? Number(m[2]) : -1;
  }

  /** The events of a node (its nodeId's and its MACs'), or null when the key has none. */
  nodeEvents(key: string, record: NodeRecord | undefined): EventRecord[] | null {
    const macs = new Set<string>(this.events.macsOfNode(key));
    if (record?.summary?.bootMac) macs.add(record.summary.bootMac);
    for (const mac of record?.summary?.identity.macs ?? []) macs.add(mac);
    const keys = [key, ...[...macs].map((m) => macKey(m)).filter((k): k is string => k !== null)];
    const events = this.events.eventsOf(keys);
    return events.length === 0 && !record ? null : events;
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    this.leases?.stop();
    await this.events.close();
  }
}

function sameItems(a: readonly HallNode[], b: readonly HallNode[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** A strong ETag of a text (a list's: all of it but the time it was generated). */
function etagOf(text: string): string {
  return `"${createHash("sha256").update(text).digest("base64url").slice(0, 27)}"`;
}

function remoteIpv4(remote: string | undefined): string | null {
  if (!remote) return null;
  const ip = remote.startsWith("::ffff:") ? remote.slice(7) : remote;
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(ip) ? ip : null;
}
