// The BUILT live image (kiwi/debian-12) for the tests that read it (firmware.test.ts,
// secure-boot.test.ts): which ISO, and how to take files off it without mounting anything.
// xorriso takes files off the ISO9660 volume (this kernel cannot mount iso9660), unsquashfs
// unpacks LiveOS/squashfs.img, and debugfs copies paths out of its ext4 rootfs.img.
// The ISO is the one kiwi/builds/debian-12/image.env names (make-recipe-target target, which the
// image lab runs first). When there is none, or it was built from other inputs than the
// description now has: under CI the tests build it through the driver (the image lab then takes
// it from the cache), elsewhere they skip with the reason.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { underCI } from "../support/ci.ts";

const REPO = join(import.meta.dirname, "..", "..");
const RECIPE = "debian-12";
const driver = join(REPO, "kiwi", "make-recipe-target");
// RECON_BUILDS_DIR: where the driver puts its results (kiwi/builds), as for the driver.
const imageEnv = join(
  process.env.RECON_BUILDS_DIR || join(REPO, "kiwi", "builds"),
  RECIPE,
  "image.env",
);

export function sh(cmd: string, args: string[], timeout = 10 * 60_000) {
  const r = spawnSync(cmd, args, { encoding: "utf8", timeout, maxBuffer: 64 * 1024 * 1024 });
  return { status: r.status, out: `${r.stdout ?? ""}${r.stderr ?? ""}`, stdout: r.stdout ?? "" };
}

const envValue = (text: string, key: string) =>
  new RegExp(`^${key}=(.*)$`, "m").exec(text)?.[1] ?? "";

/** The input hash the description has now (`make-recipe-target stage`, offline, no root). */
function currentHash(): string {
  const r = sh(driver, [RECIPE, "stage"], 120_000);
  return /^hash (\S+)$/m.exec(r.stdout)?.[1] ?? "";
}

/** The built ISO for the current description, or why there is none. */
function builtIso(): { iso: string } | { why: string } {
  if (!existsSync(imageEnv)) return { why: `no built ISO (${imageEnv} is missing)` };
  const env = readFileSync(imageEnv, "utf8");
  const iso = envValue(env, "ISO");
  if (!iso || !existsSync(iso))
    return { why: `image.env names ${iso || "no ISO"}, which is missing` };
  const built = envValue(env, "HASH");
  const now = currentHash();
  if (built !== now) {
    return {
      why: `the built ISO is from other inputs (hash ${built}) than the description (${now})`,
    };
  }
  return { iso };
}

/** The first of TOOLS ([command, Debian package]) that is missing, as a reason. */
function missingTool(tools: [string, string][]): string | null {
  for (const [cmd, pkg] of tools) {
    if (sh("sh", ["-c", `command -v ${cmd}`]).status !== 0) return `${cmd} missing (${pkg})`;
  }
  return null;
}

/** The built ISO, or why a test reading it cannot run (TOOLS: what the test runs). */
export function locateBuiltIso(tools: [string, string][]): { iso: string } | { why: string } {
  const missing = missingTool([["xorriso", "xorriso"], ...tools]);
  if (missing) return { why: missing };
  const found = builtIso();
  if ("iso" in found || !underCI) return found;
  // CI: build it the way the image lab does (from the cache when the inputs are unchanged).
  const r = spawnSync(driver, [RECIPE, "target"], {
    cwd: REPO,
    stdio: ["ignore", "inherit", "inherit"],
    timeout: 60 * 60_000,
  });
  if (r.status !== 0) return { why: `make-recipe-target ${RECIPE} target failed (${r.status})` };
  return builtIso();
}

/** Copies FILES (ISO path -> local path) off the ISO9660 volume; the xorriso result. */
export function extractFromIso(iso: string, files: Record<string, string>) {
  const args = ["-osirrox", "on", "-indev", iso];
  for (const [from, to] of Object.entries(files)) args.push("-extract", from, to);
  return sh("xorriso", args);
}

/**
 * The image's root file system, as far as DIRS (absolute paths in the image) go, under
 * SCRATCH/root: the squashfs from the ISO unpacked, then, in KIWI's dmsquash layout (an ext4
 * LiveOS/rootfs.img in the squashfs), each of DIRS copied out with debugfs. Returns the root
 * directory, or the output of the step that failed.
 */
export function extractRoot(
  iso: string,
  scratch: string,
  dirs: string[],
): { root: string } | { failed: string } {
  const squashImg = join(scratch, "squashfs.img");
  const x = extractFromIso(iso, { "/LiveOS/squashfs.img": squashImg });
  if (x.status !== 0) return { failed: x.out };
  const squash = join(scratch, "squashfs");
  const u = sh("unsquashfs", ["-no-progress", "-d", squash, squashImg]);
  rmSync(squashImg, { force: true });
  if (u.status !== 0) return { failed: u.out };
  const rootfsImg = join(squash, "LiveOS", "rootfs.img");
  if (!existsSync(rootfsImg)) return { root: squash };
  const root = join(scratch, "root");
  for (const dir of dirs) {
    const dest = join(root, dirname(dir));
    mkdirSync(dest, { recursive: true });
    const d = sh("debugfs", ["-R", `rdump ${dir} ${dest}`, rootfsImg]);
    if (d.status !== 0) return { failed: d.out };
  }
  rmSync(squash, { recursive: true, force: true });
  return { root };
}
