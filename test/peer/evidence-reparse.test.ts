// What a peer uploads, re-parsed by the same agent, is unchanged: the document and its evidence
// (the capture it was built from) must say the same thing. Here the "live" run is the
// qemu-storage capture played through a runner that reports what a real run reports (each probe's
// own command and its own duration), captured by the peer's own path (buildInventory with a
// capture directory, packEvidence), and stored as the master stores it.
import assert from "node:assert/strict";
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { describeProbe, type Runner, replayRunner } from "../../agent/exec.ts";
import { buildInventory } from "../../agent/inventory.ts";
import { reparseRoot } from "../../agent/master/reparse.ts";
import { packEvidence } from "../../agent/peer/evidence.ts";

const FIXTURE = join(import.meta.dirname, "../../fixtures/qemu-storage");
const work = mkdtempSync(join(tmpdir(), "recon-evidence-reparse-"));
after(() => rmSync(work, { recursive: true, force: true }));

/** The fixture's capture files (not its notes) in a fresh directory. */
function captureCopy(): string {
  const dir = mkdtempSync(join(work, "source-"));
  for (const file of readdirSync(FIXTURE)) {
    if (!file.endsWith(".md")) copyFileSync(join(FIXTURE, file), join(dir, file));
  }
  return dir;
}

/** Replays `dir` but reports like a live run: the real command, a distinct duration each. */
async function liveLike(dir: string): Promise<Runner> {
  const replay = await replayRunner(dir);
  let n = 0;
  return {
    async run(probe, signal) {
      const result = await replay.run(probe, signal);
      n++;
      return { ...result, command: describeProbe(probe), durationMs: 100 + n * 7.5 };
    },
  };
}

test("same agent, same evidence: re-parse reports unchanged (several runs of one collector too)", async () => {
  const evidenceDir = join(work, "evidence");
  const { document } = await buildInventory({
    captureDir: evidenceDir,
    runner: await liveLike(captureCopy()),
  });
  // The case that matters: a collector with several runs (smartctl per drive), each its own.
  const smart = document.collectors.filter((c) => c.name === "smartctl");
  assert.ok(smart.length >= 2, `${smart.length} smartctl runs in the fixture`);
  assert.equal(new Set(smart.map((c) => c.durationMs)).size, smart.length);
  assert.equal(new Set(smart.map((c) => c.command)).size, smart.length);

  const root = join(work, "root");
  const node = join(root, "nodes", document.nodeId);
  mkdirSync(node, { recursive: true });
  writeFileSync(join(node, "inventory.json"), `${JSON.stringify(document, null, 2)}\n`);
  writeFileSync(join(node, "evidence.tar.gz"), await packEvidence(evidenceDir));
  const [result] = await reparseRoot({ root, dryRun: true });
  assert.equal(result?.nodeId, document.nodeId);
  assert.deepEqual(
    { outcome: result?.outcome, changes: result?.changes },
    { outcome: "unchanged", changes: [] },
  );
});
