import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import fc from "fast-check";
import { collectInventory, mergeDisks } from "../../agent/collect/index.ts";
import { emptyLshwFacts } from "../../agent/collect/lshw.ts";
import { memberDisk, parseMdstat, readMdstat } from "../../agent/collect/mdadm.ts";
import {
  nvmeIdCtrlProbe,
  parseNvmeIdCtrl,
  parseNvmeList,
  readNvmeList,
} from "../../agent/collect/nvme.ts";
import { emptySmartFacts, parseSmartctl, type SmartFacts } from "../../agent/collect/smartctl.ts";
import {
  parseSsacliConfig,
  readSsacliConfig,
  type SsacliController,
  ssacliRaidLevel,
} from "../../agent/collect/ssacli.ts";
import {
  applyStorage,
  buildNvmeControllers,
  buildStorageControllers,
  collectStorage,
  emptyStorageFacts,
  type StorageFacts,
} from "../../agent/collect/storage.ts";
import {
  readStorcliControllers,
  readStorcliVirtualDrives,
  STORCLI_BINARIES,
} from "../../agent/collect/storcli.ts";
import {
  namespaceBlockName,
  numaNodeOf,
  readSysStorage,
  readSysStorageTree,
  scsiHostOf,
} from "../../agent/collect/sysfs-storage.ts";
import type { Probe, ProbeResult, Runner } from "../../agent/exec.ts";
import { replayRunner } from "../../agent/exec.ts";
import { Disk, NvmeController, PciDevice, StorageController } from "../../schema/inventory.ts";
import { disk } from "../support/disk.ts";
import { assertSurvivesMutations } from "../support/properties.ts";

const ROOT = new URL("../../", import.meta.url);
const read = (path: string) => readFileSync(new URL(path, ROOT), "utf8");
const VALL = "samples/storcli-vall-cloudpods/storcli-call-vall-show-all.json";
const CTRL = "samples/storcli-controller-pystorcli2/storcli-c0-show.json";
const MDSTAT = "samples/mdstat-telegraf/proc-mdstat.txt";
const NVME_1X = "samples/nvme-list-toshiba-netbox/nvme-list.json";
const SCRUTINY = "samples/smartctl-json-scrutiny/";

const smart = (fields: Partial<SmartFacts>): SmartFacts => ({ ...emptySmartFacts(), ...fields });

// --- golden: recorded real outputs, expected values read by hand (see each FACTS.md) ----------

test("storcli /c0 show J (Intel RS3DC080, Command Status Failure with complete data)", () => {
  const { value, problem } = readStorcliControllers(read(CTRL));
  assert.equal(problem, null);
  assert.deepEqual(value, [
    {
      index: 0,
      model: "Intel(R) RAID Controller RS3DC080",
      serialNumber: "SK75074929",
      firmwareVersion: "24.15.0-0034",
      driver: "megaraid_sas",
      // Bus Number 59 = 0x3b
      pciAddress: "0000:3b:00.0",
    },
  ]);
});

test("storcli /c0/vall show all J: seven VDs, their OS drive names and member DIDs", () => {
  const { value, problem } = readStorcliVirtualDrives(read(VALL));
  assert.equal(problem, null);
  assert.deepEqual(
    value.map((v) => [v.id, v.raidLevel, v.kernelName, v.memberDeviceIds]),
    [
      [0, "raid1", "sda", [16, 17]],
      [1, "raid1", "sdb", [15, 12]],
      [2, "raid0", "sdc", [14]],
      [3, "raid0", "sdd", [10]],
      [4, "raid0", "sde", [9]],
      [5, "raid0", "sdf", [11]],
      [6, "raid0", "sdg", [13]],
    ],
  );
  assert.ok(value.every((v) => v.controller === 0));
});

test("storcli: show all sections (Basics/Version/Bus) read like the flat form", () => {
  const data = JSON.parse(read(CTRL)).Controllers[0]["Response Data"];
  const sectioned = {
    Controllers: [
      {
        "Command Status": { Controller: 0, Status: "Success" },
        "Response Data": {
          Basics: { Controller: 0, Model: data["Product Name"], "Serial Number": "SK75074929" },
          Version: { "Firmware Package Build": "24.15.0-0034", "Driver Name": "megaraid_sas" },
          Bus: { "Domain ID": 0, "Bus Number": 59, "Device Number": 0, "Function Number": 0 },
        },
      },
    ],
  };
  assert.deepEqual(
    readStorcliControllers(JSON.stringify(sectioned)).value,
    readStorcliControllers(read(CTRL)).value,
  );
});

