// `recon-agent reparse --root DIR`: rebuilds every node's inventory.json from its stored evidence
// with today's parsers, so that documents taken by an older agent gain the facts (and the fixes)
// of a newer one. This is what the evidence is kept for.
//
// What a re-parse keeps from the stored document, and why:
// - nodeId and nodeIdSource: the id names the node's folder and is what CMDBs already hold; if
//   today's identity chain would derive another id, the report says so, nothing is renamed.
// - collectedAt: the facts are as old as the capture, not as the re-parse.
// - each collector's durationMs, command and exitCode where the stored document has that
//   collector: those describe the tool run on the node; a replay only measures a file read.
// The previous version goes to history/ through the store (atomic, as an upload would), and a
// document that would contradict the node's identity is kept in conflicts/ like an upload.
// Run it on a data root no master is serving (the mounted stick, a copy): the store's per-node
// locks are per process.
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { x as extract } from "tar";
import { type CollectorReport, Inventory } from "../../schema/inventory.ts";
import { collectInventory } from "../collect/index.ts";
import { replayRunner } from "../exec.ts";
import { isSafeEntryName, MAX_EVIDENCE_ENTRIES, MAX_EVIDENCE_UNPACKED_BYTES } from "./evidence.ts";
import { FILE_NAMES, NodeStore, summarize } from "./store.ts";

export type ReparseOutcome = "upgraded" | "unchanged" | "conflict" | "skipped" | "failed";

/** One path of the document whose value differs between the stored and the re-parsed version. */
export interface DocumentChange {
  path: string;
  change: "added" | "removed" | "changed";
}

export interface NodeReparse {
  nodeId: string;
  outcome: ReparseOutcome;
  fromVersion: string | null;
  toVersion: string | null;
  changes: DocumentChange[];
  /** Why it was skipped or failed; for the others, notes (e.g. the id today's chain derives). */
  detail: string;
  /** For a failure: the kind of problem, so the CLI can pick its exit code. */
  problem?: "io" | "invalid";
}

export interface ReparseOptions {
  root: string;
  /** Report what would change; write nothing. */
  dryRun: boolean;
  /** Called after each node (progress on stderr). */
  onNode?: (result: NodeReparse, done: number, total: number) => void;
}

