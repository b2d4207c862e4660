import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { EventRecord, EventType } from "../../agent/master/events.ts";
import {
  hallNodes,
  type Lifecycle,
  lifecycleOf,
  type NodeState,
  stateCounts,
} from "../../agent/master/node-state.ts";
import type { NodeRecord } from "../../agent/master/store.ts";

const T0 = Date.parse("2026-12-02T01:00:00.000Z");
const STALL = 600_000;

/** A step of a test sequence: an event type, or "report" (the master stored an inventory). */
type Step =
  | EventType
  | "report"
  | "powering-off:none"
  | { type: EventType; detail: Record<string, unknown> };

/** The events and report time of a sequence, one second apart. */
function build(steps: Step[]): { events: EventRecord[]; reportedAt: string | null } {
  const events: EventRecord[] = [];
  let reportedAt: string | null = null;
  steps.forEach((step, i) => {
    const at = new Date(T0 + i * 1000).toISOString();
    if (step === "report") {
      reportedAt = at;
      return;
    }
    const [type, detail] =
      step === "powering-off:none"
        ? (["powering-off", { method: "none" }] as const)
        : typeof step === "string"
          ? ([step, step === "powering-off" ? { method: "soft" } : {}] as const)
          : ([step.type, step.detail] as const);
    events.push({
      seq: i + 1,
      receivedAt: at,
      key: "mac-525400123456",
      mac: "52:54:00:12:34:56",
      nodeId: null,
      type,
      detail: { ...detail },
    });
  });
  return { events, reportedAt };
}

function life(steps: Step[], nowMs = T0 + steps.length * 1000): Lifecycle {
  return lifecycleOf({ ...build(steps), nowMs, stallAfterMs: STALL });
}

const PHASES: Record<string, Step[]> = {
  dhcp: ["dhcp"],
  booting: ["dhcp", "boot-file"],
  agent: ["dhcp", "boot-file", "agent-started"],
  reported: ["dhcp", "boot-file", "agent-started", "collected", "uploaded"],
  "powered-off": ["dhcp", "boot-file", "agent-started", "uploaded", "powering-off"],
  failed: ["dhcp", "boot-file", "agent-started", "error"],
  done: ["dhcp", "boot-file", "agent-started", "uploaded", "powering-off:none"],
};
const STEPS: Step[] = [
  "dhcp",
  "boot-file",
  "agent-started",
  "collected",
  "uploaded",
  "report",
  "powering-off",
  "powering-off:none",
  "spooled",
  "error",
];
// Every phase x every step: the state right after it (the spec, written out by hand).
const TABLE: Record<string, NodeState[]> = {
  //            dhcp    boot-file  agent-st  collected   uploaded    report      poweroff       none        spooled   error
  dhcp: [
    "dhcp",
    "booting",
    "agent",
    "agent",
    "reported",
    "reported",
    "powered-off",
    "reported",
    "failed",
    "failed",
  ],
  booting: [
    "dhcp",
    "booting",
    "agent",
    "agent",
    "reported",
    "reported",
    "powered-off",
    "reported",
    "failed",
    "failed",
  ],
  agent: [
    "dhcp",
    "agent",
    "agent",
    "agent",
    "reported",
    "reported",
    "powered-off",
    "reported",
    "failed",
    "failed",
  ],
  reported: [
    "dhcp",
    "booting",
    "agent",
    "reported",
    "reported",
    "reported",
    "powered-off",
    "reported",
    "failed",
    "failed",
  ],
  "powered-off": [
    "dhcp",
    "booting",
    "agent",
    "powered-off",
    "powered-off",
    "powered-off",
    "powered-off",
    "reported",
    "failed",
    "failed",
  ],
  failed: [
    "dhcp",
    "booting",
    "agent",
    "failed",
    "failed",
    "failed",
    "powered-off",
    "reported",
    "failed",
    "failed",
  ],
  done: [
    "dhcp",
    "booting",
    "agent",
    "reported",
    "reported",
    "reported",
    "powered-off",
    "reported",
    "failed",
    "failed",
  ],
};

describe("lifecycleOf: every phase x every step", () => {
  for (const [phase, prefix] of Object.entries(PHASES)) {
    it(`from ${phase}`, () => {
      assert.equal(life(prefix).state, phase === "done" ? "reported" : phase);
      STEPS.forEach((step, i) => {
        assert.equal(
          life([...prefix, step]).state,
          TABLE[phase]?.[i],
          `${phase} + ${JSON.stringify(step)}`,
        );
      });
    });
  }
});

