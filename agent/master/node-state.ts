// Each node's state on the master, from its events and its stored inventory. Pure: the same
// events, report time and clock give the same answer.
//
//   dhcp -> booting -> agent -> reported -> powered-off
//   stalled: no step for `stallAfterMs` while not yet powered off (or done) or failed
//   failed:  an `error` event, or `spooled` (the master never acknowledged the upload)
//
// A new boot restarts the life: a new lease, or a boot file or agent start after the node had
// reported, powered off or failed (a reboot keeps its address, so it brings no new lease).
// `powering-off` with method "none" means the operator keeps the node up: it stays `reported`,
// done, and never stalls.
import type { Lease } from "../../packaging/dnsmasq-leases.ts";
import { type EventRecord, type EventStore, macKey } from "./events.ts";
import { listItem, NODE_STATES, type NodeListItem, type NodeState } from "./page.ts";
import type { NodeRecord } from "./store.ts";

export { NODE_STATES, type NodeState };

export const DEFAULT_STALL_AFTER_MS = 600_000;

export interface LastEvent {
  type: string;
  at: string;
  detail: Record<string, unknown> | null;
}

export interface Lifecycle {
  state: NodeState;
  /** When the node entered `state` (master clock); null when nothing is known. */
  stateSince: string | null;
  lastEvent: LastEvent | null;
  /** Time of the last step (event or stored inventory). */
  lastActivityAt: string | null;
  /** From the last `collected` event of the current boot. */
  failedCollectors: string[];
  /** Why it failed (`error` / `spooled`), else null. */
  reason: string | null;
}

export interface LifecycleInput {
  /** The node's events (under its nodeId and its boot MAC), any order. */
  events: readonly EventRecord[];
  /** When its current inventory was last accepted; null if none. */
  reportedAt: string | null;
  nowMs: number;
  stallAfterMs: number;
}

type Phase = "dhcp" | "booting" | "agent" | "reported" | "powered-off" | "failed";
const RANK: Record<Phase, number> = {
  dhcp: 0,
  booting: 1,
  agent: 2,
  reported: 3,
  "powered-off": 4,
  failed: 4,
};

interface Step {
  at: string;
  /** `at` in milliseconds, parsed once (sorting parses it otherwise on every comparison). */
  ms: number;
  order: number;
  event: EventRecord | null;
}

export function lifecycleOf(input: LifecycleInput): Lifecycle {
  return lifecycleWithStall(input).life;
}

/**
 * The lifecycle, and the time (ms) of the last step when the node can stall (null when it is
 * powered off, failed or done): the state depends on the clock only through
 * `nowMs - stallFromMs > stallAfterMs`, so a cached lifecycle holds while that test gives the same.
 */
