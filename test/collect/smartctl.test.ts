import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import fc from "fast-check";
import {
  collectSmart,
  emptySmartFacts,
  isSafeDeviceName,
  isSafeDeviceType,
  parseSmartctl,
  parseSmartctlScan,
  SMARTCTL_SCAN_PROBE,
  type SmartFacts,
  smartctlDeviceProbe,
  smartctlFileNames,
} from "../../agent/collect/smartctl.ts";
import type { Probe, ProbeResult, Runner } from "../../agent/exec.ts";
import { replayRunner } from "../../agent/exec.ts";
import { Disk } from "../../schema/inventory.ts";
import { assertSurvivesMutations } from "../support/properties.ts";

const FIXTURES = new URL("../../fixtures/", import.meta.url);
const read = (path: string) => readFileSync(new URL(path, FIXTURES), "utf8");
const dir = (path: string) => new URL(path, FIXTURES).pathname;
const SCRUTINY = "../samples/smartctl-json-scrutiny/";
const VM_A = "this-machine-extra-tools/qemu-ahci-nvme-virtio/";
const VM_B = "this-machine-extra-tools/qemu-megasas-lsi/";

const facts = (fields: Partial<SmartFacts>): SmartFacts => ({ ...emptySmartFacts(), ...fields });

// --- golden: published samples (smartctl 7.0/7.1) -------------------------------------------

test("scrutiny samples: SATA, MegaRAID pass-through, NVMe, SAS", () => {
  assert.deepEqual(
    parseSmartctl(read(`${SCRUTINY}smartctl-ata-full.json`)),
    facts({
      deviceName: "/dev/sda",
      kernelName: "sda",
      serialNumber: "S3YZNB0KB00864E",
      sizeBytes: 500107862016,
      wwn: "0x5002538e40a22954",
      rotational: false,
      transport: "sata",
      model: "Samsung SSD 860 EVO 500GB",
      firmwareVersion: "RVT02B6Q",
      smartPassed: true,
      powerOnHours: 14551,
      temperatureCelsius: 36,
    }),
  );
  // type sat+megaraid,0: the disk behind the controller is not the kernel's sda. The serial
  // was masked as XXXXXXXXXXXX by the publishers: a filler, so null.
  assert.deepEqual(
    parseSmartctl(read(`${SCRUTINY}smartctl-megaraid0.json`)),
    facts({
      deviceName: "/dev/sda",
      kernelName: null,
      serialNumber: null,
      model: "WD4000FYYX",
      firmwareVersion: "00.0D1K4",
      smartPassed: true,
      powerOnHours: 37787,
      temperatureCelsius: 36,
      // wwn {naa 5, oui 5358 = 0x0014ee, id 10217451239 = 0x26101eee7}; the controller part of
      // the type "sat+megaraid,0" is how the drive was reached.
      sizeBytes: 4000787030016,
      wwn: "0x50014ee26101eee7",
      rotational: true,
      transport: "sata",
      controllerType: "megaraid,0",
    }),
  );
  // The device path was edited by the scrutiny authors; the single namespace is listed.
  assert.deepEqual(
    parseSmartctl(read(`${SCRUTINY}smartctl-nvme.json`)),
    facts({
      deviceName: "/dev/testfoobarpass",
      kernelName: "testfoobarpass",
      serialNumber: "BTNH93710FS91P0B",
      sizeBytes: 1024209543168,
      transport: "nvme",
      model: "INTEL SSDPEKNW010T8",
      firmwareVersion: "002C",
      smartPassed: true,
      powerOnHours: 2401,
      temperatureCelsius: 36,
    }),
  );
  // smartctl 7.1 SCSI naming: model_name and revision.
  assert.deepEqual(
    parseSmartctl(read(`${SCRUTINY}smartctl-scsi.json`)),
    facts({
      deviceName: "/dev/sdg",
      kernelName: "sdg",
      serialNumber: "Z1Z5DWJK0000XXXXXXXX",
      sizeBytes: 4000787030016,
      rotational: true,
      vendor: "SEAGATE",
      model: "SEAGATE ST4000NM0043",
      firmwareVersion: "MS03",
      smartPassed: true,
      powerOnHours: 43549,
      temperatureCelsius: 34,
    }),
  );
});

