import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import {
  clientArchOf,
  dhcpUsage,
  type HookLease,
  type Lease,
  MAX_HOOK_LINE,
  macHex,
  newestByMac,
  parseHookLine,
  parseLeases,
  rangeSize,
  readDnsmasqConf,
  watchHookFile,
  watchLeases,
} from "../../packaging/dnsmasq-leases.ts";

const HOOK = join(import.meta.dirname, "../../packaging/dnsmasq-hook.sh");

// Lines as dnsmasq 2.90 writes them (this machine, udhcpc clients; the duid line appears once
// DHCPv6 is enabled).
const FILE = [
  "1764650943 52:54:00:12:34:56 10.13.36.20 peer-1 01:52:54:00:12:34:56",
  "1764650951 2A:C4:11:00:00:07 10.13.36.21 * *",
  "0 52:54:00:00:00:09 10.13.36.22 * ff:00:00:00:09:00:01",
  "duid 00:01:00:01:2c:aa:bb:cc:52:54:00:12:34:56",
  "1764650951 not-a-mac 10.13.36.23 * *",
  "1764650951 52:54:00:00:00:0a 10.13.36.300 * *",
  "17646509", // torn while dnsmasq wrote it
  "",
].join("\n");

describe("parseLeases", () => {
  it("reads the IPv4 leases and skips everything else", () => {
    assert.deepEqual(parseLeases(FILE), [
      {
        expiresAt: 1764650943,
        mac: "52:54:00:12:34:56",
        ip: "10.13.36.20",
        hostname: "peer-1",
        clientId: "01:52:54:00:12:34:56",
      },
      {
        expiresAt: 1764650951,
        mac: "2a:c4:11:00:00:07",
        ip: "10.13.36.21",
        hostname: null,
        clientId: null,
      },
      {
        expiresAt: 0,
        mac: "52:54:00:00:00:09",
        ip: "10.13.36.22",
        hostname: null,
        clientId: "ff:00:00:00:09:00:01",
      },
    ]);
    assert.deepEqual(parseLeases(""), []);
    assert.deepEqual(parseLeases("\u0000\u0001 garbage"), []);
  });

  it("never keeps a hostname that could break a page or a path", () => {
    const [lease] = parseLeases("0 52:54:00:12:34:56 10.13.36.20 <script> *\n");
    assert.equal(lease?.hostname, null);
  });
});

describe("dhcpUsage", () => {
  const lease = (ip: string, expiresAt = 0): Lease => ({
    expiresAt,
    mac: "52:54:00:00:00:01",
    ip,
    hostname: null,
    clientId: null,
  });

  it("counts live leases in the range", () => {
    assert.equal(rangeSize(["10.13.36.16", "10.13.39.254"]), 1007);
    const leases = [
      lease("10.13.36.20"),
      lease("10.13.36.21", 100),
      lease("10.13.36.22", 300),
      lease("10.13.40.1"),
    ];
    assert.deepEqual(dhcpUsage(leases, ["10.13.36.16", "10.13.39.254"], 200), {
      rangeSize: 1007,
      leases: 2,
      free: 1005,
      nearlyFull: false,
    });
    assert.deepEqual(dhcpUsage(leases, null, 200), {
      rangeSize: null,
      leases: 3,
      free: null,
      nearlyFull: false,
    });
  });

  it("is nearly full below 5 % free or below 10 free", () => {
    const many = (n: number) =>
      Array.from({ length: n }, (_, i) => lease(`10.0.${Math.floor(i / 250)}.${(i % 250) + 1}`));
    const range: [string, string] = ["10.0.0.1", "10.0.3.232"]; // 1,000 addresses
    assert.equal(rangeSize(range), 1000);
    assert.equal(dhcpUsage(many(950), range, 0).nearlyFull, false);
    assert.equal(dhcpUsage(many(951), range, 0).nearlyFull, true);
    const small: [string, string] = ["10.0.0.1", "10.0.0.20"];
    assert.equal(dhcpUsage(many(10), small, 0).nearlyFull, false);
    assert.equal(dhcpUsage(many(11), small, 0).nearlyFull, true);
  });

  it("macHex", () => {
    assert.equal(macHex("52:54:00:AB:cd:ef"), "525400abcdef");
    assert.equal(macHex("52-54-00-ab-cd-ef"), null);
  });
});

