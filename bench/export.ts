// npm run bench:export — the export command on many nodes. Generates N documents (default
// 1000) from the fixture machines (each with its own nodeId, UUID and serial), writes them as a
// master data directory, then times `export csv --out` and `export glpi --out` through
// exportCommand (reading, validating, mapping and writing every node). Targets: under 5 s each.
// NetBox: applies all N nodes to the stateful test server (test/support/netbox-server.ts, every
// body validated against the OpenAPI document), then times the plan (--dry-run) against the
// state that left (target under 20 s).
// Options: --nodes N.
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { collectInventory } from "../agent/collect/index.ts";
import { replayRunner } from "../agent/exec.ts";
import { exportCommand } from "../agent/export/command.ts";
import type { Inventory } from "../schema/inventory.ts";
import { startNetboxServer } from "../test/support/netbox-server.ts";

const { values } = parseArgs({ options: { nodes: { type: "string", default: "1000" } } });
const count = Number(values.nodes);
if (!Number.isInteger(count) || count < 1) throw new Error("--nodes must be a positive integer");

const fixtures = new URL("../fixtures/", import.meta.url).pathname;
const machines = readdirSync(fixtures, { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .map((d) => d.name)
  .sort();
const now = () => new Date("2026-11-25T12:00:00Z");
const bases: Inventory[] = [];
for (const machine of machines) {
  bases.push(await collectInventory({ runner: await replayRunner(join(fixtures, machine)), now }));
}

const root = mkdtempSync(join(tmpdir(), "recon-bench-export-"));
try {
  let bytes = 0;
  for (let i = 0; i < count; i++) {
    const base = bases[i % bases.length] as Inventory;
    const hex = i.toString(16).padStart(12, "0");
    const doc: Inventory = {
      ...base,
      nodeId: `bench-${hex}`,
      system: {
        ...base.system,
        uuid: `4c4c4544-0000-4000-8000-${hex}`,
        serialNumber: `BENCH${hex}`,
      },
    };
    const dir = join(root, "nodes", doc.nodeId);
    mkdirSync(dir, { recursive: true });
    const text = JSON.stringify(doc);
    bytes += text.length;
    writeFileSync(join(dir, "inventory.json"), text);
  }
  console.log(
    `${count} documents from ${bases.length} fixture machines, ${(bytes / 1e6).toFixed(1)} MB`,
  );
  const quiet = { stdout: () => undefined, stderr: () => undefined, stderrIsTty: false };
  for (const target of ["csv", "glpi"]) {
    const started = performance.now();
    await exportCommand(
      [target, "--from", root, "--out", join(root, `out-${target}`), "--quiet"],
      quiet,
    );
    const seconds = (performance.now() - started) / 1000;
    console.log(
      `export ${target.padEnd(4)} ${count} nodes: ${seconds.toFixed(2)} s (${((count / seconds) | 0).toString()} nodes/s; target under 5 s) ${seconds < 5 ? "ok" : "SLOW"}`,
    );
  }
  const netbox = await startNetboxServer({ token: "bench-token" });
  netbox.seed("dcim/sites", { name: "Bench", slug: "bench" });
  netbox.seed("dcim/device-roles", { name: "Server", slug: "server" });
  const tokenFile = join(root, "netbox-token");
  writeFileSync(tokenFile, "bench-token\n");
  const netboxArgs = ["netbox", "--from", root, "--url", netbox.url, "--token-file", tokenFile];
  try {
    for (const mode of ["apply", "plan"]) {
      const started = performance.now();
      await exportCommand(
        [...netboxArgs, "--site", "bench", "--role", "server", "--quiet"].concat(
          mode === "plan" ? ["--dry-run"] : [],
        ),
        quiet,
      ).catch(() => undefined); // nodes without a device type fail; the others are measured
      const seconds = (performance.now() - started) / 1000;
      const target = mode === "plan" ? `; target under 20 s) ${seconds < 20 ? "ok" : "SLOW"}` : ")";
      console.log(
        `export netbox ${mode} ${count} nodes: ${seconds.toFixed(2)} s (${netbox.writes.length} writes so far, ${netbox.rows("dcim/devices").length} devices${target}`,
      );
    }
  } finally {
    await netbox.close();
  }
} finally {
  rmSync(root, { recursive: true, force: true });
}
