// Linux software RAID from /proc/mdstat: each md array's level, size and member devices; and
// `mdadm --detail` of each array for what mdstat cannot tell (an inactive array's level, its
// UUID and state, which members are faulty or spare). The arrays become virtual disks in disks[]
// (collect/storage.ts), their members' serials taken from the disks that hold the member
// partitions.
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

// --- mdadm --detail ----------------------------------------------------------------------------

/** One row of `mdadm --detail`'s device table. */
export interface MdDetailMember {
  /** The device path without /dev/, as mdadm prints it: vde1, nvme0n1p1, sda. */
  device: string;
  /** Its slot in the array (the RaidDevice column); null for "-": a spare, a faulty device, a
   * member of an inactive array or of a container. */
  raidDevice: number | null;
  /** mdadm's words for it: "active sync", "spare", "faulty", "spare rebuilding"; null when the
   * table has no State column (an inactive array, a container). */
  state: string | null;
}

export interface MdDetail {
  /** The array's device as mdadm names it in its first line: /dev/md0, /dev/md/imsm0. */
  device: string;
  /** "Raid Level", lower case: raid0, raid1, raid10, linear, container; null when not printed. */
  raidLevel: string | null;
  /** "Array Size" (KiB) in bytes; null when not printed (an inactive array). */
  sizeBytes: number | null;
  /** "Raid Devices": the slots the array has (a degraded one has fewer working members). */
  raidDevices: number | null;
  /** "State": clean, active, "clean, degraded", inactive, "active, FAILED, Not Started". */
  state: string | null;
  /** "UUID", the array's (eight hex digits, four times, colons between). */
  uuid: string | null;
  /** "Name" without mdadm's "(local to host ...)" remark: abc.xyz.com:0. */
  name: string | null;
  /** The device table's rows that name a device ("removed" slots name none and are left out). */
  members: MdDetailMember[];
}

const DETAIL_HEAD = /^(\/dev\/[A-Za-z0-9_][A-Za-z0-9_.:/-]{0,127}):\s*$/;
const DETAIL_FIELD = /^\s*([A-Z][A-Za-z ]{0,40}?)\s+:\s?(.*)$/;
const TABLE_HEAD = /^\s+Number\s+Major\s+Minor\s+RaidDevice(?:\s+State)?\s*$/;
const TABLE_ROW = /^\s+(\d{1,6}|-)\s+(\d{1,10})\s+(\d{1,10})\s+(\d{1,6}|-)(?:\s+(\S.*?))?\s*$/;
const ROW_DEVICE = /^(?:(\S.*?)\s+)?\/dev\/([A-Za-z0-9_][A-Za-z0-9_.:/-]{0,127})$/;
const UUID = /^[0-9a-f]{8}(?::[0-9a-f]{8}){3}$/i;

/**
 * Parses `mdadm --detail /dev/mdX`. Real input (samples/mdadm-detail-ipa, from
 * ironic-python-agent's test samples):
 *
 *     /dev/md0:
 *                Version : 1.0
 *             Raid Level : raid1
 *             Array Size : 1048512 (1023.94 MiB 1073.68 MB)
 *           Raid Devices : 2
 *                  State : clean
 *     Consistency Policy : resync
 *                   Name : abc.xyz.com:0  (local to host abc.xyz.com)
 *                   UUID : 83143055:2781ddf5:2c8f44c7:9b45d92e
 *
 *         Number   Major   Minor   RaidDevice State
 *            0     253       64        0      active sync   /dev/vde1
 *            1     253       80        1      active sync   /dev/vdf1
 *
 * (some lines left out). Sizes are KiB. An inactive array prints no Array Size and a table
 * without a State column, its members in no slot ("-"). Blank text is no array and no problem;
 * text without the "/dev/...:" first line, `mdadm --examine` output (a member's superblock),
 * text with no device table (cut before it), an unreadable table row or a last line without its
 * newline (cut inside them) and binary bytes are problems; what was read before the damage is
 * kept.
 */
