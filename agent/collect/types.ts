// What every collector looks like. A collector module holds a pure parser (text in, typed value
// out, never throws) and a thin `collect` that asks the Runner for its probes and parses what
// came back. The Runner decides whether that means running tools, capturing them, or replaying.
import type { CollectorReport } from "../../schema/inventory.ts";
import type { ProbeResult, Runner } from "../exec.ts";

export interface CollectorOutput<T> {
  /** Parsed facts; empty/null fields when the tool was missing or failed. */
  value: T;
  /** One entry per tool invocation that matters to the operator. */
  reports: CollectorReport[];
}

export type Collect<T> = (runner: Runner, signal?: AbortSignal) => Promise<CollectorOutput<T>>;

/** The collectors[] entry for one probe run. */
export function reportOf(name: string, result: ProbeResult): CollectorReport {
  return {
    name,
    status: result.status,
    durationMs: result.durationMs,
    command: result.command,
    exitCode: result.exitCode,
    message: result.message,
  };
}

/** Output worth parsing: present even when the tool exited non-zero (dmidecode on a broken table). */
export function usableOutput(result: ProbeResult): string | null {
  if (result.status === "ok") return result.output;
  if (result.status === "failed" && result.output.trim().length > 0) return result.output;
  return null;
}

/** Runs `fn` over `items` with at most `limit` at a time; results keep the input order. */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}
