// The per-node page /node/<key> over HTTP: its sections, its CSP (no script at all), values from
// the network escaped, 404 for an unknown or invalid key, and the versions: serialChanges names
// the DIMM, disk, NIC and PSU serials that appeared or went between two documents.
import assert from "node:assert/strict";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { NODE_PAGE_CSP, serialChanges } from "../../agent/master/node-page.ts";
import type { Inventory } from "../../schema/inventory.ts";
import {
  evidenceOf,
  putEvidence,
  putInventory,
  rawRequest,
  sandbox,
  startTestServer,
  type TestServer,
} from "../support/master.ts";
import { sampleInventory } from "../support/sample-inventory.ts";

describe("node page", () => {
  const box = sandbox();
  let t: TestServer;
  before(async () => {
    t = await startTestServer({ root: path.join(box.dir, "root") });
  });
  after(async () => {
    await t?.server.close();
    box.cleanup();
  });

  test("renders the inventory, collectors and versions; escapes; no script allowed", async () => {
    const first = sampleInventory({
      nodeId: "rack2-u01",
      hostname: '<img src=x onerror="alert(1)">',
    });
    assert.equal((await putInventory(t.url, "rack2-u01", first)).status, 201);
    const dimms = first.memory.dimms.slice(1);
    const second: Inventory = { ...first, memory: { ...first.memory, dimms }, disks: [] };
    assert.equal((await putInventory(t.url, "rack2-u01", second)).status, 201);
    assert.equal(
      (await putEvidence(t.url, "rack2-u01", evidenceOf({ "lscpu.txt": "x" }))).status,
      201,
    );

    const event = await fetch(`${t.url}/api/v1/events`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        type: "powering-off",
        nodeId: "rack2-u01",
        bootMac: null,
        at: "2026-12-02T02:00:00Z",
        method: "ipmi",
      }),
    });
    assert.equal(event.status, 202);
    const res = await fetch(`${t.url}/node/rack2-u01`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-security-policy"), NODE_PAGE_CSP);
    assert.ok(
      !NODE_PAGE_CSP.includes("script-src"),
      "the CSP allows no script (default-src 'none')",
    );
    const html = await res.text();
    assert.ok(!html.includes("<script"), "the page has no script");
    assert.ok(!html.includes("<img"), "the hostile host name is text");
    assert.ok(html.includes("&#60;img src=x onerror=&#34;alert(1)&#34;&#62;"));
    for (const heading of ["System", "CPUs", "BMC", "FRU", "Collectors"]) {
      assert.ok(html.includes(`<h2>${heading}</h2>`), heading);
    }
    assert.match(html, /<h2>Memory: 384 GiB in 11 of 24 slots<\/h2>/);
    assert.match(html, /<h2>Disks \(0\)<\/h2>/);
    // The event timeline, and the state it leads to.
    assert.match(html, /<h2>Events \(1\)<\/h2>/);
    assert.match(html, /<td>powering-off<\/td><td>ipmi<\/td>/);
    assert.match(html, /<span class="st st-powered-off">powered-off<\/span>/);
    // The failed collector's row is marked and carries its message.
    assert.match(html, /<tr class="bad"><td>ipmitool-lan<\/td><td>failed<\/td>.*Invalid channel 8/);
    // Versions, newest first: what went between the two uploads.
    const dimm = first.memory.dimms[0];
    assert.ok(html.includes(`DIMM ${dimm?.serialNumber} (${dimm?.locator}) went`));
    for (const disk of first.disks)
      assert.ok(html.includes(`disk ${disk.serialNumber} (${disk.name}) went`));
    assert.match(html, /<h2>Versions \(2, newest first\)<\/h2>/);
    assert.ok(html.includes('href="/api/v1/nodes/rack2-u01/inventory"'));
    assert.ok(html.includes('href="/api/v1/nodes/rack2-u01/evidence"'));
    assert.match(html, /href="\/nodes\/rack2-u01\/history\/inventory-[^"]+\.json"/);

    const head = await fetch(`${t.url}/node/rack2-u01`, { method: "HEAD" });
    assert.equal(head.status, 200);
    assert.equal((await head.text()).length, 0);
    assert.equal((await fetch(`${t.url}/node/rack2-u01`, { method: "POST" })).status, 405);
  });

  test("unknown or invalid keys: 404, nothing outside the store read", async () => {
    assert.equal((await fetch(`${t.url}/node/no-such-node`)).status, 404);
    for (const target of ["/node/..%2f..%2fetc", "/node/.hidden", "/node/", "/node/a%00b"]) {
      assert.equal((await rawRequest(t.port, "GET", target)).status, 404, target);
    }
  });

  test("serialChanges: parts that appeared or went, by serial (MAC for NICs)", () => {
    const a = sampleInventory();
    const dimm0 = a.memory.dimms[0];
    const nic0 = a.nics[0];
    const b: Inventory = {
      ...a,
      memory: {
        ...a.memory,
        dimms: a.memory.dimms.map((d, i) => (i === 0 ? { ...d, serialNumber: "NEW1" } : d)),
      },
      nics: a.nics.slice(1),
    };
    assert.deepEqual(serialChanges(a, a), []);
    assert.deepEqual(serialChanges(a, b), [
      { part: "DIMM", serial: dimm0?.serialNumber, where: dimm0?.locator, change: "went" },
      {
        part: "NIC",
        serial: nic0?.permanentMacAddress ?? nic0?.macAddress,
        where: nic0?.name,
        change: "went",
      },
      { part: "DIMM", serial: "NEW1", where: dimm0?.locator, change: "appeared" },
    ]);
    // A DIMM moved to another slot is the same part: no change.
    const moved: Inventory = {
      ...a,
      memory: {
        ...a.memory,
        dimms: a.memory.dimms.map((d, i) => (i === 0 ? { ...d, locator: "Z9" } : d)),
      },
    };
    assert.deepEqual(serialChanges(a, moved), []);
    // Unknown serials (null) are not parts that can come or go; junk input gives nothing.
    assert.deepEqual(serialChanges({ disks: [{ serialNumber: null }] }, {}), []);
    assert.deepEqual(serialChanges(null, "x"), []);
  });
});
