// The master against bad input, on loopback, each test with its own server and root: slow
// clients, deeply nested JSON, evidence that is not a capture archive, evidence without an
// inventory, the same nodeId on other hardware, keep-alive, the logged status, error causes.
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { Agent, get } from "node:http";
import { connect, type Socket } from "node:net";
import path from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { test } from "node:test";
import { gzipSync } from "node:zlib";
import { Header } from "tar";
import { isReconError } from "../../agent/errors.ts";
import { type ServerOptions, serveOptions, startServer } from "../../agent/master/index.ts";
import type { Inventory } from "../../schema/inventory.ts";
import {
  evidenceOf,
  putEvidence,
  putInventory,
  sandbox,
  startTestServer,
  type TestServer,
} from "../support/master.ts";
import { until } from "../support/poll.ts";
import { sampleInventory } from "../support/sample-inventory.ts";

/** A server in a fresh sandbox for one test; closed and removed when the test ends. */
async function serverFor(
  t: { after: (fn: () => Promise<void> | void) => void },
  options: Partial<ServerOptions> = {},
): Promise<TestServer> {
  const box = sandbox();
  const server = await startTestServer({ root: path.join(box.dir, "root"), ...options });
  t.after(async () => {
    await server.server.close();
    box.cleanup();
  });
  return server;
}

/** A PUT that sends its headers and then one body byte every 2 s; collects what comes back. */
function trickle(port: number, nodeId: string): { socket: Socket; reply: () => string } {
  let reply = "";
  const socket = connect({ host: "127.0.0.1", port });
  socket.on("data", (chunk) => {
    reply += chunk.toString("latin1");
  });
  socket.on("error", () => undefined);
  socket.write(
    `PUT /api/v1/nodes/${nodeId}/inventory HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{`,
  );
  const timer = setInterval(() => socket.writable && socket.write(" "), 2000);
  socket.once("close", () => clearInterval(timer));
  return { socket, reply: () => reply };
}

test("16 clients trickling one byte every 2 s are cut with 408 and do not starve an upload", async (t) => {
  const s = await serverFor(t, { minUploadBytesPerSecond: 100, uploadGraceMs: 1000 });
  const slow = Array.from({ length: 16 }, (_, i) => trickle(s.port, `slow-${i}`));
  t.after(() => {
    for (const c of slow) c.socket.destroy();
  });
  // All 16 upload slots are taken before the normal upload arrives.
  await until("16 admitted slow uploads", 10_000, () =>
    slow.every((c) => c.socket.bytesWritten > 0) ? true : undefined,
  );
  const started = performance.now();
  const normal = await putInventory(s.url, "normal", sampleInventory({ nodeId: "normal" }));
  const waited = performance.now() - started;
  assert.equal(normal.status, 201);
  await until("every slow client answered", 10_000, () =>
    slow.every((c) => c.reply() !== "") ? true : undefined,
  );
  for (const c of slow) assert.match(c.reply(), /^HTTP\/1\.1 408 /);
  assert.match(slow[0]?.reply() ?? "", /"error":"too_slow"/);
  assert.equal(s.logs.filter((e) => e.event === "slow_upload").length, 16);
  await until("access log lines with 408", 5000, () =>
    s.logs.filter((e) => e.event === "http" && e.status === 408).length === 16 ? true : undefined,
  );
  for (let i = 0; i < 16; i++)
    assert.equal(existsSync(path.join(s.root, "nodes", `slow-${i}`)), false);
  t.diagnostic(`normal upload behind 16 slow ones answered after ${Math.round(waited)} ms`);
});

