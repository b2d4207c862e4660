import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import fc from "fast-check";
import { z } from "zod";
import { collectLsblk, LSBLK_PROBE, parseLsblk } from "../../agent/collect/lsblk.ts";
import { replayRunner } from "../../agent/exec.ts";
import { Disk } from "../../schema/inventory.ts";
import { fakeRunner } from "../support/fake-runner.ts";
import { assertSurvivesMutations } from "../support/properties.ts";

const FIXTURES = new URL("../../fixtures/", import.meta.url);
const read = (path: string) => readFileSync(new URL(path, FIXTURES), "utf8");
const Disks = z.array(Disk);

const VDA = {
  name: "vda",
  path: "/dev/vda",
  sizeBytes: 274877906944,
  model: null,
  vendor: "0x1af4", // what sysfs device/vendor says for a virtio disk
  serialNumber: null,
  wwn: null,
  transport: null,
  rotational: true,
  removable: false,
  firmwareVersion: null,
  smartPassed: null,
  powerOnHours: null,
  temperatureCelsius: null,
  virtual: null,
  raidLevel: null,
  memberSerials: [],
  reachedThrough: null,
  controllerSerial: null,
  numaNode: null,
};

test("this machine, util-linux 2.38.1: vda only (zram0 is not hardware)", () => {
  assert.deepEqual(parseLsblk(read("this-machine-debian12/lsblk.json")), [VDA]);
});

test("this machine, util-linux 2.36.1 (single mountpoint, some numbers as strings)", () => {
  assert.deepEqual(parseLsblk(read("this-machine-util-linux-2.36.1/lsblk.json")), [VDA]);
});

test("this machine, util-linux 2.41.5 (tran says virtio)", () => {
  assert.deepEqual(parseLsblk(read("this-machine-util-linux-2.41.5/lsblk.json")), [
    { ...VDA, transport: "virtio" },
  ]);
});

test("drivelist laptop: old all-strings JSON made without -b (sizes are not exact: null)", () => {
  assert.deepEqual(parseLsblk(read("unknown-laptop-nvme-lsblk-drivelist/lsblk.json")), [
    {
      name: "sda",
      path: "/dev/sda",
      sizeBytes: null, // "14.3G"
      model: null,
      vendor: null,
      serialNumber: null,
      wwn: null,
      transport: null,
      rotational: null, // no rota column
      removable: true, // "rm": "1"
      firmwareVersion: null,
      smartPassed: null,
      powerOnHours: null,
      temperatureCelsius: null,
      virtual: null,
      raidLevel: null,
      memberSerials: [],
      reachedThrough: null,
      controllerSerial: null,
      numaNode: null,
    },
    {
      name: "nvme0n1",
      path: "/dev/nvme0n1",
      sizeBytes: null, // "477G"
      model: null,
      vendor: null,
      serialNumber: null,
      wwn: null,
      transport: null,
      rotational: null,
      removable: false,
      firmwareVersion: null,
      smartPassed: null,
      powerOnHours: null,
      temperatureCelsius: null,
      virtual: null,
      raidLevel: null,
      memberSerials: [],
      reachedThrough: null,
      controllerSerial: null,
      numaNode: null,
    },
  ]);
});

// Synthetic, shaped like `lsblk -J -b -O` of util-linux < 2.33 (every value a string, no `path`
// column, `mountpoint`), with the device kinds a server shows.
const LEGACY = `{
   "blockdevices": [
      {"name": "sda", "kname": "sda", "maj:min": "8:0", "rm": "0", "size": "480103981056", "ro": "0",
       "type": "disk", "mountpoint": null, "model": "INTEL SSDSC2KB48", "serial": "  BTYF83640ABC480BGN  ",
       "rev": "0132", "vendor": "ATA     ", "rota": "0", "tran": "sata", "wwn": "0x55cd2e414f9d0c2e",
       "hctl": "0:0:0:0",
       "children": [
          {"name": "sda1", "type": "part", "size": "1048576", "mountpoint": null},
          {"name": "md127", "type": "raid1", "size": "479968706560", "mountpoint": "/"}
       ]},
      {"name": "sdb", "maj:min": "8:16", "rm": "0", "size": "8001563222016", "type": "disk",
       "model": "HGST HUH728080AL", "serial": "VKJ0ABCD", "rev": "T7JD", "vendor": "HGST    ",
       "rota": "1", "tran": "sas", "wwn": "0x5000cca254e1a2b3", "mountpoint": null},
      {"name": "sdb", "type": "disk", "size": "1"},
      {"name": "sr0", "type": "rom", "rm": "1", "size": "1073741312", "model": "Virtual CDROM"},
      {"name": "loop0", "type": "loop", "size": "58191872", "mountpoint": "/snap/core18/1"},
      {"name": "zram0", "type": "disk", "size": "4294967296", "mountpoint": "[SWAP]"},
      {"name": "mmcblk0", "type": "disk", "size": "31268536320", "rm": "0", "rota": "0",
       "serial": "0x1234abcd"},
      {"name": "mmcblk0boot0", "type": "disk", "size": "4194304"},
      {"name": "nvme0n1", "type": "disk", "size": "3840755982336", "rota": "0", "rm": "0",
       "model": "SAMSUNG MZQLB3T8HALS-00007              ", "serial": "S438NC0R123456      ",
       "rev": "EDA5202Q", "tran": "nvme", "wwn": "eui.33384e3052000001002538", "vendor": null,
       "mountpoint": null}
   ]
}`;

