// The status page in a real headless browser (Debian's chromium through playwright-core): an
// uploaded node is in the table with its state and problems, a node uploaded after the page loaded
// appears without a reload, search and the state filter narrow the table, it fits 1400 px, and
// hostile values from the network stay text. (1,000 nodes: test/master/hall-browser.test.ts.)
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { type Browser, chromium } from "playwright-core";
import { DOWNLOAD_LINKS } from "../../agent/master/downloads.ts";
import { escapeHtml, formatAge, formatBytes, NODE_STATES } from "../../agent/master/page.ts";
import { underCI } from "../support/ci.ts";
import {
  evidenceOf,
  putEvidence,
  putInventory,
  sandbox,
  startTestServer,
  type TestServer,
} from "../support/master.ts";
import { sampleInventory } from "../support/sample-inventory.ts";

/**
 * The page's own mark that every row is in. A function, not a string: Playwright evaluates a
 * string predicate with eval, which the page's CSP (no 'unsafe-eval') refuses at times.
 */
/** Marks rack1-u07's row element, and reads the mark back (run in the browser). */
type PageWithRows = { document: { querySelector(s: string): { mark?: number } } };
const markFirstRow = () => {
  const row = (globalThis as unknown as PageWithRows).document.querySelector(
    'tr[data-key="rack1-u07"]',
  );
  row.mark = 1;
};
const firstRowMark = () =>
  (globalThis as unknown as PageWithRows).document.querySelector('tr[data-key="rack1-u07"]').mark;
const rowsRendered = () => Number((globalThis as { reconAllRowsAt?: unknown }).reconAllRowsAt) > 0;

const CHROMIUM = "/usr/bin/chromium";
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium && underCI) {
  test("chromium is installed in CI", () =>
    assert.fail(`${CHROMIUM} missing (apt-get install chromium)`));
}