describe("lifecycleOf: stalled", () => {
  for (const [phase, prefix] of Object.entries(PHASES)) {
    const stalls = phase !== "powered-off" && phase !== "failed" && phase !== "done";
    it(`${phase} ${stalls ? "stalls" : "never stalls"} after --stall-after`, () => {
      const lastAt = T0 + (prefix.length - 1) * 1000;
      assert.equal(life(prefix, lastAt + STALL).state, phase === "done" ? "reported" : phase);
      const later = life(prefix, lastAt + STALL + 1);
      if (stalls) {
        assert.equal(later.state, "stalled");
        assert.equal(later.stateSince, new Date(lastAt + STALL).toISOString());
      } else {
        assert.notEqual(later.state, "stalled");
      }
    });
  }
});

describe("lifecycleOf: details", () => {
  it("knows nothing without events or report", () => {
    assert.deepEqual(life([]), {
      state: "dhcp",
      stateSince: null,
      lastEvent: null,
      lastActivityAt: null,
      failedCollectors: [],
      reason: null,
    });
  });

  it("a node with only a stored inventory is reported since then, with no last event", () => {
    const r = life(["report"]);
    assert.equal(r.state, "reported");
    assert.equal(r.stateSince, new Date(T0).toISOString());
    assert.equal(r.lastEvent, null);
  });

  it("stateSince is when the state was entered, not the last event", () => {
    const r = life(["dhcp", "boot-file", "boot-file", "boot-file"]);
    assert.equal(r.state, "booting");
    assert.equal(r.stateSince, new Date(T0 + 1000).toISOString());
    assert.equal(r.lastActivityAt, new Date(T0 + 3000).toISOString());
  });

  it("keeps the failed collectors and the reason, and forgets them on a new boot", () => {
    const failed = life([
      "dhcp",
      { type: "collected", detail: { failedCollectors: ["smartctl", "ipmitool"] } },
      { type: "spooled", detail: { reason: "no acknowledgement within 600 s" } },
    ]);
    assert.equal(failed.state, "failed");
    assert.deepEqual(failed.failedCollectors, ["smartctl", "ipmitool"]);
    assert.equal(failed.reason, "no acknowledgement within 600 s");
    assert.deepEqual(failed.lastEvent, {
      type: "spooled",
      at: new Date(T0 + 2000).toISOString(),
      detail: { reason: "no acknowledgement within 600 s" },
    });
    const again = life([
      "dhcp",
      { type: "collected", detail: { failedCollectors: ["smartctl"] } },
      "error",
      "boot-file",
    ]);
    assert.equal(again.state, "booting");
    assert.deepEqual(again.failedCollectors, []);
    assert.equal(again.reason, null);
  });

  it("orders by the master's clock, the stored inventory among the events", () => {
    const { events } = build(["dhcp", "boot-file", "agent-started"]);
    const r = lifecycleOf({
      events: [...events].reverse(),
      reportedAt: new Date(T0 + 1500).toISOString(),
      nowMs: T0 + 3000,
      stallAfterMs: STALL,
    });
    // the agent started after the report: a new boot
    assert.equal(r.state, "agent");
  });
});

function record(nodeId: string, bootMac: string, macs: string[]): NodeRecord {
  return {
    nodeId,
    summary: {
      hostname: "n1",
      serial: "S1",
      manufacturer: "QEMU",
      product: "Standard PC",
      cpuModel: null,
      cpuSockets: null,
      logicalCpus: 2,
      memoryBytes: 2 ** 30,
      dimms: 1,
      disks: 1,
      diskBytes: 2 ** 34,
      nics: 1,
      failedCollectors: ["smartctl"],
      warnings: 2,
      bmcAddress: null,
      bootMac,
      collectedAt: new Date(T0).toISOString(),
      identity: { systemUuid: null, systemSerial: "S1", macs },
    },
    inventory: { bytes: 100, storedAt: new Date(T0 + 5000).toISOString(), sha256: null },
    evidence: null,
    lastSeenAt: null,
    conflicts: 0,
  };
}