test("legacy all-strings JSON: disks only, trimmed, ATA vendor dropped, path derived", () => {
  assert.deepEqual(parseLsblk(LEGACY), [
    {
      name: "sda",
      path: "/dev/sda",
      sizeBytes: 480103981056,
      model: "INTEL SSDSC2KB48",
      vendor: null,
      serialNumber: "BTYF83640ABC480BGN",
      wwn: "0x55cd2e414f9d0c2e",
      transport: "sata",
      rotational: false,
      removable: false,
      firmwareVersion: "0132",
      smartPassed: null,
      powerOnHours: null,
      temperatureCelsius: null,
      virtual: null,
      raidLevel: null,
      memberSerials: [],
      reachedThrough: null,
      controllerSerial: null,
      numaNode: null,
    },
    {
      name: "sdb",
      path: "/dev/sdb",
      sizeBytes: 8001563222016,
      model: "HGST HUH728080AL",
      vendor: "HGST",
      serialNumber: "VKJ0ABCD",
      wwn: "0x5000cca254e1a2b3",
      transport: "sas",
      rotational: true,
      removable: false,
      firmwareVersion: "T7JD",
      smartPassed: null,
      powerOnHours: null,
      temperatureCelsius: null,
      virtual: null,
      raidLevel: null,
      memberSerials: [],
      reachedThrough: null,
      controllerSerial: null,
      numaNode: null,
    },
    {
      name: "mmcblk0",
      path: "/dev/mmcblk0",
      sizeBytes: 31268536320,
      model: null,
      vendor: null,
      serialNumber: "0x1234abcd",
      wwn: null,
      transport: null,
      rotational: false,
      removable: false,
      firmwareVersion: null,
      smartPassed: null,
      powerOnHours: null,
      temperatureCelsius: null,
      virtual: null,
      raidLevel: null,
      memberSerials: [],
      reachedThrough: null,
      controllerSerial: null,
      numaNode: null,
    },
    {
      name: "nvme0n1",
      path: "/dev/nvme0n1",
      sizeBytes: 3840755982336,
      model: "SAMSUNG MZQLB3T8HALS-00007",
      vendor: null,
      serialNumber: "S438NC0R123456",
      wwn: "eui.33384e3052000001002538",
      transport: "nvme",
      rotational: false,
      removable: false,
      firmwareVersion: "EDA5202Q",
      smartPassed: null,
      powerOnHours: null,
      temperatureCelsius: null,
      virtual: null,
      raidLevel: null,
      memberSerials: [],
      reachedThrough: null,
      controllerSerial: null,
      numaNode: null,
    },
  ]);
});

test("lsblk -p names, numeric 0/1 flags, placeholders", () => {
  const text = JSON.stringify({
    blockdevices: [
      { name: "/dev/sdc", type: "disk", size: 10, rota: 1, rm: 0, serial: "", model: "   " },
      { name: "sdd", path: "/dev/disk/x", type: "DISK", size: -1, rota: "yes", vendor: "ata" },
    ],
  });
  assert.deepEqual(parseLsblk(text), [
    {
      name: "sdc",
      path: "/dev/sdc",
      sizeBytes: 10,
      model: null,
      vendor: null,
      serialNumber: null,
      wwn: null,
      transport: null,
      rotational: true,
      removable: false,
      firmwareVersion: null,
      smartPassed: null,
      powerOnHours: null,
      temperatureCelsius: null,
      virtual: null,
      raidLevel: null,
      memberSerials: [],
      reachedThrough: null,
      controllerSerial: null,
      numaNode: null,
    },
    {
      name: "sdd",
      path: "/dev/disk/x",
      sizeBytes: null,
      model: null,
      vendor: null,
      serialNumber: null,
      wwn: null,
      transport: null,
      rotational: null,
      removable: null,
      firmwareVersion: null,
      smartPassed: null,
      powerOnHours: null,
      temperatureCelsius: null,
      virtual: null,
      raidLevel: null,
      memberSerials: [],
      reachedThrough: null,
      controllerSerial: null,
      numaNode: null,
    },
  ]);
});

