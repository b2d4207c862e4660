// Node identity: the chain step by step, what is never an identity (placeholders, shared UUIDs,
// made-up MACs, virtual and USB NICs), the fingerprint's stability, and the random last resort.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { emptyBoot } from "../../agent/collect/cmdline.ts";
import {
  deriveNodeId,
  fingerprintFacts,
  fingerprintId,
  hasStableIdentity,
  type IdentityFacts,
  isIdentityMac,
  isIdentityNic,
  isIdentityUuid,
  toNodeIdToken,
} from "../../agent/collect/identity.ts";
import { collectInventory } from "../../agent/collect/index.ts";
import { replayRunner } from "../../agent/exec.ts";
import { summarize } from "../../agent/summary.ts";
import { Inventory, type Nic } from "../../schema/inventory.ts";
import { sampleInventory } from "../support/sample-inventory.ts";

const now = () => new Date("2026-11-25T12:00:00Z");
const UUID_V4 = /^anon-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** The sample server: every identity source present, each step's value distinct. */
function server(): IdentityFacts {
  const doc = sampleInventory();
  doc.boot = { ...doc.boot, bootMac: "b4:96:91:3c:5e:11" };
  doc.nics = doc.nics.map((n, i) => ({
    ...n,
    // Bonded: both ports show the bond's MAC; the permanent ones differ.
    macAddress: "b4:96:91:3c:5e:20",
    permanentMacAddress: i === 0 ? "b4:96:91:3c:5e:31" : "b4:96:91:3c:5e:30",
  }));
  doc.chassis = { ...doc.chassis, serialNumber: "CH-0001" };
  return doc;
}

function nic(name: string, macAddress: string | null, more: Partial<Nic> = {}): Nic {
  return {
    name,
    macAddress,
    permanentMacAddress: null,
    driver: null,
    pciAddress: null,
    speedMbps: null,
    linkUp: null,
    mtu: 1500,
    ipv4: [],
    ipv6: [],
    lldp: null,
    firmwareVersion: null,
    numaNode: null,
    bmcUsb: false,
    ...more,
  };
}

/** No identity facts at all: what a replay of an empty directory assembles. */
function nothing(): IdentityFacts {
  const nulls = <K extends string>(...keys: K[]) =>
    Object.fromEntries(keys.map((k) => [k, null])) as Record<K, null>;
  return {
    boot: emptyBoot,
    system: nulls(
      "manufacturer",
      "productName",
      "version",
      "serialNumber",
      "uuid",
      "sku",
      "family",
    ),
    baseboard: nulls("manufacturer", "productName", "version", "serialNumber", "assetTag"),
    chassis: nulls("manufacturer", "type", "serialNumber", "assetTag"),
    bios: nulls("vendor", "version", "releaseDate", "releaseDateIso"),
    cpu: nulls(
      "architecture",
      "model",
      "sockets",
      "coresPerSocket",
      "threadsPerCore",
      "logicalCpus",
    ),
    processors: [],
    memory: { ...nulls("totalBytes", "persistentBytes", "osVisibleBytes", "slots"), dimms: [] },
    powerSupplies: [],
    disks: [],
    nics: [],
    pciDevices: [],
    bmc: null,
    fru: [],
  };
}

test("the chain, one step at a time: each step is used exactly when the ones before it are gone", () => {
  const doc = server();
  const steps: Array<[string, string, (d: IdentityFacts) => void]> = [
    ["uuid", "4c4c4544-0047-3610-8044-b4c04f594d32", (d) => (d.system.uuid = null)],
    ["serial", "7G6P2Z2", (d) => (d.system.serialNumber = null)],
    ["baseboardSerial", "board-7G6P2Z2.CNIVC0097D00FU.", (d) => (d.baseboard.serialNumber = null)],
    ["chassisSerial", "chassis-CH-0001", (d) => (d.chassis.serialNumber = null)],
    ["bootMac", "mac-b496913c5e11", (d) => (d.boot.bootMac = null)],
    [
      "permanentMac",
      "mac-b496913c5e30", // the lowest of the two, whatever the NIC order
      (d) => (d.nics = d.nics.map((n) => ({ ...n, permanentMacAddress: null }))),
    ],
    ["nicMac", "mac-b496913c5e20", (d) => (d.nics = [])],
  ];
  for (const [source, id, drop] of steps) {
    assert.deepEqual(deriveNodeId(doc), { nodeId: id, nodeIdSource: source });
    drop(doc);
  }
  const fingerprint = deriveNodeId(doc);
  assert.equal(fingerprint.nodeIdSource, "fingerprint");
  assert.match(fingerprint.nodeId, /^fp-[0-9a-f]{32}$/);
  assert.deepEqual(
    deriveNodeId(nothing(), { randomUuid: () => "0c4f5b4e-0d0a-4e4e-9b1a-3c2d1e0f9a8b" }),
    { nodeId: "anon-0c4f5b4e-0d0a-4e4e-9b1a-3c2d1e0f9a8b", nodeIdSource: "random" },
  );
});

