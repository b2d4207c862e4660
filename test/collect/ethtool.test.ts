import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import fc from "fast-check";
import { z } from "zod";
import {
  driverInfoProbe,
  emptyEthtoolLink,
  ethtoolLinkCollector,
  ethtoolLinkProbe,
  firmwareVersionCollector,
  isSafeIfname,
  parseDriverInfo,
  parseEthtoolLink,
  parsePermanentMac,
  permanentMacCollector,
  permanentMacProbe,
  readDriverInfo,
} from "../../agent/collect/ethtool.ts";
import type { Probe, ProbeResult, Runner } from "../../agent/exec.ts";
import { replayRunner } from "../../agent/exec.ts";
import { Nic } from "../../schema/inventory.ts";
import { assertHonestParser, assertSurvivesMutations } from "../support/properties.ts";

const FIXTURES = new URL("../../fixtures/", import.meta.url);
const read = (path: string) => readFileSync(new URL(path, FIXTURES), "utf8");
const dir = (path: string) => new URL(path, FIXTURES).pathname;
const HERE = "this-machine-extra-tools/";
const VM_A = "this-machine-extra-tools/qemu-ahci-nvme-virtio/";
const VM_B = "this-machine-extra-tools/qemu-megasas-lsi/";
const JC = "../samples/ethtool-jc/";

// --- permanent address ------------------------------------------------------------------------

test("ethtool -P: real captures (virtio-net, e1000, e1000e, loopback, ifb)", () => {
  assert.equal(parsePermanentMac(read(`${HERE}ethtool-P-eth0.txt`)), "02:fc:00:00:00:01");
  assert.equal(parsePermanentMac(read(`${VM_A}ethtool-P-eth0.txt`)), "52:54:00:12:34:56");
  assert.equal(parsePermanentMac(read(`${VM_A}ethtool-P-eth1.txt`)), "52:54:00:ab:cd:ef");
  assert.equal(parsePermanentMac(read(`${VM_B}ethtool-P-eth0.txt`)), "52:54:00:65:43:21");
  assert.equal(parsePermanentMac(read(`${HERE}ethtool-P-lo.txt`)), null, "not set");
  assert.equal(parsePermanentMac(read(`${HERE}ethtool-P-ifb0.txt`)), null, "not set");
});

test("ethtool -P: old all-zero form, uppercase, InfiniBand, junk", () => {
  assert.equal(parsePermanentMac("Permanent address: 00:00:00:00:00:00\n"), null);
  assert.equal(parsePermanentMac("Permanent address: 3C:EC:EF:10:20:30\r\n"), "3c:ec:ef:10:20:30");
  const ib = "80:00:02:08:fe:80:00:00:00:00:00:00:0c:42:a1:03:00:aa:bb:cc";
  assert.equal(parsePermanentMac(`Permanent address: ${ib}\n`), ib);
  for (const text of [
    "",
    "Permanent address:",
    "Permanent address: \n",
    "No data available\n",
    "Cannot get permanent hardware address: No such device\n",
  ]) {
    assert.equal(parsePermanentMac(text), null, JSON.stringify(text));
  }
  assert.equal(parsePermanentMac("Permanent address: 12:34:56:78:9a\n"), null, "five bytes");
});

// --- link settings ----------------------------------------------------------------------------

test("ethtool <if>: the jc samples", () => {
  assert.deepEqual(parseEthtoolLink(read(`${JC}ethtool-1.txt`)), {
    speedMbps: 1000,
    linkDetected: true,
    duplex: "full",
  });
  assert.deepEqual(parseEthtoolLink(read(`${JC}ethtool-2.txt`)), {
    speedMbps: 40000,
    linkDetected: true,
    duplex: "full",
  });
  // Link partner lines come before the local Speed line; they must not confuse it.
  assert.deepEqual(parseEthtoolLink(read(`${JC}ethtool-3-link-partner.txt`)), {
    speedMbps: 100,
    linkDetected: true,
    duplex: "full",
  });
});

