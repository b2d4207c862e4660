// The CLI as users run it: a real process, real arguments, real exit codes.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { Inventory } from "../schema/inventory.ts";
import { underCI } from "./support/ci.ts";

const root = new URL("..", import.meta.url).pathname;
const entry = join(root, "bin/recon-agent.js");

/** Runs the CLI. `live` lets it start real tools (the test runner's refusal is lifted). */
function cli(args: string[], options: { live?: boolean; uid?: number } = {}) {
  const env = { ...process.env };
  if (options.live) delete env.NODE_TEST_CONTEXT;
  return spawnSync(process.execPath, [entry, ...args], {
    encoding: "utf8",
    env,
    cwd: options.uid === undefined ? root : tmpdir(),
    uid: options.uid,
    timeout: 300_000,
  });
}

test("--help tells the subcommands and exit codes; --version prints version and commit", () => {
  const help = cli(["--help"]);
  assert.equal(help.status, 0);
  for (const word of [
    "--dry-run",
    "--replay",
    "capture",
    "serve",
    "validate",
    "schema",
    "Exit codes",
  ]) {
    assert.ok(help.stdout.includes(word), word);
  }
  const version = cli(["--version"]);
  assert.equal(version.status, 0);
  assert.match(version.stdout, /^recon-agent \d+\.\d+\.\d+ \(\S+\)\n$/);
});

test("bad input is a usage error (exit 2) with a clear message", () => {
  const unknownFlag = cli(["--frobnicate"]);
  assert.equal(unknownFlag.status, 2);
  assert.match(unknownFlag.stderr, /frobnicate/);
  const unknownCommand = cli(["explode"]);
  assert.equal(unknownCommand.status, 2);
  assert.match(unknownCommand.stderr, /unknown command "explode"/);
  const missingReplay = cli(["--dry-run", "--replay", "/nonexistent/capture"]);
  assert.equal(missingReplay.status, 2);
  assert.match(missingReplay.stderr, /replay directory not found/);
  const badBudget = cli(["--dry-run", "--budget", "soon"]);
  assert.equal(badBudget.status, 2);
});

test("run mode without a master on the cmdline says so and exits 2", () => {
  const dir = mkdtempSync(join(tmpdir(), "recon-cli-"));
  try {
    writeFileSync(join(dir, "cmdline"), "quiet splash\n");
    const run = cli([
      "--cmdline",
      join(dir, "cmdline"),
      "--replay",
      join(root, "fixtures/dell-poweredge-r740-linuxhw"),
    ]);
    assert.equal(run.status, 2);
    assert.match(run.stderr, /neither pxeaddr= nor recon.master=/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("--dry-run --replay prints a schema-valid document; --out writes <nodeId>.json and a summary", () => {
  const replay = cli(["--dry-run", "--replay", join(root, "fixtures/ipmi-sim-openipmi")]);
  assert.equal(replay.status, 0, replay.stderr);
  const doc = Inventory.parse(JSON.parse(replay.stdout));
  assert.ok(doc.bmc);
  const dir = mkdtempSync(join(tmpdir(), "recon-out-"));
  try {
    const out = cli([
      "--dry-run",
      "--replay",
      join(root, "fixtures/dell-poweredge-r740-linuxhw"),
      "--out",
      `${dir}/`,
    ]);
    assert.equal(out.status, 0, out.stderr);
    assert.match(out.stdout, /system +Dell Inc\. PowerEdge R740/);
    const files = readdirSync(dir);
    assert.equal(files.length, 1);
    Inventory.parse(JSON.parse(readFileSync(join(dir, files[0] ?? ""), "utf8")));
    const valid = cli(["validate", join(dir, files[0] ?? "")]);
    assert.equal(valid.status, 0);
    writeFileSync(join(dir, "bad.json"), JSON.stringify({ ...doc, nodeId: "../etc" }));
    const invalid = cli(["validate", join(dir, "bad.json")]);
    assert.equal(invalid.status, 4);
    assert.match(invalid.stdout, /nodeId/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("schema prints the committed JSON Schema", () => {
  const out = cli(["schema"]);
  assert.equal(out.status, 0);
  assert.equal(out.stdout, readFileSync(join(root, "schema/inventory.schema.json"), "utf8"));
});

test("capture then replay: the same facts from the raw outputs (live, this machine)", () => {
  const dir = mkdtempSync(join(tmpdir(), "recon-capture-"));
  try {
    const capture = cli(["capture", dir], { live: true });
    assert.equal(capture.status, 0, capture.stderr);
    const manifest = JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8"));
    assert.equal(manifest.format, "recon-capture/1");
    assert.ok(manifest.probes["lsblk.json"], "lsblk ran");
    const replay = cli(["--dry-run", "--replay", dir]);
    assert.equal(replay.status, 0, replay.stderr);
    const doc = Inventory.parse(JSON.parse(replay.stdout));
    const live = Inventory.parse(JSON.parse(cli(["--dry-run"], { live: true }).stdout));
    assert.equal(doc.nodeId, live.nodeId);
    assert.deepEqual(doc.disks, live.disks);
    assert.deepEqual(doc.pciDevices, live.pciDevices);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("as a non-root user --dry-run still prints a document, with one warning and root-only tools marked", (t) => {
  if (process.geteuid?.() !== 0) {
    assert.ok(!underCI, "CI runs the tests as root (this one switches to an unprivileged user)");
    return t.skip("needs root to switch to an unprivileged user");
  }
  let run = cli(["--dry-run"], { live: true, uid: 65534 });
  if ((run.error as NodeJS.ErrnoException | undefined)?.code === "EACCES") {
    // The checkout sits under a directory only root may enter (e.g. mktemp -d): run as the
    // unmapped user of a fresh user namespace instead: euid 65534, no privilege over the host.
    const env = { ...process.env };
    delete env.NODE_TEST_CONTEXT;
    run = spawnSync("unshare", ["--user", process.execPath, entry, "--dry-run"], {
      encoding: "utf8",
      env,
      cwd: root,
      timeout: 300_000,
    });
  }
  assert.equal(run.status, 0, run.stderr);
  const doc = Inventory.parse(JSON.parse(run.stdout));
  const warnings = run.stderr.split("\n").filter((l) => l.includes("warning"));
  assert.equal(warnings.length, 1, run.stderr);
  assert.match(warnings[0] ?? "", /not running as root/);
  const dmidecode = doc.collectors.find((c) => c.name === "dmidecode");
  assert.equal(dmidecode?.status, "skipped");
  assert.equal(dmidecode?.message, "requires root");
});

test("the README's first command: `npm start` inventories this machine and says where the JSON went", () => {
  const env = { ...process.env };
  delete env.NODE_TEST_CONTEXT;
  const run = spawnSync("npm", ["start"], { cwd: root, env, encoding: "utf8", timeout: 300_000 });
  assert.equal(run.status, 0, run.stderr);
  const where = /^document +(\S+\.json)$/m.exec(run.stdout)?.[1];
  assert.ok(where, run.stdout);
  Inventory.parse(JSON.parse(readFileSync(join(root, where), "utf8")));
});
