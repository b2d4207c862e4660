// Admission limits (connection slots, upload slots) and the CLI hook serveCommand.
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import path from "node:path";
import { describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { isReconError } from "../../agent/errors.ts";
import { type RunningServer, serveCommand, serveOptions } from "../../agent/master/index.ts";
import { putInventory, rawRequest, sandbox, startTestServer } from "../support/master.ts";
import { sampleInventory } from "../support/sample-inventory.ts";

/** A PUT whose body never completes: holds a connection (and, once admitted, an upload slot). */
function stuckUpload(port: number, nodeId: string): Promise<Socket> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port }, () => {
      socket.write(
        `PUT /api/v1/nodes/${nodeId}/inventory HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"sch`,
        () => resolve(socket),
      );
    });
    socket.on("error", () => undefined);
  });
}

/** Resolves with the value, or with "pending" if it takes longer than ms. */
async function within<T>(promise: Promise<T>, ms: number): Promise<T | "pending"> {
  return Promise.race([promise, sleep(ms).then(() => "pending" as const)]);
}

describe("admission limits", () => {
  test("connections over maxConnections wait unread until a slot frees", async () => {
    const box = sandbox();
    const t = await startTestServer({ root: path.join(box.dir, "root"), maxConnections: 1 });
    try {
      const holder = await stuckUpload(t.port, "holder");
      await sleep(100);
      const waiting = rawRequest(t.port, "GET", "/api/v1/nodes");
      assert.equal(await within(waiting, 400), "pending");
      holder.destroy();
      const res = await waiting;
      assert.equal(res.status, 200);
    } finally {
      await t.server.close();
      box.cleanup();
    }
  });

  test("uploads over maxConcurrentUploads queue; reads are not held up", async () => {
    const box = sandbox();
    const t = await startTestServer({ root: path.join(box.dir, "root"), maxConcurrentUploads: 1 });
    try {
      const holder = await stuckUpload(t.port, "holder");
      await sleep(100);
      const queued = putInventory(t.url, "queued", sampleInventory({ nodeId: "queued" }));
      assert.equal(await within(queued, 400), "pending");
      assert.equal((await fetch(`${t.url}/api/v1/nodes`)).status, 200);
      holder.destroy();
      assert.equal((await queued).status, 201);
    } finally {
      await t.server.close();
      box.cleanup();
    }
  });
});

describe("serveCommand", () => {
  test("maps the command line to server options", () => {
    const box = sandbox();
    try {
      writeFileSync(path.join(box.dir, "menu.ipxe"), "#!ipxe\n");
      const options = serveOptions({
        root: path.join(box.dir, "data"),
        host: "0.0.0.0",
        port: 8080,
        token: null,
        menu: path.join(box.dir, "menu.ipxe"),
        isos: box.dir,
      });
      assert.deepEqual(options.staticRoots, {
        "/nodes": path.join(box.dir, "data", "nodes"),
        "/isos": box.dir,
      });
      assert.deepEqual(options.files, { "/menu.ipxe": path.join(box.dir, "menu.ipxe") });
      for (const bad of [
        { port: 70000 },
        { port: 1.5 },
        { token: "" },
        { install: path.join(box.dir, "missing") },
        { postTgz: box.dir },
      ]) {
        assert.throws(
          () => serveOptions({ root: box.dir, host: "127.0.0.1", port: 0, token: null, ...bad }),
          (error: unknown) => isReconError(error) && error.code === "E_USAGE",
          JSON.stringify(bad),
        );
      }
    } finally {
      box.cleanup();
    }
  });

  test("serves until aborted and logs one JSON object per line", async () => {
    const box = sandbox();
    const lines: string[] = [];
    const controller = new AbortController();
    let listening: (server: RunningServer) => void = () => undefined;
    const ready = new Promise<RunningServer>((resolve) => {
      listening = resolve;
    });
    writeFileSync(path.join(box.dir, "post.tgz"), "not really a tgz");
    const running = serveCommand(
      {
        root: path.join(box.dir, "data"),
        host: "127.0.0.1",
        port: 0,
        token: "t0ken",
        postTgz: path.join(box.dir, "post.tgz"),
      },
      {
        writeLine: (line) => lines.push(line),
        signal: controller.signal,
        onListening: (s) => listening(s),
      },
    );
    try {
      const server = await ready;
      assert.equal(await (await fetch(`${server.url}/post.tgz`)).text(), "not really a tgz");
      const denied = await putInventory(server.url, "n1", sampleInventory({ nodeId: "n1" }));
      assert.equal(denied.status, 401);
    } finally {
      controller.abort();
      await running;
      box.cleanup();
    }
    const events = lines.map((l) => JSON.parse(l) as { event: string; ts: string });
    assert.ok(events.every((e) => typeof e.ts === "string"));
    assert.deepEqual(
      events.map((e) => e.event).filter((e) => e !== "http"),
      ["store_opened", "events_opened", "listening", "stopping", "closed", "report_written"],
    );
  });

  test("a port in use is an E_IO error", async () => {
    const box = sandbox();
    const t = await startTestServer({ root: path.join(box.dir, "a") });
    try {
      await assert.rejects(
        serveCommand(
          { root: path.join(box.dir, "b"), host: "127.0.0.1", port: t.port, token: null },
          { writeLine: () => undefined },
        ),
        (error: unknown) => isReconError(error) && error.code === "E_IO",
      );
    } finally {
      await t.server.close();
      box.cleanup();
    }
  });
});
