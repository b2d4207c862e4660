// A hall's worth of DHCP clients against the real dnsmasq, and the real master reading its
// lease file: 240 busybox udhcpc clients, each on its own macvlan (its own MAC) in one network
// namespace, dnsmasq in another on the default hall network (10.13.36.1/22, 1,007 addresses).
// Every client must get a lease, dnsmasq's lease file must hold exactly those, and
// GET /api/v1/nodes of `serve` must list each client's MAC in state `dhcp` with its address.
// dnsmasq runs the master's dhcp-script hook (packaging/dnsmasq-hook.sh) for every lease: the
// clients send PXE vendor classes (udhcpc -V) or option 93 (-x 0x5d:...) as firmware does, some
// a hostile vendor class (tabs and newlines forging a line), and each node's `clientArch` must
// be what its client said, or null. The clients run in batches so two cores cope; the times are
// printed.
import assert from "node:assert/strict";
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, before, describe, it } from "node:test";
import { startServer } from "../../agent/master/index.ts";
import type { RunningServer } from "../../agent/master/serve.ts";
import {
  DEFAULT_MASTER_CIDR,
  defaultDhcpRange,
  parseCidr,
  renderDnsmasqConf,
} from "../../packaging/dnsmasq.ts";
import { parseLeases, rangeSize } from "../../packaging/dnsmasq-leases.ts";
import { underCI } from "../support/ci.ts";
import { until } from "../support/poll.ts";

const CLIENTS = 240;
const BATCH = 40;