test("not lsblk JSON: []", () => {
  for (const text of [
    "",
    "{",
    "null",
    "[]",
    '{"blockdevices": {}}',
    '{"blockdevices": [1, null, []]}',
  ]) {
    assert.deepEqual(parseLsblk(text), []);
  }
  assert.deepEqual(parseLsblk(read("lattepanda-mu-mudata/lsblk.txt")), []);
});

// --- properties -------------------------------------------------------------------------------

const REAL = [
  read("this-machine-debian12/lsblk.json"),
  read("this-machine-util-linux-2.36.1/lsblk.json"),
  read("this-machine-util-linux-2.41.5/lsblk.json"),
  read("unknown-laptop-nvme-lsblk-drivelist/lsblk.json"),
  LEGACY,
];

const anyValue = fc.oneof(
  fc.string(),
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.constantFrom("0", "1", "disk", "part", "/dev/sda", "ATA", "-1", "1e3"),
  fc.jsonValue({ maxDepth: 2 }),
);
const entry = fc.record(
  {
    name: anyValue,
    kname: anyValue,
    path: anyValue,
    type: fc.oneof(fc.constantFrom("disk", "part", "rom", "loop", "lvm"), anyValue),
    size: anyValue,
    model: anyValue,
    vendor: anyValue,
    serial: anyValue,
    wwn: anyValue,
    tran: anyValue,
    rota: anyValue,
    rm: anyValue,
    rev: anyValue,
    children: anyValue,
  },
  { requiredKeys: [] },
);

test("property: random JSON and random device lists give schema-valid unique disks", () => {
  fc.assert(
    fc.property(
      fc.oneof(
        fc.string(),
        fc.jsonValue().map((v) => JSON.stringify(v)),
        fc.array(fc.oneof(entry, anyValue)).map((list) => JSON.stringify({ blockdevices: list })),
      ),
      (text) => {
        const disks = Disks.parse(parseLsblk(text));
        assert.equal(new Set(disks.map((d) => d.name)).size, disks.length);
      },
    ),
    { numRuns: 500 },
  );
});

test("property: truncated and mutated real captures stay schema-valid", () => {
  assertSurvivesMutations(REAL, (text) => Disks.parse(parseLsblk(text)), 300);
});

test("property: mutating values of a real capture never throws", () => {
  const base = JSON.parse(REAL[0] ?? "{}") as { blockdevices: Array<Record<string, unknown>> };
  fc.assert(
    fc.property(
      fc.constantFrom("name", "type", "size", "rota", "rm", "path", "serial"),
      anyValue,
      (key, value) => {
        const copy = structuredClone(base);
        for (const device of copy.blockdevices) device[key] = value;
        Disks.parse(parseLsblk(JSON.stringify(copy)));
      },
    ),
    { numRuns: 300 },
  );
});

// --- collector --------------------------------------------------------------------------------

test("probe: exact argv and file", () => {
  assert.equal(LSBLK_PROBE.file, "lsblk.json");
  assert.deepEqual(LSBLK_PROBE.source, {
    kind: "command",
    argv: ["lsblk", "-J", "-b", "-O"],
    versionArgv: ["--version"],
  });
  assert.ok(LSBLK_PROBE.timeoutMs > 0);
});

test("collectLsblk: ok, timeout", async () => {
  const { runner, probes } = fakeRunner({ output: LEGACY });
  const ok = await collectLsblk(runner);
  assert.equal(probes[0], LSBLK_PROBE);
  assert.equal(ok.value.length, 4);
  assert.deepEqual(ok.reports, [
    {
      name: "lsblk",
      status: "ok",
      durationMs: 3,
      command: "lsblk -J -b -O",
      exitCode: 0,
      message: null,
    },
  ]);
  const late = await collectLsblk(
    fakeRunner({ status: "timeout", exitCode: null, output: "{", message: "timed out" }).runner,
  );
  assert.deepEqual(late.value, []);
  assert.equal(late.reports[0]?.status, "timeout");
});

test("replay of the fixture directory", async () => {
  const out = await collectLsblk(
    await replayRunner(new URL("this-machine-debian12/", FIXTURES).pathname),
  );
  assert.deepEqual(out.value, [VDA]);
  assert.equal(out.reports[0]?.command, "replay lsblk.json");
});
