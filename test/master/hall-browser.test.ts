// The status page and the node page with a hall of 1,000 nodes in mixed states, in headless
// Chromium, fed through a real master on loopback: inventories through the upload API, peer
// events through POST /api/v1/events, and every node's lease in a dnsmasq-format lease file
// (150 nodes are known from it alone; the range is nearly used up). Checked: the counts, the
// search, the state filter,
// opening a node page from the table, the versions table naming the DIMM and disk serials that
// appeared or went, the downloads, and no sideways scroll at 1400 px. Screenshots at 1400x900 go
// to a temp directory (printed) for a person to look at; the time to the first full render of
// 1,000 rows is printed as a figure, not asserted.
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { gunzipSync } from "node:zlib";
import { type Browser, chromium, type Page } from "playwright-core";
import type { Inventory } from "../../schema/inventory.ts";
import { underCI } from "../support/ci.ts";
import { putInventory, sandbox, startTestServer, type TestServer } from "../support/master.ts";
import { sampleInventory } from "../support/sample-inventory.ts";

/**
 * The page's own mark that every row is in. A function, not a string: Playwright evaluates a
 * string predicate with eval, which the page's CSP (no 'unsafe-eval') refuses at times.
 */
const rowsRendered = () => Number((globalThis as { reconAllRowsAt?: unknown }).reconAllRowsAt) > 0;

const CHROMIUM = "/usr/bin/chromium";
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium && underCI) {
  test("chromium is installed in CI", () =>
    assert.fail(`${CHROMIUM} missing (apt-get install chromium)`));
}

const NODES = 1000;
/** Nodes 0-699 report (500-699 then power off), 700-749 fail, 750-849 start the agent, 850- DHCP only. */
const REPORTED = 700;
const POWERED_OFF_FROM = 500;
const FAILED_TO = 750;
const AGENT_TO = 850;
const bootMac = (i: number) => `b4:96:91:${hex((i >> 8) & 0xff, 2)}:${hex(i & 0xff, 2)}:10`;
/** 10.13.36.10 + i. */
const leaseIp = (i: number) => `10.13.${36 + ((10 + i) >> 8)}.${(10 + i) & 0xff}`;
const PRODUCTS = ["PowerEdge R640", "PowerEdge R650", "PowerEdge R750", "PowerEdge C6420"];
function hex(n: number, width: number): string {
  return n.toString(16).padStart(width, "0");
}

/** Node i of the hall: its own serials and MACs; every 10th with a failed collector. */
function hallNode(i: number): Inventory {
  const base = sampleInventory();
  const nodeId = `r${String(Math.floor(i / 40) + 1).padStart(2, "0")}-u${String((i % 40) + 1).padStart(2, "0")}`;
  const serial = `HX${hex(i, 5).toUpperCase()}`;
  const mac = (n: number) => `b4:96:91:${hex((i >> 8) & 0xff, 2)}:${hex(i & 0xff, 2)}:${hex(n, 2)}`;
  return sampleInventory({
    nodeId,
    hostname: `node-${i}`,
    boot: { ...base.boot, bootMac: mac(0x10) },
    system: {
      ...base.system,
      serialNumber: serial,
      productName: PRODUCTS[i % PRODUCTS.length] ?? null,
      uuid: null,
    },
    memory: {
      ...base.memory,
      dimms: base.memory.dimms.map((d, k) => ({ ...d, serialNumber: `D${hex(i, 4)}${hex(k, 2)}` })),
    },
    disks: base.disks.slice(0, 1 + (i % base.disks.length)).map((d, k) => ({
      ...d,
      serialNumber: `S${hex(i, 4)}-${k}`,
    })),
    nics: base.nics.map((n, k) => ({
      ...n,
      macAddress: mac(0x10 + k),
      permanentMacAddress: mac(0x10 + k),
    })),
    collectors: base.collectors.map((c) =>
      c.status === "failed" && i % 10 !== 0
        ? { ...c, status: "ok" as const, exitCode: 0, message: null }
        : c,
    ),
  });
}

