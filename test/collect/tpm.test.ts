import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import fc from "fast-check";
import { collectInventory } from "../../agent/collect/index.ts";
import {
  collectTpm,
  parseSysClassTpm,
  parseTpm2Properties,
  parseTpm2PropertiesResponse,
  queryTpm2Properties,
  readSysClassTpm,
  readSysClassTpmCapture,
  readTpm2PropertiesCapture,
  sysClassTpmProbe,
  TPM2_GETCAP_PROPERTIES,
  TPM2_MAX_RESPONSE_BYTES,
  type TpmTransport,
  tpm2FirmwareVersion,
  tpm2PropertiesProbe,
  tpmDeviceTransport,
  tpmVendorOf,
} from "../../agent/collect/tpm.ts";
import { captureRunner, realRunner, replayRunner } from "../../agent/exec.ts";
import { Tpm } from "../../schema/inventory.ts";
import { fakeRunner } from "../support/fake-runner.ts";
import { assertSurvivesMutations } from "../support/properties.ts";
import { startSwtpm, swtpmSkip } from "../support/swtpm.ts";

const SAMPLE = new URL("../../samples/sysfs-platform-this-machine/", import.meta.url);

// The caps of a TPM 1.2 as the kernel documents it (Documentation/ABI/stable/sysfs-class-tpm,
// "Example output", an STMicroelectronics part; Linux kernel, GPL-2.0).
const CAPS_STM = "Manufacturer: 0x53544d20\nTCG version: 1.2\nFirmware version: 8.16";

const capture = (entry: object) => JSON.stringify({ tpm0: entry });

test("this machine (no TPM, real capture): tpm null, no problem", async () => {
  const out = await collectTpm(await replayRunner(SAMPLE.pathname));
  assert.equal(out.value, null);
  assert.equal(out.reports[0]?.status, "ok");
  assert.deepEqual(readSysClassTpmCapture("{}\n"), { value: null, problem: null });
});

test("QEMU tpm-tis with swtpm (real capture, fixtures/qemu-uefi-secureboot): TPM 2.0, IBM from GetCapability", async () => {
  const fixture = new URL("../../fixtures/qemu-uefi-secureboot/", import.meta.url);
  const out = await collectTpm(await replayRunner(fixture.pathname));
  // sys-class-tpm.json there: {"tpm0":{"tpm_version_major":"2","caps":null,"description":null}};
  // tpm2-properties-fixed.hex is what the guest's /dev/tpmrm0 answered (libtpms under swtpm):
  //   8001 00000053 00000000 01 00000006 00000008  00000105 49424d00 ("IBM\0") ...
  //   0000010b 20191023  0000010c 00163636 -> 8217.4131.22.13878
  assert.deepEqual(out.value, {
    version: "2.0",
    manufacturer: "IBM",
    firmwareVersion: "8217.4131.22.13878",
  });
  assert.deepEqual(
    out.reports.map((r) => [r.name, r.status, r.command, r.message]),
    [
      ["tpm", "ok", "replay sys-class-tpm.json", null],
      ["tpm2-getcap", "ok", "replay tpm2-properties-fixed.hex", null],
    ],
  );
  // The same libtpms as the host-side sample's: the same bytes through the kernel's device.
  assert.equal(
    readFileSync(new URL("tpm2-properties-fixed.hex", fixture), "utf8"),
    readFileSync(
      new URL("../../samples/tpm2-getcap-swtpm/tpm2-properties-fixed.hex", import.meta.url),
      "utf8",
    ),
  );
  // The replayed document carries them.
  const doc = await collectInventory({
    runner: await replayRunner(fixture.pathname),
    now: () => new Date(0),
    randomUuid: () => "00000000-0000-4000-8000-000000000000",
  });
  assert.equal(doc.tpm?.manufacturer, "IBM");
  assert.notEqual(doc.tpm?.firmwareVersion ?? null, null);
  assert.deepEqual(doc.tpm, out.value);
});

test("TPM 1.2: version, vendor id decoded, firmware version from caps", () => {
  assert.deepEqual(
    readSysClassTpmCapture(capture({ tpm_version_major: "1", caps: CAPS_STM, description: null })),
    { value: { version: "1.2", manufacturer: "STM", firmwareVersion: "8.16" }, problem: null },
  );
  // Kernels before 5.5 have no tpm_version_major: caps' TCG version says 1.2.
  assert.equal(
    parseSysClassTpm(capture({ tpm_version_major: null, caps: CAPS_STM, description: null }))
      ?.version,
    "1.2",
  );
});