test("/proc/mdstat (telegraf sample): levels, members, sizes in bytes", () => {
  const { value, problem } = readMdstat(read(MDSTAT));
  assert.equal(problem, null);
  assert.deepEqual(value, [
    {
      name: "md2",
      raidLevel: "raid10",
      active: true,
      members: ["sde", "sdl", "sdf", "sdk", "sdh", "sdd", "sdg", "sdn", "sdm", "sdj", "sdc", "sdi"],
      sizeBytes: 11251451904 * 1024,
    },
    {
      name: "md1",
      raidLevel: "raid1",
      active: true,
      members: ["sdb2", "sda2"],
      sizeBytes: 6051332096,
    },
    {
      name: "md0",
      raidLevel: "raid1",
      active: true,
      members: ["sdb1", "sda1"],
      sizeBytes: 249862029312,
    },
  ]);
});

test("mdstat: inactive array, failed and spare members, member disks", () => {
  const text =
    "Personalities : [raid1]\nmd127 : inactive sdb[0](S)\n      976630488 blocks super 1.2\n\n" +
    "md100 : active raid1 vdc[1] vdb[0](F)\n      97451008 blocks super 1.2 [2/1] [_U]\n" +
    "unused devices: <none>\n";
  assert.deepEqual(
    parseMdstat(text).map((a) => [a.name, a.raidLevel, a.active, a.members]),
    [
      ["md127", null, false, ["sdb"]],
      ["md100", "raid1", true, ["vdc", "vdb"]],
    ],
  );
  assert.deepEqual(
    ["sda1", "sde", "nvme0n1p2", "nvme0n1", "mmcblk0p1", "xvda3", "md0p1"].map(memberDisk),
    ["sda", "sde", "nvme0n1", "nvme0n1", "mmcblk0", "xvda", "md0"],
  );
  assert.equal(readMdstat("").problem, null);
  assert.match(readMdstat("garbage\n").problem ?? "", /Personalities/);
});

test("nvme list -o json, nvme-cli 1.x (Toshiba KXG60ZNV1T02)", () => {
  assert.deepEqual(parseNvmeList(read(NVME_1X)), [
    {
      name: "nvme0n1",
      controller: null,
      sizeBytes: 1024209543168,
      model: "KXG60ZNV1T02 NVMe TOSHIBA 1024GB",
      serialNumber: "19FA109SK07N",
      firmwareVersion: "10604103",
      nqn: null,
    },
  ]);
  assert.deepEqual(readNvmeList('{"Devices":[]}'), { value: [], problem: null });
  assert.match(readNvmeList("[]").problem ?? "", /not an object/);
  assert.equal(nvmeIdCtrlProbe("nvme0; rm -rf /"), null);
  assert.deepEqual((nvmeIdCtrlProbe("nvme3")?.source as { argv?: string[] } | undefined)?.argv, [
    "nvme",
    "id-ctrl",
    "-o",
    "json",
    "/dev/nvme3",
  ]);
});

test("nvme id-ctrl: padded strings trimmed; empty is empty", () => {
  const id = parseNvmeIdCtrl(
    JSON.stringify({
      sn: "S5RTNC0T104269      ",
      mn: "SAMSUNG MZWLJ7T6HALA-00AU3  ",
      fr: "EPK9CR5Q",
      subnqn: "nqn.x",
    }),
  );
  assert.deepEqual(id, {
    serialNumber: "S5RTNC0T104269",
    model: "SAMSUNG MZWLJ7T6HALA-00AU3",
    firmwareVersion: "EPK9CR5Q",
    nqn: "nqn.x",
  });
});

// --- sysfs: a real tree built in a temp dir with the layout the kernel uses ------------------

