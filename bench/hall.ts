// npm run bench:hall — one master, 1,000 simulated peers, over a 1 Gbit/s link (as root).
// The real `recon-agent serve` (bin/recon-agent.js) runs in network namespace hb-srv; the peers run
// in hb-cli; a veth pair joins them, shaped to --gbit in each direction with tc tbf, so the master
// is link-bound as in a hall. Each peer does the whole HTTP sequence of a boot: menu.ipxe, kernel,
// initrd, image, post.tgz, event agent-started, event collected, inventory (sample document with
// its own nodeId, serials and MACs), evidence (a capture tar), event uploaded, event powering-off.
// The boot files are stand-ins: the real sizes (kiwi/README: kernel 8 MB, initrd 59 MB, ISO
// 334 MB, post.tgz 40 MB) divided by --scale (default 64); the figures are given for the stand-ins
// and the wall time is extrapolated to the real sizes. A probe process (also in hb-cli) times the
// status page and GET /api/v1/nodes during the storm; afterwards headless Chromium renders the
// page with every node.
// Prints: wall time / link floor (target <= 1.1), errors (0), master VmHWM (< 256 MB), p99 of the
// page and the node list during the storm (< 500 ms), page render with 1,000 nodes (< 300 ms).
// Options: --peers N (1000) --concurrency N (150) --scale N (64) --gbit X (1) --renders N (5).
// Internal modes (run inside hb-cli by the orchestrator): --drive, --probe, --render.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { Agent, request } from "undici";
import { evidenceOf } from "../test/support/master.ts";
import { documentTextOf, macOf, nodeIdOf } from "./hall-peers.ts";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, "..");
const SELF = fileURLToPath(import.meta.url);
const NS_SERVER = "hb-srv";
const NS_PEERS = "hb-cli";
const SERVER_IP = "10.213.0.1";
const PEER_IP = "10.213.0.2";
/** Each peer connects from its own address (the master limits rates per client IP, as in a hall). */
const PEER_NET = "10.213.16.0/20";
const peerAddressOf = (i: number) => `10.213.${16 + ((i + 1) >> 8)}.${(i + 1) & 255}`;
const PORT = 8080;
const BASE = `http://${SERVER_IP}:${PORT}`;
const CHROMIUM = "/usr/bin/chromium";

/** Real sizes of the boot files (kiwi/README.md "Figures"), bytes. */
const REAL = { kernel: 8e6, initrd: 59e6, image: 334e6, postTgz: 40e6 };

const { values: opts } = parseArgs({
  options: {
    peers: { type: "string", default: "1000" },
    concurrency: { type: "string", default: "150" },
    scale: { type: "string", default: "64" },
    gbit: { type: "string", default: "1" },
    renders: { type: "string", default: "5" },
    drive: { type: "boolean", default: false },
    probe: { type: "boolean", default: false },
    render: { type: "boolean", default: false },
  },
});
const PEERS = Number(opts.peers);
const CONCURRENCY = Number(opts.concurrency);
const SCALE = Number(opts.scale);
const GBIT = Number(opts.gbit);

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number;
}

const documentOf = (i: number): Buffer => Buffer.from(documentTextOf(i));

// ---------------------------------------------------------------- --drive (in hb-cli)

interface DriveResult {
  wallMs: number;
  bytesDown: number;
  bytesUp: number;
  requests: number;
  errors: Record<string, number>;
  peerP50Ms: number;
  peerP99Ms: number;
}