function lifecycleWithStall(input: LifecycleInput): {
  life: Lifecycle;
  stallFromMs: number | null;
} {
  const steps: Step[] = input.events.map((event) => ({
    at: event.receivedAt,
    ms: Date.parse(event.receivedAt),
    order: event.seq,
    event,
  }));
  // The stored inventory is a step of its own (nodes that reported before events existed too).
  if (input.reportedAt !== null) {
    steps.push({ at: input.reportedAt, ms: Date.parse(input.reportedAt), order: 0, event: null });
  }
  steps.sort((a, b) => a.ms - b.ms || a.order - b.order);

  let phase = null as Phase | null;
  let since = null as string | null;
  let done = false as boolean;
  let failedCollectors: string[] = [];
  let reason = null as string | null;
  let lastEvent: LastEvent | null = null;
  const enter = (next: Phase, at: string) => {
    if (next !== phase) since = at;
    phase = next;
  };
  const restart = (at: string, next: Phase) => {
    failedCollectors = [];
    reason = null;
    done = false;
    phase = null;
    enter(next, at);
  };
  const ended = () => phase === "reported" || phase === "powered-off" || phase === "failed";

  for (const step of steps) {
    const event = step.event;
    if (event === null) {
      if (phase === null || RANK[phase] < RANK.reported) enter("reported", step.at);
      continue;
    }
    lastEvent = { type: event.type, at: event.receivedAt, detail: event.detail ?? null };
    const detail = event.detail ?? {};
    switch (event.type) {
      case "dhcp":
        restart(step.at, "dhcp");
        break;
      case "boot-file":
        if (ended()) restart(step.at, "booting");
        else if (phase === null || RANK[phase] < RANK.booting) enter("booting", step.at);
        break;
      case "agent-started":
        if (ended()) restart(step.at, "agent");
        else enter("agent", step.at);
        break;
      case "collected":
        failedCollectors = Array.isArray(detail.failedCollectors)
          ? detail.failedCollectors.filter((c): c is string => typeof c === "string")
          : [];
        if (phase === null || RANK[phase] < RANK.agent) enter("agent", step.at);
        break;
      case "uploaded":
        if (phase === null || RANK[phase] < RANK.reported) enter("reported", step.at);
        break;
      case "powering-off":
        if (detail.method === "none") {
          enter("reported", step.at);
          done = true;
        } else {
          enter("powered-off", step.at);
        }
        break;
      case "spooled":
      case "error":
        reason = typeof detail.reason === "string" ? detail.reason : event.type;
        enter("failed", step.at);
        break;
    }
  }

  const lastStep = steps.at(-1);
  const last = lastStep?.at ?? null;
  let state: NodeState = phase ?? "dhcp";
  let stateSince = since;
  const stallFromMs =
    lastStep !== undefined && phase !== "powered-off" && phase !== "failed" && !done
      ? lastStep.ms
      : null;
  if (stallFromMs !== null && input.nowMs - stallFromMs > input.stallAfterMs) {
    state = "stalled";
    stateSince = new Date(stallFromMs + input.stallAfterMs).toISOString();
  }
  return {
    life: { state, stateSince, lastEvent, lastActivityAt: last, failedCollectors, reason },
    stallFromMs,
  };
}

/** One item of GET /api/v1/nodes: the inventory summary (nulls when none yet) and its life. */
export interface HallNode extends Omit<NodeListItem, "nodeId"> {
  /** nodeId, or "mac-<12 hex>" while only the boot MAC is known. */
  key: string;
  nodeId: string | null;
  state: NodeState;
  stateSince: string | null;
  lastEvent: LastEvent | null;
  lastActivityAt: string | null;
  mac: string | null;
  ip: string | null;
  /**
   * DHCP option 93 as the dhcp-script hook gave it (dnsmasq-leases.ts clientArchOf): "bios",
   * "uefi-x86_64", "uefi-arm64", another number as text; null when unknown.
   */
  clientArch: string | null;
  /** The document's failed collectors, and those the current boot's `collected` event named. */
  failedCollectors: string[];
  reason: string | null;
}

export interface HallInput {
  records: readonly NodeRecord[];
  /** With lastSeqOf, a HallItems cache can tell which nodes' events changed. */
  events: Pick<EventStore, "keys" | "eventsOf" | "nodeOfMac"> &
    Partial<Pick<EventStore, "lastSeqOf">>;
  leases: readonly Lease[];
  /** The architecture the hook last gave for a MAC (the dhcp events keep it too). */
  clientArchOf?: (mac: string) => string | null;
  nowMs: number;
  stallAfterMs: number;
}

function withoutNodeId(item: NodeListItem): Omit<NodeListItem, "nodeId"> {
  const { nodeId: _, ...base } = item;
  return base;
}

/** The list fields of a node without an inventory (all null or empty). */
function emptyItem(): Omit<NodeListItem, "nodeId"> {
  return withoutNodeId(
    listItem({
      nodeId: "",
      summary: null,
      inventory: null,
      evidence: null,
      lastSeenAt: null,
      conflicts: 0,
    }),
  );
}

/** A node's item as last built, and everything it was built from. */
interface CachedItem {
  node: HallNode;
  /** node.lastActivityAt parsed (the list's order). */
  activityMs: number;
  nodeId: string | null;
  /**
   * The record's fields the item shows, as they were (the store changes a record in place, so
   * they are compared by value; the summary by reference, the store replaces it whole).
   */
  record: readonly unknown[];
  /** The node's MACs, its keys (its own and its MACs'), and each key's newest event seq. */
  macs: readonly string[];
  keys: readonly string[];
  seqs: readonly number[];
  /** The MAC the item shows, the lease's address and name for it, and the hook's architecture. */
  mac: string | null;
  leaseIp: string | undefined;
  leaseHostname: string | null | undefined;
  hookArch: string | null | undefined;
  /** lifecycleWithStall's stallFromMs, the stall time and whether the item showed `stalled`. */
  stallFromMs: number | null;
  stallAfterMs: number;
  stalled: boolean;
}