async function shot(page: Page, dir: string, name: string): Promise<void> {
  const file = path.join(dir, `${name}.png`);
  await page.screenshot({ path: file });
  process.stdout.write(`# screenshot ${file}\n`);
}

describe("status page with a hall of 1,000 nodes", {
  skip: haveChromium ? false : `${CHROMIUM} not installed`,
}, () => {
  const box = sandbox();
  const shots = mkdtempSync(path.join(os.tmpdir(), "recon-hall-screens-"));
  let t: TestServer;
  let browser: Browser;
  const docs = Array.from({ length: NODES }, (_, i) => hallNode(i));
  before(async () => {
    // dnsmasq's files as the master's dnsmasq writes them: 1,000 leases of a 1,014-address range.
    const dnsmasq = path.join(box.dir, "dnsmasq");
    mkdirSync(dnsmasq);
    const leaseFile = path.join(dnsmasq, "dnsmasq.leases");
    const expiry = Math.floor(Date.now() / 1000) + 3600;
    writeFileSync(
      leaseFile,
      docs.map((_, i) => `${expiry} ${bootMac(i)} ${leaseIp(i)} * *\n`).join(""),
    );
    const conf = path.join(dnsmasq, "dnsmasq.conf");
    writeFileSync(
      conf,
      `dhcp-range=10.13.36.10,${leaseIp(NODES + 13)},255.255.252.0,1h\ndhcp-leasefile=${leaseFile}\n`,
    );
    // The whole hall is fed from one loopback address: no per-client rate limit (rate.ts) here.
    const unlimited = { burst: 1_000_000, perSecond: 1_000_000 };
    t = await startTestServer({
      root: path.join(box.dir, "root"),
      dnsmasqConf: conf,
      clientRate: { events: unlimited, uploads: unlimited },
    });
    const each = async (from: number, to: number, work: (i: number) => Promise<void>) => {
      let next = from;
      await Promise.all(
        Array.from({ length: 16 }, async () => {
          while (next < to) await work(next++);
        }),
      );
    };
    await each(0, REPORTED, async (i) => {
      const doc = docs[i] as Inventory;
      const stored = await putInventory(t.url, doc.nodeId, doc);
      assert.equal(stored.status, 201, JSON.stringify(stored.body));
    });
    const post = async (body: Record<string, unknown>) => {
      const res = await fetch(`${t.url}/api/v1/events`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ at: new Date().toISOString(), ...body }),
      });
      assert.equal(res.status, 202, await res.text());
    };
    await each(POWERED_OFF_FROM, REPORTED, (i) =>
      post({ type: "powering-off", nodeId: docs[i]?.nodeId, bootMac: bootMac(i), method: "ipmi" }),
    );
    await each(REPORTED, FAILED_TO, (i) =>
      post({
        type: "error",
        nodeId: docs[i]?.nodeId,
        bootMac: bootMac(i),
        reason: "smartctl hung on /dev/sdb",
      }),
    );
    await each(FAILED_TO, AGENT_TO, (i) =>
      post({ type: "agent-started", nodeId: null, bootMac: bootMac(i) }),
    );
    // r01-u01 gets a second version: DIMM A1 swapped, a disk added.
    const first = docs[0] as Inventory;
    const second = {
      ...first,
      collectedAt: "2025-03-15T10:00:00.000Z",
      memory: {
        ...first.memory,
        dimms: first.memory.dimms.map((d, k) =>
          k === 0 ? { ...d, serialNumber: "SWAPPED01" } : d,
        ),
      },
      disks: [
        ...first.disks,
        {
          ...(first.disks[0] as Inventory["disks"][number]),
          name: "sdz",
          serialNumber: "NEWDISK9",
        },
      ],
    };
    assert.equal((await putInventory(t.url, first.nodeId, second)).status, 201);
    // Other hardware under r01-u02's id: kept apart as a conflict, shown on the page.
    const other = {
      ...(docs[1] as Inventory),
      system: { ...first.system, serialNumber: "OTHERBOX" },
      nics: [],
    };
    assert.equal((await putInventory(t.url, "r01-u02", other)).status, 202);
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
      ],
    });
  });
  after(async () => {
    await browser?.close();
    await t?.server.close();
    box.cleanup();
  });

  test("counts, search, filter, node page, versions, downloads; render time", async () => {
    const context = await browser.newContext({
      viewport: { width: 1400, height: 900 },
      acceptDownloads: true,
    });
    const page = await context.newPage();
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(String(e)));
    page.on("console", (m) => {
      if (m.type() === "error") errors.push(m.text());
    });

    const firstScreen: number[] = [];
    const allRows: number[] = [];
    const listArrived: number[] = [];
    for (let run = 0; run < 3; run++) {
      await page.goto(t.url);
      await page.waitForFunction(rowsRendered);
      firstScreen.push(Math.round(Number(await page.evaluate("window.reconRenderedAt"))));
      allRows.push(Math.round(Number(await page.evaluate("window.reconAllRowsAt"))));
      listArrived.push(
        Math.round(
          Number(
            await page.evaluate(
              `performance.getEntriesByType("resource").find((e) => e.name.endsWith("/api/v1/nodes")).responseEnd`,
            ),
          ),
        ),
      );
    }
    // The master's own share: its log's time per request of the page and of the list.
    const served = (p: string) =>
      t.logs
        .filter((e) => e.event === "http" && e.path === p)
        .map((e) => e.ms)
        .join(", ");
    process.stdout.write(
      `# figure: master ms per GET / ${served("/")}; per GET /api/v1/nodes ${served("/api/v1/nodes")}\n`,
    );
    process.stdout.write(
      `# figure: ${NODES} nodes in headless Chromium, ms from navigation start: list fetched ${listArrived.join(", ")}; first screen ${firstScreen.join(", ")}; all rows ${allRows.join(", ")} (target < 300; load average ${os.loadavg()[0]?.toFixed(1)} on ${os.cpus().length} CPUs)\n`,
    );
    assert.equal(await page.locator("tbody#nodes tr").count(), NODES);
    const count = (state: string) =>
      page.locator(`.counts button[data-state="${state}"] b`).textContent();
    const expected = {
      "": NODES,
      dhcp: NODES - AGENT_TO,
      booting: 0,
      agent: AGENT_TO - FAILED_TO,
      reported: POWERED_OFF_FROM,
      "powered-off": REPORTED - POWERED_OFF_FROM,
      stalled: 0,
      failed: FAILED_TO - REPORTED,
    };
    for (const [state, n] of Object.entries(expected)) {
      assert.equal(await count(state), String(n), `count of ${state || "all"}`);
    }
    // 1,000 leases of 1,014 addresses: the page says the range is nearly used up.
    await page.locator("#dhcp:not([hidden])").waitFor({ timeout: 10_000 });
    assert.match((await page.locator("#dhcp").textContent()) ?? "", /1000 leases of 1014, 14 free/);
    assert.equal(await page.locator("#shown").textContent(), `showing ${NODES} of ${NODES}`);
    assert.ok(
      Number(await page.evaluate("document.documentElement.scrollWidth")) <= 1400,
      "sideways scroll at 1400 px",
    );
    // Newest activity first: r01-u02 (the conflict upload) and r01-u01 (second version) came last.
    const firstKeys = await page
      .locator("tbody#nodes tr")
      .evaluateAll((rows) => rows.slice(0, 2).map((r) => r.getAttribute("data-key")));
    assert.deepEqual(firstKeys.sort(), ["r01-u01", "r01-u02"]);
    assert.match(
      (await page.locator('tr[data-key="r01-u02"] td.problems').textContent()) ?? "",
      /1 conflict/,
    );
    await shot(page, shots, "1-hall-1000");

    // Search: one serial, then every node whose collector failed.
    await page.fill("#search", "HX0002A");
    assert.equal(await page.locator("#shown").textContent(), `showing 1 of ${NODES}`);
    assert.equal(
      await page.locator("tbody#nodes tr:not([hidden])").getAttribute("data-key"),
      "r02-u03",
    );
    await page.fill("#search", "failed: ipmitool-lan");
    assert.equal(
      await page.locator("#shown").textContent(),
      `showing ${REPORTED / 10} of ${NODES}`,
    );
    await shot(page, shots, "2-search-failed-collector");
    await page.fill("#search", "");
    // The failed ones, with their reason in the row.
    await page.click('.counts button[data-state="failed"]');
    assert.equal(
      await page.locator("#shown").textContent(),
      `showing ${FAILED_TO - REPORTED} of ${NODES}`,
    );
    assert.equal(
      await page.locator("tbody#nodes tr:not([hidden]) td.problems").first().textContent(),
      "smartctl hung on /dev/sdb",
    );
    await shot(page, shots, "3-filter-failed");
    await page.selectOption("#state-filter", "powered-off");
    assert.equal(
      await page.locator("#shown").textContent(),
      `showing ${REPORTED - POWERED_OFF_FROM} of ${NODES}`,
    );
    await page.click('.counts button[data-state=""]');
    // A node known from its lease alone, found by its MAC, and its page.
    await page.fill("#search", bootMac(900));
    assert.equal(await page.locator("#shown").textContent(), `showing 1 of ${NODES}`);
    const dhcpOnly = page.locator("tbody#nodes tr:not([hidden])");
    assert.equal(await dhcpOnly.getAttribute("data-state"), "dhcp");
    assert.equal(await dhcpOnly.locator("td.node").textContent(), bootMac(900));
    await dhcpOnly.locator("td.node a").click();
    await page.waitForURL(`${t.url}/node/mac-b49691038410`);
    assert.match(await page.content(), /<h2>Events \(1\)<\/h2>/);
    assert.equal(await page.locator("header .st").textContent(), "dhcp");
    await page.goBack();
    await page.fill("#search", "");

    // Downloads from the page's own links.
    for (const [label, check] of [
      [
        "nodes.csv",
        (data: Buffer) =>
          assert.equal(data.toString("utf8").trimEnd().split("\r\n").length, REPORTED + 1),
      ],
      [
        "all inventories",
        (data: Buffer) =>
          assert.ok(gunzipSync(data).includes(Buffer.from("nodes/r18-u20/inventory.json"))),
      ],
    ] as const) {
      const [download] = await Promise.all([
        page.waitForEvent("download"),
        page.click(`nav.downloads a:has-text("${label}")`),
      ]);
      const file = await download.path();
      check(readFileSync(file));
    }

    // The node page, opened from the table.
    await page.click('tr[data-key="r01-u01"] td.node a');
    await page.waitForURL(`${t.url}/node/r01-u01`);
    assert.equal(await page.locator("h1").textContent(), "r01-u01");
    const headings = await page.locator("h2").allTextContents();
    for (const want of [
      /^Events \(\d+\)$/,
      /^System$/,
      /^CPUs$/,
      /^Memory: 384 GiB in 12 of/,
      /^Disks/,
      /^NICs/,
      /^BMC$/,
      /^FRU$/,
      /^Collectors$/,
      /^Versions \(2/,
    ]) {
      assert.ok(
        headings.some((h) => want.test(h)),
        `${want} in ${headings.join(" | ")}`,
      );
    }
    const serials = await page.locator("table.versions td.serials").first().textContent();
    assert.match(serials ?? "", /DIMM D000000 \(A1\) went/);
    assert.match(serials ?? "", /DIMM SWAPPED01 \(A1\) appeared/);
    assert.match(serials ?? "", /disk NEWDISK9 \(sdz\) appeared/);
    await shot(page, shots, "4-node-page");
    await page.locator("table.versions").scrollIntoViewIfNeeded();
    await shot(page, shots, "5-node-versions");
    const inventoryLink = page.locator('nav a:has-text("inventory.json")');
    const res = await page.request.get(
      new URL((await inventoryLink.getAttribute("href")) ?? "", t.url).href,
    );
    assert.equal(((await res.json()) as Inventory).memory.dimms[0]?.serialNumber, "SWAPPED01");
    assert.deepEqual(errors, []);
    await context.close();
  });
});