async function drive(): Promise<void> {
  const evidence = evidenceOf({
    "dmidecode.txt": "# dmidecode 3.4\n".repeat(2000),
    "lspci.txt": "00:00.0 Host bridge: Intel Corporation\n".repeat(500),
  });
  const errors = new Map<string, number>();
  const fail = (what: string) => errors.set(what, (errors.get(what) ?? 0) + 1);
  let bytesDown = 0;
  let bytesUp = 0;
  let requests = 0;
  const perPeer: number[] = [];

  async function one(
    peer: Agent,
    method: "GET" | "PUT" | "POST",
    urlPath: string,
    expect: number[],
    body?: Buffer,
    type?: string,
  ): Promise<boolean> {
    requests++;
    try {
      const res = await request(`${BASE}${urlPath}`, {
        method,
        body,
        headers: type ? { "content-type": type } : {},
        dispatcher: peer,
      });
      for await (const chunk of res.body) bytesDown += (chunk as Buffer).length;
      if (body) bytesUp += body.length;
      if (!expect.includes(res.statusCode)) {
        fail(`${method} ${urlPath.replace(/hall-\d+/, "<id>")}: HTTP ${res.statusCode}`);
        return false;
      }
      return true;
    } catch (error) {
      fail(
        `${method} ${urlPath.replace(/hall-\d+/, "<id>")}: ${(error as { code?: string }).code ?? String(error)}`,
      );
      return false;
    }
  }

  async function peer(i: number): Promise<void> {
    const nodeId = nodeIdOf(i);
    const bootMac = macOf(i);
    const at = () => new Date().toISOString();
    const event = (type: string, extra: Record<string, unknown> = {}) =>
      Buffer.from(JSON.stringify({ type, nodeId, bootMac, at: at(), ...extra }));
    // One connection per peer (a booting machine opens its own), closed when the peer is done.
    const conn = new Agent({
      localAddress: peerAddressOf(i),
      connections: 1,
      headersTimeout: 300_000,
      bodyTimeout: 300_000,
      connectTimeout: 60_000,
    });
    const t0 = performance.now();
    const steps: (() => Promise<boolean>)[] = [
      () => one(conn, "GET", "/menu.ipxe", [200]),
      () => one(conn, "GET", "/install/vmlinuz", [200]),
      () => one(conn, "GET", "/install/initrd.img", [200]),
      () => one(conn, "GET", "/install/live.iso", [200]),
      () => one(conn, "GET", "/post.tgz", [200]),
      () => one(conn, "POST", "/api/v1/events", [202], event("agent-started"), "application/json"),
      () =>
        one(
          conn,
          "POST",
          "/api/v1/events",
          [202],
          event("collected", { failedCollectors: [] }),
          "application/json",
        ),
      () =>
        one(
          conn,
          "PUT",
          `/api/v1/nodes/${nodeId}/inventory`,
          [200, 201],
          documentOf(i),
          "application/json",
        ),
      () =>
        one(
          conn,
          "PUT",
          `/api/v1/nodes/${nodeId}/evidence`,
          [200, 201],
          evidence,
          "application/gzip",
        ),
      () => one(conn, "POST", "/api/v1/events", [202], event("uploaded"), "application/json"),
      () =>
        one(
          conn,
          "POST",
          "/api/v1/events",
          [202],
          event("powering-off", { method: "ipmi" }),
          "application/json",
        ),
    ];
    let ok = true;
    for (const step of steps) if (!(await step())) ok = false;
    await conn.close();
    if (ok) perPeer.push(performance.now() - t0);
  }

  const started = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < PEERS) await peer(next++);
    }),
  );
  const wallMs = performance.now() - started;
  perPeer.sort((a, b) => a - b);
  const result: DriveResult = {
    wallMs,
    bytesDown,
    bytesUp,
    requests,
    errors: Object.fromEntries(errors),
    peerP50Ms: percentile(perPeer, 50),
    peerP99Ms: percentile(perPeer, 99),
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

// ---------------------------------------------------------------- --probe (in hb-cli)

/** Until stdin closes: GET / and GET /api/v1/nodes, one at a time each, every 200 ms. */
async function probe(): Promise<void> {
  const dispatcher = new Agent({ connections: 2, headersTimeout: 60_000, bodyTimeout: 60_000 });
  let running = true;
  process.stdin.on("end", () => {
    running = false;
  });
  process.stdin.resume();
  const loop = async (urlPath: string) => {
    const times: number[] = [];
    let errors = 0;
    while (running) {
      const t0 = performance.now();
      try {
        const res = await request(`${BASE}${urlPath}`, { dispatcher });
        await res.body.arrayBuffer();
        if (res.statusCode === 200) times.push(performance.now() - t0);
        else errors++;
      } catch {
        errors++;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    times.sort((a, b) => a - b);
    return {
      n: times.length,
      errors,
      p50: percentile(times, 50),
      p99: percentile(times, 99),
      max: percentile(times, 100),
    };
  };
  const [page, nodes] = await Promise.all([loop("/"), loop("/api/v1/nodes")]);
  await dispatcher.close();
  process.stdout.write(`${JSON.stringify({ page, nodes })}\n`);
}

// ---------------------------------------------------------------- --render (in hb-cli)

/** Load the status page --renders times in headless Chromium; time until every row is in the DOM. */
async function render(): Promise<void> {
  const { chromium } = await import("playwright-core");
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  const times: number[] = [];
  const firsts: number[] = [];
  const fetches: ({ sent: number; firstByte: number; lastByte: number } | null)[] = [];
  let rows = 0;
  try {
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    for (let run = 0; run < Number(opts.renders); run++) {
      await page.goto(BASE, { waitUntil: "commit" });
      // The page's own marks (agent/master/page.ts), ms since navigation start: the first screen of
      // rows, and every row in the table.
      const marks = await page.waitForFunction(
        () => {
          const w = globalThis as unknown as { reconRenderedAt?: number; reconAllRowsAt?: number };
          return (
            w.reconAllRowsAt !== undefined && { first: w.reconRenderedAt, all: w.reconAllRowsAt }
          );
        },
        undefined,
        { timeout: 30_000, polling: 10 },
      );
      const { first, all } = (await marks.jsonValue()) as { first: number; all: number };
      firsts.push(first);
      times.push(all);
      // Where the first list's time went (Resource Timing, ms since navigation start): the request
      // sent, the master's first byte, the last byte.
      fetches.push(
        await page.evaluate(() => {
          type ResourceTiming = {
            name: string;
            requestStart: number;
            responseStart: number;
            responseEnd: number;
          };
          const timing = performance as unknown as {
            getEntriesByType(type: string): ResourceTiming[];
          };
          const list = timing
            .getEntriesByType("resource")
            .find((e) => new URL(e.name).pathname === "/api/v1/nodes");
          return list
            ? { sent: list.requestStart, firstByte: list.responseStart, lastByte: list.responseEnd }
            : null;
        }),
      );
      rows = await page.locator("tr[data-key]").count();
    }
    // The browser's own view of the last load: navigation start to the load event.
    type NavigationTiming = {
      domContentLoadedEventEnd: number;
      loadEventEnd: number;
      transferSize: number;
    };
    const nav = await page.evaluate(() => {
      const timing = performance as unknown as {
        getEntriesByType(type: string): NavigationTiming[];
      };
      const entry = timing.getEntriesByType("navigation")[0] as NavigationTiming;
      return {
        domContentLoaded: entry.domContentLoadedEventEnd,
        load: entry.loadEventEnd,
        bytes: entry.transferSize,
      };
    });
    times.sort((a, b) => a - b);
    firsts.sort((a, b) => a - b);
    process.stdout.write(
      `${JSON.stringify({ rows, median: percentile(times, 50), firstMedian: percentile(firsts, 50), all: times, nav, fetches })}\n`,
    );
  } finally {
    await browser.close();
  }
}

// ---------------------------------------------------------------- orchestrator (as root)

function ip(...args: string[]): void {
  execFileSync("ip", args, { stdio: ["ignore", "ignore", "inherit"] });
}

function netnsTeardown(): void {
  for (const ns of [NS_SERVER, NS_PEERS]) {
    try {
      execFileSync("ip", ["netns", "del", ns], { stdio: "ignore" });
    } catch {
      // not there
    }
  }
}

/**
 * Two namespaces joined by veth hb-s (server) / hb-c (peers), each egress shaped with tbf. The
 * peers' own addresses (PEER_NET) are local to hb-cli as one route (any address in it can be
 * bound) and routed to it from hb-srv.
 */
function netnsSetup(): void {
  netnsTeardown();
  ip("netns", "add", NS_SERVER);
  ip("netns", "add", NS_PEERS);
  ip(
    "link",
    "add",
    "hb-s",
    "netns",
    NS_SERVER,
    "type",
    "veth",
    "peer",
    "name",
    "hb-c",
    "netns",
    NS_PEERS,
  );
  for (const [ns, dev, addr] of [
    [NS_SERVER, "hb-s", `${SERVER_IP}/24`],
    [NS_PEERS, "hb-c", `${PEER_IP}/24`],
  ] as const) {
    ip("-n", ns, "link", "set", "lo", "up");
    ip("-n", ns, "addr", "add", addr, "dev", dev);
    ip("-n", ns, "link", "set", dev, "up");
    execFileSync(
      "tc",
      [
        "-n",
        ns,
        "qdisc",
        "add",
        "dev",
        dev,
        "root",
        "tbf",
        "rate",
        `${GBIT * 1000}mbit`,
        "burst",
        "256kb",
        "latency",
        "50ms",
      ],
      { stdio: ["ignore", "ignore", "inherit"] },
    );
  }
  ip("-n", NS_PEERS, "route", "add", "local", PEER_NET, "dev", "lo");
  ip("-n", NS_SERVER, "route", "add", PEER_NET, "via", PEER_IP);
}

/** Bytes the tbf qdisc of dev has sent (`tc -s qdisc`), packets with their headers. */
function tbfSentBytes(ns: string, dev: string): number {
  const text = execFileSync("tc", ["-s", "-n", ns, "qdisc", "show", "dev", dev], {
    encoding: "utf8",
  });
  const match = /Sent (\d+) bytes/.exec(text);
  return match ? Number(match[1]) : Number.NaN;
}

function vmHwm(pid: number): number {
  try {
    const match = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return match ? Number(match[1]) * 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

/** Run this file in hb-cli in the given mode; resolves with its one JSON line. */
function inPeers<T>(mode: string, keepStdin = false): { child: ChildProcess; result: Promise<T> } {
  const child = spawn(
    "ip",
    [
      "netns",
      "exec",
      NS_PEERS,
      process.execPath,
      SELF,
      `--${mode}`,
      "--peers",
      String(PEERS),
      "--concurrency",
      String(CONCURRENCY),
      "--renders",
      String(opts.renders),
    ],
    { stdio: [keepStdin ? "pipe" : "ignore", "pipe", "inherit"] },
  );
  let out = "";
  child.stdout?.on("data", (c) => {
    out += c;
  });
  const result = new Promise<T>((resolve, reject) =>
    child.once("exit", (code) => {
      if (code !== 0) reject(new Error(`${mode} exited with ${code}`));
      else resolve(JSON.parse(out.trim().split("\n").pop() as string) as T);
    }),
  );
  return { child, result };
}

function writeStandIn(file: string, bytes: number): void {
  const data = Buffer.alloc(Math.round(bytes));
  for (let i = 0; i < data.length; i += 4096) data[i] = (i * 2654435761) & 255;
  writeFileSync(file, data);
}

async function orchestrate(): Promise<void> {
  if (process.getuid?.() !== 0) {
    console.log("bench:hall: needs root (network namespaces, tc); skipped");
    return;
  }
  const serveTs = readFileSync(path.join(REPO, "agent/master/serve.ts"), "utf8");
  const eventsApi = serveTs.includes('"/api/v1/events"');
  if (!eventsApi) {
    console.log(
      "bench:hall: POST /api/v1/events is not in agent/master/serve.ts yet; events would be skipped",
    );
  }
  const dir = mkdtempSync(path.join(os.tmpdir(), "recon-bench-hall-"));
  const install = path.join(dir, "install");
  mkdirSync(install);
  const sizes = {
    kernel: REAL.kernel / SCALE,
    initrd: REAL.initrd / SCALE,
    image: REAL.image / SCALE,
    postTgz: REAL.postTgz / SCALE,
  };
  writeStandIn(path.join(install, "vmlinuz"), sizes.kernel);
  writeStandIn(path.join(install, "initrd.img"), sizes.initrd);
  writeStandIn(path.join(install, "live.iso"), sizes.image);
  writeStandIn(path.join(dir, "post.tgz"), sizes.postTgz);
  writeFileSync(
    path.join(dir, "menu.ipxe"),
    `#!ipxe\nkernel ${BASE}/install/vmlinuz root=live:${BASE}/install/live.iso\ninitrd ${BASE}/install/initrd.img\nboot\n`,
  );
  const root = path.join(dir, "root");
  netnsSetup();
  let master: ChildProcess | null = null;
  const cleanup = () => {
    if (master && master.exitCode === null) master.kill("SIGKILL");
    netnsTeardown();
    rmSync(dir, { recursive: true, force: true });
  };
  process.once("SIGINT", () => {
    cleanup();
    process.exit(130);
  });
  try {
    master = spawn(
      "ip",
      [
        "netns",
        "exec",
        NS_SERVER,
        process.execPath,
        path.join(REPO, "bin/recon-agent.js"),
        "serve",
        "--root",
        root,
        "--host",
        SERVER_IP,
        "--port",
        String(PORT),
        "--menu",
        path.join(dir, "menu.ipxe"),
        "--post-tgz",
        path.join(dir, "post.tgz"),
        "--install",
        install,
      ],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    const masterProc = master;
    // `ip netns exec` execs the command: this pid is the master's node process.
    const masterPid = masterProc.pid as number;
    const exited = new Promise<void>((resolve) => masterProc.once("exit", () => resolve()));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("master did not start")), 60_000);
      masterProc.once("exit", (code) => reject(new Error(`master exited with ${code}`)));
      createInterface({ input: masterProc.stderr as NodeJS.ReadableStream }).on("line", (line) => {
        if (line.includes('"listening"')) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    const loadBefore = os.loadavg()[0] ?? Number.NaN;
    const prober = inPeers<{ page: Probe; nodes: Probe }>("probe", true);
    const driver = inPeers<DriveResult>("drive");
    const storm = await driver.result;
    const wireBytes = tbfSentBytes(NS_SERVER, "hb-s");
    prober.child.stdin?.end();
    const probes = await prober.result;
    const loadAfter = os.loadavg()[0] ?? Number.NaN;
    const rendered = existsSync(CHROMIUM)
      ? await inPeers<{
          rows: number;
          median: number;
          firstMedian: number;
          all: number[];
          nav: { load: number; bytes: number };
          fetches: ({ sent: number; firstByte: number; lastByte: number } | null)[];
        }>("render").result
      : null;
    const hwm = vmHwm(masterPid);
    masterProc.kill("SIGTERM");
    await exited;

    const rate = (GBIT * 1e9) / 8;
    const floorS = Math.max(storm.bytesDown, storm.bytesUp) / rate;
    const wallS = storm.wallMs / 1000;
    const errorCount = Object.values(storm.errors).reduce((a, b) => a + b, 0);
    const perPeerReal = REAL.kernel + REAL.initrd + REAL.image + REAL.postTgz;
    const perPeerStandIn = sizes.kernel + sizes.initrd + sizes.image + sizes.postTgz;
    const realFloorS = (PEERS * perPeerReal) / rate;
    const ms = (v: number) => `${v.toFixed(0)} ms`;
    console.log(
      `hall: ${PEERS} peers, ${CONCURRENCY} at once, real \`recon-agent serve\` (Node ${process.version}) over a veth pair shaped to ${GBIT} Gbit/s each way (tc tbf), ${os.cpus().length} CPUs, load ${loadBefore.toFixed(1)} before, ${loadAfter.toFixed(1)} after`,
    );
    console.log(
      `  stand-in boot files = real sizes / ${SCALE}: kernel ${(sizes.kernel / 1e6).toFixed(2)} MB, initrd ${(sizes.initrd / 1e6).toFixed(2)} MB, image ${(sizes.image / 1e6).toFixed(2)} MB, post.tgz ${(sizes.postTgz / 1e6).toFixed(2)} MB (${(perPeerStandIn / 1e6).toFixed(2)} MB per peer)`,
    );
    console.log(
      `  events API: ${eventsApi ? "present (4 events per peer)" : "missing: event steps fail with 404"}; ${storm.requests} requests`,
    );
    console.log(
      `  bytes: ${(storm.bytesDown / 1e9).toFixed(3)} GB down (master -> peers), ${(storm.bytesUp / 1e6).toFixed(1)} MB up`,
    );
    console.log(
      `  tbf sent ${(wireBytes / 1e9).toFixed(3)} GB master -> peers (packets with headers, the probe's pages too): bodies are ${((100 * storm.bytesDown) / wireBytes).toFixed(1)}%`,
    );
    console.log(
      `  wall ${wallS.toFixed(1)} s, link floor ${floorS.toFixed(1)} s (busier direction / link rate): ratio ${(wallS / floorS).toFixed(3)} (target <= 1.1)`,
    );
    console.log(
      `  with the real files (${(perPeerReal / 1e6).toFixed(0)} MB per peer): ${((PEERS * perPeerReal) / 1e9).toFixed(0)} GB, link floor ${realFloorS.toFixed(0)} s (${(realFloorS / 60).toFixed(0)} min); at this ratio ${((realFloorS * wallS) / floorS / 60).toFixed(0)} min`,
    );
    console.log(
      `  errors: ${errorCount}${errorCount ? ` ${JSON.stringify(storm.errors)}` : ""} (target 0)`,
    );
    console.log(
      `  per peer (whole sequence): p50 ${ms(storm.peerP50Ms)}, p99 ${ms(storm.peerP99Ms)}`,
    );
    console.log(`  master peak RSS: VmHWM ${(hwm / 1024 / 1024).toFixed(1)} MB (target < 256 MB)`);
    for (const [name, p] of [
      ["status page GET /", probes.page],
      ["GET /api/v1/nodes", probes.nodes],
    ] as const) {
      console.log(
        `  during the storm, ${name}: p50 ${ms(p.p50)}, p99 ${ms(p.p99)}, max ${ms(p.max)} (${p.n} requests, ${p.errors} errors; target p99 < 500 ms)`,
      );
    }
    if (rendered) {
      console.log(
        `  page with ${rendered.rows} nodes in headless Chromium: from navigation start (the page's own marks), median ${ms(rendered.firstMedian)} to the first screen of rows, ${ms(rendered.median)} to every row in the DOM (${rendered.all.map((t) => t.toFixed(0)).join(", ")} ms; last load event at ${ms(rendered.nav.load)}, ${(rendered.nav.bytes / 1024).toFixed(0)} KiB) (target < 300 ms)`,
      );
      const fetched = rendered.fetches.filter((f) => f !== null);
      const median = (values: number[]) =>
        percentile(
          [...values].sort((a, b) => a - b),
          50,
        );
      console.log(
        `  its first GET /api/v1/nodes, median of ${fetched.length} loads, from navigation start: sent at ${ms(median(fetched.map((f) => f.sent)))}, the master's first byte at ${ms(median(fetched.map((f) => f.firstByte)))}, the last at ${ms(median(fetched.map((f) => f.lastByte)))} (per load: ${fetched.map((f) => `${f.sent.toFixed(0)}/${f.firstByte.toFixed(0)}/${f.lastByte.toFixed(0)}`).join(", ")} ms)`,
      );
    } else {
      console.log(`  page render: skipped (${CHROMIUM} not installed)`);
    }
  } finally {
    cleanup();
  }
}

interface Probe {
  n: number;
  errors: number;
  p50: number;
  p99: number;
  max: number;
}

if (opts.drive) await drive();
else if (opts.probe) await probe();
else if (opts.render) await render();
else await orchestrate();