describe("watchLeases", () => {
  it("reports a MAC's newest lease when new or on a new address, not renewals, hostnames or older leases; a missing file is no lease", async () => {
    const dir = mkdtempSync(join(tmpdir(), "recon-leases-"));
    try {
      const file = join(dir, "dnsmasq.leases");
      const seen: string[] = [];
      const errors: unknown[] = [];
      const w = watchLeases({
        file,
        intervalMs: 60_000,
        onLease: (l) => seen.push(`${l.mac} ${l.ip}`),
        onError: (e) => errors.push(e),
      });
      await w.poll();
      assert.deepEqual(seen, []);
      writeFileSync(file, "100 52:54:00:00:00:01 10.13.36.20 * *\n");
      await w.poll();
      writeFileSync(
        file,
        "200 52:54:00:00:00:01 10.13.36.20 * *\n100 52:54:00:00:00:02 10.13.36.21 * *\n",
      );
      await w.poll();
      writeFileSync(
        file,
        "300 52:54:00:00:00:01 10.13.36.30 * *\n100 52:54:00:00:00:02 10.13.36.21 * *\n",
      );
      await w.poll();
      // Only a hostname that changed, and an older lease of the same MAC: nothing new.
      writeFileSync(
        file,
        "300 52:54:00:00:00:01 10.13.36.30 peer-1 *\n100 52:54:00:00:00:02 10.13.36.21 * *\n" +
          "50 52:54:00:00:00:01 10.13.36.40 * *\n",
      );
      await w.poll();
      assert.deepEqual(seen, [
        "52:54:00:00:00:01 10.13.36.20",
        "52:54:00:00:00:02 10.13.36.21",
        "52:54:00:00:00:01 10.13.36.30",
      ]);
      assert.equal(w.byIp("::ffff:10.13.36.21")?.mac, "52:54:00:00:00:02");
      assert.equal(w.byIp("10.13.36.20"), undefined);
      assert.equal(w.current().length, 3);
      assert.deepEqual(errors, []);
      w.stop();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("newestByMac", () => {
  it("keeps each MAC's lease with the latest expiry (0 is infinite; a tie goes to the later line)", () => {
    const leases = parseLeases(
      "1000 52:54:00:00:00:01 10.13.36.20 * *\n" +
        "2000 52:54:00:00:00:01 10.13.36.21 recon-peer 01:52:54:00:00:00:01\n" +
        "0 52:54:00:00:00:02 10.13.36.22 * *\n" +
        "5000 52:54:00:00:00:02 10.13.36.23 * *\n" +
        "700 52:54:00:00:00:03 10.13.36.24 * *\n" +
        "700 52:54:00:00:00:03 10.13.36.25 * *\n",
    );
    assert.deepEqual(
      newestByMac(leases).map((l) => `${l.mac} ${l.ip}`),
      [
        "52:54:00:00:00:01 10.13.36.21",
        "52:54:00:00:00:02 10.13.36.22",
        "52:54:00:00:00:03 10.13.36.25",
      ],
    );
  });
});

describe("readDnsmasqConf", () => {
  it("reads the range and lease file renderDnsmasqConf writes", async () => {
    const { renderDnsmasqConf, defaultDhcpRange, DEFAULT_MASTER_CIDR } = await import(
      "../../packaging/dnsmasq.ts"
    );
    const conf = renderDnsmasqConf({
      interface: "eth0",
      address: "10.13.36.1",
      dhcpRange: defaultDhcpRange(DEFAULT_MASTER_CIDR),
      netmask: "255.255.252.0",
      tftpRoot: "/run/recon/tftp",
      httpBase: "http://10.13.36.1",
      leaseFile: "/run/recon/dnsmasq.leases",
      dhcpScript: "/usr/lib/recon/dnsmasq-hook.sh",
    });
    assert.deepEqual(readDnsmasqConf(conf), {
      dhcpRange: ["10.13.36.16", "10.13.39.254"],
      leaseFile: "/run/recon/dnsmasq.leases",
      dhcpScript: "/usr/lib/recon/dnsmasq-hook.sh",
    });
    assert.deepEqual(readDnsmasqConf("dhcp-range=tag:x,10.0.0.9,10.0.0.1,1h\n"), {
      dhcpRange: null,
      leaseFile: null,
      dhcpScript: null,
    });
  });
});

describe("the dhcp-script hook", () => {
  it("names the client architecture from the PXE vendor class, else from dnsmasq's tags", () => {
    assert.equal(clientArchOf("PXEClient:Arch:00000:UNDI:002001", []), "bios");
    assert.equal(clientArchOf("PXEClient:Arch:00007:UNDI:003016", []), "uefi-x86_64");
    assert.equal(clientArchOf("PXEClient:Arch:00009", []), "uefi-x86_64");
    assert.equal(clientArchOf("HTTPClient:Arch:00016:UNDI:003001", []), "uefi-x86_64");
    assert.equal(clientArchOf("PXEClient:Arch:00011:UNDI:003000", []), "uefi-arm64");
    assert.equal(clientArchOf("PXEClient:Arch:00006:UNDI:003016", []), "6");
    assert.equal(clientArchOf("udhcp 1.35.0", ["efi-x86_64", "lh0"]), "uefi-x86_64");
    assert.equal(clientArchOf(null, ["efi-arm64"]), "uefi-arm64");
    assert.equal(clientArchOf("PXEClient:Arch:7", ["known"]), null, "five digits or nothing");
    assert.equal(clientArchOf("xPXEClient:Arch:00000", []), null);
    assert.equal(clientArchOf(null, []), null);
  });

  it("writes one line per add/old, client fields with a tab, newline or over 255 bytes empty", () => {
    const dir = mkdtempSync(join(tmpdir(), "recon-hook-"));
    const out = join(dir, "hook.tsv");
    const run = (args: string[], env: Record<string, string>) =>
      execFileSync(HOOK, args, {
        env: { PATH: "/usr/bin:/bin", RECON_DHCP_HOOK_FILE: out, ...env },
      });
    try {
      const pxe = "PXEClient:Arch:00007:UNDI:003016";
      run(["add", "52:54:00:12:34:56", "10.13.36.20", "peer-1"], {
        DNSMASQ_VENDOR_CLASS: pxe,
        DNSMASQ_TAGS: "efi-x86_64 lh0",
        DNSMASQ_LEASE_EXPIRES: "1764650943",
      });
      // A client that tries to forge a second line and extra fields through its vendor class.
      run(["add", "52:54:00:12:34:57", "10.13.36.21"], {
        DNSMASQ_VENDOR_CLASS: "x\tPXEClient:Arch:00000\nadd\t52:54:00:66:66:66\t10.13.36.99",
      });
      run(["old", "52:54:00:12:34:58", "10.13.36.22", "h".repeat(300)], {
        DNSMASQ_VENDOR_CLASS: "PXEClient:Arch:00000:UNDI:002001",
      });
      run(["del", "52:54:00:12:34:56", "10.13.36.20"], {});
      run(["tftp", "1024", "10.13.36.20", "/srv/tftp/ipxe.efi"], {});
      const lines = readFileSync(out, "utf8").split("\n");
      assert.deepEqual(lines, [
        `add\t52:54:00:12:34:56\t10.13.36.20\tpeer-1\t${pxe}\tefi-x86_64 lh0\t1764650943`,
        "add\t52:54:00:12:34:57\t10.13.36.21\t\t\t\t",
        "old\t52:54:00:12:34:58\t10.13.36.22\t\tPXEClient:Arch:00000:UNDI:002001\t\t",
        "",
      ]);
      const parsed = lines.slice(0, 3).map(parseHookLine);
      assert.deepEqual(
        parsed.map((l) => l && [l.action, l.mac, l.hostname, l.clientArch, l.expiresAt]),
        [
          ["add", "52:54:00:12:34:56", "peer-1", "uefi-x86_64", 1764650943],
          ["add", "52:54:00:12:34:57", null, null, 0],
          ["old", "52:54:00:12:34:58", null, "bios", 0],
        ],
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("the reader checks every field: other actions, bad MACs and addresses, odd lines go", () => {
    const ok = "add\t52:54:00:12:34:56\t10.13.36.20\tpeer-1\tPXEClient:Arch:00000\tlh0\t1";
    assert.equal(parseHookLine(ok)?.clientArch, "bios");
    assert.equal(parseHookLine(ok.replace("add", "del")), null);
    assert.equal(parseHookLine(ok.replace("52:54:00:12:34:56", "06-52:54:00:12:34:56")), null);
    assert.equal(parseHookLine(ok.replace("10.13.36.20", "10.13.36.256")), null);
    assert.equal(parseHookLine(`${ok}\textra`), null);
    assert.deepEqual(
      parseHookLine(ok.replace("peer-1", "../../x")),
      parseHookLine(ok.replace("peer-1", "")),
    );
    assert.equal(parseHookLine(ok.replace("peer-1", "bad name"))?.hostname, null);
    assert.deepEqual(parseHookLine(ok.replace("lh0", "known $(reboot) efi-x86_64"))?.tags, [
      "known",
      "efi-x86_64",
    ]);
    assert.equal(parseHookLine(`${ok}${"x".repeat(MAX_HOOK_LINE)}`), null);
  });

  it("follows the file as it grows: partial lines wait, overlong ones are skipped whole", async () => {
    const dir = mkdtempSync(join(tmpdir(), "recon-hook-"));
    const file = join(dir, "hook.tsv");
    const seen: HookLease[] = [];
    const watcher = watchHookFile({ file, onLease: (l) => seen.push(l) });
    const line = (i: number) =>
      `add\t52:54:00:00:00:${String(i).padStart(2, "0")}\t10.13.36.${20 + i}\t\tPXEClient:Arch:00007\t\t0\n`;
    try {
      await watcher.poll(); // no file yet: nothing, no error
      writeFileSync(file, line(1) + line(2).slice(0, 10));
      await watcher.poll();
      assert.deepEqual(
        seen.map((l) => l.mac),
        ["52:54:00:00:00:01"],
      );
      appendFileSync(file, line(2).slice(10));
      appendFileSync(file, `add\t${"A".repeat(3 * MAX_HOOK_LINE)}`);
      await watcher.poll();
      appendFileSync(file, `${"B".repeat(MAX_HOOK_LINE)}\n${line(3)}`);
      await watcher.poll();
      assert.deepEqual(
        seen.map((l) => l.mac),
        ["52:54:00:00:00:01", "52:54:00:00:00:02", "52:54:00:00:00:03"],
      );
      // Replaced by a shorter file (dnsmasq's host rebooted, /run is new): read from the start.
      writeFileSync(file, line(4));
      await watcher.poll();
      assert.equal(seen.at(-1)?.mac, "52:54:00:00:00:04");
      assert.equal(seen.length, 4);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
