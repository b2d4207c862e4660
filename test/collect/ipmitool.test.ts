import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import fc from "fast-check";
import { z } from "zod";
import {
  collectIpmi,
  emptyIpmiFacts,
  firmwareAnnouncesBmc,
  IPMI_REPORT_NAMES,
  ipmiCollector,
  ipmiProbes,
  parseFruPrint,
  parseLanPrint,
  parseMcInfo,
  presentDevices,
} from "../../agent/collect/ipmitool.ts";
import {
  type CaptureManifest,
  MANIFEST_FILE,
  type Probe,
  type ProbeResult,
  type Runner,
  realRunner,
  replayRunner,
} from "../../agent/exec.ts";
import { Bmc, CollectorReport, Fru } from "../../schema/inventory.ts";
import {
  DEFAULT_FRU,
  DEFAULT_LAN,
  DEFAULT_SENSORS,
  ipmiSimSkip,
  startIpmiSim,
} from "../support/ipmi-sim.ts";

const FIXTURES = new URL("../../fixtures/", import.meta.url).pathname;
const SIM = join(FIXTURES, "ipmi-sim-openipmi");
const SIM_BARE = join(FIXTURES, "ipmi-sim-openipmi-unconfigured");
const SIM_SENSORS = join(FIXTURES, "ipmi-sim-openipmi-sensors");
const SUPERMICRO_LAN = join(FIXTURES, "../samples/ipmitool-lan-supermicro-rhcip/ipmitool-lan.txt");

const read = (path: string) => readFile(path, "utf8");

const SIM_MC = {
  firmwareVersion: "9.08",
  ipmiVersion: "2.0",
  manufacturerId: 4753,
  manufacturerName: "MontaVista Software, Inc.",
  productId: 3842,
};

const SIM_FRU: Fru[] = [
  {
    id: 0,
    name: "Builtin FRU Device",
    boardManufacturer: "Recon Test Boards",
    boardProduct: "RT-MB1",
    boardSerial: "BSN0001",
    boardPartNumber: "BPN-42",
    productManufacturer: "Recon Systems",
    productName: "RS-1U",
    productSerial: "PSN0001",
    productPartNumber: "RS-1U-A",
    chassisSerial: "CSN0001",
    chassisPartNumber: "CHS-1000",
  },
  {
    id: 1,
    name: "PSU1",
    boardManufacturer: null,
    boardProduct: null,
    boardSerial: null,
    boardPartNumber: null,
    productManufacturer: "Recon Power",
    productName: "RP-800W",
    productSerial: "PSU0001",
    productPartNumber: "RP800",
    chassisSerial: null,
    chassisPartNumber: null,
  },
];

/** A runner answering from a table keyed by capture file name; records what was asked. */
function tableRunner(table: Record<string, Partial<ProbeResult>>) {
  const asked: Probe[] = [];
  const runner: Runner = {
    async run(probe) {
      asked.push(probe);
      const entry = table[probe.file];
      const command =
        probe.source.kind === "command" ? probe.source.argv.join(" ") : `table ${probe.file}`;
      return {
        file: probe.file,
        status: "skipped",
        output: "",
        exitCode: null,
        durationMs: 1,
        command,
        message: entry ? null : "not in table",
        ...entry,
      };
    },
  };
  return { runner, asked, files: () => asked.map((p) => p.file) };
}

const ok = (output: string): Partial<ProbeResult> => ({ status: "ok", output, exitCode: 0 });

// --- parsers on real captures ---

test("parseMcInfo: ipmi_sim capture", async () => {
  assert.deepEqual(parseMcInfo(await read(join(SIM, "ipmitool-mc-info.txt"))), SIM_MC);
});

test("parseMcInfo: unnamed vendor and empty input give nulls", () => {
  const text = [
    "Firmware Revision         : 3.45",
    "IPMI Version              : 2.0",
    "Manufacturer ID           : 10876",
    "Manufacturer Name         : Unknown (0x2A7C)",
    "Product ID                : 2327 (0x0917)",
  ].join("\n");
  assert.deepEqual(parseMcInfo(text), {
    firmwareVersion: "3.45",
    ipmiVersion: "2.0",
    manufacturerId: 10876,
    manufacturerName: null,
    productId: 2327,
  });
  assert.deepEqual(parseMcInfo(""), {
    firmwareVersion: null,
    ipmiVersion: null,
    manufacturerId: null,
    manufacturerName: null,
    productId: null,
  });
});

test("parseLanPrint: Supermicro sample (static, VLAN disabled)", async () => {
  assert.deepEqual(parseLanPrint(await read(SUPERMICRO_LAN)), {
    macAddress: "00:30:48:f4:4d:83",
    ipv4Address: "10.151.68.13",
    ipv4Source: "static",
    netmask: "255.255.255.0",
    gateway: "10.151.68.3",
    vlanId: null,
  });
});

