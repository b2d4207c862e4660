// The upload API against the real server on loopback: storage, acknowledgement, idempotence,
// history, validation, size limits, tokens, concurrency and the index rebuilt at start.
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { Readable } from "node:stream";
import { after, afterEach, before, beforeEach, describe, test } from "node:test";
import { gzipSync } from "node:zlib";
import { request } from "undici";
import {
  evidenceOf,
  putEvidence,
  putInventory,
  rawRequest,
  sandbox,
  sha256Hex,
  startTestServer,
  type TestServer,
} from "../support/master.ts";
import { sampleInventory } from "../support/sample-inventory.ts";

const NODE = "node-a1";

describe("upload API", () => {
  // Each test gets its own server and root, and seeds the state it needs.
  let box: ReturnType<typeof sandbox>;
  let t: TestServer;
  beforeEach(async () => {
    box = sandbox();
    t = await startTestServer({
      root: path.join(box.dir, "root"),
      maxInventoryBytes: 64 * 1024,
      maxEvidenceBytes: 256 * 1024,
    });
  });
  afterEach(async () => {
    await t.server.close();
    box.cleanup();
  });

  test("a valid document is stored byte for byte and acknowledged with its sha256", async () => {
    const bytes = Buffer.from(JSON.stringify(sampleInventory({ nodeId: NODE }), null, 2));
    const res = await putInventory(t.url, NODE, bytes);
    assert.equal(res.status, 201);
    assert.equal(res.body.sha256, sha256Hex(bytes));
    assert.equal(res.body.bytes, bytes.length);
    assert.equal(res.body.nodeId, NODE);
    assert.equal(res.body.unchanged, false);
    assert.ok(!Number.isNaN(Date.parse(res.body.storedAt as string)));
    const stored = readFileSync(path.join(t.root, "nodes", NODE, "inventory.json"));
    assert.deepEqual(stored, bytes);
  });

  test("re-uploading identical bytes is idempotent: 200, same sha, no history entry", async () => {
    const bytes = Buffer.from(JSON.stringify(sampleInventory({ nodeId: NODE }), null, 2));
    const first = await putInventory(t.url, NODE, bytes);
    const again = await putInventory(t.url, NODE, bytes);
    assert.equal(again.status, 200);
    assert.equal(again.body.unchanged, true);
    assert.equal(again.body.sha256, first.body.sha256);
    assert.equal(again.body.storedAt, first.body.storedAt);
    assert.equal(existsSync(path.join(t.root, "nodes", NODE, "history")), false);
  });

  test("a changed document keeps the previous one in history/", async () => {
    assert.equal((await putInventory(t.url, NODE, sampleInventory({ nodeId: NODE }))).status, 201);
    const old = readFileSync(path.join(t.root, "nodes", NODE, "inventory.json"));
    const res = await putInventory(
      t.url,
      NODE,
      sampleInventory({ nodeId: NODE, hostname: "r640-7" }),
    );
    assert.equal(res.status, 201);
    const history = readdirSync(path.join(t.root, "nodes", NODE, "history"));
    assert.equal(history.length, 1);
    assert.match(history[0] as string, /^inventory-\d{8}T\d{6}\.\d{3}Z-[0-9a-f]{16}\.json$/);
    assert.ok((history[0] as string).includes(sha256Hex(old).slice(0, 16)));
    assert.deepEqual(
      readFileSync(path.join(t.root, "nodes", NODE, "history", history[0] as string)),
      old,
    );
  });

  test("GET /api/v1/nodes lists summaries and GET /api/v1/nodes/{id} the latest document", async () => {
    assert.equal((await putInventory(t.url, NODE, sampleInventory({ nodeId: NODE }))).status, 201);
    const changed = sampleInventory({ nodeId: NODE, hostname: "r640-7" });
    assert.equal((await putInventory(t.url, NODE, changed)).status, 201);
    const list = (await (await fetch(`${t.url}/api/v1/nodes`)).json()) as {
      count: number;
      nodes: Record<string, unknown>[];
    };
    const row = list.nodes.find((n) => n.nodeId === NODE);
    assert.ok(row);
    assert.equal(row.serial, "7G6P2Z2");
    assert.equal(row.product, "PowerEdge R640");
    assert.equal(row.bmcAddress, "10.10.0.57");
    assert.equal(row.hostname, "r640-7");
    assert.equal(row.memory, "384 GiB in 12 DIMMs");
    const detail = (await (await fetch(`${t.url}/api/v1/nodes/${NODE}`)).json()) as {
      document: { hostname: string };
      history: unknown[];
      inventory: { sha256: string };
    };
    assert.equal(detail.document.hostname, "r640-7");
    assert.equal(detail.history.length, 1);
    const raw = readFileSync(path.join(t.root, "nodes", NODE, "inventory.json"));
    assert.equal(detail.inventory.sha256, sha256Hex(raw));
    assert.equal((await fetch(`${t.url}/api/v1/nodes/nobody`)).status, 404);
  });

  test("an invalid document gets 400 listing the failing paths, and nothing is stored", async () => {
    const doc = sampleInventory({ nodeId: "bad-doc" }) as unknown as Record<string, unknown>;
    const broken = {
      ...doc,
      hostname: 42,
      system: { ...(doc.system as object), uuid: "not-a-uuid" },
      surprise: true,
    };
    const res = await putInventory(t.url, "bad-doc", broken);
    assert.equal(res.status, 400);
    assert.equal(res.body.error, "invalid_document");
    const paths = (res.body.issues as { path: string }[]).map((i) => i.path).sort();
    assert.deepEqual(paths, ["hostname", "surprise", "system.uuid"]);
    assert.equal(existsSync(path.join(t.root, "nodes", "bad-doc", "inventory.json")), false);
  });

  test("malformed JSON gets 400; the media type is not enforced, the content is", async () => {
    const res = await putInventory(t.url, "bad-json", Buffer.from("{nope"));
    assert.equal(res.status, 400);
    assert.equal(res.body.error, "invalid_json");
    const typed = await putInventory(t.url, "text-json", sampleInventory({ nodeId: "text-json" }), {
      "content-type": "text/plain",
    });
    assert.equal(typed.status, 201);
    const gz = await putInventory(t.url, "gz-json", gzipSync("{}"), {
      "content-type": "application/gzip",
    });
    assert.equal(gz.status, 400);
    const encoded = await putInventory(t.url, "enc-json", gzipSync("{}"), {
      "content-encoding": "gzip",
    });
    assert.equal(encoded.status, 415);
  });

  test("a document whose nodeId differs from the URL's gets 409", async () => {
    const res = await putInventory(t.url, "node-b", sampleInventory({ nodeId: "node-c" }));
    assert.equal(res.status, 409);
    assert.equal(res.body.error, "node_id_mismatch");
    assert.equal(existsSync(path.join(t.root, "nodes", "node-b", "inventory.json")), false);
  });

  test("a body over the limit gets 413 from Content-Length, before it is read", async () => {
    const big = Buffer.alloc(65 * 1024, 0x20);
    const res = await putInventory(t.url, "node-big", big);
    assert.equal(res.status, 413);
    assert.equal(res.body.error, "too_large");
    // Declared size alone is enough: the server answers without waiting for any body byte.
    const raw = await new Promise<string>((resolve, reject) => {
      import("node:net").then(({ connect }) => {
        const socket = connect({ host: "127.0.0.1", port: t.port });
        let text = "";
        socket.on("data", (c) => {
          text += c.toString();
        });
        socket.on("close", () => resolve(text));
        socket.on("error", reject);
        socket.write(
          "PUT /api/v1/nodes/node-big/evidence HTTP/1.1\r\nHost: x\r\nContent-Length: 999999999\r\n\r\n",
        );
      });
    });
    assert.match(raw, /^HTTP\/1\.1 413 /);
  });

  test("a chunked body that grows over the limit gets 413 while streaming", async () => {
    for (const kind of ["inventory", "evidence"] as const) {
      let sent = 0;
      const chunk = Buffer.alloc(16 * 1024, 0x1f);
      chunk[1] = 0x8b;
      chunk[2] = 0x08;
      const body = new Readable({
        read() {
          // endless, the server must stop it
          sent += chunk.length;
          this.push(sent > 64 * 1024 * 1024 ? null : chunk);
        },
      });
      const res = await request(`${t.url}/api/v1/nodes/node-stream/${kind}`, {
        method: "PUT",
        body,
        headers: { "content-type": kind === "inventory" ? "application/json" : "application/gzip" },
      }).catch((error: unknown) => ({ statusCode: -1, error, body: null }));
      assert.equal(res.statusCode, 413, `${kind}: ${String((res as { error?: unknown }).error)}`);
      await res.body?.text();
      assert.ok(sent < 8 * 1024 * 1024, `${kind}: server read ${sent} bytes`);
    }
    const dir = path.join(t.root, "nodes", "node-stream");
    assert.deepEqual(existsSync(dir) ? readdirSync(dir) : [], []);
  });

  test("evidence: stored with its sha256; a non-gzip body gets 400", async () => {
    const evidence = evidenceOf({ "dmidecode.txt": "# dmidecode 3.5\n", "lsblk.json": "{}" });
    const res = await putEvidence(t.url, NODE, evidence);
    assert.equal(res.status, 201);
    assert.equal(res.body.sha256, sha256Hex(evidence));
    assert.deepEqual(readFileSync(path.join(t.root, "nodes", NODE, "evidence.tar.gz")), evidence);
    const again = await putEvidence(t.url, NODE, evidence);
    assert.equal(again.status, 200);
    assert.equal(again.body.unchanged, true);
    const notGzip = await putEvidence(t.url, NODE, Buffer.from("PK\u0003\u0004 a zip"));
    assert.equal(notGzip.status, 400);
    assert.equal(notGzip.body.error, "not_gzip");
    const empty = await putEvidence(t.url, NODE, Buffer.alloc(0));
    assert.equal(empty.status, 400);
    assert.deepEqual(readFileSync(path.join(t.root, "nodes", NODE, "evidence.tar.gz")), evidence);
    const served = await fetch(`${t.url}/api/v1/nodes/${NODE}/evidence`);
    assert.deepEqual(Buffer.from(await served.arrayBuffer()), evidence);
  });

  test("concurrent uploads to one node are serialised: last state consistent, history complete", async () => {
    const id = "node-race";
    const docs = Array.from({ length: 12 }, (_, i) =>
      Buffer.from(JSON.stringify(sampleInventory({ nodeId: id, hostname: `h${i}` }))),
    );
    const results = await Promise.all(docs.map((d) => putInventory(t.url, id, d)));
    for (const r of results) assert.equal(r.status, 201);
    const dir = path.join(t.root, "nodes", id);
    const current = readFileSync(path.join(dir, "inventory.json"));
    assert.ok(docs.some((d) => d.equals(current)));
    assert.equal(readdirSync(path.join(dir, "history")).length, docs.length - 1);
    assert.deepEqual(
      readdirSync(dir).filter((n) => n.startsWith(".")),
      [],
    );
  });

  test("unknown routes and methods", async () => {
    assert.equal((await fetch(`${t.url}/api/v2/nodes`)).status, 404);
    assert.equal((await fetch(`${t.url}/api/v1/nodes`, { method: "POST" })).status, 405);
    assert.equal((await fetch(`${t.url}/api/v1/nodes/${NODE}`, { method: "DELETE" })).status, 405);
    assert.equal((await fetch(`${t.url}/nowhere`)).status, 404);
    const head = await rawRequest(t.port, "HEAD", "/api/v1/nodes");
    assert.equal(head.status, 200);
    assert.equal(head.body.length, 0);
  });

  test("the log callback gets one JSON-serialisable event per request and per store", async () => {
    for (const hostname of ["a", "b", "c"]) {
      assert.equal(
        (await putInventory(t.url, NODE, sampleInventory({ nodeId: NODE, hostname }))).status,
        201,
      );
    }
    const stored = t.logs.filter((e) => e.event === "stored");
    assert.ok(stored.length >= 3);
    const http = t.logs.filter((e) => e.event === "http");
    assert.ok(http.every((e) => typeof e.status === "number" && typeof e.ms === "number"));
    for (const e of t.logs) assert.doesNotThrow(() => JSON.stringify(e));
  });

  test("a restarted server rebuilds its index from disk", async () => {
    assert.equal((await putInventory(t.url, NODE, sampleInventory({ nodeId: NODE }))).status, 201);
    assert.equal(
      (await putInventory(t.url, "other", sampleInventory({ nodeId: "other" }))).status,
      201,
    );
    const seeded = await putEvidence(t.url, NODE, evidenceOf({ "dmidecode.txt": "restart" }));
    assert.equal(seeded.status, 201);
    const before = (await (await fetch(`${t.url}/api/v1/nodes`)).json()) as {
      nodes: { nodeId: string; inventory: unknown; evidence: { bytes: number } | null }[];
    };
    await t.server.close();
    t = await startTestServer({ root: t.root });
    const after = (await (await fetch(`${t.url}/api/v1/nodes`)).json()) as typeof before;
    assert.deepEqual(
      after.nodes.map((n) => [n.nodeId, n.inventory, n.evidence?.bytes]),
      before.nodes.map((n) => [n.nodeId, n.inventory, n.evidence?.bytes]),
    );
    // A known evidence file is not re-stored after restart (sha computed lazily from disk).
    const evidence = readFileSync(path.join(t.root, "nodes", NODE, "evidence.tar.gz"));
    const again = await putEvidence(t.url, NODE, evidence);
    assert.equal(again.status, 200);
  });
});

