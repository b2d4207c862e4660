// The status page at "/": one table of nodes with counts, rendered on the server and refreshed by
// a small inline script that polls GET /api/v1/nodes and rebuilds the rows with textContent.
// Every value comes from the network, so the server escapes it and the script never uses
// innerHTML; a Content-Security-Policy with the hashes of the inline script and style backs that.
import { createHash } from "node:crypto";
import { DOWNLOAD_LINKS } from "./downloads.ts";
import type { NodeRecord } from "./store.ts";

/** Seconds between refreshes of the status page. */
export const REFRESH_SECONDS = 3;

/** One row of GET /api/v1/nodes (also what the page shows). */
export interface NodeListItem {
  nodeId: string;
  hostname: string | null;
  serial: string | null;
  manufacturer: string | null;
  product: string | null;
  /** Display form, e.g. "2 × Intel(R) Xeon(R) Gold 6130 CPU @ 2.10GHz, 64 threads". */
  cpu: string | null;
  cpuModel: string | null;
  cpuSockets: number | null;
  logicalCpus: number | null;
  /** Display form, e.g. "384 GiB in 12 DIMMs". */
  memory: string | null;
  memoryBytes: number | null;
  bmcAddress: string | null;
  bootMac: string | null;
  collectedAt: string | null;
  lastReportAt: string | null;
  inventory: { sha256: string | null; bytes: number; storedAt: string } | null;
  evidence: { sha256: string | null; bytes: number; storedAt: string } | null;
  /**
   * Documents uploaded under this nodeId that describe other hardware (another system serial or
   * UUID, or no MAC in common), kept apart in conflicts/ instead of replacing this one.
   */
  conflicts: number;
}

export interface NodeList {
  count: number;
  withEvidence: number;
  generatedAt: string;
  nodes: NodeListItem[];
  /** Nodes that uploaded evidence but no inventory yet: kept, not listed as nodes. */
  evidenceWithoutInventory: number;
}

export function formatBytes(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  const text = unit === 0 || value >= 100 ? Math.round(value).toString() : value.toFixed(1);
  return `${text.replace(/\.0$/, "")} ${units[unit]}`;
}

function cpuText(record: NodeRecord): string | null {
  const s = record.summary;
  if (!s || (s.cpuModel === null && s.logicalCpus === null)) return null;
  const parts: string[] = [];
  const model = s.cpuModel ?? "unknown CPU";
  parts.push(s.cpuSockets !== null && s.cpuSockets > 1 ? `${s.cpuSockets} × ${model}` : model);
  if (s.logicalCpus !== null) parts.push(`${s.logicalCpus} threads`);
  return parts.join(", ");
}

function memoryText(record: NodeRecord): string | null {
  const s = record.summary;
  if (!s || s.memoryBytes === null) return null;
  const dimms = s.dimms > 0 ? ` in ${s.dimms} DIMM${s.dimms === 1 ? "" : "s"}` : "";
  return `${formatBytes(s.memoryBytes)}${dimms}`;
}

export function listItem(record: NodeRecord): NodeListItem {
  const s = record.summary;
  return {
    nodeId: record.nodeId,
    hostname: s?.hostname ?? null,
    serial: s?.serial ?? null,
    manufacturer: s?.manufacturer ?? null,
    product: s?.product ?? null,
    cpu: cpuText(record),
    cpuModel: s?.cpuModel ?? null,
    cpuSockets: s?.cpuSockets ?? null,
    logicalCpus: s?.logicalCpus ?? null,
    memory: memoryText(record),
    memoryBytes: s?.memoryBytes ?? null,
    bmcAddress: s?.bmcAddress ?? null,
    bootMac: s?.bootMac ?? null,
    collectedAt: s?.collectedAt ?? null,
    lastReportAt: record.lastSeenAt,
    inventory: record.inventory ? { ...record.inventory } : null,
    evidence: record.evidence ? { ...record.evidence } : null,
    conflicts: record.conflicts,
  };
}

export function nodeList(records: NodeRecord[], evidenceWithoutInventory = 0): NodeList {
  const nodes = records.map(listItem);
  return {
    count: nodes.length,
    withEvidence: nodes.filter((n) => n.evidence !== null).length,
    generatedAt: new Date().toISOString(),
    nodes,
    evidenceWithoutInventory,
  };
}

export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** "2024-05-01T10:20:30.123Z" -> "2024-05-01 10:20:30Z" (same rule in the page script). */
export function formatTime(iso: string | null): string {
  return iso === null ? "" : iso.replace("T", " ").replace(/\.\d+Z$/, "Z");
}

/** The cells of one row, as plain text, in column order. Shared by server and script. */
function cells(n: NodeListItem): string[] {
  const product = [n.manufacturer, n.product].filter((v) => v !== null).join(" ");
  return [
    n.nodeId,
    n.hostname ?? "",
    n.serial ?? "",
    product,
    n.cpu ?? "",
    n.memory ?? "",
    n.bmcAddress ?? "",
    formatTime(n.lastReportAt),
    n.evidence ? `yes (${formatBytes(n.evidence.bytes)})` : "no",
  ];
}

const COLUMNS = [
  "Node",
  "Hostname",
  "Serial",
  "Product",
  "CPU",
  "Memory",
  "BMC",
  "Last report (UTC)",
  "Evidence",
];

