// The one per-node result every export target reports, and its rendering. A target says, per
// node, what happened to it in the target system; the command adds the nodes whose documents
// could not be read or validated, so every node of the source appears exactly once.

/** What happened to one node. `planned`: --dry-run; `written`: files under --out; `sent`: the
 * target accepted it without saying whether it created or updated (GLPI). */
export type Outcome =
  | "created"
  | "updated"
  | "unchanged"
  | "written"
  | "sent"
  | "planned"
  | "failed";

export interface NodeResult {
  /** The document's nodeId, or the source label when the document could not be read. */
  node: string;
  /** Where the document came from (file path or URL). */
  source: string;
  outcome: Outcome;
  /** The reason for `failed`; what was (or would be) done otherwise. */
  detail: string;
}

export const OUTCOMES: readonly Outcome[] = [
  "created",
  "updated",
  "unchanged",
  "written",
  "sent",
  "planned",
  "failed",
];

export function failed(results: readonly NodeResult[]): NodeResult[] {
  return results.filter((r) => r.outcome === "failed");
}

/** Counts per outcome, only those that occur, in OUTCOMES order: "3 written, 1 failed". */
export function countLine(results: readonly NodeResult[]): string {
  const parts: string[] = [];
  for (const outcome of OUTCOMES) {
    const n = results.filter((r) => r.outcome === outcome).length;
    if (n > 0) parts.push(`${n} ${outcome}`);
  }
  return `${results.length} node${results.length === 1 ? "" : "s"}: ${parts.join(", ") || "none"}`;
}

/** One line per node (padded columns), then the count line. Plain text for stdout. */
export function formatSummary(results: readonly NodeResult[]): string {
  const width = Math.min(64, Math.max(4, ...results.map((r) => r.node.length)));
  const lines = results.map(
    (r) => `${r.node.padEnd(width)}  ${r.outcome.padEnd(9)}  ${r.detail.replace(/\s+/g, " ")}`,
  );
  lines.push(countLine(results));
  return `${lines.join("\n")}\n`;
}