/**
 * The items of the last hallNodes call, reused by the next one for every node whose record,
 * MACs, events, lease and hook architecture are the same and that has not crossed its stall time
 * since (node-state is pure: the same inputs give the same item). Building an item (its events
 * merged and sorted, its lifecycle, its fields) is most of a list's cost; a hall of 1,000 nodes
 * changes a few at a time. Holds the items of the last call only.
 */
export class HallItems {
  entries = new Map<string, CachedItem>();
  /** Items built and reused by the last call (for tests and benchmarks). */
  built = 0;
  reused = 0;
}

/** The fields of a record that its list item shows (listItem, reportedAt, bootMac). */
function recordFields(record: NodeRecord | null): unknown[] {
  if (record === null) return [];
  const inv = record.inventory;
  const evi = record.evidence;
  return [
    record.summary,
    inv?.bytes,
    inv?.storedAt,
    inv?.sha256,
    evi?.bytes,
    evi?.storedAt,
    evi?.sha256,
    record.lastSeenAt,
    record.conflicts,
  ];
}

function sameRecord(known: readonly unknown[], record: NodeRecord | null): boolean {
  if (record === null) return known.length === 0;
  const inv = record.inventory;
  const evi = record.evidence;
  return (
    known.length === 9 &&
    known[0] === record.summary &&
    known[1] === inv?.bytes &&
    known[2] === inv?.storedAt &&
    known[3] === inv?.sha256 &&
    known[4] === evi?.bytes &&
    known[5] === evi?.storedAt &&
    known[6] === evi?.sha256 &&
    known[7] === record.lastSeenAt &&
    known[8] === record.conflicts
  );
}

