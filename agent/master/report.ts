// `recon-agent report --root DIR [--out DIR]`, and the master on shutdown: report.html and
// nodes.csv for the operator to carry away on the stick. report.html is one self-contained file
// (inline style, no script, no external resource) that opens offline: counts per state, then
// every node with its state, the failed, stalled and never-reported ones first, with links to
// each node's files as paths relative to the report. nodes.csv is the CSV export's own nodes.csv
// (downloads.ts csvOf, the bytes GET /api/v1/export/nodes.csv sends).
import { rename, writeFile } from "node:fs/promises";
import path from "node:path";
import { CSV_TABLES } from "../export/csv.ts";
import { makeDirectory } from "../fs.ts";
import { csvOf } from "./downloads.ts";
import { Hall } from "./hall.ts";
import {
  activityOf,
  COLUMNS,
  cspHash,
  escapeHtml,
  formatTime,
  keyOf,
  lastStepOf,
  NODE_STATES,
  type NodeState,
  type PageNode,
  problemsText,
  rowCells,
  stateCounts,
  stateOf,
} from "./page.ts";
import { FILE_NAMES, NodeStore } from "./store.ts";

export const REPORT_FILES = { html: "report.html", csv: "nodes.csv" } as const;

/** Report order: what needs the operator first. */
const RANK: Record<NodeState, number> = {
  failed: 0,
  stalled: 1,
  dhcp: 2,
  booting: 2,
  agent: 2,
  reported: 4,
  "powered-off": 5,
};

function rank(n: PageNode): number {
  const state = stateOf(n);
  // A node with a kept conflicting document needs a look even when it reported.
  return state === "reported" || state === "powered-off"
    ? n.conflicts > 0
      ? 3
      : RANK[state]
    : RANK[state];
}

/** Failed, stalled, never reported, conflicts, then the rest; by key within each group. */
export function reportOrder(nodes: readonly PageNode[]): PageNode[] {
  return [...nodes].sort((a, b) => rank(a) - rank(b) || (keyOf(a) < keyOf(b) ? -1 : 1));
}

const STYLE = `
*{box-sizing:border-box}
body{font:13px/1.35 system-ui,sans-serif;margin:1rem;color:#1b1b1b;background:#fff}
h1{font-size:1.3rem;margin:0 0 .2rem}
p.meta{color:#555;margin:0 0 .6rem}
.counts{display:flex;gap:.5rem;margin:0 0 .8rem}
.counts div{flex:1;border:1px solid #ccd;border-left-width:6px;border-radius:6px;padding:.3rem .5rem}
.counts b{display:block;font-size:2rem;line-height:1.1}
table{border-collapse:collapse;width:100%}
th,td{border-bottom:1px solid #e3e3e3;padding:.15rem .35rem;text-align:left;vertical-align:top}
th{background:#eef1f5}
td.node{font-family:ui-monospace,monospace;font-weight:600}
td.problems{color:#b00020;font-weight:600}
td a{margin-right:.5rem}
.st{display:inline-block;padding:0 .4rem;border-radius:3px;color:#fff;font-weight:600;font-size:.8rem}
.st-dhcp{border-left-color:#7a8793}.st.st-dhcp{background:#7a8793}
.st-booting{border-left-color:#1a5fb4}.st.st-booting{background:#1a5fb4}
.st-agent{border-left-color:#6f3fb4}.st.st-agent{background:#6f3fb4}
.st-reported{border-left-color:#2b8a3e}.st.st-reported{background:#2b8a3e}
.st-powered-off{border-left-color:#3d4a3f}.st.st-powered-off{background:#3d4a3f}
.st-stalled{border-left-color:#d9730d}.st.st-stalled{background:#d9730d}
.st-failed{border-left-color:#c01c28}.st.st-failed{background:#c01c28}
@media print{.counts b{font-size:1.4rem}}
`;

/** A path relative to the report's directory, as a URL path (each segment encoded). */
function relativeHref(from: string, to: string): string {
  return path.relative(from, to).split(path.sep).map(encodeURIComponent).join("/");
}

export interface ReportInput {
  nodes: readonly PageNode[];
  /** The data root (its nodes/ holds each node's files). */
  root: string;
  /** The directory report.html goes to (links are relative to it). */
  out: string;
  generatedAt: string;
}

