import assert from "node:assert/strict";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import fc from "fast-check";
import {
  collectNuma,
  parseCpuList,
  parseSysDevicesSystemNode,
  readSysDevicesSystemNode,
  readSysDevicesSystemNodeCapture,
  sysDevicesSystemNodeProbe,
} from "../../agent/collect/numa.ts";
import { replayRunner } from "../../agent/exec.ts";
import { NumaNode } from "../../schema/inventory.ts";
import { fakeRunner } from "../support/fake-runner.ts";

const SAMPLE = new URL("../../samples/sysfs-platform-this-machine/", import.meta.url);

test("this machine (real capture, one node): CPUs 0-1, 19490552 kB, one 2 MiB pool", async () => {
  const text = await readFile(new URL("sys-devices-system-node.json", SAMPLE), "utf8");
  assert.deepEqual(readSysDevicesSystemNodeCapture(text), {
    value: [
      {
        id: 0,
        logicalCpus: [0, 1],
        memoryBytes: 19490552 * 1024,
        hugepages: [{ sizeBytes: 2048 * 1024, total: 0, free: 0 }],
      },
    ],
    problem: null,
  });
});

test("cpulist: ranges, singles, memory-only nodes; anything else is not a list", () => {
  assert.deepEqual(parseCpuList("0-3,8,10-11\n"), [0, 1, 2, 3, 8, 10, 11]);
  assert.deepEqual(parseCpuList(""), []);
  assert.deepEqual(parseCpuList("5"), [5]);
  assert.equal(parseCpuList("3-1"), null);
  assert.equal(parseCpuList("0-99999999"), null);
  assert.equal(parseCpuList("a"), null);
  assert.equal(parseCpuList("1,,2"), null);
});

test("two nodes in id order (node10 after node2), hugepage pools by size", () => {
  const nodes = parseSysDevicesSystemNode(
    JSON.stringify({
      node10: { cpulist: "", meminfo: "Node 10 MemTotal: 1024 kB\n", hugepages: {} },
      node2: {
        cpulist: "2-3",
        meminfo: "Node 2 MemTotal:       16777216 kB\nNode 2 MemFree: 1 kB\n",
        hugepages: {
          "hugepages-1048576kB": { nr_hugepages: "4", free_hugepages: "1" },
          "hugepages-2048kB": { nr_hugepages: "512", free_hugepages: "512" },
        },
      },
      online: "0-1",
    }),
  );
  assert.deepEqual(
    nodes.map((n) => [n.id, n.logicalCpus, n.memoryBytes]),
    [
      [2, [2, 3], 16777216 * 1024],
      [10, [], 1024 * 1024],
    ],
  );
  assert.deepEqual(nodes[0]?.hugepages, [
    { sizeBytes: 2097152, total: 512, free: 512 },
    { sizeBytes: 1073741824, total: 4, free: 1 },
  ]);
});

test("unreadable node files: what read is kept, and a problem", () => {
  const out = readSysDevicesSystemNodeCapture(
    JSON.stringify({ node0: { cpulist: "0-x", meminfo: "Node 1 MemTotal: 5 kB", hugepages: {} } }),
  );
  assert.deepEqual(out.value, [{ id: 0, logicalCpus: [], memoryBytes: null, hugepages: [] }]);
  assert.match(out.problem ?? "", /node0: cpulist "0-x"/);
  assert.match(out.problem ?? "", /no "Node 0 MemTotal" line/);
  assert.match(readSysDevicesSystemNodeCapture('{"x":1}').problem ?? "", /no node<N> entry/);
  assert.match(readSysDevicesSystemNodeCapture("[]").problem ?? "", /not an object/);
  assert.deepEqual(readSysDevicesSystemNodeCapture(""), { value: [], problem: null });
  assert.deepEqual(readSysDevicesSystemNodeCapture("{}"), { value: [], problem: null });
});