function sameStrings(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Every node the master knows of: those with an inventory, and those known only from a lease,
 * a boot file or a peer event (nodeId null until one says it). A MAC's events belong to the node
 * whose inventory lists that MAC or whose events named both. Newest activity first. With `cache`
 * (and events.lastSeqOf), unchanged nodes' items are those of the last call (the same objects).
 */
export function hallNodes(input: HallInput, cache?: HallItems): HallNode[] {
  const leaseByMac = new Map(input.leases.map((lease) => [lease.mac, lease]));
  const macsOfNode = new Map<string, Set<string>>();
  const claimed = new Set<string>();
  const claim = (nodeId: string, mac: string | null | undefined) => {
    if (!mac) return;
    let set = macsOfNode.get(nodeId);
    if (!set) {
      set = new Set();
      macsOfNode.set(nodeId, set);
    }
    set.add(mac);
    claimed.add(mac);
  };
  const recordIds = new Set<string>();
  for (const record of input.records) {
    recordIds.add(record.nodeId);
    claim(record.nodeId, record.summary?.bootMac);
    for (const mac of record.summary?.identity.macs ?? []) claim(record.nodeId, mac);
  }
  const eventNodeIds: string[] = [];
  const macOnly: string[] = [];
  for (const key of input.events.keys()) {
    if (key.startsWith("mac-") && /^mac-[0-9a-f]{12}$/.test(key)) {
      const mac = key.slice(4).replace(/(..)(?!$)/g, "$1:");
      const owner = input.events.nodeOfMac(mac);
      if (owner !== undefined) claim(owner, mac);
      else if (!claimed.has(mac)) macOnly.push(mac);
    } else if (!recordIds.has(key)) {
      eventNodeIds.push(key);
    }
  }
  // A record's MAC that events linked to another nodeId stays with the record (claimed first).
  const macsOfNodeId = (nodeId: string) => [...(macsOfNode.get(nodeId) ?? [])];
  const leaseOf = (mac: string | null, macs: readonly string[]) =>
    (mac ? leaseByMac.get(mac) : undefined) ?? macs.map((m) => leaseByMac.get(m)).find(Boolean);
  const lastSeqOf = cache ? input.events.lastSeqOf?.bind(input.events) : undefined;
  const previous = cache?.entries;
  const next = new Map<string, CachedItem>();
  let built = 0;
  let reused = 0;

  const out: { node: HallNode; activityMs: number }[] = [];
  const build = (
    key: string,
    nodeId: string | null,
    record: NodeRecord | null,
    macs: string[],
    reportedAt: string | null,
    bootMac: string | null,
  ) => {
    const known = lastSeqOf ? previous?.get(key) : undefined;
    if (
      lastSeqOf &&
      known !== undefined &&
      known.nodeId === nodeId &&
      known.stallAfterMs === input.stallAfterMs &&
      (known.stallFromMs === null ||
        input.nowMs - known.stallFromMs > input.stallAfterMs === known.stalled) &&
      sameRecord(known.record, record) &&
      sameStrings(known.macs, macs) &&
      known.keys.every((k, i) => lastSeqOf(k) === known.seqs[i])
    ) {
      // reportedAt and bootMac come from the record; the MAC shown from it and the events.
      const lease = leaseOf(known.mac, macs);
      if (
        lease?.ip === known.leaseIp &&
        lease?.hostname === known.leaseHostname &&
        (known.mac ? input.clientArchOf?.(known.mac) : null) === known.hookArch
      ) {
        next.set(key, known);
        out.push(known);
        reused++;
        return;
      }
    }
    const keys = [key, ...macs.map((m) => macKey(m) as string)];
    built++;
    const base = record ? withoutNodeId(listItem(record)) : emptyItem();
    const events = input.events.eventsOf(keys);
    const { life, stallFromMs } = lifecycleWithStall({
      events,
      reportedAt,
      nowMs: input.nowMs,
      stallAfterMs: input.stallAfterMs,
    });
    const eventMac = [...events].reverse().find((e) => e.mac !== null)?.mac ?? null;
    const mac = bootMac ?? eventMac ?? macs[0] ?? null;
    const lease = leaseOf(mac, macs);
    const ip = lease?.ip ?? [...events].reverse().find((e) => e.ip)?.ip ?? null;
    const leaseArch = [...events]
      .reverse()
      .find((e) => e.type === "dhcp" && typeof e.detail?.clientArch === "string")?.detail
      ?.clientArch as string | undefined;
    const hookArch = mac ? input.clientArchOf?.(mac) : null;
    const clientArch = hookArch ?? leaseArch ?? null;
    const node: HallNode = {
      ...base,
      hostname: base.hostname ?? lease?.hostname ?? null,
      key,
      nodeId,
      ...life,
      failedCollectors: [...new Set([...base.failedCollectors, ...life.failedCollectors])],
      mac,
      ip,
      clientArch,
    };
    const item = {
      node,
      activityMs: node.lastActivityAt ? Date.parse(node.lastActivityAt) : 0,
    };
    out.push(item);
    if (lastSeqOf) {
      next.set(key, {
        ...item,
        nodeId,
        record: recordFields(record),
        macs,
        keys,
        seqs: keys.map((k) => lastSeqOf(k)),
        mac,
        leaseIp: lease?.ip,
        leaseHostname: lease?.hostname,
        hookArch,
        stallFromMs,
        stallAfterMs: input.stallAfterMs,
        stalled: life.state === "stalled",
      });
    }
  };
  for (const record of input.records) {
    const nodeId = record.nodeId;
    build(
      nodeId,
      nodeId,
      record,
      macsOfNodeId(nodeId),
      record.inventory ? (record.lastSeenAt ?? record.inventory.storedAt) : null,
      record.summary?.bootMac ?? null,
    );
  }
  for (const nodeId of eventNodeIds) {
    build(nodeId, nodeId, null, macsOfNodeId(nodeId), null, null);
  }
  for (const mac of macOnly) {
    build(macKey(mac) as string, null, null, [mac], null, null);
  }
  if (cache) {
    cache.entries = next;
    cache.built = built;
    cache.reused = reused;
  }
  return out
    .sort((a, b) => b.activityMs - a.activityMs || a.node.key.localeCompare(b.node.key))
    .map((item) => item.node);
}

/** Nodes per state, every state present (zeros included). */
export function stateCounts(nodes: readonly Pick<HallNode, "state">[]): Record<NodeState, number> {
  const counts = Object.fromEntries(NODE_STATES.map((s) => [s, 0])) as Record<NodeState, number>;
  for (const node of nodes) counts[node.state]++;
  return counts;
}