export function readMdadmDetail(input: string): Parsed<MdDetail | null> {
  if (typeof input !== "string" || isBlank(input)) return { value: null, problem: null };
  const binary = binaryProblem(input);
  if (binary !== null) return { value: null, problem: binary };
  const lines = input.split("\n");
  // mdadm ends every line with a newline: a last line without one was cut, maybe inside a word
  // ("/dev/vd" of "/dev/vde1"), and is not read.
  const cut = (lines.at(-1) ?? "").trim() !== "";
  if (cut) lines.pop();
  const first = lines.findIndex((l) => l.trim() !== "");
  const head = first < 0 ? null : DETAIL_HEAD.exec((lines[first] as string).trim());
  if (!head) return { value: null, problem: 'no "/dev/mdX:" first line' };
  const detail: MdDetail = {
    device: head[1] as string,
    raidLevel: null,
    sizeBytes: null,
    raidDevices: null,
    state: null,
    uuid: null,
    name: null,
    members: [],
  };
  let table = false;
  let problem: string | null = cut ? `line ${lines.length + 1} cut short (no newline)` : null;
  for (let i = first + 1; i < lines.length; i++) {
    const line = (lines[i] as string).trimEnd();
    if (line.trim() === "") continue;
    if (table) {
      const row = TABLE_ROW.exec(line);
      const rest = row?.[5] ?? "";
      const device = row ? ROW_DEVICE.exec(rest) : null;
      if (row && device) {
        detail.members.push({
          device: device[2] as string,
          raidDevice: row[4] === "-" ? null : Number(row[4]),
          state: device[1]?.trim() || null,
        });
      } else if (!row || rest !== "removed") {
        problem ??= `device table line ${i + 1} unreadable: ${JSON.stringify(line.slice(0, 80))}`;
      }
      continue;
    }
    if (TABLE_HEAD.test(line)) {
      table = true;
      continue;
    }
    const field = DETAIL_FIELD.exec(line);
    if (!field) continue;
    const key = field[1] as string;
    const text = (field[2] as string).trim();
    if (key === "Magic" || key === "Device Role") {
      return {
        value: null,
        problem: "mdadm --examine output (a member's superblock), not --detail",
      };
    }
    switch (key) {
      case "Raid Level":
        detail.raidLevel = /^[a-z0-9]{1,16}$/i.test(text) ? text.toLowerCase() : null;
        break;
      case "Array Size": {
        const kib = /^(\d{1,15})\b/.exec(text);
        const bytes = kib ? Number(kib[1]) * 1024 : Number.NaN;
        detail.sizeBytes = Number.isSafeInteger(bytes) ? bytes : null;
        break;
      }
      case "Raid Devices":
        detail.raidDevices = /^\d{1,6}$/.test(text) ? Number(text) : null;
        break;
      case "State":
        detail.state = text || null;
        break;
      case "UUID":
        detail.uuid = UUID.test(text) ? text.toLowerCase() : null;
        break;
      case "Name":
        detail.name = text.replace(/\s+\(local to host [^)]*\)$/, "").trim() || null;
        break;
    }
  }
  if (!table) problem ??= 'no device table ("Number   Major   Minor   RaidDevice")';
  return { value: detail, problem };
}

export function parseMdadmDetail(input: string): MdDetail | null {
  return readMdadmDetail(input).value;
}

/**
 * The members that hold the array's data, or will (a spare being rebuilt into a slot): every
 * device of the table but a faulty one and an idle hot spare. An inactive array's or a
 * container's devices hold no slot and have no state; they are its members all the same.
 */
export function mdDataMembers(detail: MdDetail): string[] {
  return detail.members
    .filter((m) => !/\bfaulty\b/.test(m.state ?? "") && m.state !== "spare")
    .map((m) => m.device);
}

/** `mdadm --detail /dev/<name>` for an array /proc/mdstat listed; null for a name no array has. */
export function mdadmDetailProbe(name: string): Probe | null {
  if (!/^md[\w-]{1,32}$/.test(name)) return null;
  return {
    file: `mdadm-detail-${name}.txt`,
    source: { kind: "command", argv: ["mdadm", "--detail", `/dev/${name}`] },
    timeoutMs: 10_000,
    needsRoot: true,
  };
}
