// recon-data.sh (kiwi/overlay/usr/lib/recon/): where the live master keeps its inventories, run
// against real block devices: a loop device laid out like the KIWI ISO on a stick (MBR with the
// ISO9660 partition at sector 64 and the EFI partition after it, then free space), sfdisk,
// partx, mkfs.ext4, fsck and mount for real. Needs root; skipped with the reason otherwise,
// except under CI. The image lab (test/lab/image.test.ts) runs it inside the booted image.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { underCI } from "../support/ci.ts";

const script = join(
  import.meta.dirname,
  "..",
  "..",
  "kiwi",
  "overlay",
  "usr",
  "lib",
  "recon",
  "recon-data.sh",
);

function sh(cmd: string, args: string[], input?: string) {
  const r = spawnSync(cmd, args, { encoding: "utf8", input });
  return { status: r.status, out: `${r.stdout ?? ""}${r.stderr ?? ""}` };
}

function prerequisite(): string | null {
  if (process.geteuid?.() !== 0) return "needs root (loop devices, mount)";
  for (const [cmd, pkg] of [
    ["losetup", "mount"],
    ["sfdisk", "fdisk"],
    ["partx", "util-linux"],
    ["mkfs.ext4", "e2fsprogs"],
  ]) {
    if (sh("sh", ["-c", `command -v ${cmd}`]).status !== 0) return `${cmd} missing (${pkg})`;
  }
  return null;
}

const why = prerequisite();
const skip = why && !underCI ? why : false;
const scratch = mkdtempSync(join(tmpdir(), "recon-data-"));
const loops: string[] = [];
after(() => {
  for (const loop of loops) {
    sh("umount", [`${loop}p3`]);
    sh("partx", ["--delete", loop]);
    sh("losetup", ["--detach", loop]);
  }
  rmSync(scratch, { recursive: true, force: true });
});

const MiB = 1024 * 1024;

/** A "stick" of `mib` MiB: the KIWI ISO's partition table (sectors from a real build), then free. */
function stick(name: string, mib: number) {
  const dir = join(scratch, name);
  mkdirSync(dir);
  const img = join(dir, "stick.img");
  writeFileSync(img, "");
  assert.equal(sh("truncate", ["-s", String(mib * MiB), img]).status, 0);
  const table = sh(
    "sfdisk",
    ["-q", img],
    "label: dos\nlabel-id: 0x00000000\nstart=64, size=689264, type=cd, bootable\nstart=689328, size=40960, type=ef\n",
  );
  assert.equal(table.status, 0, table.out);
  const loop = sh("losetup", ["--find", "--show", img]).out.trim();
  assert.match(loop, /^\/dev\/loop\d+$/);
  loops.push(loop);
  sh("partx", ["--add", loop]); // this host's kernel may not scan loop partitions by itself
  symlinkSync(`${loop}p1`, join(dir, "livedev"));
  writeFileSync(
    join(dir, "cmdline"),
    "BOOT_IMAGE=/boot/x86_64/loader/linux root=live:CDLABEL=RECON\n",
  );
  const env = {
    ...process.env,
    RECON_CMDLINE: join(dir, "cmdline"),
    RECON_DATA: join(dir, "data"),
    RECON_LIVEDEV: join(dir, "livedev"),
    // Labels are global: each stick gets its own so tests and the host's disks never meet.
    RECON_DATA_LABEL: `RD-${name}`.slice(0, 16),
    RECON_DATA_DISK_TYPES: "disk loop",
  };
  const run = (mode: "start" | "stop") => {
    const r = spawnSync("sh", [script, mode], { encoding: "utf8", env });
    return { status: r.status, out: `${r.stdout}${r.stderr}` };
  };
  const partitions = () =>
    sh("sfdisk", ["-q", "--dump", loop])
      .out.split("\n")
      .filter((l) => l.includes("start="));
  return { dir, loop, env, run, partitions };
}

const mounted = (dir: string) => sh("mountpoint", ["-q", dir]).status === 0;

describe("recon-data.sh", { skip }, () => {
  test("first boot: a RECON-DATA partition is added after the image and mounted; the next boot finds it", () => {
    if (why) assert.fail(why);
    const s = stick("first", 512);
    const first = s.run("start");
    assert.equal(first.status, 0, first.out);
    assert.match(first.out, /adding a partition to \S+ in the \d+ MiB after the image/);
    const parts = s.partitions();
    assert.equal(parts.length, 3, parts.join("\n"));
    // The image's two partitions are as they were; the new one starts after them.
    assert.match(parts[0] ?? "", /start=\s*64, size=\s*689264, type=cd, bootable/);
    assert.match(parts[1] ?? "", /start=\s*689328, size=\s*40960, type=ef/);
    const start3 = Number(/start=\s*(\d+)/.exec(parts[2] ?? "")?.[1]);
    assert.ok(start3 >= 689328 + 40960, `partition 3 starts at ${start3}`);
    assert.ok(mounted(s.env.RECON_DATA), "mounted at RECON_DATA");
    const label = sh("blkid", ["-c", "/dev/null", "-o", "value", "-s", "LABEL", `${s.loop}p3`]);
    assert.equal(label.out.trim(), s.env.RECON_DATA_LABEL);
    writeFileSync(join(s.env.RECON_DATA, "kept"), "inventory");
    const stop = s.run("stop");
    assert.equal(stop.status, 0, stop.out);
    assert.ok(!mounted(s.env.RECON_DATA), "unmounted by stop");

    const again = s.run("start");
    assert.equal(again.status, 0, again.out);
    assert.doesNotMatch(again.out, /adding/);
    assert.equal(s.partitions().length, 3, "no second partition");
    assert.equal(readFileSync(join(s.env.RECON_DATA, "kept"), "utf8"), "inventory");
    assert.equal(s.run("stop").status, 0);
  });

  test("recon.data=ram and recon.data=keep never partition the stick", () => {
    if (why) assert.fail(why);
    const s = stick("policy", 512);
    for (const policy of ["ram", "keep"]) {
      writeFileSync(s.env.RECON_CMDLINE, `root=live:CDLABEL=RECON recon.data=${policy}\n`);
      const r = s.run("start");
      assert.equal(r.status, 0, r.out);
      assert.match(r.out, /WARNING: .*kept in RAM only/);
      assert.equal(s.partitions().length, 2, `recon.data=${policy} left the table alone`);
      assert.ok(!mounted(s.env.RECON_DATA));
    }
  });

  test("a stick with no room after the image keeps the inventories in RAM, with a warning", () => {
    if (why) assert.fail(why);
    const s = stick("full", 380); // the image ends at 356.6 MiB: about 23 MiB left
    const r = s.run("start");
    assert.equal(r.status, 0, r.out);
    assert.match(r.out, /only \d+ MiB free .* kept in RAM only/);
    assert.equal(s.partitions().length, 2);
  });

  test("a boot medium that is not a disk (a CD, an ISO file on a loop device) is never partitioned", () => {
    if (why) assert.fail(why);
    const s = stick("notdisk", 512);
    const r = spawnSync("sh", [script, "start"], {
      encoding: "utf8",
      env: { ...s.env, RECON_DATA_DISK_TYPES: "disk" },
    });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /is not a disk .* kept in RAM only/);
    assert.equal(s.partitions().length, 2);
  });
});