test("TPM 2.0: version only; sysfs has no manufacturer or firmware for 2.0", () => {
  assert.deepEqual(
    readSysClassTpmCapture(
      capture({ tpm_version_major: "2", caps: null, description: "TPM 2.0 Device" }),
    ),
    { value: { version: "2.0", manufacturer: null, firmwareVersion: null }, problem: null },
  );
  // Before 5.5 only the ACPI description tells a 2.0.
  assert.equal(
    parseSysClassTpm(
      capture({ tpm_version_major: null, caps: null, description: "TPM 2.0 Device" }),
    )?.version,
    "2.0",
  );
  assert.deepEqual(
    parseSysClassTpm(capture({ tpm_version_major: null, caps: null, description: null })),
    { version: null, manufacturer: null, firmwareVersion: null },
  );
});

test("vendor ids: ASCII with NUL padding, non-printable kept as hex", () => {
  assert.equal(tpmVendorOf("0x49465800"), "IFX");
  assert.equal(tpmVendorOf("0x4e544300"), "NTC");
  assert.equal(tpmVendorOf("0x4d534654"), "MSFT");
  assert.equal(tpmVendorOf("0x1050"), "0x1050");
  assert.equal(tpmVendorOf("0x0"), null);
  assert.equal(tpmVendorOf("IFX"), null);
});

test("what is not sysfs-class-tpm: problems", () => {
  assert.match(readSysClassTpmCapture("[1]").problem ?? "", /not an object/);
  assert.match(readSysClassTpmCapture('{"tpm0":3}').problem ?? "", /tpm0: not an object/);
  assert.match(
    readSysClassTpmCapture(capture({ tpm_version_major: "banana", caps: null })).problem ?? "",
    /tpm_version_major/,
  );
  assert.match(
    readSysClassTpmCapture(capture({ tpm_version_major: "1", caps: "garbage" })).problem ?? "",
    /caps without/,
  );
  assert.match(readSysClassTpmCapture('{"tpm0":').problem ?? "", /not JSON/);
});

test("property: any text gives a schema-valid value; never throws", () => {
  fc.assert(
    fc.property(
      fc.oneof(
        fc.string(),
        fc.json(),
        fc
          .record({
            tpm_version_major: fc.option(fc.string({ maxLength: 3 })),
            caps: fc.option(fc.oneof(fc.string(), fc.constant(CAPS_STM))),
            description: fc.option(fc.string()),
          })
          .map(capture),
      ),
      (text) => {
        Tpm.nullable().parse(parseSysClassTpm(text));
      },
    ),
    { numRuns: 500 },
  );
});

