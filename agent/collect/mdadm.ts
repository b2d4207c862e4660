// Linux software RAID from /proc/mdstat: each md array's level, size and member devices. The
// arrays become virtual disks in disks[] (collect/storage.ts), their members' serials taken
// from the disks that hold the member partitions.
import type { Probe } from "../exec.ts";
import { binaryProblem, isBlank, type Parsed } from "./types.ts";

export interface MdArray {
  /** md0, md127 */
  name: string;
  /** raid0, raid1, raid10, raid5, linear, ...; null for an inactive array (no level printed). */
  raidLevel: string | null;
  active: boolean;
  /** Member devices as the kernel names them (sda1, nvme0n1p2), failed and spare ones included. */
  members: string[];
  sizeBytes: number | null;
}

const ARRAY_LINE = /^(md[\w-]{1,32}) : (active|inactive)(?: \((?:auto-)?read-only\))?((?: \S+)*)$/;
const MEMBER = /^([A-Za-z0-9_][A-Za-z0-9_.:-]{0,63})\[\d+\](?:\([A-Z]\))*$/;
const LEVEL = /^(raid\d{1,2}|linear|multipath|faulty)$/;

/**
 * Parses /proc/mdstat. Real input (samples/mdstat-telegraf):
 *
 *     Personalities : [raid1] [raid10] [linear] [multipath] [raid0] [raid6] [raid5] [raid4]
 *     md2 : active raid10 sde[2] sdl[9] sdf[3] sdk[8] sdh[5] sdd[1] sdg[4] sdn[11] sdm[10] ...
 *           11251451904 blocks super 1.2 512K chunks 2 near-copies [12/12] [UUUUUUUUUUUU]
 *     md1 : active raid1 sdb2[2] sda2[0]
 *           5909504 blocks super 1.2 [2/2] [UU]
 *     unused devices: <none>
 *
 * Sizes are in 1 KiB blocks. No md driver loaded means no file (the probe is skipped); a file
 * with no array is valid and empty. Text without the "Personalities" header, or binary bytes,
 * is a problem; arrays read before the damage are kept.
 */
export function readMdstat(input: string): Parsed<MdArray[]> {
  if (typeof input !== "string" || isBlank(input)) return { value: [], problem: null };
  const binary = binaryProblem(input);
  if (binary !== null) return { value: [], problem: binary };
  const lines = input.split("\n");
  if (!lines.some((l) => l.startsWith("Personalities :"))) {
    return { value: [], problem: 'no "Personalities :" line' };
  }
  const arrays: MdArray[] = [];
  let current: MdArray | null = null;
  for (const line of lines) {
    const head = ARRAY_LINE.exec(line.trimEnd());
    if (head) {
      const words = (head[3] ?? "").trim().split(/\s+/).filter(Boolean);
      const level = words[0] && LEVEL.test(words[0]) ? (words.shift() ?? null) : null;
      current = {
        name: head[1] as string,
        raidLevel: level,
        active: head[2] === "active",
        members: words.map((w) => MEMBER.exec(w)?.[1]).filter((m): m is string => !!m),
        sizeBytes: null,
      };
      arrays.push(current);
      continue;
    }
    const blocks =
      current && current.sizeBytes === null ? /^\s+(\d{1,15}) blocks\b/.exec(line) : null;
    if (current && blocks) {
      const bytes = Number(blocks[1]) * 1024;
      current.sizeBytes = Number.isSafeInteger(bytes) ? bytes : null;
    }
    if (line.trim() === "") current = null;
  }
  return { value: arrays, problem: null };
}

export function parseMdstat(input: string): MdArray[] {
  return readMdstat(input).value;
}

/** The whole disk a member sits on: sda1 -> sda, nvme0n1p2 -> nvme0n1; sde stays sde. */
export function memberDisk(member: string): string {
  const partitioned = /^((?:nvme\d+n\d+|mmcblk\d+|md\d+))p\d+$/.exec(member);
  if (partitioned) return partitioned[1] as string;
  if (/^(nvme\d+n\d+|mmcblk\d+|md\d+)$/.test(member)) return member;
  return /^((?:[sv]|xv|h)d[a-z]+)\d+$/.exec(member)?.[1] ?? member;
}

export const MDSTAT_PROBE: Probe = {
  file: "proc-mdstat.txt",
  source: { kind: "file", path: "/proc/mdstat" },
  timeoutMs: 5000,
};
