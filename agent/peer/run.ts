// Peer run mode: collect, upload document and evidence, wait for the master's acknowledgement,
// then the post-action. A node whose inventory the master has not acknowledged is never powered
// off: on failure the document is spooled locally and the error propagates (non-zero exit).
import { readFile, rm } from "node:fs/promises";
import type { Inventory } from "../../schema/inventory.ts";
import { type CmdlineOverride, parseCmdline } from "../collect/cmdline.ts";
import { ERROR_CODES, ReconError } from "../errors.ts";
import { type Runner, realRunner } from "../exec.ts";
import { buildInventory, refuseAnonymousReplay, scratchCaptureDir } from "../inventory.ts";
import type { Logger } from "../log.ts";
import type { PowerOffMode } from "./config.ts";
import { type EventSender, eventSender } from "./events.ts";
import { packEvidence } from "./evidence.ts";
import { powerOff } from "./poweroff.ts";
import { spool } from "./spool.ts";
import { type Ack, nodeUrl, putAcknowledged, type RetryPolicy } from "./upload.ts";

// Kept importable from here too (it used to live here).
export { refuseAnonymousReplay };

export interface PeerRunOptions {
  masterUrl: URL;
  token: string | null;
  powerOff: PowerOffMode;
  retry: RetryPolicy;
  spoolDir: string;
  /** Build the document from a capture instead of the live system (tests, re-sends). */
  replayDir?: string | null;
  /** Kernel command line for the document instead of /proc/cmdline (`--cmdline FILE`). */
  cmdline?: CmdlineOverride | null;
  /** Overall collector budget (default: the collectors' own). */
  budgetMs?: number;
  /** Accept a replay whose document has no identity (nodeIdSource "random"). */
  allowAnonymous?: boolean;
  /** Extra ipmitool arguments for the power-off (out-of-band BMC in tests). */
  ipmiArgs?: string[];
  runner?: Runner;
  log: Logger;
  /** Where progress events go (default: POST <masterUrl>api/v1/events). */
  events?: EventSender;
}

export interface PeerRunResult {
  document: Inventory;
  inventoryAck: Ack;
  evidenceAck: Ack | null;
}

/** The boot MAC from the kernel command line (BOOTIF=), before any collector ran. */
async function bootMacOf(options: PeerRunOptions): Promise<string | null> {
  if (options.cmdline) return parseCmdline(options.cmdline.text).bootMac;
  if (options.replayDir) return null;
  const text = await readFile("/proc/cmdline", "utf8").catch(() => "");
  return parseCmdline(text).bootMac;
}

export async function runPeer(options: PeerRunOptions): Promise<PeerRunResult> {
  const { log } = options;
  const events =
    options.events ??
    eventSender({ masterUrl: options.masterUrl, token: options.token, log: (e, f) => log(e, f) });
  let key = { nodeId: null as string | null, bootMac: await bootMacOf(options) };
  // Told already (spooled, or a power-off that failed): the catch below adds no `error`.
  let reported = false;
  // Progress events travel beside the work; each is bounded by its own short timeout.
  const pending: Promise<boolean>[] = [events.send("agent-started", key)];
  try {
    return await runSteps();
  } catch (error) {
    if (!reported) {
      await events.send("error", {
        ...key,
        reason: error instanceof Error ? error.message : String(error),
      });
    }
    throw error;
  } finally {
    await Promise.all(pending);
  }

  async function runSteps(): Promise<PeerRunResult> {
    const runner = options.runner ?? realRunner();
    const captureDir = options.replayDir ? null : await scratchCaptureDir();
    try {
      log("collect.start", { master: options.masterUrl.href, replay: options.replayDir ?? null });
      const { document, evidenceDir } = await buildInventory({
        replayDir: options.replayDir,
        captureDir,
        runner,
        budgetMs: options.budgetMs,
        cmdline: options.cmdline,
      });
      refuseAnonymousReplay(document, options);
      const failed = document.collectors.filter(
        (c) => c.status === "failed" || c.status === "timeout",
      );
      log("collect.done", {
        nodeId: document.nodeId,
        collectors: document.collectors.length,
        failed: failed.map((c) => c.name),
      });
      key = { nodeId: document.nodeId, bootMac: document.boot.bootMac ?? key.bootMac };
      pending.push(
        events.send("collected", { ...key, failedCollectors: failed.map((c) => c.name) }),
      );
      const inventoryBytes = Buffer.from(`${JSON.stringify(document, null, 2)}\n`);
      const evidenceBytes = evidenceDir ? await packEvidence(evidenceDir) : null;
      let inventoryAck: Ack;
      let evidenceAck: Ack | null = null;
      try {
        // One deadline for both parts: the operator's budget is for the whole upload.
        const started = Date.now();
        const remaining = () => ({
          ...options.retry,
          totalTimeoutMs: Math.max(1, options.retry.totalTimeoutMs - (Date.now() - started)),
        });
        inventoryAck = await putAcknowledged({
          url: nodeUrl(options.masterUrl, document.nodeId, "inventory"),
          body: inventoryBytes,
          contentType: "application/json",
          token: options.token,
          policy: remaining(),
          log,
        });
        if (evidenceBytes) {
          evidenceAck = await putAcknowledged({
            url: nodeUrl(options.masterUrl, document.nodeId, "evidence"),
            body: evidenceBytes,
            contentType: "application/gzip",
            token: options.token,
            policy: remaining(),
            log,
          });
        }
      } catch (error) {
        const dir = await spool(options.spoolDir, document.nodeId, inventoryBytes, evidenceBytes);
        log("upload.failed", { nodeId: document.nodeId, spooled: dir, error: String(error) });
        reported = true;
        await events.send("spooled", {
          ...key,
          reason: error instanceof Error ? error.message : String(error),
        });
        throw error instanceof ReconError
          ? new ReconError(error.code, `${error.message} (spooled to ${dir}; the node stays up)`)
          : error;
      }
      log("upload.done", { nodeId: document.nodeId, sha256: inventoryAck.sha256 });
      await events.send("uploaded", key);
      // Sent (or given up on) before the power goes: afterwards nobody is left to send it.
      await events.send("powering-off", { ...key, method: options.powerOff });
      try {
        await powerOff({
          mode: options.powerOff,
          runner,
          ipmiArgs: options.ipmiArgs,
          log: (event) => log(String(event.event ?? "poweroff"), event),
        });
      } catch (error) {
        if (error instanceof ReconError) throw error;
        throw new ReconError(ERROR_CODES.POWER_OFF_FAILED, String(error), { cause: error });
      }
      return { document, inventoryAck, evidenceAck };
    } finally {
      if (captureDir) await rm(captureDir, { recursive: true, force: true });
    }
  }
}
