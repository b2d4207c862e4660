// npm run bench:master — the master under load, on loopback, server in its own process.
//  1. N peers (default 1000) upload at once: a 30-100 KB inventory document, then 200 KB of
//     evidence. Prints errors (target 0), p50/p99 latency, the server's peak RSS (VmHWM, target
//     under 256 MB).
//  2. A 500 MB file downloaded by 50 concurrent clients (curl) from the master, then from nginx
//     serving the same file on the same machine. Prints both throughputs and the ratio (target
//     at least 1.0: issue 14's target, met on an idle machine, docs/benchmarks-hall.md).
// Options: --peers N --clients N --file-mb N --rounds N --bundled --skip-uploads --skip-downloads.
// Every request has a timeout and each phase a deadline, so the run is bounded. Needs curl and
// nginx (Debian packages curl, nginx-light or nginx).
import { type ChildProcess, spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import {
  chmodSync,
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { createServer } from "node:net";
import os from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { Agent, request } from "undici";
import type { PciDevice } from "../schema/inventory.ts";
import { sampleInventory } from "../test/support/sample-inventory.ts";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const { values: opts } = parseArgs({
  options: {
    peers: { type: "string", default: "1000" },
    clients: { type: "string", default: "50" },
    "file-mb": { type: "string", default: "500" },
    "skip-uploads": { type: "boolean", default: false },
    rounds: { type: "string", default: "2" },
    bundled: { type: "boolean", default: false },
    "skip-downloads": { type: "boolean", default: false },
  },
});
const PEERS = Number(opts.peers);
const CLIENTS = Number(opts.clients);
const FILE_MB = Number(opts["file-mb"]);
const ROUNDS = Math.max(1, Number(opts.rounds));
const EVIDENCE_BYTES = 200 * 1024;
const UPLOAD_DEADLINE_MS = 180_000;
const DOWNLOAD_MAX_S = 300;

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number;
}

function procStatus(pid: number, field: string): number {
  try {
    const text = readFileSync(`/proc/${pid}/status`, "utf8");
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(text);
    return match ? Number(match[1]) * 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

const mb = (bytes: number) => (bytes / 1024 / 1024).toFixed(1);

interface Child {
  child: ChildProcess;
  port: number;
  stop(): Promise<void>;
}

let entry = path.join(HERE, "serve-child.ts");

/** --bundled: run the master from an esbuild bundle, as the shipped binary does (no type stripping). */
async function bundleEntry(): Promise<void> {
  const { build } = await import("esbuild");
  const out = path.join(
    mkdtempSync(path.join(os.tmpdir(), "recon-bench-bundle-")),
    "serve-child.mjs",
  );
  await build({
    entryPoints: [entry],
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node24",
    outfile: out,
    logLevel: "warning",
    banner: {
      js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);",
    },
  });
  entry = out;
  process.once("exit", () => rmSync(path.dirname(out), { recursive: true, force: true }));
}

function startMaster(args: string[]): Promise<Child> {
  const child = spawn(process.execPath, [entry, "--quiet", ...args], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("master did not start")), 30_000);
    child.once("exit", (code) => reject(new Error(`master exited with ${code}`)));
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on("line", (line) => {
      const event = JSON.parse(line) as { event: string; port: number };
      if (event.event !== "listening") return;
      clearTimeout(timer);
      resolve({
        child,
        port: event.port,
        stop: async () => {
          if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
          await exited;
        },
      });
    });
  });
}

