// NUMA nodes (numaNodes[]), from /sys/devices/system/node/node*/, read in-process and captured as
// sys-devices-system-node.json.
//
// Per node the kernel gives (Documentation/ABI/stable/sysfs-devices-node):
// - cpulist: the node's CPUs as a range list ("0-1", "0-15,32-47", "" for a memory-only node);
// - meminfo: "Node 0 MemTotal:       19490552 kB" and more lines (kB is KiB);
// - hugepages/hugepages-<size>kB/{nr_hugepages,free_hugepages}.
import { readdirSync } from "node:fs";
import { join } from "node:path";
import type { NumaNode } from "../../schema/inventory.ts";
import type { Probe } from "../exec.ts";
import { jsonRecord, jsonText, listSysfsDir, readSysfsAttr, readSysfsFile } from "./sysfs.ts";
import {
  type Collect,
  isBlank,
  type Parsed,
  parseOutput,
  readJson,
  reportParsed,
  usableOutput,
} from "./types.ts";

/** One node directory as read; a file that could not be read is null. */
export interface SysNodeEntry {
  cpulist: string | null;
  meminfo: string | null;
  /** "hugepages-2048kB" -> its counters as read. */
  hugepages: Record<string, { nr_hugepages: string | null; free_hugepages: string | null }>;
}
/** sys-devices-system-node.json: keyed by directory name (node0, node1, ...). */
export type SysDevicesSystemNode = Record<string, SysNodeEntry>;

/** More CPUs than any machine has: a list that claims more is not a cpulist. */
const MAX_CPUS = 1 << 16;

function count(text: string | null): number | null {
  const trimmed = text?.trim() ?? "";
  if (!/^\d{1,15}$/.test(trimmed)) return null;
  return Number(trimmed);
}

/** The kernel's CPU list format ("0-3,8,10-11"); null when it is not one. "" is no CPU. */
export function parseCpuList(text: string): number[] | null {
  const trimmed = text.trim();
  if (trimmed === "") return [];
  const cpus: number[] = [];
  for (const part of trimmed.split(",")) {
    const match = /^(\d{1,6})(?:-(\d{1,6}))?$/.exec(part.trim());
    if (!match) return null;
    const from = Number(match[1]);
    const to = match[2] === undefined ? from : Number(match[2]);
    if (to < from || to >= MAX_CPUS || cpus.length + (to - from + 1) > MAX_CPUS) return null;
    for (let cpu = from; cpu <= to; cpu++) cpus.push(cpu);
  }
  return [...new Set(cpus)].sort((a, b) => a - b);
}

/** "Node 3 MemTotal: 16384 kB" in bytes; null when absent. */
function memTotalOf(meminfo: string, id: number): number | null {
  const match = new RegExp(`^Node ${id} MemTotal:[ \\t]*(\\d{1,15}) kB[ \\t]*$`, "m").exec(meminfo);
  return match?.[1] === undefined ? null : Number(match[1]) * 1024;
}

/**
 * numaNodes[] from a sys-devices-system-node.json capture; never throws. Nodes come in id order;
 * a directory name that is not node<N> is ignored. A node whose cpulist or meminfo does not read
 * as the kernel prints it keeps what did read and makes a problem.
 *
 * Real input (this machine, Linux 6.18, one node):
 *     {"node0":{"cpulist":"0-1","meminfo":"Node 0 MemTotal:       19490552 kB\n
 *       Node 0 MemFree:        16974052 kB\n...","hugepages":{"hugepages-2048kB":
 *       {"nr_hugepages":"0","free_hugepages":"0"}}}}
 */
