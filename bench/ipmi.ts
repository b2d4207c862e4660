// node bench/ipmi.ts: what the ipmitool collector costs where it matters (figures, no pass/fail).
// 1. This machine as it is (real paths): on a machine without a BMC it must end in milliseconds,
//    never on a timeout or ipmi_si's port probing.
// 2. The same with SMBIOS readable and no type 38 / SPMI / IPI0001 (a temp dir stands in for
//    /sys/firmware/dmi/entries): no process at all.
// 3. Against ipmi_sim over lanplus with sensors (when installed): the collector's wall time
//    against the sum of its probes' own durations (the four lanes at work).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { collectIpmi, IPMI_FIRMWARE_PATHS, ipmiCollector } from "../agent/collect/ipmitool.ts";
import { type Runner, realRunner } from "../agent/exec.ts";
import { DEFAULT_SENSORS, missingIpmiTools, startIpmiSim } from "../test/support/ipmi-sim.ts";

const RUNS = 7;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

/** The real runner, plus the probe files and durations of one run. */
function recording(): { runner: Runner; steps: string[]; probeMs: () => number } {
  const real = realRunner();
  const steps: string[] = [];
  let total = 0;
  return {
    steps,
    probeMs: () => total,
    runner: {
      async run(probe, signal) {
        const result = await real.run(probe, signal);
        steps.push(`${probe.file} ${result.status} ${result.durationMs} ms`);
        total += result.durationMs;
        return result;
      },
    },
  };
}

async function wall(
  collect: typeof collectIpmi,
): Promise<{ ms: number; steps: string[]; probeMs: number }> {
  const { runner, steps, probeMs } = recording();
  const start = performance.now();
  await collect(runner);
  return { ms: performance.now() - start, steps, probeMs: probeMs() };
}

async function series(label: string, collect: typeof collectIpmi): Promise<void> {
  const runs = [];
  for (let i = 0; i < RUNS; i++) runs.push(await wall(collect));
  console.log(`${label}: median ${median(runs.map((r) => r.ms)).toFixed(1)} ms over ${RUNS} runs`);
  console.log(`  probes of the first run: ${runs[0]?.steps.join("; ") || "(none)"}`);
}

await series("this machine, real paths", collectIpmi);

const dmi = mkdtempSync(join(tmpdir(), "recon-bench-dmi-"));
try {
  await series(
    "no device, SMBIOS readable without an IPMI record",
    ipmiCollector({
      firmwarePaths: {
        smbiosEntries: dmi,
        hints: IPMI_FIRMWARE_PATHS.hints.map((p) => join(dmi, p)),
      },
    }),
  );
} finally {
  rmSync(dmi, { recursive: true, force: true });
}

if (missingIpmiTools().length === 0) {
  const sim = await startIpmiSim({ sensors: DEFAULT_SENSORS });
  try {
    const collect = ipmiCollector({ ipmiArgs: sim.ipmiArgs });
    const runs = [];
    for (let i = 0; i < RUNS; i++) runs.push(await wall(collect));
    const ms = median(runs.map((r) => r.ms));
    const probes = median(runs.map((r) => r.probeMs));
    console.log(
      `ipmi_sim over lanplus, 7 probes: median ${ms.toFixed(0)} ms wall, ${probes.toFixed(0)} ms of probe time (${(probes / ms).toFixed(2)}x overlap)`,
    );
  } finally {
    await sim.stop();
  }
} else {
  console.log(`ipmi_sim: not measured (${missingIpmiTools().join(", ")} not installed)`);
}
