// Building a document from a live system, a capture or a replay: shared by the CLI's dry-run,
// capture and peer run mode.
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { config as zodConfig } from "zod";
import { Inventory } from "../schema/inventory.ts";
import { type CmdlineOverride, withCmdline } from "./collect/cmdline.ts";
import { hasStableIdentity } from "./collect/identity.ts";
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
  /** Kernel command line to use instead of /proc/cmdline or the replay's cmdline.txt. */
  cmdline?: CmdlineOverride | null;
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
  const { cmdline } = source;
  const withOverride = (inner: Runner) => (cmdline ? withCmdline(inner, cmdline) : inner);
  if (source.replayDir) {
    runner = withOverride(await replayRunner(source.replayDir));
    evidenceDir = source.replayDir;
  } else if (source.captureDir) {
    await prepareCaptureDir(source.captureDir);
    const live = withOverride(source.runner ?? realRunner());
    const capture = captureRunner(source.captureDir, live, AGENT_VERSION);
    runner = capture;
    finish = () => capture.finish();
    evidenceDir = source.captureDir;
  } else {
    runner = withOverride(source.runner ?? realRunner());
  }
  const document = await collectInventory({ runner, budgetMs: source.budgetMs });
  await finish?.();
  // One document per process: zod's JIT would compile a parser for every object schema first
  // (measured 88-119 ms for this one parse, against 13-37 ms interpreted; seconds under TCG).
  zodConfig({ jitless: true });
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

/**
 * A replayed capture without any identity (no UUID, serial, MAC or stable fact: nodeIdSource
 * "random") would land on the master as a new random node each time: refused with a usage error
 * unless the operator accepts it (--allow-anonymous). Live runs always proceed. It lives here, not in
 * peer/run.ts, so that `--dry-run` does not load the upload path (undici, tar) to call it.
 */
export function refuseAnonymousReplay(
  document: Pick<Inventory, "nodeId" | "nodeIdSource">,
  options: { replayDir?: string | null; allowAnonymous?: boolean },
): void {
  if (!options.replayDir || options.allowAnonymous) return;
  if (hasStableIdentity(document)) return;
  throw new ReconError(
    ERROR_CODES.USAGE,
    `replay of ${options.replayDir}: no system UUID, serial, MAC or stable fact found, so the ` +
      `node has no identity (it would get the random id ${document.nodeId}); ` +
      "give --allow-anonymous to accept that",
  );
}

/** A fresh private directory for a capture nobody asked to keep (peer run mode). */
export async function scratchCaptureDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), "recon-capture-"));
}
