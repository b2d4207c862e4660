// The node list's cache (node-state.ts HallItems, hall.ts listBody): a node's item is reused
// while nothing it was built from changed, and rebuilt when its node gets a new event, a new or
// changed record, another lease or architecture, or crosses the stall time. Each list with the
// cache is checked against one built without it (node-state is pure: they must be equal).
import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, it } from "node:test";
import { EventStore } from "../../agent/master/events.ts";
import { Hall } from "../../agent/master/hall.ts";
import {
  type HallInput,
  HallItems,
  type HallNode,
  hallNodes,
} from "../../agent/master/node-state.ts";
import type { NodeRecord, NodeSummary } from "../../agent/master/store.ts";
import type { Lease } from "../../packaging/dnsmasq-leases.ts";
import { sandbox } from "../support/master.ts";

const T0 = Date.parse("2026-12-02T01:00:00.000Z");
const STALL = 600_000;

function summary(bootMac: string, hostname: string): NodeSummary {
  return {
    hostname,
    serial: `S-${hostname}`,
    manufacturer: "QEMU",
    product: "Standard PC",
    cpuModel: "vCPU",
    cpuSockets: 1,
    logicalCpus: 2,
    memoryBytes: 2 ** 30,
    dimms: 1,
    disks: 1,
    diskBytes: 2 ** 34,
    nics: 1,
    failedCollectors: [],
    warnings: 0,
    bmcAddress: null,
    bootMac,
    collectedAt: new Date(T0).toISOString(),
    identity: { systemUuid: null, systemSerial: `S-${hostname}`, macs: [bootMac] },
  };
}

function record(nodeId: string, bootMac: string, at: number): NodeRecord {
  const storedAt = new Date(at).toISOString();
  return {
    nodeId,
    summary: summary(bootMac, nodeId),
    inventory: { bytes: 100, storedAt, sha256: null },
    evidence: null,
    lastSeenAt: storedAt,
    conflicts: 0,
  };
}

const MACS = ["52:54:00:00:00:01", "52:54:00:00:00:02", "52:54:00:00:00:03"];

/** An event store in a sandbox with a clock the test moves; three nodes' events. */
async function hall() {
  const box = sandbox();
  let clock = T0;
  const events = new EventStore(join(box.dir, "data"), () => new Date(clock));
  await events.open();
  const leases: Lease[] = MACS.map((mac, i) => ({
    expiresAt: 0,
    mac,
    ip: `10.13.36.${21 + i}`,
    hostname: null,
    clientId: null,
  }));
  const arch = new Map<string, string>();
  const peer = (i: number, type: "agent-started" | "uploaded" | "powering-off" | "error") =>
    events.appendPeer(
      {
        type,
        nodeId: `node-${i}`,
        bootMac: MACS[i] as string,
        at: new Date(clock).toISOString(),
        ...(type === "powering-off" ? { method: "ipmi" } : {}),
        ...(type === "error" ? { reason: "disk on fire" } : {}),
      },
      null,
    );
  for (const [i, lease] of leases.entries()) {
    clock += 1000;
    await events.appendLease(lease, null);
    clock += 1000;
    await peer(i, "agent-started");
  }
  clock += 1000;
  // node-0 reports and powers off (never stalls), node-1 reports and stays up, node-2 has no
  // inventory yet (its item comes from its events alone).
  const records = [
    record("node-0", MACS[0] as string, clock),
    record("node-1", MACS[1] as string, clock),
  ];
  await peer(0, "uploaded");
  await peer(0, "powering-off");
  await peer(1, "uploaded");
  const cache = new HallItems();
  const input = (): HallInput => ({
    records,
    events,
    leases,
    clientArchOf: (mac) => arch.get(mac) ?? null,
    nowMs: clock,
    stallAfterMs: STALL,
  });
  /** The list with the cache, checked against the same list without it. */
  const list = (): HallNode[] => {
    const nodes = hallNodes(input(), cache);
    assert.deepEqual(nodes, hallNodes(input()));
    return nodes;
  };
  return {
    events,
    records,
    leases,
    arch,
    cache,
    list,
    peer,
    tick: (ms: number) => {
      clock += ms;
    },
    now: () => clock,
    cleanup: async () => {
      await events.close();
      box.cleanup();
    },
  };
}

