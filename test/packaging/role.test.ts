// recon-role.sh without booting, two ways:
//   - stubs: a fake kernel command line (RECON_CMDLINE), a fake /sys/class/net, and stubs for
//     ip, dnsmasq, curl, sleep and recon-agent that only record how they were called (the
//     decisions: which NIC, which arguments, retries, refusals);
//   - for real: the master role in a network namespace with a veth pair, the real ip, dnsmasq
//     and `recon-agent serve` from the sources, and a DHCP client (busybox udhcpc) in a second
//     namespace that takes a lease and fetches /menu.ipxe over the veth.
import assert from "node:assert/strict";
import { type ChildProcess, execFileSync, spawn, spawnSync } from "node:child_process";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { underCI } from "../support/ci.ts";
import { until } from "../support/poll.ts";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const ROLE_SH = join(ROOT, "packaging/recon-role.sh");
const scratch = mkdtempSync(join(tmpdir(), "recon-role-"));
after(() => rmSync(scratch, { recursive: true, force: true }));

const STUB = (name: string, body = "") =>
  [
    "#!/bin/sh",
    `printf '%s\\n' "${name} $*" >> "$RECON_CALLS"`,
    `printf '%s\\n' "${name} NODE_OPTIONS=\${NODE_OPTIONS-unset}" >> "$RECON_ENV_LOG"`,
    body,
    "exit 0",
    "",
  ].join("\n");

// curl stub: answers 404 (-w's %{http_code}, exit 22 as curl -f does) for a URL that names
// $RECON_CURL_404, fails $RECON_CURL_FAILS times (exit 7, no HTTP status: "000"), then
// "downloads" $RECON_POST_TGZ to the -o file and prints 200.
const CURL = STUB(
  "curl",
  [
    // biome-ignore lint/suspicious/noTemplateCurlyInString: shell syntax
    'for url; do :; done; case $url in *"${RECON_CURL_404:-none}"*) printf 404; exit 22 ;; esac',
    'count=$(cat "$RECON_CURL_COUNT" 2>/dev/null || echo 0)',
    'echo $((count + 1)) > "$RECON_CURL_COUNT"',
    // biome-ignore lint/suspicious/noTemplateCurlyInString: shell syntax
    'if [ "$count" -lt "${RECON_CURL_FAILS:-0}" ]; then printf 000; exit 7; fi',
    'while [ $# -gt 0 ]; do [ "$1" = -o ] && cp "$RECON_POST_TGZ" "$2"; shift; done',
    "printf 200",
  ].join("\n"),
);

// recon-agent stub: boot-assets writes the files it is asked for.
const AGENT = STUB(
  "recon-agent",
  [
    'if [ "$1" = boot-assets ]; then',
    "  while [ $# -gt 0 ]; do",
    '    case $1 in --dnsmasq-out|--menu-out|--grub-cfg-out) echo generated > "$2" ;; esac',
    "    shift",
    "  done",
    "fi",
  ].join("\n"),
);

let n = 0;
interface World {
  dir: string;
  cmdline: string;
  env: Record<string, string>;
  calls: () => string[];
}

