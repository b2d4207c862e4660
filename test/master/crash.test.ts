// A master that dies or restarts mid-upload: the previous version stays intact, no partial file is
// ever visible (temp files are dot-named, never served, removed at start), the server keeps going.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import path from "node:path";
import { after, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import {
  evidenceOf,
  listTree,
  putEvidence,
  putInventory,
  rawRequest,
  sandbox,
  sha256Hex,
  startChildServer,
  startTestServer,
} from "../support/master.ts";
import { sampleInventory } from "../support/sample-inventory.ts";

const ID = "node-crash";

/** Headers plus part of a body that announces more; the socket stays open. */
function halfUpload(port: number, kind: string, total: number, sent: Buffer): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port }, () => {
      socket.write(
        `PUT /api/v1/nodes/${ID}/${kind} HTTP/1.1\r\nHost: x\r\nContent-Type: ${
          kind === "inventory" ? "application/json" : "application/gzip"
        }\r\nContent-Length: ${total}\r\n\r\n`,
      );
      socket.write(sent, () => resolve(socket));
    });
    socket.on("error", () => undefined);
    socket.once("error", reject);
  });
}

function tempFiles(dir: string): string[] {
  return listTree(dir).filter((p) => path.basename(p).startsWith(".tmp-"));
}

async function waitFor(what: string, check: () => boolean, ms = 10_000): Promise<void> {
  const until = Date.now() + ms;
  while (!check()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** The first half of a valid archive (evidence is checked while it streams). */
function partialEvidence(): Buffer {
  return evidenceOf({ "blob.bin": randomBytes(1024 * 1024) }).subarray(0, 512 * 1024);
}

const v1Doc = Buffer.from(JSON.stringify(sampleInventory({ nodeId: ID })));
const v1Evidence = evidenceOf({ "dmidecode.txt": "evidence v1" });

/** A data root of this test's own; with `seeded`, ID's v1 inventory and evidence are stored. */
async function dataRoot(seeded: boolean): Promise<{ root: string; nodeDir: string }> {
  const box = sandbox();
  after(() => box.cleanup());
  const root = path.join(box.dir, "root");
  if (seeded) {
    const t = await startTestServer({ root });
    try {
      assert.equal((await putInventory(t.url, ID, v1Doc)).status, 201);
      assert.equal((await putEvidence(t.url, ID, v1Evidence)).status, 201);
    } finally {
      await t.server.close();
    }
  }
  return { root, nodeDir: path.join(root, "nodes", ID) };
}

describe("crash and restart mid-upload", () => {
  test("SIGKILL mid-upload: previous version intact, temp files invisible and removed at start", async () => {
    const { root, nodeDir } = await dataRoot(false);
    const first = await startChildServer([
      "--root",
      root,
      "--static",
      `/nodes=${path.join(root, "nodes")}`,
    ]);
    try {
      assert.equal((await putInventory(first.url, ID, v1Doc)).status, 201);
      assert.equal((await putEvidence(first.url, ID, v1Evidence)).status, 201);
      const ev = await halfUpload(first.port, "evidence", 1024 * 1024, partialEvidence());
      const inv = await halfUpload(
        first.port,
        "inventory",
        v1Doc.length + 100,
        v1Doc.subarray(0, 100),
      );
      await waitFor("a temp file with data", () =>
        tempFiles(nodeDir).some((p) => statSync(path.join(nodeDir, p)).size > 0),
      );
      // While the upload is in flight, the temp file is not reachable over HTTP.
      const temp = tempFiles(nodeDir)[0] as string;
      assert.equal((await rawRequest(first.port, "GET", `/nodes/${ID}/${temp}`)).status, 404);
      await first.stop("SIGKILL");
      ev.destroy();
      inv.destroy();
    } finally {
      await first.stop("SIGKILL");
    }
    assert.ok(tempFiles(nodeDir).length > 0, "the crash left a temp file behind");
    assert.deepEqual(readFileSync(path.join(nodeDir, "evidence.tar.gz")), v1Evidence);
    assert.deepEqual(readFileSync(path.join(nodeDir, "inventory.json")), v1Doc);

    const second = await startChildServer(["--root", root]);
    try {
      assert.deepEqual(tempFiles(root), []);
      const opened = second.lines.find((l) => l.event === "store_opened");
      assert.ok((opened?.removedTempFiles as number) >= 1);
      const detail = (await (await fetch(`${second.url}/api/v1/nodes/${ID}`)).json()) as {
        inventory: { sha256: string };
        evidence: { sha256: string };
      };
      assert.equal(detail.inventory.sha256, sha256Hex(v1Doc));
      assert.equal(detail.evidence.sha256, sha256Hex(v1Evidence));
      // The peer retries after the restart and gets its acknowledgement.
      const retry = await putEvidence(
        second.url,
        ID,
        evidenceOf({ "dmidecode.txt": "evidence v2" }),
      );
      assert.equal(retry.status, 201);
    } finally {
      await second.stop();
    }
  });

  test("a client that hangs up mid-body leaves nothing behind; the server keeps serving", async () => {
    const { root, nodeDir } = await dataRoot(true);
    const t = await startTestServer({ root });
    try {
      const before = readFileSync(path.join(nodeDir, "evidence.tar.gz"));
      const socket = await halfUpload(t.port, "evidence", 4 * 1024 * 1024, partialEvidence());
      await waitFor("a temp file", () => tempFiles(nodeDir).length > 0);
      socket.destroy();
      await waitFor("temp file removal", () => tempFiles(nodeDir).length === 0);
      assert.deepEqual(readFileSync(path.join(nodeDir, "evidence.tar.gz")), before);
      assert.equal((await fetch(`${t.url}/api/v1/nodes`)).status, 200);
    } finally {
      await t.server.close();
    }
  });

  test("a graceful restart with an upload in flight drops it cleanly", async () => {
    const { root, nodeDir } = await dataRoot(true);
    const t = await startTestServer({ root });
    const before = readFileSync(path.join(nodeDir, "evidence.tar.gz"));
    const socket = await halfUpload(t.port, "evidence", 4 * 1024 * 1024, partialEvidence());
    await waitFor("a temp file", () => tempFiles(nodeDir).length > 0);
    await t.server.close();
    socket.destroy();
    await waitFor("temp file removal", () => tempFiles(nodeDir).length === 0);
    const again = await startTestServer({ root });
    try {
      assert.deepEqual(readFileSync(path.join(nodeDir, "evidence.tar.gz")), before);
      const list = (await (await fetch(`${again.url}/api/v1/nodes`)).json()) as { count: number };
      assert.equal(list.count, 1);
    } finally {
      await again.server.close();
    }
  });

  test("stray temp files anywhere under nodes/ are removed at start", async () => {
    const { root, nodeDir } = await dataRoot(true);
    writeFileSync(path.join(nodeDir, ".tmp-evidence-1-deadbeef"), "partial");
    writeFileSync(path.join(root, "nodes", ".tmp-x"), "partial");
    const t = await startTestServer({ root });
    try {
      assert.deepEqual(tempFiles(root), []);
      assert.deepEqual(
        readdirSync(nodeDir).filter((n) => n.startsWith(".")),
        [],
      );
    } finally {
      await t.server.close();
    }
  });
});