test("capture reader: tpm0 of a sysfs-shaped tree, caps under device/ on old kernels", async () => {
  const root = await mkdtemp(join(tmpdir(), "recon-tpm-"));
  try {
    const cls = join(root, "tpm");
    assert.equal(await readSysClassTpm(cls), "{}\n");
    await mkdir(join(cls, "tpm0", "device"), { recursive: true });
    await writeFile(join(cls, "tpm0", "device", "caps"), `${CAPS_STM}\n`);
    const text = await readSysClassTpm(cls);
    assert.deepEqual(JSON.parse(text), {
      tpm0: { tpm_version_major: null, caps: CAPS_STM, description: null },
    });
    assert.equal(parseSysClassTpm(text)?.manufacturer, "STM");
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test("collectTpm: probe, report named tpm, skipped when not captured", async () => {
  const sysfs2 = capture({ tpm_version_major: "2", caps: null, description: null });
  const { runner, probes } = fakeRunner((probe) =>
    probe === sysClassTpmProbe ? { output: sysfs2 } : { status: "skipped", message: "x" },
  );
  const out = await collectTpm(runner);
  assert.equal(probes[0], sysClassTpmProbe);
  assert.equal(out.value?.version, "2.0");
  assert.equal(out.reports[0]?.name, "tpm");
  const bad = await collectTpm(fakeRunner({ output: "tpm0: yes" }).runner);
  assert.equal(bad.reports[0]?.status, "failed");
  const skipped = await collectTpm(fakeRunner({ status: "skipped", message: "x" }).runner);
  assert.equal(skipped.value, null);
  assert.equal(skipped.reports[0]?.status, "skipped");
});

// ---------------------------------------------------------------------------------------------
// TPM 2.0: TPM2_GetCapability(TPM_CAP_TPM_PROPERTIES, 0x105, 8).

const SWTPM = new URL("../../samples/tpm2-getcap-swtpm/", import.meta.url);
// swtpm 0.7.1 on libtpms 0.9.2, made here (samples/tpm2-getcap-swtpm/SOURCE.md).
const SWTPM_HEX = readFileSync(new URL("tpm2-properties-fixed.hex", SWTPM), "utf8");
const SWTPM_RC_VALUE_HEX = readFileSync(
  new URL("tpm2-properties-fixed-rc-value.hex", SWTPM),
  "utf8",
);
const SWTPM_BYTES = Buffer.from(SWTPM_HEX.trim(), "hex");
const SWTPM_FACTS = {
  manufacturer: "IBM",
  vendorString: "SW   TPM",
  firmwareVersion: "8217.4131.22.13878",
};
const NONE = { manufacturer: null, vendorString: null, firmwareVersion: null };

test("the command: 22 bytes, GetCapability of the 8 properties 0x105-0x10C", () => {
  assert.equal(
    TPM2_GETCAP_PROPERTIES.toString("hex"),
    "8001000000160000017a000000060000010500000008",
  );
});

test("swtpm's response (real, samples/tpm2-getcap-swtpm): IBM, vendor string, firmware words", () => {
  assert.equal(SWTPM_BYTES.length, 83);
  assert.deepEqual(readTpm2PropertiesCapture(SWTPM_HEX), { value: SWTPM_FACTS, problem: null });
  assert.deepEqual(parseTpm2PropertiesResponse(SWTPM_BYTES), { value: SWTPM_FACTS, problem: null });
  // xxd -p's 60-digit lines, upper case: the same bytes.
  const wrapped = SWTPM_HEX.trim().toUpperCase().replace(/.{60}/g, "$&\n");
  assert.deepEqual(parseTpm2Properties(wrapped), SWTPM_FACTS);
});

test("a non-zero response code (real: swtpm refusing capability 0xFF): a problem naming it", () => {
  assert.deepEqual(readTpm2PropertiesCapture(SWTPM_RC_VALUE_HEX), {
    value: NONE,
    problem: "TPM response code 0x000001c4 (TPM_RC_VALUE of parameter 1)",
  });
  // The same header with TPM_RC_FAILURE (0x101): named, values null.
  const failure = Buffer.from(SWTPM_RC_VALUE_HEX.trim(), "hex");
  failure.writeUInt32BE(0x101, 6);
  assert.match(parseTpm2PropertiesResponse(failure).problem ?? "", /0x00000101 \(TPM_RC_FAILURE\)/);
});

test("truncated, oversized, wrong tag, empty: problems; whole properties before a cut count", () => {
  const read = (bytes: Buffer) => parseTpm2PropertiesResponse(bytes);
  assert.deepEqual(read(Buffer.alloc(0)), { value: NONE, problem: "empty response" });
  assert.deepEqual(readTpm2PropertiesCapture(""), { value: NONE, problem: "empty response" });
  assert.match(read(SWTPM_BYTES.subarray(0, 6)).problem ?? "", /truncated: 6 bytes/);
  // Cut after the manufacturer (19 + 8 bytes): IBM is read, the cut is said.
  const cut = read(SWTPM_BYTES.subarray(0, 27));
  assert.equal(cut.value.manufacturer, "IBM");
  assert.equal(cut.value.firmwareVersion, null);
  assert.equal(cut.problem, "truncated: 27 of 83 bytes");
  // Cut inside firmware word 2: word 1 alone.
  assert.equal(read(SWTPM_BYTES.subarray(0, 80)).value.firmwareVersion, "8217.4131");
  // A count the bytes do not hold, within a consistent responseSize.
  const counted = Buffer.from(SWTPM_BYTES);
  counted.writeUInt32BE(9, 15);
  assert.deepEqual(read(counted), {
    value: SWTPM_FACTS,
    problem: "truncated: 9 properties announced, 8 there",
  });
  // Bytes after the response: read, and said.
  const longer = Buffer.concat([SWTPM_BYTES, Buffer.from([0, 0])]);
  assert.deepEqual(read(longer), {
    value: SWTPM_FACTS,
    problem: "2 bytes after the response's 83",
  });
  const oversized = Buffer.concat([SWTPM_BYTES, Buffer.alloc(TPM2_MAX_RESPONSE_BYTES)]);
  assert.deepEqual(read(oversized), {
    value: NONE,
    problem: `${oversized.length} bytes, more than a TPM response (4096)`,
  });
  assert.match(readTpm2PropertiesCapture("ab".repeat(5000)).problem ?? "", /more than a TPM/);
  const tagged = Buffer.from(SWTPM_BYTES);
  tagged.writeUInt16BE(0x00c4, 0);
  assert.deepEqual(read(tagged), {
    value: NONE,
    problem: "tag 0x00c4, not TPM_ST_NO_SESSIONS (0x8001)",
  });
  const other = Buffer.from(SWTPM_BYTES);
  other.writeUInt32BE(5, 11);
  assert.match(read(other).problem ?? "", /capability 0x00000005, not TPM_CAP_TPM_PROPERTIES/);
  assert.equal(readTpm2PropertiesCapture("8001zz").problem, "not hex");
  assert.equal(readTpm2PropertiesCapture("800").problem, "odd number of hex digits (3)");
});

test("firmware version: four 16-bit halves; Infineon's own split of word 2", () => {
  // The real words of the sample.
  assert.equal(tpm2FirmwareVersion("IBM", 0x20191023, 0x00163636), "8217.4131.22.13878");
  // The rules, on made-up words (no hardware response here: see the sample's SOURCE.md).
  assert.equal(tpm2FirmwareVersion("NTC", 0x00010002, 0x00030004), "1.2.3.4");
  assert.equal(tpm2FirmwareVersion("IFX", 0x00010002, 0x00000304), "1.2.3.4");
  assert.equal(tpm2FirmwareVersion(null, 0xffffffff, 0xffffffff), "65535.65535.65535.65535");
  assert.equal(tpm2FirmwareVersion("IFX", 0xffffffff, 0xffffffff), "65535.65535.16777215.255");
  assert.equal(tpm2FirmwareVersion("IBM", 0x00010002, null), "1.2");
  assert.equal(tpm2FirmwareVersion("IBM", null, 0x00010002), null);
});

test("property: any bytes or text: a value of text-or-null fields, never a throw", () => {
  const check = (value: unknown) => {
    const { value: facts, problem } = value as ReturnType<typeof parseTpm2PropertiesResponse>;
    for (const field of Object.values(facts))
      assert.ok(field === null || typeof field === "string");
    assert.ok(problem === null || typeof problem === "string");
  };
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
      check(parseTpm2PropertiesResponse(bytes));
      // A real header in front: the list parsing sees arbitrary bytes.
      check(parseTpm2PropertiesResponse(Buffer.concat([SWTPM_BYTES.subarray(0, 19), bytes])));
    }),
    { numRuns: 500 },
  );
  fc.assert(
    fc.property(fc.string(), (text) => check(readTpm2PropertiesCapture(text))),
    { numRuns: 300 },
  );
  assertSurvivesMutations([SWTPM_HEX, SWTPM_RC_VALUE_HEX], (text) =>
    check(readTpm2PropertiesCapture(text)),
  );
  // Not bytes, not text (a capture reader may be handed anything).
  check(parseTpm2PropertiesResponse(null as unknown as Uint8Array));
  check(readTpm2PropertiesCapture(undefined as unknown as string));
});

