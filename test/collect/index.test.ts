// The assembled document: every fixture replays into a schema-valid document, identity rules,
// and cross-tool filling.
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import {
  deriveNodeId,
  fingerprintFacts,
  fingerprintId,
  hasStableIdentity,
  toNodeIdToken,
} from "../../agent/collect/identity.ts";
import { collectInventory, mergeDisks, mergeNics } from "../../agent/collect/index.ts";
import { parseLldpctl } from "../../agent/collect/lldpctl.ts";
import { emptyLshwFacts } from "../../agent/collect/lshw.ts";
import { parseSmartctl } from "../../agent/collect/smartctl.ts";
import { realRunner, replayRunner } from "../../agent/exec.ts";
import { Disk, Inventory, Nic, type NodeIdSource } from "../../schema/inventory.ts";

const fixtures = new URL("../../fixtures/", import.meta.url).pathname;
const machines = readdirSync(fixtures, { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .map((d) => d.name);
const now = () => new Date("2026-11-25T12:00:00Z");

test("every fixture replays into a schema-valid document", async () => {
  assert.ok(machines.length >= 48, `${machines.length} fixture folders`);
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

/** Fixtures that are one machine captured twice (see their SOURCE.md): the same id is right. */
const SAME_MACHINE = [
  ["ipmi-sim-openipmi", "ipmi-sim-openipmi-sensors"],
  ["this-machine-util-linux-2.36.1", "this-machine-util-linux-2.41.5"],
];

/** The value nodeIdSource names, read back from the document: it must give the id. */
function sourceValues(doc: Inventory): string[] {
  const token = (v: string | null) => (v === null ? [] : [toNodeIdToken(v) ?? ""]);
  const macId = (m: string | null) => (m === null ? [] : [`mac-${m.replace(/:/g, "")}`]);
  const by: Record<NodeIdSource, () => string[]> = {
    uuid: () => (doc.system.uuid ? [doc.system.uuid] : []),
    serial: () => token(doc.system.serialNumber),
    baseboardSerial: () => token(doc.baseboard.serialNumber).map((t) => `board-${t}`),
    chassisSerial: () => token(doc.chassis.serialNumber).map((t) => `chassis-${t}`),
    bootMac: () => macId(doc.boot.bootMac),
    permanentMac: () => doc.nics.flatMap((n) => macId(n.permanentMacAddress)),
    nicMac: () => doc.nics.flatMap((n) => macId(n.macAddress)),
    fingerprint: () => (fingerprintFacts(doc).length > 0 ? [String(fingerprintId(doc))] : []),
    random: () => [doc.nodeId].filter((id) => /^anon-[0-9a-f-]{36}$/.test(id)),
    hostname: () => [],
  };
  return by[doc.nodeIdSource]();
}

test("every fixture gets an honest id of its own; none is unknown-node", async () => {
  const byId = new Map<string, string[]>();
  const sources = new Map<string, number>();
  for (const machine of machines) {
    const doc = await collectInventory({
      runner: await replayRunner(join(fixtures, machine)),
      now,
    });
    assert.notEqual(doc.nodeId, "unknown-node", machine);
    assert.notEqual(doc.nodeIdSource, "hostname", `${machine}: never written since 1.1`);
    assert.ok(
      sourceValues(doc).includes(doc.nodeId),
      `${machine}: ${doc.nodeId} is not what ${doc.nodeIdSource} holds`,
    );
    const again = deriveNodeId(doc);
    assert.equal(again.nodeIdSource, doc.nodeIdSource, `${machine}: an earlier step applies`);
    if (doc.nodeIdSource === "random") {
      assert.equal(hasStableIdentity(doc), false);
      assert.deepEqual(fingerprintFacts(doc), [], `${machine}: stable facts were there`);
    } else {
      assert.equal(again.nodeId, doc.nodeId, machine);
    }
    byId.set(doc.nodeId, [...(byId.get(doc.nodeId) ?? []), machine]);
    sources.set(doc.nodeIdSource, (sources.get(doc.nodeIdSource) ?? 0) + 1);
  }
  const shared = [...byId.values()].filter((names) => names.length > 1);
  assert.deepEqual(shared, SAME_MACHINE, "distinct machines, distinct ids");
  // The reader's example is identified: a replay of it is not refused.
  const r740 = await collectInventory({
    runner: await replayRunner(join(fixtures, "dell-poweredge-r740-linuxhw")),
    now,
  });
  assert.equal(r740.nodeIdSource, "fingerprint");
  assert.ok(hasStableIdentity(r740));
  console.log(
    `nodeIdSource over ${machines.length} fixtures: ${JSON.stringify(Object.fromEntries(sources))}`,
  );
});

test("an empty capture gets a random anon- id, a new one each time", async () => {
  const empty = mkdtempSync(join(tmpdir(), "recon-h2-empty-"));
  try {
    const first = await collectInventory({ runner: await replayRunner(empty), now });
    const second = await collectInventory({ runner: await replayRunner(empty), now });
    assert.equal(first.nodeIdSource, "random");
    assert.match(
      first.nodeId,
      /^anon-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    );
    assert.notEqual(first.nodeId, second.nodeId);
    assert.equal(hasStableIdentity(first), false);
    const pinned = await collectInventory({
      runner: await replayRunner(empty),
      now,
      randomUuid: () => "0c4f5b4e-0d0a-4e4e-9b1a-3c2d1e0f9a8b",
    });
    assert.equal(pinned.nodeId, "anon-0c4f5b4e-0d0a-4e4e-9b1a-3c2d1e0f9a8b");
  } finally {
    rmSync(empty, { recursive: true, force: true });
  }
});

test("the real runner refuses to start processes under the test runner", async () => {
  await assert.rejects(
    collectInventory({ runner: realRunner() }),
    (e: Error & { code?: string }) => e.code === "E_EXEC_REFUSED",
  );
});

const extra = join(fixtures, "this-machine-extra-tools");
const lsblkDisk = (name: string, serialNumber: string | null) =>
  Disk.parse({
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
  const nic = Nic.parse({
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
  });
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
