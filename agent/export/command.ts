// `recon-agent export <target> --from SOURCE [options]`: reads every document of the sources,
// validates each, hands the valid ones to the target one by one, and ends with a per-node
// summary on stdout (progress on stderr). Any failed node makes it throw EXPORT_FAILED after the
// summary, so agent/cli.ts maps it to its exit code; the other nodes are still exported.
import { readFile } from "node:fs/promises";
import { type ParseArgsOptionsConfig, parseArgs } from "node:util";
import { ERROR_CODES, ReconError } from "../errors.ts";
import { csvTarget } from "./csv.ts";
import { glpiTarget } from "./glpi.ts";
import { ironicTarget } from "./ironic.ts";
import { netboxTarget } from "./netbox.ts";
import { ocsTarget } from "./ocs.ts";
import { errorText, type Fetch, isUrl, listSources, loadEntry } from "./source.ts";
import { countLine, failed, formatSummary, type NodeResult } from "./summary.ts";
import type { ExportTarget } from "./target.ts";

export const EXPORT_TARGETS: readonly ExportTarget[] = [
  csvTarget,
  glpiTarget,
  netboxTarget,
  ocsTarget,
  ironicTarget,
];

const COMMON_OPTIONS: ParseArgsOptionsConfig = {
  from: { type: "string", multiple: true },
  out: { type: "string" },
  url: { type: "string" },
  "token-file": { type: "string" },
  "dry-run": { type: "boolean", default: false },
  json: { type: "boolean", default: false },
  quiet: { type: "boolean", default: false },
  help: { type: "boolean", short: "h", default: false },
};

export const EXPORT_HELP = `Usage: recon-agent export <${EXPORT_TARGETS.map((t) => t.name).join("|")}> --from SOURCE [options]

Exports inventory documents into a CMDB, or as the files it would import.

Targets:
${EXPORT_TARGETS.map((t) => `  ${t.name.padEnd(8)}${t.summary}`).join("\n")}

SOURCE (--from may be given several times):
  a master data directory   <root>/nodes/<nodeId>/inventory.json, e.g. the mounted stick:
                            mount LABEL=RECON-DATA /mnt; --from /mnt
  a directory of documents  every *.json in it (not recursive)
  a document file           one inventory.json
  a master's URL            http://10.13.37.1/ (read through GET /api/v1/nodes)

Options:
  --out DIR          write what would be sent, as files
  --url URL          send it to the target system
  --token-file F     the credential for --url (first line of F)
  --dry-run          print the plan per node; write and send nothing
  --json             print the per-node summary as JSON instead of text
  --quiet            no progress on stderr
  -h, --help         this text; "recon-agent export <target> --help" for the target's own

Every document is validated against the inventory schema first; a bad or unreadable one fails
for its node and the others go on. The summary lists every node (created, updated, unchanged,
written, sent, planned or failed, with the reason); the exit code is nonzero if any failed.
`;

export function targetHelp(target: ExportTarget): string {
  return `Usage: recon-agent export ${target.name} --from SOURCE [options]

${target.help}

Common options (recon-agent export --help): --from SOURCE (repeatable), --out DIR, --url URL,
--token-file F, --dry-run, --json, --quiet.
`;
}

export interface ExportIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  fetch: Fetch;
  /** Whether stderr is a terminal (progress redraws one line) or not (a line per 10%). */
  stderrIsTty: boolean;
}

const defaultIo: ExportIo = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  fetch: globalThis.fetch,
  stderrIsTty: process.stderr.isTTY === true,
};