function world(cmdline: string, nics: Record<string, { carrier?: 0 | 1; kind?: string }> = {}) {
  const dir = join(scratch, `w${++n}`);
  const bin = join(dir, "bin");
  const sys = join(dir, "sys/class/net");
  const share = join(dir, "share");
  mkdirSync(bin, { recursive: true });
  mkdirSync(sys, { recursive: true });
  mkdirSync(share, { recursive: true });
  for (const name of ["ip", "dnsmasq", "sleep"]) {
    writeFileSync(join(bin, name), STUB(name), { mode: 0o755 });
  }
  writeFileSync(join(bin, "curl"), CURL, { mode: 0o755 });
  writeFileSync(join(dir, "recon-agent"), AGENT, { mode: 0o755 });
  for (const [name, nic] of Object.entries(nics)) {
    const d = join(sys, name);
    mkdirSync(d, { recursive: true });
    if (nic.carrier !== undefined) writeFileSync(join(d, "carrier"), `${nic.carrier}\n`);
    if (nic.kind !== "virtual" && name !== "lo") mkdirSync(join(d, "device"));
    if (nic.kind === "wireless") mkdirSync(join(d, "wireless"));
  }
  const ipxe = join(dir, "ipxe");
  mkdirSync(ipxe);
  writeFileSync(join(ipxe, "undionly.kpxe"), "");
  writeFileSync(join(ipxe, "ipxe-x86_64.efi"), "");
  const efi = join(dir, "efi");
  mkdirSync(efi);
  const cmdlineFile = join(dir, "cmdline");
  writeFileSync(cmdlineFile, `${cmdline}\n`);
  const env: Record<string, string> = {
    PATH: `${bin}:/usr/bin:/bin`,
    NODE_OPTIONS: "--require=/nonexistent",
    RECON_CMDLINE: cmdlineFile,
    RECON_STATE: join(dir, "run"),
    RECON_AGENT: join(dir, "recon-agent"),
    RECON_SHARE: share,
    RECON_DATA: join(dir, "data"),
    RECON_SYSFS_NET: sys,
    RECON_LINK_WAIT: "2",
    RECON_IPXE_DIRS: `${join(dir, "nonexistent")} ${ipxe}`,
    // empty unless a test puts the signed loaders there (efiLoaders)
    RECON_EFI_DIRS: efi,
    RECON_MACHINE: "x86_64",
    RECON_FETCH_DELAY: "0",
    RECON_CALLS: join(dir, "calls"),
    RECON_ENV_LOG: join(dir, "env-log"),
    RECON_CURL_COUNT: join(dir, "curl-count"),
  };
  const calls = () =>
    existsSync(env.RECON_CALLS as string)
      ? readFileSync(env.RECON_CALLS as string, "utf8")
          .trim()
          .split("\n")
      : [];
  return { dir, cmdline: cmdlineFile, env, calls } satisfies World;
}

/** Puts the names the image ships (Debian's signed shim and GRUB, H4's arm64 GRUB) in RECON_EFI_DIRS. */
function efiLoaders(w: World) {
  const efi = w.env.RECON_EFI_DIRS as string;
  for (const name of ["shimx64.efi.signed", "grubnetx64.efi.signed", "grubaa64.efi"])
    writeFileSync(join(efi, name), name);
}

function runRole(w: World, extraEnv: Record<string, string> = {}) {
  const r = spawnSync("sh", [ROLE_SH], {
    encoding: "utf8",
    env: { ...w.env, ...extraEnv },
    timeout: 60_000,
  });
  return { status: r.status, stderr: r.stderr };
}

/** A real post.tgz whose post.sh records its arguments and exits with $RECON_POST_EXIT. */
function fakePostTgz(dir: string): string {
  const src = join(dir, "post-src");
  mkdirSync(src, { recursive: true });
  writeFileSync(
    join(src, "post.sh"),
    // biome-ignore lint/suspicious/noTemplateCurlyInString: shell syntax
    '#!/bin/sh\nprintf \'%s\\n\' "post.sh $* in $(pwd)" >> "$RECON_CALLS"\nexit "${RECON_POST_EXIT:-0}"\n',
    { mode: 0o755 },
  );
  const tgz = join(dir, "post.tgz");
  execFileSync("tar", ["czf", tgz, "-C", src, "post.sh"]);
  return tgz;
}