test("ethtool <if>: our captures (e1000, e1000e, virtio Unknown!, loopback, No data available)", () => {
  const full = { speedMbps: 1000, linkDetected: true, duplex: "full" };
  assert.deepEqual(parseEthtoolLink(read(`${VM_A}ethtool-eth0.txt`)), full);
  assert.deepEqual(parseEthtoolLink(read(`${VM_B}ethtool-eth0.txt`)), full);
  const unknown = { speedMbps: null, linkDetected: true, duplex: null };
  assert.deepEqual(parseEthtoolLink(read(`${VM_A}ethtool-eth1.txt`)), unknown);
  assert.deepEqual(parseEthtoolLink(read(`${HERE}ethtool-eth0.txt`)), unknown);
  assert.deepEqual(parseEthtoolLink(read(`${HERE}ethtool-lo.txt`)), unknown);
  assert.deepEqual(parseEthtoolLink(read(`${HERE}ethtool-ifb0.txt`)), emptyEthtoolLink());
});

test("ethtool <if>: half duplex, no link, odd spellings", () => {
  assert.deepEqual(
    parseEthtoolLink("Settings for eth3:\n\tSpeed: 10Mb/s\n\tDuplex: Half\n\tLink detected: no\n"),
    { speedMbps: 10, linkDetected: false, duplex: "half" },
  );
  assert.deepEqual(
    parseEthtoolLink("\tSpeed: 25000Mb/s\r\n\tDuplex: Full\r\n\tLink detected: yes\r\n"),
    {
      speedMbps: 25000,
      linkDetected: true,
      duplex: "full",
    },
  );
  assert.deepEqual(
    parseEthtoolLink("\tSpeed: 0Mb/s\n\tDuplex: Unknown! (255)\n"),
    emptyEthtoolLink(),
  );
  assert.deepEqual(parseEthtoolLink("\tSpeed: 1000Gb/s\n"), emptyEthtoolLink());
  // Features output (ethtool -k) is not link output.
  assert.deepEqual(
    parseEthtoolLink(read("../samples/ethtool-k-rhcip/ethtool-k.txt")),
    emptyEthtoolLink(),
  );
  assert.deepEqual(parseEthtoolLink(read(`${JC}ethtool-m.txt`)), emptyEthtoolLink());
});

// --- names and probes -------------------------------------------------------------------------

test("interface names: the kernel's alphabet only, never an option or a path", () => {
  for (const ok of ["eth0", "enp59s0f1np1", "bond0.100", "ib0:1", "veth@x", "a", "x".repeat(15)]) {
    assert.equal(isSafeIfname(ok), true, ok);
  }
  for (const bad of ["", "-P", "--help", ".", "..", "a/b", "a b", "eth0\n", "x".repeat(16), "é"]) {
    assert.equal(isSafeIfname(bad), false, JSON.stringify(bad));
  }
  assert.deepEqual(permanentMacProbe("eth0"), {
    file: "ethtool-P-eth0.txt",
    source: { kind: "command", argv: ["ethtool", "-P", "eth0"], versionArgv: ["--version"] },
    timeoutMs: 5000,
  });
  assert.deepEqual(ethtoolLinkProbe("eth0").source, {
    kind: "command",
    argv: ["ethtool", "eth0"],
    versionArgv: ["--version"],
  });
});

// --- properties -------------------------------------------------------------------------------

const REAL = [
  `${HERE}ethtool-P-eth0.txt`,
  `${HERE}ethtool-P-lo.txt`,
  `${VM_A}ethtool-eth0.txt`,
  `${VM_A}ethtool-eth1.txt`,
  `${JC}ethtool-1.txt`,
  `${JC}ethtool-2.txt`,
  `${JC}ethtool-3-link-partner.txt`,
].map(read);
const NicPart = Nic.pick({ permanentMacAddress: true, speedMbps: true, linkUp: true });

function check(text: string) {
  const mac = parsePermanentMac(text);
  const link = parseEthtoolLink(text);
  NicPart.parse({ permanentMacAddress: mac, speedMbps: link.speedMbps, linkUp: link.linkDetected });
  assert.ok(link.duplex === null || link.duplex === "full" || link.duplex === "half");
}