const STYLE = `
body{font:14px/1.4 system-ui,sans-serif;margin:1.5rem;color:#1b1b1b;background:#fafafa}
h1{font-size:1.4rem;margin:0 0 .3rem}
p.counts{margin:.2rem 0 1rem;font-size:1.05rem}
p.counts span{font-weight:600}
#status{color:#666;font-size:.85rem;margin-left:1rem}
#status.stale{color:#b00020;font-weight:600}
table{border-collapse:collapse;width:100%;background:#fff}
th,td{border:1px solid #ddd;padding:.35rem .55rem;text-align:left;vertical-align:top}
th{background:#eef1f5;position:sticky;top:0}
tbody tr:nth-child(even){background:#f6f8fa}
td.node{font-family:ui-monospace,monospace;font-weight:600}
td:nth-child(1),td:nth-child(3),td:nth-child(7),td:nth-child(8),td:nth-child(9){white-space:nowrap}
td.ev-no{color:#b00020}
td.empty{color:#888;font-style:italic}
p.downloads{margin:1rem 0 0}
p.downloads a{margin-right:1rem}
`;

// Plain ES2017 so any browser on the provisioning laptop runs it; textContent only.
const SCRIPT = `
(function () {
  "use strict";
  var REFRESH_MS = ${REFRESH_SECONDS * 1000};
  var tbody = document.getElementById("nodes");
  var total = document.getElementById("count");
  var withEvidence = document.getElementById("with-evidence");
  var status = document.getElementById("status");
  function units(bytes) {
    var u = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"], v = bytes, i = 0;
    while (v >= 1024 && i < u.length - 1) { v /= 1024; i++; }
    var t = i === 0 || v >= 100 ? String(Math.round(v)) : v.toFixed(1);
    return t.replace(/\\.0$/, "") + " " + u[i];
  }
  function time(iso) { return iso ? iso.replace("T", " ").replace(/\\.\\d+Z$/, "Z") : ""; }
  function row(n) {
    var product = [n.manufacturer, n.product].filter(function (v) { return v !== null; }).join(" ");
    var values = [n.nodeId, n.hostname || "", n.serial || "", product, n.cpu || "", n.memory || "",
      n.bmcAddress || "", time(n.lastReportAt), n.evidence ? "yes (" + units(n.evidence.bytes) + ")" : "no"];
    var tr = document.createElement("tr");
    tr.setAttribute("data-node-id", n.nodeId);
    values.forEach(function (v, i) {
      var td = document.createElement("td");
      td.textContent = v;
      if (i === 0) td.className = "node";
      if (i === 8 && !n.evidence) td.className = "ev-no";
      tr.appendChild(td);
    });
    return tr;
  }
  function render(data) {
    var rows = document.createDocumentFragment();
    data.nodes.forEach(function (n) { rows.appendChild(row(n)); });
    if (data.nodes.length === 0) {
      var tr = document.createElement("tr"), td = document.createElement("td");
      td.colSpan = ${COLUMNS.length}; td.className = "empty"; td.textContent = "No node has reported yet.";
      tr.appendChild(td); rows.appendChild(tr);
    }
    tbody.replaceChildren(rows);
    total.textContent = String(data.count);
    withEvidence.textContent = String(data.withEvidence);
  }
  function refresh() {
    fetch("/api/v1/nodes", { cache: "no-store" })
      .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
      .then(function (data) {
        render(data);
        status.className = "";
        status.textContent = "updated " + new Date().toLocaleTimeString();
      })
      .catch(function () {
        status.className = "stale";
        status.textContent = "master unreachable, retrying";
      })
      .then(function () { setTimeout(refresh, REFRESH_MS); });
  }
  setTimeout(refresh, REFRESH_MS);
})();
`;

function cspHash(text: string): string {
  return `'sha256-${createHash("sha256").update(text, "utf8").digest("base64")}'`;
}

/** Sent with the page: only the inline script and style above may run. */
export const PAGE_CSP = [
  "default-src 'none'",
  `script-src ${cspHash(SCRIPT)}`,
  `style-src ${cspHash(STYLE)}`,
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

export function renderPage(list: NodeList): string {
  // Fixed paths and labels, escaped anyway like every other value on the page.
  const downloadLinks = DOWNLOAD_LINKS.map(
    (d) => `<a href="${escapeHtml(d.path)}" download>${escapeHtml(d.label)}</a>`,
  ).join(" ");
  const rows =
    list.nodes.length === 0
      ? `<tr><td colspan="${COLUMNS.length}" class="empty">No node has reported yet.</td></tr>`
      : list.nodes
          .map((n) => {
            const tds = cells(n)
              .map((value, i) => {
                const cls =
                  i === 0
                    ? ' class="node"'
                    : i === 8 && n.evidence === null
                      ? ' class="ev-no"'
                      : "";
                return `<td${cls}>${escapeHtml(value)}</td>`;
              })
              .join("");
            return `<tr data-node-id="${escapeHtml(n.nodeId)}">${tds}</tr>`;
          })
          .join("\n");
  const head = COLUMNS.map((c) => `<th scope="col">${escapeHtml(c)}</th>`).join("");
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>recon master</title>
<style>${STYLE}</style>
</head>
<body>
<h1>recon master</h1>
<p class="counts">Nodes reported: <span id="count">${list.count}</span> &middot; with evidence: <span id="with-evidence">${list.withEvidence}</span><span id="status">updated ${escapeHtml(formatTime(list.generatedAt))}</span></p>
<table>
<thead><tr>${head}</tr></thead>
<tbody id="nodes">
${rows}
</tbody>
</table>
<p class="downloads">Download: ${downloadLinks}</p>
<noscript><p>This page refreshes itself with JavaScript; reload it by hand to see new nodes.</p></noscript>
<script>${SCRIPT}</script>
</body>
</html>
`;
}
