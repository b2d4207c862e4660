// The status page at "/": counts per node state, then one compact line per node (fits 1400 px),
// newest activity first, with a state filter and a free-text search. The counts come with the
// page; the rows are fetched at once by an inline script from GET /api/v1/nodes (a 740 KB page
// with the list in it took Chromium 200 ms more to parse than the fetch costs) and rendered with
// textContent only; it then polls GET /api/v1/nodes?since=<cursor> with If-None-Match: the master
// answers only the nodes that changed (their rows alone are rebuilt), or 304. Every value
// comes from the network: the script never uses innerHTML, and a Content-Security-Policy with the
// hashes of the inline script and style backs that. Node states come from the events
// (node-state.ts); a node known only from its inventory counts as reported.
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
  disks: number;
  diskBytes: number | null;
  nics: number;
  /** Collectors that failed or timed out. */
  failedCollectors: string[];
  /** Cross-check warnings in the document. */
  warnings: number;
  /** Event-derived fields (node-state.ts); absent until the events store knows the node. */
  key?: string;
  state?: NodeState;
  stateSince?: string | null;
  lastEvent?: { type: string; at: string; detail?: unknown } | null;
  mac?: string | null;
  ip?: string | null;
  lastActivityAt?: string | null;
  /** Why a node failed (the `error` or `spooled` event's reason). */
  reason?: string | null;
}

/** A node as the pages show it: a list item, or one known only from DHCP or events (no nodeId). */
export type PageNode = Omit<NodeListItem, "nodeId"> & { nodeId: string | null };

/** The life of a node on the master, in order; "unknown" only for a list without states. */
export const NODE_STATES = [
  "dhcp",
  "booting",
  "agent",
  "reported",
  "powered-off",
  "stalled",
  "failed",
] as const;
export type NodeState = (typeof NODE_STATES)[number];

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
    disks: s?.disks ?? 0,
    diskBytes: s?.diskBytes ?? null,
    nics: s?.nics ?? 0,
    failedCollectors: s?.failedCollectors ?? [],
    warnings: s?.warnings ?? 0,
  };
}

/** The URL key of a node: its nodeId, or "mac-<12 hex>" before the nodeId is known. */
export function keyOf(n: PageNode): string {
  return n.key ?? n.nodeId ?? "";
}

/** A node's state; a list without states (no events yet) shows stored inventories as reported. */
export function stateOf(n: PageNode): NodeState {
  return n.state ?? "reported";
}

/** When the node last did anything the master saw. */
export function activityOf(n: PageNode): string | null {
  return n.lastActivityAt ?? n.lastEvent?.at ?? n.lastReportAt ?? n.stateSince ?? null;
}

/** The node's last step by name: its last event, or "report" when an upload came after it. */
export function lastStepOf(n: PageNode): string {
  const e = n.lastEvent;
  if (n.lastReportAt && (!e || n.lastReportAt > e.at)) return "report";
  return e ? e.type : "";
}

/** Problems worth a look, as one line: why it failed, failed collectors, warnings, conflicts. */
export function problemsText(n: PageNode): string {
  const parts: string[] = n.reason ? [n.reason] : [];
  // ?? []: items built by other code (the events side) may lack the document's fields.
  const failed = n.failedCollectors ?? [];
  if (failed.length > 0) parts.push(`failed: ${failed.join(", ")}`);
  if (n.warnings > 0) parts.push(`${n.warnings} warning${n.warnings === 1 ? "" : "s"}`);
  if (n.conflicts > 0) parts.push(`${n.conflicts} conflict${n.conflicts === 1 ? "" : "s"}`);
  return parts.join(" · ");
}

/** What an event's detail says, in a few words (reason, method, failed collectors). */
export function detailText(detail: unknown): string {
  if (detail === null || detail === undefined) return "";
  if (typeof detail === "string") return detail;
  if (typeof detail !== "object") return String(detail);
  const d = detail as Record<string, unknown>;
  const picked = [
    d.reason,
    d.method,
    d.path,
    Array.isArray(d.failedCollectors) ? d.failedCollectors.join(", ") : null,
  ]
    .filter((v) => typeof v === "string" && v !== "")
    .join("; ");
  return picked !== "" ? picked : JSON.stringify(detail).slice(0, 200);
}