test("a 4 MB deeply nested body gets 400 too_deep without blocking the event loop", async (t) => {
  const s = await serverFor(t);
  const half = 2_000_000;
  for (const [open, close] of [
    ["[", "]"],
    ['{"a":', "}"],
  ] as const) {
    const count = Math.floor(half / open.length);
    const body = Buffer.from(open.repeat(count) + close.repeat(count));
    const delay = monitorEventLoopDelay({ resolution: 10 });
    delay.enable();
    const upload = putInventory(s.url, "deep", body);
    // A read issued while the deep body is being handled: its latency is what a user waits.
    const readStarted = performance.now();
    const read = await fetch(`${s.url}/api/v1/nodes`);
    const readMs = performance.now() - readStarted;
    assert.equal(read.status, 200);
    const res = await upload;
    delay.disable();
    assert.equal(res.status, 400);
    assert.equal(res.body.error, "too_deep");
    const maxDelayMs = delay.max / 1e6;
    t.diagnostic(
      `${open} x${count}: concurrent GET ${readMs.toFixed(1)} ms, max loop delay ${maxDelayMs.toFixed(1)} ms`,
    );
    // Generous bound: before the depth scan this took 1.5-2.7 s.
    assert.ok(maxDelayMs < 1000, `event loop blocked ${maxDelayMs} ms`);
  }
  assert.equal(existsSync(path.join(s.root, "nodes", "deep", "inventory.json")), false);
});

test("brackets inside strings do not count as nesting", async (t) => {
  const s = await serverFor(t);
  const doc = sampleInventory({ nodeId: "brackets", hostname: `${"[{".repeat(200)}"\\` });
  assert.equal((await putInventory(s.url, "brackets", doc)).status, 201);
});

/** A gzip tar holding one entry with exactly this name (bypassing tar's own path stripping). */
function archiveWithName(name: string): Buffer {
  const header = Buffer.alloc(512);
  new Header({ path: name, mode: 0o644, size: 1, type: "File", mtime: new Date(0) }).encode(header);
  const data = Buffer.alloc(512);
  data.write("x");
  return gzipSync(Buffer.concat([header, data, Buffer.alloc(1024)]));
}

test("evidence that is not a readable capture archive gets 400 and replaces nothing", async (t) => {
  const s = await serverFor(t);
  const id = "ev-node";
  assert.equal((await putInventory(s.url, id, sampleInventory({ nodeId: id }))).status, 201);
  const good = evidenceOf({ "dmidecode.txt": "# dmidecode 3.5\n", "lsblk.json": "{}" });
  assert.equal((await putEvidence(s.url, id, good)).status, 201);
  const bad: Record<string, Buffer> = {
    "gzip magic then garbage": Buffer.concat([
      Buffer.from([0x1f, 0x8b, 0x08]),
      Buffer.alloc(4096, 7),
    ]),
    "gzip of something that is not a tar": gzipSync("pretend this is a tar"),
    "a truncated archive": good.subarray(0, good.length - 20),
    "an entry escaping with ..": archiveWithName("../etc/cron.d/x"),
    "an absolute entry name": archiveWithName("/etc/passwd"),
    "an empty archive": gzipSync(Buffer.alloc(1024)),
  };
  for (const [what, body] of Object.entries(bad)) {
    const res = await putEvidence(s.url, id, body);
    assert.equal(res.status, 400, what);
    assert.match(String(res.body.error), /^(invalid_evidence|not_gzip)$/, what);
    assert.deepEqual(readFileSync(path.join(s.root, "nodes", id, "evidence.tar.gz")), good, what);
  }
  const dir = path.join(s.root, "nodes", id);
  assert.deepEqual(readdirSync(dir).sort(), ["evidence.tar.gz", "inventory.json"]);
});