test("property: random text and ethtool-shaped lines never throw and stay schema-valid", () => {
  const line = fc
    .tuple(
      fc.constantFrom("Permanent address", "Speed", "Duplex", "Link detected", "\tSpeed", "Port"),
      fc.oneof(
        fc.constantFrom("1000Mb/s", "Unknown!", "99999999999Mb/s", "yes", "no", "Full", "not set"),
        fc
          .array(fc.integer({ min: 0, max: 255 }), { maxLength: 22 })
          .map((b) => b.map((x) => x.toString(16).padStart(2, "0")).join(":")),
        fc.string(),
      ),
    )
    .map(([k, v]) => `${k}: ${v}`);
  fc.assert(
    fc.property(
      fc.oneof(
        fc.string(),
        fc.array(fc.oneof(line, fc.string())).map((l) => l.join("\n")),
      ),
      check,
    ),
    { numRuns: 500 },
  );
});

test("property: truncated and mutated real captures stay schema-valid", () => {
  assertSurvivesMutations(REAL, (text) => check(text), 300);
});

test("property: only safe names reach argv; each safe name gets exactly one entry", async () => {
  const name = fc.oneof(
    fc.constantFrom("eth0", "eth1", "-P", "..", "a/b", "__proto__", "constructor", "lo"),
    fc.string({ maxLength: 17 }),
  );
  await fc.assert(
    fc.asyncProperty(fc.array(name, { maxLength: 8 }), async (names) => {
      const seen: string[] = [];
      const runner: Runner = {
        async run(probe) {
          assert.ok(probe.source.kind === "command");
          const arg = probe.source.argv.at(-1) as string;
          assert.ok(isSafeIfname(arg), arg);
          assert.ok(!probe.file.includes("/"));
          seen.push(arg);
          return ok(
            probe,
            `Permanent address: 52:54:00:00:00:${(seen.length % 256).toString(16).padStart(2, "0")}\n`,
          );
        },
      };
      const out = await permanentMacCollector(names)(runner);
      const safe = [...new Set(names.filter(isSafeIfname))];
      assert.deepEqual(Object.keys(out.value).sort(), [...safe].sort());
      assert.equal(seen.length, safe.length);
      assert.equal(Object.getPrototypeOf(out.value), Object.prototype);
      assert.equal(out.reports.length, new Set(names).size);
    }),
    { numRuns: 200 },
  );
});

// --- collectors -------------------------------------------------------------------------------

function ok(probe: Probe, output: string, extra: Partial<ProbeResult> = {}): ProbeResult {
  return {
    file: probe.file,
    status: "ok",
    output,
    exitCode: 0,
    durationMs: 1,
    command: probe.source.kind === "command" ? probe.source.argv.join(" ") : "",
    message: null,
    ...extra,
  };
}

test("permanentMacCollector: replay of this machine (including a recorded failure)", async () => {
  const collect = permanentMacCollector(["eth0", "lo", "ifb0", "nonexistent0", "eth9"]);
  const out = await collect(await replayRunner(dir(HERE)));
  assert.deepEqual(out.value, {
    eth0: "02:fc:00:00:00:01",
    lo: null,
    ifb0: null,
    nonexistent0: null,
    eth9: null,
  });
  assert.deepEqual(
    out.reports.map((r) => [r.name, r.status, r.message]),
    [
      ["ethtool-permaddr", "ok", null],
      ["ethtool-permaddr", "ok", null],
      ["ethtool-permaddr", "ok", null],
      ["ethtool-permaddr", "failed", "netlink error: No such device"],
      ["ethtool-permaddr", "skipped", "not captured"],
    ],
  );
});

