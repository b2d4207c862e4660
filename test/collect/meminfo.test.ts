import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import fc from "fast-check";
import { z } from "zod";
import { collectMeminfo, MEMINFO_PROBE, parseMeminfo } from "../../agent/collect/meminfo.ts";
import { replayRunner } from "../../agent/exec.ts";
import { Memory } from "../../schema/inventory.ts";
import { fakeRunner } from "../support/fake-runner.ts";

const FIXTURES = new URL("../../fixtures/", import.meta.url);
const REAL = readFileSync(new URL("this-machine-debian12/meminfo.txt", FIXTURES), "utf8");
const Facts = z.strictObject({ memTotalBytes: Memory.shape.osVisibleBytes });

test("this machine: MemTotal 24683620 kB (KiB)", () => {
  assert.deepEqual(parseMeminfo(REAL), { memTotalBytes: 24683620 * 1024 });
  assert.equal(parseMeminfo(REAL).memTotalBytes, 25276026880);
});

test("MemTotal anywhere in the file; other lines and units are not mistaken for it", () => {
  assert.deepEqual(parseMeminfo("MemFree: 1 kB\nMemTotal:\t2048 kB\r\n"), {
    memTotalBytes: 2097152,
  });
  assert.deepEqual(parseMeminfo("HugePages_Total: 0\nMemTotalX: 5 kB\n"), { memTotalBytes: null });
  assert.deepEqual(parseMeminfo("MemTotal: lots\n"), { memTotalBytes: null });
  assert.deepEqual(parseMeminfo("MemTotal: 99999999999999999999 kB\n"), { memTotalBytes: null });
  assert.deepEqual(parseMeminfo(""), { memTotalBytes: null });
});

test("property: any text gives a schema-valid value", () => {
  fc.assert(
    fc.property(
      fc.oneof(
        fc.string(),
        fc.tuple(fc.string(), fc.string()).map(([a, b]) => `${a}\nMemTotal:${b}`),
        fc
          .tuple(fc.nat(), fc.nat(), fc.string())
          .map(
            ([cut, at, s]) =>
              REAL.slice(0, cut % (REAL.length + 1)) + s + REAL.slice(at % (REAL.length + 1)),
          ),
      ),
      (text) => {
        Facts.parse(parseMeminfo(text));
      },
    ),
    { numRuns: 500 },
  );
});

test("property: MemTotal N kB is N * 1024 bytes", () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 2 ** 40 }), (kib) => {
      assert.equal(
        parseMeminfo(`MemTotal:       ${kib} kB\nMemFree: 1 kB\n`).memTotalBytes,
        kib * 1024,
      );
    }),
  );
});

test("probe reads /proc/meminfo into meminfo.txt", () => {
  assert.equal(MEMINFO_PROBE.file, "meminfo.txt");
  assert.deepEqual(MEMINFO_PROBE.source, { kind: "file", path: "/proc/meminfo" });
});

test("collectMeminfo: ok and skipped", async () => {
  const { runner, probes } = fakeRunner({ output: REAL });
  const ok = await collectMeminfo(runner);
  assert.equal(probes[0], MEMINFO_PROBE);
  assert.deepEqual(ok.value, { memTotalBytes: 25276026880 });
  assert.deepEqual(ok.reports, [
    {
      name: "meminfo",
      status: "ok",
      durationMs: 3,
      command: "read /proc/meminfo",
      exitCode: null,
      message: null,
    },
  ]);
  const skipped = await collectMeminfo(
    fakeRunner({ status: "skipped", message: "not present on this system" }).runner,
  );
  assert.deepEqual(skipped.value, { memTotalBytes: null });
  assert.equal(skipped.reports[0]?.status, "skipped");
});

test("replay of the fixture directory", async () => {
  const out = await collectMeminfo(
    await replayRunner(new URL("this-machine-debian12/", FIXTURES).pathname),
  );
  assert.deepEqual(out.value, { memTotalBytes: 25276026880 });
  assert.equal(out.reports[0]?.command, "replay meminfo.txt");
});
