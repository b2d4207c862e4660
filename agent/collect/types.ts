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

/**
 * A parse outcome. `problem` says why the input is not what the tool prints (not JSON, no record
 * of the expected shape, binary bytes); null when the input is genuinely valid, including a tool
 * that ran and said nothing. `value` holds whatever could still be read, so facts from intact
 * records are never thrown away.
 */
export interface Parsed<T> {
  value: T;
  problem: string | null;
}

/**
 * The collectors[] entry for one probe whose output was parsed: a probe that came back `ok` but
 * whose output the parser could not make sense of is `failed`, and the message names the file
 * and what was wrong ("lsblk.json: not JSON (Unexpected end of JSON input after 812 characters)").
 */
export function reportParsed(
  name: string,
  result: ProbeResult,
  problem: string | null,
): CollectorReport {
  const report = reportOf(name, result);
  if (problem === null) return report;
  const message = `${result.file}: ${problem}`;
  return {
    ...report,
    status: "failed",
    message: result.message === null ? message : `${result.message}; ${message}`,
  };
}

/** Output that carries nothing: no bytes, or only whitespace. A tool that ran and said nothing. */
export function isBlank(text: string): boolean {
  return text.trim().length === 0;
}

/**
 * Why `text` is not the text a tool prints, if it holds bytes no tool output has: NUL or other
 * C0 control characters (tabs, newlines and CR aside), or U+FFFD, which is what invalid UTF-8
 * decodes to. null for plain text.
 */
export function binaryProblem(text: string): string | null {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: finding control bytes is the point
  const match = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffd]/.exec(text);
  if (match === null) return null;
  const code = match[0].charCodeAt(0).toString(16).padStart(4, "0");
  return `binary data (U+${code.toUpperCase()} at character ${match.index})`;
}

/** JSON.parse that never throws: the document, or why the text is not JSON. */
export function readJson(text: string): { document: unknown; problem: string | null } {
  try {
    return { document: JSON.parse(text), problem: null };
  } catch (error) {
    const reason = (error instanceof Error ? error.message : String(error)).slice(0, 200);
    // "Unexpected end of JSON input" names no position: the cut is at the end.
    const where = /end of JSON input/.test(reason) ? ` after ${text.length} characters` : "";
    return { document: undefined, problem: `not JSON (${reason}${where})` };
  }
}

/** Parses `output` when there is some; a probe without usable output leaves `empty`, no problem. */
export function parseOutput<T>(
  output: string | null,
  read: (text: string) => Parsed<T>,
  empty: T,
): Parsed<T> {
  return output === null ? { value: empty, problem: null } : read(output);
}
