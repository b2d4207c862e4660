// The master's exports (/api/v1/export/*) against the real server on loopback: the inventory
// archive holds exactly the current documents, byte for byte; the CSV downloads are what
// `recon-agent export csv` writes for the same root; conflicts and evidence alone stay out.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { setTimeout as delay } from "node:timers/promises";
import { gunzipSync, gzipSync } from "node:zlib";
import { Parser, type ReadEntry } from "tar";
import { exportCommand } from "../../agent/export/command.ts";
import { DOWNLOAD_LINKS, TAR_END, tarEntry } from "../../agent/master/downloads.ts";
import {
  evidenceOf,
  putEvidence,
  putInventory,
  rawRequest,
  sandbox,
  startTestServer,
  type TestServer,
} from "../support/master.ts";
import { sampleInventory } from "../support/sample-inventory.ts";

/** Every regular file of a tar.gz: name -> bytes (tar's own parser, strict). */
async function untar(gz: Buffer): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  const parser = new Parser({
    strict: true,
    onReadEntry: (entry: ReadEntry) => {
      const chunks: Buffer[] = [];
      entry.on("data", (c: Buffer) => chunks.push(c));
      entry.on("end", () => files.set(entry.path, Buffer.concat(chunks)));
    },
  });
  const done = new Promise<void>((resolve, reject) => {
    parser.on("end", () => resolve());
    parser.on("error", reject);
  });
  parser.end(gunzipSync(gz));
  await done;
  return files;
}

async function get(url: string): Promise<{ status: number; headers: Headers; body: Buffer }> {
  const res = await fetch(url);
  return { status: res.status, headers: res.headers, body: Buffer.from(await res.arrayBuffer()) };
}

/** Two current nodes, a conflicting document for one of them, and a node with evidence only. */
async function seeded(t: TestServer): Promise<void> {
  const first = sampleInventory({ nodeId: "rack1-u07" });
  assert.equal((await putInventory(t.url, "rack1-u07", first)).status, 201);
  const second = sampleInventory({
    nodeId: "rack1-u09",
    hostname: 'r640-9, "spare"',
    system: {
      ...first.system,
      uuid: "4c4c4544-0047-3610-8044-b4c04f594d99",
      serialNumber: "8H7Q3A3",
    },
    bmc: null,
  });
  assert.equal((await putInventory(t.url, "rack1-u09", second)).status, 201);
  const other = sampleInventory({
    nodeId: "rack1-u07",
    system: {
      ...first.system,
      uuid: "4c4c4544-0047-3610-8044-b4c04f590000",
      serialNumber: "CONFLICT1",
    },
  });
  const conflict = await putInventory(t.url, "rack1-u07", other);
  assert.equal(conflict.status, 202);
  assert.equal(conflict.body.conflict, true);
  const evidence = evidenceOf({ "dmidecode.txt": "x" });
  assert.equal((await putEvidence(t.url, "rack1-u11", evidence)).status, 201);
}

async function withServer(fn: (t: TestServer) => Promise<void>): Promise<void> {
  const box = sandbox();
  const t = await startTestServer({ root: path.join(box.dir, "root") });
  try {
    await fn(t);
  } finally {
    await t.server.close();
    box.cleanup();
  }
}

