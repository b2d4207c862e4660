// Memory the kernel can use, from /proc/meminfo (memory.osVisibleBytes).
import type { Probe } from "../exec.ts";
import { parseBinarySize } from "../normalize.ts";
import { type Collect, reportOf, usableOutput } from "./types.ts";

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
 */
export function parseMeminfo(text: string): MeminfoFacts {
  if (typeof text !== "string") return { memTotalBytes: null };
  const match = /^MemTotal:[ \t]*([^\r\n]*)$/m.exec(text);
  return { memTotalBytes: match ? parseBinarySize(match[1]) : null };
}

export const collectMeminfo: Collect<MeminfoFacts> = async (runner, signal) => {
  const result = await runner.run(MEMINFO_PROBE, signal);
  const output = usableOutput(result);
  return {
    value: output === null ? { memTotalBytes: null } : parseMeminfo(output),
    reports: [reportOf("meminfo", result)],
  };
};
