// Ironic export, the pure mapping: every fixture machine maps to inspection data with exactly
// the keys ironic-python-agent's hardware inventory documents, units as IPA's, the extra facts
// in the extra-hardware collector's [category, item, key, value] form with no key given twice,
// LLDP rebuilt as TLVs the inspector's lldp_basic hook can parse, and IPA's root disk choice.
// The real inspector and Ironic are in ironic-server.test.ts.
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { exportCommand } from "../../agent/export/command.ts";
import {
  inspectorBase,
  lldpTlvs,
  rootDisk,
  sendIronic,
  toIronic,
} from "../../agent/export/ironic.ts";
import type { NodeResult } from "../../agent/export/summary.ts";
import { Inventory, PciDevice } from "../../schema/inventory.ts";
import { replay, replayAll, withNics } from "./fixtures.ts";

// IPA's field lists (how_it_works.rst, "Hardware Inventory"; hardware.py's serializable fields).
const INVENTORY_KEYS = [
  "bmc_address",
  "bmc_mac",
  "bmc_v6address",
  "boot",
  "cpu",
  "disks",
  "hostname",
  "interfaces",
  "memory",
  "system_vendor",
];
const INTERFACE_KEYS = [
  "biosdevname",
  "client_id",
  "has_carrier",
  "ipv4_address",
  "ipv6_address",
  "lldp",
  "mac_address",
  "name",
  "product",
  "speed_mbps",
  "vendor",
];
const DISK_KEYS = [
  "by_path",
  "hctl",
  "model",
  "name",
  "rotational",
  "serial",
  "size",
  "vendor",
  "wwn",
  "wwn_vendor_extension",
  "wwn_with_extension",
];
const CPU_KEYS = ["count", "flags", "frequency", "model_name", "socket_count"];
const PLACEHOLDER = /^(to be filled by o\.e\.m\.|not specified|default string|unknown|none|n\/a)$/i;

const sorted = (o: object) => Object.keys(o).sort();

/** Every string value anywhere in a JSON value. */
function strings(value: unknown): string[] {
  if (typeof value === "string") return [value];
  if (Array.isArray(value)) return value.flatMap(strings);
  if (value !== null && typeof value === "object") return Object.values(value).flatMap(strings);
  return [];
}