test("readSysStorageTree: SCSI host, numa_node of the PCI function, NVMe multipath namespaces", async () => {
  const root = mkdtempSync(join(tmpdir(), "recon-sysfs-storage-"));
  try {
    const pci = join(root, "devices/pci0000:00/0000:00:02.0");
    const lun = join(pci, "host6/target6:2:1/6:2:1:0");
    mkdirSync(join(lun, "block/sda"), { recursive: true });
    writeFileSync(join(pci, "numa_node"), "1\n");
    mkdirSync(join(root, "block"));
    symlinkSync(join(lun, "block/sda"), join(root, "block/sda"));
    symlinkSync(lun, join(lun, "block/sda/device"));
    const host = join(pci, "host6/scsi_host/host6");
    mkdirSync(host, { recursive: true });
    writeFileSync(join(host, "proc_name"), "megaraid_sas\n");
    writeFileSync(join(host, "fw_version"), "2.130.403-4660\n");
    symlinkSync(join(pci, "host6"), join(host, "device"));
    mkdirSync(join(root, "class/scsi_host"), { recursive: true });
    symlinkSync(host, join(root, "class/scsi_host/host6"));
    const nvmePci = join(root, "devices/pci0000:00/0000:00:05.0");
    mkdirSync(nvmePci, { recursive: true });
    writeFileSync(join(nvmePci, "numa_node"), "-1\n");
    const subsys = join(root, "devices/virtual/nvme-subsystem/nvme-subsys0");
    const ctrl = join(subsys, "nvme0");
    mkdirSync(join(ctrl, "nvme0c0n1"), { recursive: true });
    mkdirSync(join(subsys, "nvme0n1"));
    mkdirSync(join(subsys, "nvme0n2"));
    for (const [k, v] of Object.entries({
      serial: "RLNVME000001        ",
      model: "QEMU NVMe Ctrl",
      firmware_rev: "7.2.22  ",
      subsysnqn: "nqn.2026-12.lab.recon:subsys-capture",
    }))
      writeFileSync(join(ctrl, k), `${v}\n`);
    symlinkSync(nvmePci, join(ctrl, "device"));
    mkdirSync(join(root, "class/nvme"), { recursive: true });
    symlinkSync(ctrl, join(root, "class/nvme/nvme0"));
    const { value, problem } = readSysStorage(await readSysStorageTree(root));
    assert.equal(problem, null);
    assert.deepEqual(value.block.sda, { devicePath: lun, numaNode: 1 });
    assert.deepEqual(value.scsiHost.host6, {
      procName: "megaraid_sas",
      firmwareVersion: "2.130.403-4660",
      pciAddress: "0000:00:02.0",
      numaNode: 1,
    });
    assert.deepEqual(value.nvme.nvme0, {
      serial: "RLNVME000001",
      model: "QEMU NVMe Ctrl",
      firmwareVersion: "7.2.22",
      nqn: "nqn.2026-12.lab.recon:subsys-capture",
      pciAddress: "0000:00:05.0",
      numaNode: null,
      namespaces: ["nvme0n1", "nvme0n2"],
    });
    assert.equal(scsiHostOf(value.block.sda?.devicePath ?? null), "host6");
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
  assert.throws(() => readSysStorageTree("/nonexistent-recon"), { code: "ENOENT" });
  assert.deepEqual(
    [numaNodeOf("-1"), numaNodeOf("0"), numaNodeOf(" 3\n"), numaNodeOf("x")],
    [null, 0, 3, null],
  );
  assert.deepEqual(["nvme0c1n2", "nvme3n1", "nvme0", "sda"].map(namespaceBlockName), [
    "nvme0n2",
    "nvme3n1",
    null,
    null,
  ]);
});

// --- merge --------------------------------------------------------------------------------------

function storageWith(fields: Partial<StorageFacts>): StorageFacts {
  return { ...emptyStorageFacts(), ...fields };
}

test("a drive smartctl reached behind a MegaRAID becomes its own disk once (scrutiny sample)", () => {
  // smartctl -d megaraid,0 /dev/sda: a WD4000FYYX behind the controller whose VD is sda.
  const behind = parseSmartctl(read(`${SCRUTINY}smartctl-megaraid0.json`));
  const storage = storageWith({
    sys: {
      block: {
        sda: {
          devicePath: "/sys/devices/pci0000:00/0000:00:02.0/host0/target0:2:0/0:2:0:0",
          numaNode: 0,
        },
      },
      scsiHost: {
        host0: {
          procName: "megaraid_sas",
          firmwareVersion: null,
          pciAddress: "0000:00:02.0",
          numaNode: 0,
        },
      },
      nvme: {},
    },
  });
  const disks = applyStorage(
    [disk("sda", { model: "PERC H730P Mini" })],
    [behind, behind],
    storage,
  );
  assert.equal(disks.length, 2);
  const drive = disks[1] as Disk;
  assert.equal(drive.name, "sda:megaraid,0");
  assert.equal(drive.path, null);
  assert.equal(drive.reachedThrough, "sda megaraid,0");
  assert.equal(drive.model, "WD4000FYYX");
  assert.equal(drive.firmwareVersion, "00.0D1K4");
  assert.equal(drive.sizeBytes, 4000787030016);
  assert.equal(drive.transport, "sata");
  assert.equal(drive.virtual, false);
  assert.equal(drive.numaNode, 0);
  Disk.parse(drive);
});

test("/dev/bus/N names the first block device on SCSI host N; a JBOD drive the kernel sees is not added twice", () => {
  const sys = {
    block: {
      sdb: {
        devicePath: "/sys/devices/pci0000:00/0000:00:02.0/host6/target6:2:0/6:2:0:0",
        numaNode: null,
      },
      sda: {
        devicePath: "/sys/devices/pci0000:00/0000:00:02.0/host6/target6:2:1/6:2:1:0",
        numaNode: null,
      },
    },
    scsiHost: {},
    nvme: {},
  };
  const jbod = smart({
    deviceName: "/dev/bus/6",
    serialNumber: "RECONM0000",
    controllerType: "megaraid,0",
  });
  const hidden = smart({
    deviceName: "/dev/bus/6",
    serialNumber: "HIDDEN01",
    controllerType: "megaraid,7",
  });
  const out = applyStorage(
    [disk("sda", { serialNumber: "RECONM0001" }), disk("sdb", { serialNumber: "RECONM0000" })],
    [jbod, hidden],
    storageWith({ sys }),
  );
  assert.deepEqual(
    out.map((d) => [d.name, d.reachedThrough, d.virtual]),
    [
      ["sda", null, null],
      ["sdb", null, false],
      ["sda:megaraid,7", "sda megaraid,7", false],
    ],
  );
});

test("storcli VD -> virtual disk with RAID level and members' serials from smartctl megaraid,<DID>", () => {
  const members = [16, 17].map((did) =>
    smart({
      deviceName: "/dev/bus/0",
      serialNumber: `S4${did}`,
      controllerType: `megaraid,${did}`,
    }),
  );
  const storage = storageWith({
    storcliControllers: readStorcliControllers(read(CTRL)).value,
    virtualDrives: readStorcliVirtualDrives(read(VALL)).value,
  });
  const out = applyStorage([disk("sda"), disk("sdb")], members, storage);
  assert.deepEqual(
    out.slice(0, 2).map((d) => [d.name, d.virtual, d.raidLevel, d.memberSerials]),
    [
      ["sda", true, "raid1", ["S416", "S417"]],
      ["sdb", true, "raid1", []],
    ],
  );
  assert.deepEqual(
    out.slice(2).map((d) => d.name),
    ["bus/0:megaraid,16", "bus/0:megaraid,17"],
  );
});

test("md arrays become virtual disks with their members' serials", () => {
  const storage = storageWith({ mdArrays: parseMdstat(read(MDSTAT)) });
  const out = applyStorage(
    [disk("sda", { serialNumber: "SA" }), disk("sdb", { serialNumber: "SB" })],
    [],
    storage,
  );
  const md0 = out.find((d) => d.name === "md0");
  assert.deepEqual(
    [md0?.path, md0?.virtual, md0?.raidLevel, md0?.memberSerials, md0?.sizeBytes],
    ["/dev/md0", true, "raid1", ["SB", "SA"], 249862029312],
  );
  for (const d of out) Disk.parse(d);
});

test("NVMe: controllers from sysfs, namespaces carry the controller serial; storage controllers from PCI class 01", () => {
  const storage = storageWith({
    sys: {
      block: {},
      scsiHost: {
        host6: {
          procName: "megaraid_sas",
          firmwareVersion: "2.130.403-4660",
          pciAddress: "0000:00:02.0",
          numaNode: null,
        },
      },
      nvme: {
        nvme0: {
          serial: "RLNVME000001",
          model: "QEMU NVMe Ctrl",
          firmwareVersion: "7.2.22",
          nqn: "nqn.2026-12.lab.recon:subsys-capture",
          pciAddress: "0000:00:05.0",
          numaNode: 1,
          namespaces: ["nvme0n1", "nvme0n2"],
        },
      },
    },
  });
  const controllers = buildNvmeControllers(storage);
  assert.deepEqual(controllers, [
    {
      name: "nvme0",
      pciAddress: "0000:00:05.0",
      model: "QEMU NVMe Ctrl",
      serialNumber: "RLNVME000001",
      firmwareVersion: "7.2.22",
      nqn: "nqn.2026-12.lab.recon:subsys-capture",
      namespaces: ["nvme0n1", "nvme0n2"],
    },
  ]);
  for (const c of controllers) NvmeController.parse(c);
  const out = applyStorage([disk("nvme0n2"), disk("vda")], [], storage);
  assert.deepEqual(
    out.map((d) => [d.name, d.controllerSerial, d.numaNode, d.virtual, d.firmwareVersion]),
    [
      ["nvme0n2", "RLNVME000001", 1, false, "7.2.22"],
      ["vda", null, null, null, null],
    ],
  );
  const pci = (address: string, classId: string, driver: string, deviceName: string) =>
    PciDevice.parse({
      address,
      classId,
      className: null,
      vendorId: null,
      vendorName: "Broadcom / LSI",
      deviceId: null,
      deviceName,
      subsystemVendorId: null,
      subsystemId: null,
      revision: null,
      driver,
    });
  const list = buildStorageControllers(
    [
      pci("0000:00:02.0", "0104", "megaraid_sas", "MegaRAID SAS 2108 [Liberator]"),
      pci("0000:00:05.0", "0108", "nvme", "QEMU NVM Express Controller"),
      pci("0000:00:03.0", "0200", "e1000e", "82574L"),
    ],
    storage,
    controllers,
  );
  assert.deepEqual(
    list.map((c) => [c.pciAddress, c.driver, c.firmwareVersion, c.serialNumber]),
    [
      ["0000:00:02.0", "megaraid_sas", "2.130.403-4660", null],
      ["0000:00:05.0", "nvme", "7.2.22", "RLNVME000001"],
    ],
  );
  for (const c of list) StorageController.parse(c);
});

// --- collector: probes gated by sysfs, honest statuses -----------------------------------------

function scriptedRunner(files: Record<string, string>, calls: string[]): Runner {
  return {
    async run(probe: Probe): Promise<ProbeResult> {
      const command =
        probe.source.kind === "command" ? probe.source.argv.join(" ") : `internal ${probe.file}`;
      calls.push(command);
      const output = files[probe.file];
      const skipped = output === undefined;
      return {
        file: probe.file,
        status: skipped ? "skipped" : "ok",
        output: output ?? "",
        exitCode: skipped ? null : 0,
        durationMs: 0,
        command,
        message: skipped ? `${command.split(" ")[0]}: not installed` : null,
      };
    },
  };
}

test("collectStorage: no megaraid host and no NVMe in sysfs -> neither storcli nor nvme-cli starts", async () => {
  const calls: string[] = [];
  const sys = JSON.stringify({
    block: { vda: { devicePath: null, numaNode: "-1" } },
    scsiHost: {},
    nvme: {},
  });
  const out = await collectStorage(scriptedRunner({ "sys-storage.json": sys }, calls));
  assert.deepEqual(calls, ["internal sys-storage.json", "internal proc-mdstat.txt"]);
  assert.deepEqual(
    out.reports.map((r) => [r.name, r.status]),
    [
      ["sysfs-storage", "ok"],
      ["mdstat", "skipped"],
    ],
  );
});

test("collectStorage: megaraid_sas host -> storcli under each binary name until one exists", async () => {
  const calls: string[] = [];
  const sys = JSON.stringify({
    block: {},
    scsiHost: { host0: { procName: "megaraid_sas" } },
    nvme: {},
  });
  const out = await collectStorage(scriptedRunner({ "sys-storage.json": sys }, calls));
  assert.deepEqual(
    calls.filter((c) => c.includes("show")),
    STORCLI_BINARIES.map((b) => `${b} /call show all J`),
  );
  assert.ok(out.reports.some((r) => r.name === "storcli" && r.status === "skipped"));
});

test("collectStorage replays recorded storcli, nvme and mdstat outputs; garbage fails honestly", async () => {
  const dir = mkdtempSync(join(tmpdir(), "recon-storage-replay-"));
  try {
    writeFileSync(join(dir, "storcli-call-show-all.json"), read(CTRL));
    writeFileSync(join(dir, "storcli-call-vall-show-all.json"), read(VALL));
    writeFileSync(join(dir, "nvme-list.json"), read(NVME_1X));
    writeFileSync(join(dir, "proc-mdstat.txt"), read(MDSTAT));
    const out = await collectStorage(await replayRunner(dir));
    assert.equal(out.value.storcliControllers[0]?.serialNumber, "SK75074929");
    assert.equal(out.value.virtualDrives.length, 7);
    assert.equal(out.value.nvmeNamespaces[0]?.serialNumber, "19FA109SK07N");
    assert.equal(out.value.mdArrays.length, 3);
    // No sys-storage.json in the capture: every tool is asked (replay reads what exists).
    assert.equal(out.reports.find((r) => r.name === "sysfs-storage")?.status, "skipped");
    writeFileSync(join(dir, "storcli-call-vall-show-all.json"), "{not json");
    const bad = await collectStorage(await replayRunner(dir));
    const failed = bad.reports.filter((r) => r.status === "failed");
    assert.equal(failed.length, 1);
    assert.match(failed[0]?.message ?? "", /storcli-call-vall-show-all.json: not JSON/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// --- properties --------------------------------------------------------------------------------

test("property: the storage parsers never throw on cut or overwritten real input", () => {
  assertSurvivesMutations([read(CTRL), read(VALL)], (t) => {
    for (const c of readStorcliControllers(t).value) {
      const { index, pciAddress, ...names } = c;
      assert.ok(index === null || Number.isSafeInteger(index));
      assert.ok(
        pciAddress === null || /^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$/.test(pciAddress),
      );
      for (const v of Object.values(names)) assert.ok(v === null || typeof v === "string");
    }
    for (const v of readStorcliVirtualDrives(t).value) assert.ok(Number.isSafeInteger(v.id));
  });
  assertSurvivesMutations([read(MDSTAT)], (t) => {
    for (const a of parseMdstat(t))
      assert.ok(a.sizeBytes === null || Number.isSafeInteger(a.sizeBytes));
  });
  assertSurvivesMutations([read(NVME_1X)], (t) => {
    for (const ns of parseNvmeList(t)) assert.match(ns.name, /^nvme\d+n\d+$/);
  });
  fc.assert(
    fc.property(fc.string(), (t) => {
      readSysStorage(t);
      readNvmeList(t);
      parseNvmeIdCtrl(t);
      readMdstat(t);
    }),
  );
});

test("property: random bytes are a problem, never facts", () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 1, maxLength: 200 }), (bytes) => {
      const text = Buffer.from(bytes).toString("latin1");
      if (text.trim() === "") return;
      assert.ok(
        readStorcliVirtualDrives(text).problem !== null ||
          readStorcliVirtualDrives(text).value.length === 0,
      );
      assert.ok(readMdstat(text).problem !== null || readMdstat(text).value.length === 0);
    }),
  );
});