const byKey = (nodes: HallNode[], key: string) => nodes.find((n) => n.key === key) as HallNode;

describe("hall node list cache", () => {
  it("reuses every item while nothing changed (the same objects)", async () => {
    const h = await hall();
    try {
      const first = h.list();
      assert.equal(h.cache.built, 3);
      h.tick(1000);
      const second = h.list();
      assert.deepEqual([h.cache.built, h.cache.reused], [0, 3]);
      for (const [i, node] of second.entries()) assert.equal(node, first[i]);
    } finally {
      await h.cleanup();
    }
  });

  it("rebuilds a node's item when it gets a new event, and only that one", async () => {
    const h = await hall();
    try {
      const before = h.list();
      assert.equal(byKey(before, "node-1").state, "reported");
      h.tick(1000);
      await h.peer(1, "error");
      const after = h.list();
      assert.deepEqual([h.cache.built, h.cache.reused], [1, 2]);
      const node = byKey(after, "node-1");
      assert.notEqual(node, byKey(before, "node-1"));
      assert.equal(node.state, "failed");
      assert.equal(node.reason, "disk on fire");
      assert.equal(byKey(after, "node-0"), byKey(before, "node-0"));
    } finally {
      await h.cleanup();
    }
  });

  it("rebuilds a node's item when its record is new or changed in place", async () => {
    const h = await hall();
    try {
      const before = h.list();
      assert.equal(byKey(before, "node-2").serial, null);
      // A new record: node-2's inventory arrives.
      h.tick(1000);
      h.records.push(record("node-2", MACS[2] as string, h.now()));
      const withRecord = h.list();
      assert.deepEqual([h.cache.built, h.cache.reused], [1, 2]);
      assert.equal(byKey(withRecord, "node-2").serial, "S-node-2");
      assert.equal(byKey(withRecord, "node-2").state, "reported");
      // The store changes records in place: a re-upload (lastSeenAt), a new document (summary),
      // a lazily computed sha256, a conflict.
      const changes: ((r: NodeRecord) => void)[] = [
        (r) => {
          r.lastSeenAt = new Date(h.now()).toISOString();
        },
        (r) => {
          r.summary = { ...(r.summary as NodeSummary), hostname: "renamed" };
        },
        (r) => {
          (r.inventory as NonNullable<NodeRecord["inventory"]>).sha256 = "ab".repeat(32);
        },
        (r) => {
          r.conflicts++;
        },
        (r) => {
          r.evidence = { bytes: 10, storedAt: new Date(h.now()).toISOString(), sha256: null };
        },
      ];
      for (const change of changes) {
        h.tick(1000);
        const last = byKey(h.list(), "node-0");
        change(h.records[0] as NodeRecord);
        const next = h.list();
        assert.deepEqual([h.cache.built, h.cache.reused], [1, 2]);
        assert.notEqual(byKey(next, "node-0"), last);
      }
      const node = byKey(h.list(), "node-0");
      assert.equal(node.hostname, "renamed");
      assert.equal(node.inventory?.sha256, "ab".repeat(32));
      assert.equal(node.conflicts, 1);
      assert.equal(node.evidence?.bytes, 10);
      // The record gone: its node is listed from its events alone.
      h.records.splice(0, 1);
      assert.equal(byKey(h.list(), "node-0").serial, null);
    } finally {
      await h.cleanup();
    }
  });

  it("rebuilds a node's item when it crosses the stall time, and back", async () => {
    const h = await hall();
    try {
      const before = h.list();
      const states = (nodes: HallNode[]) => Object.fromEntries(nodes.map((n) => [n.key, n.state]));
      assert.deepEqual(states(before), {
        "node-0": "powered-off",
        "node-1": "reported",
        "node-2": "agent",
      });
      // node-2's last step was 1 s before node-1's: at its stall time, nothing changes yet.
      h.tick(STALL - 1000);
      h.list();
      assert.deepEqual([h.cache.built, h.cache.reused], [0, 3]);
      h.tick(1);
      const first = h.list();
      assert.deepEqual([h.cache.built, h.cache.reused], [1, 2]);
      assert.deepEqual(states(first), {
        "node-0": "powered-off",
        "node-1": "reported",
        "node-2": "stalled",
      });
      h.tick(1000);
      const second = h.list();
      assert.deepEqual([h.cache.built, h.cache.reused], [1, 2]);
      assert.equal(byKey(second, "node-1").state, "stalled");
      assert.equal(byKey(second, "node-1").stateSince, new Date(h.now() - 1).toISOString());
      // node-0 is powered off: it never stalls, its item stays the same.
      assert.equal(byKey(second, "node-0"), byKey(before, "node-0"));
      h.tick(STALL * 10);
      h.list();
      assert.deepEqual([h.cache.built, h.cache.reused], [0, 3]);
      // A clock set back: the stall is undone.
      h.tick(-STALL * 11);
      assert.equal(byKey(h.list(), "node-1").state, "reported");
    } finally {
      await h.cleanup();
    }
  });

  it("rebuilds a node's item when its lease or its architecture changes", async () => {
    const h = await hall();
    try {
      h.list();
      h.leases[1] = { ...(h.leases[1] as Lease), hostname: "pxe-1" };
      const renamed = h.list();
      assert.deepEqual([h.cache.built, h.cache.reused], [1, 2]);
      assert.equal(byKey(renamed, "node-1").hostname, "node-1");
      h.leases[2] = { ...(h.leases[2] as Lease), hostname: "pxe-2", ip: "10.13.36.99" };
      const moved = h.list();
      assert.equal(byKey(moved, "node-2").hostname, "pxe-2");
      assert.equal(byKey(moved, "node-2").ip, "10.13.36.99");
      h.leases.splice(2, 1);
      assert.equal(byKey(h.list(), "node-2").ip, "10.13.36.23", "the dhcp event's address");
      h.arch.set(MACS[2] as string, "uefi-x86_64");
      assert.equal(byKey(h.list(), "node-2").clientArch, "uefi-x86_64");
      assert.deepEqual([h.cache.built, h.cache.reused], [1, 2]);
    } finally {
      await h.cleanup();
    }
  });
});

