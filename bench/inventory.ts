// npm run bench: figures for the inventory core (no pass/fail; targets are printed beside them).
// 1. Parse time of the largest dmidecode fixture (target < 10 ms) and of a whole replayed document.
// 2. Live `--dry-run` collection time on this machine against the slowest single tool run alone
//    (target ratio <= 1.2: collectors run in parallel, no serial waits).
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseDmidecode } from "../agent/collect/dmidecode.ts";
import { collectInventory } from "../agent/collect/index.ts";
import { describeProbe, type Probe, type Runner, realRunner, replayRunner } from "../agent/exec.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
const fixtures = join(root, "fixtures");

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

function time(fn: () => unknown): number {
  const start = performance.now();
  fn();
  return performance.now() - start;
}

async function timeAsync(fn: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await fn();
  return performance.now() - start;
}

const largest = readdirSync(fixtures)
  .map((name) => join(fixtures, name, "dmidecode.txt"))
  .filter((path) => statSync(path, { throwIfNoEntry: false })?.isFile())
  .sort((a, b) => statSync(b).size - statSync(a).size)[0];
if (!largest) throw new Error("no dmidecode fixture found");
const text = readFileSync(largest, "utf8");
for (let i = 0; i < 20; i++) parseDmidecode(text); // warm-up (JIT)
const parseMs = median(Array.from({ length: 200 }, () => time(() => parseDmidecode(text))));
const facts = parseDmidecode(text);
console.log(
  `parse dmidecode   ${parseMs.toFixed(2)} ms median of 200  (${(text.length / 1024).toFixed(0)} KiB, ` +
    `${facts.slots} memory slots, ${text.split("Processor Information").length - 1} processor records: ${largest.replace(`${root}`, "")})  target < 10 ms`,
);

const replayDir = join(fixtures, "vmware-virtual-platform-ubuntu1804-jc");
const replay = await replayRunner(replayDir);
await collectInventory({ runner: replay }); // warm-up
const replayTimes: number[] = [];
for (let i = 0; i < 20; i++)
  replayTimes.push(await timeAsync(() => collectInventory({ runner: replay })));
console.log(
  `replay document   ${median(replayTimes).toFixed(2)} ms median of 20 (whole document from ${replayDir.replace(root, "")})`,
);

// Live: record every probe a dry-run uses, then run each alone.
const real = realRunner();
const seen: Probe[] = [];
const recording: Runner = {
  run(probe, signal) {
    seen.push(probe);
    return real.run(probe, signal);
  },
};
await collectInventory({ runner: recording }); // warm-up: page cache, JIT, module loading
const probes = [...seen];
const dryRuns: number[] = [];
for (let i = 0; i < 3; i++) dryRuns.push(await timeAsync(() => collectInventory({ runner: real })));
const dryRunMs = median(dryRuns);
const alone: Array<{ probe: Probe; ms: number }> = [];
for (const probe of probes) {
  const times: number[] = [];
  for (let i = 0; i < 3; i++) times.push(await timeAsync(() => real.run(probe)));
  alone.push({ probe, ms: median(times) });
}
alone.sort((a, b) => b.ms - a.ms);
const slowest = alone[0];
if (slowest) {
  console.log(
    `dry-run collect   ${dryRunMs.toFixed(0)} ms median of 3 (${probes.length} probes, in process)`,
  );
  console.log(
    `slowest tool      ${slowest.ms.toFixed(0)} ms alone: ${describeProbe(slowest.probe)}`,
  );
  console.log(`ratio             ${(dryRunMs / slowest.ms).toFixed(2)}  target <= 1.2`);
  console.log(
    `next slowest      ${alone
      .slice(1, 4)
      .map((a) => `${describeProbe(a.probe)} ${a.ms.toFixed(0)} ms`)
      .join(", ")}`,
  );
}
const cliStart = performance.now();
const cli = spawnSync(process.execPath, [join(root, "bin/recon-agent.js"), "--dry-run"], {
  encoding: "utf8",
});
console.log(
  `recon-agent --dry-run ${(performance.now() - cliStart).toFixed(0)} ms wall time (whole process from source; exit ${cli.status})`,
);
if (process.geteuid?.() !== 0)
  console.log("note: not root: root-only tools were skipped, figures understate a real run");
