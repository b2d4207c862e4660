// serve --post-dir (what recon-role.sh gives the master): the per-architecture packages and
// post.tgz, each when it is there, over a real loopback server; a peer of either kind finds its
// own, an older peer post.tgz, and a name outside the list is not served from that directory.
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import { isReconError } from "../../agent/errors.ts";
import { POST_PACKAGES, serveOptions } from "../../agent/master/index.ts";
import { sandbox, startTestServer } from "../support/master.ts";

const BASE = { host: "127.0.0.1", port: 0, token: null };

describe("serve --post-dir", () => {
  it("serves post.tgz, post-x86_64.tgz and post-aarch64.tgz from the directory", async () => {
    const box = sandbox();
    try {
      for (const name of [...POST_PACKAGES, "post-riscv64.tgz", "image.env"])
        writeFileSync(path.join(box.dir, name), `${name} bytes`);
      const options = serveOptions({ ...BASE, root: path.join(box.dir, "data"), postDir: box.dir });
      assert.deepEqual(Object.keys(options.files ?? {}).sort(), [
        "/post-aarch64.tgz",
        "/post-x86_64.tgz",
        "/post.tgz",
      ]);
      const t = await startTestServer(options);
      try {
        for (const name of POST_PACKAGES) {
          const r = await fetch(`${t.url}/${name}`);
          assert.equal(r.status, 200, name);
          assert.equal(await r.text(), `${name} bytes`);
        }
        for (const name of ["post-riscv64.tgz", "image.env"])
          assert.equal((await fetch(`${t.url}/${name}`)).status, 404, name);
      } finally {
        await t.server.close();
      }
    } finally {
      box.cleanup();
    }
  });

  it("serves only what is there: an older medium's post.tgz alone, then 404 for post-<arch>", () => {
    const box = sandbox();
    try {
      writeFileSync(path.join(box.dir, "post.tgz"), "both agents");
      const options = serveOptions({ ...BASE, root: path.join(box.dir, "data"), postDir: box.dir });
      assert.deepEqual(Object.keys(options.files ?? {}), ["/post.tgz"]);
    } finally {
      box.cleanup();
    }
  });

  it("lets --post-tgz win for /post.tgz, and refuses a --post-dir that is not a directory", () => {
    const box = sandbox();
    try {
      writeFileSync(path.join(box.dir, "post.tgz"), "dir");
      const other = path.join(box.dir, "other.tgz");
      writeFileSync(other, "explicit");
      const root = path.join(box.dir, "data");
      const options = serveOptions({ ...BASE, root, postDir: box.dir, postTgz: other });
      assert.equal(options.files?.["/post.tgz"], other);
      assert.throws(
        () => serveOptions({ ...BASE, root, postDir: other }),
        (e: unknown) => isReconError(e) && e.code === "E_USAGE" && /--post-dir/.test(e.message),
      );
    } finally {
      box.cleanup();
    }
  });
});