// --- golden: the QEMU 7.2 capture made here (fixtures/qemu-storage; FACTS.md is the hardware
// QEMU was given, the raw files are what the guest said) ---------------------------------------

const QEMU = "fixtures/qemu-storage/";

test("qemu-storage raw files: nvme list (nvme-cli 2.3), id-ctrl and sys-storage.json", () => {
  assert.deepEqual(
    parseNvmeList(read(`${QEMU}nvme-list.json`)).map((ns) => [
      ns.name,
      ns.sizeBytes,
      ns.serialNumber,
    ]),
    [
      ["nvme0n2", 536870912],
      ["nvme0n1", 1073741824],
    ].map(([name, size]) => [name, size, "RLNVME000001"]),
  );
  // QEMU 7.2 puts its own prefix before the NQN it was given (FACTS.md has the given one).
  assert.deepEqual(parseNvmeIdCtrl(read(`${QEMU}nvme-id-ctrl-nvme0.json`)), {
    serialNumber: "RLNVME000001",
    model: "QEMU NVMe Ctrl",
    firmwareVersion: "7.2.22",
    nqn: "nqn.2019-08.org.qemu:nqn.2026-12.lab.recon:subsys-capture",
  });
  const sys = readSysStorage(read(`${QEMU}sys-storage.json`));
  assert.equal(sys.problem, null);
  assert.deepEqual(sys.value.nvme.nvme0?.namespaces, ["nvme0n1", "nvme0n2"]);
  assert.equal(sys.value.scsiHost.host6?.procName, "megaraid_sas");
  assert.equal(sys.value.scsiHost.host6?.pciAddress, "0000:00:04.0");
});

