// CSV export: one row per node in nodes.csv, and dimms.csv, disks.csv, nics.csv, psus.csv keyed
// by nodeId. RFC 4180: CRLF line ends, a header line, fields with a comma, quote, CR or LF are
// quoted and quotes doubled. Unknown is an empty cell, never a placeholder: every text value
// goes through cleanString again (documents from elsewhere may not have been cleaned).
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Inventory } from "../../schema/inventory.ts";
import { ERROR_CODES, ReconError } from "../errors.ts";
import { makeDirectory } from "../fs.ts";
import { cleanString } from "../normalize.ts";
import { errorText } from "./source.ts";
import type { ExportSession, ExportTarget } from "./target.ts";

export type Cell = string | number | boolean | null;

export interface CsvTable {
  file: string;
  header: readonly string[];
  rows(doc: Inventory): Cell[][];
}

const t = cleanString;

export const CSV_TABLES: readonly CsvTable[] = [
  {
    file: "nodes.csv",
    header: [
      "nodeId",
      "systemUuid",
      "serial",
      "manufacturer",
      "product",
      "cpuModel",
      "cpuSockets",
      "logicalCpus",
      "memoryBytes",
      "diskCount",
      "diskBytes",
      "nicCount",
      "bmcIpv4",
      "bmcMac",
      "bootMac",
      "collectedAt",
    ],
    rows: (d) => [
      [
        d.nodeId,
        d.system.uuid,
        t(d.system.serialNumber),
        t(d.system.manufacturer),
        t(d.system.productName),
        t(d.cpu.model ?? d.processors[0]?.model ?? null),
        d.cpu.sockets ?? (d.processors.length > 0 ? d.processors.length : null),
        d.cpu.logicalCpus,
        d.memory.totalBytes,
        d.disks.length,
        diskBytes(d),
        d.nics.length,
        d.bmc?.ipv4Address ?? null,
        d.bmc?.macAddress ?? null,
        d.boot.bootMac,
        d.collectedAt,
      ],
    ],
  },
  {
    file: "dimms.csv",
    header: [
      "nodeId",
      "locator",
      "bankLocator",
      "sizeBytes",
      "type",
      "formFactor",
      "speedMts",
      "configuredSpeedMts",
      "manufacturer",
      "serialNumber",
      "partNumber",
      "persistent",
    ],
    rows: (d) =>
      d.memory.dimms.map((m) => [
        d.nodeId,
        t(m.locator),
        t(m.bankLocator),
        m.sizeBytes,
        t(m.type),
        t(m.formFactor),
        m.speedMts,
        m.configuredSpeedMts,
        t(m.manufacturer),
        t(m.serialNumber),
        t(m.partNumber),
        m.persistent,
      ]),
  },
  {
    file: "disks.csv",
    header: [
      "nodeId",
      "name",
      "sizeBytes",
      "model",
      "vendor",
      "serialNumber",
      "wwn",
      "transport",
      "rotational",
      "firmwareVersion",
      "smartPassed",
      "powerOnHours",
    ],
    rows: (d) =>
      d.disks.map((k) => [
        d.nodeId,
        k.name,
        k.sizeBytes,
        t(k.model),
        t(k.vendor),
        t(k.serialNumber),
        t(k.wwn),
        k.transport,
        k.rotational,
        t(k.firmwareVersion),
        k.smartPassed,
        k.powerOnHours,
      ]),
  },
  {
    file: "nics.csv",
    header: [
      "nodeId",
      "name",
      "macAddress",
      "permanentMacAddress",
      "driver",
      "pciAddress",
      "speedMbps",
      "linkUp",
      "mtu",
      "ipv4",
      "ipv6",
      "lldpSystemName",
      "lldpPortId",
    ],
    rows: (d) =>
      d.nics.map((n) => [
        d.nodeId,
        n.name,
        n.macAddress,
        n.permanentMacAddress,
        n.driver,
        n.pciAddress,
        n.speedMbps,
        n.linkUp,
        n.mtu,
        n.ipv4.join(" ") || null,
        n.ipv6.join(" ") || null,
        t(n.lldp?.systemName ?? null),
        t(n.lldp?.portId ?? null),
      ]),
  },
  {
    file: "psus.csv",
    header: [
      "nodeId",
      "name",
      "location",
      "manufacturer",
      "serialNumber",
      "modelPartNumber",
      "maxPowerWatts",
      "status",
    ],
    rows: (d) =>
      d.powerSupplies.map((p) => [
        d.nodeId,
        t(p.name),
        t(p.location),
        t(p.manufacturer),
        t(p.serialNumber),
        t(p.modelPartNumber),
        p.maxPowerWatts,
        t(p.status),
      ]),
  },
];