test("vendor-shared and filler UUIDs are skipped for the serial", () => {
  for (const uuid of [
    "03000200-0400-0500-0006-000700080009",
    "00020003-0004-0005-0006-000700080009",
    "12345678-1234-5678-90ab-cddeefaabbcc",
    "4c4c4544-0000-2010-8020-80c04f202020",
    "00000000-0000-0000-0000-000000000001",
    "11111111-1111-1111-1111-111111111111",
    "not-a-uuid",
  ]) {
    assert.equal(isIdentityUuid(uuid), false, uuid);
    const doc = server();
    doc.system.uuid = uuid;
    assert.equal(deriveNodeId(doc).nodeIdSource, "serial", uuid);
  }
  // Supermicro writes the board's MAC into an otherwise zero UUID: still one machine.
  assert.equal(isIdentityUuid("00000000-0000-0000-0000-0cc47a4b18c0"), true);
});

test("serials too short to name a unit are skipped; odd characters become dashes", () => {
  const doc = server();
  doc.system.uuid = null;
  doc.system.serialNumber = "42"; // NetBox's anonymised serial
  assert.equal(deriveNodeId(doc).nodeIdSource, "baseboardSerial");
  doc.system.serialNumber = "CZJ 123/4";
  assert.deepEqual(deriveNodeId(doc), { nodeId: "CZJ-123-4", nodeIdSource: "serial" });
  assert.equal(toNodeIdToken("../../etc/passwd"), "etc-passwd");
  assert.equal(toNodeIdToken("..."), null);
});

test("made-up MACs are not identities: locally administered, multicast, zero, InfiniBand", () => {
  for (const mac of [
    "52:54:00:12:34:56", // QEMU's default: every VM that does not set one
    "02:00:00:00:00:01",
    "fe:ff:ff:ff:ff:ff",
    "01:00:5e:00:00:01",
    "00:00:00:00:00:00",
    "ff:ff:ff:ff:ff:ff",
    "80:00:02:08:fe:80:00:00:00:00:00:00:00:02:c9:03:00:0a:8b:f1",
    null,
  ]) {
    assert.equal(isIdentityMac(mac), false, String(mac));
  }
  assert.equal(isIdentityMac("0c:c4:7a:4b:18:c0"), true);
  const doc = server();
  for (const key of ["uuid", "serialNumber"] as const) doc.system[key] = null;
  doc.baseboard.serialNumber = null;
  doc.chassis.serialNumber = null;
  doc.boot.bootMac = "52:54:00:12:34:56";
  assert.equal(deriveNodeId(doc).nodeIdSource, "permanentMac", "an LAA boot MAC is skipped");
});

test("virtual links and the BMC's USB NIC never give the id", () => {
  const virtual = [
    nic("bond0", "b4:96:91:00:00:01", { driver: "bonding" }),
    nic("br0", "b4:96:91:00:00:02"),
    nic("eno1.100", "b4:96:91:00:00:03"),
    nic("vlan7@eno1", "b4:96:91:00:00:04"),
    nic("veth12ab", "b4:96:91:00:00:05"),
    nic("docker0", "b4:96:91:00:00:06"),
    nic("usb0", "b4:96:91:00:00:07", { driver: "cdc_ether" }),
    nic("enp0s20f0u1u6", "b4:96:91:00:00:08", { driver: "cdc_ether" }),
    nic("enxb49691000009", "b4:96:91:00:00:09"),
    nic("weird0", "b4:96:91:00:00:0a", { driver: "rndis_host" }),
  ];
  for (const n of virtual) assert.equal(isIdentityNic(n), false, n.name);
  const doc = nothing();
  doc.nics = [...virtual, nic("eno1", "02:11:22:33:44:55"), nic("eno2", "b4:96:91:00:00:ff")];
  assert.deepEqual(deriveNodeId(doc), { nodeId: "mac-b496910000ff", nodeIdSource: "nicMac" });
  doc.nics = virtual;
  assert.equal(deriveNodeId(doc).nodeIdSource, "random", "nothing physical, nothing else");
});

