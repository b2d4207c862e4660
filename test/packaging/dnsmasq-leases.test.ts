import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import {
  dhcpUsage,
  type Lease,
  macHex,
  parseLeases,
  rangeSize,
  readDnsmasqConf,
  watchLeases,
} from "../../packaging/dnsmasq-leases.ts";

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
  it("reports new and changed leases once, not renewals; a missing file is no lease", async () => {
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
      assert.deepEqual(seen, [
        "52:54:00:00:00:01 10.13.36.20",
        "52:54:00:00:00:02 10.13.36.21",
        "52:54:00:00:00:01 10.13.36.30",
      ]);
      assert.equal(w.byIp("::ffff:10.13.36.21")?.mac, "52:54:00:00:00:02");
      assert.equal(w.byIp("10.13.36.20"), undefined);
      assert.equal(w.current().length, 2);
      assert.deepEqual(errors, []);
      w.stop();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
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
    });
    assert.deepEqual(readDnsmasqConf(conf), {
      dhcpRange: ["10.13.36.16", "10.13.39.254"],
      leaseFile: "/run/recon/dnsmasq.leases",
    });
    assert.deepEqual(readDnsmasqConf("dhcp-range=tag:x,10.0.0.9,10.0.0.1,1h\n"), {
      dhcpRange: null,
      leaseFile: null,
    });
  });
});