test("parseLanPrint: ipmi_sim capture with VLAN 42", async () => {
  assert.deepEqual(parseLanPrint(await read(join(SIM, "ipmitool-lan-print-1.txt"))), {
    macAddress: "52:54:00:12:34:56",
    ipv4Address: "192.0.2.10",
    ipv4Source: "static",
    netmask: "255.255.255.0",
    gateway: "192.0.2.1",
    vlanId: 42,
  });
});

test("parseLanPrint: unconfigured channel is a LAN channel with null facts", async () => {
  assert.deepEqual(parseLanPrint(await read(join(SIM_BARE, "ipmitool-lan-print-1.txt"))), {
    macAddress: null,
    ipv4Address: null,
    ipv4Source: "other",
    netmask: null,
    gateway: null,
    vlanId: null,
  });
});

test("parseLanPrint: address sources and non-LAN output", () => {
  const source = (value: string) =>
    parseLanPrint(`IP Address Source       : ${value}\n`)?.ipv4Source;
  assert.equal(source("Static Address"), "static");
  assert.equal(source("DHCP Address"), "dhcp");
  assert.equal(source("BIOS Assigned Address"), "bios");
  assert.equal(source("Unspecified"), "other");
  assert.equal(parseLanPrint("Channel 2 is not a LAN channel\n"), null);
  assert.equal(parseLanPrint(""), null);
  assert.equal(parseLanPrint("IP Address              : 10.0.0.5\n")?.ipv4Source, null);
});

test("parseFruPrint: ipmi_sim capture, two devices in output order", async () => {
  assert.deepEqual(parseFruPrint(await read(join(SIM, "ipmitool-fru-print.txt"))), SIM_FRU);
});

test("parseFruPrint: a device that is not present is left out", async () => {
  assert.deepEqual(parseFruPrint(await read(join(SIM_BARE, "ipmitool-fru-print.txt"))), []);
});

test("parseFruPrint: placeholders, Mfg Date, repeated keys, odd headers", () => {
  const text = [
    "FRU Device Description : Builtin FRU Device (ID 0)",
    " Board Mfg Date        : Mon Jan  1 00:00:00 1996",
    " Board Mfg             : Supermicro",
    " Board Serial          : To be filled by O.E.M.",
    " Board Serial          : SECOND",
    " Product Extra         : Product Serial : fake",
    "",
    "FRU Device Description : Front Panel",
    " Chassis Serial        : C1234",
  ].join("\n");
  const frus = parseFruPrint(text);
  assert.equal(frus.length, 2);
  assert.equal(frus[0]?.boardManufacturer, "Supermicro");
  assert.equal(frus[0]?.boardSerial, null);
  assert.equal(frus[0]?.productSerial, null);
  assert.deepEqual(
    [frus[1]?.id, frus[1]?.name, frus[1]?.chassisSerial],
    [null, "Front Panel", "C1234"],
  );
});

// --- properties ---

const bmcFrom = (text: string) => ({ ...parseMcInfo(text), ...emptyLan(parseLanPrint(text)) });
function emptyLan(lan: ReturnType<typeof parseLanPrint>) {
  return {
    macAddress: lan?.macAddress ?? null,
    ipv4Address: lan?.ipv4Address ?? null,
    ipv4Source: lan?.ipv4Source ?? null,
    netmask: lan?.netmask ?? null,
    gateway: lan?.gateway ?? null,
    vlanId: lan?.vlanId ?? null,
    channel: null,
  };
}

const KEYS = [
  "FRU Device Description",
  "Board Mfg",
  "Board Mfg Date",
  "Board Product",
  "Board Serial",
  "Board Part Number",
  "Product Manufacturer",
  "Product Name",
  "Product Serial",
  "Product Part Number",
  "Chassis Serial",
  "Chassis Part Number",
  "IP Address Source",
  "IP Address",
  "Subnet Mask",
  "MAC Address",
  "Default Gateway IP",
  "802.1q VLAN ID",
  "Firmware Revision",
  "IPMI Version",
  "Manufacturer ID",
  "Manufacturer Name",
  "Product ID",
];
const VALUES = fc.oneof(
  fc.string(),
  fc.constantFrom(
    "0.0.0.0",
    "10.1.2.3",
    "999.1.1.1",
    "00:00:00:00:00:00",
    "AA:BB:CC:DD:EE:FF",
    "Disabled",
    "4096",
    "Static Address",
    "Builtin FRU Device (ID 0)",
    "x (ID 99999999999999999999)",
    "Unknown (0x1)",
    "  ",
    ":",
  ),
);
const structured = fc
  .array(fc.tuple(fc.constantFrom(...KEYS), fc.constantFrom(" : ", ":", "   :  "), VALUES), {
    maxLength: 40,
  })
  .map((lines) => lines.map(([k, sep, v]) => `${k}${sep}${v}`).join("\n"));

