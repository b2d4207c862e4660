// Helpers for the master's fault matrix (test/master/faults.test.ts): the real `recon-agent serve`
// in a child process (optionally inside a network namespace), a ledger of what was sent and what
// was acknowledged, and an audit of the store on disk that counts lost and corrupted documents.
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { createInterface } from "node:readline";
import { gunzipSync } from "node:zlib";
import { Inventory } from "../../schema/inventory.ts";
import { NODE, REPO, sha256Hex } from "./master.ts";

export interface ServeProcess {
  child: ChildProcess;
  port: number;
  url: string;
  /** Every log line the server wrote (JSON objects, one per stderr line). */
  lines: Record<string, unknown>[];
  /** Send signal and wait for the exit. */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/**
 * `node bin/recon-agent.js serve --root ROOT --host HOST --port 0`, resolved once its "listening"
 * log line gives the port. `prefix` runs it through another program (`ip netns exec NS`), which
 * execs node, so the child's pid is the server's.
 */
export function startServe(
  root: string,
  options: { host?: string; prefix?: string[] } = {},
): Promise<ServeProcess> {
  const host = options.host ?? "127.0.0.1";
  const argv = [
    ...(options.prefix ?? []),
    NODE,
    path.join(REPO, "bin/recon-agent.js"),
    "serve",
    "--root",
    root,
    "--host",
    host,
    "--port",
    "0",
  ];
  const child = spawn(argv[0] as string, argv.slice(1), { stdio: ["ignore", "ignore", "pipe"] });
  const lines: Record<string, unknown>[] = [];
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("serve did not start in 20 s")), 20_000);
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`serve exited early (${code ?? signal}): ${JSON.stringify(lines)}`));
    });
    createInterface({ input: child.stderr as NodeJS.ReadableStream }).on("line", (line) => {
      let event: Record<string, unknown>;
      try {
        event = JSON.parse(line) as Record<string, unknown>;
      } catch {
        event = { event: "stderr", line };
      }
      lines.push(event);
      if (event.event !== "listening") return;
      clearTimeout(timer);
      const port = event.port as number;
      resolve({
        child,
        port,
        url: `http://${host}:${port}`,
        lines,
        stop: async (signal: NodeJS.Signals = "SIGTERM") => {
          if (child.exitCode === null && child.signalCode === null) child.kill(signal);
          await exited;
        },
      });
    });
  });
}

/**
 * What a client sent and what the master acknowledged, per node. `sent` keeps every body that
 * left the client (acknowledged or not, in order); only those may appear on disk.
 */
export class Ledger {
  readonly sent = new Map<string, string[]>();
  readonly acked = new Map<string, Set<string>>();
  /** Per node and kind: index in `sent` of the last acknowledged body. */
  readonly lastAcked = new Map<string, number>();
  acknowledgements = 0;
  refusals = 0;

  private key(nodeId: string, kind: string): string {
    return `${nodeId}/${kind}`;
  }

  /** Record a body about to be sent; returns its sha256. */
  send(nodeId: string, kind: "inventory" | "evidence", body: Buffer): string {
    const sha = sha256Hex(body);
    const list = this.sent.get(this.key(nodeId, kind)) ?? [];
    list.push(sha);
    this.sent.set(this.key(nodeId, kind), list);
    return sha;
  }

  ack(nodeId: string, kind: "inventory" | "evidence", sha: string): void {
    const key = this.key(nodeId, kind);
    const set = this.acked.get(key) ?? new Set<string>();
    set.add(sha);
    this.acked.set(key, set);
    this.lastAcked.set(key, (this.sent.get(key) ?? []).lastIndexOf(sha));
    this.acknowledgements++;
  }

  nodes(): string[] {
    return [...new Set([...this.sent.keys()].map((k) => k.split("/")[0] as string))].sort();
  }
}

const KEPT_DIRS = ["history", "conflicts"];

export interface Audit {
  /** Acknowledged bodies found nowhere on disk (current file or history). */
  lost: string[];
  /** Files whose bytes were never sent, that do not parse, or whose name lies about them. */
  corrupted: string[];
  /** Dot-named or otherwise unexpected entries left in a node directory. */
  leftovers: string[];
  /** Current files older than the last acknowledged upload of the same client (a rollback). */
  rolledBack: string[];
  filesChecked: number;
}

function gunzipOk(data: Buffer): boolean {
  try {
    gunzipSync(data);
    return true;
  } catch {
    return false;
  }
}

/**
 * Audit <root>/nodes against the ledger. The current file of a node whose client sends one body
 * at a time must be its last acknowledged body or one sent after it (in flight at the fault).
 */