/** Sum of known disk sizes; null when no disk size is known. */
function diskBytes(doc: Inventory): number | null {
  const sizes = doc.disks.map((d) => d.sizeBytes).filter((s): s is number => s !== null);
  return sizes.length === 0 ? null : sizes.reduce((a, b) => a + b, 0);
}

/** One RFC 4180 field. */
export function csvField(value: Cell): string {
  if (value === null) return "";
  const text = String(value);
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** One record, CRLF-terminated. */
export function csvLine(cells: readonly Cell[]): string {
  return `${cells.map(csvField).join(",")}\r\n`;
}

/** The rows of every table for one document (pure). */
export function csvRows(doc: Inventory): Map<string, Cell[][]> {
  return new Map(CSV_TABLES.map((table) => [table.file, table.rows(doc)]));
}

/** Whole files for a set of documents (pure): file name -> contents. */
export function csvFiles(docs: readonly Inventory[]): Map<string, string> {
  const files = new Map<string, string>();
  for (const table of CSV_TABLES) {
    const parts = [csvLine(table.header)];
    for (const doc of docs) for (const row of table.rows(doc)) parts.push(csvLine(row));
    files.set(table.file, parts.join(""));
  }
  return files;
}

export const csvTarget: ExportTarget = {
  name: "csv",
  summary: "nodes.csv, dimms.csv, disks.csv, nics.csv, psus.csv (RFC 4180) for a spreadsheet",
  help: `Writes ${CSV_TABLES.map((x) => x.file).join(", ")} into --out DIR (one header line each,
CRLF line ends, RFC 4180 quoting, unknown values as empty cells). Rows of the child tables are
keyed by nodeId. --url does not apply. --dry-run prints the row counts per node and writes
nothing.`,
  options: {},
  async start(context): Promise<ExportSession> {
    if (context.url !== null || context.token !== null) {
      throw new ReconError(
        ERROR_CODES.USAGE,
        "csv sends nothing (no --url, --token-file): use --out DIR",
      );
    }
    if (context.out === null && !context.dryRun) {
      throw new ReconError(ERROR_CODES.USAGE, "csv needs --out DIR (or --dry-run)");
    }
    const out = context.out;
    const parts = new Map(CSV_TABLES.map((x) => [x.file, [csvLine(x.header)]]));
    return {
      async node(doc) {
        const counts: string[] = [];
        for (const [file, rows] of csvRows(doc)) {
          if (file !== "nodes.csv") counts.push(`${rows.length} ${file.replace(".csv", "")}`);
          parts.get(file)?.push(...rows.map(csvLine));
        }
        return {
          outcome: context.dryRun ? "planned" : "written",
          detail: `1 node row, ${counts.join(", ")}`,
        };
      },
      async finish() {
        if (context.dryRun || out === null) return;
        try {
          await makeDirectory(out);
          for (const [file, lines] of parts) await writeFile(join(out, file), lines.join(""));
        } catch (error) {
          throw new ReconError(
            ERROR_CODES.IO,
            `cannot write CSV into ${out}: ${errorText(error)}`,
            {
              cause: error,
            },
          );
        }
      },
    };
  },
};
