// exportCommand end to end: a master data directory (as on the stick) with one bad document,
// the master's API as a source (the real master server on loopback), usage errors and help.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { ERROR_CODES, isReconError } from "../../agent/errors.ts";
import { EXPORT_HELP, exportCommand } from "../../agent/export/command.ts";
import { startServer } from "../../agent/master/serve.ts";
import { readCsv, replay } from "./fixtures.ts";

const MACHINES = [
  "dell-poweredge-r740-linuxhw",
  "ipmi-sim-openipmi",
  "hpe-proliant-dl380-gen10-linuxhw",
];

/** A data directory as the master keeps it, plus one node whose document is broken. */
async function dataDir(): Promise<{ root: string; ids: string[] }> {
  const root = mkdtempSync(join(tmpdir(), "h8-export-"));
  const ids: string[] = [];
  for (const machine of MACHINES) {
    const doc = await replay(machine);
    mkdirSync(join(root, "nodes", doc.nodeId), { recursive: true });
    writeFileSync(join(root, "nodes", doc.nodeId, "inventory.json"), JSON.stringify(doc));
    ids.push(doc.nodeId);
  }
  return { root, ids };
}

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return {
    out,
    err,
    io: {
      stdout: (t: string) => out.push(t),
      stderr: (t: string) => err.push(t),
      stderrIsTty: false,
    },
  };
}

async function rejectsWith(code: string, run: () => Promise<void>): Promise<Error> {
  let caught: unknown = null;
  await run().catch((e: unknown) => {
    caught = e;
  });
  assert.ok(isReconError(caught), `expected ${code}, got ${String(caught)}`);
  assert.equal(caught.code, code);
  return caught;
}