for (const [name, arbitrary] of [
  ["any text", fc.string({ maxLength: 2000 })],
  ["ipmitool-shaped text", structured],
] as const) {
  test(`parsers never throw and stay schema-valid (${name})`, () => {
    fc.assert(
      fc.property(arbitrary, (text) => {
        Bmc.parse(bmcFrom(text));
        z.array(Fru).parse(parseFruPrint(text));
        presentDevices(text);
      }),
      { numRuns: 500 },
    );
  });
}

test("parsers tolerate non-string input without throwing", () => {
  for (const bad of [undefined, null, 42, {}] as unknown as string[]) {
    parseMcInfo(bad);
    parseLanPrint(bad);
    parseFruPrint(bad);
  }
});

// --- probes ---

test("in-band probes: capture layout, argv, timeouts, root", () => {
  const probes = ipmiProbes();
  const argv = (p: Probe) => (p.source.kind === "command" ? p.source.argv : null);
  assert.deepEqual(argv(probes.mcInfo), ["ipmitool", "mc", "info"]);
  assert.equal(probes.mcInfo.file, "ipmitool-mc-info.txt");
  assert.deepEqual(argv(probes.lanPrint(7)), ["ipmitool", "lan", "print", "7"]);
  assert.equal(probes.lanPrint(7).file, "ipmitool-lan-print-7.txt");
  assert.deepEqual(argv(probes.fruPrint), ["ipmitool", "fru", "print"]);
  assert.equal(probes.fruPrint.file, "ipmitool-fru-print.txt");
  // mc info decides alone whether the BMC answers; the lanes share one interface, so longer
  assert.equal(probes.mcInfo.timeoutMs, 30_000);
  assert.equal(probes.lanPrint(1).timeoutMs, 20_000);
  assert.equal(probes.fruPrint.timeoutMs, 30_000);
  for (const p of [probes.mcInfo, probes.lanPrint(1), probes.fruPrint]) {
    assert.equal(p.needsRoot, true);
    assert.deepEqual(p.source.kind === "command" ? p.source.versionArgv : null, ["-V"]);
  }
  assert.deepEqual(probes.modprobe.map(argv), [
    ["modprobe", "ipmi_devintf"],
    ["modprobe", "ipmi_si"],
  ]);
  const oob = ipmiProbes({ ipmiArgs: ["-I", "lanplus", "-H", "127.0.0.1"] });
  assert.deepEqual(argv(oob.mcInfo), [
    "ipmitool",
    "-I",
    "lanplus",
    "-H",
    "127.0.0.1",
    "mc",
    "info",
  ]);
  assert.equal(oob.mcInfo.needsRoot, false);
});