describe("Hall.listBody with the cache", () => {
  it("gives the same text and ETag while nothing changed, and a new one after an event", async () => {
    const box = sandbox();
    let clock = T0;
    const h = await Hall.open({
      root: join(box.dir, "data"),
      log: () => {},
      now: () => new Date(clock),
    });
    try {
      const event = (type: "agent-started" | "uploaded", i: number) =>
        h.events.appendPeer(
          {
            type,
            nodeId: `node-${i}`,
            bootMac: MACS[i] as string,
            at: new Date(clock).toISOString(),
          },
          null,
        );
      await event("agent-started", 0);
      await event("agent-started", 1);
      const records = [record("node-0", MACS[0] as string, clock)];
      const parse = (text: string) => {
        const { generatedAt: _, ...rest } = JSON.parse(text) as Record<string, unknown>;
        return rest;
      };
      const first = h.listBody(records, 0);
      clock += 1000;
      const second = h.listBody(records, 0);
      assert.equal(second.etag, first.etag);
      assert.deepEqual(parse(second.text), parse(first.text));
      assert.notEqual(second.text, first.text, "generatedAt moves on");
      assert.equal(JSON.parse(second.text).generatedAt, new Date(clock).toISOString());
      await event("uploaded", 1);
      const third = h.listBody(records, 0);
      assert.notEqual(third.etag, first.etag);
      const body = JSON.parse(third.text) as { nodes: HallNode[]; seq: number };
      assert.equal(body.seq, 3);
      assert.equal(byKey(body.nodes, "node-1").state, "reported");
      assert.deepEqual(body.nodes, JSON.parse(JSON.stringify(h.nodes(records))));
      // A record changed in place gives a new text too.
      (records[0] as NodeRecord).conflicts = 2;
      const fourth = h.listBody(records, 0);
      assert.notEqual(fourth.etag, third.etag);
      assert.equal(
        byKey((JSON.parse(fourth.text) as { nodes: HallNode[] }).nodes, "node-0").conflicts,
        2,
      );
    } finally {
      await h.close();
      box.cleanup();
    }
  });
});
