import assert from "node:assert/strict";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import fc from "fast-check";
import {
  collectBootFirmware,
  parseSysFirmwareEfi,
  readSysFirmwareEfi,
  readSysFirmwareEfiCapture,
  SECURE_BOOT_VAR,
  SETUP_MODE_VAR,
  sysFirmwareEfiProbe,
} from "../../agent/collect/efi.ts";
import { replayRunner } from "../../agent/exec.ts";
import { Boot } from "../../schema/inventory.ts";
import { fakeRunner } from "../support/fake-runner.ts";

const SAMPLE = new URL("../../samples/sysfs-platform-this-machine/", import.meta.url);
const Facts = Boot.pick({ firmware: true, secureBoot: true });

/** A capture of a UEFI machine with these two variable files (hex), 20 variables listed. */
function uefi(secureBoot: string | null, setupMode: string | null, extra: object = {}): string {
  return JSON.stringify({
    efi: true,
    efivarCount: 20,
    variables: { [SECURE_BOOT_VAR]: secureBoot, [SETUP_MODE_VAR]: setupMode },
    errors: {},
    ...extra,
  });
}

test("this machine (not EFI-booted, real capture): firmware bios, secureBoot null", async () => {
  const text = await readFile(new URL("sys-firmware-efi.json", SAMPLE), "utf8");
  assert.deepEqual(readSysFirmwareEfiCapture(text), {
    value: { firmware: "bios", secureBoot: null },
    problem: null,
  });
});

test("Secure Boot: true only for SecureBoot 1 and SetupMode 0", () => {
  // 06 00 00 00 = EFI_VARIABLE_BOOTSERVICE_ACCESS | RUNTIME_ACCESS, then the value byte.
  assert.deepEqual(parseSysFirmwareEfi(uefi("0600000001", "0600000000")), {
    firmware: "uefi",
    secureBoot: true,
  });
  assert.equal(parseSysFirmwareEfi(uefi("0600000000", "0600000000")).secureBoot, false);
  assert.equal(parseSysFirmwareEfi(uefi("0600000000", "0600000001")).secureBoot, false);
  // Setup mode: no platform key, nothing is verified.
  assert.equal(parseSysFirmwareEfi(uefi("0600000001", "0600000001")).secureBoot, false);
  // Firmware older than UEFI 2.3.1 has no SecureBoot variable at all: not enforcing.
  assert.deepEqual(readSysFirmwareEfiCapture(uefi(null, null)), {
    value: { firmware: "uefi", secureBoot: false },
    problem: null,
  });
  // SecureBoot 1 but SetupMode unknown: unknown.
  assert.deepEqual(readSysFirmwareEfiCapture(uefi("0600000001", null)), {
    value: { firmware: "uefi", secureBoot: null },
    problem: null,
  });
  // Attribute bytes other than 06 do not change the value byte's meaning.
  assert.equal(parseSysFirmwareEfi(uefi("2600000001", "2600000000")).secureBoot, true);
});

test("unreadable inputs on UEFI: null and a problem, firmware still uefi", () => {
  const cases: [string, RegExp][] = [
    [uefi(null, null, { efivarCount: 0 }), /efivarfs not mounted/],
    [uefi(null, null, { efivarCount: null }), /efivarfs not mounted/],
    [
      uefi("0600000001", null, { errors: { [SECURE_BOOT_VAR]: "EACCES" } }),
      /unreadable \(EACCES\)/,
    ],
    [uefi("06000000", "0600000000"), /not an EFI variable file \(4 bytes\)/],
    [uefi("0600000002", "0600000000"), /neither 0 nor 1/],
    [uefi("0600000001", "06zz"), /SetupMode.*not an EFI variable file/],
  ];
  for (const [text, problem] of cases) {
    const out = readSysFirmwareEfiCapture(text);
    assert.deepEqual(out.value, { firmware: "uefi", secureBoot: null }, text);
    assert.match(out.problem ?? "", problem, text);
  }
});

test("not the capture: a problem; empty: an honest empty", () => {
  assert.deepEqual(readSysFirmwareEfiCapture(""), {
    value: { firmware: null, secureBoot: null },
    problem: null,
  });
  assert.match(readSysFirmwareEfiCapture('{"efi":"yes"}').problem ?? "", /not a sys-firmware-efi/);
  assert.match(readSysFirmwareEfiCapture("[]").problem ?? "", /not a sys-firmware-efi/);
  assert.match(readSysFirmwareEfiCapture('{"efi":tr').problem ?? "", /not JSON/);
});

test("property: any text gives a schema-valid value; never throws", () => {
  fc.assert(
    fc.property(
      fc.oneof(
        fc.string(),
        fc.json(),
        fc
          .tuple(
            fc.option(fc.stringMatching(/^[0-9a-f]{0,14}$/)),
            fc.option(fc.stringMatching(/^[0-9a-f]{0,14}$/)),
            fc.option(fc.integer({ min: -2, max: 50 })),
          )
          .map(([a, b, n]) => uefi(a, b, { efivarCount: n })),
      ),
      (text) => {
        const out = readSysFirmwareEfiCapture(text);
        Facts.parse(out.value);
        // secureBoot is only ever known on UEFI.
        if (out.value.firmware !== "uefi") assert.equal(out.value.secureBoot, null);
      },
    ),
    { numRuns: 500 },
  );
});

