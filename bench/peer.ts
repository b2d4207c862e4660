// npm run bench:peer: recon-agent against the tools it is measured against, in one slow peer.
//
// Boots one lab peer under QEMU TCG (profile 1 of test/lab/peer.ts: i440fx, 1 vCPU, NVMe +
// virtio disks, QEMU's ipmi-bmc-sim BMC on KCS) from a Debian 12 root (debootstrap, cached under
// /var/cache/recon/bench-peer/) and runs, in that one guest, three times each and interleaved:
// `recon-agent --dry-run`, `lshw -json` alone, `fusioninventory-inventory` and `facter`.
// Prints wall medians, the ratios, and recon's critical path: from collectors[] (durations) and,
// when the agent has it, from RECON_TRACE_PROBES=1 (each probe's start and end since process start).
// No pass/fail: the targets are printed beside the figures (issue 11).
//
// Usage: node bench/peer.ts [--agent FILE] [--runs N] [--label TEXT] [--keep]
//   --agent  the single binary to measure (default dist/recon-agent; `npm run build` makes it)
// Needs root (debootstrap, mkfs.ext4 -d), qemu-system-x86_64 with 9p, qemu-img.
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import {
  appendFileSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { defaultPeers, makeDisks, qemuArgs } from "../test/lab/peer.ts";
import { run } from "../test/lab/proc.ts";

const ROOT = resolve(import.meta.dirname, "..");
const CACHE = "/var/cache/recon/bench-peer";
const SUITE = "bookworm";
/** The compared tools, the kernel (its modules: udev loads the drivers), and what recon runs. */
export const PACKAGES = [
  "lshw",
  "dmidecode",
  "pciutils",
  "ipmitool",
  "fusioninventory-agent",
  // Provides perl-openssl-abi-3, a virtual package debootstrap does not resolve by itself.
  "perl-openssl-defaults",
  "facter",
  "linux-image-amd64",
  "initramfs-tools",
  "kmod",
  "udev",
  "iproute2",
  "ethtool",
  "smartmontools",
  "nvme-cli",
  "util-linux",
] as const;
const ROOT_LABEL = "benchroot";
const IMAGE_BYTES = 3 * 1024 ** 3;

/** PID 1 of the bench guest: mounts, udev loads the drivers, then the host's run.sh over 9p. */
const GUEST_INIT = `#!/bin/sh
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
mount -o remount,rw /
hostname bench-peer
echo "bench-init: udev"
/lib/systemd/systemd-udevd --daemon
udevadm trigger --action=add
udevadm settle --timeout=300
echo "bench-init: 9p"
modprobe 9pnet_virtio
mkdir -p /mnt/bench
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 bench /mnt/bench
sh /mnt/bench/run.sh > /mnt/bench/run.log 2>&1
sync
umount /mnt/bench
echo "bench-init: done"
echo o > /proc/sysrq-trigger
sleep 60
`;

/**
 * The guest's side, three runs of each tool interleaved (a slow spell hits all four alike).
 * Outputs go to a tmpfs; the wall time is taken around the command alone.
 */
function runScript(runs: number): string {
  return `set -u
out=/run/bench
mkdir -p $out
cp /mnt/bench/recon-agent /usr/local/bin/recon-agent
chmod 755 /usr/local/bin/recon-agent
export RECON_TRACE_PROBES=1
ms() { echo $(( $(date +%s%N) / 1000000 )); }
i=1
while [ $i -le ${runs} ]; do
  for t in recon lshw fusioninventory facter; do
    case $t in
      recon) set -- /usr/local/bin/recon-agent --dry-run ;;
      lshw) set -- lshw -json ;;
      fusioninventory) set -- fusioninventory-inventory ;;
      facter) set -- facter ;;
    esac
    s=$(ms)
    "$@" > $out/$t-$i.out 2> $out/$t-$i.err
    rc=$?
    e=$(ms)
    echo "$t $i $((e - s)) $rc" >> $out/times.txt
    echo "$t $i $((e - s)) $rc" >> /mnt/bench/progress.txt
  done
  i=$((i + 1))
done
mkdir -p /mnt/bench/out
cp $out/* /mnt/bench/out/
`;
}

const say = (line: string) => process.stderr.write(`bench:peer: ${line}\n`);

/** The Debian mirror this machine uses (its apt sources); never a hard-coded host. */
export function debianMirror(sources: { name: string; text: string }[]): string | null {
  for (const { name, text } of sources) {
    if (name.endsWith(".sources")) {
      for (const stanza of text.split(/\n\s*\n/)) {
        const uris = /^URIs:\s*(\S+)/m.exec(stanza)?.[1];
        const suites = /^Suites:\s*(.+)$/m.exec(stanza)?.[1]?.split(/\s+/) ?? [];
        if (uris && suites.includes(SUITE) && /^Types:.*\bdeb\b/m.test(stanza)) return uris;
      }
    } else {
      for (const line of text.split("\n")) {
        const m = /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)/.exec(line.trim());
        if (m?.[1] && m[2] === SUITE) return m[1];
      }
    }
  }
  return null;
}