test("property: any text gives schema-valid nodes; cpulists round-trip", () => {
  fc.assert(
    fc.property(fc.oneof(fc.string(), fc.json()), (text) => {
      for (const node of parseSysDevicesSystemNode(text)) NumaNode.parse(node);
    }),
    { numRuns: 500 },
  );
  fc.assert(
    fc.property(fc.uniqueArray(fc.nat({ max: 300 }), { maxLength: 40 }), (cpus) => {
      const sorted = [...cpus].sort((a, b) => a - b);
      assert.deepEqual(parseCpuList(sorted.join(",")), sorted);
    }),
  );
});

test("capture reader over a sysfs-shaped tree", async () => {
  const root = await mkdtemp(join(tmpdir(), "recon-numa-"));
  try {
    const pool = join(root, "node1", "hugepages", "hugepages-2048kB");
    await mkdir(pool, { recursive: true });
    await writeFile(join(root, "node1", "cpulist"), "1\n");
    await writeFile(join(root, "node1", "meminfo"), "Node 1 MemTotal:  524288 kB\n");
    await writeFile(join(pool, "nr_hugepages"), "8\n");
    await writeFile(join(pool, "free_hugepages"), "6\n");
    await writeFile(join(root, "online"), "1\n");
    const text = await readSysDevicesSystemNode(root);
    assert.deepEqual(parseSysDevicesSystemNode(text), [
      {
        id: 1,
        logicalCpus: [1],
        memoryBytes: 524288 * 1024,
        hugepages: [{ sizeBytes: 2097152, total: 8, free: 6 }],
      },
    ]);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test("collectNuma: probe, report named numa, replay of the sample", async () => {
  const { runner, probes } = fakeRunner({ output: "{}" });
  const out = await collectNuma(runner);
  assert.equal(probes[0], sysDevicesSystemNodeProbe);
  assert.deepEqual(out.value, []);
  assert.equal(out.reports[0]?.name, "numa");
  const replay = await collectNuma(await replayRunner(SAMPLE.pathname));
  assert.equal(replay.value.length, 1);
  assert.equal(replay.reports[0]?.status, "ok");
  const bad = await collectNuma(fakeRunner({ output: "node0" }).runner);
  assert.equal(bad.reports[0]?.status, "failed");
});

test("qemu-storage capture (QEMU 7.2 guest, 1 vCPU, 2 GiB): one node, 2 MiB and 1 GiB pools", async () => {
  const out = await collectNuma(
    await replayRunner(new URL("../../fixtures/qemu-storage/", import.meta.url).pathname),
  );
  assert.deepEqual(out.value, [
    {
      id: 0,
      logicalCpus: [0],
      memoryBytes: 2012344 * 1024,
      hugepages: [
        { sizeBytes: 2048 * 1024, total: 0, free: 0 },
        { sizeBytes: 1048576 * 1024, total: 0, free: 0 },
      ],
    },
  ]);
});

test("qemu-uefi-secureboot capture (-numa: CPU 0 + 1 GiB, CPU 1 + 1 GiB): two nodes", async () => {
  const out = await collectNuma(
    await replayRunner(new URL("../../fixtures/qemu-uefi-secureboot/", import.meta.url).pathname),
  );
  const pools = [
    { sizeBytes: 2048 * 1024, total: 0, free: 0 },
    { sizeBytes: 1048576 * 1024, total: 0, free: 0 },
  ];
  // MemTotal per node ("Node 0 MemTotal: 970092 kB", "Node 1 MemTotal: 1008200 kB") is what the
  // kernel kept of each 1 GiB, less on node 0 (the kernel image and firmware live there).
  assert.deepEqual(out.value, [
    { id: 0, logicalCpus: [0], memoryBytes: 970092 * 1024, hugepages: pools },
    { id: 1, logicalCpus: [1], memoryBytes: 1008200 * 1024, hugepages: pools },
  ]);
});
