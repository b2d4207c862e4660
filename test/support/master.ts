// Helpers for the master's tests: a server on loopback in a temp root, evidence archives, raw HTTP (so request
// targets reach the server exactly as written, without URL normalisation), the server in a child
// process (for crashes), and a recursive listing to prove nothing was written outside the root.
import { type ChildProcess, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import {
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { connect } from "node:net";
import os from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { create } from "tar";
import { type RunningServer, type ServerOptions, startServer } from "../../agent/master/index.ts";

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const NODE = process.execPath;

export function sha256Hex(data: Buffer | string): string {
  return createHash("sha256").update(data).digest("hex");
}

/** A fresh sandbox directory; the server's root goes inside it so escapes are visible. */
export function sandbox(): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(path.join(os.tmpdir(), "recon-master-test-"));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface TestServer {
  server: RunningServer;
  url: string;
  port: number;
  root: string;
  logs: Record<string, unknown>[];
}

export async function startTestServer(
  options: Partial<ServerOptions> & { root: string },
): Promise<TestServer> {
  const logs: Record<string, unknown>[] = [];
  const server = await startServer({
    host: "127.0.0.1",
    port: 0,
    log: (e) => logs.push(e),
    ...options,
  });
  return { server, url: server.url, port: server.port, root: options.root, logs };
}

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

/** One request on its own connection, the target sent verbatim. */
export function rawRequest(
  port: number,
  method: string,
  target: string,
  headers: Record<string, string> = {},
  body?: Buffer,
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port });
    const chunks: Buffer[] = [];
    socket.on("data", (chunk) => chunks.push(chunk));
    socket.on("error", reject);
    socket.on("close", () => {
      const all = Buffer.concat(chunks);
      const split = all.indexOf("\r\n\r\n");
      if (split < 0) {
        reject(new Error(`no HTTP response (${all.length} bytes)`));
        return;
      }
      const [statusLine = "", ...lines] = all.subarray(0, split).toString("latin1").split("\r\n");
      const status = Number(statusLine.split(" ")[1]);
      const parsed: Record<string, string> = {};
      for (const line of lines) {
        const at = line.indexOf(":");
        parsed[line.slice(0, at).trim().toLowerCase()] = line.slice(at + 1).trim();
      }
      resolve({ status, headers: parsed, body: all.subarray(split + 4) });
    });
    const head = [
      `${method} ${target} HTTP/1.1`,
      "Host: 127.0.0.1",
      "Connection: close",
      ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
      ...(body ? [`Content-Length: ${body.length}`] : []),
      "",
      "",
    ].join("\r\n");
    socket.write(head);
    if (body) socket.write(body);
  });
}

/**
 * Evidence as the peer packs it (agent/peer/evidence.ts): a gzip tar of a capture directory
 * holding these files. Deterministic (portable, fixed mtime), so equal files give equal bytes.
 */
export function evidenceOf(files: Record<string, string | Buffer>): Buffer {
  const dir = mkdtempSync(path.join(os.tmpdir(), "recon-evidence-"));
  try {
    const capture = path.join(dir, "capture");
    const archive = path.join(dir, "evidence.tar.gz");
    mkdirSync(capture);
    for (const [name, content] of Object.entries(files)) {
      writeFileSync(path.join(capture, name), content);
    }
    create(
      { gzip: true, cwd: capture, portable: true, sync: true, file: archive, mtime: new Date(0) },
      Object.keys(files).sort(),
    );
    return readFileSync(archive);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Every path below dir (relative), sorted. */
export function listTree(dir: string): string[] {
  const out: string[] = [];
  const walk = (sub: string) => {
    for (const name of readdirSync(path.join(dir, sub))) {
      const rel = path.join(sub, name);
      out.push(rel);
      if (lstatSync(path.join(dir, rel)).isDirectory()) walk(rel);
    }
  };
  walk("");
  return out.sort();
}

export interface ChildServer {
  child: ChildProcess;
  port: number;
  url: string;
  lines: Record<string, unknown>[];
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/** bench/serve-child.ts in its own process; resolves once it listens. */
export function startChildServer(args: string[]): Promise<ChildServer> {
  const child = spawn(NODE, [path.join(REPO, "bench/serve-child.ts"), ...args], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const lines: Record<string, unknown>[] = [];
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("child server did not start")), 20_000);
    child.once("exit", (code) => reject(new Error(`child server exited with ${code}`)));
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on("line", (line) => {
      const event = JSON.parse(line) as Record<string, unknown>;
      lines.push(event);
      if (event.event === "listening") {
        clearTimeout(timer);
        const port = event.port as number;
        resolve({
          child,
          port,
          url: `http://127.0.0.1:${port}`,
          lines,
          stop: async (signal: NodeJS.Signals = "SIGTERM") => {
            if (child.exitCode === null && child.signalCode === null) child.kill(signal);
            await exited;
          },
        });
      }
    });
  });
}

/** PUT an inventory document (object or exact bytes) with fetch. */
export async function putInventory(
  url: string,
  nodeId: string,
  doc: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: Record<string, unknown> }> {
  const payload = Buffer.isBuffer(doc) ? doc : Buffer.from(JSON.stringify(doc));
  const res = await fetch(`${url}/api/v1/nodes/${nodeId}/inventory`, {
    method: "PUT",
    headers: { "content-type": "application/json", ...headers },
    body: payload,
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

export async function putEvidence(
  url: string,
  nodeId: string,
  data: Buffer,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${url}/api/v1/nodes/${nodeId}/evidence`, {
    method: "PUT",
    headers: { "content-type": "application/gzip", ...headers },
    body: data,
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}
