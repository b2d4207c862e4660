import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import {
  cleanString,
  normalizeIpv4,
  normalizeMac,
  normalizeUuid,
  PLACEHOLDERS,
  parseBinarySize,
  parseCount,
} from "../agent/normalize.ts";

test("every listed placeholder becomes null, in any case and spacing", () => {
  for (const p of PLACEHOLDERS) {
    assert.equal(cleanString(p), null, p);
    assert.equal(cleanString(`  ${p.toUpperCase()}  `), null, p);
  }
  for (const p of [
    "Not Specified",
    "To Be Filled By O.E.M.",
    "Default string",
    "System Serial Number",
    "0123456789",
    "None",
    "N/A",
    "Unknown",
  ]) {
    assert.equal(cleanString(p), null, p);
  }
});

test("filler values made of 0, F, X, dots, dashes, asterisks, # or spaces become null", () => {
  for (const v of [
    "0",
    "00000000",
    "FFFFFFFF",
    "xxxx",
    "....",
    "--",
    "***",
    "# #",
    "0x0",
    " . - ",
  ]) {
    assert.equal(cleanString(v), null, v);
  }
});

test("real values are kept, trimmed, whitespace collapsed", () => {
  assert.equal(cleanString("  PowerEdge   R740 "), "PowerEdge R740");
  assert.equal(cleanString("Dell Inc.\t"), "Dell Inc.");
  assert.equal(cleanString("0A1"), "0A1");
  assert.equal(cleanString("F00D"), "F00D");
  assert.equal(cleanString("CZJ1234X"), "CZJ1234X");
});

test("dmidecode and meminfo sizes are binary units", () => {
  assert.equal(parseBinarySize("32 GB"), 32 * 1024 ** 3);
  assert.equal(parseBinarySize("129408 MB"), 129408 * 1024 ** 2);
  assert.equal(parseBinarySize("16318484 kB"), 16318484 * 1024);
  assert.equal(parseBinarySize("2 TB"), 2 * 1024 ** 4);
  assert.equal(parseBinarySize("512 bytes"), 512);
  assert.equal(parseBinarySize("No Module Installed"), null);
  assert.equal(parseBinarySize("Unknown"), null);
  assert.equal(parseBinarySize(""), null);
});

test("MACs: any spelling to lowercase colon form; all-zero is unknown", () => {
  assert.equal(normalizeMac("AA-BB-CC-DD-EE-FF"), "aa:bb:cc:dd:ee:ff");
  assert.equal(normalizeMac("aabb.ccdd.eeff"), "aa:bb:cc:dd:ee:ff");
  assert.equal(normalizeMac("00:00:00:00:00:00"), null);
  assert.equal(normalizeMac("zz:bb:cc:dd:ee:ff"), null);
});

test("UUIDs: canonical lowercase; filler UUIDs are unknown", () => {
  assert.equal(
    normalizeUuid("4C4C4544-0042-3510-8052-B3C04F4D4E32"),
    "4c4c4544-0042-3510-8052-b3c04f4d4e32",
  );
  assert.equal(normalizeUuid("00000000-0000-0000-0000-000000000000"), null);
  assert.equal(normalizeUuid("FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF"), null);
  assert.equal(normalizeUuid("not-a-uuid"), null);
});

test("counts and IPv4", () => {
  assert.equal(parseCount(" 3000 MHz"), 3000);
  assert.equal(parseCount("Unknown"), null);
  assert.equal(normalizeIpv4("0.0.0.0"), null);
  assert.equal(normalizeIpv4("10.0.0.5"), "10.0.0.5");
  assert.equal(normalizeIpv4("10.0.0.256"), null);
});

test("normalizers never throw", () => {
  fc.assert(
    fc.property(fc.string(), (s) => {
      cleanString(s);
      parseBinarySize(s);
      normalizeMac(s);
      normalizeUuid(s);
      parseCount(s);
      normalizeIpv4(s);
    }),
  );
});
