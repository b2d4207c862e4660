// What the operator does with the stick back in the office, run on the data the image lab read
// from the stick's RECON-DATA partition: every export target (file targets with --out, NetBox
// twice against the test server that answers like NetBox, the second run changing nothing), then
// `reparse` of the stick with today's parsers. Returns every problem found, [] when all is well.
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EXPORT_TARGETS, exportCommand } from "../../agent/export/command.ts";
import { reparseRoot } from "../../agent/master/reparse.ts";
import { startNetboxServer } from "../support/netbox-server.ts";

interface Result {
  node: string;
  outcome: string;
  detail: string;
}

/** Runs one export in-process with --json; its per-node results, or the reason it failed. */
async function exportJson(args: string[]): Promise<{ results: Result[]; error: string | null }> {
  let text = "";
  let error: string | null = null;
  await exportCommand([...args, "--json"], {
    stdout: (t) => {
      text += t;
    },
    stderr: () => undefined,
    stderrIsTty: false,
  }).catch((e: Error) => {
    error = e.message;
  });
  try {
    return { results: (JSON.parse(text) as { results: Result[] }).results, error };
  } catch {
    return { results: [], error: error ?? `no JSON summary: ${text.slice(0, 200)}` };
  }
}

export async function exportStick(
  root: string,
  expectedNodes: number,
  log: (line: string) => void,
): Promise<string[]> {
  const problems: string[] = [];
  const work = mkdtempSync(join(tmpdir(), "recon-stick-export-"));
  const check = (what: string, run: { results: Result[]; error: string | null }) => {
    const bad = run.results.filter((r) => r.outcome === "failed");
    if (run.error) problems.push(`${what}: ${run.error}`);
    for (const r of bad) problems.push(`${what}: ${r.node}: ${r.detail}`);
    if (run.results.length !== expectedNodes)
      problems.push(`${what}: ${run.results.length} nodes, expected ${expectedNodes}`);
    log(`${what}: ${run.results.map((r) => `${r.node} ${r.outcome}`).join(", ")}`);
  };
  try {
    for (const target of EXPORT_TARGETS.filter((t) => t.name !== "netbox")) {
      const out = join(work, target.name);
      check(`export ${target.name}`, await exportJson([target.name, "--from", root, "--out", out]));
      if (readdirSync(out).length === 0) problems.push(`export ${target.name}: wrote no file`);
    }
    const token = "0123456789abcdef";
    const server = await startNetboxServer({ token });
    try {
      server.seed("dcim/sites", { name: "Lab", slug: "lab" });
      server.seed("dcim/device-roles", { name: "Server", slug: "server" });
      const tokenFile = join(work, "netbox-token");
      writeFileSync(tokenFile, `${token}\n`);
      const args = ["netbox", "--from", root, "--url", server.url, "--token-file", tokenFile];
      const scope = ["--site", "lab", "--role", "server"];
      check("export netbox (first run)", await exportJson([...args, ...scope]));
      const refused = server.writes.filter((w) => w.refused !== null);
      for (const w of refused) problems.push(`netbox refused ${w.method} ${w.path}: ${w.refused}`);
      const writes = server.writes.length;
      const second = await exportJson([...args, ...scope]);
      check("export netbox (second run)", second);
      if (server.writes.length !== writes)
        problems.push(`export netbox: the second run wrote ${server.writes.length - writes} times`);
      for (const r of second.results.filter((r) => r.outcome !== "unchanged"))
        problems.push(`export netbox (second run): ${r.node} ${r.outcome}: ${r.detail}`);
    } finally {
      await server.close();
    }
    const reparsed = await reparseRoot({ root, dryRun: false });
    log(`reparse: ${reparsed.map((r) => `${r.nodeId} ${r.outcome} ${r.detail}`).join("; ")}`);
    for (const r of reparsed.filter((r) => r.outcome === "failed" || r.outcome === "conflict"))
      problems.push(`reparse: ${r.nodeId} ${r.outcome}: ${r.detail}`);
    if (reparsed.length !== expectedNodes)
      problems.push(`reparse: ${reparsed.length} nodes, expected ${expectedNodes}`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return problems;
}