test("qemu-storage document: megasas logical drives, the drive behind them, NVMe namespaces and controllers", async () => {
  const doc = await collectInventory({
    runner: await replayRunner(new URL(QEMU, ROOT).pathname),
    now: () => new Date("2026-12-02T00:00:00Z"),
  });
  // sda..sdc sit on SCSI channel 2 of the megaraid_sas host (6:2:N:0): logical drives. QEMU's
  // megasas answers smartctl -d megaraid,0, 256 and 512 all with target 0 (RLSAS0000001): one drive.
  assert.deepEqual(
    doc.disks.map((d) => [
      d.name,
      d.path,
      d.serialNumber,
      d.reachedThrough,
      d.virtual,
      d.sizeBytes,
    ]),
    [
      ["sda", "/dev/sda", "RLSAS0000001", null, true, 2147483648],
      ["sdb", "/dev/sdb", "RLSAS0000002", null, true, 2147483648],
      ["sdc", "/dev/sdc", "RLSSD0000003", null, true, 1073741824],
      ["nvme0n1", "/dev/nvme0n1", "RLNVME000001", null, false, 1073741824],
      ["nvme0n2", "/dev/nvme0n2", "RLNVME000001", null, false, 536870912],
      ["sda:megaraid,0", null, "RLSAS0000001", "sda megaraid,0", false, 2147483648],
    ],
  );
  const drive = doc.disks.at(-1) as Disk;
  // logical_unit_id 0x5000c500a1b2c301: the wwn QEMU was given for target 0 (FACTS.md).
  assert.deepEqual(
    [drive.vendor, drive.model, drive.firmwareVersion, drive.wwn],
    ["SEAGATE", "ST600MM0009", "N003", "0x5000c500a1b2c301"],
  );
  assert.deepEqual(
    doc.disks
      .filter((d) => d.name.startsWith("nvme"))
      .map((d) => [d.controllerSerial, d.firmwareVersion]),
    [
      ["RLNVME000001", "7.2.22"],
      ["RLNVME000001", "7.2.22"],
    ],
  );
  assert.deepEqual(doc.nvmeControllers, [
    {
      name: "nvme0",
      pciAddress: "0000:00:05.0",
      model: "QEMU NVMe Ctrl",
      serialNumber: "RLNVME000001",
      firmwareVersion: "7.2.22",
      nqn: "nqn.2019-08.org.qemu:nqn.2026-12.lab.recon:subsys-capture",
      namespaces: ["nvme0n1", "nvme0n2"],
    },
  ]);
  assert.deepEqual(
    doc.storageControllers.map((c) => [c.pciAddress, c.driver, c.firmwareVersion, c.serialNumber]),
    [
      // QEMU's megaraid_sas host has no fw_version attribute: unknown, not guessed.
      ["0000:00:04.0", "megaraid_sas", null, null],
      ["0000:00:05.0", "nvme", "7.2.22", "RLNVME000001"],
      ["0000:00:1f.2", "ahci", null, null],
    ],
  );
  assert.equal(doc.storageControllers[0]?.model, "MegaRAID SAS 2108 [Liberator]");
  const reports = doc.collectors.filter((c) =>
    ["sysfs-storage", "nvme-list", "nvme-id-ctrl", "storcli", "mdstat"].includes(c.name),
  );
  assert.deepEqual(
    reports.map((r) => [r.name, r.status]),
    [
      ["sysfs-storage", "ok"],
      ["mdstat", "skipped"],
      ["nvme-list", "ok"],
      ["nvme-id-ctrl", "ok"],
      ["storcli", "skipped"],
    ],
  );
});