export async function exportCommand(args: string[], io: Partial<ExportIo> = {}): Promise<void> {
  const out = { ...defaultIo, ...io };
  const [name, ...rest] = args;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    out.stdout(EXPORT_HELP);
    if (name === undefined) throw new ReconError(ERROR_CODES.USAGE, "export needs a target");
    return;
  }
  const target = EXPORT_TARGETS.find((t) => t.name === name);
  if (!target) {
    throw new ReconError(
      ERROR_CODES.USAGE,
      `unknown export target ${JSON.stringify(name)} (${EXPORT_TARGETS.map((t) => t.name).join(", ")})`,
    );
  }
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: rest,
      options: { ...COMMON_OPTIONS, ...target.options },
      strict: true,
      allowPositionals: false,
    });
  } catch (error) {
    throw new ReconError(ERROR_CODES.USAGE, `export ${name}: ${errorText(error)}`);
  }
  const values = parsed.values;
  if (values.help === true) {
    out.stdout(targetHelp(target));
    return;
  }
  const from = (values.from as string[] | undefined) ?? [];
  if (from.length === 0)
    throw new ReconError(ERROR_CODES.USAGE, `export ${name} needs --from SOURCE`);
  const url = (values.url as string | undefined) ?? null;
  if (url !== null && !isUrl(url)) {
    throw new ReconError(ERROR_CODES.USAGE, `--url must be http:// or https://: ${url}`);
  }
  const tokenFile = (values["token-file"] as string | undefined) ?? null;
  let token: string | null = null;
  if (tokenFile !== null) {
    try {
      token = (await readFile(tokenFile, "utf8")).split(/\r?\n/, 1)[0]?.trim() || null;
    } catch (error) {
      throw new ReconError(
        ERROR_CODES.IO,
        `cannot read --token-file ${tokenFile}: ${errorText(error)}`,
      );
    }
    if (token === null)
      throw new ReconError(ERROR_CODES.USAGE, `--token-file ${tokenFile} is empty`);
  }
  const session = await target.start({
    out: (values.out as string | undefined) ?? null,
    url,
    dryRun: values["dry-run"] === true,
    token,
    values,
    fetch: out.fetch,
  });
  const entries = await listSources(from, out.fetch);
  const results: NodeResult[] = [];
  const progress = progressReporter(entries.length, values.quiet === true ? null : out);
  const seen = new Map<string, string>();
  for (const entry of entries) {
    const loaded = await loadEntry(entry);
    const earlier = loaded.ok ? seen.get(loaded.document.nodeId) : undefined;
    if (loaded.ok && earlier !== undefined) {
      // Two sources holding the same node (a stick and the master, say): exporting both would
      // overwrite one with the other silently.
      results.push({
        node: loaded.document.nodeId,
        source: loaded.source,
        outcome: "failed",
        detail: `same nodeId as ${earlier}: exported once, from there`,
      });
    } else if (!loaded.ok) {
      results.push({
        node: loaded.node,
        source: loaded.source,
        outcome: "failed",
        detail: loaded.reason,
      });
    } else {
      let result: NodeResult;
      try {
        seen.set(loaded.document.nodeId, loaded.source);
        const r = await session.node(loaded.document);
        result = { node: loaded.document.nodeId, source: loaded.source, ...r };
      } catch (error) {
        result = {
          node: loaded.document.nodeId,
          source: loaded.source,
          outcome: "failed",
          detail: errorText(error),
        };
      }
      results.push(result);
    }
    progress(results.length, results.at(-1)?.node ?? "");
  }
  await session.finish();
  out.stdout(
    values.json === true
      ? `${JSON.stringify({ target: name, results }, null, 2)}\n`
      : formatSummary(results),
  );
  const bad = failed(results);
  if (entries.length === 0) {
    throw new ReconError(ERROR_CODES.USAGE, `no inventory documents in ${from.join(", ")}`);
  }
  if (bad.length > 0) {
    throw new ReconError(ERROR_CODES.EXPORT_FAILED, `export ${name}: ${countLine(results)}`);
  }
}

/** Progress on stderr for more than one node: one redrawn line on a terminal, else per 10%. */
function progressReporter(
  total: number,
  io: ExportIo | null,
): (done: number, node: string) => void {
  if (io === null || total < 2) return () => undefined;
  const step = Math.max(1, Math.ceil(total / 10));
  return (done, node) => {
    if (io.stderrIsTty) {
      io.stderr(
        `\rexport: ${done}/${total} ${node.slice(0, 40).padEnd(40)}${done === total ? "\n" : ""}`,
      );
    } else if (done % step === 0 || done === total) {
      io.stderr(`export: ${done}/${total} nodes\n`);
    }
  };
}
