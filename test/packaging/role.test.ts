// recon-role.sh without booting: a fake kernel command line (RECON_CMDLINE), a fake
// /sys/class/net, and stubs for ip, dnsmasq, curl, sleep and recon-agent that only record
// how they were called.
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import {
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
import { after, describe, it } from "node:test";
import { fileURLToPath } from "node:url";

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

// curl stub: fails $RECON_CURL_FAILS times, then "downloads" $RECON_POST_TGZ to the -o file.
const CURL = STUB(
  "curl",
  [
    'count=$(cat "$RECON_CURL_COUNT" 2>/dev/null || echo 0)',
    'echo $((count + 1)) > "$RECON_CURL_COUNT"',
    // biome-ignore lint/suspicious/noTemplateCurlyInString: shell syntax
    '[ "$count" -lt "${RECON_CURL_FAILS:-0}" ] && exit 7',
    'while [ $# -gt 0 ]; do [ "$1" = -o ] && cp "$RECON_POST_TGZ" "$2"; shift; done',
  ].join("\n"),
);

// recon-agent stub: boot-assets writes the files it is asked for.
const AGENT = STUB(
  "recon-agent",
  [
    'if [ "$1" = boot-assets ]; then',
    "  while [ $# -gt 0 ]; do",
    '    case $1 in --dnsmasq-out|--menu-out) echo generated > "$2" ;; esac',
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

  it("fetches post.tgz from the master, unpacks it and runs post.sh with its exit code", () => {
    const w = world(CMDLINE);
    const tgz = fakePostTgz(w.dir);
    const r = runRole(w, { RECON_POST_TGZ: tgz, RECON_POST_EXIT: "5" });
    assert.equal(r.status, 5, r.stderr);
    const calls = w.calls();
    assert.match(calls[0] ?? "", /^curl .* -o post\.tgz\.part http:\/\/10\.13\.37\.1\/post\.tgz$/);
    assert.equal(calls[1], `post.sh --cmdline ${w.cmdline} in ${join(w.dir, "run/post")}`);
    assert.equal(calls.length, 2);
    assert.match(r.stderr, /this node is a peer/);
    assert.ok(!calls.some((c) => c.startsWith("dnsmasq") || c.startsWith("ip ")));
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

  it("brings up 10.13.37.1/24 on the first wired NIC with link, then dnsmasq and serve", () => {
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
      "ip addr replace 10.13.37.1/24 dev eno2",
      `recon-agent boot-assets --interface eno2 --address 10.13.37.1/24 --tftp-root ${run}/tftp --http-base http://10.13.37.1 --dnsmasq-out ${run}/dnsmasq.conf --lease-file ${run}/dnsmasq.leases --menu-out ${run}/http/menu.ipxe --image-name recon --image-version 1.2.3 --kernel linux --initrd initrd`,
      `dnsmasq --conf-file=${run}/dnsmasq.conf --pid-file=${run}/dnsmasq.pid`,
      `recon-agent serve --root ${w.env.RECON_DATA} --host 10.13.37.1 --port 80 --post-tgz ${share}/post.tgz --install ${share}/install --menu ${run}/http/menu.ipxe`,
    ]);
    assert.match(readlinkSync(join(run, "tftp/undionly.kpxe")), /ipxe\/undionly\.kpxe$/);
    assert.match(readlinkSync(join(run, "tftp/ipxe.efi")), /ipxe\/ipxe-x86_64\.efi$/);
    // nothing the agent runs sees NODE_OPTIONS
    const envLog = readFileSync(w.env.RECON_ENV_LOG as string, "utf8");
    assert.doesNotMatch(envLog, /require/);
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
    assert.ok(w.calls().includes("ip addr replace 10.13.37.1/24 dev eno1"));
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