// --- ssacli (HPE Smart Array) -------------------------------------------------------------------

const SSACLI = "samples/ssacli-proliantutils/ssacli-ctrl-all-show-config-detail.txt";

test("ssacli ctrl all show config detail (Smart Array P822): controller, RAID 1 on sda, seven drives", () => {
  const { value, problem } = readSsacliConfig(read(SSACLI));
  assert.equal(problem, null);
  assert.equal(value.length, 1);
  const c = value[0] as SsacliController;
  assert.deepEqual(
    [c.model, c.slot, c.serialNumber, c.firmwareVersion, c.driver, c.pciAddress],
    ["Smart Array P822", "2", "PDVTF0BRH5T0MO", "4.68", "hpsa", null],
  );
  assert.deepEqual(c.logicalDrives, [
    { id: 1, raidLevel: "raid1", kernelName: "sda", members: ["5I:1:1", "5I:1:2"] },
  ]);
  assert.deepEqual(
    c.physicalDrives.map((d) => [d.bay, d.serialNumber]),
    [
      ["5I:1:1", "6SL7G55D0000N4173JLT"],
      ["5I:1:2", "6SL7H2DM0000B41800Y0"],
      ["5I:1:3", "6SL7G4ZN0000B41707PD"],
      ["5I:1:4", "6SL7H27F0000B41800S0"],
      ["6I:1:5", "6SL7H2BR0000B41800V8"],
      ["6I:1:6", "6SL7G4WD0000N4180GEJ"],
      ["6I:1:7", "6SL7G54Q0000N4180W34"],
    ],
  );
  assert.deepEqual(c.physicalDrives[0], {
    bay: "5I:1:1",
    serialNumber: "6SL7G55D0000N4173JLT",
    vendor: "HP",
    model: "EF0600FARNA",
    firmwareVersion: "HPD6",
    transport: "sas",
    rotational: true,
  });
  assert.deepEqual(["0", "1", "1+0", "5", "6", "ADG", "1ADM", "x"].map(ssacliRaidLevel), [
    "raid0",
    "raid1",
    "raid10",
    "raid5",
    "raid6",
    "raid6",
    "raid1adm",
    null,
  ]);
  assert.match(readSsacliConfig("Error: nothing\n").problem ?? "", /in Slot/);
});