test("scrutiny scans: MegaRAID ids and an NVMe controller", () => {
  assert.deepEqual(parseSmartctlScan(read(`${SCRUTINY}smartctl-scan-megaraid.json`)), {
    devices: [
      { name: "/dev/bus/0", type: "megaraid,0" },
      { name: "/dev/bus/0", type: "megaraid,1" },
    ],
    rejected: [],
  });
  assert.deepEqual(parseSmartctlScan(read(`${SCRUTINY}smartctl-scan-nvme.json`)), {
    devices: [{ name: "/dev/nvme0", type: "nvme" }],
    rejected: [],
  });
});

// --- golden: our own captures (smartctl 7.3) -------------------------------------------------

test("QEMU guest: ATA, SCSI (7.3 scsi_* names, no SMART) and an NVMe controller", () => {
  assert.deepEqual(
    parseSmartctl(read(`${VM_A}smartctl-sda.json`)),
    facts({
      deviceName: "/dev/sda",
      kernelName: "sda",
      serialNumber: "RECONA0001",
      sizeBytes: 1073741824,
      transport: "sata",
      model: "RECON LAB SSD",
      firmwareVersion: "2.5+",
      smartPassed: true,
      powerOnHours: 1,
      temperatureCelsius: 31,
    }),
  );
  // exit status 4, SMART unavailable: "temperature": {"current": 0} is not a reading.
  assert.deepEqual(
    parseSmartctl(read(`${VM_A}smartctl-sdb.json`)),
    facts({
      deviceName: "/dev/sdb",
      kernelName: "sdb",
      serialNumber: "RECONS0001",
      sizeBytes: 2147483648,
      rotational: false,
      vendor: "RECON",
      model: "RECON LABSAS",
      firmwareVersion: "2.5+",
    }),
  );
  // The controller reports 256 possible namespaces and lists none: no kernel name.
  assert.deepEqual(
    parseSmartctl(read(`${VM_A}smartctl-nvme0.json`)),
    facts({
      deviceName: "/dev/nvme0",
      kernelName: null,
      serialNumber: "RECONN0001",
      transport: "nvme",
      model: "QEMU NVMe Ctrl",
      firmwareVersion: "7.2.22",
      smartPassed: true,
      powerOnHours: 0,
      temperatureCelsius: 50,
    }),
  );
  assert.equal(parseSmartctl(read(`${VM_A}sample-smartctl-nvme0n1.json`)).kernelName, "nvme0n1");
});

test("nvme controller to namespace: one listed namespace, or a count of one", () => {
  const base = JSON.parse(read(`${VM_A}smartctl-nvme0.json`));
  const kernel = (extra: object) => parseSmartctl(JSON.stringify({ ...base, ...extra })).kernelName;
  assert.equal(kernel({ nvme_namespaces: [{ id: 1 }] }), "nvme0n1");
  assert.equal(kernel({ nvme_namespaces: [{ id: 3 }] }), "nvme0n3");
  assert.equal(kernel({ nvme_namespaces: [{ id: 1 }, { id: 2 }] }), null);
  assert.equal(kernel({ nvme_namespaces: [{ id: 0 }] }), null);
  assert.equal(kernel({ nvme_number_of_namespaces: 1 }), "nvme0n1");
  assert.equal(
    kernel({ device: { name: "/dev/nvme12", type: "nvme" }, nvme_number_of_namespaces: 1 }),
    "nvme12n1",
  );
});

