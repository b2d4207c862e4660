// The per-node page at /node/<key>: the inventory rendered for a person (system, CPUs, DIMMs,
// disks, NICs with their switch port, BMC, FRU, collectors with times and messages), the node's
// event timeline, and its stored versions with what changed between them (a DIMM or disk serial
// that appeared or went, and the count of changed fields from diffDocuments). Rendered on the
// server with every value escaped; no script at all, and a CSP that allows only its style.

import { readFile } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import path from "node:path";
import { Inventory } from "../../schema/inventory.ts";
import {
  cspHash,
  detailText,
  escapeHtml,
  formatBytes,
  formatTime,
  listItem,
  type PageNode,
  problemsText,
  stateOf,
} from "./page.ts";
import { type DocumentChange, describeChanges, diffDocuments } from "./reparse.ts";
import { FILE_NAMES, type NodeStore } from "./store.ts";

/** One event of the node as the events store keeps it (events.ts); unknown fields are ignored. */
export interface NodeEvent {
  seq?: number;
  receivedAt: string;
  type: string;
  ip?: string | null;
  mac?: string | null;
  detail?: unknown;
}

/** A hardware part identified by its serial that is in one version and not in the next. */
export interface SerialChange {
  part: "DIMM" | "disk" | "NIC" | "PSU";
  serial: string;
  change: "appeared" | "went";
  /** Where it sits: DIMM locator, disk or NIC name. */
  where: string | null;
}

/** One stored version of the inventory, and how it differs from the version before it. */
export interface VersionEntry {
  /** File under history/, or null for the current inventory.json. */
  file: string | null;
  storedAt: string;
  bytes: number;
  /** Against the previous version; null for the oldest one (or one that cannot be read). */
  changes: DocumentChange[] | null;
  serials: SerialChange[];
}

/** At most this many versions are read and compared (the newest ones). */
export const MAX_VERSIONS = 20;

function parts(
  doc: unknown,
): { part: SerialChange["part"]; serial: string; where: string | null }[] {
  const d = (doc ?? {}) as Record<string, unknown>;
  const list = (value: unknown) =>
    Array.isArray(value) ? (value as Record<string, unknown>[]) : [];
  const text = (value: unknown) => (typeof value === "string" && value !== "" ? value : null);
  const out: { part: SerialChange["part"]; serial: string; where: string | null }[] = [];
  const add = (part: SerialChange["part"], serial: unknown, where: unknown) => {
    const s = text(serial);
    if (s !== null) out.push({ part, serial: s, where: text(where) });
  };
  const memory = (d.memory ?? {}) as Record<string, unknown>;
  for (const dimm of list(memory.dimms)) add("DIMM", dimm.serialNumber, dimm.locator);
  for (const disk of list(d.disks)) add("disk", disk.serialNumber, disk.name);
  for (const nic of list(d.nics)) add("NIC", nic.permanentMacAddress ?? nic.macAddress, nic.name);
  for (const psu of list(d.powerSupplies)) add("PSU", psu.serialNumber, psu.name);
  return out;
}

/** Serials (DIMM, disk, PSU; MAC for NICs) in `after` and not `before`, and the reverse. */
export function serialChanges(before: unknown, after: unknown): SerialChange[] {
  const a = parts(before);
  const b = parts(after);
  const id = (p: { part: string; serial: string }) => `${p.part}\u0000${p.serial}`;
  const inA = new Set(a.map(id));
  const inB = new Set(b.map(id));
  return [
    ...a.filter((p) => !inB.has(id(p))).map((p) => ({ ...p, change: "went" as const })),
    ...b.filter((p) => !inA.has(id(p))).map((p) => ({ ...p, change: "appeared" as const })),
  ];
}

async function readJson(file: string): Promise<unknown> {
  try {
    return JSON.parse(await readFile(file, "utf8"));
  } catch {
    return undefined;
  }
}

