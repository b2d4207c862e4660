// node bench/hall-list.ts — the master's GET /api/v1/nodes for a hall of 1,000 nodes, in process.
// Builds a Hall (agent/master/hall.ts) the way bench:hall's peers leave it, plus the DHCP side
// bench:hall has no dnsmasq for: each node has a lease in a lease file (so a `dhcp` event), a
// `boot-file` event, then agent-started, collected, uploaded and powering-off from the peer, and
// an inventory record (the sample document with its own nodeId, serials and MACs) with evidence.
// Then it times hall.listBody() (what serve.ts answers GET /api/v1/nodes with) --rounds times,
// with the clock moving a second between lists, and prints the median, min and max. After the
// rounds it gives one node a new event and times the next list too (a list after a change).
// Options: --nodes N (1000) --rounds N (21) --profile (also write a .cpuprofile of the rounds).
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { Session } from "node:inspector/promises";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { Hall } from "../agent/master/hall.ts";
import { type NodeRecord, summarize } from "../agent/master/store.ts";
import { documentTextOf, macOf, nodeIdOf } from "./hall-peers.ts";

const { values: opts } = parseArgs({
  options: {
    nodes: { type: "string", default: "1000" },
    rounds: { type: "string", default: "21" },
    profile: { type: "boolean", default: false },
  },
});
const NODES = Number(opts.nodes);
const ROUNDS = Number(opts.rounds);

const ipOf = (i: number) => `10.213.${16 + ((i + 1) >> 8)}.${(i + 1) & 255}`;

/** Peer i's document, parsed. */
const documentOf = (i: number): unknown => JSON.parse(documentTextOf(i));

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), "hall-list-"));
  try {
    let clock = Date.parse("2026-12-02T10:00:00.000Z");
    const now = () => new Date(clock);
    const leaseFile = path.join(dir, "dnsmasq.leases");
    const expires = Math.floor(clock / 1000) + 3600;
    const lines: string[] = [];
    for (let i = 0; i < NODES; i++) {
      lines.push(`${expires} ${macOf(i)} ${ipOf(i)} ${nodeIdOf(i)} 01:${macOf(i)}`);
    }
    writeFileSync(leaseFile, `${lines.join("\n")}\n`);
    // Hall.open reads the lease file once: a dhcp event per node (keyed by MAC, no nodeId yet).
    const hall = await Hall.open({ root: dir, leaseFile, log: () => {}, now });
    const records: NodeRecord[] = [];
    const writes: Promise<unknown>[] = [];
    for (let i = 0; i < NODES; i++) {
      const nodeId = nodeIdOf(i);
      const bootMac = macOf(i);
      const lease = {
        expiresAt: expires,
        mac: bootMac,
        ip: ipOf(i),
        hostname: nodeId,
        clientId: null,
      };
      clock += 50;
      writes.push(hall.events.appendBootFile(lease, "kernel", "/install/vmlinuz"));
      const peer = (
        type: "agent-started" | "collected" | "uploaded" | "powering-off",
        extra = {},
      ) => {
        clock += 50;
        writes.push(
          hall.events.appendPeer(
            { type, nodeId, bootMac, at: now().toISOString(), ...extra },
            ipOf(i),
          ),
        );
      };
      peer("agent-started");
      peer("collected", { failedCollectors: [] });
      clock += 50;
      const storedAt = now().toISOString();
      const summary = summarize(documentOf(i) as Parameters<typeof summarize>[0]);
      records.push({
        nodeId,
        summary,
        inventory: { bytes: 60_000, storedAt, sha256: "ab".repeat(32) },
        evidence: { bytes: 40_000, storedAt, sha256: "cd".repeat(32) },
        lastSeenAt: storedAt,
        conflicts: 0,
      });
      peer("uploaded");
      peer("powering-off", { method: "ipmi" });
    }
    await Promise.all(writes);
    records.sort((a, b) => (a.nodeId < b.nodeId ? -1 : 1));

    const times: number[] = [];
    let bytes = 0;
    const session = new Session();
    if (opts.profile) {
      session.connect();
      await session.post("Profiler.enable");
      await session.post("Profiler.start");
    }
    for (let r = 0; r < ROUNDS; r++) {
      clock += 1000;
      const t0 = performance.now();
      const { text } = hall.listBody(records, 0, null);
      times.push(performance.now() - t0);
      bytes = text.length;
    }
    // One node gets a new event: the next list has to show it.
    clock += 1000;
    await hall.events.appendPeer(
      {
        type: "error",
        nodeId: nodeIdOf(7),
        bootMac: macOf(7),
        at: now().toISOString(),
        reason: "x",
      },
      ipOf(7),
    );
    const t1 = performance.now();
    const after = hall.listBody(records, 0, null);
    const changedMs = performance.now() - t1;
    if (opts.profile) {
      const { profile } = await session.post("Profiler.stop");
      const file = path.resolve(`hall-list-${process.pid}.cpuprofile`);
      writeFileSync(file, JSON.stringify(profile));
      console.log(`profile: ${file}`);
    }
    const failed = (JSON.parse(after.text) as { states: Record<string, number> }).states.failed;
    console.log(
      `hall listBody, ${NODES} nodes (${hall.events.lastSeq} events, ${bytes} bytes): ` +
        `median ${median(times).toFixed(2)} ms, min ${Math.min(...times).toFixed(2)} ms, ` +
        `max ${Math.max(...times).toFixed(2)} ms over ${ROUNDS} lists; ` +
        `first ${(times[0] as number).toFixed(2)} ms; after one new event ${changedMs.toFixed(2)} ms ` +
        `(failed: ${failed})`,
    );
    await hall.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