test("QEMU MegaRAID: pass-through disks have no kernel name; exit 2 still carries identity", () => {
  const raid = parseSmartctl(read(`${VM_B}smartctl-bus-6-megaraid-0.json`));
  assert.deepEqual(
    raid,
    facts({
      deviceName: "/dev/bus/6",
      serialNumber: "RECONM0000",
      sizeBytes: 1073741824,
      rotational: false,
      vendor: "RECON",
      controllerType: "megaraid,0",
      model: "RECON RAIDDISK0",
      firmwareVersion: "2.5+",
    }),
  );
  assert.deepEqual(
    parseSmartctl(read(`${VM_B}smartctl-sda.json`)),
    facts({
      deviceName: "/dev/sda",
      kernelName: "sda",
      serialNumber: "RECONM0001",
      sizeBytes: 1073741824,
      rotational: false,
      vendor: "RECON",
      model: "RECON RAIDDISK1",
      firmwareVersion: "2.5+",
    }),
  );
  assert.deepEqual(parseSmartctlScan(read(`${VM_B}smartctl-scan.json`)).devices, [
    { name: "/dev/sda", type: "scsi" },
    { name: "/dev/sdb", type: "scsi" },
    { name: "/dev/sdc", type: "scsi" },
    { name: "/dev/bus/6", type: "megaraid,256" },
    { name: "/dev/bus/6", type: "megaraid,0" },
  ]);
});

test("this machine: no devices in the scan; an unsupported device yields nothing", () => {
  assert.deepEqual(parseSmartctlScan(read("this-machine-extra-tools/smartctl-scan.json")), {
    devices: [],
    rejected: [],
  });
  assert.deepEqual(
    parseSmartctl(read("this-machine-extra-tools/sample-smartctl-vda.json")),
    emptySmartFacts(),
  );
});

test("kernel names: sg nodes, by-id paths and controller types give null", () => {
  const kernel = (name: string, type = "sat") =>
    parseSmartctl(JSON.stringify({ device: { name, type }, serial_number: "S1" })).kernelName;
  assert.equal(kernel("/dev/sdaa"), "sdaa");
  assert.equal(kernel("/dev/sg3", "scsi"), null);
  assert.equal(kernel("/dev/disk/by-id/ata-X"), null);
  assert.equal(kernel("/dev/sda", "sat+megaraid,4"), null);
  assert.equal(kernel("/dev/sda", "cciss,0"), null);
  assert.equal(kernel("/dev/sda", "aacraid,0,0,1"), null);
  assert.equal(kernel("sda"), null);
});

test("temperature: NVMe log fallback, absurd values dropped; field types checked", () => {
  const parse = (doc: object) => parseSmartctl(JSON.stringify(doc));
  assert.equal(
    parse({ nvme_smart_health_information_log: { temperature: 41 } }).temperatureCelsius,
    41,
  );
  assert.equal(parse({ temperature: { current: 5000 } }).temperatureCelsius, null);
  assert.equal(parse({ temperature: { current: "36" } }).temperatureCelsius, null);
  assert.equal(parse({ temperature: { current: 0 } }).temperatureCelsius, 0, "SMART available");
  assert.equal(parse({ power_on_time: { hours: -1 } }).powerOnHours, null);
  assert.equal(parse({ power_on_time: { hours: 1.5 } }).powerOnHours, null);
  assert.equal(parse({ nvme_smart_health_information_log: { power_on_hours: 7 } }).powerOnHours, 7);
  assert.equal(parse({ smart_status: { passed: false } }).smartPassed, false);
  assert.equal(parse({ smart_status: { passed: "yes" } }).smartPassed, null);
  assert.equal(
    parse({ serial_number: "  ", model_name: "To Be Filled By O.E.M." }).serialNumber,
    null,
  );
  assert.equal(parse({ vendor: "HGST", product: "HUH721212AL5200" }).model, "HGST HUH721212AL5200");
});

test("not smartctl JSON: all null", () => {
  for (const text of ["", "{", "null", "[]", "42", '"x"', "smartctl 7.3\n"]) {
    assert.deepEqual(parseSmartctl(text), emptySmartFacts());
    assert.deepEqual(parseSmartctlScan(text), { devices: [], rejected: [] });
  }
});

// --- device names, types, file names ----------------------------------------------------------

