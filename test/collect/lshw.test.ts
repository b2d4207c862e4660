import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import fc from "fast-check";
import {
  collectLshw,
  emptyLshwFacts,
  LSHW_PROBE,
  type LshwFacts,
  parseLshw,
} from "../../agent/collect/lshw.ts";
import { replayRunner } from "../../agent/exec.ts";
import { LshwFactsSchema } from "../support/fact-schemas.ts";
import { fakeRunner } from "../support/fake-runner.ts";
import { assertSurvivesMutations } from "../support/properties.ts";

const FIXTURES = new URL("../../fixtures/", import.meta.url);
const read = (path: string) => readFileSync(new URL(path, FIXTURES), "utf8");

const THIS_MACHINE: LshwFacts = {
  system: { manufacturer: null, productName: null, serialNumber: null, uuid: null },
  // The virtio disk node has logical names ["/dev/vda", "/"] and no size.
  disks: [
    {
      name: "vda",
      serialNumber: null,
      model: null,
      vendor: null,
      sizeBytes: null,
      firmwareVersion: null,
    },
  ],
  nics: [
    {
      name: "eth0",
      macAddress: "02:fc:00:00:00:01",
      driver: "virtio_net",
      pciAddress: "0000:00:03.0", // from the PCI function above virtio@2
      speedMbps: null,
      capacityMbps: null,
      linkUp: true,
    },
  ],
  memoryBytes: 25769803776,
};

test("this machine (lshw B.02.19.2, one object)", () => {
  assert.deepEqual(parseLshw(read("this-machine-debian12/lshw.json")), THIS_MACHINE);
});

test("lshw B.02.20+ prints an array: same facts", () => {
  assert.deepEqual(parseLshw(`[\n${read("this-machine-debian12/lshw.json")}\n]\n`), THIS_MACHINE);
});

test("ESPRESSObin (ARM, device tree, DSA switch ports)", () => {
  assert.deepEqual(parseLshw(read("globalscale-espressobin-kerub/lshw.json")), {
    system: {
      manufacturer: null,
      productName: "Globalscale Marvell ESPRESSOBin Board",
      serialNumber: null,
      uuid: null,
    },
    disks: [],
    nics: [
      {
        name: "eth0",
        macAddress: "f0:ad:4e:03:64:7f",
        driver: "mvneta",
        pciAddress: null,
        speedMbps: 1000,
        capacityMbps: null,
        linkUp: true,
      },
      {
        name: "br0",
        macAddress: "a2:7a:46:64:45:cb",
        driver: "bridge",
        pciAddress: null,
        speedMbps: null,
        capacityMbps: null,
        linkUp: true,
      },
      {
        name: "wan",
        macAddress: "f0:ad:4e:03:64:7f",
        driver: "dsa",
        pciAddress: null,
        speedMbps: null,
        capacityMbps: 1000,
        linkUp: false,
      },
      {
        name: "lan1",
        macAddress: "f0:ad:4e:03:64:7f",
        driver: "dsa",
        pciAddress: null,
        speedMbps: 1000,
        capacityMbps: 1000,
        linkUp: true,
      },
      {
        name: "lan0",
        macAddress: "f0:ad:4e:03:64:7f",
        driver: "dsa",
        pciAddress: null,
        speedMbps: null,
        capacityMbps: 1000,
        linkUp: false,
      },
    ],
    memoryBytes: 1038229504,
  });
});

