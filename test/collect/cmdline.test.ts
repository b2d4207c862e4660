import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import fc from "fast-check";
import { parseBootif, parseCmdline, redactCmdline } from "../../agent/collect/cmdline.ts";
import { Boot } from "../../schema/inventory.ts";

const PEER =
  "initrd=initrd root=live:http://10.13.37.1/install/recon/recon.iso rd.live.image " +
  "BOOTIF=01-52-54-00-AB-cd-01 pxeaddr=10.13.37.1 postaction=liveboot console=ttyS0,115200n8 quiet";

test("a peer's cmdline gives boot MAC, master and post-action", () => {
  const boot = parseCmdline(PEER);
  assert.equal(boot.bootMac, "52:54:00:ab:cd:01");
  assert.equal(boot.pxeServer, "10.13.37.1");
  assert.equal(boot.postAction, "liveboot");
  assert.equal(boot.params.root, "live:http://10.13.37.1/install/recon/recon.iso");
  assert.equal(boot.params.quiet, "");
  assert.equal(boot.params.console, "ttyS0,115200n8");
});

test("real cmdlines without recon keys (facter fixtures)", () => {
  const dir = new URL("../../samples/proc-cmdline-facter/", import.meta.url);
  const one = parseCmdline(readFileSync(new URL("proc-cmdline-1.txt", dir), "utf8"));
  assert.equal(one.params.root, "/dev/mmcblk0p2");
  assert.equal(one.params.rootwait, "");
  assert.equal(one.bootMac, null);
  assert.equal(one.pxeServer, null);
  const two = parseCmdline(readFileSync(new URL("proc-cmdline-2.txt", dir), "utf8"));
  assert.equal(two.params.BOOT_IMAGE, "/boot/vmlinuz-5.4.0-1024-aws");
  assert.equal(two.params["nvme_core.io_timeout"], "4294967295");
});

test("quoted values keep their spaces; the token never reaches the document", () => {
  const boot = parseCmdline('a="x y" recon.token=s3cret b=1');
  assert.equal(boot.params.a, "x y");
  assert.equal(boot.params.b, "1");
  assert.equal("recon.token" in boot.params, false);
  assert.equal(redactCmdline("a=1 recon.token=s3cret b=2"), "a=1 recon.token=(redacted) b=2");
  assert.equal(redactCmdline("recon.token=s3cret").includes("s3cret"), false);
});

test("BOOTIF forms", () => {
  assert.equal(parseBootif("01-aa-bb-cc-dd-ee-ff"), "aa:bb:cc:dd:ee:ff");
  assert.equal(parseBootif("aa:bb:cc:dd:ee:ff"), "aa:bb:cc:dd:ee:ff");
  assert.equal(parseBootif("01-00-00-00-00-00-00"), null);
  assert.equal(parseBootif("garbage"), null);
  assert.equal(parseBootif(""), null);
});

test("parseCmdline never throws and always yields a valid boot section", () => {
  fc.assert(
    fc.property(fc.string(), (s) => {
      Boot.parse(parseCmdline(s));
    }),
  );
  fc.assert(
    fc.property(
      fc.array(fc.constantFrom(...PEER.split(" "), "=", '"', "BOOTIF=", "pxeaddr=")),
      (words) => {
        Boot.parse(parseCmdline(words.join(" ")));
      },
    ),
  );
});