/** The node's inventory versions, newest first, each compared with the one stored before it. */
export async function nodeVersions(store: NodeStore, nodeId: string): Promise<VersionEntry[]> {
  const record = store.get(nodeId);
  const dir = store.nodeDir(nodeId);
  const older = (await store.history(nodeId)).filter((h) => h.kind === "inventory");
  const all = [
    ...older.map((h) => ({ file: h.file as string | null, storedAt: h.storedAt, bytes: h.bytes })),
    ...(record?.inventory
      ? [{ file: null, storedAt: record.inventory.storedAt, bytes: record.inventory.bytes }]
      : []),
  ].slice(-(MAX_VERSIONS + 1));
  const docs = await Promise.all(
    all.map((v) =>
      readJson(
        v.file === null ? path.join(dir, FILE_NAMES.inventory) : path.join(dir, "history", v.file),
      ),
    ),
  );
  const entries = all.map((v, i): VersionEntry => {
    const before = i > 0 ? docs[i - 1] : undefined;
    const after = docs[i];
    const comparable = before !== undefined && after !== undefined;
    return {
      ...v,
      changes: comparable ? diffDocuments(before, after) : null,
      serials: comparable ? serialChanges(before, after) : [],
    };
  });
  // The oldest one read only served as the base of the next comparison when the cap applied.
  return (all.length > MAX_VERSIONS ? entries.slice(1) : entries).reverse();
}

export interface NodePageData {
  key: string;
  item: PageNode | null;
  /** The current document as stored; null when there is none or it no longer validates. */
  document: Inventory | null;
  /** Why document is null although an inventory is stored. */
  documentProblem: string | null;
  versions: VersionEntry[];
  /** null: the master keeps no events (yet). */
  events: NodeEvent[] | null;
  hasEvidence: boolean;
}

const STYLE = `
*{box-sizing:border-box}
body{font:13px/1.4 system-ui,sans-serif;margin:0 1rem 2rem;color:#1b1b1b;background:#fafafa;max-width:1400px}
header{display:flex;align-items:baseline;gap:1rem;padding:.6rem 0 .3rem;flex-wrap:wrap}
h1{font-size:1.35rem;margin:0;font-family:ui-monospace,monospace}
h2{font-size:1.05rem;margin:1.1rem 0 .3rem;border-bottom:1px solid #ddd}
nav a{margin-right:.9rem}
.st{display:inline-block;padding:0 .45rem;border-radius:3px;color:#fff;font-weight:600;background:#555}
.st-dhcp{background:#7a8793}.st-booting{background:#1a5fb4}.st-agent{background:#6f3fb4}
.st-reported{background:#2b8a3e}.st-powered-off{background:#3d4a3f}.st-stalled{background:#d9730d}.st-failed{background:#c01c28}
.problems{color:#b00020;font-weight:600}
dl.facts{display:grid;grid-template-columns:repeat(3,max-content 1fr);gap:.15rem .8rem;margin:.3rem 0}
dl.facts dt{color:#555}
dl.facts dd{margin:0;font-family:ui-monospace,monospace;overflow-wrap:anywhere}
table{border-collapse:collapse;background:#fff;width:100%;margin:.2rem 0}
th,td{border-bottom:1px solid #e3e3e3;padding:.18rem .4rem;text-align:left;vertical-align:top;overflow-wrap:anywhere}
th{background:#eef1f5}
tr.bad td{background:#fdecee;color:#8a0010}
.went{color:#b00020;font-weight:600}
.appeared{color:#1f6f33;font-weight:600}
.muted{color:#777}
table.versions td:nth-child(-n+3){white-space:nowrap}
`;

