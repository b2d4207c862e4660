// What every sysfs/procfs collector shares: reading one attribute at capture time, and reading
// the capture's JSON back defensively (a capture may come from anywhere: any value may be of any
// type). Each collector serialises what it read into one JSON capture file (net.ts, tpm.ts,
// numa.ts, efi.ts, pci-sysfs.ts, infiniband.ts, sysfs-storage.ts) so that replay reproduces it.
//
// The reads are synchronous on purpose: a sysfs attribute is a few bytes served from kernel
// memory, so a blocking read costs microseconds, while an asynchronous one costs four thread-pool
// round trips (open, fstat, read, close) that queue behind every process start and I/O callback.
// Under QEMU TCG on one vCPU that queueing made a walk of a few dozen files take 1-17 s, and the
// collector's duration measured the queue. Read at once, a walk's duration is its own time.
import { readdirSync, readFileSync } from "node:fs";

/** A sysfs attribute, trimmed; null when it cannot be read (absent, EINVAL while a link is down). */
export function readSysfsAttr(path: string): string | null {
  const text = readSysfsFile(path);
  return text === null ? null : text.trim();
}

/** A whole sysfs/procfs file as it is (multi-line ones: a node's meminfo); null when unreadable. */
export function readSysfsFile(path: string): string | null {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return null;
  }
}

/** A sysfs directory's entries, sorted; [] when it does not exist (no ports, no hugetlbfs). */
export function listSysfsDir(path: string): string[] {
  try {
    return readdirSync(path).sort();
  } catch {
    return [];
  }
}

/** A JSON object (not an array, not null) of a capture, else null. */
export function jsonRecord(value: unknown): Record<string, unknown> | null {
  return typeof value === "object" && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : null;
}

/** A JSON string of a capture, as it is, else null. */
export function jsonText(value: unknown): string | null {
  return typeof value === "string" ? value : null;
}

/** A sysfs decimal: digits only ("-1", "", "12 MB" are not counts), within safe integers. */
export function sysfsCount(value: unknown): number | null {
  if (typeof value !== "string" && typeof value !== "number") return null;
  const text = String(value).trim();
  if (!/^\d{1,18}$/.test(text)) return null;
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : null;
}