/** Paths that differ between two JSON values (objects by key, arrays by index). */
export function diffDocuments(before: unknown, after: unknown, at = ""): DocumentChange[] {
  if (isObject(before) && isObject(after)) {
    const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])];
    return keys.flatMap((key) => {
      const sub = at === "" ? key : `${at}.${key}`;
      if (!(key in before)) return [{ path: sub, change: "added" as const }];
      if (!(key in after)) return [{ path: sub, change: "removed" as const }];
      return diffDocuments(before[key], after[key], sub);
    });
  }
  if (Array.isArray(before) && Array.isArray(after)) {
    const length = Math.max(before.length, after.length);
    return Array.from({ length }, (_, i) => {
      const sub = `${at}[${i}]`;
      if (i >= before.length) return [{ path: sub, change: "added" as const }];
      if (i >= after.length) return [{ path: sub, change: "removed" as const }];
      return diffDocuments(before[i], after[i], sub);
    }).flat();
  }
  return Object.is(before, after) ? [] : [{ path: at, change: "changed" }];
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Unpacks evidence.tar.gz into a fresh temp directory: regular files with safe names only. */
async function unpackEvidence(file: string): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), "recon-reparse-"));
  let entries = 0;
  let bytes = 0;
  let refused: string | null = null;
  try {
    await extract({
      file,
      cwd: dir,
      strict: true,
      preservePaths: false,
      filter: (name, entry) => {
        entries++;
        bytes += "size" in entry ? (entry.size ?? 0) : 0;
        const type = "type" in entry ? entry.type : "File";
        if (entries > MAX_EVIDENCE_ENTRIES) refused ??= `more than ${MAX_EVIDENCE_ENTRIES} entries`;
        else if (bytes > MAX_EVIDENCE_UNPACKED_BYTES)
          refused ??= `unpacks to more than ${MAX_EVIDENCE_UNPACKED_BYTES} bytes`;
        else if (!isSafeEntryName(name)) refused ??= `entry ${JSON.stringify(name)} is unsafe`;
        else if (type !== "File" && type !== "OldFile" && type !== "ContiguousFile") return false;
        return refused === null;
      },
    });
    if (refused) throw new Error(refused);
    return dir;
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

/**
 * Today's collector reports, with the stored run's own figures where the collector is known. A
 * collector with several runs (smartctl per drive, ethtool per NIC) is matched run by run, the
 * n-th with the n-th: matched by name alone, every run got the last one's figures, so the same
 * agent re-parsing its own evidence reported a change.
 */
function keepRunFigures(rebuilt: CollectorReport[], stored: CollectorReport[]): CollectorReport[] {
  const byName = new Map<string, CollectorReport[]>();
  for (const report of stored)
    byName.set(report.name, [...(byName.get(report.name) ?? []), report]);
  const seen = new Map<string, number>();
  return rebuilt.map((report) => {
    const nth = seen.get(report.name) ?? 0;
    seen.set(report.name, nth + 1);
    const ran = byName.get(report.name)?.[nth];
    if (!ran) return report;
    return { ...report, durationMs: ran.durationMs, command: ran.command, exitCode: ran.exitCode };
  });
}

/** Re-parses one node. Never throws for a problem with this node: returns `failed`. */
async function reparseNode(
  store: NodeStore,
  nodeId: string,
  dryRun: boolean,
): Promise<NodeReparse> {
  const result = (
    outcome: ReparseOutcome,
    detail: string,
    more: Partial<NodeReparse> = {},
  ): NodeReparse => ({
    nodeId,
    outcome,
    fromVersion: null,
    toVersion: null,
    changes: [],
    detail,
    ...more,
  });
  const storedBytes = await store.readInventory(nodeId);
  if (storedBytes === null) return result("skipped", "no inventory.json");
  let storedJson: unknown;
  try {
    storedJson = JSON.parse(storedBytes.toString("utf8"));
  } catch (error) {
    return result("failed", `inventory.json is not JSON: ${(error as Error).message}`, {
      problem: "invalid",
    });
  }
  const stored = Inventory.safeParse(storedJson);
  if (!stored.success) {
    return result("failed", "the stored inventory.json does not satisfy the schema", {
      problem: "invalid",
    });
  }
  const fromVersion = stored.data.schemaVersion;
  const evidence = path.join(store.nodeDir(nodeId), FILE_NAMES.evidence);
  if (!(await stat(evidence).catch(() => null))?.isFile()) {
    return result("skipped", "no evidence.tar.gz to re-parse", { fromVersion });
  }
  let dir: string;
  try {
    dir = await unpackEvidence(evidence);
  } catch (error) {
    return result("failed", `evidence.tar.gz: ${(error as Error).message}`, {
      fromVersion,
      problem: "io",
    });
  }
  try {
    const rebuilt = await collectInventory({
      runner: await replayRunner(dir),
      now: () => new Date(stored.data.collectedAt),
    });
    const notes: string[] = [];
    if (rebuilt.nodeId !== nodeId && stored.data.nodeIdSource !== "random") {
      notes.push(`today's identity chain gives ${rebuilt.nodeId} (${rebuilt.nodeIdSource}): kept`);
    }
    const candidate = {
      ...rebuilt,
      nodeId,
      nodeIdSource: stored.data.nodeIdSource,
      collectedAt: stored.data.collectedAt,
      collectors: keepRunFigures(rebuilt.collectors, stored.data.collectors),
    };
    const checked = Inventory.safeParse(candidate);
    if (!checked.success) {
      const issue = checked.error.issues[0];
      return result(
        "failed",
        `the re-parsed document does not satisfy the schema (${issue?.path.join(".")}: ${issue?.message})`,
        { fromVersion, problem: "invalid" },
      );
    }
    const document = checked.data;
    const changes = diffDocuments(storedJson, document).filter(
      (change) => change.path !== "agent.version",
    );
    const more = { fromVersion, toVersion: document.schemaVersion, changes };
    if (changes.length === 0) return result("unchanged", notes.join("; "), more);
    if (dryRun) return result("upgraded", ["dry run: nothing written", ...notes].join("; "), more);
    const bytes = Buffer.from(`${JSON.stringify(document, null, 2)}\n`);
    const stored2 = await store.putInventory(nodeId, bytes, summarize(document));
    if (stored2.conflict) {
      notes.unshift("the re-parsed document contradicts the node's identity: kept in conflicts/");
      return result("conflict", notes.join("; "), more);
    }
    return result("upgraded", notes.join("; "), more);
  } catch (error) {
    return result("failed", `re-parse: ${(error as Error).message}`, {
      fromVersion,
      problem: "io",
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Re-parses every node of a data root, one after the other (bounded memory, readable order). */
export async function reparseRoot(options: ReparseOptions): Promise<NodeReparse[]> {
  const store = new NodeStore(options.root);
  await store.open();
  const ids = [...store.list().map((record) => record.nodeId), ...store.evidenceOnly()].sort();
  const results: NodeReparse[] = [];
  for (const nodeId of ids) {
    const outcome = await reparseNode(store, nodeId, options.dryRun);
    results.push(outcome);
    options.onNode?.(outcome, results.length, ids.length);
  }
  return results;
}

/** "added 41, changed 2: disks[0].firmwareVersion, bios.releaseDate" — the report's line. */
export function describeChanges(changes: DocumentChange[], shown = 6): string {
  if (changes.length === 0) return "no change";
  const count = (kind: DocumentChange["change"]) => changes.filter((c) => c.change === kind);
  const parts = (["added", "changed", "removed"] as const)
    .map((kind) => [kind, count(kind)] as const)
    .filter(([, list]) => list.length > 0)
    .map(([kind, list]) => {
      const names = list.slice(0, shown).map((c) => c.path);
      const rest = list.length > shown ? `, +${list.length - shown} more` : "";
      return `${kind} ${list.length} (${names.join(", ")}${rest})`;
    });
  return parts.join("; ");
}