test("scan validation: unsafe names and types are rejected, duplicates dropped", () => {
  const scan = JSON.stringify({
    devices: [
      { name: "/dev/sda", type: "sat" },
      { name: "/dev/sda", type: "sat" },
      { name: "/dev/../etc/passwd", type: "sat" },
      { name: "/dev/sdb", type: "-d" },
      { name: "/dev/sdc; reboot", type: "sat" },
      { name: "--help", type: "sat" },
      { name: "/dev/sdd", type: "sat --all" },
      { name: "/dev/sde" },
      "junk",
      { name: "/dev/cciss/c0d0", type: "cciss,0" },
      { name: "/dev/sdf", type: "hpt,1/1/1" },
    ],
  });
  const { devices, rejected } = parseSmartctlScan(scan);
  assert.deepEqual(devices, [
    { name: "/dev/sda", type: "sat" },
    { name: "/dev/cciss/c0d0", type: "cciss,0" },
    { name: "/dev/sdf", type: "hpt,1/1/1" },
  ]);
  assert.equal(rejected.length, 6);
  for (const bad of ["/dev/", "/dev/a b", "/dev/-x", "/dev//x", "/dev/x/", "/tmp/x", "/dev/x\n"]) {
    assert.equal(isSafeDeviceName(bad), false, bad);
  }
  for (const bad of ["", "-d", "SAT", "sat ", "sat,", ",0", "megaraid,0;x", `a${"b".repeat(40)}`]) {
    assert.equal(isSafeDeviceType(bad), false, bad);
  }
});

test("file names: no separators, type only when needed, never the scan's own name", () => {
  assert.deepEqual(
    smartctlFileNames([
      { name: "/dev/sda", type: "sat" },
      { name: "/dev/nvme0", type: "nvme" },
      { name: "/dev/bus/0", type: "megaraid,0" },
      { name: "/dev/bus/0", type: "sat+megaraid,1" },
      { name: "/dev/sdb", type: "sat" },
      { name: "/dev/sdb", type: "scsi" },
      { name: "/dev/scan", type: "sat" },
      { name: "/dev/a-b", type: "sat" },
      { name: "/dev/a/b", type: "sat" },
    ]),
    [
      "smartctl-sda.json",
      "smartctl-nvme0.json",
      "smartctl-bus-0-megaraid-0.json",
      "smartctl-bus-0-sat-megaraid-1.json",
      "smartctl-sdb-sat.json",
      "smartctl-sdb-scsi.json",
      "smartctl-scan-2.json",
      "smartctl-a-b.json",
      "smartctl-a-b-2.json",
    ],
  );
  assert.deepEqual(smartctlDeviceProbe({ name: "/dev/bus/0", type: "megaraid,0" }, "f.json"), {
    file: "f.json",
    source: {
      kind: "command",
      argv: ["smartctl", "-j", "-a", "-d", "megaraid,0", "/dev/bus/0"],
      versionArgv: ["--version"],
    },
    timeoutMs: 20_000,
    needsRoot: true,
  });
  assert.deepEqual(SMARTCTL_SCAN_PROBE.source, {
    kind: "command",
    argv: ["smartctl", "--scan-open", "-j"],
    versionArgv: ["--version"],
  });
  assert.equal(SMARTCTL_SCAN_PROBE.needsRoot, true);
});

// --- properties -------------------------------------------------------------------------------

const REAL = [
  `${SCRUTINY}smartctl-ata-full.json`,
  `${SCRUTINY}smartctl-megaraid0.json`,
  `${SCRUTINY}smartctl-nvme.json`,
  `${SCRUTINY}smartctl-scsi.json`,
  `${VM_A}smartctl-sda.json`,
  `${VM_A}smartctl-sdb.json`,
  `${VM_A}smartctl-nvme0.json`,
  `${VM_B}smartctl-bus-6-megaraid-0.json`,
].map(read);
const SmartSchema = Disk.pick({
  serialNumber: true,
  model: true,
  firmwareVersion: true,
  smartPassed: true,
  powerOnHours: true,
  temperatureCelsius: true,
  sizeBytes: true,
  wwn: true,
  rotational: true,
  transport: true,
  vendor: true,
});