test("capture reader over a sysfs-shaped tree: BIOS, UEFI with and without efivarfs", async () => {
  const root = await mkdtemp(join(tmpdir(), "recon-efi-"));
  try {
    const efi = join(root, "efi");
    assert.deepEqual(JSON.parse(await readSysFirmwareEfi(efi)), {
      efi: false,
      efivarCount: null,
      variables: {},
      errors: {},
    });
    await mkdir(efi);
    const noVars = JSON.parse(await readSysFirmwareEfi(efi));
    assert.equal(noVars.efivarCount, null);
    assert.match(readSysFirmwareEfiCapture(JSON.stringify(noVars)).problem ?? "", /efivarfs/);
    await mkdir(join(efi, "efivars"));
    await writeFile(join(efi, "efivars", SECURE_BOOT_VAR), Buffer.from([6, 0, 0, 0, 1]));
    await writeFile(join(efi, "efivars", SETUP_MODE_VAR), Buffer.from([6, 0, 0, 0, 0]));
    const text = await readSysFirmwareEfi(efi);
    assert.deepEqual(JSON.parse(text).variables, {
      [SECURE_BOOT_VAR]: "0600000001",
      [SETUP_MODE_VAR]: "0600000000",
    });
    assert.deepEqual(readSysFirmwareEfiCapture(text), {
      value: { firmware: "uefi", secureBoot: true },
      problem: null,
    });
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test("collectBootFirmware: report named efi, failed on an unreadable capture, replay", async () => {
  const { runner, probes } = fakeRunner({ output: uefi("0600000000", "0600000001") });
  const ok = await collectBootFirmware(runner);
  assert.equal(probes[0], sysFirmwareEfiProbe);
  assert.deepEqual(ok.value, { firmware: "uefi", secureBoot: false });
  assert.equal(ok.reports[0]?.name, "efi");
  assert.equal(ok.reports[0]?.status, "ok");
  const bad = await collectBootFirmware(fakeRunner({ output: "\u0000\u0001" }).runner);
  assert.equal(bad.reports[0]?.status, "failed");
  assert.match(bad.reports[0]?.message ?? "", /^sys-firmware-efi\.json: not JSON/);
  const replay = await collectBootFirmware(await replayRunner(SAMPLE.pathname));
  assert.deepEqual(replay.value, { firmware: "bios", secureBoot: null });
  const missing = await collectBootFirmware(
    fakeRunner({ status: "skipped", message: "not captured" }).runner,
  );
  assert.deepEqual(missing.value, { firmware: null, secureBoot: null });
  assert.equal(missing.reports[0]?.status, "skipped");
});

test("qemu-storage capture (SeaBIOS guest): firmware bios", async () => {
  const out = await collectBootFirmware(
    await replayRunner(new URL("../../fixtures/qemu-storage/", import.meta.url).pathname),
  );
  assert.deepEqual(out.value, { firmware: "bios", secureBoot: null });
  assert.equal(out.reports[0]?.status, "ok");
});

test("qemu-uefi-secureboot capture (OVMF secboot code + snakeoil keys): uefi, Secure Boot on", async () => {
  const dir = new URL("../../fixtures/qemu-uefi-secureboot/", import.meta.url).pathname;
  const text = await readFile(join(dir, "sys-firmware-efi.json"), "utf8");
  // The raw efivars: SecureBoot 06 00 00 00 01, SetupMode 06 00 00 00 00 (user mode, PK enrolled).
  assert.deepEqual(JSON.parse(text).variables, {
    [SECURE_BOOT_VAR]: "0600000001",
    [SETUP_MODE_VAR]: "0600000000",
  });
  const out = await collectBootFirmware(await replayRunner(dir));
  assert.deepEqual(out.value, { firmware: "uefi", secureBoot: true });
  assert.equal(out.reports[0]?.status, "ok");
});

test("qemu-uefi capture (OVMF secboot code, empty variable store): uefi, Secure Boot off", async () => {
  const dir = new URL("../../fixtures/qemu-uefi/", import.meta.url).pathname;
  // SecureBoot 06 00 00 00 00 and SetupMode 06 00 00 00 01: no platform key enrolled.
  assert.deepEqual(
    JSON.parse(await readFile(join(dir, "sys-firmware-efi.json"), "utf8")).variables,
    {
      [SECURE_BOOT_VAR]: "0600000000",
      [SETUP_MODE_VAR]: "0600000001",
    },
  );
  const out = await collectBootFirmware(await replayRunner(dir));
  assert.deepEqual(out.value, { firmware: "uefi", secureBoot: false });
});
