// What every sysfs/procfs collector shares: reading one attribute at capture time, and reading
// the capture's JSON back defensively (a capture may come from anywhere: any value may be of any
// type). Each collector serialises what it read into one JSON capture file (net.ts, tpm.ts,
// numa.ts, efi.ts, pci-sysfs.ts, infiniband.ts, sysfs-storage.ts) so that replay reproduces it.
import { readdir, readFile } from "node:fs/promises";

/** A sysfs attribute, trimmed; null when it cannot be read (absent, EINVAL while a link is down). */
export async function readSysfsAttr(path: string): Promise<string | null> {
  const text = await readSysfsFile(path);
  return text === null ? null : text.trim();
}

/** A whole sysfs/procfs file as it is (multi-line ones: a node's meminfo); null when unreadable. */
export async function readSysfsFile(path: string): Promise<string | null> {
  try {
    return await readFile(path, "utf8");
  } catch {
    return null;
  }
}

/** A sysfs directory's entries, sorted; [] when it does not exist (no ports, no hugetlbfs). */
export async function listSysfsDir(path: string): Promise<string[]> {
  try {
    return (await readdir(path)).sort();
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