function checkFacts(f: SmartFacts) {
  const { deviceName, kernelName, controllerType, ...diskPart } = f;
  SmartSchema.parse(diskPart);
  assert.ok(controllerType === null || /^[a-z0-9]+(,[0-9/,]+)?$/.test(controllerType));
  assert.ok(f.wwn === null || /^0x[0-9a-f]{16}([0-9a-f]{16})?$/.test(f.wwn), String(f.wwn));
  assert.ok(deviceName === null || typeof deviceName === "string");
  assert.ok(kernelName === null || /^[A-Za-z0-9_-]{1,64}$/.test(kernelName), String(kernelName));
  assert.ok(f.temperatureCelsius === null || Number.isFinite(f.temperatureCelsius));
}

const anyValue = fc.oneof(
  fc.string(),
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.jsonValue({ maxDepth: 2 }),
);
const smartLike = fc.record(
  {
    device: fc.oneof(
      anyValue,
      fc.record(
        {
          name: fc.oneof(fc.constantFrom("/dev/sda", "/dev/nvme0", "/dev/bus/0"), anyValue),
          type: anyValue,
        },
        { requiredKeys: [] },
      ),
    ),
    serial_number: anyValue,
    model_name: anyValue,
    scsi_model_name: anyValue,
    firmware_version: anyValue,
    smart_status: fc.oneof(anyValue, fc.record({ passed: anyValue })),
    power_on_time: fc.oneof(anyValue, fc.record({ hours: anyValue })),
    temperature: fc.oneof(anyValue, fc.record({ current: anyValue })),
    nvme_namespaces: fc.oneof(anyValue, fc.array(fc.record({ id: anyValue }))),
    nvme_number_of_namespaces: anyValue,
    nvme_smart_health_information_log: fc.oneof(
      anyValue,
      fc.record({ temperature: anyValue, power_on_hours: anyValue }),
    ),
  },
  { requiredKeys: [] },
);

test("property: random text, JSON and smartctl-shaped documents give well-formed facts", () => {
  fc.assert(
    fc.property(
      fc.oneof(
        fc.string(),
        fc.jsonValue().map((v) => JSON.stringify(v)),
        smartLike.map((v) => JSON.stringify(v)),
      ),
      (text) => {
        checkFacts(parseSmartctl(text));
        const scan = parseSmartctlScan(text);
        for (const d of scan.devices) {
          assert.ok(isSafeDeviceName(d.name) && isSafeDeviceType(d.type));
        }
      },
    ),
    { numRuns: 500 },
  );
});

test("property: truncated and mutated real captures stay well formed", () => {
  assertSurvivesMutations(REAL, (text) => checkFacts(parseSmartctl(text)), 300);
});

