// twin-diff.ts: two peers' documents with the same hardware compare equal once identities, times
// and the firmware's own facts are set aside, and any other difference is named by its path.
import assert from "node:assert/strict";
import { test } from "node:test";
import { defaultPeers, withSecureBootTwin } from "./peer.ts";
import { twinDifferences } from "./twin-diff.ts";

const [bios, sb] = (() => {
  const specs = withSecureBootTwin(defaultPeers(1, "41ab"), "41ab", "ovmf-secureboot");
  return [specs[0], specs[1]] as const;
})();

/** A document shaped like the agent's (fields the lab's peers report), for `spec`. */
function documentOf(spec: NonNullable<typeof bios>, firmware: "bios" | "uefi") {
  return {
    schemaVersion: "1.2",
    agent: { name: "recon-agent", version: "0.1.0" },
    collectedAt: firmware === "bios" ? "2026-12-02T04:36:00.000Z" : "2026-12-02T04:39:12.000Z",
    nodeId: spec.system.uuid,
    hostname: "recon",
    boot: {
      bootMac: spec.nics[0]?.mac,
      firmware,
      secureBoot: firmware === "uefi" ? true : null,
      params: { BOOTIF: `01-${spec.nics[0]?.mac.replace(/:/g, "-")}` },
    },
    system: {
      manufacturer: spec.system.manufacturer,
      productName: spec.system.product,
      serialNumber: spec.system.serial,
      uuid: spec.system.uuid.toLowerCase(),
    },
    bios: { vendor: firmware === "bios" ? "SeaBIOS" : "EDK II", version: "x" },
    memory: { totalBytes: spec.memoryMiB * 2 ** 20, osVisibleBytes: firmware === "bios" ? 1 : 2 },
    disks: spec.disks.map((d) => ({ serialNumber: d.serial, sizeBytes: d.sizeBytes })),
    nics: spec.nics.map((n) => ({ macAddress: n.mac, name: null })),
    bmc: {
      ipv4Address: spec.bmcLan?.ipv4Address ?? null,
      macAddress: spec.bmcLan?.macAddress ?? null,
    },
    fru: [
      { product: { serial: spec.system.serial }, chassis: { serial: `${spec.system.serial}P1` } },
    ],
    collectors: [
      { name: "dmidecode", status: "ok", durationMs: firmware === "bios" ? 10 : 40 },
      { name: "lspci", status: "ok", durationMs: 5 },
    ].sort(() => (firmware === "bios" ? 1 : -1)),
    warnings: [],
  };
}

test("twin: same hardware, different identities and firmware: no differences", () => {
  assert.ok(bios && sb);
  assert.equal(sb.firmware, "ovmf-secureboot");
  assert.equal(sb.nics[0]?.model, "virtio-net-pci");
  assert.equal(bios.nics[0]?.model, "virtio-net-pci");
  assert.notEqual(sb.system.serial, bios.system.serial);
  const diff = twinDifferences(
    { spec: bios, document: documentOf(bios, "bios"), leasedIps: ["10.13.38.118"] },
    { spec: sb, document: documentOf(sb, "uefi"), leasedIps: ["10.13.39.7"] },
  );
  assert.deepEqual(diff, []);
});

test("twin: a fact the locked-down kernel did not collect is a named difference", () => {
  assert.ok(bios && sb);
  const locked = documentOf(sb, "uefi");
  locked.collectors = locked.collectors.map((c) =>
    c.name === "dmidecode" ? { ...c, status: "failed" } : c,
  );
  locked.memory.totalBytes = 0;
  const disk = locked.disks[1];
  if (disk) disk.serialNumber = "OTHER";
  assert.deepEqual(
    twinDifferences(
      { spec: bios, document: documentOf(bios, "bios") },
      { spec: sb, document: locked },
    ),
    [
      'collectors[0].status: peer1="ok" peer2="failed"',
      `disks[1].serialNumber: peer1="<disk 1 serial>" peer2="OTHER"`,
      `memory.totalBytes: peer1=${bios.memoryMiB * 2 ** 20} peer2=0`,
    ],
  );
});
