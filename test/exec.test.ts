// The real runner with real processes (coreutils only): what a probe's result says, and the
// order in which it starts processes (agent/exec.ts, processStarts).
import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import test from "node:test";
import { onPath, type Probe, type ProbeTrace, realRunner } from "../agent/exec.ts";

const command = (file: string, argv: [string, ...string[]], timeoutMs = 10_000): Probe => ({
  file,
  source: { kind: "command", argv },
  timeoutMs,
});

test("a command's stdout, exit code and failure message", async () => {
  const runner = realRunner({ allowInTests: true });
  const ok = await runner.run(command("echo.txt", ["echo", "hello"]));
  assert.equal(ok.status, "ok");
  assert.equal(ok.output, "hello\n");
  assert.equal(ok.exitCode, 0);
  assert.equal(ok.message, null);
  const failed = await runner.run(command("ls.txt", ["ls", "/nonexistent-recon-path"]));
  assert.equal(failed.status, "failed");
  assert.equal(failed.exitCode, 2);
  assert.match(failed.message ?? "", /nonexistent-recon-path/);
  const silent = await runner.run(command("false.txt", ["false"]));
  assert.equal(silent.status, "failed");
  assert.equal(silent.message, "Command failed with exit code 1: false");
});

test("an absent tool is skipped at once, a slow one times out and is killed", async () => {
  const runner = realRunner({ allowInTests: true });
  const absent = await runner.run(command("x.txt", ["recon-no-such-tool-xyz", "-v"]));
  assert.equal(absent.status, "skipped");
  assert.equal(absent.message, "recon-no-such-tool-xyz: not installed");
  const slow = await runner.run(command("sleep.txt", ["sleep", "30"], 200));
  assert.equal(slow.status, "timeout");
  assert.equal(slow.message, "timed out after 200 ms");
  assert.ok(slow.durationMs < 10_000, `killed, not waited for (${slow.durationMs} ms)`);
});

test("the overall budget cancels a running probe and refuses to start new ones", async () => {
  const runner = realRunner({ allowInTests: true });
  const budget = new AbortController();
  const running = runner.run(command("sleep.txt", ["sleep", "30"]), budget.signal);
  setTimeout(() => budget.abort(), 100);
  const cut = await running;
  assert.equal(cut.status, "timeout");
  assert.equal(cut.message, "overall budget spent");
  const late = await runner.run(command("echo.txt", ["echo", "late"]), budget.signal);
  assert.equal(late.status, "timeout");
  assert.equal(late.output, "");
});

test("the first process starts at once, the others one per turn in the order asked", async () => {
  const traces: ProbeTrace[] = [];
  const runner = realRunner({ allowInTests: true, trace: (t) => traces.push(t) });
  const first = runner.run(command("first.txt", ["true"]));
  const firstStartedBy = performance.now();
  const read = runner.run({
    file: "walk.json",
    source: { kind: "internal", describe: "a sysfs walk", read: async () => "{}" },
    timeoutMs: 1000,
  });
  const later = ["a", "b", "c"].map((n) => runner.run(command(`${n}.txt`, ["true"])));
  const results = await Promise.all([first, read, ...later]);
  assert.ok(results.every((r) => r.status === "ok"));
  const at = (file: string) => traces.find((t) => t.file === file) as ProbeTrace;
  assert.ok(at("first.txt").startMs <= firstStartedBy, "first spawned before run() returned");
  const starts = ["first", "a", "b", "c"].map((n) => at(`${n}.txt`).startMs);
  assert.deepEqual(
    [...starts].sort((x, y) => x - y),
    starts,
  );
});

test("an urgent probe starts before the processes already waiting for their turn", async () => {
  const traces: ProbeTrace[] = [];
  const runner = realRunner({ allowInTests: true, trace: (t) => traces.push(t) });
  const queued = ["first", "a", "b", "c"].map((n) => runner.run(command(`${n}.txt`, ["true"])));
  const chain = runner.run({ ...command("chain.txt", ["true"]), urgent: true });
  await Promise.all([...queued, chain]);
  const order = [...traces].sort((x, y) => x.startMs - y.startMs).map((t) => t.file);
  // "first" forked at once; the urgent one goes next, ahead of a, b and c asked before it.
  assert.deepEqual(order, ["first.txt", "chain.txt", "a.txt", "b.txt", "c.txt"]);
});