test("ssacli merge: sda is the RAID 1 with its members' serials; each Smart Array drive is listed once", () => {
  const storage = storageWith({ ssacli: readSsacliConfig(read(SSACLI)).value });
  const out = applyStorage([disk("sda", { model: "LOGICAL VOLUME", vendor: "HP" })], [], storage);
  const sda = out[0] as Disk;
  assert.deepEqual(
    [sda.virtual, sda.raidLevel, sda.memberSerials],
    [true, "raid1", ["6SL7G55D0000N4173JLT", "6SL7H2DM0000B41800Y0"]],
  );
  assert.equal(out.length, 8);
  assert.deepEqual(
    [out[1]?.name, out[1]?.path, out[1]?.reachedThrough, out[1]?.serialNumber, out[1]?.virtual],
    ["slot2:5I:1:1", null, "ssacli slot=2 5I:1:1", "6SL7G55D0000N4173JLT", false],
  );
  for (const d of out) Disk.parse(d);
  const hpsa = PciDevice.parse({
    address: "0000:07:00.0",
    classId: "0104",
    className: null,
    vendorId: null,
    vendorName: "Hewlett-Packard Company",
    deviceId: null,
    deviceName: "Smart Array Gen8 Controllers",
    subsystemVendorId: null,
    subsystemId: null,
    revision: null,
    driver: "hpsa",
  });
  assert.deepEqual(
    buildStorageControllers([hpsa], storage).map((c) => [c.firmwareVersion, c.serialNumber]),
    [["4.68", "PDVTF0BRH5T0MO"]],
  );
});

