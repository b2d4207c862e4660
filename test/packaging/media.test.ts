// recon-media.sh (kiwi/overlay/usr/lib/recon/) for the files this issue added to the medium:
// the per-architecture post packages, the squashfs the peers boot instead of the ISO, and the
// arm64 kernel, initrd and GRUB. A fake medium directory (RECON_LIVE), copies instead of bind
// mounts (RECON_MEDIA_MOUNT=0). test/kiwi/validate.test.ts covers the older layout.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, describe, it } from "node:test";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const SCRIPT = join(ROOT, "kiwi/overlay/usr/lib/recon/recon-media.sh");
const scratch = mkdtempSync(join(tmpdir(), "recon-media-"));
after(() => rmSync(scratch, { recursive: true, force: true }));

let n = 0;
function medium(files: Record<string, string>, imageEnv: string, cmdline = "rd.live.image") {
  const dir = join(scratch, `m${++n}`);
  const live = join(dir, "live");
  const share = join(dir, "share");
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(live, path)), { recursive: true });
    writeFileSync(join(live, path), text);
  }
  mkdirSync(share, { recursive: true });
  writeFileSync(join(share, "image.env"), imageEnv);
  writeFileSync(join(dir, "cmdline"), `${cmdline}\n`);
  const env = {
    PATH: "/usr/bin:/bin:/usr/sbin:/sbin",
    RECON_CMDLINE: join(dir, "cmdline"),
    RECON_SHARE: share,
    RECON_LIVE: live,
    RECON_LIVEDEV: join(dir, "livedev"),
    RECON_MEDIA_RUN: join(dir, "run"),
    RECON_MEDIA_MOUNT: "0",
  };
  const run = (mode: string) => spawnSync("sh", [SCRIPT, mode], { env, encoding: "utf8" });
  const read = (path: string) =>
    existsSync(join(share, path)) ? readFileSync(join(share, path), "utf8") : null;
  return { run, read };
}

const IMAGE_ENV = [
  "RECON_IMAGE_NAME=recon",
  "RECON_IMAGE_VERSION=0.1.0",
  "RECON_IMAGE_KERNEL=linux",
  "RECON_IMAGE_INITRD=initrd",
  "RECON_IMAGE_SQUASHFS=install/recon/squashfs.img",
  "RECON_IMAGE_AARCH64=install/recon/aarch64",
  "",
].join("\n");

describe("recon-media.sh: per-architecture packages, squashfs, arm64", () => {
  it("lays out both packages, post.tgz as the x86_64 one, the squashfs and the arm64 files", () => {
    const m = medium(
      {
        "boot/x86_64/loader/linux": "kernel",
        "boot/x86_64/loader/initrd": "initrd",
        "LiveOS/squashfs.img": "squashfs",
        "recon/post-x86_64.tgz": "post x86_64",
        "recon/post-aarch64.tgz": "post aarch64",
        "recon/aarch64/linux": "arm kernel",
        "recon/aarch64/initrd": "arm initrd",
        "recon/aarch64/grubaa64.efi": "arm grub",
      },
      IMAGE_ENV,
    );
    const r = m.run("layout");
    assert.equal(r.status, 0, r.stderr);
    assert.equal(m.read("post-x86_64.tgz"), "post x86_64");
    assert.equal(m.read("post-aarch64.tgz"), "post aarch64");
    assert.equal(m.read("post.tgz"), "post x86_64");
    assert.equal(m.read("install/recon/linux"), "kernel");
    assert.equal(m.read("install/recon/squashfs.img"), "squashfs");
    assert.equal(m.read("install/recon/aarch64/linux"), "arm kernel");
    assert.equal(m.read("install/recon/aarch64/initrd"), "arm initrd");
    assert.equal(m.read("install/recon/aarch64/squashfs.img"), null);
    assert.equal(m.read("boot/grubaa64.efi"), "arm grub");
    assert.match(r.stderr, /serving LiveOS\/squashfs\.img as install\/recon\/squashfs\.img/);
  });

  it("lays out no squashfs on a peer and does not warn about it there", () => {
    const m = medium(
      {},
      IMAGE_ENV,
      "root=live:http://10.0.0.1/install/recon/squashfs.img pxeaddr=10.0.0.1",
    );
    const r = m.run("layout");
    assert.equal(r.status, 0, r.stderr);
    assert.equal(m.read("install/recon/squashfs.img"), null);
    assert.doesNotMatch(r.stderr, /squashfs/);
  });

  it("does not copy the ISO when the peers boot the squashfs", () => {
    const m = medium(
      { "LiveOS/squashfs.img": "squashfs" },
      `${IMAGE_ENV}RECON_IMAGE_ISO=install/recon/recon.iso\n`,
    );
    const r = m.run("iso");
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /peers boot install\/recon\/squashfs\.img: the ISO is not copied/);
    assert.equal(m.read("install/recon/recon.iso"), null);
  });

  it("keeps an older medium's post.tgz, and says when the squashfs is missing", () => {
    const m = medium({ "recon/post.tgz": "both agents" }, IMAGE_ENV);
    const r = m.run("layout");
    assert.equal(r.status, 0, r.stderr);
    assert.equal(m.read("post.tgz"), "both agents");
    assert.equal(m.read("post-x86_64.tgz"), null);
    assert.match(r.stderr, /no LiveOS\/squashfs\.img: peers have no root to boot/);
  });
});