/** A document of about `target` bytes: the sample, padded with PCI functions. */
function documentOf(nodeId: string, target: number): Buffer {
  const doc = sampleInventory({ nodeId, hostname: nodeId });
  const base = Buffer.byteLength(JSON.stringify(doc));
  const one: PciDevice = {
    address: "0000:00:00.0",
    classId: "0604",
    className: "PCI bridge",
    vendorId: "8086",
    vendorName: "Intel Corporation",
    deviceId: "2030",
    deviceName: "Sky Lake-E PCI Express Root Port A",
    subsystemVendorId: "1028",
    subsystemId: "0716",
    revision: "04",
    driver: "pcieport",
    numaNode: 0,
    sriovTotalVfs: null,
    sriovEnabledVfs: null,
  };
  const per = Buffer.byteLength(JSON.stringify(one)) + 1;
  const count = Math.max(0, Math.round((target - base) / per));
  doc.pciDevices = Array.from({ length: count }, (_, i) => ({
    ...one,
    address: `0000:${(i >> 8).toString(16).padStart(2, "0")}:${((i >> 3) & 31).toString(16).padStart(2, "0")}.${i & 7}`,
  }));
  return Buffer.from(JSON.stringify(doc));
}

function evidenceOf(): Buffer {
  const data = randomBytes(EVIDENCE_BYTES);
  data[0] = 0x1f;
  data[1] = 0x8b;
  data[2] = 0x08;
  return data;
}