function has(cmd: string, args: string[]): boolean {
  try {
    execFileSync(cmd, args, { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

const canRun =
  process.getuid?.() === 0 &&
  has("ip", ["-V"]) &&
  has("dnsmasq", ["--version"]) &&
  has("busybox", ["udhcpc", "--help"]);

const HOOK = resolve(import.meta.dirname, "../../packaging/dnsmasq-hook.sh");

/** What client i tells the DHCP server about its architecture, and what the master should list. */
function archOf(i: number): { args: string[]; clientArch: string | null } {
  switch (i % 6) {
    case 0:
      return { args: ["-V", "PXEClient:Arch:00000:UNDI:002001"], clientArch: "bios" };
    case 1:
      return { args: ["-V", "PXEClient:Arch:00007:UNDI:003016"], clientArch: "uefi-x86_64" };
    case 2:
      return { args: ["-V", "PXEClient:Arch:00011:UNDI:003000"], clientArch: "uefi-arm64" };
    case 3:
      // Option 93 only (2 bytes, 9: x86-64 UEFI): dnsmasq's efi-x86_64 tag says it.
      return { args: ["-x", "0x5d:0009"], clientArch: "uefi-x86_64" };
    case 4:
      // A client forging a second hook line and extra fields through its vendor class.
      return {
        args: [
          "-V",
          `x\tPXEClient:Arch:00000\nadd\t02:1c:00:00:ff:${hex(i)}\t10.13.39.250\t\t\t\t`,
        ],
        clientArch: null,
      };
    default:
      return { args: [], clientArch: null }; // udhcpc's own "udhcp 1.35.0"
  }
}
const hex = (n: number) => (n & 255).toString(16).padStart(2, "0");

/** The client's MAC: locally administered, numbered. */
const macOf = (i: number) =>
  `02:1c:00:00:${(i >> 8).toString(16).padStart(2, "0")}:${(i & 255).toString(16).padStart(2, "0")}`;

describe("dnsmasq with a hall of DHCP clients, seen by serve", {
  skip: !underCI && !canRun && "needs root, ip, dnsmasq and busybox (udhcpc)",
  timeout: 600_000,
}, () => {
  // lifecycle-: this helper's namespaces; the PID keeps parallel runs apart.
  const srv = `lifecycle-hall-srv-${process.pid}`;
  const cli = `lifecycle-hall-cli-${process.pid}`;
  const { address, netmask } = parseCidr(DEFAULT_MASTER_CIDR);
  const range = defaultDhcpRange(DEFAULT_MASTER_CIDR);
  let dir = "";
  let hookFile = "";
  let dnsmasq: ChildProcess | undefined;
  const clients = new Set<ChildProcess>();
  let server: RunningServer | undefined;
  const serveLog: Record<string, unknown>[] = [];
  const ip = (...args: string[]) => execFileSync("ip", args, { stdio: "pipe", encoding: "utf8" });

  const cleanup = async () => {
    for (const child of clients) if (child.pid && child.exitCode === null) child.kill("SIGKILL");
    if (dnsmasq?.pid && dnsmasq.exitCode === null) dnsmasq.kill("SIGTERM");
    await server?.close();
    for (const ns of [cli, srv]) {
      try {
        ip("netns", "del", ns);
      } catch {
        // not created
      }
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "recon-dhcp-hall-"));
    chmodSync(dir, 0o755);
    try {
      ip("netns", "add", srv);
      ip("netns", "add", cli);
      ip("-n", srv, "link", "add", "lh0", "type", "veth", "peer", "name", "lh1", "netns", cli);
      ip("-n", srv, "addr", "add", DEFAULT_MASTER_CIDR, "dev", "lh0");
      for (const [ns, dev] of [
        [srv, "lh0"],
        [srv, "lo"],
        [cli, "lh1"],
        [cli, "lo"],
      ] as const) {
        ip("-n", ns, "link", "set", dev, "up");
      }
      // One macvlan (own MAC) per client on the veth end, created in one batch.
      const batch = join(dir, "links.batch");
      const lines: string[] = [];
      for (let i = 0; i < CLIENTS; i++) {
        lines.push(`link add link lh1 name mv${i} address ${macOf(i)} type macvlan mode bridge`);
        lines.push(`link set mv${i} up`);
      }
      writeFileSync(batch, `${lines.join("\n")}\n`);
      ip("-n", cli, "-batch", batch);

      const tftp = join(dir, "tftp");
      mkdirSync(tftp);
      writeFileSync(join(tftp, "undionly.kpxe"), "not really iPXE\n");
      writeFileSync(join(tftp, "ipxe.efi"), "not really iPXE either\n");
      const conf = join(dir, "dnsmasq.conf");
      writeFileSync(
        conf,
        renderDnsmasqConf({
          interface: "lh0",
          address,
          dhcpRange: range,
          netmask,
          tftpRoot: tftp,
          httpBase: `http://${address}`,
          leaseFile: join(dir, "dnsmasq.leases"),
          dhcpScript: HOOK,
        }),
      );
      const logFile = join(dir, "dnsmasq.log");
      hookFile = join(dir, "dhcp-hook.tsv");
      dnsmasq = spawn(
        "ip",
        [
          "netns",
          "exec",
          srv,
          "dnsmasq",
          "--keep-in-foreground",
          `--log-facility=${logFile}`,
          `--conf-file=${conf}`,
          `--pid-file=${join(dir, "dnsmasq.pid")}`,
          "--user=root",
        ],
        { stdio: "ignore", env: { ...process.env, RECON_DHCP_HOOK_FILE: hookFile } },
      );
      await until("dnsmasq to start", 10_000, () => {
        if (dnsmasq?.exitCode !== null) throw new Error(`dnsmasq exited ${dnsmasq?.exitCode}`);
        try {
          return /TFTP root/.test(readFileSync(logFile, "utf8")) ? true : undefined;
        } catch {
          return undefined;
        }
      });
      // The master, on loopback, told what dnsmasq runs with (as recon-role.sh does).
      server = await startServer({
        root: join(dir, "data"),
        dnsmasqConf: conf,
        dhcpHookFile: hookFile,
        log: (event) => serveLog.push(event),
      });
    } catch (error) {
      await cleanup();
      throw error;
    }
  });

  after(cleanup);

  /** One udhcpc on mv<i>; resolves with the address it was bound to (its script records it). */
  function client(i: number, script: string): Promise<string> {
    const out = join(dir, `bound-${i}`);
    return new Promise((resolve, reject) => {
      const child = spawn(
        "ip",
        ["netns", "exec", cli, "busybox", "udhcpc", "-i", `mv${i}`, "-f", "-q", "-n"].concat([
          "-t",
          "6",
          "-T",
          "3",
          "-s",
          script,
          ...archOf(i).args,
        ]),
        { stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, RECON_OUT: out } },
      );
      let stderr = "";
      child.stderr?.on("data", (d: Buffer) => {
        stderr += d.toString();
      });
      clients.add(child);
      child.once("error", reject);
      child.once("close", (code) => {
        clients.delete(child);
        if (code !== 0) {
          reject(new Error(`udhcpc on mv${i} exited ${code}: ${stderr.slice(-2000)}`));
          return;
        }
        try {
          resolve(readFileSync(out, "utf8").trim());
        } catch (error) {
          reject(error);
        }
      });
    });
  }

  it(`gives each of ${CLIENTS} clients a lease, and serve lists each in state dhcp`, async () => {
    const script = join(dir, "udhcpc.sh");
    // Records the address only: the clients share one L2 segment and need no address to be counted.
    writeFileSync(script, '#!/bin/sh\n[ "$1" = bound ] && echo "$ip" > "$RECON_OUT"\nexit 0\n', {
      mode: 0o755,
    });
    const started = performance.now();
    const bound = new Map<string, string>();
    for (let first = 0; first < CLIENTS; first += BATCH) {
      const batchStarted = performance.now();
      const ids = Array.from({ length: Math.min(BATCH, CLIENTS - first) }, (_, k) => first + k);
      const ips = await Promise.all(ids.map((i) => client(i, script)));
      for (const [k, i] of ids.entries()) bound.set(macOf(i), ips[k] as string);
      process.stdout.write(
        `# dhcp-hall: clients ${first}-${first + ids.length - 1} bound in ${Math.round(performance.now() - batchStarted)} ms\n`,
      );
    }
    const dhcpMs = performance.now() - started;

    // Every client has its own address in the range.
    assert.equal(bound.size, CLIENTS);
    assert.equal(new Set(bound.values()).size, CLIENTS, "no address handed out twice");
    const leases = parseLeases(readFileSync(join(dir, "dnsmasq.leases"), "utf8"));
    assert.equal(leases.length, CLIENTS);
    for (const lease of leases) {
      assert.equal(bound.get(lease.mac), lease.ip, `lease of ${lease.mac}`);
    }

    // serve read the same lease file: each client is a node known by its MAC, in state dhcp.
    const listStarted = performance.now();
    type Item = {
      key: string;
      nodeId: string | null;
      state: string;
      mac: string;
      ip: string;
      clientArch: string | null;
    };
    const nodes = await until(`${CLIENTS} nodes in state dhcp`, 30_000, async () => {
      const list = (await (await fetch(`${server?.url}/api/v1/nodes`)).json()) as {
        nodes: Item[];
        states: Record<string, number>;
      };
      return list.states.dhcp === CLIENTS ? list.nodes : undefined;
    });
    const seenMs = performance.now() - listStarted;
    assert.equal(nodes.length, CLIENTS);
    for (const node of nodes) {
      assert.equal(node.state, "dhcp");
      assert.equal(node.nodeId, null);
      assert.equal(node.key, `mac-${node.mac.replaceAll(":", "")}`);
      assert.equal(node.ip, bound.get(node.mac), `node ${node.key}`);
      const i = Number.parseInt(node.mac.slice(-5).replace(":", ""), 16);
      assert.equal(
        node.clientArch,
        archOf(i).clientArch,
        `clientArch of ${node.key} (client ${i})`,
      );
    }
    // Every lease came through the hook too, one line each: the forged ones did not split.
    const hookLines = readFileSync(hookFile, "utf8").trim().split("\n");
    assert.equal(hookLines.length, CLIENTS);
    const byArch = Object.groupBy(nodes, (n) => String(n.clientArch));
    process.stdout.write(
      `# dhcp-hall: clientArch ${Object.entries(byArch)
        .map(([arch, list]) => `${arch} ${list?.length}`)
        .join(", ")}\n`,
    );
    const usage = await (await fetch(`${server?.url}/api/v1/dhcp`)).json();
    assert.deepEqual(usage, {
      rangeSize: rangeSize(range),
      leases: CLIENTS,
      free: rangeSize(range) - CLIENTS,
      nearlyFull: false,
    });
    assert.equal(
      serveLog.filter((e) => e.event === "dhcp_nearly_full").length,
      0,
      "240 of 1,007 is not nearly full",
    );
    process.stdout.write(
      `# dhcp-hall: ${CLIENTS} leases in ${Math.round(dhcpMs)} ms (batches of ${BATCH}); ` +
        `all listed as dhcp ${Math.round(seenMs)} ms after the last lease\n`,
    );
  });
});