test("onPath: bare names through PATH's directories, paths as they are", async () => {
  const dir = await mkdtemp(join(tmpdir(), "recon-onpath-"));
  try {
    await writeFile(join(dir, "tool"), "", { mode: 0o644 });
    await mkdir(join(dir, "subdir"));
    assert.equal(onPath("tool", `/nonexistent-recon:${dir}`), true);
    assert.equal(onPath("missing", `/nonexistent-recon:${dir}`), false);
    // A directory is not a program; a file without the x bit is found (spawn says EACCES).
    assert.equal(onPath("subdir", dir), false);
    assert.equal(onPath(join(dir, "tool"), ""), true);
    assert.equal(onPath(join(dir, "missing"), dir), false);
    // Without PATH the runner does not guess: it spawns, and spawn decides.
    assert.equal(onPath("missing", undefined), true);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("a tool that is on no PATH directory is skipped without starting a process", async () => {
  const traces: ProbeTrace[] = [];
  const runner = realRunner({ allowInTests: true, trace: (t) => traces.push(t) });
  // Asked in the same turn: had the absent tool forked, it would have taken this turn's start.
  const absentRun = runner.run(command("x.txt", ["recon-no-such-tool-xyz", "-v"]));
  const next = runner.run(command("next.txt", ["true"]));
  const askedBy = performance.now();
  const absent = await absentRun;
  assert.deepEqual(
    [absent.status, absent.message, absent.exitCode],
    ["skipped", "recon-no-such-tool-xyz: not installed", null],
  );
  assert.equal((await next).status, "ok");
  const nextStart = traces.find((t) => t.file === "next.txt")?.startMs ?? Number.NaN;
  assert.ok(nextStart <= askedBy, `next started at once (${nextStart} <= ${askedBy})`);
});

test("a read that never ends does not hold process starts", async () => {
  const runner = realRunner({ allowInTests: true });
  void runner.run({
    file: "stuck.json",
    source: { kind: "internal", describe: "stuck", read: () => new Promise(() => {}) },
    timeoutMs: 1000,
  });
  const started = performance.now();
  const ok = await runner.run(command("echo.txt", ["echo", "go"]));
  assert.equal(ok.status, "ok");
  assert.ok(performance.now() - started < 5000, "not held until the read ends");
});

test("an in-process read is bounded like a command: its timeout, then the overall budget", async () => {
  const runner = realRunner({ allowInTests: true });
  const stuck = (timeoutMs: number): Probe => ({
    file: "stuck.hex",
    source: {
      kind: "internal",
      describe: "a device that never answers",
      read: () => new Promise(() => {}),
    },
    timeoutMs,
  });
  const own = await runner.run(stuck(50));
  assert.deepEqual([own.status, own.message], ["timeout", "timed out after 50 ms"]);
  assert.ok(own.durationMs >= 45 && own.durationMs < 5000, `${own.durationMs} ms`);
  const budget = new AbortController();
  const pending = runner.run(stuck(60_000), budget.signal);
  setTimeout(() => budget.abort(), 30);
  const canceled = await pending;
  assert.deepEqual([canceled.status, canceled.message], ["timeout", "overall budget spent"]);
  const failing = await runner.run({
    file: "broken.hex",
    source: {
      kind: "internal",
      describe: "a read that fails",
      read: async () => {
        throw new Error("EIO");
      },
    },
    timeoutMs: 1000,
  });
  assert.equal(failing.status, "failed");
});

test("a file probe's duration is its own read", async () => {
  const runner = realRunner({ allowInTests: true });
  const busy = Array.from({ length: 8 }, (_, i) => runner.run(command(`t${i}.txt`, ["true"])));
  const file = await runner.run({
    file: "meminfo.txt",
    source: { kind: "file", path: "/proc/meminfo" },
    timeoutMs: 1000,
  });
  await Promise.all(busy);
  assert.equal(file.status, "ok");
  assert.match(file.output, /^MemTotal:/);
  const absent = await runner.run({
    file: "none.txt",
    source: { kind: "file", path: "/proc/recon-none" },
    timeoutMs: 1000,
  });
  assert.equal(absent.status, "skipped");
});