async function uploadPhase(): Promise<void> {
  const root = mkdtempSync(path.join(os.tmpdir(), "recon-bench-master-"));
  const master = await startMaster(["--root", root]);
  const base = `http://127.0.0.1:${master.port}`;
  const dispatcher = new Agent({
    connections: PEERS,
    headersTimeout: 120_000,
    bodyTimeout: 120_000,
    connectTimeout: 60_000,
    keepAliveTimeout: 1_000,
  });
  const signal = AbortSignal.timeout(UPLOAD_DEADLINE_MS);
  const docs = Array.from({ length: PEERS }, (_, i) =>
    documentOf(`bench-${String(i).padStart(4, "0")}`, 30_000 + Math.floor((i * 70_000) / PEERS)),
  );
  const docBytes = docs.reduce((a, d) => a + d.length, 0);
  let peakRss = 0;
  const sampler = setInterval(() => {
    peakRss = Math.max(peakRss, procStatus(master.child.pid as number, "VmRSS") || 0);
  }, 50);
  const latencies: number[] = [];
  const peerLatencies: number[] = [];
  const errors = new Map<string, number>();
  const fail = (what: string) => errors.set(what, (errors.get(what) ?? 0) + 1);

  async function put(url: string, body: Buffer, type: string): Promise<boolean> {
    const started = performance.now();
    try {
      const res = await request(url, {
        method: "PUT",
        body,
        headers: { "content-type": type },
        dispatcher,
        signal,
      });
      const ack = (await res.body.json()) as { sha256?: string };
      latencies.push(performance.now() - started);
      if (res.statusCode !== 201 && res.statusCode !== 200) {
        fail(`HTTP ${res.statusCode}`);
        return false;
      }
      if (ack.sha256 !== createHash("sha256").update(body).digest("hex")) {
        fail("ack sha256 mismatch");
        return false;
      }
      return true;
    } catch (error) {
      fail((error as { code?: string }).code ?? String(error));
      return false;
    }
  }

  const started = performance.now();
  await Promise.all(
    docs.map(async (doc, i) => {
      const id = `bench-${String(i).padStart(4, "0")}`;
      const t0 = performance.now();
      if (!(await put(`${base}/api/v1/nodes/${id}/inventory`, doc, "application/json"))) return;
      if (!(await put(`${base}/api/v1/nodes/${id}/evidence`, evidenceOf(), "application/gzip"))) {
        return;
      }
      peerLatencies.push(performance.now() - t0);
    }),
  );
  const wall = performance.now() - started;
  clearInterval(sampler);
  const hwm = procStatus(master.child.pid as number, "VmHWM");
  const list = (await (await fetch(`${base}/api/v1/nodes`)).json()) as {
    count: number;
    withEvidence: number;
  };
  await master.stop();
  await dispatcher.close();
  rmSync(root, { recursive: true, force: true });

  latencies.sort((a, b) => a - b);
  peerLatencies.sort((a, b) => a - b);
  const errorCount = [...errors.values()].reduce((a, b) => a + b, 0);
  console.log(
    `uploads: ${PEERS} peers at once, documents ${(docBytes / PEERS / 1024).toFixed(0)} KiB avg (30-100 KB), evidence 200 KiB`,
  );
  console.log(
    `  wall ${(wall / 1000).toFixed(2)} s, stored ${list.count} nodes, ${list.withEvidence} with evidence`,
  );
  console.log(
    `  errors: ${errorCount}${errorCount ? ` ${JSON.stringify(Object.fromEntries(errors))}` : ""} (target 0)`,
  );
  console.log(
    `  request latency: p50 ${percentile(latencies, 50).toFixed(0)} ms, p99 ${percentile(latencies, 99).toFixed(0)} ms, max ${percentile(latencies, 100).toFixed(0)} ms (${latencies.length} requests)`,
  );
  console.log(
    `  per peer (document + evidence): p50 ${percentile(peerLatencies, 50).toFixed(0)} ms, p99 ${percentile(peerLatencies, 99).toFixed(0)} ms`,
  );
  console.log(
    `  server peak RSS: VmHWM ${mb(hwm)} MB (sampled VmRSS max ${mb(peakRss)} MB; target < 256 MB)`,
  );
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

async function startNginx(dir: string, docroot: string): Promise<Child> {
  const port = await freePort();
  const conf = path.join(dir, "nginx.conf");
  for (const sub of ["logs", "tmp"]) mkdirSync(path.join(dir, sub), { recursive: true });
  writeFileSync(
    conf,
    `worker_processes auto;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/logs/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_timeout 5;
  client_body_temp_path ${dir}/tmp/body;
  proxy_temp_path ${dir}/tmp/proxy;
  fastcgi_temp_path ${dir}/tmp/fastcgi;
  uwsgi_temp_path ${dir}/tmp/uwsgi;
  scgi_temp_path ${dir}/tmp/scgi;
  default_type application/octet-stream;
  server {
    listen 127.0.0.1:${port};
    location /isos/ { alias ${docroot}/; }
  }
}
`,
  );
  const child = spawn("nginx", ["-c", conf, "-p", dir], {
    stdio: ["ignore", "inherit", "inherit"],
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const until = Date.now() + 10_000;
  for (;;) {
    try {
      const res = await fetch(`http://127.0.0.1:${port}/isos/`, { method: "HEAD" });
      await res.arrayBuffer();
      break;
    } catch {
      if (Date.now() > until || child.exitCode !== null) throw new Error("nginx did not start");
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return {
    child,
    port,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGQUIT");
      await exited;
    },
  };
}

/** CLIENTS concurrent curl downloads of url; returns bytes/second over the whole run. */
async function downloadAll(
  url: string,
  expected: number,
): Promise<{ rate: number; failed: number }> {
  const started = performance.now();
  const results = await Promise.all(
    Array.from(
      { length: CLIENTS },
      () =>
        new Promise<number>((resolve) => {
          const curl = spawn(
            "curl",
            [
              "-s",
              "-o",
              "/dev/null",
              "--max-time",
              String(DOWNLOAD_MAX_S),
              "-w",
              "%{size_download}",
              url,
            ],
            { stdio: ["ignore", "pipe", "inherit"] },
          );
          let out = "";
          curl.stdout.on("data", (c) => {
            out += c;
          });
          curl.on("exit", (code) => resolve(code === 0 ? Number(out) : -1));
        }),
    ),
  );
  const seconds = (performance.now() - started) / 1000;
  const bytes = results.filter((b) => b > 0).reduce((a, b) => a + b, 0);
  return { rate: bytes / seconds, failed: results.filter((b) => b !== expected).length };
}

async function downloadPhase(): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), "recon-bench-static-"));
  chmodSync(dir, 0o755);
  const docroot = path.join(dir, "isos");
  mkdirSync(docroot, { mode: 0o755 });
  const file = path.join(docroot, "live.iso");
  const chunk = randomBytes(1024 * 1024);
  const fd = openSync(file, "w", 0o644);
  for (let i = 0; i < FILE_MB; i++) writeSync(fd, chunk);
  closeSync(fd);
  const size = FILE_MB * 1024 * 1024;
  const root = path.join(dir, "root");
  const master = await startMaster(["--root", root, "--static", `/isos=${docroot}`]);
  const nginx = await startNginx(path.join(dir, "nginx"), docroot);
  try {
    const nodeUrl = `http://127.0.0.1:${master.port}/isos/live.iso`;
    const nginxUrl = `http://127.0.0.1:${nginx.port}/isos/live.iso`;
    // Warm the page cache and both servers with one download each.
    await downloadOnce(nginxUrl);
    await downloadOnce(nodeUrl);
    // ABBA order (nginx, master, master, nginx, ...) so drift in the machine's load cancels out.
    const runs: { who: "nginx" | "master"; rate: number; failed: number }[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const order =
        round % 2 === 0 ? (["nginx", "master"] as const) : (["master", "nginx"] as const);
      for (const who of order) {
        const result = await downloadAll(who === "nginx" ? nginxUrl : nodeUrl, size);
        runs.push({ who, ...result });
      }
    }
    const mean = (who: string) => {
      const mine = runs.filter((r) => r.who === who);
      return mine.reduce((a, r) => a + r.rate, 0) / mine.length;
    };
    const failed = (who: string) =>
      runs.filter((r) => r.who === who).reduce((a, r) => a + r.failed, 0);
    const ng = { rate: mean("nginx"), failed: failed("nginx") };
    const node = { rate: mean("master"), failed: failed("master") };
    const hwm = procStatus(master.child.pid as number, "VmHWM");
    const gbs = (rate: number) => `${(rate / 1e9).toFixed(2)} GB/s`;
    console.log(
      `downloads: ${FILE_MB} MB file, ${CLIENTS} concurrent curl clients, ${ROUNDS} round(s) per server (ABBA order)`,
    );
    console.log(
      `  runs: ${runs.map((r) => `${r.who} ${(r.rate / 1e9).toFixed(2)}`).join(", ")} GB/s`,
    );
    console.log(`  nginx:         ${gbs(ng.rate)}${ng.failed ? ` (${ng.failed} failed)` : ""}`);
    console.log(
      `  recon master:  ${gbs(node.rate)}${node.failed ? ` (${node.failed} failed)` : ""}`,
    );
    console.log(`  ratio master/nginx: ${(node.rate / ng.rate).toFixed(2)} (target >= 1.0)`);
    console.log(`  master VmHWM after downloads: ${mb(hwm)} MB`);
  } finally {
    await master.stop();
    await nginx.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

function downloadOnce(url: string): Promise<void> {
  return new Promise<void>((resolve) => {
    const curl = spawn("curl", ["-s", "-o", "/dev/null", "--max-time", "120", url], {
      stdio: "ignore",
    });
    curl.on("exit", () => resolve());
  });
}

if (opts.bundled) await bundleEntry();
console.log(
  `master: ${opts.bundled ? "esbuild bundle" : "TypeScript sources (type stripping)"}, Node ${process.version}, ` +
    `UV_THREADPOOL_SIZE=${process.env.UV_THREADPOOL_SIZE ?? "4 (default)"}, ${os.cpus().length} CPUs, load ${os.loadavg()[0]?.toFixed(1)}`,
);
if (!opts["skip-uploads"]) await uploadPhase();
if (!opts["skip-downloads"]) {
  if (!existsSync("/usr/sbin/nginx") && !existsSync("/usr/bin/nginx")) {
    console.log("downloads: skipped (nginx not installed: apt-get install nginx-light)");
  } else {
    await downloadPhase();
  }
}
