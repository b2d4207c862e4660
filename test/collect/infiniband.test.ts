import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { z } from "zod";
import { collectInventory } from "../../agent/collect/index.ts";
import {
  collectInfiniband,
  parseRateGbps,
  parseSysInfiniband,
  portGuidFromGid,
  portStateName,
  readSysInfiniband,
  readSysInfinibandCapture,
} from "../../agent/collect/infiniband.ts";
import { replayRunner } from "../../agent/exec.ts";
import { InfinibandDevice, Inventory } from "../../schema/inventory.ts";
import { assertHonestParser, assertSurvivesMutations } from "../support/properties.ts";
import { unpackTtar } from "../support/ttar.ts";

const TTAR = new URL("../../samples/sysfs-procfs/class-infiniband.ttar", import.meta.url).pathname;

/** The procfs fixture tree, read by the agent's own reader: the sys-class-infiniband.json it writes. */
async function procfsCapture(): Promise<string> {
  const temp = mkdtempSync(join(tmpdir(), "recon-ib-"));
  try {
    unpackTtar(TTAR, temp);
    return await readSysInfiniband(join(temp, "class/infiniband"));
  } finally {
    rmSync(temp, { recursive: true, force: true });
  }
}

test("procfs's sysfs tree: Omni-Path, ConnectX-3 (two ports) and ConnectX-4, values as in the files", async () => {
  const devices = parseSysInfiniband(await procfsCapture());
  assert.deepEqual(devices, [
    {
      name: "hfi1_0",
      pciAddress: null, // the fixture has no device link
      nodeGuid: null,
      firmwareVersion: "1.27.0",
      boardId: "HPE 100Gb 1-port OP101 QSFP28 x16 PCIe Gen3 with Intel Omni-Path Adapter",
      ports: [
        {
          port: 1,
          guid: null,
          state: "ACTIVE",
          physicalState: "LinkUp",
          rateGbps: 100,
          linkLayer: "InfiniBand",
        },
      ],
    },
    {
      name: "mlx4_0",
      pciAddress: null,
      nodeGuid: null,
      firmwareVersion: "2.31.5050",
      boardId: "SM_1141000001000",
      ports: [
        {
          port: 1,
          guid: null,
          state: "ACTIVE",
          physicalState: "LinkUp",
          rateGbps: 40,
          linkLayer: "InfiniBand",
        },
        {
          port: 2,
          guid: null,
          state: "ACTIVE",
          physicalState: "LinkUp",
          rateGbps: 40,
          linkLayer: "InfiniBand",
        },
      ],
    },
    {
      name: "mlx5_0",
      pciAddress: null,
      nodeGuid: "0a7f:bc12:45ef:d23b", // the file has no trailing newline
      firmwareVersion: "14.28.2006",
      boardId: "SM_2001000001034",
      ports: [
        // phys_state holds "4: ACTIVE" in this fixture (a real one says "5: LinkUp"): kept as read.
        {
          port: 1,
          guid: null,
          state: "ACTIVE",
          physicalState: "ACTIVE",
          rateGbps: 25,
          linkLayer: "InfiniBand",
        },
      ],
    },
  ]);
  for (const device of devices) InfinibandDevice.parse(device);
});

test("samples/sysfs-procfs/sys-class-infiniband.json is what the reader writes for the ttar tree", async () => {
  const committed = new URL(
    "../../samples/sysfs-procfs/sys-class-infiniband.json",
    import.meta.url,
  );
  assert.equal(readFileSync(committed, "utf8"), await procfsCapture());
});

test("readSysInfiniband: the PCI address from the device link, the port GUID from GID 0", async () => {
  // Laid out as the kernel lays out an mlx5 port (no public capture with gids was found).
  const temp = mkdtempSync(join(tmpdir(), "recon-ib-"));
  try {
    const pci = join(temp, "devices/pci0000:00/0000:00:02.0/0000:3b:00.0");
    const dev = join(temp, "class/infiniband/mlx5_0");
    mkdirSync(pci, { recursive: true });
    mkdirSync(join(dev, "ports/1/gids"), { recursive: true });
    symlinkSync(pci, join(dev, "device"));
    writeFileSync(join(dev, "node_guid"), "b859:9f03:00d4:5c2a\n");
    writeFileSync(join(dev, "ports/1/state"), "4: ACTIVE\n");
    writeFileSync(join(dev, "ports/1/link_layer"), "Ethernet\n");
    writeFileSync(join(dev, "ports/1/gids/0"), "fe80:0000:0000:0000:ba59:9fff:fed4:5c2a\n");
    const [device] = parseSysInfiniband(await readSysInfiniband(join(temp, "class/infiniband")));
    assert.equal(device?.pciAddress, "0000:3b:00.0");
    assert.equal(device?.nodeGuid, "b859:9f03:00d4:5c2a");
    assert.equal(device?.ports[0]?.guid, "ba59:9fff:fed4:5c2a");
    assert.equal(device?.ports[0]?.linkLayer, "Ethernet");
    assert.equal(device?.ports[0]?.rateGbps, null, "no rate file");
  } finally {
    rmSync(temp, { recursive: true, force: true });
  }
});