test("permanentMacCollector: the QEMU guests; a hand-made capture dir", async () => {
  const a = await permanentMacCollector(["eth0", "eth1", "lo"])(await replayRunner(dir(VM_A)));
  assert.deepEqual(a.value, { eth0: "52:54:00:12:34:56", eth1: "52:54:00:ab:cd:ef", lo: null });
  const temp = mkdtempSync(join(tmpdir(), "recon-ethtool-"));
  try {
    writeFileSync(join(temp, "ethtool-P-eno1.txt"), "Permanent address: 3c:ec:ef:10:20:30\n");
    writeFileSync(join(temp, "ethtool-P-eno2.txt"), "Permanent address: 00:00:00:00:00:00\n");
    const out = await permanentMacCollector(["eno1", "eno2", "eno1", "../x"])(
      await replayRunner(temp),
    );
    assert.deepEqual(out.value, { eno1: "3c:ec:ef:10:20:30", eno2: null });
    assert.deepEqual(
      out.reports.map((r) => [r.status, r.command]),
      [
        ["skipped", null],
        ["ok", "replay ethtool-P-eno1.txt"],
        ["ok", "replay ethtool-P-eno2.txt"],
      ],
    );
  } finally {
    rmSync(temp, { recursive: true, force: true });
  }
});

test("permanentMacCollector: no names, no probes; at most four at a time", async () => {
  const none = await permanentMacCollector([])({
    run: () => Promise.reject(new Error("must not run")),
  });
  assert.deepEqual(none, { value: {}, reports: [] });
  let running = 0;
  let peak = 0;
  const runner: Runner = {
    async run(probe) {
      running++;
      peak = Math.max(peak, running);
      await new Promise((r) => setTimeout(r, 2));
      running--;
      return ok(probe, "Permanent address: 52:54:00:12:34:56\n");
    },
  };
  const names = Array.from({ length: 12 }, (_, i) => `eth${i}`);
  const out = await permanentMacCollector(names)(runner);
  assert.equal(Object.keys(out.value).length, 12);
  assert.ok(peak <= 4 && peak >= 2, `peak ${peak}`);
});

test("ethtoolLinkCollector: replay of the QEMU guest and of this machine", async () => {
  const a = await ethtoolLinkCollector(["eth0", "eth1"])(await replayRunner(dir(VM_A)));
  assert.deepEqual(a.value, {
    eth0: { speedMbps: 1000, linkDetected: true, duplex: "full" },
    eth1: { speedMbps: null, linkDetected: true, duplex: null },
  });
  const here = await ethtoolLinkCollector(["eth0", "ifb0", "nonexistent0"])(
    await replayRunner(dir(HERE)),
  );
  assert.deepEqual(here.value, {
    eth0: { speedMbps: null, linkDetected: true, duplex: null },
    ifb0: emptyEthtoolLink(),
    nonexistent0: emptyEthtoolLink(),
  });
  assert.deepEqual(
    here.reports.map((r) => [r.name, r.status, r.exitCode]),
    [
      ["ethtool-link", "ok", 0],
      ["ethtool-link", "failed", 75],
      ["ethtool-link", "failed", 75],
    ],
  );
});

// --- driver info (ethtool -i): firmware version -------------------------------------------------

const ETHTOOL_I = new URL("../../samples/ethtool-i/", import.meta.url);
const readI = (name: string) => readFileSync(new URL(name, ETHTOOL_I), "utf8");
const DRIVER_INFO_SAMPLES = [
  "ethtool-i-node-exporter-e1000e.txt",
  "ethtool-i-this-machine-eth0.txt",
  "ethtool-i-this-machine-ifb0.txt",
];

test("ethtool -i: real outputs (e1000e with firmware, virtio_net and ifb without)", () => {
  assert.deepEqual(parseDriverInfo(readI("ethtool-i-node-exporter-e1000e.txt")), {
    driver: "e1000e",
    firmwareVersion: "0.5-4",
    busInfo: "0000:00:1f.6",
  });
  assert.deepEqual(parseDriverInfo(readI("ethtool-i-this-machine-eth0.txt")), {
    driver: "virtio_net",
    firmwareVersion: null,
    busInfo: "0000:00:03.0",
  });
  assert.deepEqual(parseDriverInfo(readI("ethtool-i-this-machine-ifb0.txt")), {
    driver: "ifb",
    firmwareVersion: null,
    busInfo: null,
  });
  for (const name of DRIVER_INFO_SAMPLES) assert.equal(readDriverInfo(readI(name)).problem, null);
});

