// The firmware of the BUILT live image (kiwi/debian-12, issue 15): every NIC, HBA and RAID module
// in the image's root file system, each firmware file it requests (`modinfo -F firmware`), and
// whether the image has it, read from the ISO itself: xorriso takes LiveOS/squashfs.img and the
// initrd off the ISO9660 volume (this kernel cannot mount iso9660), unsquashfs unpacks it, and
// debugfs copies /usr/lib/modules and /usr/lib/firmware out of its ext4 rootfs.img, no mount.
// Fails when a file Debian 12 ships is missing from the image, or from the initrd for a NIC driver
// the initrd carries (livenet brings the link up before the root exists). Prints the figure
// (requested vs present) and every module whose firmware Debian does not ship.
// Which ISO, and when it is built or skipped: built-image.ts.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import {
  existsSync,
  lstatSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join, posix, relative } from "node:path";
import { after, describe, test } from "node:test";
import { underCI } from "../support/ci.ts";
import { extractFromIso, extractRoot, locateBuiltIso, sh } from "./built-image.ts";

/** Where the NIC, HBA and RAID drivers live in the kernel's module tree. */
const SCOPE = [
  "drivers/net/ethernet",
  "drivers/scsi",
  "drivers/message",
  "drivers/ata",
  "drivers/nvme",
];

/**
 * Files the image's drivers request that Debian 12 does not ship: neither in non-free-firmware
 * (its Contents-all.gz and Contents-amd64.gz, bookworm) nor in main's firmware-linux-free
 * (dpkg-deb -c). Kernel 6.1.0 of bookworm. A file here that the image has is an error too, so
 * the list cannot go stale.
 */
const NOT_IN_DEBIAN: Record<string, string[]> = {
  acenic: ["acenic/tg1.bin", "acenic/tg2.bin"],
  aic94xx: ["aic94xx-seq.fw"],
  cassini: ["sun/cassini.bin"],
  nfp: [
    "netronome/nic_AMDA0058-0011_2x40.nffw",
    "netronome/nic_AMDA0058-0012_2x40.nffw",
    "netronome/nic_AMDA0099-0001_1x10_1x25.nffw",
  ],
  smc91c92_cs: ["ositech/Xilinx7OD.bin"],
  starfire: ["adaptec/starfire_rx.bin", "adaptec/starfire_tx.bin"],
  wd719x: ["wd719x-risc.bin", "wd719x-wcs.bin"],
};

/** NIC drivers of the servers in issue 15: the initrd must carry them (the boot NIC). */
const BOOT_NIC_DRIVERS = [
  "bnx2",
  "bnx2x",
  "tg3",
  "qed",
  "netxen_nic",
  "qlcnic",
  "cxgb4",
  "nfp",
  "r8169",
  "ice",
];

type CpioEntry = { name: string; mode: number; target: string | null };

/**
 * The entries of an initramfs: concatenated "newc" cpio archives (070701), each ending with
 * TRAILER!!!. An uncompressed first archive (early microcode) may precede the compressed main
 * one; `rest` is the offset where the uncompressed part ends.
 */