test("port fields: state names, rates, GIDs", () => {
  assert.equal(portStateName("1: DOWN"), "DOWN");
  assert.equal(portStateName("3: Disabled"), "Disabled");
  assert.equal(portStateName(""), null);
  assert.equal(parseRateGbps("2.5 Gb/sec (1X SDR)"), 2.5);
  assert.equal(parseRateGbps("400 Gb/sec (4X NDR)"), 400);
  assert.equal(parseRateGbps("Invalid"), null);
  assert.equal(portGuidFromGid("0000:0000:0000:0000:0000:0000:0000:0000"), null);
  assert.equal(portGuidFromGid("fe80::1"), null, "sysfs never prints the short form");
});

test("collectInfiniband: no /sys/class/infiniband captured is skipped; a capture replays", async () => {
  const temp = mkdtempSync(join(tmpdir(), "recon-ib-"));
  try {
    const none = await collectInfiniband(await replayRunner(temp));
    assert.deepEqual(none.value, []);
    assert.equal(none.reports[0]?.status, "skipped");
    writeFileSync(join(temp, "sys-class-infiniband.json"), await procfsCapture());
    const out = await collectInfiniband(await replayRunner(temp));
    assert.equal(out.reports[0]?.status, "ok");
    assert.deepEqual(
      out.value.map((d) => d.name),
      ["hfi1_0", "mlx4_0", "mlx5_0"],
    );
    writeFileSync(join(temp, "sys-class-infiniband.json"), "[]");
    const bad = await collectInfiniband(await replayRunner(temp));
    assert.equal(bad.reports[0]?.status, "failed");
  } finally {
    rmSync(temp, { recursive: true, force: true });
  }
});

test("property: the capture reader is honest and its devices schema-valid", async () => {
  const capture = await procfsCapture();
  assertHonestParser([capture], readSysInfinibandCapture, { json: true });
  assertSurvivesMutations([capture], (text) => {
    z.array(InfinibandDevice).parse(parseSysInfiniband(text));
  });
});

const RXE = new URL("../../samples/sysfs-infiniband-rxe-qemu/", import.meta.url).pathname;

test("soft-RoCE captured here (QEMU guest, rdma_rxe on virtio eth0): values as in the files", () => {
  const [rxe, ...rest] = parseSysInfiniband(
    readFileSync(join(RXE, "sys-class-infiniband.json"), "utf8"),
  );
  assert.equal(rest.length, 0);
  assert.deepEqual(rxe, {
    name: "rxe0",
    pciAddress: null,
    nodeGuid: "5054:00ff:fec4:0001",
    firmwareVersion: null, // fw_ver is empty for rxe
    boardId: null,
    ports: [
      {
        port: 1,
        guid: "5054:00ff:fec4:0001",
        state: "ACTIVE",
        physicalState: "LinkUp",
        rateGbps: 2.5,
        linkLayer: "Ethernet",
      },
    ],
  });
});

test("the whole document from the rxe capture's NIC/PCI files: infiniband, nics, pciDevices, gpus", async () => {
  const doc = await collectInventory({
    runner: await replayRunner(RXE),
    now: () => new Date("2026-12-02T02:00:00Z"),
    randomUuid: () => "00000000-0000-4000-8000-000000000000",
  });
  Inventory.parse(doc);
  assert.deepEqual(
    doc.infiniband.map((d) => [d.name, d.ports[0]?.linkLayer]),
    [["rxe0", "Ethernet"]],
  );
  assert.deepEqual(
    doc.nics.map((n) => [n.name, n.pciAddress, n.firmwareVersion, n.numaNode, n.bmcUsb]),
    [["eth0", "0000:00:03.0", null, null, false]],
  );
  assert.equal(doc.pciDevices.length, 9);
  assert.ok(doc.pciDevices.every((d) => d.numaNode === null && d.sriovTotalVfs === null));
  assert.deepEqual(doc.gpus, []);
  const status = Object.fromEntries(
    doc.collectors
      .filter((c) =>
        ["ethtool-driver", "sysfs-pci", "nvidia-smi", "sysfs-infiniband"].includes(c.name),
      )
      .map((c) => [c.name, c.status]),
  );
  // nvidia-smi: sysfs was read and shows no NVIDIA function, so it is not even looked for.
  assert.deepEqual(status, {
    "ethtool-driver": "ok",
    "sysfs-pci": "ok",
    "nvidia-smi": "skipped",
    "sysfs-infiniband": "ok",
  });
});