describe("status page", { skip: haveChromium ? false : `${CHROMIUM} not installed` }, () => {
  const box = sandbox();
  let t: TestServer;
  let browser: Browser;
  before(async () => {
    t = await startTestServer({ root: path.join(box.dir, "root") });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    });
  });
  after(async () => {
    await browser?.close();
    await t?.server.close();
    box.cleanup();
  });

  test("shows reported nodes, then new ones without a reload", async () => {
    const first = sampleInventory({ nodeId: "rack1-u07" });
    assert.equal((await putInventory(t.url, "rack1-u07", first)).status, 201);
    assert.equal(
      (await putEvidence(t.url, "rack1-u07", evidenceOf({ "dmidecode.txt": "tar" }))).status,
      201,
    );

    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(String(e)));
    page.on("console", (m) => {
      if (m.type() === "error") errors.push(m.text());
    });
    // What each poll of the node list asked and got (live updates go by ?since=<cursor>).
    const polls: { url: string; status: number; nodes: number | null }[] = [];
    page.on("response", async (res) => {
      if (!res.url().includes("/api/v1/nodes")) return;
      const body = res.status() === 200 ? ((await res.json()) as { nodes: unknown[] }) : null;
      polls.push({ url: res.url(), status: res.status(), nodes: body ? body.nodes.length : null });
    });
    const response = await page.goto(t.url);
    assert.equal(response?.status(), 200);
    await page.waitForFunction(rowsRendered);

    const row = page.locator('tr[data-key="rack1-u07"]');
    assert.equal(await row.count(), 1);
    const cells = await row.locator("td").allTextContents();
    assert.equal(cells[0], "rack1-u07");
    assert.equal(await row.locator("td a").getAttribute("href"), "/node/rack1-u07");
    assert.equal(cells[1], "reported");
    assert.equal(cells[2], "Dell Inc. PowerEdge R640");
    assert.equal(cells[3], "7G6P2Z2");
    assert.match(cells[4] as string, /^2 × Intel Xeon Gold 6130 @ 2.10GHz, 64 threads$/);
    assert.equal(cells[5], "384 GiB in 12 DIMMs");
    assert.match(cells[6] as string, /^\d+, [\d.]+ [KMGT]iB$/);
    assert.match(cells[7] as string, /^\d+$/);
    assert.equal(cells[8], "10.10.0.57");
    assert.match(cells[9] as string, /^report · \d+[smhd]$/);
    // The sample's ipmitool-lan collector failed: visible in the row, not hidden.
    assert.equal(cells[10], "failed: ipmitool-lan");
    const count = (state: string) =>
      page.locator(`.counts button[data-state="${state}"] b`).textContent();
    assert.equal(await count(""), "1");
    assert.equal(await count("reported"), "1");
    assert.equal(await count("failed"), "0");
    assert.equal(await page.locator(".counts button").count(), NODE_STATES.length + 1);
    const hrefs = await page
      .locator("nav.downloads a[download]")
      .evaluateAll((links) => links.map((a) => a.getAttribute("href")));
    assert.deepEqual(
      hrefs,
      DOWNLOAD_LINKS.map((d) => d.path),
    );

    // A later node, with values that would be markup if anything used innerHTML.
    const hostile = sampleInventory({
      nodeId: "rack1-u09",
      hostname: '<img src=x onerror="window.pwned=1">',
      system: { ...first.system, serialNumber: "</td><script>window.pwned=1</script>" },
      bmc: null,
    });
    // The first node's row element is marked: an update that re-fetched everything rebuilds it.
    await page.evaluate(markFirstRow);
    assert.equal((await putInventory(t.url, "rack1-u09", hostile)).status, 201);
    const late = page.locator('tr[data-key="rack1-u09"]');
    await late.waitFor({ state: "attached", timeout: 15_000 });
    assert.equal(await page.evaluate(firstRowMark), 1, "the unchanged row was kept");
    // The first fetch is the whole list; the one that brought rack1-u09 only it, by cursor.
    assert.equal(polls[0]?.url, `${t.url}/api/v1/nodes`);
    const update = polls.find((p) => p.status === 200 && p.url.includes("?since="));
    assert.equal(update?.nodes, 1, JSON.stringify(polls));
    // Nothing changed since: the next polls are 304 (the conditional request is kept).
    await page.waitForTimeout(6500);
    assert.equal(polls.at(-1)?.status, 304, JSON.stringify(polls));
    const lateCells = await late.locator("td").allTextContents();
    assert.equal(lateCells[3], "</td><script>window.pwned=1</script>");
    assert.equal(lateCells[8], "");
    assert.equal(await count(""), "2");
    assert.equal(await page.locator("img").count(), 0);
    assert.equal(await page.evaluate("typeof window.pwned"), "undefined");

    // Search matches any cell and the host name; the state filter narrows by state.
    await page.fill("#search", "pwned");
    assert.equal(await page.locator("#shown").textContent(), "showing 1 of 2");
    assert.equal(await page.locator('tr[data-key="rack1-u07"]').isHidden(), true);
    await page.fill("#search", "");
    await page.selectOption("#state-filter", "failed");
    assert.equal(await page.locator("#shown").textContent(), "showing 0 of 2");
    await page.click('.counts button[data-state="reported"]');
    assert.equal(await page.locator("#shown").textContent(), "showing 2 of 2");
    assert.equal(await page.inputValue("#state-filter"), "reported");

    // 1400 px wide and no horizontal scroll.
    assert.ok(
      Number(await page.evaluate("document.documentElement.scrollWidth")) <= 1400,
      "the page scrolls sideways at 1400 px",
    );

    // A fresh load renders the hostile values as text too.
    await page.reload();
    await page.waitForFunction(rowsRendered);
    assert.equal(await page.locator("img").count(), 0);
    assert.equal(
      await page.locator('tr[data-key="rack1-u09"] td').nth(3).textContent(),
      "</td><script>window.pwned=1</script>",
    );
    assert.equal(await page.evaluate("typeof window.pwned"), "undefined");
    assert.deepEqual(errors, []);
    await page.close();
  });

  test("the page says so when the master stops answering", async () => {
    const page = await browser.newPage();
    await page.goto(t.url);
    await page.route("**/api/v1/nodes*", (route) => route.abort());
    await page.locator("#status.stale").waitFor({ timeout: 15_000 });
    await page.close();
  });

  test("escapeHtml, formatBytes, formatAge", () => {
    assert.equal(formatAge(42), "42s");
    assert.equal(formatAge(185), "3m");
    assert.equal(formatAge(7300), "2h");
    assert.equal(formatAge(200_000), "2d");
    assert.equal(formatAge(-5), "0s");
    assert.equal(
      escapeHtml(`<a href="x">'&'</a>`),
      "&#60;a href=&#34;x&#34;&#62;&#39;&#38;&#39;&#60;/a&#62;",
    );
    assert.equal(formatBytes(412316860416), "384 GiB");
    assert.equal(formatBytes(1536), "1.5 KiB");
    assert.equal(formatBytes(0), "0 B");
  });
});
