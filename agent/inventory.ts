// Building a document from a live system, a capture or a replay: shared by the CLI's dry-run,
// capture and peer run mode.
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Inventory } from "../schema/inventory.ts";
import { collectInventory } from "./collect/index.ts";
import { ERROR_CODES, ReconError } from "./errors.ts";
import { captureRunner, prepareCaptureDir, type Runner, realRunner, replayRunner } from "./exec.ts";
import { AGENT_VERSION } from "./version.ts";

export interface InventorySource {
  /** Read tools' outputs from this capture directory instead of running them. */
  replayDir?: string | null;
  /** Write every raw output (and a manifest) here while collecting. */
  captureDir?: string | null;
  budgetMs?: number;
  /** Runner for the live case (tests inject one; default: the real one). */
  runner?: Runner;
}

export interface InventoryRun {
  document: Inventory;
  /** Directory holding the raw evidence of this document (capture or replay dir), if any. */
  evidenceDir: string | null;
}

/** Collects (or replays) and validates the document; a schema failure is a bug, reported as such. */
export async function buildInventory(source: InventorySource): Promise<InventoryRun> {
  let runner: Runner;
  let evidenceDir: string | null = null;
  let finish: (() => Promise<unknown>) | null = null;
  if (source.replayDir) {
    runner = await replayRunner(source.replayDir);
    evidenceDir = source.replayDir;
  } else if (source.captureDir) {
    await prepareCaptureDir(source.captureDir);
    const capture = captureRunner(source.captureDir, source.runner ?? realRunner(), AGENT_VERSION);
    runner = capture;
    finish = () => capture.finish();
    evidenceDir = source.captureDir;
  } else {
    runner = source.runner ?? realRunner();
  }
  const document = await collectInventory({ runner, budgetMs: source.budgetMs });
  await finish?.();
  const checked = Inventory.safeParse(document);
  if (!checked.success) {
    const paths = checked.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
    throw new ReconError(
      ERROR_CODES.INVALID_DOCUMENT,
      `the collected document does not match schema v1 (a parser bug): ${paths.slice(0, 10).join("; ")}`,
    );
  }
  return { document: checked.data, evidenceDir };
}

/** A fresh private directory for a capture nobody asked to keep (peer run mode). */
export async function scratchCaptureDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), "recon-capture-"));
}