test("the fingerprint ignores what changes between runs and follows the hardware", () => {
  const base = server();
  base.nics = [];
  base.boot.bootMac = null;
  for (const key of ["uuid", "serialNumber"] as const) base.system[key] = null;
  base.baseboard.serialNumber = null;
  base.chassis.serialNumber = null;
  const id = fingerprintId(base);
  assert.match(String(id), /^fp-[0-9a-f]{32}$/);

  const rerun = structuredClone(base);
  rerun.disks = rerun.disks.map((d) => ({ ...d, temperatureCelsius: 45, powerOnHours: 99_999 }));
  rerun.bios.version = "2.20.0";
  if (rerun.bmc) rerun.bmc.ipv4Address = "10.10.9.9";
  rerun.memory.osVisibleBytes = 1;
  rerun.cpu.logicalCpus = 32; // SMT switched off
  rerun.memory.dimms = [...rerun.memory.dimms].reverse();
  rerun.nics = [nic("eno1", "02:aa:bb:cc:dd:ee", { ipv4: ["192.0.2.7/24"] })];
  const [disk] = base.disks;
  assert.ok(disk);
  rerun.disks.push({ ...disk, name: "sdz", removable: true, serialNumber: "USBSTICK" });
  assert.equal(fingerprintId(rerun), id, "volatile facts, order and removable disks are ignored");

  const swapped = structuredClone(base);
  const [dimm] = swapped.memory.dimms;
  assert.ok(dimm);
  dimm.serialNumber = "FFEE0001";
  assert.notEqual(fingerprintId(swapped), id, "another DIMM is another fact");
  const otherModel = structuredClone(base);
  otherModel.system.productName = "PowerEdge R650";
  assert.notEqual(fingerprintId(otherModel), id);

  const text = fingerprintFacts(base).join("\n");
  for (const volatile of ["10.10.0.57", "10.20.0.57", "2.19.1", "12345", "06/27/2023"]) {
    assert.equal(text.includes(volatile), false, volatile);
  }
  assert.equal(fingerprintId(nothing()), null);
});

test("random ids never repeat, and hasStableIdentity tells them apart", () => {
  const a = deriveNodeId(nothing());
  const b = deriveNodeId(nothing());
  assert.match(a.nodeId, UUID_V4);
  assert.notEqual(a.nodeId, b.nodeId);
  assert.equal(hasStableIdentity(a), false);
  assert.equal(hasStableIdentity({ nodeIdSource: "hostname" }), false, "1.0 fallback");
  for (const source of ["uuid", "serial", "bootMac", "nicMac", "fingerprint"] as const) {
    assert.equal(hasStableIdentity({ nodeIdSource: source }), true, source);
  }
});

test("a replayed capture full of firmware placeholders gets its id from the burnt-in MAC", async () => {
  const dir = mkdtempSync(join(tmpdir(), "recon-h2-placeholders-"));
  try {
    const placeholderSection = (type: number, title: string, lines: string[]) =>
      [`Handle 0x000${type}, DMI type ${type}, 27 bytes`, title, ...lines.map((l) => `\t${l}`)]
        .concat("")
        .join("\n");
    writeFileSync(
      join(dir, "dmidecode.txt"),
      [
        "# dmidecode 3.4\nSMBIOS 3.2.0 present.\n",
        placeholderSection(1, "System Information", [
          "Manufacturer: To Be Filled By O.E.M.",
          "Product Name: Default string",
          "Serial Number: System Serial Number",
          "UUID: 03000200-0400-0500-0006-000700080009",
        ]),
        placeholderSection(2, "Base Board Information", [
          "Manufacturer: ASRockRack",
          "Product Name: X570D4U",
          "Serial Number: 0123456789",
        ]),
        placeholderSection(3, "Chassis Information", [
          "Manufacturer: To Be Filled By O.E.M.",
          "Type: Desktop",
          "Serial Number: 123456789",
        ]),
      ].join("\n"),
    );
    writeFileSync(join(dir, "cmdline.txt"), "BOOTIF=01-52-54-00-12-34-56 quiet\n");
    writeFileSync(
      join(dir, "ip-addr.json"),
      JSON.stringify([
        { ifname: "lo", flags: ["LOOPBACK"], link_type: "loopback", address: "00:00:00:00:00:00" },
        { ifname: "bond0", flags: ["UP"], link_type: "ether", address: "02:7e:11:00:00:01" },
        { ifname: "usb0", flags: ["UP"], link_type: "ether", address: "a8:1e:84:00:00:02" },
        { ifname: "enp3s0", flags: ["UP"], link_type: "ether", address: "a8:a1:59:3b:00:10" },
      ]),
    );
    const doc = await collectInventory({ runner: await replayRunner(dir), now });
    Inventory.parse(doc);
    assert.equal(doc.system.serialNumber, null);
    assert.equal(doc.baseboard.serialNumber, null);
    assert.equal(doc.chassis.serialNumber, null);
    assert.equal(doc.system.manufacturer, null);
    assert.equal(doc.boot.bootMac, "52:54:00:12:34:56");
    assert.deepEqual(
      { nodeId: doc.nodeId, nodeIdSource: doc.nodeIdSource },
      { nodeId: "mac-a8a1593b0010", nodeIdSource: "nicMac" },
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the summary says when an id is only a fingerprint or random", () => {
  const random = summarize(sampleInventory({ nodeId: "anon-x", nodeIdSource: "random" }));
  assert.match(
    random,
    /^node {7}anon-x \(from random: nothing stable found; a new id on every run\)$/m,
  );
  const fp = summarize(sampleInventory({ nodeId: "fp-0", nodeIdSource: "fingerprint" }));
  assert.match(fp, /\(from fingerprint: no UUID, serial or burnt-in MAC/);
  assert.match(summarize(sampleInventory()), /^node {7}\S+ \(from uuid\)$/m);
});
