// The master's fault matrix (docs/reliability.md): one test per row, each against the real
// `recon-agent serve` process, each ending with an audit of the store on disk: every acknowledged
// upload present and byte-identical, every stored file one that was sent and valid, no temp file
// left or visible as a node. Needs root (loop mount, network namespace); CI runs as root.
// FAULT_KILL_ITERATIONS sets the kill -9 loop count (default 12).
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, readdirSync, rmSync, statfsSync, writeFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import path from "node:path";
import { after, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { packEvidence } from "../../agent/peer/evidence.ts";
import {
  type Audit,
  auditStore,
  Ledger,
  putRecorded,
  type ServeProcess,
  startServe,
} from "../support/faults.ts";
import { REPO, sandbox } from "../support/master.ts";
import { sampleInventory } from "../support/sample-inventory.ts";

const isRoot = process.getuid?.() === 0;
const skip = isRoot ? false : "needs root (loop mount, network namespace)";
if (!isRoot && process.env.CI) {
  test("fault matrix runs in CI", () => assert.fail("CI must run the fault matrix as root"));
}

const box = sandbox();
after(() => box.cleanup());

const FIXTURES = [
  "dell-poweredge-r740-linuxhw",
  "cisco-ucsc-c220-m4s-linuxhw",
  "dell-poweredge-r7525-linuxhw",
];
let evidenceBlobs: Buffer[] = [];
async function evidence(i: number): Promise<Buffer> {
  if (evidenceBlobs.length === 0) {
    evidenceBlobs = await Promise.all(
      FIXTURES.map((name) => packEvidence(path.join(REPO, "fixtures", name))),
    );
  }
  return evidenceBlobs[i % evidenceBlobs.length] as Buffer;
}

function doc(nodeId: string, version: string, collectedAt = new Date().toISOString()): Buffer {
  return Buffer.from(JSON.stringify(sampleInventory({ nodeId, hostname: version, collectedAt })));
}

function assertClean(audit: Audit, ledger: Ledger): void {
  assert.deepEqual(audit.lost, [], "acknowledged uploads lost");
  assert.deepEqual(audit.corrupted, [], "corrupted files");
  assert.deepEqual(audit.leftovers, [], "temp or unexpected files");
  assert.deepEqual(audit.rolledBack, [], "current file older than the last acknowledgement");
  assert.ok(ledger.acknowledgements > 0);
}

async function nodeDetail(url: string, nodeId: string) {
  const res = await fetch(`${url}/api/v1/nodes/${nodeId}`);
  assert.equal(res.status, 200);
  return (await res.json()) as {
    inventory: { sha256: string } | null;
    evidence: { sha256: string } | null;
    history: { kind: string; file: string }[];
    document: { hostname: string; collectedAt: string } | null;
  };
}

/** The API lists exactly the nodes with an inventory; no dot-named entry shows up. */
async function assertListing(url: string, expected: string[]): Promise<void> {
  const list = (await (await fetch(`${url}/api/v1/nodes`)).json()) as {
    nodes: { nodeId: string }[];
  };
  const ids = list.nodes.map((n) => n.nodeId).sort();
  for (const id of ids) assert.ok(!id.startsWith("."), `${id} listed`);
  assert.deepEqual(
    ids.filter((id) => expected.includes(id)),
    [...expected].sort(),
  );
}

function report(t: { diagnostic(m: string): void }, row: string, figures: Record<string, unknown>) {
  t.diagnostic(`${row}: ${JSON.stringify(figures)}`);
}

test("the audit sees a lost, a corrupted and a left-over file", () => {
  const root = path.join(box.dir, "audit");
  const id = "fault-audit";
  const dir = path.join(root, "nodes", id);
  mkdirSync(path.join(dir, "history"), { recursive: true });
  const ledger = new Ledger();
  const kept = doc(id, "kept");
  const gone = doc(id, "gone");
  ledger.ack(id, "inventory", ledger.send(id, "inventory", kept));
  ledger.ack(id, "inventory", ledger.send(id, "inventory", gone));
  writeFileSync(path.join(dir, "inventory.json"), kept);
  writeFileSync(path.join(dir, "history", "inventory-20261201T000000.000Z-00.json"), "{}");
  writeFileSync(path.join(dir, ".tmp-inventory-1-ab"), kept.subarray(0, 10));
  const audit = auditStore(root, ledger, { ordered: true });
  assert.equal(audit.lost.length, 1);
  assert.deepEqual(audit.corrupted, [`${id}/history/inventory-20261201T000000.000Z-00.json`]);
  assert.deepEqual(audit.leftovers, [`${id}/.tmp-inventory-1-ab`]);
  assert.deepEqual(audit.rolledBack, [`${id}/inventory.json`]);
});

describe("fault matrix on the master", { skip }, () => {
  test("kill -9 of serve during writes, in a loop: nothing acknowledged lost", async (t) => {
    const started = Date.now();
    const iterations = Number(process.env.FAULT_KILL_ITERATIONS ?? 12);
    const root = path.join(box.dir, "kill");
    const ledger = new Ledger();
    const nodes = Array.from({ length: 6 }, (_, i) => `fault-kill-${i}`);
    let version = 0;
    let removedTemps = 0;
    for (let round = 0; round < iterations; round++) {
      const serve = await startServe(root);
      const opened = serve.lines.find((l) => l.event === "store_opened");
      removedTemps += Number(opened?.removedTempFiles ?? 0);
      if (round > 0) {
        // After the restart: no temp file survives, and the API agrees with the disk.
        assertClean(auditStore(root, ledger, { ordered: true }), ledger);
        await assertListing(serve.url, nodes);
        const detail = await nodeDetail(serve.url, nodes[round % nodes.length] as string);
        assert.ok(detail.inventory && detail.document);
      }
      let alive = true;
      const clients = nodes.map(async (nodeId, n) => {
        while (alive) {
          version++;
          const res = await putRecorded(
            ledger,
            serve.url,
            nodeId,
            "inventory",
            doc(nodeId, `r${round}-v${version}`),
          );
          if (res.status === 0) return;
          if ((version + n) % 3 === 0) {
            const ev = await putRecorded(
              ledger,
              serve.url,
              nodeId,
              "evidence",
              await evidence(version),
            );
            if (ev.status === 0) return;
          }
        }
      });
      await sleep(150 + Math.floor(Math.random() * 350));
      await serve.stop("SIGKILL");
      alive = false;
      await Promise.all(clients);
    }
    const last = await startServe(root);
    try {
      const audit = auditStore(root, ledger, { ordered: true });
      assertClean(audit, ledger);
      await assertListing(last.url, nodes);
      report(t, "kill-9", {
        iterations,
        sent: [...ledger.sent.values()].reduce((s, l) => s + l.length, 0),
        acknowledged: ledger.acknowledgements,
        lost: audit.lost.length,
        corrupted: audit.corrupted.length,
        rolledBack: audit.rolledBack.length,
        tempFilesRemovedAtStart: removedTemps,
        filesChecked: audit.filesChecked,
        ms: Date.now() - started,
      });
    } finally {
      await last.stop();
    }
  });

  test("a full disk (loop-mounted ext4): 507 with a message, nothing lost, recovers", async (t) => {
    const started = Date.now();
    const image = path.join(box.dir, "disk.img");
    const mountPoint = path.join(box.dir, "disk");
    mkdirSync(mountPoint);
    execFileSync("truncate", ["-s", "8M", image]);
    execFileSync("mkfs.ext4", ["-q", "-F", "-m", "0", "-O", "^has_journal", image]);
    execFileSync("mount", ["-o", "loop", image, mountPoint]);
    let serve: ServeProcess | null = null;
    try {
      // Leave about 400 KiB free, so a few rounds of uploads fill it.
      const fs = statfsSync(mountPoint);
      const filler = path.join(mountPoint, "filler");
      writeFileSync(filler, Buffer.alloc(Math.max(0, fs.bavail * fs.bsize - 400 * 1024)));
      serve = await startServe(mountPoint);
      const ledger = new Ledger();
      const nodes = ["fault-full-0", "fault-full-1", "fault-full-2"];
      const refusals: { status: number; error: unknown; message: unknown }[] = [];
      let uploads = 0;
      for (let i = 0; i < 400 && refusals.length < 12; i++) {
        const nodeId = nodes[i % nodes.length] as string;
        const res =
          i % 4 === 3
            ? await putRecorded(ledger, serve.url, nodeId, "evidence", await evidence(i))
            : await putRecorded(ledger, serve.url, nodeId, "inventory", doc(nodeId, `v${i}`));
        uploads++;
        if (res.status >= 300) {
          refusals.push({ status: res.status, error: res.body.error, message: res.body.message });
        }
      }
      assert.ok(refusals.length > 0, "the disk never filled");
      for (const r of refusals) {
        assert.equal(r.status, 507);
        assert.equal(r.error, "insufficient_storage");
        assert.match(String(r.message), /disk is full/);
      }
      // Still serving while full.
      assert.equal((await fetch(`${serve.url}/api/v1/nodes`)).status, 200);
      assert.equal((await fetch(`${serve.url}/`)).status, 200);
      const full = auditStore(mountPoint, ledger, { ordered: true });
      assertClean(full, ledger);
      // Space frees: every node takes a new upload again.
      rmSync(filler);
      for (const nodeId of nodes) {
        const res = await putRecorded(ledger, serve.url, nodeId, "inventory", doc(nodeId, "after"));
        assert.equal(res.status, 201);
        assert.equal((await nodeDetail(serve.url, nodeId)).document?.hostname, "after");
      }
      await serve.stop();
      serve = null;
      const audit = auditStore(mountPoint, ledger, { ordered: true });
      assertClean(audit, ledger);
      report(t, "disk-full", {
        uploads,
        acknowledged: ledger.acknowledgements,
        refused507: refusals.length,
        lost: audit.lost.length,
        corrupted: audit.corrupted.length,
        filesChecked: audit.filesChecked,
        ms: Date.now() - started,
      });
    } finally {
      await serve?.stop();
      execFileSync("umount", [mountPoint]);
    }
  });

  test("a network cut mid-upload (netns, link down): partial not stored, retry stored once", async (t) => {
    const started = Date.now();
    const tag = String(process.pid % 100000);
    const ns = `h5-fault-${tag}`;
    const hostIf = `h5-${tag}h`;
    const nsIf = `h5-${tag}n`;
    const ip = (...args: string[]) => execFileSync("ip", args);
    const root = path.join(box.dir, "netcut");
    let serve: ServeProcess | null = null;
    const sockets: Socket[] = [];
    ip("netns", "add", ns);
    try {
      ip("link", "add", hostIf, "type", "veth", "peer", "name", nsIf);
      ip("link", "set", nsIf, "netns", ns);
      ip("addr", "add", "10.213.77.1/30", "dev", hostIf);
      ip("link", "set", hostIf, "up");
      ip("-n", ns, "addr", "add", "10.213.77.2/30", "dev", nsIf);
      ip("-n", ns, "link", "set", nsIf, "up");
      ip("-n", ns, "link", "set", "lo", "up");
      serve = await startServe(root, { host: "10.213.77.2", prefix: ["ip", "netns", "exec", ns] });
      const url = serve.url;
      const ledger = new Ledger();
      const id = "fault-net";
      const v1 = doc(id, "v1");
      const v2 = doc(id, "v2");
      const ev = await evidence(0);
      assert.equal((await putRecorded(ledger, url, id, "inventory", v1)).status, 201);

      // Two uploads that announce their whole length and send half of it, then the cable goes.
      const half = (kind: string, body: Buffer, type: string) =>
        new Promise<Socket>((resolve, reject) => {
          const socket = connect({ host: "10.213.77.2", port: serve?.port as number }, () => {
            socket.write(
              `PUT /api/v1/nodes/${id}/${kind} HTTP/1.1\r\nHost: x\r\nContent-Type: ${type}\r\n` +
                `Content-Length: ${body.length}\r\n\r\n`,
            );
            socket.write(body.subarray(0, body.length >> 1), () => resolve(socket));
          });
          socket.on("error", () => undefined);
          socket.once("error", reject);
          sockets.push(socket);
        });
      ledger.send(id, "inventory", v2);
      ledger.send(id, "evidence", ev);
      await half("inventory", v2, "application/json");
      await half("evidence", ev, "application/gzip");
      const nodeDir = path.join(root, "nodes", id);
      const tempOf = () => readdirSync(nodeDir).filter((n) => n.startsWith("."));
      const streaming = Date.now() + 10_000;
      while (tempOf().length === 0) {
        assert.ok(Date.now() < streaming, "the partial evidence never reached a temp file");
        await sleep(50);
      }
      ip("link", "set", hostIf, "down");
      // The peer gives up (its FIN/RST cannot reach the master), the link comes back later.
      for (const socket of sockets) socket.destroy();
      await sleep(500);
      ip("link", "set", hostIf, "up");
      const during = await nodeDetail(url, id);
      assert.equal(during.document?.hostname, "v1", "the partial inventory replaced v1");
      assert.equal(during.evidence, null, "the partial evidence was stored");
      assert.deepEqual(during.history, []);

      // The retry is stored; a second retry (the ack was lost) is recognised, not stored again.
      const retry = await putRecorded(ledger, url, id, "inventory", v2);
      assert.equal(retry.status, 201);
      const again = await putRecorded(ledger, url, id, "inventory", v2);
      assert.equal(again.status, 200);
      assert.equal(again.body.unchanged, true);
      assert.equal((await putRecorded(ledger, url, id, "evidence", ev)).status, 201);
      assert.equal((await putRecorded(ledger, url, id, "evidence", ev)).status, 200);
      const detail = await nodeDetail(url, id);
      assert.equal(detail.document?.hostname, "v2");
      assert.deepEqual(
        detail.history.map((h) => h.kind),
        ["inventory"],
        "exactly one earlier version (v1), no duplicate of v2",
      );
      await assertListing(url, [id]);

      // Phase 2, a peer that dies during the cut: its connection stays open and silent (no FIN
      // ever comes). The master's own upload timeouts must reclaim the slot and the temp file.
      const evidence2 = await evidence(1);
      ledger.send(id, "evidence", evidence2);
      const silentStart = Date.now();
      await half("evidence", evidence2, "application/gzip");
      const silentWait = Date.now() + 10_000;
      while (tempOf().length === 0) {
        assert.ok(Date.now() < silentWait, "the silent upload never reached a temp file");
        await sleep(50);
      }
      ip("link", "set", hostIf, "down");
      await sleep(500);
      ip("link", "set", hostIf, "up");
      const until = Date.now() + 45_000;
      while (tempOf().length > 0) {
        assert.ok(
          Date.now() < until,
          `temp file of the cut upload never removed: ${JSON.stringify(serve.lines.slice(-4))}`,
        );
        await sleep(250);
      }
      const silentReclaimedMs = Date.now() - silentStart;
      assert.equal(
        (await nodeDetail(url, id)).evidence?.sha256,
        ledger.sent.get(`${id}/evidence`)?.[0],
      );
      // The master logs the cut uploads with their true outcome, never as a success.
      await sleep(200);
      const cut = serve.lines.filter(
        (l) =>
          l.event === "http" &&
          l.method === "PUT" &&
          (l.aborted === true || (l.status !== 200 && l.status !== 201)),
      );
      assert.equal(cut.length, 3, JSON.stringify(serve.lines.filter((l) => l.event === "http")));
      const audit = auditStore(root, ledger, { ordered: true });
      assertClean(audit, ledger);
      report(t, "network-cut", {
        cutUploads: 3,
        acknowledged: ledger.acknowledgements,
        lost: audit.lost.length,
        corrupted: audit.corrupted.length,
        historyEntries: detail.history.length,
        silentReclaimedAfterMs: silentReclaimedMs,
        cutLogged: cut.map((l) => `${l.status}${l.aborted ? " aborted" : ""} after ${l.ms} ms`),
        ms: Date.now() - started,
      });
    } finally {
      for (const socket of sockets) socket.destroy();
      await serve?.stop();
      execFileSync("ip", ["netns", "del", ns]);
      try {
        execFileSync("ip", ["link", "del", hostIf], { stdio: "ignore" });
      } catch {
        // gone with the namespace
      }
    }
  });

  test("duplicate and out-of-order uploads: all kept, the last arrival is current", async (t) => {
    const started = Date.now();
    const root = path.join(box.dir, "order");
    const serve = await startServe(root);
    try {
      const ledger = new Ledger();
      const id = "fault-order";
      const newer = doc(id, "newer", "2026-12-01T10:00:00.000Z");
      const older = doc(id, "older", "2026-12-01T09:00:00.000Z");
      const statuses: number[] = [];
      for (const body of [newer, older, newer, newer]) {
        statuses.push((await putRecorded(ledger, serve.url, id, "inventory", body)).status);
      }
      // A peer re-sends the same document on 8 connections at once: stored once.
      const third = doc(id, "third", "2026-12-01T08:00:00.000Z");
      const burst = await Promise.all(
        Array.from({ length: 8 }, () => putRecorded(ledger, serve.url, id, "inventory", third)),
      );
      const burstStatuses = burst.map((r) => r.status).sort();
      assert.deepEqual(statuses, [201, 201, 201, 200]);
      assert.deepEqual(burstStatuses, [200, 200, 200, 200, 200, 200, 200, 201]);
      const detail = await nodeDetail(serve.url, id);
      // Rule: the current document is the last one to arrive (master clock); collectedAt is the
      // peer's claim and orders nothing. Every replaced version is in history/.
      assert.equal(detail.document?.hostname, "third");
      assert.deepEqual(
        detail.history.map((h) => h.kind),
        ["inventory", "inventory", "inventory"],
      );
      const audit = auditStore(root, ledger);
      assertClean(audit, ledger);
      report(t, "duplicates-out-of-order", {
        uploads: statuses.length + burst.length,
        acknowledged: ledger.acknowledgements,
        stored: statuses.filter((s) => s === 201).length + 1,
        unchanged: statuses.filter((s) => s === 200).length + 7,
        historyEntries: detail.history.length,
        lost: audit.lost.length,
        corrupted: audit.corrupted.length,
        ms: Date.now() - started,
      });
    } finally {
      await serve.stop();
    }
  });

  test("a peer clock in 1970 or 2200: stored, listed, ordering by arrival", async (t) => {
    const started = Date.now();
    const root = path.join(box.dir, "clock");
    const serve = await startServe(root);
    try {
      const ledger = new Ledger();
      const past = "1970-01-01T00:00:00.000Z";
      const future = "2200-01-01T00:00:00.000Z";
      const before = Date.now();
      assert.equal(
        (
          await putRecorded(
            ledger,
            serve.url,
            "fault-clock-past",
            "inventory",
            doc("fault-clock-past", "p", past),
          )
        ).status,
        201,
      );
      assert.equal(
        (
          await putRecorded(
            ledger,
            serve.url,
            "fault-clock-future",
            "inventory",
            doc("fault-clock-future", "f", future),
          )
        ).status,
        201,
      );
      // One node whose clock jumps: 2200, then correct, then 1970. The last arrival is current.
      const id = "fault-clock-jump";
      for (const [name, at] of [
        ["future", future],
        ["now", new Date().toISOString()],
        ["past", past],
      ] as const) {
        assert.equal(
          (await putRecorded(ledger, serve.url, id, "inventory", doc(id, name, at))).status,
          201,
        );
      }
      const detail = await nodeDetail(serve.url, id);
      assert.equal(detail.document?.hostname, "past");
      assert.equal(detail.document?.collectedAt, past);
      assert.equal(detail.history.length, 2);
      // History names and storedAt come from the master's clock, not the peer's.
      const list = (await (await fetch(`${serve.url}/api/v1/nodes`)).json()) as {
        nodes: { nodeId: string; collectedAt: string | null; lastReportAt?: string | null }[];
      };
      const byId = new Map(list.nodes.map((n) => [n.nodeId, n]));
      assert.equal(byId.get("fault-clock-past")?.collectedAt, past);
      assert.equal(byId.get("fault-clock-future")?.collectedAt, future);
      for (const h of detail.history) {
        const stamp = /^inventory-(\d{8}T\d{6})/.exec(h.file)?.[1] as string;
        const iso = `${stamp.slice(0, 4)}-${stamp.slice(4, 6)}-${stamp.slice(6, 8)}T${stamp.slice(9, 11)}:${stamp.slice(11, 13)}:${stamp.slice(13, 15)}Z`;
        const at = Date.parse(iso);
        assert.ok(at >= before - 2000 && at <= Date.now() + 2000, `${h.file} not master time`);
      }
      assert.equal((await fetch(`${serve.url}/`)).status, 200);
      await assertListing(serve.url, ["fault-clock-past", "fault-clock-future", id]);
      const audit = auditStore(root, ledger);
      assertClean(audit, ledger);
      report(t, "peer-clock", {
        uploads: 5,
        acknowledged: ledger.acknowledgements,
        lost: audit.lost.length,
        corrupted: audit.corrupted.length,
        ms: Date.now() - started,
      });
    } finally {
      await serve.stop();
    }
  });
});
