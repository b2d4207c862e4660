// Golden tests of the sdr elist and DCMI parsers on real outputs (values checked by hand against
// the raw files and their FACTS.md), and properties on generated input.
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { test } from "node:test";
import fc from "fast-check";
import { z } from "zod";
import {
  parseDcmiPowerReading,
  parseSdrElist,
  readDcmiPowerReading,
  readSdrElist,
} from "../../agent/collect/ipmi-sensors.ts";
import { PowerReading, Sensor } from "../../schema/inventory.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const read = (path: string) => readFile(`${ROOT}${path}`, "utf8");
const HP = "samples/ipmitool-sdr-elist-hp-dl360g7/ipmitool-sdr-elist.txt";
const SIM = "fixtures/ipmi-sim-openipmi-sensors/ipmitool-sdr-elist.txt";

test("parseSdrElist: HP DL360 G7, every row, PSU and fan states", async () => {
  const sensors = parseSdrElist(await read(HP));
  z.array(Sensor).parse(sensors);
  assert.equal(sensors.length, 43);
  assert.equal(sensors.filter((s) => s.status === "ns").length, 1);
  assert.equal(sensors.filter((s) => s.unit === "degrees C").length, 27);
  const byName = new Map(sensors.map((s) => [s.name, s]));
  assert.deepEqual(byName.get("Power Supply 1"), {
    name: "Power Supply 1",
    type: null,
    status: "ok",
    value: 0,
    unit: "Watts",
    entity: "10.1",
    state: "Presence detected, Failure detected",
  });
  assert.deepEqual(byName.get("Power Supply 2"), {
    name: "Power Supply 2",
    type: null,
    status: "ok",
    value: 95,
    unit: "Watts",
    entity: "10.2",
    state: "Presence detected",
  });
  assert.deepEqual(byName.get("Power Supplies"), {
    name: "Power Supplies",
    type: null,
    status: "ok",
    value: null,
    unit: null,
    entity: "10.3",
    state: "Non-Redundant: Sufficient from Redundant",
  });
  assert.deepEqual(byName.get("Fan Block 1"), {
    name: "Fan Block 1",
    type: null,
    status: "ok",
    value: 21.56,
    unit: "percent",
    entity: "7.1",
    state: "Transition to Running",
  });
  assert.deepEqual(
    ["Temp 1", "Temp 4", "Temp 17", "Temp 28", "UID Light", "VRM 1", "Memory"].map((n) => {
      const s = byName.get(n);
      return [s?.type, s?.status, s?.value, s?.unit, s?.entity, s?.state];
    }),
    [
      ["Temperature", "ok", 20, "degrees C", "64.1", null],
      [null, "ns", null, null, "8.1", null],
      ["Temperature", "ok", 30, "degrees C", "8.10", null],
      ["Temperature", "ok", 73, "degrees C", "66.1", null],
      [null, "ok", null, null, "23.1", null],
      [null, "ok", null, null, "9.1", "Device Present"],
      [
        null,
        "ok",
        null,
        null,
        "7.7",
        "Correctable ECC, Correctable ECC logging limit reached, Presence Detected",
      ],
    ],
  );
  assert.equal(readSdrElist(await read(HP)).problem, null);
});

test("parseSdrElist: ipmi_sim capture (threshold, not scanned, discrete)", async () => {
  assert.deepEqual(parseSdrElist(await read(SIM)), [
    {
      name: "Temp",
      type: "Temperature",
      status: "ok",
      value: 40,
      unit: "degrees C",
      entity: "3.1",
      state: null,
    },
    {
      name: "Fan1",
      type: "Fan",
      status: "ok",
      value: 5040,
      unit: "RPM",
      entity: "29.1",
      state: null,
    },
    {
      name: "12V",
      type: "Voltage",
      status: "ok",
      value: 12.12,
      unit: "Volts",
      entity: "7.1",
      state: null,
    },
    {
      name: "Pwr Consumption",
      type: null,
      status: "ok",
      value: 250,
      unit: "Watts",
      entity: "7.1",
      state: null,
    },
    {
      name: "Temp 2",
      type: null,
      status: "ns",
      value: null,
      unit: null,
      entity: "8.10",
      state: null,
    },
    {
      name: "PS1 Status",
      type: null,
      status: "ok",
      value: null,
      unit: null,
      entity: "10.1",
      state: "Presence detected",
    },
    {
      name: "PS2 Status",
      type: null,
      status: "ok",
      value: null,
      unit: null,
      entity: "10.2",
      state: "Presence detected, Failure detected",
    },
  ]);
});

test("parseSdrElist: decimal comma, No Reading, critical status, stray lines", () => {
  const text = [
    "BB +12.0V        | D0h | ok  |  7.1 | 12,03 Volts",
    "PSU2_PWRGD       | 2Eh | ns  | 10.2 | No Reading",
    "PSU2 Status      | 75h | cr  | 10.2 | Failure detected",
    "CPU Temp         | 01h | ok  |  3.1 | -5 degrees C",
    "Current 1        | 0Ch | ok  | 10.1 | 0.60 Amps",
    "not a row",
    "a | b | c | d | e",
  ].join("\n");
  assert.deepEqual(
    parseSdrElist(text).map((s) => [s.name, s.type, s.status, s.value, s.unit, s.state]),
    [
      ["BB +12.0V", "Voltage", "ok", 12.03, "Volts", null],
      ["PSU2_PWRGD", null, "ns", null, null, null],
      ["PSU2 Status", null, "cr", null, null, "Failure detected"],
      ["CPU Temp", "Temperature", "ok", -5, "degrees C", null],
      ["Current 1", "Current", "ok", 0.6, "Amps", null],
    ],
  );
});