test("device listing probe: reports each path, never empty", async () => {
  const dir = await mkdtemp(join(tmpdir(), "recon-ipmi-dev-"));
  try {
    const present = join(dir, "ipmi0");
    await writeFile(present, "");
    const probes = ipmiProbes({ devicePaths: [present, join(dir, "ipmi", "0")] });
    assert.equal(probes.devices.source.kind, "internal");
    const listing =
      probes.devices.source.kind === "internal" ? await probes.devices.source.read() : "";
    assert.deepEqual(presentDevices(listing), [present]);
    assert.match(listing, /^absent .*ipmi\/0$/m);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

// --- collectIpmi through replay and table runners ---

function assertReports(reports: CollectorReport[]) {
  z.array(CollectorReport).parse(reports);
  assert.deepEqual(
    reports.map((r) => r.name),
    [...IPMI_REPORT_NAMES],
  );
}

/** The report of collectors[] entry `name`. */
function reportNamed(reports: CollectorReport[], name: string): CollectorReport | undefined {
  return reports.find((r) => r.name === name);
}

test("collectIpmi replays the ipmi_sim capture (no device list: mc info means a BMC)", async () => {
  const { value, reports } = await collectIpmi(await replayRunner(SIM));
  assert.deepEqual(value.bmc, {
    macAddress: "52:54:00:12:34:56",
    ipv4Address: "192.0.2.10",
    ipv4Source: "static",
    netmask: "255.255.255.0",
    gateway: "192.0.2.1",
    vlanId: 42,
    channel: 1,
    ...SIM_MC,
    ipv6Addresses: [],
    users: [],
  });
  assert.deepEqual(value.fru, SIM_FRU);
  assertReports(reports);
  // A capture of an older agent: the probes it did not have are "not captured", nothing else.
  assert.deepEqual(
    reports.map((r) => [r.status, r.message]),
    [
      ["ok", null],
      ["ok", null],
      ["skipped", "not captured"],
      ["skipped", "not captured"],
      ["ok", null],
      ["skipped", "not captured"],
      ["skipped", "not captured"],
    ],
  );
});

test("collectIpmi replays the unconfigured capture: failed fru print is reported", async () => {
  const { value, reports } = await collectIpmi(await replayRunner(SIM_BARE));
  assert.equal(value.bmc?.channel, 1);
  assert.equal(value.bmc?.ipv4Address, null);
  assert.equal(value.bmc?.firmwareVersion, "9.08");
  assert.deepEqual(value.fru, []);
  assertReports(reports);
  const fru = reportNamed(reports, "ipmitool-fru-print");
  assert.equal(fru?.status, "failed");
  assert.equal(fru?.exitCode, 1);
  assert.match(fru?.message ?? "", /Get SDR/);
});

test("collectIpmi: BMC without a LAN channel (QEMU ipmi-bmc-sim) still yields a bmc", async () => {
  const dir = await mkdtemp(join(tmpdir(), "recon-ipmi-qemu-"));
  try {
    await writeFile(join(dir, "ipmi-devices.txt"), "present /dev/ipmi0\nabsent /dev/ipmi/0\n");
    await writeFile(
      join(dir, "ipmitool-mc-info.txt"),
      await read(join(SIM, "ipmitool-mc-info.txt")),
    );
    const manifest: CaptureManifest = {
      format: "recon-capture/1",
      capturedAt: "2024-01-01T00:00:00Z",
      agentVersion: "test",
      probes: {},
    };
    for (let channel = 1; channel <= 11; channel++) {
      manifest.probes[`ipmitool-lan-print-${channel}.txt`] = {
        status: "failed",
        exitCode: 1,
        durationMs: 3,
        command: `ipmitool lan print ${channel}`,
        message: "Get Channel Info command failed: Invalid command",
        toolVersion: "ipmitool version 1.8.19",
        bytes: 0,
      };
    }
    await writeFile(join(dir, MANIFEST_FILE), JSON.stringify(manifest));
    const { value, reports } = await collectIpmi(await replayRunner(dir));
    assert.deepEqual(value.bmc, {
      macAddress: null,
      ipv4Address: null,
      ipv4Source: null,
      netmask: null,
      gateway: null,
      vlanId: null,
      channel: null,
      ...SIM_MC,
      ipv6Addresses: [],
      users: [],
    });
    assert.deepEqual(value.fru, []);
    assertReports(reports);
    assert.equal(reports[1]?.status, "failed");
    // Get Channel Info is not implemented: the other ten channels would answer the same.
    assert.equal(reports[1]?.command, "replay ipmitool lan print 1");
    assert.match(reports[1]?.message ?? "", /Get Channel Info command failed: Invalid command/);
    for (const name of ["ipmitool-lan6-print", "ipmitool-user-list"]) {
      assert.deepEqual(
        [reportNamed(reports, name)?.status, reportNamed(reports, name)?.message],
        ["skipped", "no LAN channel"],
      );
    }
    assert.equal(reportNamed(reports, "ipmitool-fru-print")?.status, "skipped");
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("collectIpmi: a BMC without Get Channel Info ends the LAN scan after channel 1", async () => {
  const unsupported = "Get Channel Info command failed: Invalid command";
  const { runner, files } = tableRunner({
    "ipmi-devices.txt": ok("present /dev/ipmi0\n"),
    "ipmitool-mc-info.txt": ok(await read(join(SIM, "ipmitool-mc-info.txt"))),
    "ipmitool-lan-print-1.txt": { status: "failed", exitCode: 1, message: unsupported },
    // Never asked: were it, the scan would have gone on past a BMC that cannot answer.
    "ipmitool-lan-print-2.txt": ok(await read(SUPERMICRO_LAN)),
  });
  const { value, reports } = await collectIpmi(runner);
  assert.equal(value.bmc?.channel, null);
  assert.equal(value.bmc?.macAddress, null);
  assert.deepEqual(
    files().filter((f) => /^ipmitool-(lan6?|user)-/.test(f)),
    ["ipmitool-lan-print-1.txt"],
  );
  const lan = reportNamed(reports, "ipmitool-lan-print");
  assert.deepEqual([lan?.status, lan?.message], ["failed", unsupported]);
  assert.equal(reportNamed(reports, "ipmitool-lan6-print")?.message, "no LAN channel");
});

test("collectIpmi: stops at the round holding the first LAN channel (1 alone, then 2-5 at once)", async () => {
  const { runner, files } = tableRunner({
    "ipmi-devices.txt": ok("present /dev/ipmi0\n"),
    "ipmitool-mc-info.txt": ok(await read(join(SIM, "ipmitool-mc-info.txt"))),
    "ipmitool-lan-print-1.txt": { status: "failed", exitCode: 1, message: "Invalid channel: 1" },
    "ipmitool-lan-print-2.txt": ok(await read(SUPERMICRO_LAN)),
    "ipmitool-fru-print.txt": ok(await read(join(SIM, "ipmitool-fru-print.txt"))),
  });
  const { value, reports } = await collectIpmi(runner);
  assert.equal(value.bmc?.channel, 2);
  assert.equal(value.bmc?.macAddress, "00:30:48:f4:4d:83");
  // The channel scan runs beside fru print, sdr elist and dcmi: order across lanes is free.
  const asked = files();
  assert.deepEqual(asked.slice(0, 2), ["ipmi-devices.txt", "ipmitool-mc-info.txt"]);
  assert.deepEqual(
    asked.filter((f) => /^ipmitool-(lan6?|user)-/.test(f)),
    [
      "ipmitool-lan-print-1.txt",
      "ipmitool-lan-print-2.txt",
      "ipmitool-lan-print-3.txt",
      "ipmitool-lan-print-4.txt",
      "ipmitool-lan-print-5.txt",
      "ipmitool-lan6-print-2.txt",
      "ipmitool-user-list-2.txt",
    ],
  );
  assert.deepEqual(asked.filter((f) => /^ipmitool-(fru|sdr|dcmi)/.test(f)).sort(), [
    "ipmitool-dcmi-power-reading.txt",
    "ipmitool-fru-print.txt",
    "ipmitool-sdr-elist.txt",
  ]);
  assert.equal(asked.length, 12);
  assert.equal(reports[1]?.command, "ipmitool lan print 2");
  assert.equal(reports[1]?.status, "ok");
});

test("collectIpmi: ipmi_si refuses to load -> no BMC, all skipped, no settle wait", async () => {
  const { runner, asked } = tableRunner({
    "ipmi-devices.txt": ok("absent /dev/ipmi0\nabsent /dev/ipmi/0\nabsent /dev/ipmidev/0\n"),
    "modprobe-ipmi_devintf.txt": ok(""),
    "modprobe-ipmi_si.txt": { status: "failed", exitCode: 1, message: "No such device" },
    "ipmi-devices-after-modprobe.txt": ok("absent /dev/ipmi0\n"),
  });
  const { value, reports } = await collectIpmi(runner);
  assert.deepEqual(value, emptyIpmiFacts());
  assertReports(reports);
  for (const report of reports) {
    assert.equal(report.status, "skipped");
    assert.equal(report.message, "no BMC device");
  }
  assert.equal(reports[0]?.command, "ipmitool mc info");
  const commands = asked.map((p) =>
    p.source.kind === "command" ? p.source.argv.join(" ") : p.file,
  );
  assert.deepEqual(commands, [
    "ipmi-devices.txt",
    "ipmi-firmware.txt",
    "modprobe ipmi_devintf",
    "modprobe ipmi_si",
  ]);
});

test("collectIpmi: no device until modprobe loads the driver", async () => {
  const { runner, files } = tableRunner({
    "ipmi-devices.txt": ok("absent /dev/ipmi0\n"),
    "modprobe-ipmi_devintf.txt": ok(""),
    "modprobe-ipmi_si.txt": ok(""),
    "ipmi-devices-after-modprobe.txt": ok("present /dev/ipmi0\n"),
    "ipmitool-mc-info.txt": ok(await read(join(SIM, "ipmitool-mc-info.txt"))),
    "ipmitool-lan-print-1.txt": ok(await read(join(SIM, "ipmitool-lan-print-1.txt"))),
    "ipmitool-fru-print.txt": ok(await read(join(SIM, "ipmitool-fru-print.txt"))),
  });
  const { value } = await collectIpmi(runner);
  assert.equal(value.bmc?.ipv4Address, "192.0.2.10");
  assert.equal(value.fru.length, 2);
  assert.ok(files().includes("modprobe-ipmi_si.txt"));
});

test("collectIpmi: a BMC that does not answer mc info costs one timeout, not twelve", async () => {
  const { runner, files } = tableRunner({
    "ipmi-devices.txt": ok("present /dev/ipmi0\n"),
    "ipmitool-mc-info.txt": { status: "timeout", message: "timed out after 10000 ms" },
  });
  const { value, reports } = await collectIpmi(runner);
  assert.deepEqual(value, emptyIpmiFacts());
  assert.deepEqual(files(), ["ipmi-devices.txt", "ipmitool-mc-info.txt"]);
  assertReports(reports);
  assert.equal(reports[0]?.status, "timeout");
  for (const report of reports.slice(1)) {
    assert.equal(report.status, "skipped");
    assert.match(report.message ?? "", /did not answer mc info \(timeout/);
  }
});

test("collectIpmi: empty capture dir -> bmc null, nothing thrown", async () => {
  const dir = await mkdtemp(join(tmpdir(), "recon-ipmi-empty-"));
  try {
    const { value, reports } = await collectIpmi(await replayRunner(dir));
    assert.deepEqual(value, emptyIpmiFacts());
    assertReports(reports);
    assert.ok(reports.every((r) => r.status === "skipped"));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

// --- against a real BMC implementation ---

test("ipmiCollector against ipmi_sim over lanplus", { skip: ipmiSimSkip() }, async (t) => {
  const sim = await startIpmiSim({ sensors: DEFAULT_SENSORS });
  t.after(() => sim.stop());
  const collect = ipmiCollector({ ipmiArgs: sim.ipmiArgs });
  const { value, reports } = await collect(realRunner({ allowInTests: true }));
  assertReports(reports);
  // ipmi_sim implements no DCMI: it answers c1 (invalid command), which is "not here", not a
  // failure: that probe is skipped, with ipmitool's reason.
  assert.deepEqual(
    reports.map((r) => r.status),
    ["ok", "ok", "ok", "ok", "ok", "ok", "skipped"],
  );
  const dcmi = reportNamed(reports, "ipmitool-dcmi-power-reading");
  assert.equal(dcmi?.exitCode, 1);
  assert.match(dcmi?.message ?? "", /Invalid command/);
  assert.ok(value.bmc);
  Bmc.parse(value.bmc);
  assert.deepEqual(value.bmc, {
    macAddress: DEFAULT_LAN.macAddress,
    ipv4Address: DEFAULT_LAN.ipv4Address,
    ipv4Source: "static",
    netmask: DEFAULT_LAN.netmask,
    gateway: DEFAULT_LAN.gateway,
    vlanId: null,
    channel: 1,
    ...SIM_MC,
    // ipmi_sim has no IPv6 LAN parameters: lan6 print says nothing.
    ipv6Addresses: [],
    // The one user the harness configured (lan.conf `user 2 true ...`), never its password.
    users: [{ id: 2, name: sim.user, privilege: "ADMINISTRATOR", enabled: null }],
  });
  assert.ok(!JSON.stringify(value).includes(sim.password));
  assert.deepEqual(
    value.fru.map((f) => [f.id, f.productSerial]),
    DEFAULT_FRU.map((f) => [f.id, f.product?.serial]),
  );
  assert.deepEqual(value.fru, SIM_FRU);
  // What the harness put into the SDR repository, read back through real ipmitool.
  assert.deepEqual(
    value.sensors.map((s) => [s.name, s.status, s.value, s.unit, s.entity, s.state]),
    [
      ["Temp", "ok", 40, "degrees C", "3.1", null],
      ["Fan1", "ok", 5040, "RPM", "29.1", null],
      ["12V", "ok", 12.12, "Volts", "7.1", null],
      ["Pwr Consumption", "ok", 250, "Watts", "7.1", null],
      ["Temp 2", "ns", null, null, "8.10", null],
      ["PS1 Status", "ok", null, null, "10.1", "Presence detected"],
      ["PS2 Status", "ok", null, null, "10.2", "Presence detected, Failure detected"],
    ],
  );
  assert.equal(value.sensors.length, DEFAULT_SENSORS.length);
  assert.equal(value.powerReading, null);
});

test("collectIpmi replays the ipmi_sim capture with sensors and users", async () => {
  const { value, reports } = await collectIpmi(await replayRunner(SIM_SENSORS));
  assertReports(reports);
  assert.deepEqual(
    reports.map((r) => r.status),
    ["ok", "ok", "ok", "ok", "ok", "ok", "skipped"],
  );
  assert.equal(value.bmc?.channel, 1);
  assert.equal(value.bmc?.vlanId, null);
  assert.deepEqual(value.bmc?.ipv6Addresses, []);
  // FACTS.md: slot 2 holds the harness's user of that run; the other 62 have no name.
  assert.deepEqual(value.bmc?.users, [
    { id: 2, name: "reconed8900", privilege: "ADMINISTRATOR", enabled: null },
  ]);
  assert.deepEqual(value.fru, SIM_FRU);
  assert.deepEqual(
    value.sensors.map((s) => [s.name, s.type, s.value, s.unit]),
    [
      ["Temp", "Temperature", 40, "degrees C"],
      ["Fan1", "Fan", 5040, "RPM"],
      ["12V", "Voltage", 12.12, "Volts"],
      ["Pwr Consumption", null, 250, "Watts"],
      ["Temp 2", null, null, null],
      ["PS1 Status", null, null, null],
      ["PS2 Status", null, null, null],
    ],
  );
  assert.equal(value.powerReading, null);
  assert.match(
    reportNamed(reports, "ipmitool-dcmi-power-reading")?.message ?? "",
    /^the BMC has no DCMI: .*c1/,
  );
});

// --- replay without mc info (captures of other tools and older agents) ---

test("replay: FRU and LAN facts without ipmitool-mc-info.txt", async () => {
  const dir = await mkdtemp(join(tmpdir(), "recon-ipmi-nomc-"));
  try {
    // HP keeps its LAN channel on 2: channel 1 was not captured at all.
    await writeFile(join(dir, "ipmitool-lan-print-2.txt"), await read(SUPERMICRO_LAN));
    await writeFile(
      join(dir, "ipmitool-fru-print.txt"),
      await read(join(SIM, "ipmitool-fru-print.txt")),
    );
    const { value, reports } = await collectIpmi(await replayRunner(dir));
    assert.deepEqual(value.fru, SIM_FRU);
    assert.deepEqual(value.bmc, {
      macAddress: "00:30:48:f4:4d:83",
      ipv4Address: "10.151.68.13",
      ipv4Source: "static",
      netmask: "255.255.255.0",
      gateway: "10.151.68.3",
      vlanId: null,
      channel: 2,
      firmwareVersion: null,
      ipmiVersion: null,
      manufacturerId: null,
      manufacturerName: null,
      productId: null,
      ipv6Addresses: [],
      users: [],
    });
    assertReports(reports);
    assert.deepEqual(
      reports.map((r) => r.status),
      ["skipped", "ok", "skipped", "skipped", "ok", "skipped", "skipped"],
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("replay: FRU alone gives FRUs and no bmc object (nothing the BMC said about itself)", async () => {
  const dir = await mkdtemp(join(tmpdir(), "recon-ipmi-fru-only-"));
  try {
    await writeFile(
      join(dir, "ipmitool-fru-print.txt"),
      await read(join(SIM, "ipmitool-fru-print.txt")),
    );
    const { value } = await collectIpmi(await replayRunner(dir));
    assert.equal(value.bmc, null);
    assert.deepEqual(value.fru, SIM_FRU);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("collectIpmi: mc info that ran and failed still gates the rest (live dead BMC)", async () => {
  const { runner, files } = tableRunner({
    "ipmitool-mc-info.txt": {
      status: "failed",
      exitCode: 1,
      message: "Unable to establish IPMI v2 / RMCP+ session",
    },
  });
  const { value, reports } = await ipmiCollector({ ipmiArgs: ["-I", "lanplus"] })(runner);
  assert.deepEqual(value, emptyIpmiFacts());
  assert.deepEqual(files(), ["ipmitool-mc-info.txt"]);
  assert.match(reports[1]?.message ?? "", /did not answer mc info \(failed: Unable to establish/);
});

// --- order and concurrency ---

test("collectIpmi: a slow sdr elist does not hold up the LAN scan, fru print or dcmi", async () => {
  const asked: string[] = [];
  const sim = await Promise.all([
    read(join(SIM, "ipmitool-mc-info.txt")),
    read(join(SIM, "ipmitool-lan-print-1.txt")),
    read(join(SIM, "ipmitool-fru-print.txt")),
    read(join(SIM_SENSORS, "ipmitool-sdr-elist.txt")),
    read(join(SIM_SENSORS, "ipmitool-user-list-1.txt")),
  ]);
  const [mc, lan, fru, sdr, users] = sim;
  const answers: Record<string, string> = {
    "ipmitool-mc-info.txt": mc,
    "ipmitool-lan-print-1.txt": lan,
    "ipmitool-lan6-print-1.txt": "",
    "ipmitool-user-list-1.txt": users,
    "ipmitool-fru-print.txt": fru,
    "ipmitool-dcmi-power-reading.txt": await read(
      join(FIXTURES, "../samples/ipmitool-dcmi-openpower/ipmitool-dcmi-power-reading.txt"),
    ),
  };
  const others = Object.keys(answers).filter((f) => f !== "ipmitool-mc-info.txt");
  const runner: Runner = {
    async run(probe) {
      asked.push(probe.file);
      const base = {
        file: probe.file,
        exitCode: 0,
        durationMs: 1,
        command: probe.file,
        message: null,
      };
      if (probe.file === "ipmitool-sdr-elist.txt") {
        // Answers only once every other probe was asked: run serially, this would never end.
        const deadline = Date.now() + 3000;
        while (!others.every((f) => asked.includes(f)) && Date.now() < deadline) {
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
        const done = others.every((f) => asked.includes(f));
        return done
          ? { ...base, status: "ok", output: sdr }
          : { ...base, status: "timeout", output: "", message: "serialised behind sdr elist" };
      }
      return { ...base, status: "ok", output: answers[probe.file] ?? "" };
    },
  };
  const { value, reports } = await ipmiCollector({ ipmiArgs: ["-I", "lanplus"] })(runner);
  assert.equal(reportNamed(reports, "ipmitool-sdr-elist")?.status, "ok");
  assert.equal(value.sensors.length, 7);
  assert.deepEqual(value.powerReading, {
    currentWatts: 297,
    minimumWatts: 284,
    maximumWatts: 317,
    averageWatts: 297,
  });
  assert.equal(value.bmc?.users.length, 1);
});

test("new probes: capture names, argv, sdr elist's longer timeout", () => {
  const probes = ipmiProbes();
  const argv = (p: Probe) => (p.source.kind === "command" ? p.source.argv : null);
  assert.deepEqual(
    [probes.sdrElist, probes.dcmiPowerReading, probes.lan6Print(2), probes.userList(2)].map((p) => [
      p.file,
      argv(p)?.join(" "),
      p.needsRoot,
    ]),
    [
      ["ipmitool-sdr-elist.txt", "ipmitool sdr elist", true],
      ["ipmitool-dcmi-power-reading.txt", "ipmitool dcmi power reading", true],
      ["ipmitool-lan6-print-2.txt", "ipmitool lan6 print 2", true],
      ["ipmitool-user-list-2.txt", "ipmitool user list 2", true],
    ],
  );
  assert.equal(probes.sdrElist.timeoutMs, 30_000);
  assert.equal(probes.dcmiPowerReading.timeoutMs, 20_000);
  assert.equal(probes.lan6Print(2).timeoutMs, 20_000);
  assert.equal(probes.userList(2).timeoutMs, 20_000);
  // Nothing that reads or sets a password: no `user test`, no `user set`.
  const all = [probes.mcInfo, probes.fruPrint, probes.sdrElist, probes.dcmiPowerReading];
  for (const channel of [1, 2, 11]) {
    all.push(probes.lanPrint(channel), probes.lan6Print(channel), probes.userList(channel));
  }
  for (const p of all) {
    const words: readonly string[] = argv(p) ?? [];
    assert.ok(!words.includes("test") && !words.includes("set"), words.join(" "));
  }
});

// --- no BMC: no module probing when the firmware announces none ---

test("firmwareAnnouncesBmc: hint present, readable tables without hint, no sysfs DMI", () => {
  const paths = { smbiosEntries: "/s", hints: ["/s/38-0", "/a/SPMI"] };
  assert.equal(firmwareAnnouncesBmc("present /s\nabsent /s/38-0\npresent /a/SPMI\n", paths), "yes");
  assert.equal(firmwareAnnouncesBmc("present /s\nabsent /s/38-0\nabsent /a/SPMI\n", paths), "no");
  assert.equal(
    firmwareAnnouncesBmc("absent /s\nabsent /s/38-0\nabsent /a/SPMI\n", paths),
    "unknown",
  );
  assert.equal(firmwareAnnouncesBmc("", paths), "unknown");
});

test("collectIpmi: firmware announces no BMC -> no modprobe, all skipped", async () => {
  const { runner, files } = tableRunner({
    "ipmi-devices.txt": ok("absent /dev/ipmi0\nabsent /dev/ipmi/0\nabsent /dev/ipmidev/0\n"),
    "ipmi-firmware.txt": ok(
      [
        "present /sys/firmware/dmi/entries",
        "absent /sys/firmware/dmi/entries/38-0",
        "absent /sys/firmware/acpi/tables/SPMI",
        "absent /sys/bus/acpi/devices/IPI0001:00",
        "",
      ].join("\n"),
    ),
  });
  const { value, reports } = await collectIpmi(runner);
  assert.deepEqual(value, emptyIpmiFacts());
  assert.deepEqual(files(), ["ipmi-devices.txt", "ipmi-firmware.txt"]);
  assert.ok(reports.every((r) => r.status === "skipped" && r.message === "no BMC device"));
});

test("collectIpmi: SMBIOS type 38 present -> modprobe is tried", async () => {
  const { runner, files } = tableRunner({
    "ipmi-devices.txt": ok("absent /dev/ipmi0\n"),
    "ipmi-firmware.txt": ok(
      "present /sys/firmware/dmi/entries\npresent /sys/firmware/dmi/entries/38-0\n",
    ),
    "modprobe-ipmi_devintf.txt": ok(""),
    "modprobe-ipmi_si.txt": { status: "failed", exitCode: 1, message: "No such device" },
  });
  await collectIpmi(runner);
  assert.ok(files().includes("modprobe-ipmi_si.txt"));
});

test("real runner, no device, no firmware hint: skipped without a process", async () => {
  const dir = await mkdtemp(join(tmpdir(), "recon-ipmi-nobmc-"));
  try {
    const real = realRunner({ allowInTests: true });
    const ran: string[] = [];
    const recording: Runner = {
      run(probe, signal) {
        ran.push(probe.source.kind);
        return real.run(probe, signal);
      },
    };
    const collect = ipmiCollector({
      devicePaths: [join(dir, "ipmi0")],
      firmwarePaths: { smbiosEntries: dir, hints: [join(dir, "38-0"), join(dir, "SPMI")] },
    });
    const { value, reports } = await collect(recording);
    assert.deepEqual(value, emptyIpmiFacts());
    assert.deepEqual(ran, ["internal", "internal"]);
    assert.ok(reports.every((r) => r.message === "no BMC device"));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("collectIpmi: not root -> every probe skipped as requiring root, no process", async () => {
  const dir = await mkdtemp(join(tmpdir(), "recon-ipmi-noroot-"));
  try {
    const device = join(dir, "ipmi0");
    await writeFile(device, "");
    const real = realRunner({ allowInTests: true, root: false });
    const kinds: string[] = [];
    const recording: Runner = {
      run(probe, signal) {
        kinds.push(probe.source.kind);
        return real.run(probe, signal);
      },
    };
    const { value, reports } = await ipmiCollector({ devicePaths: [device] })(recording);
    assert.deepEqual(value, emptyIpmiFacts());
    assertReports(reports);
    assert.ok(reports.every((r) => r.status === "skipped" && r.message === "requires root"));
    // Refused unrun, each: mc info, the 11 channels, fru print, sdr elist, dcmi (no lan6 or
    // user list without a channel).
    assert.deepEqual(kinds, ["internal", ...Array(15).fill("command")]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