test("Lenovo Z70-80 (SKU stripped from product, two SATA disks, link-down NIC)", () => {
  assert.deepEqual(parseLshw(read("lenovo-z70-80-kerub/lshw.json")), {
    system: {
      manufacturer: "LENOVO",
      productName: "80FG", // "80FG (LENOVO_MT_80FG_BU_idea_FM_Lenovo Z70-80)" minus the SKU
      serialNumber: "PF0ANZ1X",
      uuid: "ddabdd74-680a-e511-a961-68f728e229e5",
    },
    disks: [
      {
        name: "sda",
        serialNumber: "WD-WXN1E9485PZA",
        model: "WDC WD10JPCX-24U",
        vendor: "Western Digital",
        sizeBytes: 1000204886016,
        firmwareVersion: "1A01",
      },
      {
        name: "sdb",
        serialNumber: "JTOUT18120500634",
        model: "Intenso SSD Sata",
        vendor: null,
        sizeBytes: 256060514304,
        firmwareVersion: "7B0",
      },
    ],
    nics: [
      {
        name: "enp2s0",
        macAddress: "68:f7:28:e2:29:e5",
        driver: "r8169",
        pciAddress: "0000:02:00.0",
        speedMbps: null, // lshw says size 10 Mbit/s with "link": "no": meaningless
        capacityMbps: 1000,
        linkUp: false,
      },
      {
        name: "wlp3s0",
        macAddress: "e4:f8:9c:0e:f3:df",
        driver: "iwlwifi",
        pciAddress: "0000:03:00.0",
        speedMbps: null,
        capacityMbps: null,
        linkUp: true,
      },
      {
        name: "virbr0",
        macAddress: "52:54:00:c3:c9:d8",
        driver: "bridge",
        pciAddress: null,
        speedMbps: null,
        capacityMbps: null,
        linkUp: false,
      },
      {
        name: "virbr0-nic",
        macAddress: "52:54:00:c3:c9:d8",
        driver: "tun",
        pciAddress: null,
        speedMbps: null,
        capacityMbps: null,
        linkUp: false,
      },
    ],
    memoryBytes: 17179869184,
  });
});

test("QEMU i440FX VM (virtio NIC under its PCI function, bond, DVD left out)", () => {
  assert.deepEqual(parseLshw(read("qemu-i440fx-vm-bond-kerub/lshw.json")), {
    system: {
      manufacturer: "QEMU",
      productName: "Standard PC (i440FX + PIIX, 1996)",
      serialNumber: null,
      uuid: "43a64082-cbb1-e04c-ac7f-01c951b5bb3e",
    },
    disks: [
      {
        name: "vda",
        serialNumber: null,
        model: null,
        vendor: null,
        sizeBytes: 5368709120,
        firmwareVersion: null,
      },
    ],
    nics: [
      {
        name: "ens3",
        macAddress: "5e:8e:d0:d2:e3:29",
        driver: "virtio_net",
        pciAddress: "0000:00:03.0",
        speedMbps: null,
        capacityMbps: null,
        linkUp: true,
      },
      {
        name: "ens8",
        macAddress: "5e:8e:d0:d2:e3:29",
        driver: "8139cp",
        pciAddress: "0000:00:08.0",
        speedMbps: 100,
        capacityMbps: 100,
        linkUp: true,
      },
      {
        name: "ens9",
        macAddress: "5e:8e:d0:d2:e3:29",
        driver: "8139cp",
        pciAddress: "0000:00:09.0",
        speedMbps: 100,
        capacityMbps: 100,
        linkUp: true,
      },
      {
        name: "bond0",
        macAddress: "5e:8e:d0:d2:e3:29",
        driver: "bonding",
        pciAddress: null,
        speedMbps: null,
        capacityMbps: null,
        linkUp: true,
      },
    ],
    memoryBytes: 1073741824,
  });
});

