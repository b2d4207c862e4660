// The assembled document: every fixture replays into a schema-valid document, identity rules,
// and cross-tool filling.
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import {
  collectInventory,
  deriveNodeId,
  mergeDisks,
  mergeNics,
  toNodeIdToken,
} from "../../agent/collect/index.ts";
import { parseLldpctl } from "../../agent/collect/lldpctl.ts";
import { emptyLshwFacts } from "../../agent/collect/lshw.ts";
import { parseSmartctl } from "../../agent/collect/smartctl.ts";
import { realRunner, replayRunner } from "../../agent/exec.ts";
import { Inventory } from "../../schema/inventory.ts";

const fixtures = new URL("../../fixtures/", import.meta.url).pathname;
const machines = readdirSync(fixtures, { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .map((d) => d.name);
const now = () => new Date("2026-11-25T12:00:00Z");

test("every fixture replays into a schema-valid document", async () => {
  assert.ok(machines.length >= 50, `${machines.length} fixture folders`);
  for (const machine of machines) {
    const doc = await collectInventory({
      runner: await replayRunner(join(fixtures, machine)),
      now,
    });
    const result = Inventory.safeParse(doc);
    assert.ok(result.success, `${machine}: ${JSON.stringify(result.error?.issues.slice(0, 3))}`);
    assert.equal(doc.collectedAt, "2026-11-25T12:00:00.000Z");
  }
});

test("a replay of a dmidecode-only capture: facts from SMBIOS, other tools skipped", async () => {
  const doc = await collectInventory({
    runner: await replayRunner(join(fixtures, "dell-poweredge-r740-linuxhw")),
    now,
  });
  assert.equal(doc.system.manufacturer, "Dell Inc.");
  assert.equal(doc.system.productName, "PowerEdge R740");
  assert.equal(doc.system.serialNumber, null, "anonymised as -- in the capture");
  assert.equal(doc.processors.length, 2);
  assert.equal(doc.memory.totalBytes, 256 * 1024 ** 3);
  assert.equal(doc.memory.persistentBytes, 0);
  assert.equal(doc.memory.slots, 24);
  const byName = new Map(doc.collectors.map((c) => [c.name, c]));
  assert.equal(byName.get("dmidecode")?.status, "ok");
  assert.equal(byName.get("lspci")?.status, "skipped");
  assert.equal(byName.get("lspci")?.message, "not captured");
  assert.equal(doc.bmc, null);
});

test("this machine's capture fills disks, PCI devices, CPU and OS memory", async () => {
  const doc = await collectInventory({
    runner: await replayRunner(join(fixtures, "this-machine-debian12")),
    now,
  });
  assert.ok(doc.disks.length >= 1);
  assert.ok(doc.pciDevices.length >= 1);
  assert.ok((doc.memory.osVisibleBytes ?? 0) > 1024 ** 3);
  assert.ok((doc.cpu.logicalCpus ?? 0) >= 1);
});

test("the ipmi_sim capture yields a BMC with its LAN channel", async () => {
  const doc = await collectInventory({
    runner: await replayRunner(join(fixtures, "ipmi-sim-openipmi")),
    now,
  });
  assert.ok(doc.bmc);
  assert.equal(doc.bmc.channel, 1);
  assert.ok(doc.bmc.ipv4Address);
  assert.ok(doc.fru.length >= 1);
});

test("nodeId: UUID, then serial, then boot MAC, then NIC MAC, then host name", () => {
  const base = { uuid: null, serial: null, bootMac: null, nicMacs: [], hostname: null };
  assert.deepEqual(
    deriveNodeId({ ...base, uuid: "4c4c4544-0042-3510-8052-b3c04f4d4e32", serial: "X" }),
    {
      nodeId: "4c4c4544-0042-3510-8052-b3c04f4d4e32",
      nodeIdSource: "uuid",
    },
  );
  assert.deepEqual(
    deriveNodeId({ ...base, uuid: "03000200-0400-0500-0006-000700080009", serial: "CZJ 123/4" }),
    {
      nodeId: "CZJ-123-4",
      nodeIdSource: "serial",
    },
  );
  assert.deepEqual(
    deriveNodeId({ ...base, bootMac: "52:54:00:ab:cd:01", nicMacs: ["aa:aa:aa:aa:aa:aa"] }),
    {
      nodeId: "mac-525400abcd01",
      nodeIdSource: "bootMac",
    },
  );
  assert.deepEqual(deriveNodeId({ ...base, nicMacs: [null, "aa:aa:aa:aa:aa:01"] }), {
    nodeId: "mac-aaaaaaaaaa01",
    nodeIdSource: "nicMac",
  });
  assert.deepEqual(deriveNodeId({ ...base, hostname: "node 7" }), {
    nodeId: "node-7",
    nodeIdSource: "hostname",
  });
  assert.deepEqual(deriveNodeId(base), { nodeId: "unknown-node", nodeIdSource: "hostname" });
  assert.equal(toNodeIdToken("../../etc/passwd"), "etc-passwd");
  assert.equal(toNodeIdToken("..."), null);
});

test("the real runner refuses to start processes under the test runner", async () => {
  await assert.rejects(
    collectInventory({ runner: realRunner() }),
    (e: Error & { code?: string }) => e.code === "E_EXEC_REFUSED",
  );
});

const extra = join(fixtures, "this-machine-extra-tools");
const lsblkDisk = (name: string, serialNumber: string | null) => ({
  name,
  path: `/dev/${name}`,
  sizeBytes: 1024 ** 3,
  model: null,
  vendor: null,
  serialNumber,
  wwn: null,
  transport: null,
  rotational: false,
  removable: false,
  firmwareVersion: null,
  smartPassed: null,
  powerOnHours: null,
  temperatureCelsius: null,
});

test("SMART health joins disks by serial (NVMe namespaces), else by kernel name without contradiction", () => {
  const smart = ["smartctl-sda.json", "smartctl-sdb.json", "smartctl-nvme0.json"].map((f) =>
    parseSmartctl(readFileSync(join(extra, "qemu-ahci-nvme-virtio", f), "utf8")),
  );
  const merged = mergeDisks(
    [lsblkDisk("sda", "RECONA0001"), lsblkDisk("nvme0n1", "RECONN0001"), lsblkDisk("sdb", "OTHER")],
    emptyLshwFacts(),
    smart,
  );
  assert.deepEqual(
    merged.map((d) => [d.name, d.smartPassed, d.powerOnHours, d.temperatureCelsius, d.model]),
    [
      ["sda", true, 1, 31, "RECON LAB SSD"],
      ["nvme0n1", true, 0, 50, "QEMU NVMe Ctrl"],
      ["sdb", null, null, null, null], // same kernel name, different serial: not the same disk
    ],
  );
});

test("LLDP neighbours and permanent MACs join NICs by interface name", () => {
  const lldp = parseLldpctl(readFileSync(join(extra, "lldpd-netns", "lldpctl.txt"), "utf8"));
  const nic = {
    name: "eno1",
    macAddress: "02:00:00:00:00:01",
    permanentMacAddress: null,
    driver: null,
    pciAddress: null,
    speedMbps: null,
    linkUp: true,
    mtu: 1500,
    ipv4: [],
    ipv6: [],
    lldp: null,
  };
  const [merged] = mergeNics([nic], emptyLshwFacts(), { eno1: "0c:c4:7a:00:00:01" }, lldp);
  assert.equal(merged?.permanentMacAddress, "0c:c4:7a:00:00:01");
  assert.equal(merged?.lldp?.systemName, "leaf-r12-1.dc1");
  assert.equal(merged?.lldp?.portId, "swp12");
});

test("collectors[] has an entry for every tool, even when none of them was captured", async () => {
  const empty = mkdtempSync(join(tmpdir(), "recon-empty-capture-"));
  try {
    const doc = await collectInventory({ runner: await replayRunner(empty), now });
    const names = new Set(doc.collectors.map((c) => c.name));
    for (const tool of [
      "cmdline",
      "hostname",
      "dmidecode",
      "lspci",
      "lsblk",
      "lshw",
      "lscpu",
      "meminfo",
      "ip-addr",
      "sysfs-net",
      "ipmitool-mc-info",
      "ipmitool-lan-print",
      "ipmitool-fru-print",
      "smartctl-scan",
      "lldpctl",
    ]) {
      assert.ok(names.has(tool), `${tool} missing from ${[...names].join(", ")}`);
    }
    assert.ok(
      doc.collectors.every((c) => c.status === "skipped"),
      "nothing was captured",
    );
    Inventory.parse(doc);
  } finally {
    rmSync(empty, { recursive: true, force: true });
  }
});