function parseNewc(buf: Buffer): { entries: CpioEntry[]; rest: number } {
  const entries: CpioEntry[] = [];
  let off = 0;
  for (;;) {
    while (off < buf.length && buf[off] === 0) off++;
    if (off + 110 > buf.length || buf.toString("latin1", off, off + 6) !== "070701") break;
    const field = (i: number) =>
      Number.parseInt(buf.toString("latin1", off + 6 + i * 8, off + 14 + i * 8), 16);
    const mode = field(1);
    const fileSize = field(6);
    const nameSize = field(11);
    const nameStart = off + 110;
    const name = buf.toString("utf8", nameStart, nameStart + nameSize - 1);
    const dataStart = (nameStart + nameSize + 3) & ~3;
    const isLink = (mode & 0o170000) === 0o120000;
    const target = isLink ? buf.toString("utf8", dataStart, dataStart + fileSize) : null;
    off = (dataStart + fileSize + 3) & ~3;
    if (name === "TRAILER!!!") continue;
    entries.push({ name: name.replace(/^\.?\//, ""), mode, target });
  }
  return { entries, rest: off };
}

/** The initrd's entries, whatever dracut compressed it with. */
function initrdEntries(file: string): CpioEntry[] {
  const raw = readFileSync(file);
  const early = parseNewc(raw);
  const body = raw.subarray(early.rest);
  if (body.length === 0) return early.entries;
  const magic = body.subarray(0, 6).toString("hex");
  const tool = magic.startsWith("1f8b")
    ? "gzip"
    : magic.startsWith("28b52ffd")
      ? "zstd"
      : magic.startsWith("fd377a585a00")
        ? "xz"
        : null;
  assert.ok(tool, `initrd: unknown compression (magic ${magic})`);
  const r = spawnSync(tool, ["-dc"], { input: body, maxBuffer: 2 * 1024 * 1024 * 1024 });
  assert.equal(r.status, 0, `${tool} -dc of the initrd failed: ${r.stderr}`);
  return [...early.entries, ...parseNewc(r.stdout).entries];
}

/** PATH inside the extracted tree ROOT, following links the way the image would (absolute = ROOT). */
function resolveIn(root: string, path: string, hops = 0): string | null {
  const full = join(root, path);
  let st: ReturnType<typeof lstatSync>;
  try {
    st = lstatSync(full);
  } catch {
    return null;
  }
  if (!st.isSymbolicLink()) return path;
  if (hops > 16) return null;
  const target = readlinkSync(full);
  const next = target.startsWith("/") ? target : posix.join(posix.dirname(path), target);
  return resolveIn(root, posix.normalize(next).replace(/^\/+/, ""), hops + 1);
}

function kernelModules(dir: string): string[] {
  const out: string[] = [];
  if (!existsSync(dir)) return out;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...kernelModules(p));
    else if (/\.ko(\.xz|\.zst|\.gz)?$/.test(name)) out.push(p);
  }
  return out;
}

const moduleName = (file: string) => file.replace(/^.*\//, "").replace(/\.ko(\.\w+)?$/, "");

const found = locateBuiltIso([
  ["unsquashfs", "squashfs-tools"],
  ["debugfs", "e2fsprogs"],
  ["modinfo", "kmod"],
]);
const why = "why" in found ? found.why : null;
const skip = why && !underCI ? why : false;
const scratch = mkdtempSync(join(tmpdir(), "recon-firmware-"));
after(() => rmSync(scratch, { recursive: true, force: true }));

describe("the built image's firmware", { skip }, () => {
  test("every firmware file Debian 12 ships for the image's NIC, HBA and RAID drivers is in the image, and in the initrd for its NIC drivers", (t) => {
    if (why || !("iso" in found)) assert.fail(`no image to check: ${why}`);
    const iso = found.iso;
    const x = extractFromIso(iso, { "/boot/x86_64/loader/initrd": join(scratch, "initrd") });
    assert.equal(x.status, 0, x.out);
    const extracted = extractRoot(iso, scratch, ["/usr/lib/modules", "/usr/lib/firmware"]);
    if ("failed" in extracted) assert.fail(extracted.failed);
    const root = extracted.root;
    const firmwareDir = "usr/lib/firmware";
    // No firmware directory at all is not an error of its own: every request is then missing.
    if (!existsSync(join(root, firmwareDir))) t.diagnostic("the image has no /usr/lib/firmware");
    const kernels = readdirSync(join(root, "usr/lib/modules"));
    assert.equal(kernels.length, 1, `kernels in the image: ${kernels.join(", ")}`);
    const kernel = kernels[0] ?? "";
    const moduleTree = join(root, "usr/lib/modules", kernel, "kernel");

    const modules = SCOPE.flatMap((d) => kernelModules(join(moduleTree, d)));
    type Request = { module: string; path: string; file: string; present: boolean };
    const requests: Request[] = [];
    for (const file of modules) {
      const m = sh("modinfo", ["-F", "firmware", file]);
      assert.equal(m.status, 0, m.out);
      for (const fw of m.stdout.split("\n").filter(Boolean)) {
        const present = ["", ".xz", ".zst"].some(
          (ext) => resolveIn(root, `${firmwareDir}/${fw}${ext}`) !== null,
        );
        requests.push({
          module: moduleName(file),
          path: relative(moduleTree, file),
          file: fw,
          present,
        });
      }
    }
    const requesting = new Set(requests.map((r) => r.module));
    const present = requests.filter((r) => r.present);
    const missing = requests.filter((r) => !r.present);
    const notShipped = missing.filter((r) => NOT_IN_DEBIAN[r.module]?.includes(r.file));
    const shippedButMissing = missing.filter((r) => !NOT_IN_DEBIAN[r.module]?.includes(r.file));
    const listedButPresent = present.filter((r) => NOT_IN_DEBIAN[r.module]?.includes(r.file));

    for (const r of requests) {
      t.diagnostic(`${r.path}: ${r.file}: ${r.present ? "present" : "MISSING"}`);
    }
    const byModule = (rs: Request[]) =>
      [...new Set(rs.map((r) => r.module))]
        .map(
          (m) =>
            `${m} (${rs
              .filter((r) => r.module === m)
              .map((r) => r.file)
              .join(", ")})`,
        )
        .join("; ");
    t.diagnostic(
      `kernel ${kernel}: ${modules.length} NIC, HBA and RAID modules, ${requesting.size} request ` +
        `firmware: ${requests.length} files requested, ${present.length} present, ` +
        `${missing.length} missing`,
    );
    t.diagnostic(`firmware Debian 12 does not ship: ${byModule(notShipped) || "none"}`);
    assert.deepEqual(
      shippedButMissing.map((r) => `${r.module}: ${r.file}`),
      [],
      "firmware that Debian 12 ships is missing from the image (add its package to config.xml)",
    );
    assert.deepEqual(
      listedButPresent.map((r) => `${r.module}: ${r.file}`),
      [],
      "NOT_IN_DEBIAN names files the image has: drop them from the list",
    );

    // The initrd: livenet needs the boot NIC's driver and firmware before the root exists.
    const entries = initrdEntries(join(scratch, "initrd"));
    const names = new Set(entries.map((e) => e.name));
    const inInitrd = new Set(
      entries
        .filter((e) => /\/kernel\/drivers\/net\/ethernet\/.*\.ko(\.\w+)?$/.test(e.name))
        .map((e) => moduleName(e.name)),
    );
    const firmwareIn = (fw: string) =>
      ["usr/lib/firmware", "lib/firmware"].some((d) =>
        ["", ".xz", ".zst"].some((ext) => names.has(`${d}/${fw}${ext}`)),
      );
    const nicRequests = present.filter(
      (r) => r.path.startsWith("drivers/net/ethernet/") && inInitrd.has(r.module),
    );
    const nicMissing = nicRequests.filter((r) => !firmwareIn(r.file));
    t.diagnostic(
      `initrd: ${inInitrd.size} NIC modules; their firmware in the image: ${nicRequests.length} ` +
        `files, ${nicRequests.length - nicMissing.length} in the initrd`,
    );
    assert.deepEqual(
      BOOT_NIC_DRIVERS.filter((m) => !inInitrd.has(m)),
      [],
      "NIC drivers missing from the initrd",
    );
    assert.deepEqual(
      nicMissing.map((r) => `${r.module}: ${r.file}`),
      [],
      "firmware of NIC drivers in the initrd that the initrd lacks",
    );
    t.diagnostic(
      `ISO ${statSync(iso).size} bytes, initrd ${statSync(join(scratch, "initrd")).size} bytes`,
    );
  });
});