export function auditStore(root: string, ledger: Ledger, options: { ordered?: boolean } = {}) {
  const audit: Audit = { lost: [], corrupted: [], leftovers: [], rolledBack: [], filesChecked: 0 };
  const nodesDir = path.join(root, "nodes");
  for (const name of readdirSync(nodesDir)) {
    if (name.startsWith(".")) audit.leftovers.push(`nodes/${name}`);
  }
  for (const nodeId of ledger.nodes()) {
    const dir = path.join(nodesDir, nodeId);
    const found = { inventory: new Set<string>(), evidence: new Set<string>() };
    const check = (rel: string, kind: "inventory" | "evidence", current: boolean) => {
      const data = readFileSync(path.join(dir, rel));
      const sha = sha256Hex(data);
      audit.filesChecked++;
      const sent = ledger.sent.get(`${nodeId}/${kind}`) ?? [];
      let valid = sent.includes(sha);
      if (kind === "inventory") {
        try {
          const doc = Inventory.parse(JSON.parse(data.toString("utf8")));
          valid &&= doc.nodeId === nodeId;
        } catch {
          valid = false;
        }
      } else {
        valid &&= gunzipOk(data);
      }
      const named = /-([0-9a-f]{16,64})\.(json|tar\.gz)$/.exec(rel);
      if (named && !sha.startsWith(named[1] as string)) valid = false;
      if (!valid) audit.corrupted.push(`${nodeId}/${rel}`);
      found[kind].add(sha);
      const lastAcked = ledger.lastAcked.get(`${nodeId}/${kind}`);
      if (current && options.ordered && lastAcked !== undefined) {
        if (sent.lastIndexOf(sha) < lastAcked) audit.rolledBack.push(`${nodeId}/${rel}`);
      }
    };
    if (existsSync(dir)) {
      for (const name of readdirSync(dir)) {
        if (name === "inventory.json") check(name, "inventory", true);
        else if (name === "evidence.tar.gz") check(name, "evidence", true);
        else if (!KEPT_DIRS.includes(name)) audit.leftovers.push(`${nodeId}/${name}`);
      }
      // history/: replaced versions; conflicts/: same nodeId, other hardware, kept apart.
      for (const sub of KEPT_DIRS) {
        if (!existsSync(path.join(dir, sub))) continue;
        for (const name of readdirSync(path.join(dir, sub))) {
          const rel = path.join(sub, name);
          if (name.startsWith("inventory-")) check(rel, "inventory", false);
          else if (name.startsWith("evidence-")) check(rel, "evidence", false);
          else audit.leftovers.push(`${nodeId}/${rel}`);
        }
      }
    }
    for (const kind of ["inventory", "evidence"] as const) {
      for (const sha of ledger.acked.get(`${nodeId}/${kind}`) ?? []) {
        if (!found[kind].has(sha)) audit.lost.push(`${nodeId}/${kind}/${sha.slice(0, 16)}`);
      }
    }
  }
  return audit;
}

/** One PUT with fetch; network errors come back as status 0. */
export async function put(
  url: string,
  nodeId: string,
  kind: "inventory" | "evidence",
  body: Buffer,
): Promise<{ status: number; body: Record<string, unknown> }> {
  try {
    const res = await fetch(`${url}/api/v1/nodes/${nodeId}/${kind}`, {
      method: "PUT",
      headers: { "content-type": kind === "inventory" ? "application/json" : "application/gzip" },
      body,
      signal: AbortSignal.timeout(15_000),
    });
    const text = await res.text();
    let parsed: Record<string, unknown> = {};
    try {
      parsed = JSON.parse(text) as Record<string, unknown>;
    } catch {
      parsed = { text };
    }
    return { status: res.status, body: parsed };
  } catch (error) {
    return { status: 0, body: { error: String(error) } };
  }
}

/** PUT and record it in the ledger (200, 201, 202: acknowledged). */
export async function putRecorded(
  ledger: Ledger,
  url: string,
  nodeId: string,
  kind: "inventory" | "evidence",
  body: Buffer,
) {
  const sha = ledger.send(nodeId, kind, body);
  const res = await put(url, nodeId, kind, body);
  // 202: acknowledged and kept apart in conflicts/ (same nodeId, contradicting hardware).
  if (res.status === 200 || res.status === 201 || res.status === 202) {
    if (res.body.sha256 !== sha) throw new Error(`ack for ${nodeId} names ${res.body.sha256}`);
    ledger.ack(nodeId, kind, sha);
  } else {
    ledger.refusals++;
  }
  return res;
}