test("every fixture maps to IPA's inventory keys, IPA's units, no placeholder", async () => {
  const docs = await replayAll();
  assert.ok(docs.size >= 40);
  for (const [machine, doc] of [
    ...docs,
    ["with-nics", await withNics("ipmi-sim-openipmi")] as const,
  ]) {
    const data = toIronic(doc);
    // What goes over the wire is JSON: nothing may be lost in the round trip.
    assert.deepEqual(JSON.parse(JSON.stringify(data)), data, machine);
    const inv = data.inventory;
    assert.deepEqual(sorted(inv), INVENTORY_KEYS, machine);
    assert.deepEqual(
      sorted(inv.cpu).filter((k) => k !== "architecture"),
      CPU_KEYS,
      machine,
    );
    assert.deepEqual(sorted(inv.memory), ["physical_mb", "total"], machine);
    assert.deepEqual(sorted(inv.system_vendor), [
      "firmware",
      "manufacturer",
      "product_name",
      "serial_number",
    ]);
    assert.deepEqual(sorted(inv.system_vendor.firmware), ["build_date", "vendor", "version"]);
    assert.deepEqual(sorted(inv.boot), ["current_boot_mode", "pxe_interface"]);
    for (const i of inv.interfaces) assert.deepEqual(sorted(i), INTERFACE_KEYS, machine);
    for (const d of inv.disks) {
      assert.deepEqual(sorted(d), DISK_KEYS, machine);
      assert.match(d.name, /^\/dev\//, "IPA names disks by device path");
    }
    assert.equal(inv.disks.length, doc.disks.filter((d) => d.reachedThrough === null).length);
    assert.equal(
      inv.interfaces.length,
      doc.nics.filter((n) => n.macAddress ?? n.permanentMacAddress).length,
    );
    // physical_mb is installed DRAM in MiB; total is what the OS sees, in bytes.
    assert.equal(
      inv.memory.physical_mb,
      doc.memory.totalBytes === null ? null : Math.round(doc.memory.totalBytes / 2 ** 20),
      machine,
    );
    assert.equal(inv.memory.total, doc.memory.osVisibleBytes);
    assert.equal(inv.boot.current_boot_mode, doc.boot.firmware);
    assert.equal("numa_topology" in data, doc.numaNodes.length > 0, machine);
    // Unknown architecture is left out: the inspector would store str(None) as cpu_arch.
    assert.equal("architecture" in inv.cpu, doc.cpu.architecture !== null, machine);
    if (doc.cpu.architecture !== null) assert.equal(inv.cpu.architecture, doc.cpu.architecture);
    if (doc.cpu.logicalCpus !== null) assert.equal(inv.cpu.count, doc.cpu.logicalCpus);
    assert.equal(inv.system_vendor.serial_number, doc.system.serialNumber, machine);
    assert.equal(inv.system_vendor.firmware.version, doc.bios.version, machine);
    for (const s of strings(data)) assert.doesNotMatch(s, PLACEHOLDER, `${machine}: ${s}`);
    // Extra facts: [category, item, key, value]; a (category, item, key) given twice would be
    // overwritten silently when the extra_hardware hook nests them.
    const seen = new Set<string>();
    for (const fact of data.data) {
      assert.equal(fact.length, 4, machine);
      assert.ok(fact.slice(0, 3).every((p) => typeof p === "string" && p !== ""));
      assert.ok(typeof fact[3] === "string" || Number.isFinite(fact[3]), `${machine}: ${fact}`);
      const key = fact.slice(0, 3).join("\u0000");
      assert.ok(!seen.has(key), `${machine}: ${fact.slice(0, 3).join("/")} twice`);
      seen.add(key);
    }
    assert.ok(
      data.data.some((f) => f[0] === "recon" && f[2] === "id" && f[3] === doc.nodeId),
      "the nodeId travels in the extra facts",
    );
    const banks = data.data.filter(
      (f) => f[0] === "memory" && f[1].startsWith("bank:") && f[2] === "size",
    );
    assert.deepEqual(
      banks.map((f) => f[3]),
      doc.memory.dimms.flatMap((m) => (m.sizeBytes === null ? [] : [m.sizeBytes])),
      `${machine}: each DIMM's size`,
    );
    const psus = new Set(data.data.filter((f) => f[0] === "psu").map((f) => f[1]));
    assert.ok(psus.size <= doc.powerSupplies.length);
  }
});

test("a fixture with DIMMs, PSUs and a BMC: their facts are in data, not in inventory", async () => {
  const docs = await replayAll();
  const doc = [...docs.values()].find(
    (d) => d.memory.dimms.some((m) => m.serialNumber) && d.powerSupplies.length > 0,
  );
  assert.ok(doc, "a fixture with DIMM serials and PSUs");
  const data = toIronic(doc);
  const dimm = doc.memory.dimms.findIndex((m) => m.serialNumber);
  assert.ok(
    data.data.some(
      (f) =>
        f[0] === "memory" &&
        f[1] === `bank:${dimm}` &&
        f[2] === "serial" &&
        f[3] === doc.memory.dimms[dimm]?.serialNumber,
    ),
  );
  assert.ok(data.data.some((f) => f[0] === "psu" && f[2] === "name"));
  const bmcDoc = await replay("ipmi-sim-openipmi");
  assert.ok(bmcDoc.bmc?.macAddress);
  const bmc = toIronic(bmcDoc);
  assert.equal(bmc.inventory.bmc_address, bmcDoc.bmc.ipv4Address);
  assert.equal(bmc.inventory.bmc_mac, bmcDoc.bmc.macAddress);
  assert.ok(
    bmc.data.some(
      (f) => f[0] === "ipmi" && f[2] === "ip-address" && f[3] === bmcDoc.bmc?.ipv4Address,
    ),
  );
  assert.ok(bmc.data.some((f) => f[0] === "ipmi" && f[2] === "firmware-revision"));
  assert.ok(
    bmc.data.some((f) => f[0] === "fru"),
    "FRU records as extra facts",
  );
});

test("interfaces: addresses without prefix, PCI ids, boot interface in pxelinux form, LLDP as TLVs", async () => {
  const doc = await withNics("ipmi-sim-openipmi");
  doc.boot.bootMac = "3c:ec:ef:10:20:31";
  doc.nics[0]?.ipv6.unshift("2001:db8::50/64");
  doc.pciDevices.push(
    PciDevice.parse({
      address: "0000:3b:00.0",
      classId: "0200",
      className: "Ethernet controller",
      vendorId: "8086",
      vendorName: "Intel Corporation",
      deviceId: "10fb",
      deviceName: "82599ES",
      subsystemVendorId: null,
      subsystemId: null,
      revision: "01",
      driver: "ixgbe",
    }),
  );
  const data = toIronic(Inventory.parse(doc));
  const [eno1, eno2] = data.inventory.interfaces;
  assert.equal(eno1?.mac_address, "3c:ec:ef:10:20:30");
  assert.equal(eno1?.ipv4_address, "10.13.37.50");
  assert.equal(eno1?.ipv6_address, "2001:db8::50", "a global address before link-local");
  assert.equal(eno1?.vendor, "0x8086");
  assert.equal(eno1?.product, "0x10fb");
  assert.equal(eno1?.speed_mbps, 10000);
  assert.equal(eno1?.has_carrier, true);
  assert.equal(eno2?.ipv4_address, null);
  assert.equal(eno2?.has_carrier, false);
  assert.equal(eno2?.lldp, null);
  assert.equal(data.boot_interface, "01-3c-ec-ef-10-20-31");
  assert.equal(data.inventory.boot.pxe_interface, data.boot_interface);
  assert.deepEqual(data.pci_devices.at(-1), { vendor_id: "8086", product_id: "10fb" });
  assert.deepEqual(data.lldp_raw, { eno1: eno1?.lldp });
  // Decoded as the inspector's LLDP parser reads them.
  const tlvs = new Map((eno1?.lldp ?? []).map(([t, v]) => [t, Buffer.from(v, "hex")]));
  assert.equal(tlvs.get(1)?.[0], 4, "chassis ID subtype: MAC address");
  assert.equal(tlvs.get(1)?.subarray(1).toString("hex"), "001c73aabbcc");
  assert.equal(tlvs.get(2)?.[0], 7, "port ID subtype: locally assigned");
  assert.equal(tlvs.get(2)?.subarray(1).toString(), "Ethernet12");
  assert.equal(tlvs.get(5)?.toString(), "leaf-1, rack 4");
  assert.equal(tlvs.get(127)?.toString("hex"), "0080c2010014", "802.1 port VLAN ID 20");
  assert.deepEqual(lldpTlvs(null), []);
  const long = lldpTlvs({
    chassisId: "x".repeat(300),
    systemName: null,
    portId: null,
    portDescription: null,
    vlanId: null,
  });
  assert.deepEqual(long, [], "a value too long for its TLV is left out, not cut");
});

test("root disk: IPA's choice, the smallest non-removable disk of at least 4 GiB", async () => {
  const doc = await replay("unknown-laptop-nvme-lsblk-drivelist");
  const base = doc.disks[0];
  assert.ok(base);
  const disk = (name: string, size: number | null, removable: boolean | null) => ({
    ...base,
    name,
    path: `/dev/${name}`,
    sizeBytes: size,
    removable,
  });
  doc.disks = [
    disk("sda", 960e9, false),
    disk("sdb", 3 * 2 ** 30, false),
    disk("sdc", 240e9, true),
    disk("nvme0n1", 480e9, null),
    disk("sdd", null, false),
  ];
  assert.equal(rootDisk(doc)?.name, "nvme0n1");
  assert.equal(toIronic(doc).root_disk?.name, "/dev/nvme0n1");
  assert.equal(toIronic(doc).root_disk?.size, 480e9);
  doc.disks = [disk("sdb", 3 * 2 ** 30, false)];
  assert.equal(
    toIronic(doc).root_disk,
    null,
    "too small for IPA: a diskless node to the inspector",
  );
});

test("the sender: an unreachable inspector fails the node with the reason", async () => {
  assert.equal(inspectorBase("http://h:5050/v1/continue"), "http://h:5050");
  assert.equal(inspectorBase("http://h:5050/"), "http://h:5050");
  const data = toIronic(await withNics("ipmi-sim-openipmi"));
  const refused = await sendIronic(data, { url: "http://127.0.0.1:9", token: null, fetch });
  assert.equal(refused.outcome, "failed");
  assert.match(refused.detail, /^cannot reach http:\/\/127\.0\.0\.1:9\/v1\/continue: /);
});

test("the command: --out writes <nodeId>.json, --dry-run plans, a document without a MAC is not sent", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "recon-ironic-cmd-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const withMac = await withNics("dell-poweredge-r740-linuxhw");
  const bare = await replay("huawei-1288h-v5-linuxhw");
  await writeFile(join(dir, "a.json"), JSON.stringify(withMac));
  await writeFile(join(dir, "b.json"), JSON.stringify(bare));
  const run = async (args: string[]) => {
    let stdout = "";
    const error = await exportCommand(["ironic", "--from", dir, "--json", "--quiet", ...args], {
      stdout: (text) => {
        stdout += text;
      },
      stderr: () => undefined,
    }).then(
      () => null,
      (e: unknown) => e,
    );
    return { results: (JSON.parse(stdout) as { results: NodeResult[] }).results, error };
  };
  const plan = await run(["--dry-run"]);
  assert.deepEqual(
    plan.results.map((r) => r.outcome),
    ["planned", "failed"],
  );
  assert.match(
    plan.results[0]?.detail ?? "",
    /^would send 2 interfaces \(3c:ec:ef:10:20:30 3c:ec:ef:10:20:31\)/,
  );
  assert.match(plan.results[1]?.detail ?? "", /^no NIC with a MAC address/);
  const out = join(dir, "out");
  const written = await run(["--out", out]);
  assert.deepEqual(
    written.results.map((r) => r.outcome),
    ["written", "written"],
    "files are written for every node: only sending needs a MAC",
  );
  assert.equal(written.error, null);
  const file = JSON.parse(await readFile(join(out, `${withMac.nodeId}.json`), "utf8"));
  assert.deepEqual(file, JSON.parse(JSON.stringify(toIronic(withMac))));
});