describe("recon-role.sh: peer (pxeaddr= on the command line)", () => {
  const CMDLINE =
    "initrd=initrd root=live:http://10.13.37.1/install/recon/recon-1.iso rd.live.image BOOTIF=01-52-54-00-12-34-56 pxeaddr=10.13.37.1 postaction=liveboot";

  it("fetches post-<uname -m>.tgz from the master, unpacks it and runs post.sh with its exit code", () => {
    const w = world(CMDLINE);
    const tgz = fakePostTgz(w.dir);
    const r = runRole(w, { RECON_POST_TGZ: tgz, RECON_POST_EXIT: "5", RECON_MACHINE: "aarch64" });
    assert.equal(r.status, 5, r.stderr);
    const calls = w.calls();
    assert.match(
      calls[0] ?? "",
      /^curl .* -o post\.tgz\.part http:\/\/10\.13\.37\.1\/post-aarch64\.tgz$/,
    );
    assert.equal(calls[1], `post.sh --cmdline ${w.cmdline} in ${join(w.dir, "run/post")}`);
    assert.equal(calls.length, 2);
    assert.match(r.stderr, /this node is a peer/);
    assert.ok(!calls.some((c) => c.startsWith("dnsmasq") || c.startsWith("ip ")));
  });

  it("falls back to post.tgz when the master answers 404 for post-<uname -m>.tgz", () => {
    const w = world(CMDLINE);
    const r = runRole(w, { RECON_POST_TGZ: fakePostTgz(w.dir), RECON_CURL_404: "post-x86_64" });
    assert.equal(r.status, 0, r.stderr);
    const curls = w.calls().filter((c) => c.startsWith("curl"));
    assert.equal(curls.length, 2);
    assert.match(curls[0] ?? "", /\/post-x86_64\.tgz$/);
    assert.match(curls[1] ?? "", /\/post\.tgz$/);
    assert.match(r.stderr, /no post-x86_64\.tgz: fetching http:\/\/10\.13\.37\.1\/post\.tgz/);
    assert.doesNotMatch(r.stderr, /not ready/);
  });

  it("does not fall back to post.tgz when the master is only not ready yet", () => {
    const w = world(CMDLINE);
    const r = runRole(w, { RECON_POST_TGZ: fakePostTgz(w.dir), RECON_CURL_FAILS: "1" });
    assert.equal(r.status, 0, r.stderr);
    const curls = w.calls().filter((c) => c.startsWith("curl"));
    assert.equal(curls.length, 2);
    assert.ok(
      curls.every((c) => c.endsWith("/post-x86_64.tgz")),
      curls.join("\n"),
    );
  });

  it("refuses a uname -m that is not a plain word", () => {
    const w = world(CMDLINE);
    const r = runRole(w, { RECON_MACHINE: "x86/../../etc" });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /uname -m gave/);
    assert.deepEqual(w.calls(), []);
  });

  it("waits for the master: retries the download until it works", () => {
    const w = world(CMDLINE);
    const r = runRole(w, { RECON_POST_TGZ: fakePostTgz(w.dir), RECON_CURL_FAILS: "3" });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(w.calls().filter((c) => c.startsWith("curl")).length, 4);
    assert.match(r.stderr, /master not ready \(try 3\)/);
  });

  it("gives up after RECON_FETCH_TRIES and never runs post.sh", () => {
    const w = world(CMDLINE);
    const r = runRole(w, {
      RECON_POST_TGZ: fakePostTgz(w.dir),
      RECON_CURL_FAILS: "99",
      RECON_FETCH_TRIES: "2",
    });
    assert.equal(r.status, 1);
    assert.deepEqual(
      w.calls().map((c) => c.split(" ")[0]),
      ["curl", "sleep", "curl"],
    );
  });

  it("takes the last pxeaddr= and rejects one that is not an address", () => {
    const w = world("pxeaddr=10.0.0.1 pxeaddr=$(reboot)");
    const r = runRole(w);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /not an address or host name/);
    assert.deepEqual(w.calls(), []);
  });
});