// Synthetic, shaped like lshw B.02.19+ on a server: NVMe namespaces below their controller
// (the namespace node has only a size; "ng0n1" is the NVMe char device), memory size only on
// the banks, two system-memory arrays.
const SERVER = JSON.stringify([
  {
    id: "srv",
    class: "system",
    vendor: "Dell Inc.",
    product: "PowerEdge R650 (SKU=0A6B;ModelName=PowerEdge R650)",
    serial: "  7XYZ123 ",
    configuration: {
      uuid: "4C4C4544-0058-5910-8033-B7C04F313233",
      sku: "SKU=0A6B;ModelName=PowerEdge R650",
    },
    children: [
      {
        id: "core",
        class: "bus",
        children: [
          {
            id: "memory:0",
            class: "memory",
            description: "System Memory",
            children: [
              { id: "bank:0", class: "memory", units: "bytes", size: 34359738368 },
              { id: "bank:1", class: "memory", description: "[empty]" },
            ],
          },
          {
            id: "memory:1",
            class: "memory",
            description: "System Memory",
            units: "bytes",
            size: 34359738368,
          },
          { id: "cache:0", class: "memory", description: "L1 cache", units: "bytes", size: 81920 },
          {
            id: "nvme0",
            class: "storage",
            description: "NVMe device",
            product: "Dell Ent NVMe AGN MU U.2 1.6TB",
            vendor: "Samsung Electronics Co Ltd",
            businfo: "pci@0000:c3:00.0",
            logicalname: "/dev/nvme0",
            version: "2.0.0",
            serial: "S61CNA0R300123",
            children: [
              {
                id: "namespace:0",
                class: "disk",
                description: "NVMe disk",
                logicalname: ["/dev/ng0n1", "/dev/nvme0n1"],
                units: "bytes",
                size: 1600321314816,
              },
            ],
          },
          {
            id: "cdrom",
            class: "disk",
            logicalname: ["/dev/cdrom", "/dev/sr0"],
            capabilities: { removable: "support is removable", audio: "Audio CD playback" },
          },
          {
            id: "network",
            class: "network",
            businfo: "pci@0000:31:00.0",
            logicalname: "eno12399np0",
            serial: "B4:96:91:AA:BB:CC",
            units: "bit/s",
            size: 25000000000,
            capacity: 25000000000,
            configuration: { driver: "ice", link: "yes" },
          },
          { id: "network:1", class: "network", serial: "b4:96:91:aa:bb:cd" },
        ],
      },
    ],
  },
]);

test("synthetic server: NVMe identity from the controller, memory from banks, SKU stripped", () => {
  assert.deepEqual(parseLshw(SERVER), {
    system: {
      manufacturer: "Dell Inc.",
      productName: "PowerEdge R650",
      serialNumber: "7XYZ123",
      uuid: "4c4c4544-0058-5910-8033-b7c04f313233",
    },
    disks: [
      {
        name: "nvme0n1",
        serialNumber: "S61CNA0R300123",
        model: "Dell Ent NVMe AGN MU U.2 1.6TB",
        vendor: "Samsung Electronics Co Ltd",
        sizeBytes: 1600321314816,
        firmwareVersion: "2.0.0",
      },
    ],
    nics: [
      {
        name: "eno12399np0",
        macAddress: "b4:96:91:aa:bb:cc",
        driver: "ice",
        pciAddress: "0000:31:00.0",
        speedMbps: 25000,
        capacityMbps: 25000,
        linkUp: true,
      },
    ],
    memoryBytes: 68719476736,
  });
});

test("several top-level objects one after another are read too; junk gives empty facts", () => {
  const one = read("globalscale-espressobin-kerub/lshw.json");
  const facts = parseLshw(`${one}\n${read("this-machine-debian12/lshw.json")}`);
  assert.equal(facts.system.productName, "Globalscale Marvell ESPRESSOBin Board");
  // Both have an "eth0": the first one wins.
  assert.deepEqual(
    facts.nics.map((n) => [n.name, n.driver]),
    [
      ["eth0", "mvneta"],
      ["br0", "bridge"],
      ["wan", "dsa"],
      ["lan1", "dsa"],
      ["lan0", "dsa"],
    ],
  );
  assert.deepEqual(
    facts.disks.map((d) => d.name),
    ["vda"],
  );
  assert.equal(facts.memoryBytes, 1038229504 + 25769803776);
  for (const junk of [
    "",
    "null",
    "[]",
    "{",
    "42",
    '"x"',
    "[1,2]",
    read("lattepanda-mu-mudata/lshw.txt"),
  ]) {
    assert.deepEqual(parseLshw(junk), emptyLshwFacts());
  }
});

// --- properties -------------------------------------------------------------------------------

const REAL = [
  read("this-machine-debian12/lshw.json"),
  read("globalscale-espressobin-kerub/lshw.json"),
  read("lenovo-z70-80-kerub/lshw.json"),
  read("qemu-i440fx-vm-bond-kerub/lshw.json"),
  SERVER,
];

