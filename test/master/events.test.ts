// The events API and store through the real server on loopback: POST /api/v1/events under the
// upload rules (token, zod, size), the state on GET /api/v1/nodes, the timeline, a restart that
// reloads the append-only file (a torn last line included), and a real lease file feeding dhcp
// and boot-file events and the nearly-full warning.
import assert from "node:assert/strict";
import { appendFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { MAX_EVENT_BYTES } from "../../agent/master/events.ts";
import { sandbox, startTestServer } from "../support/master.ts";
import { until } from "../support/poll.ts";

const MAC = "52:54:00:12:34:56";
const at = "2026-12-02T01:00:00Z";

function post(url: string, body: unknown, headers: Record<string, string> = {}) {
  return fetch(`${url}/api/v1/events`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

type Node = { key: string; nodeId: string | null; state: string; reason: string | null };
async function nodes(url: string): Promise<Node[]> {
  return ((await (await fetch(`${url}/api/v1/nodes`)).json()) as { nodes: Node[] }).nodes;
}

describe("POST /api/v1/events", () => {
  it("takes a peer's events, keyed by boot MAC, then by nodeId; the list shows the state", async () => {
    const box = sandbox();
    const t = await startTestServer({ root: join(box.dir, "data") });
    try {
      const first = await post(t.url, { type: "agent-started", nodeId: null, bootMac: MAC, at });
      assert.equal(first.status, 202);
      assert.deepEqual(await first.json(), { accepted: true, seq: 1, key: "mac-525400123456" });
      assert.deepEqual(
        (await nodes(t.url)).map((n) => [n.key, n.nodeId, n.state]),
        [["mac-525400123456", null, "agent"]],
      );
      const second = await post(t.url, {
        type: "error",
        nodeId: "node-1",
        bootMac: MAC.toUpperCase(),
        at,
        reason: "collector budget exceeded",
      });
      assert.equal(second.status, 202);
      assert.deepEqual(
        (await nodes(t.url)).map((n) => [n.key, n.nodeId, n.state, n.reason]),
        [["node-1", "node-1", "failed", "collector budget exceeded"]],
      );
      const timeline = (await (await fetch(`${t.url}/api/v1/nodes/node-1/events`)).json()) as {
        events: { type: string; mac: string; seq: number }[];
      };
      assert.deepEqual(
        timeline.events.map((e) => [e.seq, e.type, e.mac]),
        [
          [1, "agent-started", MAC],
          [2, "error", MAC],
        ],
      );
      assert.equal((await fetch(`${t.url}/api/v1/nodes/nobody/events`)).status, 404);
      assert.equal((await fetch(`${t.url}/api/v1/events`)).status, 405);
    } finally {
      await t.server.close();
      box.cleanup();
    }
  });

  it("refuses what uploads refuse: no token, bad documents, big bodies, encodings", async () => {
    const box = sandbox();
    const t = await startTestServer({ root: join(box.dir, "data"), token: "s3cret" });
    const ok = { type: "uploaded", nodeId: "node-1", bootMac: null, at };
    const auth = { authorization: "Bearer s3cret" };
    try {
      assert.equal((await post(t.url, ok)).status, 401);
      assert.equal((await post(t.url, ok, { authorization: "Bearer wrong" })).status, 401);
      assert.equal((await post(t.url, ok, auth)).status, 202);
      const refused = async (
        body: unknown,
        code: string,
        headers: Record<string, string> = auth,
      ) => {
        const response = await post(t.url, body, headers);
        assert.equal(
          response.status,
          code === "too_large" ? 413 : code === "unsupported_encoding" ? 415 : 400,
          code,
        );
        assert.equal(((await response.json()) as { error: string }).error, code);
      };
      await refused("{", "invalid_json");
      await refused({ ...ok, type: "rebooted" }, "invalid_event");
      await refused({ ...ok, nodeId: null }, "invalid_event");
      await refused({ ...ok, nodeId: "../etc" }, "invalid_event");
      await refused({ ...ok, bootMac: "52-54-00-12-34-56" }, "invalid_event");
      await refused({ ...ok, at: "yesterday" }, "invalid_event");
      await refused({ ...ok, extra: 1 }, "invalid_event");
      await refused({ ...ok, reason: "x".repeat(MAX_EVENT_BYTES) }, "too_large");
      await refused(ok, "unsupported_encoding", { ...auth, "content-encoding": "gzip" });
      await refused(`${"[".repeat(100)}${"]".repeat(100)}`, "too_deep");
      // Only the one good event was stored.
      const file = readFileSync(join(box.dir, "data/events/events.jsonl"), "utf8");
      assert.equal(file.trim().split("\n").length, 1);
    } finally {
      await t.server.close();
      box.cleanup();
    }
  });
});

describe("the event file", () => {
  it("survives a restart: reloaded, a torn last line skipped, numbering goes on", async () => {
    const box = sandbox();
    const root = join(box.dir, "data");
    let t = await startTestServer({ root });
    try {
      await post(t.url, { type: "agent-started", nodeId: null, bootMac: MAC, at });
      await post(t.url, {
        type: "collected",
        nodeId: "node-1",
        bootMac: MAC,
        at,
        failedCollectors: ["smartctl"],
      });
      await t.server.close();
      // A crash in the middle of a write.
      appendFileSync(join(root, "events/events.jsonl"), '{"seq":3,"receivedAt":"2026-');
      t = await startTestServer({ root });
      assert.deepEqual(
        t.logs.find((e) => e.event === "events_opened"),
        {
          event: "events_opened",
          file: join(root, "events/events.jsonl"),
          events: 2,
          skippedLines: 1,
        },
      );
      assert.deepEqual(
        (await nodes(t.url)).map((n) => [n.key, n.state]),
        [["node-1", "agent"]],
      );
      const third = await post(t.url, {
        type: "powering-off",
        nodeId: "node-1",
        bootMac: MAC,
        at,
        method: "soft",
      });
      assert.equal(((await third.json()) as { seq: number }).seq, 3);
      const lines = readFileSync(join(root, "events/events.jsonl"), "utf8").split("\n");
      assert.equal(JSON.parse(lines.at(-2) ?? "").type, "powering-off");
      assert.deepEqual(
        (await nodes(t.url)).map((n) => n.state),
        ["powered-off"],
      );
    } finally {
      await t.server.close();
      box.cleanup();
    }
  });
});

/** A dnsmasq.conf with a 20-address range on loopback and its lease file (not yet written). */
function dnsmasqFiles(dir: string): { leaseFile: string; conf: string } {
  const leaseFile = join(dir, "dnsmasq.leases");
  const conf = join(dir, "dnsmasq.conf");
  writeFileSync(
    conf,
    `dhcp-range=127.0.0.1,127.0.0.20,255.0.0.0,1h\ndhcp-leasefile=${leaseFile}\n`,
  );
  return { leaseFile, conf };
}

describe("leases and boot files", () => {
  it("a lease makes a dhcp node, a boot file fetch makes it booting, a full range is said", async () => {
    const box = sandbox();
    // 20 addresses, 19 leased (one of them to this client, 127.0.0.1): 1 free, nearly full.
    const { leaseFile, conf } = dnsmasqFiles(box.dir);
    const lines = Array.from({ length: 19 }, (_, i) => {
      const n = (i + 1).toString(16).padStart(2, "0");
      return `0 52:54:00:00:00:${n} 127.0.0.${i + 1} ${i === 0 ? "pxe-1" : "*"} *`;
    });
    writeFileSync(leaseFile, `${lines.join("\n")}\n`);
    mkdirSync(join(box.dir, "http"));
    writeFileSync(join(box.dir, "http/menu.ipxe"), "#!ipxe\n");
    const t = await startTestServer({
      root: join(box.dir, "data"),
      dnsmasqConf: conf,
      files: { "/menu.ipxe": join(box.dir, "http/menu.ipxe") },
    });
    try {
      const usage = await (await fetch(`${t.url}/api/v1/dhcp`)).json();
      assert.deepEqual(usage, { rangeSize: 20, leases: 19, free: 1, nearlyFull: true });
      const warning = t.logs.find((e) => e.event === "dhcp_nearly_full");
      assert.match(String(warning?.message), /nearly used up: 1 of 20 addresses free/);
      assert.equal((await nodes(t.url)).filter((n) => n.state === "dhcp").length, 19);

      const list = await fetch(`${t.url}/api/v1/nodes`);
      const etag = list.headers.get("etag") ?? "";
      await list.arrayBuffer();
      const same = await fetch(`${t.url}/api/v1/nodes`, { headers: { "if-none-match": etag } });
      assert.equal(same.status, 304);

      assert.equal((await fetch(`${t.url}/menu.ipxe`)).status, 200);
      const booting = await until("the fetching node booting", 5_000, async () => {
        const found = (await nodes(t.url)).find((n) => n.key === "mac-525400000001");
        return found?.state === "booting" ? found : undefined;
      });
      assert.equal((booting as Node & { hostname: string }).hostname, "pxe-1");
      const changed = await fetch(`${t.url}/api/v1/nodes`, { headers: { "if-none-match": etag } });
      assert.equal(changed.status, 200, "a new event changes the ETag");
      const timeline = (await (
        await fetch(`${t.url}/api/v1/nodes/mac-525400000001/events`)
      ).json()) as {
        events: { type: string; ip: string; detail: Record<string, unknown> }[];
      };
      assert.deepEqual(
        timeline.events.map((e) => [e.type, e.ip, e.detail.file ?? e.detail.hostname]),
        [
          ["dhcp", "127.0.0.1", "pxe-1"],
          ["boot-file", "127.0.0.1", "menu.ipxe"],
        ],
      );
    } finally {
      await t.server.close();
      box.cleanup();
    }
  });
});

describe("a powered-off node and dnsmasq's later rewrites of the lease file", () => {
  it("stays powered-off when its hostname goes or an older lease of its MAC is listed; a new address is a new boot", async () => {
    const box = sandbox();
    const { leaseFile, conf } = dnsmasqFiles(box.dir);
    writeFileSync(leaseFile, `2000 ${MAC} 127.0.0.1 recon-peer 01:${MAC}\n`);
    const t = await startTestServer({ root: join(box.dir, "data"), dnsmasqConf: conf });
    const stateOf = async (key: string) => (await nodes(t.url)).find((n) => n.key === key)?.state;
    try {
      await until("the lease's dhcp node", 5_000, async () =>
        (await stateOf("mac-525400123456")) === "dhcp" ? true : undefined,
      );
      for (const type of ["agent-started", "uploaded", "powering-off"]) {
        const body = {
          type,
          nodeId: null,
          bootMac: MAC,
          at,
          ...(type === "powering-off" ? { method: "ipmi" } : {}),
        };
        assert.equal((await post(t.url, body)).status, 202);
      }
      assert.equal(await stateOf("mac-525400123456"), "powered-off");
      // What dnsmasq writes later: another client took the name "recon-peer" (dnsmasq takes it
      // off this lease), and the PXE ROM's older lease of the same MAC, without a client id, is
      // listed beside the OS's. A third node's lease tells that the file was read again.
      writeFileSync(
        leaseFile,
        `1000 ${MAC} 127.0.0.9 * *\n2000 ${MAC} 127.0.0.1 * 01:${MAC}\n` +
          "2100 52:54:00:00:00:03 127.0.0.3 recon-peer *\n",
      );
      await until("the third node's lease read", 5_000, async () =>
        (await stateOf("mac-525400000003")) === "dhcp" ? true : undefined,
      );
      assert.equal(await stateOf("mac-525400123456"), "powered-off");
      // A newer lease on another address: the node booted again.
      writeFileSync(leaseFile, `3000 ${MAC} 127.0.0.7 * *\n2000 ${MAC} 127.0.0.1 * 01:${MAC}\n`);
      await until("the new boot's dhcp state", 5_000, async () =>
        (await stateOf("mac-525400123456")) === "dhcp" ? true : undefined,
      );
    } finally {
      await t.server.close();
      box.cleanup();
    }
  });
});

describe("GET /api/v1/nodes?since=<cursor>", () => {
  type List = { cursor: string; full: boolean; removed: string[]; count: number; nodes: Node[] };
  const list = async (url: string, since?: string, headers: Record<string, string> = {}) => {
    const res = await fetch(
      `${url}/api/v1/nodes${since === undefined ? "" : `?since=${encodeURIComponent(since)}`}`,
      { headers },
    );
    return {
      status: res.status,
      etag: res.headers.get("etag"),
      body: res.status === 200 ? ((await res.json()) as List) : null,
    };
  };

  it("answers only what changed after the cursor, and the keys gone; 304 while nothing did", async () => {
    const box = sandbox();
    const t = await startTestServer({ root: join(box.dir, "data") });
    const other = "52:54:00:00:00:02";
    try {
      await post(t.url, { type: "agent-started", nodeId: null, bootMac: MAC, at });
      await post(t.url, { type: "agent-started", nodeId: null, bootMac: other, at });
      const all = await list(t.url);
      assert.equal(all.body?.full, true);
      assert.deepEqual(all.body?.nodes.map((n) => n.key).sort(), [
        "mac-525400000002",
        "mac-525400123456",
      ]);
      const cursor = all.body?.cursor as string;
      assert.match(cursor, /^[0-9a-f]{8}-\d+$/);

      const none = await list(t.url, cursor);
      assert.deepEqual(
        { full: none.body?.full, nodes: none.body?.nodes, removed: none.body?.removed },
        { full: false, nodes: [], removed: [] },
      );
      assert.equal(none.body?.count, 2, "the totals are the whole list's");
      assert.equal(none.body?.cursor, cursor);
      // The same question again, conditional: 304.
      const again = await list(t.url, cursor, { "if-none-match": none.etag as string });
      assert.equal(again.status, 304);

      // The MAC-only node names its nodeId: it moves to that key; the other node is unchanged.
      await post(t.url, { type: "collected", nodeId: "node-1", bootMac: MAC, at });
      const changed = await list(t.url, cursor);
      assert.equal(changed.status, 200);
      assert.deepEqual(
        changed.body?.nodes.map((n) => [n.key, n.state]),
        [["node-1", "agent"]],
      );
      assert.deepEqual(changed.body?.removed, ["mac-525400123456"]);
      assert.notEqual(changed.body?.cursor, cursor);
      const later = await list(t.url, changed.body?.cursor);
      assert.deepEqual(later.body?.nodes, []);
      assert.deepEqual(later.body?.removed, []);

      // A cursor of another master run gets the whole list; a malformed one is refused.
      const stranger = await list(t.url, "00000000-1");
      assert.equal(stranger.body?.full, true);
      assert.equal(stranger.body?.nodes.length, 2);
      const bad = await fetch(`${t.url}/api/v1/nodes?since=yesterday`);
      assert.equal(bad.status, 400);
      assert.equal(((await bad.json()) as { error: string }).error, "invalid_cursor");
    } finally {
      await t.server.close();
      box.cleanup();
    }
  });
});