test("collectTpm on a TPM 2.0: GetCapability fills manufacturer and firmware; 1.2: no command", async () => {
  const sysfs2 = capture({ tpm_version_major: "2", caps: null, description: null });
  const two = fakeRunner((probe) => ({ output: probe === sysClassTpmProbe ? sysfs2 : SWTPM_HEX }));
  const out = await collectTpm(two.runner);
  assert.deepEqual(two.probes, [sysClassTpmProbe, tpm2PropertiesProbe]);
  assert.deepEqual(out.value, {
    version: "2.0",
    manufacturer: "IBM",
    firmwareVersion: "8217.4131.22.13878",
  });
  assert.deepEqual(
    out.reports.map((r) => [r.name, r.status]),
    [
      ["tpm", "ok"],
      ["tpm2-getcap", "ok"],
    ],
  );
  // The TPM refused: the probe is failed, the code in its message, the values stay null.
  const refused = await collectTpm(
    fakeRunner((probe) => ({ output: probe === sysClassTpmProbe ? sysfs2 : SWTPM_RC_VALUE_HEX }))
      .runner,
  );
  assert.deepEqual(refused.value, { version: "2.0", manufacturer: null, firmwareVersion: null });
  assert.equal(refused.reports[1]?.status, "failed");
  assert.match(refused.reports[1]?.message ?? "", /tpm2-properties-fixed\.hex: .*0x000001c4/);
  // No /dev/tpmrm0: skipped by the runner, sysfs's facts stay.
  const absent = await collectTpm(
    fakeRunner((probe) =>
      probe === sysClassTpmProbe
        ? { output: sysfs2 }
        : { status: "skipped", message: "not present on this system" },
    ).runner,
  );
  assert.equal(absent.value?.version, "2.0");
  assert.equal(absent.reports[1]?.status, "skipped");
  const one = fakeRunner({
    output: capture({ tpm_version_major: "1", caps: CAPS_STM, description: null }),
  });
  const old = await collectTpm(one.runner);
  assert.deepEqual(one.probes, [sysClassTpmProbe]);
  assert.equal(old.value?.manufacturer, "STM");
  assert.deepEqual(old.reports[1], {
    name: "tpm2-getcap",
    status: "skipped",
    durationMs: 0,
    command: null,
    exitCode: null,
    message: "not a TPM 2.0",
  });
});