test("ethtool -i: vendor firmware strings are kept whole; N/A and blanks are null", () => {
  const info = (fw: string) => `driver: x\nversion: 1\nfirmware-version: ${fw}\nbus-info: \n`;
  // As mlx5_core, i40e and ixgbe print them (values from public bug reports on netdev).
  for (const fw of [
    "14.27.1016 (MT_2420110034)",
    "5.02 0x80002248 1.33.0",
    "0x80000887, 1.2688.0",
  ]) {
    assert.equal(parseDriverInfo(info(fw)).firmwareVersion, fw);
  }
  assert.equal(parseDriverInfo(info("N/A")).firmwareVersion, null);
  assert.equal(parseDriverInfo(info("   ")).firmwareVersion, null);
  assert.equal(parseDriverInfo(info("1.2\r")).firmwareVersion, "1.2", "CRLF");
  // An indented line is not ethtool -i's (keys start at column 0).
  assert.equal(parseDriverInfo("  firmware-version: 9\n").firmwareVersion, null);
});

test("readDriverInfo: not ethtool -i text is a problem; empty output is not", () => {
  assert.equal(readDriverInfo("").problem, null);
  assert.match(readDriverInfo("Settings for eth0:\n\tSpeed: 1000Mb/s\n").problem ?? "", /driver:/);
  assert.match(readDriverInfo("driver: e1000e\n\u0000\u0001").problem ?? "", /binary/);
});

test("property: readDriverInfo is honest over the real outputs, truncated and overwritten", () => {
  assertHonestParser(
    DRIVER_INFO_SAMPLES.map((n) => readI(n)),
    readDriverInfo,
  );
  const DriverInfo = z.strictObject({
    driver: z.string().nullable(),
    firmwareVersion: z.string().nullable(),
    busInfo: z.string().nullable(),
  });
  assertSurvivesMutations(
    DRIVER_INFO_SAMPLES.map((n) => readI(n)),
    (text) => {
      DriverInfo.parse(parseDriverInfo(text));
      Nic.shape.firmwareVersion.parse(parseDriverInfo(text).firmwareVersion);
    },
  );
});

test("firmwareVersionCollector: a capture dir with ethtool-i files; a missing one is skipped", async () => {
  const temp = mkdtempSync(join(tmpdir(), "recon-ethtool-i-"));
  try {
    writeFileSync(join(temp, "ethtool-i-eno1.txt"), readI("ethtool-i-node-exporter-e1000e.txt"));
    writeFileSync(join(temp, "ethtool-i-eth0.txt"), readI("ethtool-i-this-machine-eth0.txt"));
    const out = await firmwareVersionCollector(["eno1", "eth0", "eth9", "-x"])(
      await replayRunner(temp),
    );
    assert.deepEqual(out.value, { eno1: "0.5-4", eth0: null, eth9: null });
    const status = out.reports.map((r) => `${r.name}:${r.status}`);
    assert.deepEqual(status.sort(), [
      "ethtool-driver:ok",
      "ethtool-driver:ok",
      "ethtool-driver:skipped",
      "ethtool-driver:skipped",
    ]);
    assert.deepEqual(driverInfoProbe("eno1").source, {
      kind: "command",
      argv: ["ethtool", "-i", "eno1"],
      versionArgv: ["--version"],
    });
  } finally {
    rmSync(temp, { recursive: true, force: true });
  }
});

test("ethtool -i in the QEMU capture: e1000e firmware 2.1-0; cdc_ether's description is no firmware", () => {
  const uefi = (name: string) => read(`qemu-uefi/${name}`);
  assert.deepEqual(parseDriverInfo(uefi("ethtool-i-eth0.txt")), {
    driver: "e1000e",
    firmwareVersion: "2.1-0",
    busInfo: "0000:81:00.0",
  });
  assert.deepEqual(parseDriverInfo(uefi("ethtool-i-usb0.txt")), {
    driver: "cdc_ether",
    firmwareVersion: null, // the file says "firmware-version: CDC Ethernet Device"
    busInfo: "usb-0000:00:04.0-1",
  });
  assert.match(uefi("ethtool-i-usb0.txt"), /^firmware-version: CDC Ethernet Device$/m);
});
