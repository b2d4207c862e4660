// The live image for real (kiwi/README.md, docs/lab.md): `kiwi/make-recipe-target debian-12
// target` builds the ISO (or takes it from the cache when its inputs are unchanged), then the
// lab boots a master from it as a USB stick and 3 peers over the network from that master, and
// reads the inventories from the stick once the master is powered down. Once the ISO boots
// through a signed shim, the master runs under OVMF with Secure Boot enforced, and a fourth peer,
// peer1's twin, PXE-boots under Secure Boot: both documents must tell the same facts.
// Same as `kiwi/make-recipe-target debian-12 target && npm run lab -- --image <iso>`.
// Needs root, the lab's packages and KIWI's: skipped with the reason when missing, except under
// CI (CI=true, test/support/ci.ts), where that is a failure.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { underCI } from "../support/ci.ts";
import { checkImageMaster, checkPeer, ensureDist, labPrerequisites, REPO, runLab } from "./lab.ts";
import { formatPeerBytes } from "./peer-bytes.ts";
import { cleanEnv } from "./proc.ts";
import { exportStick } from "./stick-export.ts";
import { checkTwins } from "./twin-diff.ts";

const RECIPE = "debian-12";
const driver = join(REPO, "kiwi", "make-recipe-target");

function imagePrerequisites(): string | null {
  const missing = [
    ["kiwi-ng", "kiwi"],
    ["xorriso", "xorriso"],
    ["mksquashfs", "squashfs-tools"],
    ["debootstrap", "debootstrap"],
    ["losetup", "mount"],
    ["partx", "util-linux"],
  ].filter(([cmd]) => spawnSync("sh", ["-c", `command -v ${cmd}`]).status !== 0);
  return missing.length ? `missing: ${missing.map(([c, p]) => `${c} (${p})`).join(", ")}` : null;
}

const why = labPrerequisites() ?? imagePrerequisites();
const skip = why && !underCI ? `the image lab cannot run here: ${why}` : false;
const progress = (line: string) => process.stderr.write(`image-lab: ${line}\n`);

let iso = "";

test("image: dist/post.tgz is built (the ISO carries it)", { skip, timeout: 25 * 60_000 }, () => {
  if (why) assert.fail(`the image lab cannot run in CI: ${why} (see docs/lab.md)`);
  ensureDist(progress);
});

test(`image: kiwi/make-recipe-target ${RECIPE} target builds the live ISO`, {
  skip,
  timeout: 60 * 60_000,
}, async (t) => {
  if (why) assert.fail(`the image lab cannot run in CI: ${why} (see docs/lab.md)`);
  const started = Date.now();
  const code = await new Promise<number | null>((resolve, reject) => {
    const child = spawn(driver, [RECIPE, "target"], {
      cwd: REPO,
      env: cleanEnv(),
      stdio: ["ignore", "pipe", "pipe"],
    });
    const relay = (chunk: Buffer) => {
      for (const line of chunk.toString().split("\n")) if (line) progress(line);
    };
    child.stdout.on("data", relay);
    child.stderr.on("data", relay);
    child.on("error", reject);
    child.on("close", resolve);
  });
  assert.equal(code, 0, "make-recipe-target failed (its output is above)");
  const env = readFileSync(join(REPO, "kiwi", "builds", RECIPE, "image.env"), "utf8");
  const value = (key: string) => new RegExp(`^${key}=(.*)$`, "m").exec(env)?.[1] ?? "";
  iso = value("ISO");
  assert.ok(existsSync(iso), `image.env names ${iso}, which does not exist`);
  // The ISO carries post.tgz for the master (xorriso lists it on the ISO9660 volume).
  const listing = spawnSync("xorriso", ["-indev", iso, "-find", "/recon", "-type", "f"], {
    encoding: "utf8",
  });
  assert.match(listing.stdout, /\/recon\/post(-x86_64)?\.tgz/);
  t.diagnostic(
    `${iso}: ${value("BUILD_SECONDS")} s to build (hash ${value("HASH")}), ` +
      `${((Date.now() - started) / 1000).toFixed(1)} s now (cached when the inputs are unchanged)`,
  );
});

test("image: a master boots the ISO from a USB stick, the peers PXE-boot it, report and power off through IPMI; the inventories and the report are on the stick", {
  skip,
  timeout: 55 * 60_000,
}, async (t) => {
  if (why) assert.fail(`the image lab cannot run in CI: ${why} (see docs/lab.md)`);
  assert.ok(iso, "no ISO: the build step failed");
  const result = await runLab({
    image: iso,
    peers: 3,
    // The peers' squashfs is xz now (fewer bytes per peer), which TCG decompresses slowly, and the
    // Secure Boot twin loads its initrd over TFTP: 4 peers on 2 cores took 550-600 s from power-on
    // to post-x86_64.tgz here. 25 min keeps a loaded CI host from failing on time alone.
    phaseTimeoutMs: 25 * 60_000,
    log: progress,
    // Kept until the stick's data has been exported and re-parsed below.
    keep: true,
  });
  t.after(() => rmSync(result.runDir, { recursive: true, force: true }));
  t.diagnostic(`image lab finished in ${(result.durationMs / 1000).toFixed(1)} s`);
  const master = result.imageMaster;
  t.diagnostic(
    `master firmware ${master?.firmware}, kernel: Secure boot ${master?.secureBoot ?? "not reported"}`,
  );
  t.diagnostic(`bytes per peer:\n${formatPeerBytes(result.bytes.peers)}`);
  await t.test(
    "master: booted from the stick, kept the inventories and the report on it, powered down",
    () => {
      assert.ok(master);
      assert.deepEqual(checkImageMaster(result), [], master.notes.join("\n"));
    },
  );
  const names = ["peer1", "peer2", "peer3", ...(result.twins ? [result.twins[1]] : [])];
  assert.deepEqual(result.peers.map((p) => p.spec.name).sort(), names.sort());
  await t.test("bytes: serve logged what each peer fetched", () => {
    assert.equal(
      result.bytes.unmeasured,
      0,
      "http lines without bytes: the image's serve is older",
    );
    for (const p of result.bytes.peers) assert.ok(p.bytes > 0, `${p.name}: no bytes mapped to it`);
  });
  if (result.twins) {
    await t.test(
      `twins ${result.twins.join(" and ")}: the same facts with and without Secure Boot`,
      () => {
        const differences = checkTwins(result);
        assert.deepEqual(differences, [], `the documents differ:\n${differences.join("\n")}`);
      },
    );
  }
  for (const peer of result.peers) {
    await t.test(`${peer.spec.name} (BMC ${peer.spec.bmc})`, () => {
      const problems = checkPeer(peer);
      assert.deepEqual(
        problems,
        [],
        `${peer.spec.name}: ${problems.join("; ")}\n--- serial console (last lines) ---\n${peer.serialTail}`,
      );
    });
  }
  await t.test(
    "dhcp-only: lease and boot files, no agent: the stick's master lists it as booting",
    () => {
      assert.ok(result.dhcpOnly, "the image lab starts a DHCP-only peer");
      assert.ok(
        result.dhcpOnly.fetched.length >= 3,
        `fetched ${result.dhcpOnly.fetched.join(" ")}`,
      );
      assert.equal(result.dhcpOnly.state, "booting");
    },
  );
  await t.test("the stick: every export target, NetBox twice, reparse", async () => {
    const problems = await exportStick(result.masterRoot, result.peers.length, progress);
    assert.deepEqual(problems, []);
  });
});