test("evidence for a node without an inventory is kept but not listed as a node", async (t) => {
  const s = await serverFor(t);
  const evidence = evidenceOf({ "dmidecode.txt": "lonely" });
  assert.equal((await putEvidence(s.url, "lonely", evidence)).status, 201);
  const list = (await (await fetch(`${s.url}/api/v1/nodes`)).json()) as {
    count: number;
    nodes: unknown[];
    evidenceWithoutInventory: number;
  };
  assert.equal(list.count, 0);
  assert.deepEqual(list.nodes, []);
  assert.equal(list.evidenceWithoutInventory, 1);
  assert.equal((await fetch(`${s.url}/api/v1/nodes/lonely`)).status, 404);
  const page = await (await fetch(`${s.url}/`)).text();
  assert.equal(page.includes("lonely"), false);
  const stored = await fetch(`${s.url}/api/v1/nodes/lonely/evidence`);
  assert.deepEqual(Buffer.from(await stored.arrayBuffer()), evidence);
  // Once its inventory arrives, it is a node, with its evidence.
  assert.equal(
    (await putInventory(s.url, "lonely", sampleInventory({ nodeId: "lonely" }))).status,
    201,
  );
  const after = (await (await fetch(`${s.url}/api/v1/nodes`)).json()) as {
    nodes: { nodeId: string; evidence: { bytes: number } | null }[];
    evidenceWithoutInventory: number;
  };
  assert.deepEqual(
    after.nodes.map((n) => [n.nodeId, n.evidence?.bytes]),
    [["lonely", evidence.length]],
  );
  assert.equal(after.evidenceWithoutInventory, 0);
});

test("the same nodeId on other hardware is kept apart as a conflict, never overwritten", async (t) => {
  const s = await serverFor(t);
  const id = "dup-id";
  const original = sampleInventory({ nodeId: id });
  // The BMC's USB NIC: a MAC many machines of one model share (iDRAC, iLO), never an identity.
  const usb = { ...(original.nics[0] as Inventory["nics"][number]), name: "usb0", bmcUsb: true };
  original.nics.push({ ...usb, macAddress: "fe:ed:be:ef:00:01", permanentMacAddress: null });
  const originalBytes = Buffer.from(JSON.stringify(original));
  assert.equal((await putInventory(s.url, id, originalBytes)).status, 201);
  const other = (patch: (doc: Inventory) => void): Buffer => {
    const doc = structuredClone(original);
    patch(doc);
    return Buffer.from(JSON.stringify(doc));
  };
  const contradicting = {
    "another system serial": other((d) => {
      d.system.serialNumber = "OTHER01";
    }),
    "another system UUID": other((d) => {
      d.system.uuid = "00000000-1111-2222-3333-444444444444";
    }),
    "only the BMC's USB NIC in common": other((d) => {
      d.nics = d.nics.map((nic, i) =>
        nic.bmcUsb
          ? nic
          : {
              ...nic,
              macAddress: `02:00:00:00:01:${(i + 16).toString(16)}`,
              permanentMacAddress: `02:00:00:00:01:${(i + 16).toString(16)}`,
            },
      );
    }),
    "no MAC in common": other((d) => {
      d.nics = d.nics.map((nic, i) => ({
        ...nic,
        macAddress: `02:00:00:00:00:${(i + 16).toString(16)}`,
        permanentMacAddress: `02:00:00:00:00:${(i + 16).toString(16)}`,
      }));
    }),
  };
  const current = path.join(s.root, "nodes", id, "inventory.json");
  let expected = 0;
  for (const [what, body] of Object.entries(contradicting)) {
    const res = await putInventory(s.url, id, body);
    assert.equal(res.status, 202, what);
    assert.equal(res.body.conflict, true, what);
    assert.equal(res.body.unchanged, false, what);
    expected++;
    assert.deepEqual(readFileSync(current), originalBytes, what);
    // A duplicate of the conflicting upload is idempotent: no second entry.
    const again = await putInventory(s.url, id, body);
    assert.equal(again.status, 202, what);
    assert.equal(again.body.unchanged, true, what);
    assert.equal(again.body.sha256, res.body.sha256, what);
  }
  assert.equal(readdirSync(path.join(s.root, "nodes", id, "conflicts")).length, expected);
  const list = (await (await fetch(`${s.url}/api/v1/nodes`)).json()) as {
    nodes: { nodeId: string; conflicts: number; serial: string }[];
  };
  assert.deepEqual(
    list.nodes.map((n) => [n.nodeId, n.conflicts, n.serial]),
    [[id, expected, "7G6P2Z2"]],
  );
  // The same machine reporting a change (another hostname) is an update, not a conflict.
  const update = await putInventory(
    s.url,
    id,
    other((d) => {
      d.hostname = "renamed";
    }),
  );
  assert.equal(update.status, 201);
  assert.equal(update.body.conflict, undefined);
  const dupe = await putInventory(
    s.url,
    id,
    other((d) => {
      d.hostname = "renamed";
    }),
  );
  assert.equal(dupe.status, 200);
  assert.equal(dupe.body.unchanged, true);
  // Conflicts survive a restart.
  await s.server.close();
  const again = await startTestServer({ root: s.root });
  t.after(() => again.server.close());
  const relisted = (await (await fetch(`${again.url}/api/v1/nodes`)).json()) as typeof list;
  assert.equal(relisted.nodes[0]?.conflicts, expected);
});

