import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import fc from "fast-check";
import {
  collectTpm,
  parseSysClassTpm,
  readSysClassTpm,
  readSysClassTpmCapture,
  sysClassTpmProbe,
  tpmVendorOf,
} from "../../agent/collect/tpm.ts";
import { replayRunner } from "../../agent/exec.ts";
import { Tpm } from "../../schema/inventory.ts";
import { fakeRunner } from "../support/fake-runner.ts";

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

test("QEMU tpm-tis with swtpm (real capture, fixtures/qemu-uefi-secureboot): TPM 2.0", async () => {
  const fixture = new URL("../../fixtures/qemu-uefi-secureboot/", import.meta.url);
  const out = await collectTpm(await replayRunner(fixture.pathname));
  // sys-class-tpm.json there: {"tpm0":{"tpm_version_major":"2","caps":null,"description":null}}
  assert.deepEqual(out.value, { version: "2.0", manufacturer: null, firmwareVersion: null });
  assert.equal(out.reports[0]?.status, "ok");
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
  const { runner, probes } = fakeRunner({
    output: capture({ tpm_version_major: "2", caps: null, description: null }),
  });
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
