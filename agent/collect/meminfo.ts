// Memory the kernel can use, from /proc/meminfo (memory.osVisibleBytes).
import type { Probe } from "../exec.ts";
import { parseBinarySize } from "../normalize.ts";
import {
  binaryProblem,
  type Collect,
  isBlank,
  type Parsed,
  parseOutput,
  reportParsed,
  usableOutput,
} from "./types.ts";

export interface MeminfoFacts {
  /** MemTotal in bytes (the kernel's "kB" is KiB); null when absent or malformed. */
  memTotalBytes: number | null;
}

export const MEMINFO_PROBE: Probe = {
  file: "meminfo.txt",
  source: { kind: "file", path: "/proc/meminfo" },
  timeoutMs: 5_000,
};

/**
 * Parses /proc/meminfo. Real input (Linux 6.18, Debian 12):
 *
 *     MemTotal:       24683620 kB
 *     MemFree:        22809000 kB
 *     MemAvailable:   24276916 kB
 *
 * Every kernel prints MemTotal first, so text without a readable MemTotal line is not
 * /proc/meminfo (a problem); an empty read is no facts and no problem.
 */
export function readMeminfo(text: string): Parsed<MeminfoFacts> {
  if (typeof text !== "string" || isBlank(text))
    return { value: { memTotalBytes: null }, problem: null };
  const match = /^MemTotal:[ \t]*([^\r\n]*)$/m.exec(text);
  const memTotalBytes = match ? parseBinarySize(match[1]) : null;
  const value = { memTotalBytes };
  const binary = binaryProblem(text);
  if (binary !== null) return { value, problem: binary };
  if (match === null) return { value, problem: "no MemTotal line" };
  if (memTotalBytes === null)
    return { value, problem: `unreadable MemTotal "${match[1]?.slice(0, 40)}"` };
  return { value, problem: null };
}

/** The facts of `readMeminfo`, problem or not. */
export function parseMeminfo(text: string): MeminfoFacts {
  return readMeminfo(text).value;
}

export const collectMeminfo: Collect<MeminfoFacts> = async (runner, signal) => {
  const result = await runner.run(MEMINFO_PROBE, signal);
  const { value, problem } = parseOutput(usableOutput(result), readMeminfo, {
    memTotalBytes: null,
  });
  return { value, reports: [reportParsed("meminfo", result, problem)] };
};
