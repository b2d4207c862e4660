// The live image descriptions, checked offline and without building:
// KIWI's own RELAX NG + Schematron validation (kiwi-ng image info), shellcheck
// on every shell script of the descriptions and the driver, the driver's help
// texts, its rendering of the apt repositories and the rules on secrets.
import assert from "node:assert/strict";
import { execFile, spawnSync } from "node:child_process";
import {
  cpSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { underCI } from "../support/ci.ts";

const repo = join(import.meta.dirname, "..", "..");
const kiwiDir = join(repo, "kiwi");
const driver = join(kiwiDir, "make-recipe-target");
const recipes = ["debian-12", "suse-leap-15.6"];
const scratch = mkdtempSync(join(tmpdir(), "recon-kiwi-test-"));
after(() => rmSync(scratch, { recursive: true, force: true }));

type Result = { status: number | null; out: string; error?: Error | undefined };

function spawnOptions(env: NodeJS.ProcessEnv) {
  // cwd outside the repo: a ./kiwi directory would shadow KIWI's python package
  return {
    cwd: scratch,
    encoding: "utf8" as const,
    env: { ...process.env, ...env },
    timeout: 120_000,
  };
}

function runSync(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): Result {
  const r = spawnSync(cmd, args, spawnOptions(env));
  return { status: r.status, out: `${r.stdout ?? ""}${r.stderr ?? ""}`, error: r.error };
}

// Asynchronous, so that the suites below run side by side.
function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<Result> {
  return new Promise((resolve) => {
    execFile(cmd, args, spawnOptions(env), (error, stdout, stderr) => {
      const code = error && typeof error.code === "number" ? error.code : error ? null : 0;
      resolve({
        status: code,
        out: `${stdout}${stderr}`,
        error: error && code === null ? error : undefined,
      });
    });
  });
}

function available(cmd: string, args: string[]): boolean {
  return !runSync(cmd, args).error;
}

// A missing tool fails in CI (it must be installed there) and skips elsewhere.
function need(cmd: string, args: string[], pkg: string): string | false {
  if (available(cmd, args)) return false;
  if (underCI) assert.fail(`${cmd} is not installed (apt-get install ${pkg})`);
  return `${cmd} not installed (apt-get install ${pkg})`;
}

const noKiwi = need("kiwi-ng", ["--version"], "kiwi kiwi-systemdeps-core");
const noShellcheck = need("shellcheck", ["--version"], "shellcheck");

function walk(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (name === "builds") continue;
    if (statSync(p).isDirectory()) out.push(...walk(p));
    else out.push(p);
  }
  return out;
}

const kiwiFiles = walk(kiwiDir);
const isShell = (f: string) =>
  /^#!.*\b(ba)?sh\b/.test(readFileSync(f, "utf8").split("\n")[0] ?? "");
const shellScripts = [...kiwiFiles, ...walk(import.meta.dirname)].filter(isShell);

