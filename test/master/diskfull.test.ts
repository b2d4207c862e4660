// A full disk: the master answers 507, keeps the previous versions, leaves no temp file and keeps
// serving. The disk is a 1 MiB tmpfs mounted by the test (needs root; CI runs as root).
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { underCI } from "../support/ci.ts";
import {
  evidenceOf,
  putEvidence,
  putInventory,
  sandbox,
  startTestServer,
  type TestServer,
} from "../support/master.ts";
import { sampleInventory } from "../support/sample-inventory.ts";

const isRoot = process.getuid?.() === 0;
const skip = isRoot ? false : "needs root to mount a tmpfs";
if (!isRoot && underCI) {
  test("disk-full test runs in CI", () => {
    assert.fail("CI must run the master tests as root (tmpfs mount for the disk-full case)");
  });
}

const ID = "node-full";

describe("disk full", { skip }, () => {
  const box = sandbox();
  const mountPoint = path.join(box.dir, "small");
  let mounted = false;
  let t: TestServer;
  before(async () => {
    mkdirSync(mountPoint);
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=1m,mode=0755", "tmpfs", mountPoint]);
    mounted = true;
    t = await startTestServer({ root: mountPoint, maxEvidenceBytes: 16 * 1024 * 1024 });
  });
  after(async () => {
    await t?.server.close();
    if (mounted) execFileSync("umount", [mountPoint]);
    box.cleanup();
  });

  const nodeDir = () => path.join(mountPoint, "nodes", ID);
  const dotFiles = () => readdirSync(nodeDir()).filter((n) => n.startsWith("."));

  test("evidence larger than the free space gets 507; the previous one stays", async () => {
    const small = evidenceOf({ "dmidecode.txt": "small evidence" });
    assert.equal((await putInventory(t.url, ID, sampleInventory({ nodeId: ID }))).status, 201);
    assert.equal((await putEvidence(t.url, ID, small)).status, 201);
    // A valid archive (evidence is checked while it streams) that does not compress.
    const big = evidenceOf({ "blob.bin": randomBytes(2 * 1024 * 1024) });
    const res = await putEvidence(t.url, ID, big);
    assert.equal(res.status, 507);
    assert.equal(res.body.error, "insufficient_storage");
    assert.deepEqual(readFileSync(path.join(nodeDir(), "evidence.tar.gz")), small);
    assert.deepEqual(dotFiles(), []);
  });

  test("an inventory on a full disk gets 507; the server keeps serving and recovers", async () => {
    const filler = path.join(mountPoint, "filler");
    try {
      writeFileSync(filler, Buffer.alloc(2 * 1024 * 1024));
    } catch (error) {
      assert.equal((error as NodeJS.ErrnoException).code, "ENOSPC");
    }
    const before = readFileSync(path.join(nodeDir(), "inventory.json"));
    const changed = sampleInventory({ nodeId: ID, hostname: "after-the-flood" });
    const res = await putInventory(t.url, ID, changed);
    assert.equal(res.status, 507);
    assert.deepEqual(readFileSync(path.join(nodeDir(), "inventory.json")), before);
    assert.deepEqual(dotFiles(), []);
    assert.equal((await fetch(`${t.url}/api/v1/nodes`)).status, 200);
    assert.equal((await fetch(`${t.url}/`)).status, 200);
    assert.ok(t.logs.some((e) => e.event === "store_error" && e.code === "insufficient_storage"));
    rmSync(filler);
    const retry = await putInventory(t.url, ID, changed);
    assert.equal(retry.status, 201);
  });
});
