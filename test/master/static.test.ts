// Static serving: GET, HEAD, single Range (206/416), conditional requests, single files, and a
// large file streamed without buffering.
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { mkdirSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { request } from "undici";
import { parseRange } from "../../agent/master/static.ts";
import { rawRequest, sandbox, startTestServer, type TestServer } from "../support/master.ts";

describe("static files", () => {
  const box = sandbox();
  let t: TestServer;
  const data = randomBytes(100_000);
  let isoPath = "";
  before(async () => {
    const isos = path.join(box.dir, "isos");
    mkdirSync(isos);
    writeFileSync(path.join(isos, "live.iso"), data);
    writeFileSync(path.join(isos, "empty.img"), "");
    isoPath = path.join(isos, "big.iso");
    writeFileSync(path.join(box.dir, "menu.ipxe"), "#!ipxe\nchain http://x/boot\n");
    t = await startTestServer({
      root: path.join(box.dir, "root"),
      staticRoots: { "/isos/": isos },
      files: { "/menu.ipxe": path.join(box.dir, "menu.ipxe") },
    });
  });
  after(async () => {
    await t.server.close();
    box.cleanup();
  });

  test("GET sends the whole file with length, type, validators and Accept-Ranges", async () => {
    const res = await fetch(`${t.url}/isos/live.iso`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-length"), String(data.length));
    assert.equal(res.headers.get("content-type"), "application/x-iso9660-image");
    assert.equal(res.headers.get("accept-ranges"), "bytes");
    assert.ok(res.headers.get("last-modified"));
    assert.ok(res.headers.get("etag"));
    assert.deepEqual(Buffer.from(await res.arrayBuffer()), data);
  });

  test("HEAD sends the headers only", async () => {
    const res = await rawRequest(t.port, "HEAD", "/isos/live.iso");
    assert.equal(res.status, 200);
    assert.equal(res.headers["content-length"], String(data.length));
    assert.equal(res.body.length, 0);
  });

  test("single ranges: 206 with Content-Range; suffix and open-ended forms", async () => {
    const cases: [string, number, number][] = [
      ["bytes=0-99", 0, 99],
      ["bytes=1000-", 1000, data.length - 1],
      ["bytes=-500", data.length - 500, data.length - 1],
      ["bytes=99990-200000", 99990, data.length - 1],
    ];
    for (const [range, start, end] of cases) {
      const res = await fetch(`${t.url}/isos/live.iso`, { headers: { range } });
      assert.equal(res.status, 206, range);
      assert.equal(res.headers.get("content-range"), `bytes ${start}-${end}/${data.length}`);
      assert.equal(res.headers.get("content-length"), String(end - start + 1));
      assert.deepEqual(Buffer.from(await res.arrayBuffer()), data.subarray(start, end + 1));
    }
  });

  test("unsatisfiable ranges get 416 with bytes */size", async () => {
    for (const range of [`bytes=${data.length}-`, "bytes=200000-300000", "bytes=-0"]) {
      const res = await fetch(`${t.url}/isos/live.iso`, { headers: { range } });
      assert.equal(res.status, 416, range);
      assert.equal(res.headers.get("content-range"), `bytes */${data.length}`);
      await res.arrayBuffer();
    }
    const empty = await fetch(`${t.url}/isos/empty.img`, { headers: { range: "bytes=0-" } });
    assert.equal(empty.status, 416);
  });

  test("multiple or malformed ranges are ignored (200, whole file)", async () => {
    for (const range of ["bytes=0-1,5-6", "bytes=5-1", "items=0-1", "bytes=abc"]) {
      const res = await fetch(`${t.url}/isos/live.iso`, { headers: { range } });
      assert.equal(res.status, 200, range);
      assert.equal((await res.arrayBuffer()).byteLength, data.length);
    }
  });

  test("If-Range with a stale validator sends the whole file", async () => {
    const res = await fetch(`${t.url}/isos/live.iso`, {
      headers: { range: "bytes=0-9", "if-range": '"stale"' },
    });
    assert.equal(res.status, 200);
    await res.arrayBuffer();
  });

  test("conditional GET answers 304", async () => {
    const first = await fetch(`${t.url}/isos/live.iso`, { method: "HEAD" });
    const etag = first.headers.get("etag") as string;
    const again = await fetch(`${t.url}/isos/live.iso`, { headers: { "if-none-match": etag } });
    assert.equal(again.status, 304);
  });

  test("single files, missing files, directories and methods", async () => {
    const menu = await fetch(`${t.url}/menu.ipxe`);
    assert.equal(menu.status, 200);
    assert.equal(await menu.text(), "#!ipxe\nchain http://x/boot\n");
    assert.equal((await fetch(`${t.url}/isos/missing.iso`)).status, 404);
    assert.equal((await fetch(`${t.url}/isos/`)).status, 404);
    assert.equal((await fetch(`${t.url}/isos/live.iso`, { method: "PUT", body: "x" })).status, 405);
  });

  test("a 64 MiB file streams intact, and ranged reads of it stay cheap", async () => {
    const chunk = randomBytes(1024 * 1024);
    const hash = createHash("sha256");
    const parts: Buffer[] = [];
    for (let i = 0; i < 64; i++) {
      chunk[0] = i;
      parts.push(Buffer.from(chunk));
      hash.update(chunk);
    }
    writeFileSync(isoPath, Buffer.concat(parts));
    parts.length = 0;
    assert.equal(statSync(isoPath).size, 64 * 1024 * 1024);
    const res = await request(`${t.url}/isos/big.iso`);
    const got = createHash("sha256");
    let bytes = 0;
    for await (const c of res.body) {
      got.update(c as Buffer);
      bytes += (c as Buffer).length;
    }
    assert.equal(bytes, 64 * 1024 * 1024);
    assert.equal(got.digest("hex"), hash.digest("hex"));
    const tail = await fetch(`${t.url}/isos/big.iso`, { headers: { range: "bytes=-1048576" } });
    const body = Buffer.from(await tail.arrayBuffer());
    assert.equal(body.length, 1024 * 1024);
    assert.equal(body[0], 63);
  });

  test("parseRange", () => {
    assert.deepEqual(parseRange("bytes=0-0", 10), { start: 0, end: 0 });
    assert.deepEqual(parseRange("bytes=-20", 10), { start: 0, end: 9 });
    assert.equal(parseRange("bytes=10-", 10), "unsatisfiable");
    assert.equal(parseRange("bytes=-", 10), null);
    assert.equal(parseRange("bytes=0-1, 3-4", 10), null);
  });
});