// The suites and their tests run side by side (each test spawns its own processes).
describe("live image (kiwi/)", { concurrency: true }, () => {
  describe("KIWI descriptions (kiwi-ng image info: RELAX NG + Schematron, offline)", {
    concurrency: true,
  }, () => {
    for (const recipe of recipes) {
      test(`${recipe} is a valid KIWI 9.24 description`, { skip: noKiwi }, async () => {
        const r = await run("kiwi-ng", ["image", "info", "--description", join(kiwiDir, recipe)]);
        assert.equal(r.status, 0, r.out);
        assert.match(r.out, /"image": "recon"/);
      });
    }

    test("an attribute KIWI 9.24 dropped (hybrid) is rejected: validation really runs", {
      skip: noKiwi,
    }, async () => {
      const bad = join(scratch, "bad");
      mkdirSync(bad, { recursive: true });
      const xml = readFileSync(join(kiwiDir, "debian-12", "config.xml"), "utf8");
      writeFileSync(
        join(bad, "config.xml"),
        xml.replace('<type image="iso" ', '<type image="iso" hybrid="true" '),
      );
      const r = await run("kiwi-ng", ["image", "info", "--description", bad]);
      assert.notEqual(r.status, 0, r.out);
      assert.match(r.out, /Invalid attribute hybrid/);
    });
  });

  describe("the descriptions' content", { concurrency: true }, () => {
    const debian = readFileSync(join(kiwiDir, "debian-12", "config.xml"), "utf8");
    const suse = readFileSync(join(kiwiDir, "suse-leap-15.6", "config.xml"), "utf8");

    test("debian-12: apt, signed Debian archive, dmsquash ISO with shim (uefi) and an xz squashfs", async () => {
      assert.match(debian, /<packagemanager>apt<\/packagemanager>/);
      assert.match(debian, /<repository type="apt-deb"[^>]*distribution="bookworm"/);
      assert.match(debian, /debian-archive-keyring\.gpg/);
      assert.match(
        debian,
        /<type image="iso"[^>]*flags="dmsquash"[^>]*firmware="uefi"[^>]*squashfscompression="xz"/,
      );
      // firmware="uefi" boots Debian's signed shim and GRUB, which must be in the image root
      for (const pkg of ["shim-signed", "grub-efi-amd64-signed"])
        assert.match(debian, new RegExp(`<package name="${pkg}"/>`), pkg);
      for (const pkg of [
        "linux-image-amd64",
        "systemd",
        "systemd-sysv",
        "dracut",
        "dracut-network",
        "dracut-live",
        "dbus",
        "procps",
        "iproute2",
        "curl",
        "dmidecode",
        "pciutils",
        "util-linux",
        "lshw",
        "ipmitool",
        "nvme-cli",
        "smartmontools",
        "lldpd",
        "dnsmasq",
        "ipxe",
        "ca-certificates",
        "kmod",
        "udev",
        "isc-dhcp-client",
      ]) {
        assert.match(debian, new RegExp(`<package name="${pkg}"/>`), pkg);
      }
    });

    test("suse-leap-15.6: the original's DracutLive profile and ISO type", async () => {
      assert.match(suse, /<profile name="DracutLive"/);
      assert.match(suse, /<type image="iso" primary="true" flags="dmsquash" firmware="efi"/);
      assert.match(suse, /<packages profiles="DracutLive" type="bootstrap">/);
      assert.match(
        readFileSync(join(kiwiDir, "suse-leap-15.6", "config.sh"), "utf8"),
        /suseInsertService recon/,
      );
    });

    test("the initrd gets network-legacy, url-lib, livenet and dmsquash-live", async () => {
      const conf = readFileSync(
        join(kiwiDir, "overlay", "etc", "dracut.conf.d", "recon-live.conf"),
        "utf8",
      );
      for (const m of ["network-legacy", "url-lib", "livenet", "dmsquash-live"])
        assert.match(conf, new RegExp(` ${m} `));
    });

    test("no mirror host, password hash, private key or public DNS server in kiwi/", async () => {
      for (const f of kiwiFiles) {
        const text = readFileSync(f, "utf8");
        assert.doesNotMatch(
          text,
          /deb\.debian\.org|download\.opensuse\.org|ftp\.[a-z]+\.debian\.org/,
          f,
        );
        assert.doesNotMatch(text, /\$(1|5|6|y|2[aby])\$[./A-Za-z0-9]{4,}/, f);
        assert.doesNotMatch(text, /-----BEGIN [A-Z ]*PRIVATE KEY-----/, f);
        assert.doesNotMatch(
          text,
          /\b(8\.8\.8\.8|8\.8\.4\.4|1\.1\.1\.1|1\.0\.0\.1|9\.9\.9\.9|208\.67\.222\.222)\b/,
          f,
        );
        if (f.endsWith(".xml")) assert.doesNotMatch(text, /<source path="(https?|ftp):/, f);
      }
    });
  });

  describe("shellcheck", { concurrency: true }, () => {
    test("finds the driver and both config.sh among the scripts", async () => {
      for (const f of [
        driver,
        join(kiwiDir, "debian-12", "config.sh"),
        join(kiwiDir, "suse-leap-15.6", "config.sh"),
      ]) {
        assert.ok(shellScripts.includes(f), f);
      }
    });

    test("config.sh, the overlays' scripts, make-recipe-target and test/kiwi scripts are clean", {
      skip: noShellcheck,
    }, async () => {
      const r = await run("shellcheck", shellScripts);
      assert.equal(r.status, 0, r.out);
    });
  });

  describe("make-recipe-target (no build)", { concurrency: true }, () => {
    test("without arguments: the usage text, exit 1", async () => {
      const r = await run(driver, []);
      assert.equal(r.status, 1);
      assert.match(r.out, /Usage: make-recipe-target <recipe> <target>/);
      assert.match(r.out, /debian-12/);
      assert.match(r.out, /suse-leap-15\.6/);
    });

    test("with only a recipe: the possible targets, exit 1; 'all' prints them too", async () => {
      const r = await run(driver, ["debian-12"]);
      assert.equal(r.status, 1);
      for (const t of ["'target'", "'http'", "'clean'"]) assert.match(r.out, new RegExp(t));
      assert.equal((await run(driver, ["debian-12", "all"])).status, 0);
    });

    test("an unknown recipe or target is an error", async () => {
      assert.notEqual((await run(driver, ["nope", "target"])).status, 0);
      const r = await run(driver, ["debian-12", "nope"]);
      assert.notEqual(r.status, 0);
      assert.match(r.out, /unknown target/);
    });

    test("stage renders the repositories from the machine's apt sources, offline", async () => {
      const aptEtc = join(scratch, "apt");
      mkdirSync(join(aptEtc, "sources.list.d"), { recursive: true });
      writeFileSync(
        join(aptEtc, "sources.list.d", "debian.sources"),
        [
          "Types: deb",
          "# a comment",
          "URIs: http://mirror.invalid/debian/",
          "Suites: bookworm bookworm-updates",
          "Components: main",
          "",
          "Types: deb",
          "URIs: http://mirror.invalid/debian-security",
          "Suites: bookworm-security",
          "Components: main",
          "",
        ].join("\n"),
      );
      const builds = join(scratch, "builds");
      const env = {
        RECON_APT_ETC: aptEtc,
        RECON_BUILDS_DIR: builds,
        RECON_DEBIAN_MIRROR: "",
        RECON_DEBIAN_SECURITY_MIRROR: "",
      };
      const r = await run(driver, ["debian-12", "stage"], env);
      assert.equal(r.status, 0, r.out);
      const stage = join(builds, "debian-12", "stage");
      const xml = readFileSync(join(stage, "config.xml"), "utf8");
      assert.doesNotMatch(xml, /@RECON_/);
      assert.match(xml, /<source path="http:\/\/mirror\.invalid\/debian">/);
      assert.match(xml, /<source path="http:\/\/mirror\.invalid\/debian-security">/);
      assert.match(xml, /<version>\d+\.\d+\.\d+<\/version>/);
      assert.ok(
        statSync(join(stage, "root", "etc", "systemd", "system", "recon.service")).isFile(),
      );
      assert.ok(statSync(join(stage, "root", "etc", "dracut.conf.d", "recon-live.conf")).isFile());
      assert.ok(statSync(join(stage, "root", "usr", "lib", "recon", "recon-media.sh")).isFile());
      const imageEnv = readFileSync(
        join(stage, "root", "usr", "share", "recon", "image.env"),
        "utf8",
      );
      assert.match(imageEnv, /^RECON_IMAGE_NAME=recon$/m);
      // peers boot the medium's squashfs, not the whole ISO (packaging/README.md)
      assert.match(imageEnv, /^RECON_IMAGE_SQUASHFS=install\/recon\/squashfs\.img$/m);
      assert.match(imageEnv, /^RECON_IMAGE_AARCH64=install\/recon\/aarch64$/m);
      assert.doesNotMatch(imageEnv, /^RECON_IMAGE_ISO=/m);
      const hash = /hash ([0-9a-f]{16})/.exec(r.out)?.[1];
      assert.ok(hash, r.out);

      // same inputs, same cache key; another mirror, another key
      assert.match(
        (await run(driver, ["debian-12", "stage"], env)).out,
        new RegExp(`hash ${hash}`),
      );
      const other = await run(driver, ["debian-12", "stage"], {
        ...env,
        RECON_DEBIAN_MIRROR: "http://other.invalid/debian",
      });
      assert.equal(other.status, 0, other.out);
      assert.doesNotMatch(other.out, new RegExp(`hash ${hash}`));

      // a one-line sources.list works as well, and the rendered stage validates
      rmSync(join(aptEtc, "sources.list.d", "debian.sources"));
      writeFileSync(
        join(aptEtc, "sources.list"),
        "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://old.invalid/debian bookworm main\n",
      );
      const oneLine = await run(driver, ["debian-12", "stage"], env);
      assert.equal(oneLine.status, 0, oneLine.out);
      const xml2 = readFileSync(join(stage, "config.xml"), "utf8");
      assert.match(xml2, /<source path="http:\/\/old\.invalid\/debian">/);
      assert.doesNotMatch(xml2, /alias="debian-security"/);
      if (!noKiwi) {
        const copy = join(scratch, "stage-copy");
        cpSync(stage, copy, { recursive: true });
        const v = await run("kiwi-ng", ["image", "info", "--description", copy]);
        assert.equal(v.status, 0, v.out);
      }
    });
  });

  describe("recon-media.sh (what the master serves from its live medium)", {
    concurrency: true,
  }, () => {
    const script = join(kiwiDir, "overlay", "usr", "lib", "recon", "recon-media.sh");

    function medium(cmdline: string) {
      const dir = mkdtempSync(join(scratch, "media-"));
      const live = join(dir, "live");
      mkdirSync(join(live, "boot", "x86_64", "loader"), { recursive: true });
      mkdirSync(join(live, "recon"), { recursive: true });
      writeFileSync(join(live, "boot", "x86_64", "loader", "linux"), "kernel");
      writeFileSync(join(live, "boot", "x86_64", "loader", "initrd"), "initrd");
      writeFileSync(join(live, "recon", "post.tgz"), "post");
      const share = join(dir, "share");
      mkdirSync(share, { recursive: true });
      writeFileSync(
        join(share, "image.env"),
        "RECON_IMAGE_NAME=recon\nRECON_IMAGE_KERNEL=linux\nRECON_IMAGE_INITRD=initrd\nRECON_IMAGE_ISO=install/recon/recon.x86_64-1.2.3.iso\n",
      );
      writeFileSync(join(dir, "cmdline"), cmdline);
      const env = {
        RECON_CMDLINE: join(dir, "cmdline"),
        RECON_SHARE: share,
        RECON_LIVE: live,
        RECON_LIVEDEV: join(dir, "livedev"),
        RECON_MEDIA_RUN: join(dir, "run"),
        RECON_MEDIA_MOUNT: "0",
      };
      return { dir, share, env };
    }

    test("a peer gets post.tgz, kernel and initrd laid out, no ISO copy", async () => {
      const m = medium("root=live:http://10.0.0.1/x.iso pxeaddr=10.0.0.1\n");
      const r = await run("sh", [script, "layout"], m.env);
      assert.equal(r.status, 0, r.out);
      assert.equal((await run("sh", [script, "iso"], m.env)).status, 0);
      assert.equal(readFileSync(join(m.share, "post.tgz"), "utf8"), "post");
      assert.equal(readFileSync(join(m.share, "install", "recon", "linux"), "utf8"), "kernel");
      assert.equal(readFileSync(join(m.share, "install", "recon", "initrd"), "utf8"), "initrd");
      assert.throws(() => statSync(join(m.share, "install", "recon", "recon.x86_64-1.2.3.iso")));
    });

    test("the master serves the ISO9660 volume of its medium, not the whole stick", {
      skip: need("xorriso", ["-version"], "xorriso"),
    }, async () => {
      const m = medium("root=live:CDLABEL=RECON rd.live.image\n");
      const content = join(m.dir, "content");
      mkdirSync(content);
      writeFileSync(join(content, "hello"), "hello");
      const iso = join(m.dir, "small.iso");
      const x = await run("xorriso", [
        "-as",
        "mkisofs",
        "-quiet",
        "-V",
        "RECON",
        "-o",
        iso,
        content,
      ]);
      assert.equal(x.status, 0, x.out);
      const isoBytes = readFileSync(iso);
      // a "stick": the image followed by unrelated bytes
      writeFileSync(join(m.dir, "livedev"), Buffer.concat([isoBytes, Buffer.alloc(1 << 20, 7)]));
      const layout = await run("sh", [script, "layout"], m.env);
      assert.equal(layout.status, 0, layout.out);
      assert.throws(() => statSync(join(m.share, "install", "recon", "recon.x86_64-1.2.3.iso")));
      const r = await run("sh", [script, "iso"], m.env);
      assert.equal(r.status, 0, r.out);
      const served = readFileSync(join(m.share, "install", "recon", "recon.x86_64-1.2.3.iso"));
      assert.equal(served.length, isoBytes.length);
      assert.ok(served.equals(isoBytes));
    });
  });
});
