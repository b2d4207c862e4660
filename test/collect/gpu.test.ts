import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { z } from "zod";
import {
  buildGpus,
  hasNvidiaGpu,
  normalizeNvidiaBusId,
  nvidiaSmiCollector,
  parseNvidiaSmi,
  readNvidiaSmi,
} from "../../agent/collect/gpu.ts";
import { parseLspci } from "../../agent/collect/lspci.ts";
import { parseSysBusPci } from "../../agent/collect/pci-sysfs.ts";
import { replayRunner } from "../../agent/exec.ts";
import { Gpu } from "../../schema/inventory.ts";
import { assertHonestParser, assertSurvivesMutations } from "../support/properties.ts";

const HADOOP = new URL("../../samples/nvidia-smi-hadoop/nvidia-smi-q-x.xml", import.meta.url);
const hadoop = () => readFileSync(HADOOP, "utf8");
const MiB = 1024 * 1024;

const NvidiaGpu = Gpu.pick({
  pciAddress: true,
  model: true,
  uuid: true,
  serialNumber: true,
  vbiosVersion: true,
  memoryBytes: true,
});

test("nvidia-smi -q -x: the two Tesla P100 of Hadoop's sample, values as in the XML", () => {
  assert.deepEqual(parseNvidiaSmi(hadoop()), [
    {
      pciAddress: "0000:04:00.0",
      model: "Tesla P100-PCIE-12GB",
      uuid: "GPU-28604e81-21ec-cc48-6759-bf2648b22e16",
      serialNumber: "0320717030197",
      vbiosVersion: "86.00.3A.00.02",
      memoryBytes: 11567 * MiB, // fb_memory_usage, not bar1_memory_usage's 16384 MiB
    },
    {
      pciAddress: "0000:82:00.0",
      model: "Tesla P100-PCIE-12GB_2",
      uuid: "GPU-46915a82-3fd2-8e11-ae26-a80b607c04f3",
      serialNumber: "0320717031755",
      vbiosVersion: "86.00.3A.00.02",
      memoryBytes: 12290 * MiB,
    },
  ]);
  assert.equal(readNvidiaSmi(hadoop()).problem, null);
});

test("bus ids: 8-digit domains of newer drivers, uppercase hex; N/A and entities", () => {
  assert.equal(normalizeNvidiaBusId("00000000:4F:00.0"), "0000:4f:00.0");
  assert.equal(normalizeNvidiaBusId("0000:04:00.0"), "0000:04:00.0");
  assert.equal(normalizeNvidiaBusId("00000001:B9:00.0"), "0001:b9:00.0");
  assert.equal(normalizeNvidiaBusId("0:1:0"), null, "the 2011 driver's id form is not an address");
  const [gpu] = parseNvidiaSmi(
    '<nvidia_smi_log><gpu id="00000000:4F:00.0"><product_name>A &amp; B</product_name><serial>N/A</serial></gpu></nvidia_smi_log>',
  );
  assert.equal(gpu?.pciAddress, "0000:4f:00.0", "from the id attribute when <pci> is absent");
  assert.equal(gpu?.model, "A & B");
  assert.equal(gpu?.serialNumber, null);
  assert.equal(gpu?.memoryBytes, null);
});

test("readNvidiaSmi: other text, binary bytes and a cut-off document are problems", () => {
  assert.equal(readNvidiaSmi("").problem, null);
  assert.match(
    readNvidiaSmi("NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.")
      .problem ?? "",
    /nvidia_smi_log/,
  );
  const cut = readNvidiaSmi(hadoop().slice(0, 12_000));
  assert.match(cut.problem ?? "", /cut off/);
  assert.equal(
    cut.value[0]?.uuid,
    "GPU-28604e81-21ec-cc48-6759-bf2648b22e16",
    "what was read is kept",
  );
});