export function readSysDevicesSystemNodeCapture(text: string): Parsed<NumaNode[]> {
  if (typeof text !== "string" || isBlank(text)) return { value: [], problem: null };
  const { document, problem } = readJson(text);
  if (problem !== null) return { value: [], problem };
  const record = jsonRecord(document);
  if (record === null) return { value: [], problem: "JSON but not an object" };
  const nodes: NumaNode[] = [];
  const problems: string[] = [];
  for (const [name, value] of Object.entries(record)) {
    const match = /^node(\d{1,5})$/.exec(name);
    const entry = jsonRecord(value);
    if (!match || entry === null) continue;
    const id = Number(match[1]);
    const cpulist = jsonText(entry.cpulist);
    const meminfo = jsonText(entry.meminfo);
    const logicalCpus = cpulist === null ? null : parseCpuList(cpulist);
    if (cpulist !== null && logicalCpus === null)
      problems.push(`${name}: cpulist "${cpulist.slice(0, 40)}"`);
    const memoryBytes = meminfo === null ? null : memTotalOf(meminfo, id);
    if (meminfo !== null && memoryBytes === null)
      problems.push(`${name}: meminfo has no "Node ${id} MemTotal" line`);
    const hugepages: NumaNode["hugepages"] = [];
    for (const [dir, counters] of Object.entries(jsonRecord(entry.hugepages) ?? {})) {
      const size = /^hugepages-(\d{1,12})kB$/.exec(dir);
      const pair = jsonRecord(counters);
      if (!size || pair === null || Number(size[1]) === 0) continue;
      hugepages.push({
        sizeBytes: Number(size[1]) * 1024,
        total: count(jsonText(pair.nr_hugepages)),
        free: count(jsonText(pair.free_hugepages)),
      });
    }
    hugepages.sort((a, b) => a.sizeBytes - b.sizeBytes);
    nodes.push({ id, logicalCpus: logicalCpus ?? [], memoryBytes, hugepages });
  }
  nodes.sort((a, b) => a.id - b.id);
  if (nodes.length === 0 && Object.keys(record).length > 0) {
    problems.push("no node<N> entry");
  }
  return { value: nodes, problem: problems.length === 0 ? null : problems.join("; ") };
}

/** The facts of `readSysDevicesSystemNodeCapture`, problem or not. */
export function parseSysDevicesSystemNode(text: string): NumaNode[] {
  return readSysDevicesSystemNodeCapture(text).value;
}

/** Reads /sys/devices/system/node into the sys-devices-system-node.json form. */
export function readSysDevicesSystemNode(root = "/sys/devices/system/node"): string {
  const names = readdirSync(root).filter((n) => /^node\d+$/.test(n));
  names.sort((a, b) => Number(a.slice(4)) - Number(b.slice(4)));
  const out: SysDevicesSystemNode = {};
  for (const name of names) {
    const dir = join(root, name);
    const hugepages: SysNodeEntry["hugepages"] = {};
    // No hugepages/ without hugetlbfs support in the kernel.
    for (const size of listSysfsDir(join(dir, "hugepages"))) {
      const sizeDir = join(dir, "hugepages", size);
      hugepages[size] = {
        nr_hugepages: readSysfsAttr(join(sizeDir, "nr_hugepages")),
        free_hugepages: readSysfsAttr(join(sizeDir, "free_hugepages")),
      };
    }
    out[name] = {
      cpulist: readSysfsAttr(join(dir, "cpulist")),
      meminfo: readSysfsFile(join(dir, "meminfo")),
      hugepages,
    };
  }
  return `${JSON.stringify(out, null, 2)}\n`;
}

export const sysDevicesSystemNodeProbe: Probe = {
  file: "sys-devices-system-node.json",
  source: {
    kind: "internal",
    describe: "read /sys/devices/system/node",
    read: () => readSysDevicesSystemNode(),
  },
  timeoutMs: 5_000,
};

export const collectNuma: Collect<NumaNode[]> = async (runner, signal) => {
  const result = await runner.run(sysDevicesSystemNodeProbe, signal);
  const { value, problem } = parseOutput(usableOutput(result), readSysDevicesSystemNodeCapture, []);
  return { value, reports: [reportParsed("numa", result, problem)] };
};