test("readSdrElist: blank is honest, `sdr list` and binary are not sdr elist", async () => {
  assert.deepEqual(readSdrElist(""), { value: [], problem: null });
  // The three-column `ipmitool sdr` of samples/ipmitool-sdr-hp-rhcip is another command's output.
  const list = readSdrElist(await read("samples/ipmitool-sdr-hp-rhcip/ipmitool-sdr.txt"));
  assert.deepEqual(list.value, []);
  assert.match(list.problem ?? "", /no "name \| id \| status \| entity \| reading" row/);
  assert.match(readSdrElist("Temp | 01h | ok\u0000 | 3.1 | 40 degrees C").problem ?? "", /binary/);
});

test("parseDcmiPowerReading: OpenPOWER BMC sample", async () => {
  const text = await read("samples/ipmitool-dcmi-openpower/ipmitool-dcmi-power-reading.txt");
  assert.deepEqual(parseDcmiPowerReading(text), {
    currentWatts: 297,
    minimumWatts: 284,
    maximumWatts: 317,
    averageWatts: 297,
  });
  assert.equal(readDcmiPowerReading(text).problem, null);
});

test("parseDcmiPowerReading: deactivated measurement, missing lines, failure text", () => {
  // ipmitool's own line format; a BMC that reports but does not measure prints zeros.
  const deactivated = [
    "    Instantaneous power reading:                     0 Watts",
    "    Minimum during sampling period:                  0 Watts",
    "    Power reading state is:                   deactivated",
  ].join("\n");
  assert.deepEqual(readDcmiPowerReading(deactivated), { value: null, problem: null });
  assert.deepEqual(parseDcmiPowerReading("    Instantaneous power reading:   145 Watts\n"), {
    currentWatts: 145,
    minimumWatts: null,
    maximumWatts: null,
    averageWatts: null,
  });
  assert.deepEqual(readDcmiPowerReading(""), { value: null, problem: null });
  const failed = readDcmiPowerReading("    DCMI request failed because: Invalid command (c1)\n");
  assert.equal(failed.value, null);
  assert.match(failed.problem ?? "", /no "Instantaneous power reading" line/);
});

// --- properties ---

const name = fc
  .string({ minLength: 1, maxLength: 16 })
  .filter((s) => !/[|\r\n]/.test(s) && s.trim() !== "" && !/\s{2}/.test(s.trim()))
  .map((s) => s.trim());
const row = fc.record({
  name,
  id: fc.integer({ min: 0, max: 255 }),
  status: fc.constantFrom("ok", "ns", "cr", "nc", "nr", "lnr", "ucr"),
  entity: fc.tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 127 })),
  value: fc.integer({ min: -1000, max: 100000 }).map((n) => n / 100),
  unit: fc.constantFrom("degrees C", "RPM", "Volts", "Watts", "Amps", "percent"),
  states: fc.array(fc.constantFrom("Presence detected", "Failure detected", "Device Enabled"), {
    maxLength: 2,
  }),
});

test("property: a generated sdr elist row reads back field for field", () => {
  fc.assert(
    fc.property(fc.array(row, { maxLength: 20 }), (rows) => {
      const text = rows
        .map((r) => {
          const id = `${r.id.toString(16).toUpperCase().padStart(2, "0")}h`;
          const reading = [`${r.value} ${r.unit}`, ...r.states].join(", ");
          return `${r.name.padEnd(16)} | ${id} | ${r.status.padEnd(3)} | ${r.entity.join(".").padStart(4)} | ${reading}`;
        })
        .join("\n");
      const sensors = parseSdrElist(text);
      assert.deepEqual(
        sensors.map((s) => [s.name, s.status, s.value, s.unit, s.entity, s.state]),
        rows.map((r) => [
          r.name,
          r.status,
          r.value,
          r.unit,
          r.entity.join("."),
          r.states.length > 0 ? r.states.join(", ") : null,
        ]),
      );
    }),
    { numRuns: 300 },
  );
});

test("property: the parsers never throw and stay schema-valid on any text", () => {
  const lines = fc
    .array(
      fc.oneof(
        fc.string(),
        fc.constantFrom(
          "Temp | 01h | ok | 3.1 | 40 degrees C",
          "x | zzh | ok | 3.1 | 1",
          " | | | | ",
          "Instantaneous power reading: 99999999999999999999 Watts",
          "Average power reading over sample period: -3 Watts",
          "Power reading state is: deactivated",
        ),
      ),
      { maxLength: 30 },
    )
    .map((l) => l.join("\n"));
  fc.assert(
    fc.property(fc.oneof(fc.string({ maxLength: 2000 }), lines), (text) => {
      z.array(Sensor).parse(parseSdrElist(text));
      PowerReading.nullable().parse(parseDcmiPowerReading(text));
      readSdrElist(text);
      readDcmiPowerReading(text);
    }),
    { numRuns: 500 },
  );
  for (const bad of [undefined, null, 42] as unknown as string[]) {
    parseSdrElist(bad);
    parseDcmiPowerReading(bad);
  }
});
