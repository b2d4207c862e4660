// peSigned (image-master.ts): how the image lab tells a Secure Boot ready ISO (its UEFI boot
// loader carries an Authenticode signature) from one OVMF with Secure Boot would refuse. Run on
// Debian's own shim, signed and unsigned (package shim-signed / shim-unsigned), when installed.
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { test } from "node:test";
import { peSigned } from "./image-master.ts";

const SIGNED = "/usr/lib/shim/shimx64.efi.signed";
const UNSIGNED = "/usr/lib/shim/shimx64.efi";

test("peSigned: Debian's signed shim has a certificate table, the unsigned build none", {
  skip: existsSync(SIGNED) && existsSync(UNSIGNED) ? false : `${SIGNED} or ${UNSIGNED} missing`,
}, () => {
  assert.equal(peSigned(readFileSync(SIGNED)), true);
  assert.equal(peSigned(readFileSync(UNSIGNED)), false);
});

test("peSigned: not a PE image, or cut short: false, never a throw", () => {
  assert.equal(peSigned(Buffer.from("#!/bin/sh\n")), false);
  const pe = Buffer.alloc(0x100);
  pe.write("MZ", 0, "latin1");
  pe.writeUInt32LE(0xf0, 0x3c);
  pe.write("PE\0\0", 0xf0, "latin1");
  assert.equal(peSigned(pe), false);
});