test("collectStorage: an hpsa host asks ssacli under each of its names", async () => {
  const calls: string[] = [];
  const sys = JSON.stringify({ block: {}, scsiHost: { host2: { procName: "hpsa" } }, nvme: {} });
  await collectStorage(scriptedRunner({ "sys-storage.json": sys }, calls));
  assert.deepEqual(
    calls.filter((c) => c.includes("config")),
    ["ssacli", "hpssacli", "hpacucli"].map((b) => `${b} ctrl all show config detail`),
  );
});

test("property: the ssacli parser never throws on cut or overwritten real input", () => {
  assertSurvivesMutations([read(SSACLI)], (t) => {
    for (const c of parseSsacliConfig(t)) {
      for (const d of c.physicalDrives) assert.match(d.bay, /^[0-9A-Za-z]+:\d+:\d+$/);
      for (const l of c.logicalDrives) assert.ok(l.raidLevel === null || /^raid/.test(l.raidLevel));
    }
  });
});

test("mergeDisks: smartctl's whole firmware string wins over lsblk's 4-character REV", () => {
  // The Samsung 860 EVO of the scrutiny sample reports RVT02B6Q; the kernel's SCSI revision
  // (lsblk REV) keeps 4 characters of it.
  const ata = parseSmartctl(read(`${SCRUTINY}smartctl-ata-full.json`));
  const lsblk = disk("sda", { serialNumber: "S3YZNB0KB00864E", firmwareVersion: "2B6Q" });
  const [merged] = mergeDisks([lsblk], emptyLshwFacts(), [ata]);
  assert.equal(merged?.firmwareVersion, "RVT02B6Q");
  const [alone] = mergeDisks([lsblk], emptyLshwFacts(), []);
  assert.equal(alone?.firmwareVersion, "2B6Q");
});