export function renderReport(input: ReportInput): string {
  const nodes = reportOrder(input.nodes);
  const counts = stateCounts([...nodes]);
  const boxes = [
    `<div><b>${nodes.length}</b>all nodes</div>`,
    ...NODE_STATES.map((s) => `<div class="st-${s}"><b>${counts[s]}</b>${s}</div>`),
  ].join("");
  const head = [...COLUMNS.map((c) => c.label), "Files"]
    .map((label) => `<th scope="col">${escapeHtml(label)}</th>`)
    .join("");
  const rows = nodes
    .map((n) => {
      const values = rowCells(n);
      const tds = values.map((v, i) =>
        i === 0
          ? `<td class="node">${escapeHtml(v)}</td>`
          : i === 1
            ? `<td><span class="st st-${escapeHtml(v)}">${escapeHtml(v)}</span></td>`
            : `<td>${escapeHtml(v)}</td>`,
      );
      const at = activityOf(n);
      // The reason of a failure is in Problems; here what happened last, and when.
      const what = lastStepOf(n);
      tds.push(`<td>${escapeHtml(`${what}${at ? ` ${formatTime(at)}` : ""}`)}</td>`);
      tds.push(`<td class="problems">${escapeHtml(problemsText(n))}</td>`);
      const dir = path.join(input.root, "nodes", n.nodeId ?? keyOf(n));
      const links = [
        n.inventory ? [FILE_NAMES.inventory, path.join(dir, FILE_NAMES.inventory)] : null,
        n.evidence ? [FILE_NAMES.evidence, path.join(dir, FILE_NAMES.evidence)] : null,
      ]
        .filter((l): l is string[] => l !== null)
        .map(
          ([label, file]) =>
            `<a href="${escapeHtml(relativeHref(input.out, file as string))}">${escapeHtml(label as string)}</a>`,
        )
        .join("");
      tds.push(`<td>${links}</td>`);
      return `<tr data-key="${escapeHtml(keyOf(n))}">${tds.join("")}</tr>`;
    })
    .join("\n");
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src ${cspHash(STYLE)}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>recon report ${escapeHtml(formatTime(input.generatedAt))}</title>
<style>${STYLE}</style>
</head>
<body>
<h1>recon report</h1>
<p class="meta">Written ${escapeHtml(formatTime(input.generatedAt))} from ${escapeHtml(input.root)}. Failed, stalled and never-reported nodes first. nodes.csv beside this file holds the reported nodes' facts.</p>
<section class="counts">${boxes}</section>
<table>
<thead><tr>${head}</tr></thead>
<tbody>
${rows || `<tr><td colspan="${COLUMNS.length + 1}">No node known.</td></tr>`}
</tbody>
</table>
</body>
</html>
`;
}

export interface ReportOptions {
  root: string;
  /** Where report.html and nodes.csv go; default the root. */
  out?: string;
  /** The nodes with their states (the running master's list); default: read from the root. */
  nodes?: readonly PageNode[];
  now?: () => Date;
}

export interface ReportResult {
  html: string;
  csv: string;
  nodes: number;
  counts: Record<NodeState, number>;
  /** Nodes whose stored document no longer validates: left out of nodes.csv. */
  skipped: string[];
}

/**
 * Every node of a data root with its state, from the stored inventories and events/events.jsonl
 * (which holds the dhcp and boot-file events too, so no lease file is needed). Nodes that never
 * finished count as stalled once the stall time has passed, as on the running master.
 */
async function hallOfRoot(root: string, store: NodeStore): Promise<PageNode[]> {
  const hall = await Hall.open({ root, log: () => undefined });
  try {
    return hall.nodes(store.list());
  } finally {
    await hall.close();
  }
}

async function writeAtomic(file: string, text: string): Promise<void> {
  const temp = path.join(path.dirname(file), `.tmp-${path.basename(file)}-${process.pid}`);
  await writeFile(temp, text);
  await rename(temp, file);
}

/** Writes report.html and nodes.csv; returns their paths and the counts. */
export async function writeReport(options: ReportOptions): Promise<ReportResult> {
  const root = path.resolve(options.root);
  const out = path.resolve(options.out ?? root);
  const store = new NodeStore(root);
  await store.open();
  const nodes = options.nodes ?? (await hallOfRoot(root, store));
  const generatedAt = (options.now ?? (() => new Date()))().toISOString();
  const tables = CSV_TABLES.filter((x) => x.file === REPORT_FILES.csv);
  const { files, skipped } = await csvOf(store, tables);
  await makeDirectory(out);
  const html = path.join(out, REPORT_FILES.html);
  const csv = path.join(out, REPORT_FILES.csv);
  await writeAtomic(html, renderReport({ nodes, root, out, generatedAt }));
  await writeAtomic(csv, files.get(REPORT_FILES.csv) ?? "");
  return { html, csv, nodes: nodes.length, counts: stateCounts([...nodes]), skipped };
}