export function stateCounts(nodes: readonly PageNode[]): Record<NodeState, number> {
  const counts = Object.fromEntries(NODE_STATES.map((state) => [state, 0])) as Record<
    NodeState,
    number
  >;
  for (const n of nodes) counts[stateOf(n)]++;
  return counts;
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

/** 42 -> "42s", 185 -> "3m", 7300 -> "2h", 200000 -> "2d": how long ago, in one short word. */
export function formatAge(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86400) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

/** Columns of the status table and their share of the width (fixed layout: never wider). */
export const COLUMNS: readonly { label: string; width: number }[] = [
  { label: "Node", width: 11 },
  { label: "State", width: 6 },
  { label: "Product", width: 11 },
  { label: "Serial", width: 8 },
  { label: "CPU", width: 12 },
  { label: "Memory", width: 11 },
  { label: "Disks", width: 7 },
  { label: "NICs", width: 4 },
  { label: "BMC", width: 8 },
  { label: "Last event", width: 11 },
  { label: "Problems", width: 11 },
];

/** The text of each cell but the last event's, in column order (page script and report). */
export function rowCells(n: PageNode): string[] {
  const product = [n.manufacturer, n.product].filter((v) => v !== null).join(" ");
  const disks = !n.disks
    ? ""
    : n.diskBytes === null || n.diskBytes === undefined
      ? String(n.disks)
      : `${n.disks}, ${formatBytes(n.diskBytes)}`;
  return [
    // Before the nodeId is known the node is its boot MAC (its key is "mac-<hex>").
    n.nodeId ?? n.mac ?? n.key ?? "",
    stateOf(n),
    product,
    n.serial ?? "",
    // Shorter for the table ("(R)" and "CPU @" add nothing); the node page has it whole.
    (n.cpu ?? "").replace(/\((R|TM)\)/g, "").replace(" CPU @ ", " @ "),
    n.memory ?? "",
    disks,
    !n.nics ? "" : String(n.nics),
    n.bmcAddress ?? "",
  ];
}

const STYLE = `${COLUMNS.map((c, i) => `col:nth-child(${i + 1}){width:${c.width}%}`).join("\n")}
*{box-sizing:border-box}
body{font:13px/1.35 system-ui,sans-serif;margin:0 1rem 1rem;color:#1b1b1b;background:#fafafa}
header{display:flex;align-items:baseline;gap:1rem;padding:.6rem 0 .4rem}
h1{font-size:1.3rem;margin:0}
#status{color:#666;font-size:.85rem}
#status.stale{color:#b00020;font-weight:600}
nav.downloads{margin-left:auto;font-size:.85rem}
nav.downloads a{margin-left:.8rem}
#dhcp{background:#fff3cd;border:1px solid #e0b400;padding:.4rem .7rem;margin:.2rem 0 .5rem;font-weight:600}
.counts{display:flex;gap:.5rem;margin:.2rem 0 .6rem}
.counts button{flex:1;border:1px solid #ccd;border-radius:6px;background:#fff;padding:.35rem .5rem;cursor:pointer;text-align:left;font:inherit;border-left-width:6px}
.counts button b{display:block;font-size:2rem;line-height:1.1;font-variant-numeric:tabular-nums}
.counts button span{color:#444}
.counts button[aria-pressed=true]{outline:3px solid #1a5fb4}
.tools{display:flex;gap:.8rem;align-items:center;margin:0 0 .4rem}
#search{width:28rem;font:inherit;padding:.25rem .4rem}
#shown{color:#555}
table{border-collapse:collapse;width:100%;table-layout:fixed;background:#fff}
th,td{border-bottom:1px solid #e3e3e3;padding:.18rem .35rem;text-align:left;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
th{background:#eef1f5;position:sticky;top:0;font-weight:600}
tbody tr:hover{background:#f2f6fb}
td.node{font-family:ui-monospace,monospace;font-weight:600}
td.problems{color:#b00020;font-weight:600}
td.empty{color:#888;font-style:italic}
.st{display:inline-block;padding:0 .4rem;border-radius:3px;color:#fff;font-weight:600;font-size:.8rem}
.st-dhcp{border-left-color:#7a8793}.st.st-dhcp{background:#7a8793}
.st-booting{border-left-color:#1a5fb4}.st.st-booting{background:#1a5fb4}
.st-agent{border-left-color:#6f3fb4}.st.st-agent{background:#6f3fb4}
.st-reported{border-left-color:#2b8a3e}.st.st-reported{background:#2b8a3e}
.st-powered-off{border-left-color:#3d4a3f}.st.st-powered-off{background:#3d4a3f}
.st-stalled{border-left-color:#d9730d}.st.st-stalled{background:#d9730d}
.st-failed{border-left-color:#c01c28}.st.st-failed{background:#c01c28}
`;

// One list, rendered with textContent only; the shared helpers are the server's own functions
// (type-stripped source), so page and report cannot drift apart.
const SCRIPT = `
(function () {
  "use strict";
  var REFRESH_MS = ${REFRESH_SECONDS * 1000};
  var NODE_STATES = ${JSON.stringify(NODE_STATES)};
  var formatBytes = ${formatBytes.toString()};
  var formatAge = ${formatAge.toString()};
  var stateOf = ${stateOf.toString()};
  var keyOf = ${keyOf.toString()};
  var activityOf = ${activityOf.toString()};
  var lastStepOf = ${lastStepOf.toString()};
  var problemsText = ${problemsText.toString()};
  var detailText = ${detailText.toString()};
  var rowCells = ${rowCells.toString()};
  var tbody = document.getElementById("nodes");
  var status = document.getElementById("status");
  var select = document.getElementById("state-filter");
  var search = document.getElementById("search");
  var shown = document.getElementById("shown");
  var dhcp = document.getElementById("dhcp");
  var buttons = Array.prototype.slice.call(document.querySelectorAll(".counts button"));
  // cursor: the list's own (GET /api/v1/nodes?since=<cursor> answers only what changed since it);
  // byKey: every node the page knows, by key; a row (and its <tr>) is reused while its node is.
  var etag = null, cursor = null, byKey = {}, rowOf = {}, offset = 0, rows = [], dhcpGone = document.body.getAttribute("data-dhcp") !== "yes";
  function now() { return Date.now() + offset; }
  function lastEventText(n) {
    var e = n.lastEvent, at = activityOf(n);
    // The cell says what and how long ago; the detail (a reason is in Problems too) is on hover.
    var what = lastStepOf(n), detail = e && what === e.type ? detailText(e.detail) : "";
    return { text: at ? what + " · " + formatAge((now() - Date.parse(at)) / 1000) : what, title: (detail ? what + ": " + detail : what) + (at ? " at " + at : "") };
  }
  // One row's data; its <tr> is built when it is first put on the page.
  function meta(n) {
    var key = keyOf(n), state = stateOf(n), values = rowCells(n), ev = lastEventText(n), p = problemsText(n);
    var hay = values.concat([n.hostname, n.mac, n.bootMac, n.ip, key, ev.text, p]).filter(Boolean).join(" ").toLowerCase();
    return { n: n, key: key, state: state, values: values, ev: ev, problems: p, hay: hay, tr: null, last: null };
  }
  var template = (function () {
    var tr = document.createElement("tr");
    for (var i = 0; i < ${COLUMNS.length}; i++) tr.appendChild(document.createElement("td"));
    tr.cells[0].className = "node"; tr.cells[0].appendChild(document.createElement("a"));
    tr.cells[1].appendChild(document.createElement("span"));
    tr.cells[${COLUMNS.length - 2}].className = "last"; tr.cells[${COLUMNS.length - 1}].className = "problems";
    return tr;
  })();
  function build(r) {
    var tr = template.cloneNode(true), cells = tr.cells, v = r.values, n = r.n;
    tr.setAttribute("data-key", r.key);
    tr.setAttribute("data-state", r.state);
    var a = cells[0].firstChild;
    a.href = "/node/" + encodeURIComponent(r.key);
    a.textContent = v[0];
    cells[0].title = [v[0], n.hostname, n.mac || n.bootMac, n.ip].filter(Boolean).join(" · ");
    cells[1].firstChild.className = "st st-" + r.state;
    cells[1].firstChild.textContent = v[1];
    for (var i = 2; i < v.length; i++) cells[i].textContent = v[i];
    r.last = cells[v.length];
    r.last.textContent = r.ev.text; r.last.title = r.ev.title;
    cells[v.length + 1].textContent = r.problems;
    r.tr = tr;
    return tr;
  }
  function matches(r, state, words) {
    return (state === "" || r.state === state) && words.every(function (w) { return r.hay.indexOf(w) >= 0; });
  }
  function applyFilter() {
    var state = select.value, words = search.value.toLowerCase().split(/\\s+/).filter(Boolean), count = 0;
    rows.forEach(function (r) {
      var ok = matches(r, state, words);
      if (r.tr) r.tr.hidden = !ok;
      if (ok) count++;
    });
    shown.textContent = "showing " + count + " of " + rows.length;
    buttons.forEach(function (b) { b.setAttribute("aria-pressed", String(b.getAttribute("data-state") === state)); });
  }
  function fragment(list) {
    var frag = document.createDocumentFragment();
    list.forEach(function (r) { frag.appendChild(r.tr || build(r)); });
    return frag;
  }
  // A list from the master: every node (full), or the ones that changed and the keys gone.
  function merge(data) {
    if (data.full) byKey = {};
    data.nodes.forEach(function (n) { byKey[keyOf(n)] = n; });
    (data.removed || []).forEach(function (k) { delete byKey[k]; });
    cursor = data.cursor || null;
    render({ generatedAt: data.generatedAt, nodes: Object.keys(byKey).map(function (k) { return byKey[k]; }) });
  }
  // The first screen goes in at once; the other rows a moment later, so 1,000 nodes paint fast.
  var FIRST_ROWS = 60, generation = 0;
  function render(data) {
    offset = Date.parse(data.generatedAt) - Date.now();
    var nodes = data.nodes.slice().sort(function (a, b) {
      var x = activityOf(a) || "", y = activityOf(b) || "";
      return x < y ? 1 : x > y ? -1 : keyOf(a) < keyOf(b) ? -1 : 1;
    });
    var before = rowOf;
    rowOf = {};
    rows = nodes.map(function (n) {
      var old = before[keyOf(n)], r = old && old.n === n ? old : meta(n);
      if (r === old) { r.ev = lastEventText(n); if (r.last) r.last.textContent = r.ev.text; }
      rowOf[r.key] = r;
      return r;
    });
    var frag = fragment(rows.slice(0, FIRST_ROWS));
    if (rows.length === 0) {
      var tr = document.createElement("tr"), td = document.createElement("td");
      td.colSpan = ${COLUMNS.length}; td.className = "empty"; td.textContent = "No node known yet.";
      tr.appendChild(td); frag.appendChild(tr);
    }
    tbody.replaceChildren(frag);
    var counts = {};
    NODE_STATES.forEach(function (s) { counts[s] = 0; });
    rows.forEach(function (r) { counts[r.state] = (counts[r.state] || 0) + 1; });
    buttons.forEach(function (b) {
      var s = b.getAttribute("data-state");
      b.querySelector("b").textContent = String(s === "" ? rows.length : counts[s] || 0);
    });
    applyFilter();
    var mine = ++generation;
    setTimeout(function () {
      if (mine !== generation) return;
      tbody.appendChild(fragment(rows.slice(FIRST_ROWS)));
      applyFilter();
      // Milliseconds from navigation start to every row in the table (the benchmark reads it).
      window.reconAllRowsAt = window.reconAllRowsAt || performance.now();
    }, 0);
  }
  // A cut-off cell shows its whole text on hover (set then: 10,000 titles cost time up front).
  tbody.addEventListener("mouseover", function (e) {
    var td = e.target && e.target.closest ? e.target.closest("td") : null;
    if (td && !td.title && td.scrollWidth > td.clientWidth) td.title = td.textContent;
  });
  function ages() {
    rows.forEach(function (r) { r.ev = lastEventText(r.n); if (r.last) r.last.textContent = r.ev.text; });
  }
  function checkDhcp() {
    if (dhcpGone) return;
    fetch("/api/v1/dhcp", { cache: "no-store" }).then(function (r) {
      if (r.status === 404) { dhcpGone = true; return null; }
      return r.ok ? r.json() : null;
    }).then(function (d) {
      if (!d) return;
      dhcp.hidden = !d.nearlyFull;
      dhcp.textContent = "DHCP range nearly used up: " + d.leases + " leases of " + d.rangeSize + ", " + d.free + " free. Peers beyond it will not boot.";
    }).catch(function () {});
  }
  function refresh() {
    var url = "/api/v1/nodes" + (cursor ? "?since=" + encodeURIComponent(cursor) : "");
    fetch(url, { cache: "no-store", headers: etag ? { "If-None-Match": etag } : {} })
      .then(function (r) {
        if (r.status === 304) return null;
        // A cursor the master no longer takes: the whole list next time.
        if (r.status === 400) { cursor = null; etag = null; }
        if (!r.ok) throw new Error("HTTP " + r.status);
        etag = r.headers.get("ETag");
        return r.json();
      })
      .then(function (data) {
        if (data) merge(data); else ages();
        // Milliseconds from navigation start to the first screen of rows (the benchmark reads it).
        if (data && !window.reconRenderedAt) window.reconRenderedAt = performance.now();
        status.className = "";
        status.textContent = "updated " + new Date(now()).toISOString().slice(0, 19).replace("T", " ") + "Z";
      })
      .catch(function () {
        status.className = "stale";
        status.textContent = "master unreachable, retrying";
      })
      .then(function () { checkDhcp(); setTimeout(refresh, REFRESH_MS); });
  }
  select.addEventListener("change", applyFilter);
  search.addEventListener("input", applyFilter);
  buttons.forEach(function (b) {
    b.addEventListener("click", function () {
      var s = b.getAttribute("data-state");
      select.value = select.value === s ? "" : s;
      applyFilter();
    });
  });
  refresh();
})();
`;

export function cspHash(text: string): string {
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

export interface PageOptions {
  /** The master serves GET /api/v1/dhcp: the page warns when the range is nearly used up. */
  dhcp?: boolean;
}

/**
 * The page. With `list` the counts are filled in on the server; without it (the master's own
 * page: the list costs the master most of the page's time at 1,000 nodes) they show "…" until
 * the script's first fetch, a moment later.
 */
export function renderPage(
  list: { generatedAt: string; nodes: readonly PageNode[] } | null,
  options: PageOptions = {},
): string {
  // Fixed paths and labels, escaped anyway like every other value on the page.
  const downloadLinks = DOWNLOAD_LINKS.map(
    (d) => `<a href="${escapeHtml(d.path)}" download>${escapeHtml(d.label)}</a>`,
  ).join("");
  const counts = list ? stateCounts(list.nodes) : null;
  const shown = (n: number | undefined) => (n === undefined ? "…" : String(n));
  const buttons = [
    `<button type="button" data-state="" class="all"><b>${shown(list?.nodes.length)}</b><span>all nodes</span></button>`,
    ...NODE_STATES.map(
      (s) =>
        `<button type="button" data-state="${s}" class="st-${s}"><b>${shown(counts?.[s])}</b><span>${s}</span></button>`,
    ),
  ].join("");
  const stateOptions = NODE_STATES.map((s) => `<option value="${s}">${s}</option>`).join("");
  const cols = COLUMNS.map(() => "<col>").join("");
  const head = COLUMNS.map((c) => `<th scope="col">${escapeHtml(c.label)}</th>`).join("");
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>recon master</title>
<style>${STYLE}</style>
</head>
<body data-dhcp="${options.dhcp ? "yes" : "no"}">
<header><h1>recon master</h1><span id="status">${list ? `updated ${escapeHtml(formatTime(list.generatedAt))}` : "loading"}</span><nav class="downloads">Download:${downloadLinks}</nav></header>
<div id="dhcp" role="alert" hidden></div>
<section class="counts" aria-label="nodes per state">${buttons}</section>
<div class="tools"><label>State <select id="state-filter"><option value="">all</option>${stateOptions}</select></label><input id="search" type="search" placeholder="Search: node, serial, MAC, IP, product, collector" aria-label="search"><span id="shown"></span></div>
<table>
<colgroup>${cols}</colgroup>
<thead><tr>${head}</tr></thead>
<tbody id="nodes"></tbody>
</table>
<noscript><p>This page renders with JavaScript. The same list: <a href="/api/v1/nodes">/api/v1/nodes</a>.</p></noscript>
<script>${SCRIPT}</script>
</body>
</html>
`;
}