describe("recon-role.sh: master (no pxeaddr=)", () => {
  const NICS = {
    lo: { carrier: 1 as const },
    eno1: { carrier: 0 as const },
    eno2: { carrier: 1 as const },
    wlp3s0: { carrier: 1 as const, kind: "wireless" },
    veth0: { carrier: 1 as const, kind: "virtual" },
  };

  it("brings up 10.13.36.1/22 on the first wired NIC with link, then dnsmasq and serve", () => {
    const w = world("BOOT_IMAGE=/boot/linux root=live:CDLABEL=RECON rd.live.image", NICS);
    writeFileSync(
      join(w.env.RECON_SHARE as string, "image.env"),
      "RECON_IMAGE_NAME=recon\nRECON_IMAGE_VERSION=1.2.3\nRECON_IMAGE_KERNEL=linux\nRECON_IMAGE_INITRD=initrd\n",
    );
    const r = runRole(w);
    assert.equal(r.status, 0, r.stderr);
    const run = w.env.RECON_STATE as string;
    const share = w.env.RECON_SHARE as string;
    assert.deepEqual(w.calls(), [
      "ip link set dev eno1 up",
      "ip link set dev eno2 up",
      "ip link set dev eno2 up",
      "ip addr replace 10.13.36.1/22 dev eno2",
      `recon-agent boot-assets --interface eno2 --address 10.13.36.1/22 --tftp-root ${run}/tftp --http-base http://10.13.36.1 --dnsmasq-out ${run}/dnsmasq.conf --lease-file ${run}/dnsmasq.leases --menu-out ${run}/http/menu.ipxe --image-name recon --image-version 1.2.3 --kernel linux --initrd initrd`,
      `dnsmasq --conf-file=${run}/dnsmasq.conf --pid-file=${run}/dnsmasq.pid`,
      `recon-agent serve --root ${w.env.RECON_DATA} --host 10.13.36.1 --port 80 --post-dir ${share} --install ${share}/install --dnsmasq-conf ${run}/dnsmasq.conf --menu ${run}/http/menu.ipxe`,
    ]);
    assert.match(readlinkSync(join(run, "tftp/undionly.kpxe")), /ipxe\/undionly\.kpxe$/);
    assert.match(readlinkSync(join(run, "tftp/ipxe.efi")), /ipxe\/ipxe-x86_64\.efi$/);
    // nothing the agent runs sees NODE_OPTIONS
    const envLog = readFileSync(w.env.RECON_ENV_LOG as string, "utf8");
    assert.doesNotMatch(envLog, /require/);
  });

  it("links shim, GRUB and the arm64 GRUB, and asks for grub.cfg, the squashfs and arm64", () => {
    const w = world("quiet recon.master.iface=eno2", NICS);
    efiLoaders(w);
    const arm = join(w.env.RECON_SHARE as string, "install/recon/aarch64");
    mkdirSync(arm, { recursive: true });
    writeFileSync(join(arm, "linux"), "arm64 kernel");
    writeFileSync(
      join(w.env.RECON_SHARE as string, "image.env"),
      [
        "RECON_IMAGE_NAME=recon",
        "RECON_IMAGE_VERSION=1.2.3",
        "RECON_IMAGE_KERNEL=linux",
        "RECON_IMAGE_INITRD=initrd",
        "RECON_IMAGE_ISO=install/recon/recon.iso",
        "RECON_IMAGE_SQUASHFS=install/recon/squashfs.img",
        "RECON_IMAGE_AARCH64=install/recon/aarch64",
        "",
      ].join("\n"),
    );
    const r = runRole(w);
    assert.equal(r.status, 0, r.stderr);
    const run = w.env.RECON_STATE as string;
    const efi = w.env.RECON_EFI_DIRS as string;
    assert.equal(readlinkSync(join(run, "tftp/shimx64.efi")), join(efi, "shimx64.efi.signed"));
    assert.equal(readlinkSync(join(run, "tftp/grubx64.efi")), join(efi, "grubnetx64.efi.signed"));
    assert.equal(readlinkSync(join(run, "tftp/grubaa64.efi")), join(efi, "grubaa64.efi"));
    const assets = w.calls().find((c) => c.startsWith("recon-agent boot-assets")) ?? "";
    assert.match(assets, / --efi-file shimx64\.efi --efi-aarch64-file grubaa64\.efi /);
    // the squashfs wins over the ISO
    assert.match(assets, / --squashfs-path install\/recon\/squashfs\.img /);
    assert.doesNotMatch(assets, /--iso-path/);
    assert.match(
      assets,
      new RegExp(
        ` --grub-cfg-out ${run}/tftp/grub/grub\\.cfg --aarch64-path install/recon/aarch64$`,
      ),
    );
    assert.equal(readFileSync(join(run, "tftp/grub/grub.cfg"), "utf8"), "generated\n");
    // GRUB loads kernel and initrd over TFTP: install/ is reachable from the TFTP root
    assert.equal(
      readlinkSync(join(run, "tftp/install")),
      join(w.env.RECON_SHARE as string, "install"),
    );
  });

  it("leaves arm64 out of grub.cfg when the medium brought no arm64 kernel", () => {
    const w = world("quiet recon.master.iface=eno2", NICS);
    efiLoaders(w);
    writeFileSync(
      join(w.env.RECON_SHARE as string, "image.env"),
      "RECON_IMAGE_NAME=recon\nRECON_IMAGE_VERSION=1\nRECON_IMAGE_KERNEL=linux\nRECON_IMAGE_INITRD=initrd\nRECON_IMAGE_AARCH64=install/recon/aarch64\n",
    );
    const r = runRole(w);
    assert.equal(r.status, 0, r.stderr);
    const assets = w.calls().find((c) => c.startsWith("recon-agent boot-assets")) ?? "";
    assert.match(assets, / --efi-aarch64-file grubaa64\.efi .* --grub-cfg-out \S+$/);
    assert.doesNotMatch(assets, /--aarch64-path/);
  });

  it("keeps iPXE for UEFI and writes no grub.cfg when the image has no signed shim", () => {
    const w = world("quiet recon.master.iface=eno2", NICS);
    writeFileSync(
      join(w.env.RECON_SHARE as string, "image.env"),
      "RECON_IMAGE_NAME=recon\nRECON_IMAGE_VERSION=1\nRECON_IMAGE_KERNEL=linux\nRECON_IMAGE_INITRD=initrd\nRECON_IMAGE_ISO=install/recon/recon.iso\n",
    );
    const r = runRole(w);
    assert.equal(r.status, 0, r.stderr);
    const assets = w.calls().find((c) => c.startsWith("recon-agent boot-assets")) ?? "";
    assert.doesNotMatch(assets, /--efi-file|--efi-aarch64-file|--grub-cfg-out|--squashfs-path/);
    assert.ok(!existsSync(join(w.env.RECON_STATE as string, "tftp/install")));
    assert.match(assets, / --iso-path install\/recon\/recon\.iso/);
    assert.match(r.stderr, /no shimx64\.efi in /);
    assert.match(r.stderr, /no grubaa64\.efi in /);
  });

  it("passes recon.peer.args= and the lines of RECON-DATA's peer-args as --extra-arg", () => {
    const w = world(
      "quiet recon.master.iface=eno2 recon.peer.args=nowatchdog,recon.poweroff=0 recon.peer.args=rd.shell",
      NICS,
    );
    writeFileSync(
      join(w.env.RECON_SHARE as string, "image.env"),
      "RECON_IMAGE_NAME=recon\nRECON_IMAGE_VERSION=1\nRECON_IMAGE_KERNEL=linux\nRECON_IMAGE_INITRD=initrd\n",
    );
    const data = w.env.RECON_DATA as string;
    mkdirSync(data, { recursive: true });
    writeFileSync(
      join(data, "peer-args"),
      "# consoles of this hall\n  console=ttyS1,57600  \n\n#rd.break\nrd.debug\n",
    );
    const r = runRole(w);
    assert.equal(r.status, 0, r.stderr);
    const assets = w.calls().find((c) => c.startsWith("recon-agent boot-assets")) ?? "";
    assert.ok(
      assets.endsWith(
        " --extra-arg nowatchdog --extra-arg recon.poweroff=0 --extra-arg rd.shell --extra-arg console=ttyS1,57600 --extra-arg rd.debug",
      ),
      assets,
    );
    assert.match(r.stderr, /extra peer kernel arguments: nowatchdog recon\.poweroff=0 rd\.shell/);
  });

  it("passes a peer argument with shell characters as one word for boot-assets to refuse", () => {
    const w = world("quiet recon.master.iface=eno2", NICS);
    writeFileSync(
      join(w.env.RECON_SHARE as string, "image.env"),
      "RECON_IMAGE_NAME=recon\nRECON_IMAGE_VERSION=1\nRECON_IMAGE_KERNEL=linux\nRECON_IMAGE_INITRD=initrd\n",
    );
    const data = w.env.RECON_DATA as string;
    mkdirSync(data, { recursive: true });
    writeFileSync(join(data, "peer-args"), "a b $(reboot) *\n");
    const r = runRole(w);
    assert.equal(r.status, 0, r.stderr);
    const assets = w.calls().find((c) => c.startsWith("recon-agent boot-assets")) ?? "";
    assert.ok(assets.endsWith(" --extra-arg a b $(reboot) *"), assets);
  });

  it("takes recon.master.addr= and recon.master.iface= from the command line", () => {
    const w = world("quiet recon.master.addr=192.0.2.10/25 recon.master.iface=enp5s0", NICS);
    const r = runRole(w);
    assert.equal(r.status, 0, r.stderr);
    const calls = w.calls();
    assert.equal(calls[0], "ip link set dev enp5s0 up");
    assert.equal(calls[1], "ip addr replace 192.0.2.10/25 dev enp5s0");
    assert.match(
      calls[2] ?? "",
      /^recon-agent boot-assets --interface enp5s0 --address 192\.0\.2\.10\/25 .*--lease-file \S+$/,
    );
    assert.match(r.stderr, /no .*image\.env: no menu\.ipxe/);
    assert.doesNotMatch(calls.at(-1) ?? "", /--menu/);
  });

  it("falls back to the first wired NIC when none has link", () => {
    const w = world("quiet", { eno1: { carrier: 0 }, eno2: { carrier: 0 } });
    const r = runRole(w, { RECON_LINK_WAIT: "1" });
    assert.equal(r.status, 0, r.stderr);
    assert.ok(w.calls().includes("ip addr replace 10.13.36.1/22 dev eno1"));
    assert.match(r.stderr, /no wired NIC has link/);
  });

  it("fails without any wired NIC", () => {
    const w = world("quiet", { lo: { carrier: 1 }, wlan0: { carrier: 1, kind: "wireless" } });
    const r = runRole(w);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /no wired network interface/);
  });

  it("rejects a malformed recon.master.addr=", () => {
    const w = world("recon.master.addr=10.0.0.1;reboot", NICS);
    const r = runRole(w);
    assert.equal(r.status, 1);
    assert.deepEqual(w.calls(), []);
  });

  it("uses the agent from post-<uname -m>.tgz (through its post.sh) when none is installed", () => {
    const w = world("quiet", NICS);
    const share = w.env.RECON_SHARE as string;
    execFileSync("cp", [fakePostTgz(w.dir), join(share, "post-x86_64.tgz")]);
    writeFileSync(join(share, "post.tgz"), "not a tar: must not be used");
    const r = runRole(w, { RECON_AGENT: join(w.dir, "not-installed") });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(w.calls().filter((c) => c.startsWith("post.sh")).length, 2);
  });

  it("uses the agent from post.tgz (through its post.sh) when none is installed", () => {
    const w = world("quiet", NICS);
    const share = w.env.RECON_SHARE as string;
    execFileSync("cp", [fakePostTgz(w.dir), join(share, "post.tgz")]);
    const r = runRole(w, { RECON_AGENT: join(w.dir, "not-installed") });
    assert.equal(r.status, 0, r.stderr);
    const posts = w.calls().filter((c) => c.startsWith("post.sh"));
    assert.equal(posts.length, 2);
    assert.match(posts[0] ?? "", /^post\.sh boot-assets /);
    assert.match(posts[1] ?? "", /^post\.sh serve /);
  });
});

