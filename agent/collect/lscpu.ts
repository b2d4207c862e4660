// CPU topology from `lscpu -J`: what the kernel schedules on, whatever SMBIOS claims.
import type { Cpu } from "../../schema/inventory.ts";
import type { Probe } from "../exec.ts";
import { cleanString, parseCount } from "../normalize.ts";
import {
  type Collect,
  isBlank,
  type Parsed,
  parseOutput,
  readJson,
  reportParsed,
  usableOutput,
} from "./types.ts";

export const LSCPU_PROBE: Probe = {
  file: "lscpu.json",
  source: { kind: "command", argv: ["lscpu", "-J"], versionArgv: ["--version"] },
  timeoutMs: 60_000,
};

export function emptyCpu(): Cpu {
  return {
    architecture: null,
    model: null,
    sockets: null,
    coresPerSocket: null,
    threadsPerCore: null,
    logicalCpus: null,
  };
}

type Entry = Record<string, unknown>;

function isEntry(value: unknown): value is Entry {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * Every field of the summary, first occurrence wins, keys without the trailing colon. Entries
 * nest under "children" in util-linux 2.37 and in 2.38+ with --hierarchic; the walk is
 * iterative so a corrupt document cannot overflow the stack.
 */
function fields(entries: unknown[]): Map<string, string> {
  const found = new Map<string, string>();
  const stack: unknown[] = [...entries].reverse();
  while (stack.length > 0) {
    const entry = stack.pop();
    if (!isEntry(entry)) continue;
    if (Array.isArray(entry.children)) {
      for (let i = entry.children.length - 1; i >= 0; i--) stack.push(entry.children[i]);
    }
    if (typeof entry.field !== "string") continue;
    const key = entry.field.trim().replace(/:$/, "").trim();
    const data = entry.data;
    const value = typeof data === "string" ? data : typeof data === "number" ? String(data) : null;
    if (value !== null && !found.has(key)) found.set(key, value);
  }
  return found;
}

/**
 * Parses `lscpu -J` (run in the C locale: field names are translated otherwise). Real input
 * (util-linux 2.38.1, Debian 12, trimmed):
 *
 *     {
 *        "lscpu": [
 *           {
 *              "field": "Architecture:",
 *              "data": "x86_64"
 *           },{
 *              "field": "CPU(s):",
 *              "data": "2"
 *           },{
 *              "field": "Model name:",
 *              "data": "AMD EPYC"
 *           },{
 *              "field": "Thread(s) per core:",
 *              "data": "1"
 *
 * Counts printed as "-" (ARM boards without socket information) are null.
 */
export function readLscpu(text: string): Parsed<Cpu> {
  if (isBlank(text)) return { value: emptyCpu(), problem: null };
  const { document, problem } = readJson(text);
  if (problem !== null) return { value: emptyCpu(), problem };
  if (!isEntry(document) || !Array.isArray(document.lscpu)) {
    return { value: emptyCpu(), problem: 'no "lscpu" array' };
  }
  const found = fields(document.lscpu);
  return {
    value: {
      architecture: cleanString(found.get("Architecture")),
      model: cleanString(found.get("Model name")),
      sockets: parseCount(found.get("Socket(s)")),
      coresPerSocket: parseCount(found.get("Core(s) per socket")),
      threadsPerCore: parseCount(found.get("Thread(s) per core")),
      logicalCpus: parseCount(found.get("CPU(s)")),
    },
    problem: null,
  };
}

/** The CPU facts of `readLscpu`, problem or not. */
export function parseLscpu(text: string): Cpu {
  return readLscpu(text).value;
}

export const collectLscpu: Collect<Cpu> = async (runner, signal) => {
  const result = await runner.run(LSCPU_PROBE, signal);
  const { value, problem } = parseOutput(usableOutput(result), readLscpu, emptyCpu());
  return { value, reports: [reportParsed("lscpu", result, problem)] };
};