function readSources(): { name: string; text: string }[] {
  const files = ["/etc/apt/sources.list"];
  if (existsSync("/etc/apt/sources.list.d")) {
    for (const f of readdirSync("/etc/apt/sources.list.d").sort()) {
      if (f.endsWith(".list") || f.endsWith(".sources")) files.push(`/etc/apt/sources.list.d/${f}`);
    }
  }
  return files
    .filter((f) => existsSync(f))
    .map((f) => ({ name: f, text: readFileSync(f, "utf8") }));
}

interface GuestRoot {
  image: string;
  kernel: string;
  initrd: string;
}

/** The cached guest root: debootstrap tree, then an ext4 image of it with the bench init. */
function guestRoot(): GuestRoot {
  const key = createHash("sha256")
    .update(JSON.stringify({ SUITE, PACKAGES, GUEST_INIT, IMAGE_BYTES }))
    .digest("hex")
    .slice(0, 12);
  const dir = join(CACHE, `debian-12-${key}`);
  const out = {
    image: join(dir, "rootfs.ext4"),
    kernel: join(dir, "vmlinuz"),
    initrd: join(dir, "initrd.img"),
  };
  if (existsSync(join(dir, "complete"))) return out;
  mkdirSync(dir, { recursive: true });
  const tree = join(
    CACHE,
    `root-${createHash("sha256").update(JSON.stringify({ SUITE, PACKAGES })).digest("hex").slice(0, 12)}`,
  );
  if (!existsSync(join(tree, ".debootstrap-complete"))) {
    const mirror = debianMirror(readSources());
    if (!mirror) throw new Error(`no deb source for ${SUITE} in /etc/apt/sources.list*`);
    say(`debootstrap ${SUITE} from ${mirror} into ${tree} (several minutes)`);
    rmSync(`${tree}.tmp`, { recursive: true, force: true });
    run([
      "debootstrap",
      "--variant=minbase",
      `--include=${PACKAGES.join(",")}`,
      SUITE,
      `${tree}.tmp`,
      mirror,
    ]);
    renameSync(`${tree}.tmp`, tree);
    writeFileSync(join(tree, ".debootstrap-complete"), `${new Date().toISOString()}\n`);
  }
  const init = join(tree, "usr/local/sbin/bench-init");
  writeFileSync(init, GUEST_INIT, { mode: 0o755 });
  const boot = readdirSync(join(tree, "boot"));
  const vmlinuz = boot.find((f) => f.startsWith("vmlinuz-"));
  const initrd =
    vmlinuz && boot.find((f) => f === `initrd.img-${vmlinuz.slice("vmlinuz-".length)}`);
  if (!vmlinuz || !initrd) throw new Error(`${tree}/boot: no vmlinuz/initrd (${boot.join(" ")})`);
  copyFileSync(join(tree, "boot", vmlinuz), out.kernel);
  copyFileSync(join(tree, "boot", initrd), out.initrd);
  say(`mkfs.ext4 -d ${tree} ${out.image}`);
  rmSync(out.image, { force: true });
  run([
    "mkfs.ext4",
    "-q",
    "-F",
    "-L",
    ROOT_LABEL,
    "-d",
    tree,
    out.image,
    `${IMAGE_BYTES / 1024 ** 2}M`,
  ]);
  writeFileSync(join(dir, "complete"), `${new Date().toISOString()}\n`);
  return out;
}

export interface ProbeTraceLine {
  file: string;
  status: string;
  startMs: number;
  endMs: number;
}

