// report.html and nodes.csv: written by writeReport (the `report` command) and by the master on
// shutdown. The report is one self-contained file (no script, nothing external), lists every
// node with its state (failed, stalled and never-reported first), escapes values from the
// network, and links each node's files by paths relative to the report that resolve on disk.
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, test } from "node:test";
import { type RunningServer, serveCommand } from "../../agent/master/index.ts";
import type { NodeListItem } from "../../agent/master/page.ts";
import { renderReport, reportOrder, writeReport } from "../../agent/master/report.ts";
import {
  evidenceOf,
  putEvidence,
  putInventory,
  sandbox,
  startTestServer,
} from "../support/master.ts";
import { sampleInventory } from "../support/sample-inventory.ts";

/** href values of the report's links. */
function hrefs(html: string): string[] {
  return [...html.matchAll(/href="([^"]*)"/g)].map((m) => m[1] as string);
}

describe("report", () => {
  test("writeReport: counts, every node, relative links that resolve, nodes.csv as the export", async () => {
    const box = sandbox();
    try {
      const root = path.join(box.dir, "RECON-DATA");
      const t = await startTestServer({ root });
      const hostile = sampleInventory({
        nodeId: "rack1-u09",
        hostname: '<img src=x onerror="alert(1)">',
        system: { ...sampleInventory().system, serialNumber: "</td><script>x()</script>" },
      });
      assert.equal(
        (await putInventory(t.url, "rack1-u07", sampleInventory({ nodeId: "rack1-u07" }))).status,
        201,
      );
      assert.equal((await putInventory(t.url, "rack1-u09", hostile)).status, 201);
      assert.equal(
        (await putEvidence(t.url, "rack1-u07", evidenceOf({ "dmidecode.txt": "x" }))).status,
        201,
      );
      // Two nodes known only from their events: one failed, one whose agent started (by MAC).
      const post = (body: Record<string, unknown>) =>
        fetch(`${t.url}/api/v1/events`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ at: "2026-12-02T02:00:00Z", ...body }),
        });
      assert.equal(
        (await post({ type: "error", nodeId: "rack1-u11", bootMac: null, reason: "no disk <b>" }))
          .status,
        202,
      );
      assert.equal(
        (await post({ type: "agent-started", nodeId: null, bootMac: "52:54:00:00:00:0a" })).status,
        202,
      );
      const exported = await (await fetch(`${t.url}/api/v1/export/nodes.csv`)).text();
      await t.server.close();

      const out = path.join(box.dir, "elsewhere");
      const written = await writeReport({ root, out, now: () => new Date("2026-12-02T03:00:00Z") });
      assert.equal(written.nodes, 4);
      assert.equal(written.counts.reported, 2);
      assert.equal(written.counts.failed, 1);
      assert.equal(written.counts.agent, 1);
      assert.equal(readFileSync(written.csv, "utf8"), exported);
      const html = readFileSync(written.html, "utf8");
      assert.match(html, /<b>4<\/b>all nodes/);
      assert.match(html, /<b>2<\/b>reported/);
      assert.match(html, /<b>1<\/b>failed/);
      // The failed node first, with its reason (escaped), then the one that never reported.
      const order = [...html.matchAll(/data-key="([^"]+)"/g)].map((m) => m[1]);
      assert.deepEqual(order, ["rack1-u11", "mac-52540000000a", "rack1-u07", "rack1-u09"]);
      assert.ok(html.includes("no disk &#60;b&#62;"));
      assert.ok(!html.includes("<script"), "no script in the report");
      assert.ok(!/src=|https?:\/\//.test(html), "nothing loaded from elsewhere");
      assert.ok(html.includes("&#60;/td&#62;&#60;script&#62;x()&#60;/script&#62;"));
      // Links are relative to the report and name files that exist.
      const links = hrefs(html);
      assert.deepEqual(links.sort(), [
        "../RECON-DATA/nodes/rack1-u07/evidence.tar.gz",
        "../RECON-DATA/nodes/rack1-u07/inventory.json",
        "../RECON-DATA/nodes/rack1-u09/inventory.json",
      ]);
      for (const href of links) assert.ok(existsSync(path.join(out, href)), href);

      // Default: beside the nodes, on the stick's root.
      const onStick = await writeReport({ root });
      assert.equal(onStick.html, path.join(root, "report.html"));
      assert.ok(
        hrefs(readFileSync(onStick.html, "utf8")).includes("nodes/rack1-u07/inventory.json"),
      );
    } finally {
      box.cleanup();
    }
  });

  test("failed, stalled and never-reported nodes come first, with their reason", () => {
    const base = {
      hostname: null,
      serial: null,
      manufacturer: null,
      product: null,
      cpu: null,
      cpuModel: null,
      cpuSockets: null,
      logicalCpus: null,
      memory: null,
      memoryBytes: null,
      bmcAddress: null,
      bootMac: null,
      collectedAt: null,
      lastReportAt: null,
      inventory: null,
      evidence: null,
      conflicts: 0,
      disks: 0,
      diskBytes: null,
      nics: 0,
      failedCollectors: [],
      warnings: 0,
    } satisfies Omit<NodeListItem, "nodeId">;
    const nodes: NodeListItem[] = [
      { ...base, nodeId: "a-done", state: "powered-off" },
      { ...base, nodeId: "b-ok", state: "reported" },
      { ...base, nodeId: "c-conflict", state: "reported", conflicts: 1 },
      { ...base, nodeId: "mac-525400000001", key: "mac-525400000001", state: "dhcp" },
      { ...base, nodeId: "e-stuck", state: "stalled" },
      { ...base, nodeId: "f-broken", state: "failed", reason: "upload refused: disk full" },
    ];
    assert.deepEqual(
      reportOrder(nodes).map((n) => n.nodeId),
      ["f-broken", "e-stuck", "mac-525400000001", "c-conflict", "b-ok", "a-done"],
    );
    const html = renderReport({
      nodes,
      root: "/r",
      out: "/r",
      generatedAt: "2026-12-02T03:00:00.000Z",
    });
    const order = [...html.matchAll(/data-key="([^"]+)"/g)].map((m) => m[1]);
    assert.deepEqual(order, [
      "f-broken",
      "e-stuck",
      "mac-525400000001",
      "c-conflict",
      "b-ok",
      "a-done",
    ]);
    assert.match(html, /upload refused: disk full/);
    assert.match(html, /<b>1<\/b>failed/);
    // No inventory, no links.
    assert.deepEqual(hrefs(html), []);
  });

  test("the master writes the report to its data root when it shuts down", async () => {
    const box = sandbox();
    const root = path.join(box.dir, "RECON-DATA");
    const lines: string[] = [];
    const controller = new AbortController();
    let listening: (server: RunningServer) => void = () => undefined;
    const ready = new Promise<RunningServer>((resolve) => {
      listening = resolve;
    });
    const running = serveCommand(
      { root, host: "127.0.0.1", port: 0, token: null },
      {
        writeLine: (line) => lines.push(line),
        signal: controller.signal,
        onListening: (s) => listening(s),
      },
    );
    try {
      const server = await ready;
      assert.equal(
        (await putInventory(server.url, "n1", sampleInventory({ nodeId: "n1" }))).status,
        201,
      );
      assert.equal(existsSync(path.join(root, "report.html")), false);
    } finally {
      controller.abort();
      await running;
    }
    try {
      const html = readFileSync(path.join(root, "report.html"), "utf8");
      assert.match(html, /data-key="n1"/);
      assert.match(readFileSync(path.join(root, "nodes.csv"), "utf8"), /^nodeId,/);
      assert.ok(lines.some((l) => JSON.parse(l).event === "report_written"));
    } finally {
      box.cleanup();
    }
  });
});