test("buildGpus: display and accelerator functions from lspci, joined with nvidia-smi and amdgpu VRAM", () => {
  const lspci = parseLspci(
    [
      "Slot:\t0000:03:00.0\nClass:\tVGA compatible controller [0300]\nVendor:\tASPEED Technology, Inc. [1a03]\nDevice:\tASPEED Graphics Family [2000]\nDriver:\tast\n",
      "Slot:\t0000:04:00.0\nClass:\t3D controller [0302]\nVendor:\tNVIDIA Corporation [10de]\nDevice:\tGP100GL [Tesla P100 PCIe 12GB] [15f7]\nDriver:\tnvidia\n",
      "Slot:\t0000:09:00.0\nClass:\tVGA compatible controller [0300]\nVendor:\tAdvanced Micro Devices, Inc. [AMD/ATI] [1002]\nDevice:\tVega 10 XL/XT [Radeon RX Vega 56/64] [687f]\nDriver:\tamdgpu\n",
      "Slot:\t0000:05:00.0\nClass:\tEthernet controller [0200]\nVendor:\tIntel Corporation [8086]\nDevice:\tI350 Gigabit Network Connection [1521]\n",
    ].join("\n"),
  );
  const sysfs = parseSysBusPci(
    JSON.stringify({
      "0000:04:00.0": { class: "0x030200", vendor: "0x10de", numa_node: "0" },
      "0000:09:00.0": {
        class: "0x030000",
        vendor: "0x1002",
        numa_node: "-1",
        driver: "amdgpu",
        mem_info_vram_total: "8573157376",
      },
    }),
  );
  const gpus = buildGpus(lspci, sysfs, parseNvidiaSmi(hadoop()));
  assert.deepEqual(
    gpus.map((g) => [g.pciAddress, g.vendor, g.model, g.memoryBytes, g.numaNode, g.driver]),
    [
      ["0000:03:00.0", "ASPEED Technology, Inc.", "ASPEED Graphics Family", null, null, "ast"],
      ["0000:04:00.0", "NVIDIA Corporation", "Tesla P100-PCIE-12GB", 11567 * MiB, 0, "nvidia"],
      [
        "0000:09:00.0",
        "Advanced Micro Devices, Inc. [AMD/ATI]",
        "Vega 10 XL/XT [Radeon RX Vega 56/64]",
        8573157376,
        null,
        "amdgpu",
      ],
      // nvidia-smi's second GPU is not in this lspci: kept with what nvidia-smi knows.
      ["0000:82:00.0", "10de", "Tesla P100-PCIE-12GB_2", 12290 * MiB, null, null],
    ],
  );
  assert.equal(gpus[1]?.uuid, "GPU-28604e81-21ec-cc48-6759-bf2648b22e16");
  for (const gpu of gpus) Gpu.parse(gpu);
  assert.equal(hasNvidiaGpu(lspci, {}), true);
  assert.equal(hasNvidiaGpu([], sysfs), true);
  assert.equal(
    hasNvidiaGpu(
      lspci.filter((d) => d.vendorId !== "10de"),
      {},
    ),
    false,
  );
});

test("nvidiaSmiCollector: not run without an NVIDIA GPU; replayed from a capture with one", async () => {
  const temp = mkdtempSync(join(tmpdir(), "recon-gpu-"));
  try {
    const runner = await replayRunner(temp);
    const off = await nvidiaSmiCollector(false)(runner);
    assert.deepEqual(off.value, []);
    assert.equal(off.reports[0]?.status, "skipped");
    assert.equal(off.reports[0]?.command, null, "nothing ran");
    const missing = await nvidiaSmiCollector(true)(runner);
    assert.equal(missing.reports[0]?.status, "skipped");
    writeFileSync(join(temp, "nvidia-smi-q-x.xml"), hadoop());
    const on = await nvidiaSmiCollector(true)(await replayRunner(temp));
    assert.equal(on.reports[0]?.status, "ok");
    assert.equal(on.value.length, 2);
  } finally {
    rmSync(temp, { recursive: true, force: true });
  }
});

test("property: readNvidiaSmi is honest; cut and overwritten XML stays schema-valid", () => {
  assertHonestParser([hadoop()], readNvidiaSmi, { numRuns: 100 });
  assertSurvivesMutations([hadoop()], (text) => {
    z.array(NvidiaGpu).parse(parseNvidiaSmi(text));
  });
});