test("JSON GETs keep the connection alive", async (t) => {
  const s = await serverFor(t);
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  t.after(() => agent.destroy());
  const fetchOnce = () =>
    new Promise<{ connection: string | undefined; reused: boolean; status: number }>(
      (resolve, reject) => {
        const req = get(`${s.url}/api/v1/nodes`, { agent }, (res) => {
          res.resume();
          res.on("end", () =>
            resolve({
              connection: res.headers.connection,
              reused: req.reusedSocket,
              status: res.statusCode ?? 0,
            }),
          );
        });
        req.on("error", reject);
      },
    );
  const first = await fetchOnce();
  const second = await fetchOnce();
  assert.equal(first.status, 200);
  assert.equal(first.connection, "keep-alive");
  assert.equal(second.reused, true);
});

test("an upload aborted mid-body is logged as 499, not 200", async (t) => {
  const s = await serverFor(t);
  const socket = connect({ host: "127.0.0.1", port: s.port });
  socket.on("error", () => undefined);
  await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
  socket.write(
    'PUT /api/v1/nodes/gone/inventory HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n{"sch',
  );
  await until("the upload admitted", 5000, () =>
    s.logs.length > 0 && socket.bytesWritten > 0 ? true : undefined,
  );
  socket.destroy();
  const line = await until("the access log line", 5000, () =>
    s.logs.find((e) => e.event === "http" && e.path === "/api/v1/nodes/gone/inventory"),
  );
  assert.equal(line.status, 499);
  assert.equal(line.aborted, true);
});

test("a port in use and a root that is a file are reported with their cause", async (t) => {
  const s = await serverFor(t);
  const box = sandbox();
  t.after(() => box.cleanup());
  await assert.rejects(
    startServer({ root: path.join(box.dir, "b"), host: "127.0.0.1", port: s.port }),
    (error: unknown) =>
      isReconError(error) &&
      error.code === "E_IO" &&
      /EADDRINUSE/.test(error.message) &&
      (error.cause as NodeJS.ErrnoException).code === "EADDRINUSE",
  );
  const file = path.join(box.dir, "a-file");
  writeFileSync(file, "not a directory");
  await assert.rejects(
    startServer({ root: path.join(file, "root"), host: "127.0.0.1", port: 0 }),
    (error: unknown) =>
      isReconError(error) &&
      error.code === "E_IO" &&
      /ENOTDIR/.test(error.message) &&
      error.message.includes(file),
  );
});

test("serve options: limits and the minimum rate must be positive", () => {
  for (const bad of [
    { maxInventoryBytes: 0 },
    { maxEvidenceBytes: -1 },
    { maxEvidenceBytes: 1.5 },
    { minUploadBytesPerSecond: Number.NaN },
    { uploadGraceSeconds: 0 },
  ]) {
    assert.throws(
      () => serveOptions({ root: "/tmp/x", host: "127.0.0.1", port: 0, token: null, ...bad }),
      (error: unknown) => isReconError(error) && error.code === "E_USAGE",
      JSON.stringify(bad),
    );
  }
  const options = serveOptions({
    root: "/tmp/x",
    host: "127.0.0.1",
    port: 0,
    token: null,
    minUploadBytesPerSecond: 500,
    uploadGraceSeconds: 2.5,
  });
  assert.equal(options.minUploadBytesPerSecond, 500);
  assert.equal(options.uploadGraceMs, 2500);
});
