// Rate limits per client IP (agent/master/rate.ts): the bucket itself, its memory bound, and the
// real server on loopback, where 127.0.0.1 and 127.0.0.2 are two clients (all of 127/8 is local
// on Linux): one that floods events or uploads gets 429, the other is still served.
import assert from "node:assert/strict";
import { request } from "node:http";
import path from "node:path";
import { describe, test } from "node:test";
import { ClientRate } from "../../agent/master/rate.ts";
import { sandbox, startTestServer } from "../support/master.ts";
import { sampleInventory } from "../support/sample-inventory.ts";

/** One request from `localAddress`; resolves with the status and the JSON body's `error`. */
function from(
  localAddress: string,
  port: number,
  method: string,
  urlPath: string,
  body: string,
): Promise<{ status: number; error: unknown; retryAfter: string | undefined }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: "127.0.0.1",
        port,
        method,
        path: urlPath,
        localAddress,
        agent: false,
        headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) },
      },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => {
          text += chunk;
        });
        res.on("end", () => {
          let error: unknown = null;
          try {
            error = (JSON.parse(text) as { error?: unknown }).error ?? null;
          } catch {
            // not JSON
          }
          const retryAfter = res.headers["retry-after"];
          resolve({ status: res.statusCode ?? 0, error, retryAfter });
        });
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

describe("ClientRate", () => {
  test("a burst per client, then the refill rate; another client has its own bucket", () => {
    const rate = new ClientRate({ burst: 3, perSecond: 2 });
    const a = [0, 0, 0, 0].map((t) => rate.take("10.0.0.1", t));
    assert.deepEqual(a, [true, true, true, false]);
    assert.equal(rate.take("10.0.0.2", 0), true, "another client is not held back");
    assert.equal(rate.take("10.0.0.1", 400), false, "0.8 token after 400 ms");
    assert.equal(rate.take("10.0.0.1", 600), true, "1.2 tokens after 600 ms");
    assert.equal(rate.take("10.0.0.1", 600), false);
    // Refused requests take nothing: the bucket still refills to one at 1100 ms.
    assert.equal(rate.take("10.0.0.1", 1100), true);
  });

  test("memory is bounded: beyond maxClients the least recently seen client is forgotten", () => {
    const rate = new ClientRate({ burst: 1, perSecond: 0 }, 3);
    for (const ip of ["10.0.0.1", "10.0.0.2", "10.0.0.3"]) assert.equal(rate.take(ip, 0), true);
    // .1 is seen again (refused): it becomes the most recent, .2 the oldest.
    assert.equal(rate.take("10.0.0.1", 1), false);
    assert.equal(rate.take("10.0.0.4", 2), true);
    assert.equal(rate.size, 3);
    assert.equal(rate.take("10.0.0.1", 3), false, ".1 was kept: still empty");
    assert.equal(rate.take("10.0.0.3", 4), false, ".3 was kept: still empty");
    assert.equal(rate.take("10.0.0.2", 5), true, ".2 was forgotten: a full bucket again");
    for (let i = 0; i < 10_000; i++) rate.take(`10.1.${i >> 8}.${i & 255}`, 6);
    assert.equal(rate.size, 3);
  });
});

describe("the server's limits per client IP", () => {
  test("events: the flooding address gets 429 too_many_events, another one is served", async () => {
    const box = sandbox();
    const t = await startTestServer({
      root: path.join(box.dir, "root"),
      clientRate: { events: { burst: 3, perSecond: 0.001 } },
    });
    const event = JSON.stringify({
      type: "agent-started",
      nodeId: null,
      bootMac: "52:54:00:00:00:01",
      at: "2026-12-02T04:00:00Z",
    });
    try {
      const flood = [];
      for (let i = 0; i < 5; i++)
        flood.push(await from("127.0.0.1", t.port, "POST", "/api/v1/events", event));
      assert.deepEqual(
        flood.map((r) => r.status),
        [202, 202, 202, 429, 429],
      );
      assert.equal(flood[3]?.error, "too_many_events");
      assert.equal(flood[3]?.retryAfter, "1");
      const other = await from("127.0.0.2", t.port, "POST", "/api/v1/events", event);
      assert.equal(other.status, 202, "another peer is not held back by the flood");
    } finally {
      await t.server.close();
      box.cleanup();
    }
  });

  test("uploads: the flooding address gets 429 too_many_uploads, another one is served", async () => {
    const box = sandbox();
    const t = await startTestServer({
      root: path.join(box.dir, "root"),
      clientRate: { uploads: { burst: 2, perSecond: 0.001 } },
    });
    const doc = JSON.stringify(sampleInventory({ nodeId: "rate-node" }));
    const put = (ip: string) => from(ip, t.port, "PUT", "/api/v1/nodes/rate-node/inventory", doc);
    try {
      const first = [await put("127.0.0.1"), await put("127.0.0.1"), await put("127.0.0.1")];
      assert.deepEqual(
        first.map((r) => r.status),
        [201, 200, 429],
      );
      assert.equal(first[2]?.error, "too_many_uploads");
      assert.equal((await put("127.0.0.2")).status, 200, "another peer's upload is stored");
      // Reads are not limited.
      const list = await fetch(`${t.url}/api/v1/nodes`);
      assert.equal(list.status, 200);
    } finally {
      await t.server.close();
      box.cleanup();
    }
  });
});