interface Collector {
  name: string;
  status: string;
  durationMs: number;
  command: string | null;
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  if (sorted.length === 0) return Number.NaN;
  return sorted.length % 2
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** The agent's probe.trace lines (RECON_TRACE_PROBES=1) among its other stderr lines. */
export function traceLines(stderr: string): ProbeTraceLine[] {
  const out: ProbeTraceLine[] = [];
  for (const line of stderr.split("\n")) {
    if (!line.includes('"probe.trace"')) continue;
    try {
      const e = JSON.parse(line) as ProbeTraceLine & { event: string };
      if (e.event === "probe.trace") out.push(e);
    } catch {}
  }
  return out;
}

/** Recon's critical path in one run: what the trace (or, without one, collectors[]) says. */
export function criticalPath(collectors: Collector[], trace: ProbeTraceLine[], wallMs: number) {
  const longest = [...collectors].sort((a, b) => b.durationMs - a.durationMs).slice(0, 5);
  if (trace.length === 0) {
    return {
      wallMs,
      longest,
      firstProbeMs: null,
      firstResultMs: null,
      lastEnded: null,
      lastEndMs: null,
    };
  }
  const firstProbeMs = Math.min(...trace.map((t) => t.startMs));
  const firstResultMs = Math.min(...trace.map((t) => t.endMs));
  const last = trace.reduce((a, b) => (b.endMs > a.endMs ? b : a));
  return {
    wallMs,
    longest,
    firstProbeMs,
    firstResultMs,
    lastEnded: last.file,
    lastEndMs: last.endMs,
  };
}

async function boot(root: GuestRoot, share: string, dir: string): Promise<void> {
  const tag = createHash("sha256").update(dir).digest("hex").slice(0, 4);
  const peer = defaultPeers(2, tag)[1];
  if (!peer) throw new Error("no lab peer profile 1");
  const spec = { ...peer, name: "bench-peer", nics: [] };
  makeDisks(spec, dir);
  const overlay = join(dir, "root.qcow2");
  run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b", root.image, overlay]);
  const serialLog = join(dir, "serial.log");
  const argv = qemuArgs(spec, { dir, taps: [], serialLog, qmpSocket: join(dir, "qmp.sock") });
  // The peer's NICs, on user-mode networking that reaches nothing (restrict=on).
  peer.nics.forEach((nic, i) => {
    argv.push(
      "-netdev",
      `user,id=u${i},restrict=on`,
      "-device",
      `${nic.model},netdev=u${i},mac=${nic.mac}`,
    );
  });
  argv.push(
    "-drive",
    `file=${overlay},format=qcow2,if=none,id=rootdisk`,
    "-device",
    "virtio-blk-pci,drive=rootdisk,serial=BENCHROOT",
    "-virtfs",
    `local,path=${share},mount_tag=bench,security_model=none,id=bench`,
    "-kernel",
    root.kernel,
    "-initrd",
    root.initrd,
    "-append",
    `root=LABEL=${ROOT_LABEL} ro console=ttyS0 init=/usr/local/sbin/bench-init panic=-1 quiet`,
    "-no-reboot",
  );
  const [cmd, ...args] = argv;
  if (!cmd) throw new Error("no qemu argv");
  say(
    `booting ${spec.name} (TCG, ${spec.cpus} vCPU, ${spec.memoryMiB} MiB, ${spec.bmc} BMC); serial: ${serialLog}`,
  );
  const child = spawn(cmd, args, { stdio: ["ignore", "inherit", "inherit"] });
  const stop = () => {
    if (child.pid !== undefined && child.exitCode === null) process.kill(child.pid, "SIGKILL");
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  const progress = join(share, "progress.txt");
  let shown = 0;
  const timer = setInterval(() => {
    if (!existsSync(progress)) return;
    const lines = readFileSync(progress, "utf8").split("\n").filter(Boolean);
    for (const line of lines.slice(shown)) say(`  ${line}`);
    shown = lines.length;
  }, 2000);
  const limit = setTimeout(stop, 60 * 60 * 1000);
  await new Promise<void>((done) => child.on("exit", () => done()));
  clearInterval(timer);
  clearTimeout(limit);
  process.off("SIGINT", stop);
  process.off("SIGTERM", stop);
}

const TOOLS = ["recon", "lshw", "fusioninventory", "facter"] as const;

function report(outDir: string, label: string, agent: string) {
  const times = readFileSync(join(outDir, "times.txt"), "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => {
      const [tool, i, ms, rc] = l.split(" ");
      return { tool: tool ?? "", run: Number(i), ms: Number(ms), rc: Number(rc) };
    });
  const medians: Record<string, number> = {};
  const lines: string[] = [`bench:peer ${label} (agent ${agent})`];
  for (const tool of TOOLS) {
    const mine = times.filter((t) => t.tool === tool);
    medians[tool] = median(mine.map((t) => t.ms));
    lines.push(
      `${tool.padEnd(16)} median ${(medians[tool] / 1000).toFixed(2)} s  runs ${mine.map((t) => `${(t.ms / 1000).toFixed(2)}${t.rc ? ` (exit ${t.rc})` : ""}`).join(" ")}`,
    );
  }
  const r = (a: string, b: string) => (medians[a] ?? Number.NaN) / (medians[b] ?? Number.NaN);
  lines.push(
    `recon/fusioninventory ${r("recon", "fusioninventory").toFixed(2)} (target <= 0.5)   recon/facter ${r("recon", "facter").toFixed(2)} (target <= 0.8)   recon/lshw ${r("recon", "lshw").toFixed(2)} (aim 1.0)`,
  );
  const paths = times
    .filter((t) => t.tool === "recon")
    .map((t) => {
      const doc = JSON.parse(readFileSync(join(outDir, `recon-${t.run}.out`), "utf8")) as {
        collectors: Collector[];
      };
      const trace = traceLines(readFileSync(join(outDir, `recon-${t.run}.err`), "utf8"));
      return {
        run: t.run,
        collectors: doc.collectors,
        ...criticalPath(doc.collectors, trace, t.ms),
      };
    })
    .sort((a, b) => a.wallMs - b.wallMs);
  const mid = paths[Math.floor(paths.length / 2)];
  if (mid) {
    const s = (ms: number | null) =>
      ms === null ? "n/a (no RECON_TRACE_PROBES in this agent)" : `${(ms / 1000).toFixed(2)} s`;
    lines.push(`recon critical path (median run ${mid.run}, wall ${s(mid.wallMs)}):`);
    lines.push(`  process start (before the first probe)  ${s(mid.firstProbeMs)}`);
    lines.push(`  first probe result                      ${s(mid.firstResultMs)}`);
    lines.push(
      `  ended last                              ${mid.lastEnded ? `${mid.lastEnded} at ${s(mid.lastEndMs)}; after it (document, exit) ${s(mid.wallMs - (mid.lastEndMs ?? 0))}` : `by collectors[] alone: ${mid.longest[0]?.name} (${s(mid.longest[0]?.durationMs ?? 0)}, every probe started at once)`}`,
    );
    lines.push(
      `  longest collectors[]: ${mid.longest.map((c) => `${c.name} ${(c.durationMs / 1000).toFixed(2)} s`).join(", ")}`,
    );
    const pick = (name: string) =>
      mid.collectors.filter((c) => c.name === name).map((c) => `${c.durationMs} ms`);
    lines.push(
      `  in-process reads: cmdline ${pick("cmdline").join("/") || "-"}, meminfo ${pick("meminfo").join("/") || "-"}, hostname ${pick("hostname").join("/") || "-"}`,
    );
  }
  return { lines, medians, paths, times };
}

async function main() {
  const { values } = parseArgs({
    options: {
      agent: { type: "string", default: join(ROOT, "dist/recon-agent") },
      runs: { type: "string", default: "3" },
      label: { type: "string", default: "" },
      keep: { type: "boolean", default: false },
    },
  });
  const agent = resolve(values.agent);
  if (!existsSync(agent)) throw new Error(`${agent}: not found (npm run build)`);
  const runs = Number(values.runs);
  const root = guestRoot();
  const dir = mkdtempSync(join(tmpdir(), "recon-bench-peer-"));
  const share = join(dir, "share");
  mkdirSync(share);
  copyFileSync(agent, join(share, "recon-agent"));
  writeFileSync(join(share, "run.sh"), runScript(runs));
  const started = Date.now();
  await boot(root, share, dir);
  const outDir = join(share, "out");
  if (!existsSync(join(outDir, "times.txt"))) {
    const log = existsSync(join(share, "run.log"))
      ? readFileSync(join(share, "run.log"), "utf8")
      : "";
    throw new Error(`the guest produced no results; see ${dir}/serial.log\n${log.slice(-2000)}`);
  }
  const label = values.label || `agent ${statSync(agent).size} bytes`;
  const { lines, medians, paths } = report(outDir, label, agent);
  lines.push(`guest time ${((Date.now() - started) / 1000).toFixed(0)} s; results in ${outDir}`);
  console.log(lines.join("\n"));
  appendFileSync(join(dir, "summary.txt"), `${lines.join("\n")}\n`);
  writeFileSync(
    join(dir, "summary.json"),
    JSON.stringify({ label, agent, medians, paths }, null, 2),
  );
  if (!values.keep) {
    for (const f of readdirSync(dir))
      if (f.endsWith(".img") || f.endsWith(".qcow2")) rmSync(join(dir, f));
    rmSync(join(share, "recon-agent"), { force: true });
  }
}

if (import.meta.main) await main();