const anyValue = fc.oneof(
  fc.string(),
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.constantFrom(
    "yes",
    "no",
    "bit/s",
    "bytes",
    "/dev/sda",
    "pci@0000:00:03.0",
    "virtio@1",
    "System Memory",
  ),
  fc.jsonValue({ maxDepth: 2 }),
);
const { node } = fc.letrec((tie) => ({
  node: fc.record(
    {
      id: anyValue,
      class: fc.oneof(
        fc.constantFrom("system", "memory", "disk", "network", "storage", "bus"),
        anyValue,
      ),
      description: anyValue,
      product: anyValue,
      vendor: anyValue,
      serial: anyValue,
      version: anyValue,
      businfo: anyValue,
      logicalname: fc.oneof(anyValue, fc.array(anyValue, { maxLength: 3 })),
      units: anyValue,
      size: anyValue,
      capacity: anyValue,
      capabilities: anyValue,
      configuration: fc.oneof(
        anyValue,
        fc.record(
          { driver: anyValue, link: anyValue, uuid: anyValue, sku: anyValue },
          { requiredKeys: [] },
        ),
      ),
      children: fc.oneof(
        { depthSize: "small", withCrossShrink: true },
        anyValue,
        fc.array(tie("node"), { maxLength: 3 }),
      ),
    },
    { requiredKeys: [] },
  ),
}));

test("property: random lshw-like trees and random JSON give schema-valid facts", () => {
  fc.assert(
    fc.property(
      fc.oneof(
        fc.string(),
        fc.jsonValue().map((v) => JSON.stringify(v)),
        node.map((n) => JSON.stringify(n)),
        fc.array(node, { maxLength: 3 }).map((n) => JSON.stringify(n)),
      ),
      (text) => {
        const facts = LshwFactsSchema.parse(parseLshw(text));
        assert.equal(new Set(facts.disks.map((d) => d.name)).size, facts.disks.length);
        assert.equal(new Set(facts.nics.map((n) => n.name)).size, facts.nics.length);
      },
    ),
    { numRuns: 400 },
  );
});

test("property: truncated and mutated real captures stay schema-valid", () => {
  assertSurvivesMutations(REAL, (text) => LshwFactsSchema.parse(parseLshw(text)), 200);
});

test("a pathologically deep tree does not overflow the stack", () => {
  const leaf = '{"class":"network","logicalname":"eth9","serial":"02:00:00:00:00:09"}';
  const depth = 100_000;
  const facts = parseLshw(
    `${'{"class":"bus","children":['.repeat(depth)}${leaf}${"]}".repeat(depth)}`,
  );
  assert.equal(facts.nics[0]?.name, "eth9");
});

// --- collector --------------------------------------------------------------------------------

test("probe: lshw -json -quiet, root only, minutes of budget", () => {
  assert.deepEqual(LSHW_PROBE, {
    file: "lshw.json",
    source: { kind: "command", argv: ["lshw", "-json", "-quiet"], versionArgv: ["-version"] },
    timeoutMs: 180_000,
    needsRoot: true,
  });
});

test("collectLshw: ok and skipped (not root)", async () => {
  const { runner, probes } = fakeRunner({ output: read("this-machine-debian12/lshw.json") });
  const ok = await collectLshw(runner);
  assert.equal(probes[0], LSHW_PROBE);
  assert.deepEqual(ok.value, THIS_MACHINE);
  assert.deepEqual(ok.reports, [
    {
      name: "lshw",
      status: "ok",
      durationMs: 3,
      command: "lshw -json -quiet",
      exitCode: 0,
      message: null,
    },
  ]);
  const skipped = await collectLshw(
    fakeRunner({ status: "skipped", exitCode: null, message: "requires root" }).runner,
  );
  assert.deepEqual(skipped.value, emptyLshwFacts());
  assert.equal(skipped.reports[0]?.message, "requires root");
});

test("replay of the fixture directory", async () => {
  const out = await collectLshw(
    await replayRunner(new URL("lenovo-z70-80-kerub/", FIXTURES).pathname),
  );
  assert.equal(out.value.system.serialNumber, "PF0ANZ1X");
  assert.equal(out.reports[0]?.command, "replay lshw.json");
});
