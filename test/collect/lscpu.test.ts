import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import fc from "fast-check";
import { collectLscpu, emptyCpu, LSCPU_PROBE, parseLscpu } from "../../agent/collect/lscpu.ts";
import { replayRunner } from "../../agent/exec.ts";
import { Cpu } from "../../schema/inventory.ts";
import { fakeRunner } from "../support/fake-runner.ts";
import { assertSurvivesMutations } from "../support/properties.ts";

const FIXTURES = new URL("../../fixtures/", import.meta.url);
const read = (path: string) => readFileSync(new URL(path, FIXTURES), "utf8");

const THIS_MACHINE = {
  architecture: "x86_64",
  model: "AMD EPYC",
  sockets: 1,
  coresPerSocket: 2,
  threadsPerCore: 1,
  logicalCpus: 2,
};

test("this machine, every util-linux generation and shape gives the same CPU", () => {
  for (const file of [
    "this-machine-debian12/lscpu.json", // 2.38.1 flat
    "this-machine-debian12/lscpu-tty.json", // 2.38.1 nested (stdout a terminal), CRLF
    "this-machine-util-linux-2.36.1/lscpu.json", // 2.36.1 flat, one line per field
    "this-machine-util-linux-2.41.5/lscpu.json", // 2.41.5 flat
    "this-machine-util-linux-2.41.5/lscpu-hierarchic.json", // 2.41.5 --hierarchic=always
  ]) {
    assert.deepEqual(parseLscpu(read(file)), THIS_MACHINE, file);
  }
});

// Synthetic, shaped like util-linux 2.38 on an ARM big.LITTLE board: two "Model name:" entries
// (first wins), per-cluster counts, "Socket(s): -".
const ARM = JSON.stringify({
  lscpu: [
    { field: "Architecture:", data: "aarch64" },
    { field: "CPU(s):", data: "6", children: [{ field: "On-line CPU(s) list:", data: "0-5" }] },
    {
      field: "Vendor ID:",
      data: "ARM",
      children: [
        {
          field: "Model name:",
          data: "Cortex-A53",
          children: [
            { field: "Thread(s) per core:", data: "1" },
            { field: "Core(s) per cluster:", data: "4" },
            { field: "Socket(s):", data: "-" },
            { field: "Cluster(s):", data: "1" },
          ],
        },
        { field: "Model name:", data: "Cortex-A72" },
      ],
    },
  ],
});

test("ARM: per-cluster topology leaves sockets and cores per socket unknown", () => {
  assert.deepEqual(parseLscpu(ARM), {
    architecture: "aarch64",
    model: "Cortex-A53",
    sockets: null,
    coresPerSocket: null,
    threadsPerCore: 1,
    logicalCpus: 6,
  });
});

test("two-socket server: BIOS fields do not shadow the kernel's; numbers as JSON numbers", () => {
  const text = JSON.stringify({
    lscpu: [
      { field: "Architecture:", data: "x86_64" },
      { field: "CPU(s):", data: 128 },
      { field: "BIOS Model name:", data: "Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz" },
      { field: "Model name:", data: "  Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz " },
      { field: "Thread(s) per core:", data: "2" },
      { field: "Core(s) per socket:", data: "32" },
      { field: "Socket(s):", data: "2" },
    ],
  });
  assert.deepEqual(parseLscpu(text), {
    architecture: "x86_64",
    model: "Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz",
    sockets: 2,
    coresPerSocket: 32,
    threadsPerCore: 2,
    logicalCpus: 128,
  });
});

test("not lscpu JSON: all null", () => {
  for (const text of [
    "",
    "{",
    "null",
    "[]",
    '{"lscpu": {}}',
    '{"lscpu": [null, 1, {"field": 3}]}',
  ]) {
    assert.deepEqual(parseLscpu(text), emptyCpu());
  }
  assert.deepEqual(parseLscpu("Architecture:  x86_64\nCPU(s):  2\n"), emptyCpu());
});

// --- properties -------------------------------------------------------------------------------

const REAL = [
  read("this-machine-debian12/lscpu.json"),
  read("this-machine-debian12/lscpu-tty.json"),
  read("this-machine-util-linux-2.36.1/lscpu.json"),
  read("this-machine-util-linux-2.41.5/lscpu-hierarchic.json"),
  ARM,
];

const anyValue = fc.oneof(
  fc.string(),
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.constantFrom("-", "0", "2", "x86_64", "18446744073709551616"),
  fc.jsonValue({ maxDepth: 2 }),
);
const { entry } = fc.letrec((tie) => ({
  entry: fc.record(
    {
      field: fc.oneof(
        fc.constantFrom(
          "Architecture:",
          "CPU(s):",
          "Model name:",
          "Socket(s):",
          "Core(s) per socket:",
        ),
        fc.constantFrom("Thread(s) per core:"),
        anyValue,
      ),
      data: anyValue,
      children: fc.oneof(
        { depthSize: "small" },
        anyValue,
        fc.array(tie("entry"), { maxLength: 3 }),
      ),
    },
    { requiredKeys: [] },
  ),
}));

test("property: random JSON and random entry trees give a schema-valid Cpu", () => {
  fc.assert(
    fc.property(
      fc.oneof(
        fc.string(),
        fc.jsonValue().map((v) => JSON.stringify(v)),
        fc.array(fc.oneof(entry, anyValue)).map((list) => JSON.stringify({ lscpu: list })),
      ),
      (text) => {
        Cpu.parse(parseLscpu(text));
      },
    ),
    { numRuns: 500 },
  );
});

test("property: truncated and mutated real captures stay schema-valid", () => {
  assertSurvivesMutations(REAL, (text) => Cpu.parse(parseLscpu(text)), 300);
});

test("a pathologically deep tree does not overflow the stack", () => {
  const depth = 100_000;
  const text = `{"lscpu":[${'{"field":"x","children":['.repeat(depth)}{"field":"CPU(s):","data":"8"}${"]}".repeat(depth)}]}`;
  assert.equal(parseLscpu(text).logicalCpus, 8);
});

// --- collector --------------------------------------------------------------------------------

test("probe: exact argv and file", () => {
  assert.equal(LSCPU_PROBE.file, "lscpu.json");
  assert.deepEqual(LSCPU_PROBE.source, {
    kind: "command",
    argv: ["lscpu", "-J"],
    versionArgv: ["--version"],
  });
});

test("collectLscpu: ok and failed without output", async () => {
  const { runner, probes } = fakeRunner({ output: read("this-machine-debian12/lscpu.json") });
  const ok = await collectLscpu(runner);
  assert.equal(probes[0], LSCPU_PROBE);
  assert.deepEqual(ok.value, THIS_MACHINE);
  assert.deepEqual(ok.reports, [
    { name: "lscpu", status: "ok", durationMs: 3, command: "lscpu -J", exitCode: 0, message: null },
  ]);
  const failed = await collectLscpu(
    fakeRunner({ status: "failed", exitCode: 1, message: "boom" }).runner,
  );
  assert.deepEqual(failed.value, emptyCpu());
  assert.equal(failed.reports[0]?.exitCode, 1);
});

test("replay of the fixture directory", async () => {
  const out = await collectLscpu(
    await replayRunner(new URL("this-machine-util-linux-2.36.1/", FIXTURES).pathname),
  );
  assert.deepEqual(out.value, THIS_MACHINE);
  assert.equal(out.reports[0]?.command, "replay lscpu.json");
});