function eventsOf(list: EventRecord[]) {
  const byKey = new Map<string, EventRecord[]>();
  const macToNode = new Map<string, string>();
  for (const e of list) {
    byKey.set(e.key, [...(byKey.get(e.key) ?? []), e]);
    if (e.mac && e.nodeId) macToNode.set(e.mac, e.nodeId);
  }
  return {
    keys: () => byKey.keys(),
    eventsOf: (keys: readonly string[]) =>
      keys.flatMap((k) => byKey.get(k) ?? []).sort((a, b) => a.seq - b.seq),
    nodeOfMac: (mac: string) => macToNode.get(mac),
  };
}

function ev(seq: number, key: string, mac: string | null, nodeId: string | null, type: EventType) {
  return {
    seq,
    receivedAt: new Date(T0 + seq * 1000).toISOString(),
    key,
    mac,
    nodeId,
    type,
    ...(type === "dhcp" ? { ip: `10.13.36.${seq + 20}` } : {}),
    detail: {},
  } satisfies EventRecord;
}

describe("hallNodes", () => {
  const leases = [
    { expiresAt: 0, mac: "52:54:00:00:00:01", ip: "10.13.36.21", hostname: null, clientId: null },
    { expiresAt: 0, mac: "52:54:00:00:00:02", ip: "10.13.36.22", hostname: "pxe", clientId: null },
  ];

  it("lists a node known only by a lease, keyed by its MAC", () => {
    const nodes = hallNodes({
      records: [],
      events: eventsOf([ev(1, "mac-525400000002", "52:54:00:00:00:02", null, "dhcp")]),
      leases,
      nowMs: T0 + 2000,
      stallAfterMs: STALL,
    });
    assert.equal(nodes.length, 1);
    const node = nodes[0];
    assert.equal(node?.key, "mac-525400000002");
    assert.equal(node?.nodeId, null);
    assert.equal(node?.state, "dhcp");
    assert.equal(node?.mac, "52:54:00:00:00:02");
    assert.equal(node?.ip, "10.13.36.22");
    assert.equal(node?.hostname, "pxe");
    assert.equal(node?.serial, null);
  });

  it("joins a MAC's early events to the node whose inventory lists the MAC", () => {
    const nodes = hallNodes({
      records: [record("node-1", "52:54:00:00:00:01", ["52:54:00:00:00:01"])],
      events: eventsOf([
        ev(1, "mac-525400000001", "52:54:00:00:00:01", null, "dhcp"),
        ev(2, "mac-525400000001", "52:54:00:00:00:01", null, "boot-file"),
        ev(3, "mac-525400000001", "52:54:00:00:00:01", null, "agent-started"),
        ev(7, "node-1", "52:54:00:00:00:01", "node-1", "powering-off"),
        ev(8, "mac-525400000002", "52:54:00:00:00:02", null, "dhcp"),
      ]),
      leases,
      nowMs: T0 + 9000,
      stallAfterMs: STALL,
    });
    assert.deepEqual(
      nodes.map((n) => [n.key, n.nodeId, n.state]),
      [
        ["mac-525400000002", null, "dhcp"],
        ["node-1", "node-1", "powered-off"],
      ],
    );
    const node = nodes[1];
    assert.equal(node?.ip, "10.13.36.21");
    assert.equal(node?.serial, "S1");
    assert.equal(node?.warnings, 2);
    assert.deepEqual(node?.failedCollectors, ["smartctl"]);
    assert.deepEqual(stateCounts(nodes), {
      dhcp: 1,
      booting: 0,
      agent: 0,
      reported: 0,
      "powered-off": 1,
      stalled: 0,
      failed: 0,
    });
  });

  it("lists a node that named its id in events but has no inventory yet", () => {
    const nodes = hallNodes({
      records: [],
      events: eventsOf([
        ev(1, "mac-525400000001", "52:54:00:00:00:01", null, "agent-started"),
        ev(2, "node-9", "52:54:00:00:00:01", "node-9", "collected"),
        ev(3, "node-9", "52:54:00:00:00:01", "node-9", "spooled"),
      ]),
      leases,
      nowMs: T0 + 4000,
      stallAfterMs: STALL,
    });
    assert.deepEqual(
      nodes.map((n) => [n.key, n.nodeId, n.state, n.mac]),
      [["node-9", "node-9", "failed", "52:54:00:00:00:01"]],
    );
  });
});