test("csv from a data directory: a bad node fails alone, the others are written", async () => {
  const { root, ids } = await dataDir();
  try {
    mkdirSync(join(root, "nodes", "broken-node"));
    writeFileSync(
      join(root, "nodes", "broken-node", "inventory.json"),
      '{"schemaVersion":"1.0.0"}',
    );
    mkdirSync(join(root, "nodes", "evidence-only"));
    const out = join(root, "csv");
    const c = capture();
    const error = await rejectsWith(ERROR_CODES.EXPORT_FAILED, () =>
      exportCommand(["csv", "--from", root, "--out", out], c.io),
    );
    assert.match(error.message, /4 nodes: 3 written, 1 failed/);
    const summary = c.out.join("");
    assert.match(summary, /^broken-node\s+failed\s+invalid document: /m);
    for (const id of ids) assert.match(summary, new RegExp(`^${id}\\s+written\\s+1 node row`, "m"));
    assert.doesNotMatch(summary, /evidence-only/, "a node without a document is not exported");
    const nodes = readCsv(readFileSync(join(out, "nodes.csv"), "utf8"));
    assert.deepEqual(
      nodes.slice(1).map((r) => r[0]),
      [...ids].sort(),
    );
    assert.match(c.err.join(""), /export: 4\/4 nodes/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test("glpi from the master's API: the same documents, dry-run plans and writes nothing", async () => {
  const { root, ids } = await dataDir();
  const server = await startServer({ root });
  try {
    const out = join(root, "glpi");
    const c = capture();
    await exportCommand(["glpi", "--from", server.url, "--out", out, "--json", "--quiet"], c.io);
    const { results } = JSON.parse(c.out.join("")) as {
      results: { node: string; outcome: string; source: string }[];
    };
    assert.deepEqual(results.map((r) => r.node).sort(), [...ids].sort());
    assert.ok(
      results.every(
        (r) => r.outcome === "written" && r.source.startsWith(`${server.url}/api/v1/nodes/`),
      ),
    );
    for (const id of ids) {
      const doc = JSON.parse(readFileSync(join(out, `${id}.json`), "utf8"));
      assert.equal(doc.action, "inventory");
    }
    assert.deepEqual(c.err, [], "--quiet");
    const plan = capture();
    await exportCommand(
      ["glpi", "--from", root, "--dry-run", "--out", join(root, "never")],
      plan.io,
    );
    assert.match(plan.out.join(""), /planned\s+would send deviceid recon-/);
    assert.throws(() => readFileSync(join(root, "never", `${ids[0]}.json`)));
  } finally {
    await server.close();
    rmSync(root, { recursive: true, force: true });
  }
});

test("usage: unknown target, unknown flag, missing --from or --out, csv with --url; help", async () => {
  const c = capture();
  await rejectsWith(ERROR_CODES.USAGE, () => exportCommand(["ldap", "--from", "/tmp"], c.io));
  await rejectsWith(ERROR_CODES.USAGE, () =>
    exportCommand(["csv", "--from", "/tmp", "--bogus"], c.io),
  );
  await rejectsWith(ERROR_CODES.USAGE, () => exportCommand(["csv", "--out", "/tmp/x"], c.io));
  await rejectsWith(ERROR_CODES.USAGE, () => exportCommand(["csv", "--from", "/tmp"], c.io));
  await rejectsWith(ERROR_CODES.USAGE, () =>
    exportCommand(["csv", "--from", "/tmp", "--url", "http://127.0.0.1:9/"], c.io),
  );
  await rejectsWith(ERROR_CODES.IO, () =>
    exportCommand(["csv", "--from", "/nonexistent/h8", "--dry-run"], c.io),
  );
  await exportCommand(["--help"], c.io);
  assert.equal(c.out.at(-1), EXPORT_HELP);
  await exportCommand(["glpi", "--help"], c.io);
  assert.match(c.out.at(-1) ?? "", /GLPI-Agent-ID/);
  for (const flag of ["--from", "--out", "--url", "--token-file", "--dry-run"])
    assert.ok(EXPORT_HELP.includes(flag), flag);
});

test("a master answering a body over the limit fails that node only", async () => {
  const doc = await replay("dell-poweredge-r740-linuxhw");
  const server = createServer((req, res) => {
    res.setHeader("Content-Type", "application/json");
    if (req.url === "/api/v1/nodes") {
      res.end(
        JSON.stringify({
          nodes: [
            { nodeId: "huge", inventory: {} },
            { nodeId: doc.nodeId, inventory: {} },
            { nodeId: "../etc", inventory: {} },
          ],
        }),
      );
    } else if (req.url === "/api/v1/nodes/huge/inventory") {
      res.end(" ".repeat(5 * 1024 * 1024));
    } else if (req.url === `/api/v1/nodes/${doc.nodeId}/inventory`) {
      res.end(JSON.stringify(doc));
    } else {
      res.statusCode = 404;
      res.end("{}");
    }
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  try {
    const c = capture();
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    await rejectsWith(ERROR_CODES.EXPORT_FAILED, () =>
      exportCommand(["csv", "--from", base, "--dry-run"], c.io),
    );
    const summary = c.out.join("");
    assert.match(summary, /^huge\s+failed\s+unreadable: .*exceeds the 4194304-byte limit/m);
    assert.match(summary, new RegExp(`^${doc.nodeId}\\s+planned`, "m"));
    assert.doesNotMatch(summary, /etc/, "an id that is not a node id is not put into a URL");
  } finally {
    server.close();
  }
});

test("the same node in two sources is exported once, the second reported", async () => {
  const { root, ids } = await dataDir();
  try {
    const copy = join(root, "copy.json");
    writeFileSync(copy, readFileSync(join(root, "nodes", ids[0] as string, "inventory.json")));
    const c = capture();
    await rejectsWith(ERROR_CODES.EXPORT_FAILED, () =>
      exportCommand(["csv", "--from", root, "--from", copy, "--out", join(root, "csv")], c.io),
    );
    assert.match(
      c.out.join(""),
      new RegExp(`^${ids[0]}\\s+failed\\s+same nodeId as .*inventory.json`, "m"),
    );
    const rows = readCsv(readFileSync(join(root, "csv", "nodes.csv"), "utf8")).slice(1);
    assert.equal(rows.length, ids.length);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