test("capture then replay: tpm2-properties-fixed.hex is written and parsed again", async () => {
  const dir = await mkdtemp(join(tmpdir(), "recon-tpm2-capture-"));
  try {
    const fixture = new URL("../../fixtures/qemu-uefi-secureboot/", import.meta.url);
    const sysfs = readFileSync(new URL("sys-class-tpm.json", fixture), "utf8");
    // What the real probe returns on swtpm is the sample's text (see the swtpm test below).
    const inner = fakeRunner((probe) => ({
      output: probe === sysClassTpmProbe ? sysfs : SWTPM_HEX,
    }));
    const capturing = captureRunner(dir, inner.runner, "test");
    const live = await collectTpm(capturing);
    await capturing.finish();
    assert.equal(readFileSync(join(dir, "tpm2-properties-fixed.hex"), "utf8"), SWTPM_HEX);
    const replayed = await collectTpm(await replayRunner(dir));
    assert.deepEqual(replayed.value, live.value);
    assert.equal(replayed.value?.manufacturer, "IBM");
    assert.deepEqual(
      replayed.reports.map((r) => [r.name, r.status, r.command]),
      [
        ["tpm", "ok", "replay sys-class-tpm.json"],
        ["tpm2-getcap", "ok", "replay tpm2-properties-fixed.hex"],
      ],
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("the probe's transport: no device is skipped, a silent TPM times out", async () => {
  const runner = realRunner({ allowInTests: true, root: true });
  const dir = await mkdtemp(join(tmpdir(), "recon-tpm2-dev-"));
  try {
    const missing = {
      ...tpm2PropertiesProbe,
      source: {
        kind: "internal" as const,
        describe: "GetCapability on a device that is not there",
        read: () => queryTpm2Properties(tpmDeviceTransport(join(dir, "tpmrm0"))),
      },
    };
    const result = await runner.run(missing);
    assert.equal(result.status, "skipped");
    assert.equal(result.message, "not present on this system");
    // Not root: skipped before anything is opened.
    const user = await realRunner({ allowInTests: true, root: false }).run(tpm2PropertiesProbe);
    assert.deepEqual([user.status, user.message], ["skipped", "requires root"]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  const silent: TpmTransport = () => new Promise(() => {});
  const timedOut = await runner.run({
    ...tpm2PropertiesProbe,
    source: {
      kind: "internal",
      describe: "GetCapability on a TPM that never answers",
      read: () => queryTpm2Properties(silent),
    },
    timeoutMs: 50,
  });
  assert.deepEqual([timedOut.status, timedOut.message], ["timeout", "timed out after 50 ms"]);
});

test("swtpm (real TPM 2.0): the probe's own command and exchange, parsed", {
  skip: swtpmSkip(),
}, async (t) => {
  const tpm = await startSwtpm();
  t.after(() => tpm.stop());
  // The function the probe runs, with swtpm's socket in place of /dev/tpmrm0.
  const text = await queryTpm2Properties(tpm.transport);
  const { value, problem } = readTpm2PropertiesCapture(text);
  assert.equal(problem, null);
  assert.equal(value.manufacturer, "IBM");
  assert.equal(value.vendorString, "SW   TPM");
  assert.match(value.firmwareVersion ?? "", /^\d+\.\d+\.\d+\.\d+$/);
  // The same libtpms as the sample's: the same bytes.
  assert.equal(text.length, SWTPM_HEX.length);
  if (value.firmwareVersion === SWTPM_FACTS.firmwareVersion) assert.equal(text, SWTPM_HEX);
});
