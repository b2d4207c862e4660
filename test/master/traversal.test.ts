// Attempts to leave the root, through the nodeId of the upload API and through static paths,
// sent raw (no client-side URL normalisation). Nothing may be written outside the root and
// nothing outside a mount may be read.
import assert from "node:assert/strict";
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import fc from "fast-check";
import { checkUrlPath } from "../../agent/master/static.ts";
import {
  listTree,
  rawRequest,
  sandbox,
  startTestServer,
  type TestServer,
} from "../support/master.ts";
import { sampleInventory } from "../support/sample-inventory.ts";

const SECRET = "top secret outside every root";

describe("traversal", () => {
  const box = sandbox();
  let t: TestServer;
  let outsideBefore: string[];
  before(async () => {
    const root = path.join(box.dir, "root");
    const exportDir = path.join(box.dir, "export");
    mkdirSync(path.join(exportDir, "sub"), { recursive: true });
    writeFileSync(path.join(exportDir, "sub", "ok.txt"), "inside\n");
    writeFileSync(path.join(exportDir, ".hidden"), "hidden\n");
    writeFileSync(path.join(box.dir, "secret.txt"), SECRET);
    symlinkSync(path.join(box.dir, "secret.txt"), path.join(exportDir, "escape.txt"));
    symlinkSync(box.dir, path.join(exportDir, "escape-dir"));
    symlinkSync(path.join(exportDir, "sub", "ok.txt"), path.join(exportDir, "inner-link.txt"));
    t = await startTestServer({
      root,
      staticRoots: { "/export": exportDir, "/nodes": path.join(root, "nodes") },
    });
    outsideBefore = listTree(box.dir).filter((p) => !p.startsWith("root"));
  });
  after(async () => {
    await t.server.close();
    box.cleanup();
  });

  const badIds = [
    "..",
    "%2e%2e",
    "%2E%2E",
    ".",
    "..%2f..%2fsecret",
    "a/b",
    "a%2fb",
    "a%2Fb",
    "..%5c..%5csecret",
    "a%5cb",
    "%00",
    "a%00b",
    ".hidden",
    "%2ehidden",
    "-leading-dash",
    "x".repeat(129),
    "x".repeat(5000),
    "a%20b",
    "%c0%ae%c0%ae",
    "%ff",
    "../../../../tmp/evil",
    "..%252f..%252fsecret",
  ];

  test("invalid nodeIds in uploads are rejected with 400 and nothing is written", async () => {
    const body = Buffer.from(JSON.stringify(sampleInventory({ nodeId: "legit" })));
    for (const id of badIds) {
      for (const kind of ["inventory", "evidence"]) {
        const res = await rawRequest(
          t.port,
          "PUT",
          `/api/v1/nodes/${id}/${kind}`,
          { "Content-Type": "application/json" },
          body,
        );
        assert.ok(
          res.status === 400 || res.status === 404,
          `${kind} ${id.slice(0, 40)}: got ${res.status}`,
        );
      }
      const get = await rawRequest(t.port, "GET", `/api/v1/nodes/${id}`);
      assert.ok(get.status === 400 || get.status === 404, `GET ${id.slice(0, 40)}: ${get.status}`);
    }
    assert.deepEqual(
      listTree(box.dir).filter((p) => !p.startsWith("root")),
      outsideBefore,
    );
    // Nothing but the empty node directory and the (empty) event log the server opens.
    assert.deepEqual(listTree(path.join(box.dir, "root")), [
      "events",
      "events/events.jsonl",
      "nodes",
    ]);
    assert.equal(readFileSync(path.join(box.dir, "root/events/events.jsonl"), "utf8"), "");
  });

  test("static paths cannot leave the mount", async () => {
    const attempts = [
      "/export/../secret.txt",
      "/export/sub/../../secret.txt",
      "/export/%2e%2e/secret.txt",
      "/export/%2E%2E/secret.txt",
      "/export/..%2fsecret.txt",
      "/export/%2e%2e%2fsecret.txt",
      "/export/sub%2f..%2f..%2fsecret.txt",
      "/export/..%5csecret.txt",
      "/export/..\\secret.txt",
      "/export/secret.txt%00.txt",
      "/export/escape.txt",
      "/export/escape-dir/secret.txt",
      "/export/.hidden",
      "/export/%2ehidden",
      "/export/%c0%ae%c0%ae/secret.txt",
      "/export/%ff",
      "/export//../secret.txt",
      "/export/./../secret.txt",
      "/nodes/../secret.txt",
      "/export/sub/",
      "/export",
      "/export/",
    ];
    for (const target of attempts) {
      const res = await rawRequest(t.port, "GET", target);
      assert.ok(res.status === 400 || res.status === 404, `${target}: ${res.status}`);
      assert.ok(!res.body.toString().includes(SECRET), `${target} leaked`);
    }
  });

  test("legitimate paths and symlinks inside the mount are served", async () => {
    const ok = await rawRequest(t.port, "GET", "/export/sub/ok.txt");
    assert.equal(ok.status, 200);
    assert.equal(ok.body.toString(), "inside\n");
    const link = await rawRequest(t.port, "GET", "/export/inner-link.txt");
    assert.equal(link.status, 200);
    const encoded = await rawRequest(t.port, "GET", "/export/s%75b/ok.txt");
    assert.equal(encoded.status, 200);
  });

  test("checkUrlPath never yields a segment that can climb or hide a separator", () => {
    const alphabet = fc.constantFrom("a", ".", "/", "\\", "%", "2", "e", "f", "5", "c", "0", "\0");
    fc.assert(
      fc.property(fc.array(alphabet, { maxLength: 24 }), (chars) => {
        const result = checkUrlPath(chars.join(""));
        if (!result.ok) return;
        for (const segment of result.segments) {
          assert.notEqual(segment, "..");
          assert.notEqual(segment, ".");
          assert.ok(!segment.startsWith("."));
          assert.ok(!/[/\\\0]/.test(segment));
          const joined = path.join("/root", ...result.segments);
          assert.ok(joined.startsWith("/root/") || joined === "/root");
        }
      }),
      { numRuns: 3000 },
    );
  });
});