/** Sent with the node page: no script at all, only its style. */
export const NODE_PAGE_CSP = [
  "default-src 'none'",
  `style-src ${cspHash(STYLE)}`,
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

type Cell = string | number | boolean | null | undefined;

function cellText(value: Cell): string {
  if (value === null || value === undefined) return "";
  if (typeof value === "boolean") return value ? "yes" : "no";
  return String(value);
}

function table(head: string[], rows: Cell[][], bad: (i: number) => boolean = () => false): string {
  if (rows.length === 0) return `<p class="muted">none</p>`;
  const th = head.map((h) => `<th scope="col">${escapeHtml(h)}</th>`).join("");
  const body = rows
    .map((row, i) => {
      const tds = row.map((v) => `<td>${escapeHtml(cellText(v))}</td>`).join("");
      return `<tr${bad(i) ? ' class="bad"' : ""}>${tds}</tr>`;
    })
    .join("\n");
  return `<table><thead><tr>${th}</tr></thead><tbody>\n${body}\n</tbody></table>`;
}

function facts(pairs: [string, Cell][]): string {
  return `<dl class="facts">${pairs
    .map(([k, v]) => `<dt>${escapeHtml(k)}</dt><dd>${escapeHtml(cellText(v))}</dd>`)
    .join("")}</dl>`;
}

const bytes = (value: number | null) => (value === null ? null : formatBytes(value));

function inventorySections(doc: Inventory): string {
  const out: string[] = [];
  out.push(
    "<h2>System</h2>",
    facts([
      ["Manufacturer", doc.system.manufacturer],
      ["Product", doc.system.productName],
      ["Serial", doc.system.serialNumber],
      ["UUID", doc.system.uuid],
      ["SKU", doc.system.sku],
      ["Hostname", doc.hostname],
      [
        "Baseboard",
        [doc.baseboard.manufacturer, doc.baseboard.productName].filter(Boolean).join(" "),
      ],
      ["Baseboard serial", doc.baseboard.serialNumber],
      ["Chassis serial", doc.chassis.serialNumber],
      ["BIOS", [doc.bios.vendor, doc.bios.version].filter(Boolean).join(" ")],
      ["Boot MAC", doc.boot.bootMac],
      ["nodeId from", doc.nodeIdSource],
      ["Collected", formatTime(doc.collectedAt)],
      ["Agent", `${doc.agent.name} ${doc.agent.version}`],
      ["Schema", doc.schemaVersion],
    ]),
  );
  out.push(
    "<h2>CPUs</h2>",
    facts([
      ["Model", doc.cpu.model],
      ["Sockets", doc.cpu.sockets],
      ["Cores per socket", doc.cpu.coresPerSocket],
      ["Logical CPUs", doc.cpu.logicalCpus],
      ["Architecture", doc.cpu.architecture],
    ]),
    table(
      ["Socket", "Model", "Cores", "Threads", "Max MHz"],
      doc.processors.map((p) => [p.socket, p.model, p.cores, p.threads, p.maxSpeedMhz]),
    ),
  );
  const m = doc.memory;
  out.push(
    `<h2>Memory: ${escapeHtml(cellText(bytes(m.totalBytes)))} in ${m.dimms.length} of ${escapeHtml(cellText(m.slots))} slots</h2>`,
    table(
      ["Locator", "Size", "Type", "Speed MT/s", "Manufacturer", "Serial", "Part number"],
      m.dimms.map((d) => [
        d.locator,
        bytes(d.sizeBytes),
        d.type,
        d.configuredSpeedMts ?? d.speedMts,
        d.manufacturer,
        d.serialNumber,
        d.partNumber,
      ]),
    ),
  );
  out.push(
    `<h2>Disks (${doc.disks.length})</h2>`,
    table(
      ["Name", "Size", "Model", "Serial", "Rotational", "Firmware", "SMART passed"],
      doc.disks.map((d) => [
        d.name,
        bytes(d.sizeBytes),
        [d.vendor, d.model].filter(Boolean).join(" "),
        d.serialNumber,
        d.rotational,
        d.firmwareVersion,
        d.smartPassed,
      ]),
      (i) => doc.disks[i]?.smartPassed === false,
    ),
  );
  out.push(
    `<h2>NICs (${doc.nics.length})</h2>`,
    table(
      ["Name", "MAC", "Driver", "Speed Mb/s", "Link", "IPv4", "Switch", "Switch port", "VLAN"],
      doc.nics.map((n) => [
        n.name,
        n.permanentMacAddress ?? n.macAddress,
        n.driver,
        n.speedMbps,
        n.linkUp,
        n.ipv4.join(" "),
        n.lldp?.systemName ?? n.lldp?.chassisId,
        n.lldp ? [n.lldp.portId, n.lldp.portDescription].filter(Boolean).join(" · ") : null,
        n.lldp?.vlanId,
      ]),
    ),
  );
  const b = doc.bmc;
  out.push(
    "<h2>BMC</h2>",
    b === null
      ? `<p class="muted">no BMC found</p>`
      : facts([
          ["IPv4", b.ipv4Address],
          ["Source", b.ipv4Source],
          ["MAC", b.macAddress],
          ["Netmask", b.netmask],
          ["Gateway", b.gateway],
          ["VLAN", b.vlanId],
          ["Manufacturer", b.manufacturerName],
          ["Firmware", b.firmwareVersion],
          ["IPMI", b.ipmiVersion],
          ["Users", (b.users ?? []).map((u) => u.name).join(", ")],
        ]),
  );
  out.push(
    "<h2>FRU</h2>",
    table(
      ["Id", "Name", "Board", "Board serial", "Product", "Product serial", "Chassis serial"],
      doc.fru.map((f) => [
        f.id,
        f.name,
        [f.boardManufacturer, f.boardProduct].filter(Boolean).join(" "),
        f.boardSerial,
        [f.productManufacturer, f.productName].filter(Boolean).join(" "),
        f.productSerial,
        f.chassisSerial,
      ]),
    ),
  );
  if (doc.powerSupplies.length > 0) {
    out.push(
      "<h2>Power supplies</h2>",
      table(
        ["Name", "Manufacturer", "Model", "Serial", "Max W", "Status"],
        doc.powerSupplies.map((p) => [
          p.name,
          p.manufacturer,
          p.modelPartNumber,
          p.serialNumber,
          p.maxPowerWatts,
          p.status,
        ]),
      ),
    );
  }
  const warnings = doc.warnings ?? [];
  if (warnings.length > 0) {
    out.push(
      `<h2 class="problems">Warnings (${warnings.length})</h2>`,
      table(
        ["Code", "Message"],
        warnings.map((w) => [w.code, w.message]),
        () => true,
      ),
    );
  }
  out.push(
    "<h2>Collectors</h2>",
    table(
      ["Collector", "Status", "Time ms", "Command", "Exit", "Message"],
      doc.collectors.map((c) => [
        c.name,
        c.status,
        Math.round(c.durationMs),
        c.command,
        c.exitCode,
        c.message,
      ]),
      (i) => ["failed", "timeout"].includes(doc.collectors[i]?.status ?? ""),
    ),
  );
  return out.join("\n");
}

function versionsSection(key: string, versions: VersionEntry[]): string {
  if (versions.length === 0) return `<h2>Versions</h2><p class="muted">none stored</p>`;
  const base = `/nodes/${encodeURIComponent(key)}`;
  const rows = versions
    .map((v) => {
      const href =
        v.file === null
          ? `/api/v1/nodes/${encodeURIComponent(key)}/inventory`
          : `${base}/history/${encodeURIComponent(v.file)}`;
      const name = v.file ?? `${FILE_NAMES.inventory} (current)`;
      const serials = v.serials
        .map(
          (s) =>
            `<span class="${s.change}">${escapeHtml(`${s.part} ${s.serial}${s.where ? ` (${s.where})` : ""} ${s.change}`)}</span>`,
        )
        .join("<br>");
      const changes = v.changes === null ? "first version" : describeChanges(v.changes, 4);
      return `<tr><td>${escapeHtml(formatTime(v.storedAt))}</td><td><a href="${escapeHtml(href)}">${escapeHtml(name)}</a></td><td>${formatBytes(v.bytes)}</td><td class="serials">${serials}</td><td>${escapeHtml(changes)}</td></tr>`;
    })
    .join("\n");
  return `<h2>Versions (${versions.length}, newest first)</h2>
<table class="versions"><thead><tr><th>Stored (UTC)</th><th>File</th><th>Size</th><th>Parts that appeared or went</th><th>Fields changed since the version before</th></tr></thead><tbody>
${rows}
</tbody></table>`;
}

function eventsSection(events: NodeEvent[] | null): string {
  if (events === null) return `<h2>Events</h2><p class="muted">this master keeps no events</p>`;
  return `<h2>Events (${events.length})</h2>${table(
    ["Received (UTC)", "Event", "Detail", "IP", "MAC"],
    events.map((e) => [formatTime(e.receivedAt), e.type, detailText(e.detail), e.ip, e.mac]),
    (i) => ["error", "spooled"].includes(events[i]?.type ?? ""),
  )}`;
}

export function renderNodePage(data: NodePageData): string {
  const key = data.key;
  const api = `/api/v1/nodes/${encodeURIComponent(key)}`;
  const links = [
    `<a href="/">&larr; all nodes</a>`,
    data.item?.inventory ? `<a href="${escapeHtml(`${api}/inventory`)}">inventory.json</a>` : "",
    data.hasEvidence ? `<a href="${escapeHtml(`${api}/evidence`)}">evidence.tar.gz</a>` : "",
    data.item?.inventory ? `<a href="${escapeHtml(api)}">JSON (API)</a>` : "",
  ].join("");
  const state = data.item ? stateOf(data.item) : null;
  const problems = data.item ? problemsText(data.item) : "";
  const body = data.document
    ? inventorySections(data.document)
    : `<p class="muted">${escapeHtml(data.documentProblem ?? "No inventory stored yet.")}</p>`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(key)} · recon master</title>
<style>${STYLE}</style>
</head>
<body>
<header><h1>${escapeHtml(key)}</h1>${state ? `<span class="st st-${escapeHtml(state)}">${escapeHtml(state)}</span>` : ""}<span class="problems">${escapeHtml(problems)}</span><nav>${links}</nav></header>
${body}
${eventsSection(data.events)}
${versionsSection(key, data.versions)}
</body>
</html>
`;
}

/** Everything the node page shows; null when the master knows nothing of this key. */
export async function nodePageData(
  store: NodeStore,
  key: string,
  extra: { item?: PageNode | null; events?: NodeEvent[] | null } = {},
): Promise<NodePageData | null> {
  const record = store.get(key);
  const events = extra.events ?? null;
  if (!record && !extra.item && (events === null || events.length === 0)) return null;
  const item = extra.item ?? (record?.inventory ? listItem(record) : null);
  let document: Inventory | null = null;
  let documentProblem: string | null = null;
  if (record?.inventory) {
    const data = await store.readInventory(key);
    const parsed = data === null ? null : Inventory.safeParse(parseOrNull(data));
    if (parsed?.success) document = parsed.data;
    else documentProblem = "The stored inventory.json no longer satisfies the schema.";
  }
  return {
    key,
    item,
    document,
    documentProblem,
    versions: record?.inventory ? await nodeVersions(store, key) : [],
    events,
    hasEvidence: record?.evidence != null,
  };
}

function parseOrNull(data: Buffer): unknown {
  try {
    return JSON.parse(data.toString("utf8"));
  } catch {
    return null;
  }
}

/** Answers GET/HEAD /node/<key> (the caller has checked the method and decoded the key). */
export async function sendNodePage(
  req: IncomingMessage,
  res: ServerResponse,
  store: NodeStore,
  key: string,
  extra: { item?: PageNode | null; events?: NodeEvent[] | null } = {},
): Promise<void> {
  const data = await nodePageData(store, key, extra);
  const html =
    data === null
      ? `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>not found</title><style>${STYLE}</style></head><body><p>No node ${escapeHtml(key)} is known. <a href="/">All nodes</a></p></body></html>\n`
      : renderNodePage(data);
  res.writeHead(data === null ? 404 : 200, {
    "Content-Type": "text/html; charset=utf-8",
    "Content-Length": Buffer.byteLength(html),
    "Cache-Control": "no-store",
    "Content-Security-Policy": NODE_PAGE_CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
  });
  res.end(req.method === "HEAD" ? undefined : html);
}
