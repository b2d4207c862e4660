import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { gunzipSync } from "node:zlib";
import fc from "fast-check";
import {
  parseBootif,
  parseCmdline,
  redactCmdline,
  SECRET_KEYS,
  splitCmdline,
} from "../../agent/collect/cmdline.ts";
import { packEvidence } from "../../agent/peer/evidence.ts";
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

test("a token quoted before its key is redacted too", () => {
  const text = 'a=1 "recon.token=abc def" b=2';
  assert.equal(splitCmdline(text)[1]?.[1], "abc def", "the parser reads the token");
  assert.equal(redactCmdline(text), "a=1 recon.token=(redacted) b=2");
  assert.equal(redactCmdline('recon.token="x y"z'), "recon.token=(redacted)");
});

/** Random cmdlines built from the characters and words that matter to the tokenizer. */
const cmdlineText = fc
  .array(
    fc.oneof(
      fc.constantFrom(" ", "\t", "\n", '"', "=", "recon.token", "recon.token=", "a", "b=1", "x y"),
      fc.string({ maxLength: 4 }),
    ),
    { maxLength: 24 },
  )
  .map((parts) => parts.join(""));

test("property: redaction leaves no secret value the parser reads, and keeps every other word", () => {
  fc.assert(
    fc.property(cmdlineText, (text) => {
      const redacted = redactCmdline(text);
      const before = splitCmdline(text);
      const after = splitCmdline(redacted);
      assert.deepEqual(
        after.filter(([key]) => !SECRET_KEYS.has(key)),
        before.filter(([key]) => !SECRET_KEYS.has(key)),
      );
      for (const [key, value] of after) if (SECRET_KEYS.has(key)) assert.equal(value, "(redacted)");
    }),
    { numRuns: 2000 },
  );
});

test("property: a token in any quoting never reaches cmdline.txt nor the evidence archive", async () => {
  const dir = mkdtempSync(join(tmpdir(), "recon-h3-redact-"));
  try {
    const quoted = fc
      .tuple(
        fc.stringMatching(/^[A-Za-z0-9]{1,8}( [A-Za-z0-9]{1,8})?$/),
        fc.constantFrom("k=v", "key-first", "quote-before-key", "quote-mid-value"),
        fc.array(fc.constantFrom("quiet", "a=1", 'b="x y"', "pxeaddr=10.0.0.1"), { maxLength: 3 }),
        fc.array(fc.constantFrom("console=ttyS0", '"c=d e"', "z"), { maxLength: 3 }),
      )
      .map(([value, style, before, after]) => {
        const secret = `SECRET${value}`;
        const word =
          style === "quote-before-key"
            ? `"recon.token=${secret}"`
            : style === "quote-mid-value"
              ? `recon.token=SE"CRET${value}"`
              : style === "key-first"
                ? `recon.token="${secret}"`
                : `recon.token=${secret.replace(/ /g, "")}`;
        return { text: [...before, word, ...after].join(" "), secret };
      });
    await fc.assert(
      fc.asyncProperty(quoted, async ({ text, secret }) => {
        const read = splitCmdline(text).find(([key]) => key === "recon.token")?.[1] ?? "";
        assert.ok(read.startsWith("SECRET"), `the parser reads the token from ${text}`);
        const redacted = redactCmdline(text);
        assert.ok(!redacted.includes(read), redacted);
        assert.ok(!redacted.includes(secret.split(" ")[0] ?? secret), redacted);
        writeFileSync(join(dir, "cmdline.txt"), redacted);
        const tar = gunzipSync(await packEvidence(dir)).toString("latin1");
        assert.ok(tar.includes("recon.token=(redacted)"), "the redacted cmdline is in the archive");
        assert.ok(!tar.includes(read), "the token is not in the evidence");
        assert.equal("recon.token" in parseCmdline(text).params, false);
      }),
      { numRuns: 200 },
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