describe("recon-role.sh: safety", () => {
  it("never becomes master when the command line cannot be read", () => {
    const w = world("");
    rmSync(w.cmdline);
    symlinkSync("/nonexistent/cmdline", w.cmdline);
    const r = runRole(w);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /cannot read/);
    assert.deepEqual(w.calls(), []);
  });
});

// --- for real, in network namespaces ------------------------------------------------------------

const has = (cmd: string, args: string[]) => spawnSync(cmd, args, { stdio: "ignore" }).status === 0;
const canNetns =
  process.getuid?.() === 0 &&
  has("ip", ["-V"]) &&
  has("dnsmasq", ["--version"]) &&
  has("busybox", ["udhcpc", "--help"]) &&
  has("curl", ["--version"]);

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe("recon-role.sh: master for real in a network namespace", {
  skip: !underCI && !canNetns && "needs root, ip, dnsmasq, busybox (busybox-static) and curl",
  timeout: 120_000,
}, () => {
  // h6-: the namespaces of this test (names must not collide with other runs on the host).
  const srv = `h6-role-srv-${process.pid}`;
  const cli = `h6-role-cli-${process.pid}`;
  const IFACE = "rr0";
  const CLIENT_IFACE = "rr1";
  const ADDR = "10.13.36.1";
  const dir = mkdtempSync(join(tmpdir(), "recon-role-ns-"));
  // dnsmasq drops to its own user: the TFTP root must be reachable, as /run/recon is on the image.
  chmodSync(dir, 0o755);
  const state = join(dir, "run");
  const share = join(dir, "share");
  const data = join(dir, "data");
  let role: ChildProcess | undefined;
  let stderr = "";
  let dnsmasqPid = 0;

  const ip = (...args: string[]) => execFileSync("ip", args, { stdio: "pipe", encoding: "utf8" });
  const inNs = (ns: string, argv: string[], env: NodeJS.ProcessEnv = process.env) =>
    spawnSync("ip", ["netns", "exec", ns, ...argv], { encoding: "utf8", timeout: 60_000, env });
  const fetchIn = (ns: string, path: string) =>
    inNs(ns, ["curl", "-fsS", "--max-time", "5", `http://${ADDR}${path}`]);

  function stopAll() {
    // By PID only: the role script's process became `recon-agent serve` (exec), and dnsmasq
    // wrote its PID file.
    for (const pid of [role?.exitCode === null ? role.pid : undefined, dnsmasqPid]) {
      if (pid && alive(pid)) process.kill(pid, "SIGTERM");
    }
    for (const ns of [srv, cli]) spawnSync("ip", ["netns", "del", ns], { stdio: "ignore" });
  }

  before(async () => {
    try {
      ip("netns", "add", srv);
      ip("netns", "add", cli);
      ip(
        "-n",
        srv,
        "link",
        "add",
        IFACE,
        "type",
        "veth",
        "peer",
        "name",
        CLIENT_IFACE,
        "netns",
        cli,
      );
      ip("-n", srv, "link", "set", "lo", "up");
      ip("-n", cli, "link", "set", "lo", "up");
      ip("-n", cli, "link", "set", CLIENT_IFACE, "up");
      mkdirSync(join(share, "install"), { recursive: true });
      writeFileSync(
        join(share, "image.env"),
        "RECON_IMAGE_NAME=recon-live\nRECON_IMAGE_VERSION=9.9.9\nRECON_IMAGE_KERNEL=vmlinuz\nRECON_IMAGE_INITRD=initrd.img\n",
      );
      writeFileSync(join(share, "post.tgz"), "post.tgz placeholder\n");
      const cmdline = join(dir, "cmdline");
      writeFileSync(
        cmdline,
        `BOOT_IMAGE=/boot/vmlinuz rd.live.image recon.master.iface=${IFACE}\n`,
      );
      role = spawn("ip", ["netns", "exec", srv, "sh", ROLE_SH], {
        stdio: ["ignore", "ignore", "pipe"],
        env: {
          // bin/recon-agent.js is `#!/usr/bin/env node`: the pinned Node 24 comes first.
          PATH: `${join(ROOT, "node_modules/.bin")}:/usr/sbin:/usr/bin:/sbin:/bin`,
          RECON_CMDLINE: cmdline,
          RECON_STATE: state,
          RECON_AGENT: join(ROOT, "bin/recon-agent.js"),
          RECON_SHARE: share,
          RECON_DATA: data,
        },
      });
      role.stderr?.on("data", (chunk: Buffer) => {
        stderr += chunk.toString();
      });
      dnsmasqPid = await until("dnsmasq's PID file", 60_000, () => {
        if (role?.exitCode !== null)
          throw new Error(`recon-role.sh exited ${role?.exitCode}:\n${stderr}`);
        const file = join(state, "dnsmasq.pid");
        const pid = existsSync(file) ? Number(readFileSync(file, "utf8").trim()) : 0;
        return pid > 0 ? pid : undefined;
      });
      await until("recon-agent serve to answer on port 80", 60_000, () => {
        if (role?.exitCode !== null)
          throw new Error(`recon-role.sh exited ${role?.exitCode}:\n${stderr}`);
        return fetchIn(srv, "/menu.ipxe").status === 0 ? true : undefined;
      });
    } catch (error) {
      stopAll();
      throw error;
    }
  });

  after(async () => {
    stopAll();
    await until("dnsmasq and serve to exit", 10_000, () =>
      [role?.exitCode === null ? role?.pid : undefined, dnsmasqPid].some((p) => p && alive(p))
        ? undefined
        : true,
    );
    if (process.env.RECON_TEST_DEBUG) process.stderr.write(stderr);
    rmSync(dir, { recursive: true, force: true });
  });

  it("takes the provisioning address on the interface the command line names", () => {
    const addr = JSON.parse(ip("-n", srv, "-j", "-4", "addr", "show", "dev", IFACE)) as Array<{
      operstate: string;
      addr_info: Array<{ local: string; prefixlen: number }>;
    }>;
    assert.deepEqual(
      addr[0]?.addr_info.map((a) => `${a.local}/${a.prefixlen}`),
      [`${ADDR}/22`],
    );
    assert.equal(addr[0]?.operstate, "UP");
  });

  it("writes dnsmasq.conf for that interface and menu.ipxe for the image", () => {
    const conf = readFileSync(join(state, "dnsmasq.conf"), "utf8");
    assert.match(conf, new RegExp(`^interface=${IFACE}$`, "m"));
    assert.match(conf, new RegExp(`^dhcp-leasefile=${state}/dnsmasq.leases$`, "m"));
    const menu = readFileSync(join(state, "http/menu.ipxe"), "utf8");
    assert.match(menu, /^#!ipxe/);
    assert.match(menu, /recon-live/);
    assert.match(menu, new RegExp(`http://${ADDR.replace(/\./g, "\\.")}/\\S*vmlinuz`));
    assert.match(readlinkSync(join(state, "tftp/undionly.kpxe")), /undionly\.kpxe$/);
  });

  it("runs dnsmasq and `recon-agent serve` inside the namespace", () => {
    const netnsOf = (pid: number) => readlinkSync(`/proc/${pid}/ns/net`);
    const nsInode = netnsOf(Number(role?.pid));
    assert.ok(alive(dnsmasqPid), "dnsmasq is running");
    assert.equal(netnsOf(dnsmasqPid), nsInode);
    assert.notEqual(nsInode, readlinkSync("/proc/self/ns/net"));
    assert.equal(role?.exitCode, null, "the role script became recon-agent serve");
    const argv = readFileSync(`/proc/${role?.pid}/cmdline`, "utf8").split("\0");
    assert.ok(argv.includes("serve"), argv.join(" "));
    assert.match(stderr, /dnsmasq running; serving http:\/\/10\.13\.36\.1\//);
  });

  it("gives a DHCP client on the other end a lease, and serves it /menu.ipxe", async () => {
    const out = join(dir, `lease-${Date.now()}.env`);
    const script = join(dir, "udhcpc.sh");
    writeFileSync(
      script,
      [
        "#!/bin/sh",
        '[ "$1" = bound ] || exit 0',
        "env | grep -E '^(ip|mask|siaddr|boot_file|serverid)=' > \"$RECON_OUT\"",
        'ip addr flush dev "$interface"',
        'ip addr add "$ip/$mask" dev "$interface"',
        "",
      ].join("\n"),
      { mode: 0o755 },
    );
    // user class iPXE: what a peer's iPXE sends, answered with the menu URL.
    const argv = ["busybox", "udhcpc", "-i", CLIENT_IFACE, "-f", "-q", "-n", "-t", "5", "-T", "2"];
    const dhcp = inNs(cli, [...argv, "-x", "0x4d:69505845", "-s", script], {
      ...process.env,
      RECON_OUT: out,
    });
    assert.equal(dhcp.status, 0, `udhcpc: ${dhcp.stderr}`);
    const lease = Object.fromEntries(
      readFileSync(out, "utf8")
        .trim()
        .split("\n")
        .map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)]),
    );
    assert.match(lease.ip ?? "", /^10\.13\.3[6-9]\.\d+$/);
    assert.equal(lease.serverid, ADDR);
    assert.equal(lease.boot_file, `http://${ADDR}/menu.ipxe`);
    // dnsmasq recorded it (the lease file is written as the lease is granted)
    const leases = await until("the lease in dnsmasq.leases", 10_000, () => {
      const text = readFileSync(join(state, "dnsmasq.leases"), "utf8");
      return text.includes(lease.ip ?? "-") ? text : undefined;
    });
    assert.ok(leases);
    const menu = fetchIn(cli, "/menu.ipxe");
    assert.equal(menu.status, 0, menu.stderr);
    assert.equal(menu.stdout, readFileSync(join(state, "http/menu.ipxe"), "utf8"));
    // serve read the lease (--dnsmasq-conf) and saw the menu fetched: the node is booting
    const mac = JSON.parse(ip("-n", cli, "-j", "link", "show", "dev", CLIENT_IFACE))[0].address;
    const node = await until("the client as a booting node", 10_000, () => {
      const list = fetchIn(cli, "/api/v1/nodes");
      const nodes = JSON.parse(list.stdout || "{}").nodes ?? [];
      return nodes.find(
        (n: { mac: string; state: string }) => n.mac === mac && n.state === "booting",
      );
    });
    assert.equal(node.nodeId, null);
    assert.equal(node.ip, lease.ip);
    const usage = JSON.parse(fetchIn(cli, "/api/v1/dhcp").stdout);
    assert.deepEqual(usage, { rangeSize: 1007, leases: 1, free: 1006, nearlyFull: false });
  });
});