test("property: scanned names and types survive validation only if safe, file names are flat", () => {
  const devicePart = fc.oneof(
    fc.constantFrom("/dev/sda", "/dev/bus/0", "/dev/nvme0", "/dev/../x", "/dev/a b", "-x"),
    fc.string({ maxLength: 30 }),
  );
  const typePart = fc.oneof(
    fc.constantFrom("sat", "nvme", "megaraid,0", "sat+megaraid,1", "-d"),
    fc.string(),
  );
  fc.assert(
    fc.property(
      fc.array(fc.record({ name: devicePart, type: typePart }), { maxLength: 12 }),
      (list) => {
        const { devices } = parseSmartctlScan(JSON.stringify({ devices: list }));
        for (const d of devices) {
          assert.match(d.name, /^\/dev\//);
          assert.ok(!d.name.includes(".."));
          assert.ok(!/\s/.test(d.name + d.type));
        }
        const files = smartctlFileNames(devices);
        assert.equal(new Set([...files, SMARTCTL_SCAN_PROBE.file]).size, files.length + 1);
        for (const f of files) assert.match(f, /^smartctl-[A-Za-z0-9_-]+\.json$/);
      },
    ),
    { numRuns: 300 },
  );
});

// --- collector --------------------------------------------------------------------------------

test("collectSmart: replay of the QEMU guest (scan, three devices, exit 4 is ok)", async () => {
  const out = await collectSmart(await replayRunner(dir(VM_A)));
  assert.deepEqual(
    out.value.map((f) => [f.kernelName, f.serialNumber, f.smartPassed]),
    [
      ["sda", "RECONA0001", true],
      ["sdb", "RECONS0001", null],
      [null, "RECONN0001", true],
    ],
  );
  assert.deepEqual(
    out.reports.map((r) => [r.name, r.status, r.exitCode, r.command]),
    [
      ["smartctl-scan", "ok", 0, "replay smartctl-scan.json"],
      ["smartctl", "ok", 0, "replay smartctl-sda.json"],
      ["smartctl", "ok", 4, "replay smartctl-sdb.json"],
      ["smartctl", "ok", 0, "replay smartctl-nvme0.json"],
    ],
  );
  assert.ok(out.reports.every((r) => r.status !== "ok" || r.message === null));
});

test("collectSmart: replay of the MegaRAID guest merges the controller's answers for one drive", async () => {
  const out = await collectSmart(await replayRunner(dir(VM_B)));
  // megaraid,256 and megaraid,0 answer with the same drive: one entry, named by the lower
  // number. It stays apart from the kernel's sdb (a megaraid logical drive reporting its
  // member's serial); collect/storage.ts decides whether they are one disk.
  assert.deepEqual(
    out.value.map((f) => [f.deviceName, f.kernelName, f.serialNumber, f.controllerType]),
    [
      ["/dev/sda", "sda", "RECONM0001", null],
      ["/dev/sdb", "sdb", "RECONM0000", null],
      ["/dev/sdc", "sdc", "RECONL0001", null],
      ["/dev/bus/6", null, "RECONM0000", "megaraid,0"],
    ],
  );
  assert.deepEqual(
    out.reports.map((r) => [r.command, r.status, r.exitCode]),
    [
      ["replay smartctl-scan.json", "ok", 0],
      ["replay smartctl-sda.json", "failed", 2],
      ["replay smartctl-sdb.json", "failed", 2],
      ["replay smartctl-sdc.json", "ok", 4],
      ["replay smartctl-bus-6-megaraid-256.json", "ok", 4],
      ["replay smartctl-bus-6-megaraid-0.json", "ok", 4],
    ],
  );
});

test("collectSmart: this machine has nothing to query; an empty directory is skipped", async () => {
  const here = await collectSmart(await replayRunner(dir("this-machine-extra-tools/")));
  assert.deepEqual(here.value, []);
  assert.equal(here.reports.length, 1);
  assert.equal(here.reports[0]?.status, "ok");
  const empty = mkdtempSync(join(tmpdir(), "recon-smart-"));
  try {
    const none = await collectSmart(await replayRunner(empty));
    assert.deepEqual(none.value, []);
    assert.deepEqual(
      none.reports.map((r) => [r.name, r.status, r.message]),
      [["smartctl-scan", "skipped", "not captured"]],
    );
  } finally {
    rmSync(empty, { recursive: true, force: true });
  }
});

test("collectSmart: a hand-made capture dir with the published samples", async () => {
  const temp = mkdtempSync(join(tmpdir(), "recon-smart-"));
  try {
    writeFileSync(join(temp, "smartctl-scan.json"), read(`${SCRUTINY}smartctl-scan-megaraid.json`));
    writeFileSync(
      join(temp, "smartctl-bus-0-megaraid-0.json"),
      read(`${SCRUTINY}smartctl-megaraid0.json`),
    );
    writeFileSync(join(temp, "smartctl-bus-0-megaraid-1.json"), "not json");
    const out = await collectSmart(await replayRunner(temp));
    assert.equal(out.value.length, 1);
    assert.equal(out.value[0]?.model, "WD4000FYYX");
    assert.equal(out.value[0]?.kernelName, null);
    assert.deepEqual(
      out.reports.map((r) => [r.command, r.status, r.message]),
      [
        ["replay smartctl-scan.json", "ok", null],
        ["replay smartctl-bus-0-megaraid-0.json", "ok", null],
        [
          "replay smartctl-bus-0-megaraid-1.json",
          "failed",
          `smartctl-bus-0-megaraid-1.json: not JSON (Unexpected token 'o', "not json" is not valid JSON)`,
        ],
      ],
    );
  } finally {
    rmSync(temp, { recursive: true, force: true });
  }
});

function fakeRunner(respond: (probe: Probe) => Partial<ProbeResult>) {
  const probes: Probe[] = [];
  let running = 0;
  let peak = 0;
  const runner: Runner = {
    async run(probe) {
      probes.push(probe);
      running++;
      peak = Math.max(peak, running);
      await new Promise((r) => setTimeout(r, 2));
      running--;
      return {
        file: probe.file,
        status: "ok",
        output: "",
        exitCode: 0,
        durationMs: 1,
        command: probe.source.kind === "command" ? probe.source.argv.join(" ") : "",
        message: null,
        ...respond(probe),
      };
    },
  };
  return { runner, probes, peak: () => peak };
}

test("collectSmart: bounded parallelism, unsafe names never reach argv, failures reported", async () => {
  const names = Array.from({ length: 10 }, (_, i) => `/dev/sd${String.fromCharCode(97 + i)}`);
  const scan = JSON.stringify({
    devices: [
      ...names.map((name) => ({ name, type: "sat" })),
      { name: "/dev/sdz;rm", type: "sat" },
    ],
  });
  const { runner, probes, peak } = fakeRunner((probe) => {
    if (probe === SMARTCTL_SCAN_PROBE) return { output: scan };
    if (probe.file === "smartctl-sda.json") {
      // bit 1: open failed; smartctl's own message wins over the runner's.
      return {
        status: "failed",
        exitCode: 2,
        message: "Command failed with exit code 2",
        output: JSON.stringify({
          smartctl: {
            exit_status: 2,
            messages: [{ string: "/dev/sda: open failed", severity: "error" }],
          },
        }),
      };
    }
    if (probe.file === "smartctl-sdb.json") return { status: "timeout", message: "timed out" };
    if (probe.file === "smartctl-sdc.json") {
      // bit 3: DISK FAILING, JSON complete.
      return {
        status: "failed",
        exitCode: 8,
        output: JSON.stringify({
          device: { name: "/dev/sdc", type: "sat" },
          serial_number: "S3",
          smart_status: { passed: false },
        }),
      };
    }
    return {
      output: JSON.stringify({
        device: { name: "/dev/x", type: "sat" },
        serial_number: probe.file,
      }),
    };
  });
  const out = await collectSmart(runner);
  assert.ok(peak() <= 4, `peak ${peak()}`);
  assert.equal(probes.length, 11);
  for (const p of probes.slice(1)) {
    assert.ok(p.source.kind === "command" && names.includes(p.source.argv.at(-1) as string));
  }
  const byFile = new Map(out.reports.map((r) => [r.command, r]));
  assert.equal(byFile.get("smartctl -j -a -d sat /dev/sda")?.status, "failed");
  assert.equal(byFile.get("smartctl -j -a -d sat /dev/sda")?.message, "/dev/sda: open failed");
  assert.equal(byFile.get("smartctl -j -a -d sat /dev/sdb")?.status, "timeout");
  assert.equal(byFile.get("smartctl -j -a -d sat /dev/sdc")?.status, "ok");
  assert.equal(byFile.get("smartctl -j -a -d sat /dev/sdc")?.exitCode, 8);
  const rejected = out.reports.find((r) => r.status === "skipped");
  assert.match(rejected?.message ?? "", /sdz;rm/);
  assert.equal(out.value.length, 8, "sdc..sdj; sda had no identity, sdb timed out");
  assert.equal(out.value.find((f) => f.serialNumber === "S3")?.smartPassed, false);
});

test("collectSmart: not root or not installed: one skipped report, no device probes", async () => {
  for (const message of ["requires root", "smartctl: not installed"]) {
    const { runner, probes } = fakeRunner(() => ({ status: "skipped", message, exitCode: null }));
    const out = await collectSmart(runner);
    assert.deepEqual(out.value, []);
    assert.equal(probes.length, 1);
    assert.deepEqual(
      out.reports.map((r) => [r.name, r.status, r.message]),
      [["smartctl-scan", "skipped", message]],
    );
  }
});
