// `recon-agent reparse`: a data root written by the 1.0 agent (real 1.0 documents, see
// reparse-1.0/SOURCE.md) with each node's capture as its evidence is upgraded in place by today's
// parsers; the old version stays in history/, ids and collection times are kept, a second run
// changes nothing, and bad evidence is reported for its node while the others go on.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import { diffDocuments } from "../../agent/master/reparse.ts";
import { packEvidence } from "../../agent/peer/evidence.ts";
import { Inventory } from "../../schema/inventory.ts";

const REPO = path.resolve(import.meta.dirname, "../..");
const OLD = path.join(import.meta.dirname, "reparse-1.0");
const FIXTURES = ["dell-poweredge-m630-netbox", "hp-proliant-dl380p-gen8-netbox"];
const work = mkdtempSync(path.join(tmpdir(), "recon-reparse-test-"));
after(() => rmSync(work, { recursive: true, force: true }));

function cli(args: string[]) {
  return spawnSync(process.execPath, [path.join(REPO, "bin/recon-agent.js"), ...args], {
    encoding: "utf8",
  });
}

/** A data root as a 1.0 master left it: the 1.0 document and the capture it was built from. */
async function oldStick(name: string): Promise<{ root: string; ids: string[] }> {
  const root = path.join(work, name);
  const ids: string[] = [];
  for (const fixture of FIXTURES) {
    const text = readFileSync(path.join(OLD, `${fixture}.json`), "utf8");
    const nodeId = (JSON.parse(text) as { nodeId: string }).nodeId;
    const dir = path.join(root, "nodes", nodeId);
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, "inventory.json"), text);
    // Evidence holds the capture files only (what the peer packs), not the attribution notes.
    const capture = mkdtempSync(path.join(work, "capture-"));
    for (const file of readdirSync(path.join(REPO, "fixtures", fixture))) {
      if (!file.endsWith(".md"))
        copyFileSync(path.join(REPO, "fixtures", fixture, file), path.join(capture, file));
    }
    writeFileSync(path.join(dir, "evidence.tar.gz"), await packEvidence(capture));
    ids.push(nodeId);
  }
  return { root, ids };
}

test("a 1.0 stick is upgraded in place: new facts, old version in history, id and time kept", async () => {
  const { root, ids } = await oldStick("upgrade");
  const run = cli(["reparse", "--root", root]);
  assert.equal(run.status, 0, run.stderr);
  for (const [i, nodeId] of ids.entries()) {
    const fixture = FIXTURES[i] ?? "";
    const before = readFileSync(path.join(OLD, `${fixture}.json`), "utf8");
    const old = JSON.parse(before) as Record<string, unknown> & { bios: { releaseDate: string } };
    const dir = path.join(root, "nodes", nodeId);
    const now = Inventory.parse(JSON.parse(readFileSync(path.join(dir, "inventory.json"), "utf8")));
    assert.equal(old.schemaVersion, "1.0.0");
    assert.equal(now.schemaVersion, "1.2.0");
    assert.equal(now.nodeId, nodeId);
    assert.equal(now.nodeIdSource, old.nodeIdSource);
    assert.equal(now.collectedAt, old.collectedAt);
    // A 1.2 fact the 1.0 agent could not write, from the same dmidecode text ("Release Date:
    // 05/04/2015" and "07/01/2015" in the fixtures, read by hand).
    const [mm, dd, yyyy] = old.bios.releaseDate.split("/");
    assert.equal(now.bios.releaseDateIso, `${yyyy}-${mm}-${dd}`);
    assert.match(run.stdout, new RegExp(`${nodeId}: upgraded 1\\.0\\.0 -> 1\\.2\\.0: added \\d+`));
    assert.match(run.stdout, /bios\.releaseDateIso/);
    // The 1.0 document, byte for byte, is the one version in history/.
    const history = readdirSync(path.join(dir, "history"));
    assert.equal(history.length, 1);
    assert.equal(readFileSync(path.join(dir, "history", history[0] ?? ""), "utf8"), before);
  }
  assert.match(run.stdout, /2 nodes: 2 upgraded, 0 unchanged/);

  const again = cli(["reparse", "--root", root]);
  assert.equal(again.status, 0, again.stderr);
  assert.match(again.stdout, /2 nodes: 0 upgraded, 2 unchanged/);
  for (const nodeId of ids) {
    assert.equal(readdirSync(path.join(root, "nodes", nodeId, "history")).length, 1);
  }
});

test("--dry-run reports the upgrade and writes nothing", async () => {
  const { root, ids } = await oldStick("dry");
  const before = ids.map((id) => readFileSync(path.join(root, "nodes", id, "inventory.json")));
  const run = cli(["reparse", "--root", root, "--dry-run"]);
  assert.equal(run.status, 0, run.stderr);
  assert.match(run.stdout, /2 upgraded/);
  assert.match(run.stdout, /dry run: nothing written/);
  for (const [i, id] of ids.entries()) {
    assert.deepEqual(readFileSync(path.join(root, "nodes", id, "inventory.json")), before[i]);
    assert.deepEqual(readdirSync(path.join(root, "nodes", id)).sort(), [
      "evidence.tar.gz",
      "inventory.json",
    ]);
  }
});

test("bad evidence fails its node only (exit 3); a node without evidence is skipped", async () => {
  const { root, ids } = await oldStick("bad");
  const [broken, missing] = ids as [string, string];
  writeFileSync(path.join(root, "nodes", broken, "evidence.tar.gz"), "\x1f\x8b\x08not a tar");
  rmSync(path.join(root, "nodes", missing, "evidence.tar.gz"));
  const run = cli(["reparse", "--root", root]);
  assert.equal(run.status, 3, run.stdout);
  assert.match(run.stdout, new RegExp(`${broken}: failed 1\\.0\\.0: evidence\\.tar\\.gz: `));
  assert.match(
    run.stdout,
    new RegExp(`${missing}: skipped 1\\.0\\.0: no evidence\\.tar\\.gz to re-parse`),
  );
  assert.match(run.stderr, /1 nodes failed to re-parse/);
});

test("usage: --root is required and must be a directory", () => {
  assert.equal(cli(["reparse"]).status, 2);
  assert.match(cli(["reparse"]).stderr, /--root DIR is required/);
  assert.equal(cli(["reparse", "--root", path.join(work, "nowhere")]).status, 2);
  const help = cli(["reparse", "--help"]);
  assert.equal(help.status, 0);
  assert.match(help.stdout, /--root DIR/);
  assert.match(help.stdout, /--dry-run/);
});

test("diffDocuments names added, removed and changed paths", () => {
  assert.deepEqual(
    diffDocuments({ a: 1, b: [1, 2], c: { d: null } }, { a: 2, b: [1], c: { d: null, e: 0 } }),
    [
      { path: "a", change: "changed" },
      { path: "b[1]", change: "removed" },
      { path: "c.e", change: "added" },
    ],
  );
  assert.deepEqual(diffDocuments({ x: [{ y: "s" }] }, { x: [{ y: "s" }] }), []);
});