test("inventories.tar.gz holds every current document as stored, and nothing else", () =>
  withServer(async (t) => {
    await seeded(t);
    const res = await get(`${t.url}/api/v1/export/inventories.tar.gz`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-type"), "application/gzip");
    assert.match(res.headers.get("content-disposition") ?? "", /^attachment; filename="/);
    const files = await untar(res.body);
    assert.deepEqual([...files.keys()].sort(), [
      "nodes/rack1-u07/inventory.json",
      "nodes/rack1-u09/inventory.json",
    ]);
    for (const [name, data] of files) {
      assert.deepEqual(data, readFileSync(path.join(t.root, name)), name);
    }
    // The current rack1-u07 is the first upload, not the conflicting one.
    const u07 = JSON.parse((files.get("nodes/rack1-u07/inventory.json") as Buffer).toString());
    assert.equal(u07.system.serialNumber, "7G6P2Z2");
    // The conflict is on disk, only not exported.
    assert.equal(readdirSync(path.join(t.root, "nodes/rack1-u07/conflicts")).length, 1);
  }));

test("an empty master answers an empty archive", () =>
  withServer(async (t) => {
    const res = await get(`${t.url}/api/v1/export/inventories.tar.gz`);
    assert.equal(res.status, 200);
    // Two zero blocks: POSIX's empty archive (tar's own Parser calls it unrecognised; GNU tar
    // lists it as empty).
    assert.deepEqual(gunzipSync(res.body), Buffer.alloc(1024));
    const file = path.join(t.root, "..", "empty.tar.gz");
    writeFileSync(file, res.body);
    assert.equal(execFileSync("tar", ["-tzf", file], { encoding: "utf8" }), "");
  }));

test("the longest nodeId round-trips (ustar prefix field)", () =>
  withServer(async (t) => {
    const nodeId = `n${"x".repeat(127)}`;
    assert.equal((await putInventory(t.url, nodeId, sampleInventory({ nodeId }))).status, 201);
    const files = await untar((await get(`${t.url}/api/v1/export/inventories.tar.gz`)).body);
    const name = `nodes/${nodeId}/inventory.json`;
    assert.deepEqual([...files.keys()], [name]);
    assert.deepEqual(files.get(name), readFileSync(path.join(t.root, name)));
  }));

test("tarEntry adds a pax header for a name ustar cannot hold", async () => {
  const name = `nodes/${"a".repeat(200)}/inventory.json`;
  const data = Buffer.from('{"a":1}');
  const parts = tarEntry(name, data, new Date(0));
  assert.equal(parts.length, 4); // pax header (+ its body), ustar header, data, padding
  const files = await untar(gzipSync(Buffer.concat([...parts, TAR_END])));
  assert.deepEqual([...files.keys()], [name]);
  assert.deepEqual(files.get(name), data);
});

test("csv.tar.gz and nodes.csv equal what `recon-agent export csv` writes for the root", () =>
  withServer(async (t) => {
    await seeded(t);
    const out = mkdtempSync(path.join(t.root, "..", "csv-"));
    await exportCommand(["csv", "--from", t.root, "--out", out, "--quiet"], {
      stdout: () => undefined,
      stderr: () => undefined,
    });
    const cliFiles = readdirSync(out).sort();
    assert.deepEqual(cliFiles, ["dimms.csv", "disks.csv", "nics.csv", "nodes.csv", "psus.csv"]);

    const archive = await get(`${t.url}/api/v1/export/csv.tar.gz`);
    assert.equal(archive.status, 200);
    assert.equal(archive.headers.get("x-recon-skipped-nodes"), "0");
    const files = await untar(archive.body);
    assert.deepEqual([...files.keys()].sort(), cliFiles);
    for (const name of cliFiles) {
      assert.equal(files.get(name)?.toString("utf8"), readFileSync(path.join(out, name), "utf8"));
    }

    const nodes = await get(`${t.url}/api/v1/export/nodes.csv`);
    assert.equal(nodes.status, 200);
    assert.match(nodes.headers.get("content-type") ?? "", /^text\/csv; charset=utf-8/);
    const text = nodes.body.toString("utf8");
    assert.equal(text, readFileSync(path.join(out, "nodes.csv"), "utf8"));
    // A header and the two current nodes: no conflict row, no evidence-only node.
    const lines = text.split("\r\n").filter((l) => l !== "");
    assert.equal(lines.length, 3);
    assert.match(lines[1] as string, /^rack1-u07,.*,7G6P2Z2,/);
    assert.match(lines[2] as string, /^rack1-u09,.*,8H7Q3A3,/);
    assert.doesNotMatch(text, /CONFLICT1|rack1-u11/);
  }));

test("a stored document that no longer validates is left out of the CSV and counted", () =>
  withServer(async (t) => {
    assert.equal(
      (await putInventory(t.url, "rack1-u07", sampleInventory({ nodeId: "rack1-u07" }))).status,
      201,
    );
    const bad = sampleInventory({ nodeId: "rack1-u08" });
    assert.equal((await putInventory(t.url, "rack1-u08", bad)).status, 201);
    // Damaged on disk behind the server's back (the index still lists it).
    writeFileSync(path.join(t.root, "nodes/rack1-u08/inventory.json"), "{ not json");
    const nodes = await get(`${t.url}/api/v1/export/nodes.csv`);
    assert.equal(nodes.status, 200);
    assert.equal(nodes.headers.get("x-recon-skipped-nodes"), "1");
    const lines = nodes.body
      .toString("utf8")
      .split("\r\n")
      .filter((l) => l !== "");
    assert.equal(lines.length, 2);
    assert.match(lines[1] as string, /^rack1-u07,/);
    assert.ok(t.logs.some((e) => e.event === "export_skipped"));
    // The inventory archive sends the stored bytes as they are.
    const files = await untar((await get(`${t.url}/api/v1/export/inventories.tar.gz`)).body);
    assert.equal(files.get("nodes/rack1-u08/inventory.json")?.toString(), "{ not json");
  }));

test("methods, unknown names, HEAD; a configured token does not guard these reads", async () => {
  const box = sandbox();
  const t = await startTestServer({ root: path.join(box.dir, "root"), token: "s3cret" });
  try {
    const doc = sampleInventory({ nodeId: "rack1-u07" });
    const auth = { authorization: "Bearer s3cret" };
    assert.equal((await putInventory(t.url, "rack1-u07", doc, auth)).status, 201);
    const put = await rawRequest(t.port, "PUT", "/api/v1/export/nodes.csv", {
      "content-length": "0",
    });
    assert.equal(put.status, 405);
    assert.equal(put.headers.allow, "GET, HEAD");
    for (const target of [
      "/api/v1/export/",
      "/api/v1/export/dimms.csv",
      "/api/v1/export/../nodes.csv",
      "/api/v1/export/nodes.csv/x",
    ]) {
      const res = await rawRequest(t.port, "GET", target);
      assert.equal(res.status, 404, target);
      assert.equal(JSON.parse(res.body.toString()).error, "not_found", target);
    }
    const head = await rawRequest(t.port, "HEAD", "/api/v1/export/nodes.csv");
    assert.equal(head.status, 200);
    assert.equal(head.body.length, 0);
    const full = await get(`${t.url}/api/v1/export/nodes.csv`);
    assert.equal(head.headers["content-length"], String(full.body.length));
    assert.equal(full.body.toString().split("\r\n").length, 3);
    const archive = await get(`${t.url}/api/v1/export/inventories.tar.gz`);
    assert.equal(archive.status, 200);
    assert.equal((await untar(archive.body)).size, 1);
  } finally {
    await t.server.close();
    box.cleanup();
  }
});

test("a client that goes away mid-archive ends that download; the server goes on", async () => {
  const box = sandbox();
  const root = path.join(box.dir, "root");
  // 100 documents of ~170 KiB, mostly random (gzip cannot shrink them): ~13 MiB of archive, more
  // than loopback socket buffers hold, so the server is still streaming when the client leaves.
  // Written straight into the layout: the server indexes them at start.
  for (let i = 0; i < 100; i++) {
    const nodeId = `node-${String(i).padStart(4, "0")}`;
    const base = sampleInventory({ nodeId });
    const noise = randomBytes(128 * 1024).toString("base64");
    const doc = sampleInventory({ nodeId, boot: { ...base.boot, params: { noise } } });
    mkdirSync(path.join(root, "nodes", nodeId), { recursive: true });
    writeFileSync(path.join(root, "nodes", nodeId, "inventory.json"), JSON.stringify(doc));
  }
  const t = await startTestServer({ root });
  try {
    const controller = new AbortController();
    const res = await fetch(`${t.url}/api/v1/export/inventories.tar.gz`, {
      signal: controller.signal,
    });
    assert.equal(res.status, 200);
    const reader = res.body?.getReader();
    assert.ok((await reader?.read())?.value);
    // Read nothing more for a moment: the server fills the buffers and waits on backpressure.
    await delay(300);
    controller.abort();
    await reader?.cancel().catch(() => undefined);
    const isExport = (e: Record<string, unknown>) =>
      e.event === "http" && e.path === "/api/v1/export/inventories.tar.gz";
    for (let i = 0; i < 200 && !t.logs.some(isExport); i++) await delay(25);
    assert.equal(t.logs.find(isExport)?.aborted, true);
    const again = await get(`${t.url}/api/v1/export/inventories.tar.gz`);
    assert.equal((await untar(again.body)).size, 100);
  } finally {
    await t.server.close();
    box.cleanup();
  }
});

test("the status page links to every export, and each link answers 200", () =>
  withServer(async (t) => {
    const html = (await get(`${t.url}/`)).body.toString("utf8");
    for (const link of DOWNLOAD_LINKS) {
      assert.ok(html.includes(`<a href="${link.path}" download>`), link.path);
      assert.equal((await get(`${t.url}${link.path}`)).status, 200, link.path);
    }
  }));
