// The upload against a real HTTP server on loopback that misbehaves on purpose.
import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { test } from "node:test";
import { backoffDelay, putAcknowledged, sha256Hex } from "../../agent/peer/upload.ts";

type Handler = (req: IncomingMessage, body: Buffer, res: ServerResponse) => void;

async function withServer(handler: Handler, fn: (url: URL) => Promise<void>) {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => handler(req, Buffer.concat(chunks), res));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  try {
    await fn(new URL(`http://127.0.0.1:${port}/api/v1/nodes/n1/inventory`));
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
}

const ack = (res: ServerResponse, sha256: string, bytes: number) => {
  res.writeHead(201, { "content-type": "application/json" });
  res.end(
    JSON.stringify({
      nodeId: "n1",
      sha256,
      bytes,
      storedAt: new Date().toISOString(),
      unchanged: false,
    }),
  );
};
const policy = { totalTimeoutMs: 5000, initialDelayMs: 10, maxDelayMs: 50 };
const body = Buffer.from('{"hello":"master"}');
// Tests that do not look at the log.
const log = () => {};

test("5xx answers are retried until the master acknowledges the same bytes", async () => {
  let calls = 0;
  await withServer(
    (req, got, res) => {
      calls++;
      if (calls < 3) {
        res.writeHead(503).end("busy");
        return;
      }
      assert.equal(req.headers.authorization, "Bearer t0k");
      ack(res, sha256Hex(got), got.length);
    },
    async (url) => {
      const result = await putAcknowledged({
        url,
        body,
        contentType: "application/json",
        token: "t0k",
        policy,
        log,
      });
      assert.equal(result.sha256, sha256Hex(body));
    },
  );
  assert.equal(calls, 3);
});

test("a 4xx is final: no retry, an upload error naming the status", async () => {
  let calls = 0;
  await withServer(
    (_req, _got, res) => {
      calls++;
      res.writeHead(400, { "content-type": "application/json" }).end('{"error":"bad"}');
    },
    async (url) => {
      await assert.rejects(
        putAcknowledged({ url, body, contentType: "application/json", token: null, policy, log }),
        (e: Error & { code?: string }) =>
          e.code === "E_UPLOAD_FAILED" && /HTTP 400/.test(e.message),
      );
    },
  );
  assert.equal(calls, 1);
});

test("an acknowledgement of other bytes is never accepted", async () => {
  await withServer(
    (_req, _got, res) => ack(res, "0".repeat(64), 1),
    async (url) => {
      await assert.rejects(
        putAcknowledged({
          url,
          body,
          contentType: "application/json",
          token: null,
          policy: { ...policy, totalTimeoutMs: 300 },
          log,
        }),
        (e: Error & { code?: string }) => e.code === "E_ACK_MISMATCH",
      );
    },
  );
});

test("a master that is down at first is reached once it answers", async () => {
  // The port stays ours throughout (no reuse of a released port): while "down", the master
  // resets every connection before reading a byte; it comes up once the agent has retried twice.
  let up = false;
  let resets = 0;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => ack(res, sha256Hex(Buffer.concat(chunks)), 0));
  });
  server.on("connection", (socket) => {
    if (up) return;
    resets++;
    socket.resetAndDestroy();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  const retries: number[] = [];
  try {
    const pending = putAcknowledged({
      url: new URL(`http://127.0.0.1:${port}/api/v1/nodes/n1/inventory`),
      body,
      contentType: "application/json",
      token: null,
      policy,
      log: (event, fields) => {
        if (event === "upload.retry") retries.push(Number(fields?.attempt));
        if (retries.length >= 2) up = true;
      },
    });
    assert.equal((await pending).sha256, sha256Hex(body));
    assert.ok(resets >= 2, `${resets} connections were refused before the master came up`);
    assert.ok(retries.length >= 2);
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

test("a master that never answers ends in an upload error within the budget", async () => {
  const started = Date.now();
  await assert.rejects(
    putAcknowledged({
      url: new URL("http://127.0.0.1:9/x"),
      body,
      contentType: "application/json",
      token: null,
      policy: { ...policy, totalTimeoutMs: 400 },
      log,
    }),
    (e: Error & { code?: string }) => e.code === "E_UPLOAD_FAILED",
  );
  assert.ok(Date.now() - started < 3000);
});

test("backoff is full jitter, capped", () => {
  assert.equal(
    backoffDelay(0, 500, 15_000, () => 1),
    500,
  );
  assert.equal(
    backoffDelay(3, 500, 15_000, () => 1),
    4000,
  );
  assert.equal(
    backoffDelay(10, 500, 15_000, () => 1),
    15_000,
  );
  assert.equal(
    backoffDelay(10, 500, 15_000, () => 0),
    0,
  );
});
