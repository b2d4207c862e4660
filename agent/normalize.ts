// Normal forms shared by every parser: the one place that decides what counts as "unknown".
// Firmware fills empty fields with vendor boilerplate; a CMDB must see null, not "To Be Filled
// By O.E.M.", or every such machine collapses into one record.

/** Exact values (compared case-insensitively after trimming) that mean "no value". */
export const PLACEHOLDERS: readonly string[] = [
  "",
  "not specified",
  "not present",
  "not provided",
  "not available",
  "not applicable",
  "to be filled by o.e.m.",
  "to be filled by oem",
  "default string",
  "system serial number",
  "system product name",
  "system manufacturer",
  "system version",
  "base board serial number",
  "chassis serial number",
  "type1productconfigid",
  "type2 - board serial number",
  "0123456789",
  "1234567890",
  "123456789",
  "12345678",
  "serial number",
  "board serial number",
  "o.e.m.",
  "oem",
  "default",
  "$(default_string)",
  "invalid",
  "undefined",
  "none",
  "n/a",
  "unknown",
  "<bad index>",
  "<out of spec>",
  "not settable",
  "no asset tag",
  "no asset information",
  "asset-1234567890",
];

const PLACEHOLDER_SET = new Set(PLACEHOLDERS);
/** Values made only of 0, F, X, dots, dashes, asterisks, # or spaces (all-zero UUIDs too). */
const FILLER = /^[0fx.\-*#\s]*$/i;

/** Trim, collapse whitespace runs to one space, and turn placeholders into null. */
export function cleanString(value: string | null | undefined): string | null {
  if (value === null || value === undefined) return null;
  const collapsed = value.replace(/\s+/g, " ").trim();
  if (PLACEHOLDER_SET.has(collapsed.toLowerCase())) return null;
  if (FILLER.test(collapsed)) return null;
  return collapsed;
}

const UNIT_FACTORS: Record<string, number> = {
  b: 1,
  byte: 1,
  bytes: 1,
  k: 1024,
  kb: 1024,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1024 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1024 ** 3,
  gib: 1024 ** 3,
  t: 1024 ** 4,
  tb: 1024 ** 4,
  tib: 1024 ** 4,
  p: 1024 ** 5,
  pb: 1024 ** 5,
  pib: 1024 ** 5,
};

/**
 * dmidecode-style sizes ("129408 MB", "32 GB", "16384 kB") to bytes. These units are binary in
 * SMBIOS and /proc/meminfo, whatever their spelling. Returns null for anything else.
 */
export function parseBinarySize(value: string | null | undefined): number | null {
  if (!value) return null;
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-z]+)?\s*$/i.exec(value);
  if (!match?.[1]) return null;
  const factor = UNIT_FACTORS[(match[2] ?? "b").toLowerCase()];
  if (factor === undefined) return null;
  const bytes = Math.round(Number(match[1]) * factor);
  return Number.isSafeInteger(bytes) ? bytes : null;
}

/** MAC in any common spelling (aa-bb.., AABB.., aa:bb..) to lowercase colon form, else null. */
export function normalizeMac(value: string | null | undefined): string | null {
  if (!value) return null;
  const hex = value.trim().toLowerCase().replace(/[-:.]/g, "");
  if (!/^[0-9a-f]{12}$/.test(hex) && !/^[0-9a-f]{40}$/.test(hex)) return null;
  if (/^0+$/.test(hex) || /^f+$/.test(hex)) return null;
  return hex.match(/../g)?.join(":") ?? null;
}

/** UUID to lowercase canonical form; null when malformed or a filler (all 0 or all F). */
export function normalizeUuid(value: string | null | undefined): string | null {
  if (!value) return null;
  const hex = value.trim().toLowerCase().replace(/[-{}]/g, "");
  if (!/^[0-9a-f]{32}$/.test(hex)) return null;
  if (/^0+$/.test(hex) || /^f+$/.test(hex)) return null;
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** A non-negative integer from text ("18", " 3000 MHz" -> 3000), else null. */
export function parseCount(value: string | null | undefined): number | null {
  if (value === null || value === undefined) return null;
  const match = /^\s*(\d+)\b/.exec(String(value));
  if (!match?.[1]) return null;
  const n = Number(match[1]);
  return Number.isSafeInteger(n) ? n : null;
}

/** A dotted IPv4 address; 0.0.0.0 (unconfigured) and malformed values are null. */
export function normalizeIpv4(value: string | null | undefined): string | null {
  if (!value) return null;
  const trimmed = value.trim();
  const parts = trimmed.split(".");
  if (parts.length !== 4) return null;
  if (!parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255)) return null;
  if (trimmed === "0.0.0.0") return null;
  return parts.map((p) => String(Number(p))).join(".");
}
