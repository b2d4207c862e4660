// Peer run mode end to end on loopback: the real agent process (replaying a fixture), the real
// master server, and OpenIPMI's ipmi_sim as the node's BMC. The chassis must go off only after
// the master stored and acknowledged the inventory, and must stay on without an acknowledgement.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import {
  cpSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { startServer } from "../../agent/master/index.ts";
import { Inventory } from "../../schema/inventory.ts";
import { ipmiSimSkip, startIpmiSim } from "../support/ipmi-sim.ts";

const root = new URL("../..", import.meta.url).pathname;
const fixture = join(root, "fixtures/ipmi-sim-openipmi");

interface Exit {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `recon-agent` in peer run mode, as post.sh would, with the test runner's refusal lifted. */
function agent(
  args: string[],
  env: Record<string, string> = {},
  onStderr: (text: string) => void = () => {},
): Promise<Exit> {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env };
  delete childEnv.NODE_TEST_CONTEXT;
  const child = spawn(process.execPath, [join(root, "bin/recon-agent.js"), ...args], {
    env: childEnv,
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => {
    stdout += d;
  });
  child.stderr.on("data", (d) => {
    stderr += d;
    onStderr(stderr);
  });
  return new Promise((resolve) => child.on("close", (code) => resolve({ code, stdout, stderr })));
}

/** A work dir with a peer's cmdline, and the BMC fixture plus that cmdline as the capture. */
function workdir() {
  const dir = mkdtempSync(join(tmpdir(), "recon-peer-"));
  const cmdline = "BOOTIF=01-52-54-00-12-34-56 pxeaddr=127.0.0.1 postaction=liveboot\n";
  writeFileSync(join(dir, "cmdline"), cmdline);
  cpSync(fixture, join(dir, "capture"), { recursive: true });
  writeFileSync(join(dir, "capture", "cmdline.txt"), cmdline);
  return dir;
}

/** The agent's arguments every case shares: the test cmdline, the capture, the master, the spool. */
const peerArgs = (dir: string, master: string) => [
  "--cmdline",
  join(dir, "cmdline"),
  "--replay",
  join(dir, "capture"),
  "--master",
  master,
  "--spool",
  join(dir, "spool"),
];

const ipmiFlags = (bmc: { port: number; user: string }) => [
  "--ipmi-host",
  "127.0.0.1",
  "--ipmi-port",
  String(bmc.port),
  "--ipmi-user",
  bmc.user,
];

test("acknowledged upload, then the BMC switches the chassis off", {
  skip: ipmiSimSkip(),
}, async () => {
  const dir = workdir();
  const bmc = await startIpmiSim();
  const master = await startServer({ root: join(dir, "master"), host: "127.0.0.1", port: 0 });
  try {
    assert.equal(await bmc.powerState(), "on");
    const run = await agent(
      [...peerArgs(dir, master.url), "--poweroff", "hard", ...ipmiFlags(bmc)],
      { IPMI_PASSWORD: bmc.password },
    );
    assert.equal(run.code, 0, run.stderr);
    const doc = Inventory.parse(
      JSON.parse(
        readFileSync(
          join(dir, "master/nodes", (await listNodes(master.url))[0] ?? "", "inventory.json"),
          "utf8",
        ),
      ),
    );
    assert.equal(doc.boot.bootMac, "52:54:00:12:34:56");
    const stored = statSync(join(dir, "master/nodes", doc.nodeId, "inventory.json")).mtimeMs;
    assert.ok(existsSync(join(dir, "master/nodes", doc.nodeId, "evidence.tar.gz")));
    assert.equal(await bmc.powerState(), "off");
    const off = (await bmc.powerEvents()).find((e) => e.state === "off");
    assert.ok(off, "a power-off reached the BMC");
    assert.ok(off.at >= stored, `powered off at ${off.at}, stored at ${stored}`);
    // Logs: JSON lines on stderr, readable lines on stdout.
    const events = run.stderr
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l).event);
    assert.ok(
      events.indexOf("upload.done") < events.lastIndexOf("poweroff.done"),
      events.join(","),
    );
    assert.match(run.stdout, /acknowledged by/);
    assert.equal(existsSync(join(dir, "spool")), false, "nothing spooled");
    // The peer told the master each step: the early one by boot MAC, the rest by nodeId.
    const timeline = (await (
      await fetch(`${master.url}/api/v1/nodes/${encodeURIComponent(doc.nodeId)}/events`)
    ).json()) as { events: { type: string; key: string; detail: Record<string, unknown> }[] };
    assert.deepEqual(
      timeline.events.map((e) => [e.type, e.key]),
      [
        ["agent-started", "mac-525400123456"],
        ["collected", doc.nodeId],
        ["uploaded", doc.nodeId],
        ["powering-off", doc.nodeId],
      ],
    );
    assert.equal(timeline.events[3]?.detail.method, "hard");
    const failedCollectors = doc.collectors
      .filter((c) => c.status === "failed" || c.status === "timeout")
      .map((c) => c.name);
    assert.deepEqual(timeline.events[1]?.detail.failedCollectors, failedCollectors);
    const list = (await (await fetch(`${master.url}/api/v1/nodes`)).json()) as {
      nodes: { key: string; state: string; mac: string }[];
    };
    assert.deepEqual(
      list.nodes.map((n) => [n.key, n.state, n.mac]),
      [[doc.nodeId, "powered-off", "52:54:00:12:34:56"]],
    );
  } finally {
    await master.close();
    await bmc.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("no acknowledgement: the document is spooled, the chassis stays on, exit 5", {
  skip: ipmiSimSkip(),
}, async () => {
  const dir = workdir();
  const bmc = await startIpmiSim();
  try {
    // Nothing listens on port 9 of loopback: every attempt is refused.
    const run = await agent(
      [
        ...peerArgs(dir, "http://127.0.0.1:9/"),
        "--upload-timeout",
        "2",
        "--poweroff",
        "hard",
        ...ipmiFlags(bmc),
      ],
      { IPMI_PASSWORD: bmc.password },
    );
    assert.equal(run.code, 5, run.stderr);
    assert.match(run.stderr, /spooled to/);
    assert.equal(await bmc.powerState(), "on");
    assert.deepEqual(await bmc.powerEvents(), []);
    const spooled = JSON.parse(
      readFileSync(join(dir, "spool", nodeIdIn(run.stderr), "inventory.json"), "utf8"),
    );
    Inventory.parse(spooled);
    assert.ok(existsSync(join(dir, "spool", nodeIdIn(run.stderr), "evidence.tar.gz")));
  } finally {
    await bmc.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a master refusing the document: spooled, and the master shows the node failed with why", {
  skip: ipmiSimSkip(),
}, async () => {
  const dir = workdir();
  const bmc = await startIpmiSim();
  // Events are small and pass; the inventory is over the limit: a final 413.
  const master = await startServer({
    root: join(dir, "master"),
    host: "127.0.0.1",
    port: 0,
    maxInventoryBytes: 1000,
  });
  try {
    const run = await agent(
      [...peerArgs(dir, master.url), "--poweroff", "hard", ...ipmiFlags(bmc)],
      {
        IPMI_PASSWORD: bmc.password,
      },
    );
    assert.equal(run.code, 5, run.stderr);
    assert.equal(await bmc.powerState(), "on");
    const list = (await (await fetch(`${master.url}/api/v1/nodes`)).json()) as {
      nodes: { nodeId: string; state: string; reason: string; lastEvent: { type: string } }[];
    };
    assert.equal(list.nodes.length, 1);
    const node = list.nodes[0];
    assert.equal(node?.nodeId, nodeIdIn(run.stderr));
    assert.equal(node?.state, "failed");
    assert.equal(node?.lastEvent.type, "spooled");
    assert.match(node?.reason ?? "", /HTTP 413/);
  } finally {
    await master.close();
    await bmc.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a master refusing the token: no power-off, exit 5 without endless retries", {
  skip: ipmiSimSkip(),
}, async () => {
  const dir = workdir();
  const bmc = await startIpmiSim();
  const master = await startServer({
    root: join(dir, "master"),
    host: "127.0.0.1",
    port: 0,
    token: "right",
  });
  try {
    writeFileSync(join(dir, "token"), "wrong\n");
    const run = await agent(
      [
        ...peerArgs(dir, master.url),
        "--token-file",
        join(dir, "token"),
        "--poweroff",
        "hard",
        ...ipmiFlags(bmc),
      ],
      { IPMI_PASSWORD: bmc.password },
    );
    assert.equal(run.code, 5, run.stderr);
    assert.match(run.stderr, /HTTP 401/);
    assert.equal(await bmc.powerState(), "on");
  } finally {
    await master.close();
    await bmc.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("master down at first, up later: the peer retries and succeeds (no power-off requested)", async () => {
  const dir = workdir();
  // Reserve a port, then start the master on it while the agent is already retrying.
  const probe = await startServer({ root: join(dir, "probe"), host: "127.0.0.1", port: 0 });
  const port = probe.port;
  await probe.close();
  let retrying: () => void = () => {};
  const firstRetry = new Promise<void>((resolve) => {
    retrying = resolve;
  });
  const pending = agent(
    [...peerArgs(dir, `http://127.0.0.1:${port}/`), "--no-poweroff", "--upload-timeout", "60"],
    {},
    (text) => {
      if (text.includes('"upload.retry"')) retrying();
    },
  );
  await firstRetry;
  const master = await startServer({ root: join(dir, "master"), host: "127.0.0.1", port });
  try {
    const run = await pending;
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr, /upload.retry/);
    assert.equal((await listNodes(master.url)).length, 1);
  } finally {
    await master.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

async function listNodes(url: string): Promise<string[]> {
  const response = await fetch(new URL("api/v1/nodes", url));
  const body = (await response.json()) as { nodes: Array<{ nodeId: string }> };
  return body.nodes.map((n) => n.nodeId);
}

function nodeIdIn(stderr: string): string {
  const line = stderr.split("\n").find((l) => l.includes('"collect.done"'));
  return JSON.parse(line ?? "{}").nodeId;
}

test("--cmdline feeds the uploaded document; its quoted token authenticates and is stored nowhere", async () => {
  const dir = mkdtempSync(join(tmpdir(), "recon-h3-peer-"));
  // The replay has no cmdline.txt: bootMac and pxeServer can only come from --cmdline.
  cpSync(fixture, join(dir, "capture"), { recursive: true });
  rmSync(join(dir, "capture", "cmdline.txt"), { force: true });
  writeFileSync(
    join(dir, "cmdline"),
    'BOOTIF=01-52-54-00-aa-bb-cc pxeaddr=127.0.0.1 "recon.token=s3cret-quoted"\n',
  );
  const master = await startServer({
    root: join(dir, "master"),
    host: "127.0.0.1",
    port: 0,
    token: "s3cret-quoted",
  });
  try {
    const run = await agent([...peerArgs(dir, master.url), "--no-poweroff"]);
    assert.equal(run.code, 0, run.stderr);
    const [nodeId] = await listNodes(master.url);
    const stored = readFileSync(join(dir, "master/nodes", nodeId ?? "", "inventory.json"), "utf8");
    const doc = Inventory.parse(JSON.parse(stored));
    assert.equal(doc.boot.bootMac, "52:54:00:aa:bb:cc");
    assert.equal(doc.boot.pxeServer, "127.0.0.1");
    assert.ok(!stored.includes("s3cret-quoted"), "the token is not in the stored document");
    assert.ok(!`${run.stdout}${run.stderr}`.includes("s3cret-quoted"), "nor in the logs");
  } finally {
    await master.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
