// The shape every export target has (csv, glpi, netbox; ocs and ironic later): a name, its own
// flags and help, and a session that takes one validated document at a time and says what
// happened to that node. The pure mapping lives in the target's file; the session only writes
// (--out), plans (--dry-run) or sends (--url) what the mapping produced.
import type { ParseArgsOptionsConfig } from "node:util";
import type { Inventory } from "../../schema/inventory.ts";
import { ERROR_CODES, ReconError } from "../errors.ts";
import { makeDirectory } from "../fs.ts";
import { errorText, type Fetch } from "./source.ts";
import type { Outcome } from "./summary.ts";

export interface ExportContext {
  /** --out DIR: write what would be sent, as files (created if missing). */
  out: string | null;
  /** --url URL: the target system. */
  url: string | null;
  /** --dry-run: print the plan, send and write nothing. */
  dryRun: boolean;
  /** The contents of --token-file, trimmed; null without one. */
  token: string | null;
  /** The target's own flags, as parseArgs returned them. */
  values: Record<string, string | boolean | (string | boolean)[] | undefined>;
  fetch: Fetch;
}

export interface NodeOutcome {
  outcome: Outcome;
  detail: string;
}

export interface ExportSession {
  /** One valid document. Never throws for a problem with this node: returns `failed`. */
  node(document: Inventory): Promise<NodeOutcome>;
  /** After the last node (CSV writes its tables here). Throws ReconError IO on failure. */
  finish(): Promise<void>;
}

export interface ExportTarget {
  name: string;
  /** One line for the command's overview. */
  summary: string;
  /** The target's part of its --help: what it produces, its flags, its modes. */
  help: string;
  options: ParseArgsOptionsConfig;
  /** Checks the flags (ReconError USAGE) and opens a session. */
  start(context: ExportContext): Promise<ExportSession>;
}

/**
 * The start of a target that writes files (--out), sends (--url) or plans (--dry-run): one of
 * them is required, and --out is created (unless only planning).
 */
export async function startFileOrSend(name: string, context: ExportContext): Promise<void> {
  if (context.out === null && context.url === null && !context.dryRun) {
    throw new ReconError(ERROR_CODES.USAGE, `${name} needs --out DIR, --url URL or --dry-run`);
  }
  if (context.out !== null && !context.dryRun) {
    try {
      await makeDirectory(context.out);
    } catch (error) {
      throw new ReconError(ERROR_CODES.IO, `cannot create ${context.out}: ${errorText(error)}`);
    }
  }
}
