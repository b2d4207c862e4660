import assert from "node:assert/strict";
import { test } from "node:test";
import {
  masterUrlFrom,
  parseMasterUrl,
  peerConfigFromCmdline,
  readPeerCmdline,
} from "../../agent/peer/config.ts";

test("pxeaddr gives http://<addr>/; recon.master overrides it", () => {
  const c = peerConfigFromCmdline(
    "BOOTIF=01-52-54-00-00-00-01 pxeaddr=10.13.37.1 postaction=liveboot",
  );
  assert.equal(c.masterUrl?.href, "http://10.13.37.1/");
  assert.equal(c.powerOff, "soft");
  assert.equal(c.token, null);
  assert.equal(c.uploadTimeoutMs, 600_000);
  const o = peerConfigFromCmdline(
    "pxeaddr=10.13.37.1 recon.master=http://master.lan:8080/recon recon.token=abc recon.poweroff=none recon.upload_timeout=30",
  );
  assert.equal(o.masterUrl?.href, "http://master.lan:8080/recon/");
  assert.equal(o.token, "abc");
  assert.equal(o.powerOff, "none");
  assert.equal(o.uploadTimeoutMs, 30_000);
});

test("no master on the cmdline is null (the CLI turns that into a usage error)", () => {
  assert.equal(peerConfigFromCmdline("quiet splash").masterUrl, null);
});

test("bad values are usage errors with the key named", () => {
  assert.throws(
    () => peerConfigFromCmdline("pxeaddr=1.2.3.4 recon.poweroff=explode"),
    /recon.poweroff/,
  );
  assert.throws(
    () => peerConfigFromCmdline("pxeaddr=1.2.3.4 recon.upload_timeout=-1"),
    /upload_timeout/,
  );
  assert.throws(() => peerConfigFromCmdline("recon.master=ftp://x/"), /http/);
  assert.throws(() => masterUrlFrom({ pxeaddr: "a/b" }), /pxeaddr/);
  assert.equal(masterUrlFrom({ pxeaddr: "fd00::1" })?.href, "http://[fd00::1]/");
});

test("readPeerCmdline keeps each bad value as its own error, so a flag can still override it", () => {
  const read = readPeerCmdline(
    "pxeaddr=10.0.0.1 recon.poweroff=sometimes recon.upload_timeout=1e9",
  );
  assert.deepEqual(read.masterUrl, { value: new URL("http://10.0.0.1/") });
  assert.ok("error" in read.powerOff);
  assert.match(read.powerOff.error.message, /recon.poweroff .*got sometimes/);
  assert.ok("error" in read.uploadTimeoutMs, "1e9 seconds is out of bounds");
  assert.throws(() => parseMasterUrl("ftp://x", "--master"), /^ReconError: --master must be http/);
});