describe("token", () => {
  const box = sandbox();
  let t: TestServer;
  const token = "s3cret-token-value";
  before(async () => {
    t = await startTestServer({ root: path.join(box.dir, "root"), token });
  });
  after(async () => {
    await t.server.close();
    box.cleanup();
  });

  test("uploads without or with a wrong token get 401; the right one is accepted", async () => {
    const doc = sampleInventory({ nodeId: "tok-1" });
    const missing = await putInventory(t.url, "tok-1", doc);
    assert.equal(missing.status, 401);
    const wrong = await putInventory(t.url, "tok-1", doc, { authorization: "Bearer nope" });
    assert.equal(wrong.status, 401);
    const basic = await putInventory(t.url, "tok-1", doc, { authorization: `Basic ${token}` });
    assert.equal(basic.status, 401);
    const ev = await putEvidence(t.url, "tok-1", evidenceOf({ x: "x" }), {
      authorization: "Bearer x",
    });
    assert.equal(ev.status, 401);
    assert.equal(existsSync(path.join(t.root, "nodes", "tok-1")), false);
    const ok = await putInventory(t.url, "tok-1", doc, { authorization: `Bearer ${token}` });
    assert.equal(ok.status, 201);
  });

  test("reads stay open without a token", async () => {
    const doc = sampleInventory({ nodeId: "tok-1" });
    const seeded = await putInventory(t.url, "tok-1", doc, { authorization: `Bearer ${token}` });
    assert.ok(seeded.status === 201 || seeded.status === 200);
    assert.equal((await fetch(`${t.url}/api/v1/nodes`)).status, 200);
    assert.equal((await fetch(`${t.url}/api/v1/nodes/tok-1`)).status, 200);
    assert.equal((await fetch(`${t.url}/`)).status, 200);
  });

  test("Expect: 100-continue is refused before the body is sent", async () => {
    const res = await rawRequest(t.port, "PUT", "/api/v1/nodes/tok-2/inventory", {
      Expect: "100-continue",
      "Content-Length": "100",
      "Content-Type": "application/json",
    });
    assert.equal(res.status, 401);
  });
});
