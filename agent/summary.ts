// The short human summary printed by `recon-agent --dry-run --out ...` and used in logs.
import type { Inventory } from "../schema/inventory.ts";

const GIB = 1024 ** 3;

export function formatBytes(bytes: number | null): string {
  if (bytes === null) return "unknown";
  if (bytes >= 1024 ** 4) return `${(bytes / 1024 ** 4).toFixed(1)} TiB`;
  if (bytes >= GIB) return `${(bytes / GIB).toFixed(bytes % GIB === 0 ? 0 : 1)} GiB`;
  return `${Math.round(bytes / 1024 ** 2)} MiB`;
}

/** What a reader should know about the weaker ids (schema/README.md, "Identity"). */
const IDENTITY_CAVEATS: Partial<Record<Inventory["nodeIdSource"], string>> = {
  fingerprint: ": no UUID, serial or burnt-in MAC; changes when the hardware does",
  random: ": nothing stable found; a new id on every run",
};

const orUnknown = (...parts: Array<string | null>) => parts.filter(Boolean).join(" ") || "unknown";

export function summarize(doc: Inventory): string {
  const cpuModels = [...new Set(doc.processors.map((p) => p.model).filter(Boolean))];
  const cores = doc.processors.reduce((n, p) => n + (p.cores ?? 0), 0);
  const counts = new Map<string, number>();
  for (const c of doc.collectors) counts.set(c.status, (counts.get(c.status) ?? 0) + 1);
  const problems = doc.collectors
    .filter((c) => c.status === "failed" || c.status === "timeout")
    .map((c) => `${c.name} (${c.message ?? c.status})`);
  const lines = [
    `node       ${doc.nodeId} (from ${doc.nodeIdSource}${IDENTITY_CAVEATS[doc.nodeIdSource] ?? ""})`,
    `system     ${orUnknown(doc.system.manufacturer, doc.system.productName)}, serial ${doc.system.serialNumber ?? "unknown"}`,
    `cpu        ${
      doc.processors.length > 0
        ? `${doc.processors.length} x ${cpuModels.join(", ") || "unknown model"} (${cores} cores)`
        : orUnknown(
            doc.cpu.model,
            doc.cpu.logicalCpus === null ? null : `(${doc.cpu.logicalCpus} logical)`,
          )
    }`,
    `memory     ${formatBytes(doc.memory.totalBytes)} in ${doc.memory.dimms.length} of ${doc.memory.slots ?? "?"} slots (OS sees ${formatBytes(doc.memory.osVisibleBytes)})`,
    `disks      ${doc.disks.length}${doc.disks.length ? `: ${doc.disks.map((d) => `${d.name} ${formatBytes(d.sizeBytes)}`).join(", ")}` : ""}`,
    `nics       ${doc.nics.length}${doc.nics.length ? `: ${doc.nics.map((n) => `${n.name} ${n.macAddress ?? "?"}`).join(", ")}` : ""}`,
    `pci        ${doc.pciDevices.length} devices`,
    `bmc        ${doc.bmc ? `${doc.bmc.ipv4Address ?? "no address"}${doc.bmc.channel === null ? "" : ` (LAN channel ${doc.bmc.channel})`}` : "none found"}`,
    `collectors ${[...counts].map(([s, n]) => `${n} ${s}`).join(", ")}`,
  ];
  if (problems.length > 0) lines.push(`problems   ${problems.join("; ")}`);
  return `${lines.join("\n")}\n`;
}
