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
  if (
    lastStep !== undefined &&
    phase !== "powered-off" &&
    phase !== "failed" &&
    !done &&
    input.nowMs - lastStep.ms > input.stallAfterMs
  ) {
    state = "stalled";
    stateSince = new Date(lastStep.ms + input.stallAfterMs).toISOString();
  }
  return { state, stateSince, lastEvent, lastActivityAt: last, failedCollectors, reason };
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
  events: Pick<EventStore, "keys" | "eventsOf" | "nodeOfMac">;
  leases: readonly Lease[];
  /** The architecture the hook last gave for a MAC (the dhcp events keep it too). */
  clientArchOf?: (mac: string) => string | null;
  nowMs: number;
  stallAfterMs: number;
}

/** The list fields of a node without an inventory (all null or empty). */
function emptyItem(): Omit<NodeListItem, "nodeId"> {
  const { nodeId: _, ...base } = listItem({
    nodeId: "",
    summary: null,
    inventory: null,
    evidence: null,
    lastSeenAt: null,
    conflicts: 0,
  });
  return base;
}

/**
 * Every node the master knows of: those with an inventory, and those known only from a lease,
 * a boot file or a peer event (nodeId null until one says it). A MAC's events belong to the node
 * whose inventory lists that MAC or whose events named both. Newest activity first.
 */
export function hallNodes(input: HallInput): HallNode[] {
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

  const out: HallNode[] = [];
  const build = (
    key: string,
    nodeId: string | null,
    base: Omit<NodeListItem, "nodeId">,
    macs: string[],
    reportedAt: string | null,
    bootMac: string | null,
  ) => {
    const keys = [key, ...macs.map((m) => macKey(m) as string)];
    const events = input.events.eventsOf(keys);
    const life = lifecycleOf({
      events,
      reportedAt,
      nowMs: input.nowMs,
      stallAfterMs: input.stallAfterMs,
    });
    const eventMac = [...events].reverse().find((e) => e.mac !== null)?.mac ?? null;
    const mac = bootMac ?? eventMac ?? macs[0] ?? null;
    const lease =
      (mac ? leaseByMac.get(mac) : undefined) ?? macs.map((m) => leaseByMac.get(m)).find(Boolean);
    const ip = lease?.ip ?? [...events].reverse().find((e) => e.ip)?.ip ?? null;
    const leaseArch = [...events]
      .reverse()
      .find((e) => e.type === "dhcp" && typeof e.detail?.clientArch === "string")?.detail
      ?.clientArch as string | undefined;
    const clientArch = (mac ? input.clientArchOf?.(mac) : null) ?? leaseArch ?? null;
    out.push({
      ...base,
      hostname: base.hostname ?? lease?.hostname ?? null,
      key,
      nodeId,
      ...life,
      failedCollectors: [...new Set([...base.failedCollectors, ...life.failedCollectors])],
      mac,
      ip,
      clientArch,
    });
  };
  for (const record of input.records) {
    const { nodeId, ...base } = listItem(record);
    build(
      nodeId,
      nodeId,
      base,
      macsOfNodeId(nodeId),
      record.inventory ? (record.lastSeenAt ?? record.inventory.storedAt) : null,
      record.summary?.bootMac ?? null,
    );
  }
  for (const nodeId of eventNodeIds) {
    build(nodeId, nodeId, emptyItem(), macsOfNodeId(nodeId), null, null);
  }
  for (const mac of macOnly) {
    build(macKey(mac) as string, null, emptyItem(), [mac], null, null);
  }
  return out.sort(
    (a, b) =>
      (b.lastActivityAt ? Date.parse(b.lastActivityAt) : 0) -
        (a.lastActivityAt ? Date.parse(a.lastActivityAt) : 0) || a.key.localeCompare(b.key),
  );
}

/** Nodes per state, every state present (zeros included). */
export function stateCounts(nodes: readonly Pick<HallNode, "state">[]): Record<NodeState, number> {
  const counts = Object.fromEntries(NODE_STATES.map((s) => [s, 0])) as Record<NodeState, number>;
  for (const node of nodes) counts[node.state]++;
  return counts;
}
