// What the BMC measures: every sensor of `ipmitool sdr elist` (temperatures, fans, voltages, PSU
// and fan status) and the DCMI power reading (`ipmitool dcmi power reading`). Pure parsers only;
// the probes and their order live in ipmitool.ts with the rest of the BMC collector.
import type { PowerReading, Sensor } from "../../schema/inventory.ts";
import { parseCount } from "../normalize.ts";
import { binaryProblem, isBlank, type Parsed } from "./types.ts";

const SENSOR_ID = /^[0-9a-f]{2}h$/i;
const SENSOR_STATUS = /^[a-z]{2,3}$/i;
const ENTITY = /^\d{1,3}\.\d{1,3}$/;
/** A reading ipmitool prints as a number and its unit ("40 degrees C", "12,03 Volts"). */
const NUMERIC_READING = /^(-?\d+(?:[.,]\d+)?)\s+([A-Za-z%][A-Za-z% ./-]*)$/;
/** What ipmitool prints instead of a reading it could not take or a sensor it does not scan. */
const NO_READING = /^(no reading|disabled|not readable|unavailable|na)$/i;

/**
 * The IPMI sensor type a unit implies where that is unambiguous: only temperature sensors
 * read in degrees, fans in RPM, voltage sensors in Volts, current sensors in Amps. Watts
 * (Power Supply, Current, Other Units-based ...) and percent are ambiguous: null.
 */
function typeOfUnit(unit: string | null): string | null {
  if (unit === null) return null;
  if (/^degrees [CFK]$/i.test(unit)) return "Temperature";
  if (/^RPM$/i.test(unit)) return "Fan";
  if (/^Volts$/i.test(unit)) return "Voltage";
  if (/^Amps$/i.test(unit)) return "Current";
  return null;
}

/** The reading column: a number and unit first (threshold sensors), then discrete states. */
function splitReading(reading: string): {
  value: number | null;
  unit: string | null;
  state: string | null;
} {
  const trimmed = reading.replace(/\s+/g, " ").trim();
  if (trimmed === "" || NO_READING.test(trimmed)) return { value: null, unit: null, state: null };
  const parts = trimmed.split(/,\s*(?=\D)/);
  const numeric = NUMERIC_READING.exec(parts[0] ?? "");
  if (numeric?.[1] && numeric[2]) {
    const value = Number(numeric[1].replace(",", "."));
    const states = parts.slice(1).join(", ").trim();
    return {
      value: Number.isFinite(value) ? value : null,
      unit: numeric[2].trim(),
      state: states === "" ? null : states,
    };
  }
  return { value: null, unit: null, state: trimmed };
}

/**
 * Parses `ipmitool sdr elist` (name | sensor id | status | entity | reading); lines of any other
 * shape are left out. Never throws. Real input (HP ProLiant DL360 G7, `sdr elist full`, and
 * ipmi_sim):
 *   Power Supply 1   | 06h | ok  | 10.1 | 0 Watts, Presence detected, Failure detected
 *   Fan Block 1      | 09h | ok  |  7.1 | 21.56 percent, Transition to Running
 *   Temp 4           | 11h | ns  |  8.1 | Disabled
 *   Temp 17          | 1Eh | ok  |  8.10 | 30 degrees C
 *   UID Light        | 03h | ok  | 23.1 |
 *   PS1 Status       | 8Ah | ok  | 10.1 | Presence detected
 */
export function parseSdrElist(text: string): Sensor[] {
  const sensors: Sensor[] = [];
  for (const line of String(text ?? "").split(/\r?\n/)) {
    const columns = line.split("|");
    if (columns.length < 5) continue;
    const [id, status, entity, reading] = columns.slice(-4).map((c) => c.trim());
    const name = columns.slice(0, -4).join("|").replace(/\s+/g, " ").trim();
    if (!name || !id || !status || !entity || reading === undefined) continue;
    if (!SENSOR_ID.test(id) || !SENSOR_STATUS.test(status) || !ENTITY.test(entity)) continue;
    const { value, unit, state } = splitReading(reading);
    sensors.push({
      name,
      type: typeOfUnit(unit),
      status: status.toLowerCase(),
      value,
      unit,
      entity,
      state,
    });
  }
  return sensors;
}

/** `parseSdrElist`, and a problem when non-blank text holds no sensor row (or binary bytes). */
export function readSdrElist(text: string): Parsed<Sensor[]> {
  const value = parseSdrElist(text);
  if (isBlank(text)) return { value, problem: null };
  const binary = binaryProblem(text);
  if (binary !== null) return { value, problem: binary };
  if (value.length === 0) {
    return {
      value,
      problem: `no "name | id | status | entity | reading" row in ${text.length} characters`,
    };
  }
  return { value, problem: null };
}

const POWER_KEYS = {
  "Instantaneous power reading": "currentWatts",
  "Minimum during sampling period": "minimumWatts",
  "Maximum during sampling period": "maximumWatts",
  "Average power reading over sample period": "averageWatts",
} as const satisfies Record<string, keyof PowerReading>;

function powerValues(text: string): Map<string, string> {
  const values = new Map<string, string>();
  for (const line of String(text ?? "").split(/\r?\n/)) {
    const colon = line.indexOf(":");
    if (colon <= 0) continue;
    const key = line.slice(0, colon).replace(/\s+/g, " ").trim();
    if (!values.has(key)) values.set(key, line.slice(colon + 1).trim());
  }
  return values;
}

/** "250 Watts" -> 250; anything else (no unit, other unit) -> null. */
function watts(value: string | undefined): number | null {
  if (value === undefined || !/^\d+\s+Watts?\b/i.test(value)) return null;
  return parseCount(value);
}

/**
 * Parses `ipmitool dcmi power reading`; null when the text holds no instantaneous reading, or
 * when the BMC says power measurement is deactivated (its figures are then not readings).
 * Never throws. Real input (IBM OpenPOWER BMC, op-test-framework):
 *   Instantaneous power reading:                   297 Watts
 *   Minimum during sampling period:                284 Watts
 *   Maximum during sampling period:                317 Watts
 *   Average power reading over sample period:      297 Watts
 *   IPMI timestamp:                           Tue Nov 24 09:46:03 2015
 *   Sampling period:                          00010000 Milliseconds
 *   Power reading state is:                   activated
 */
export function parseDcmiPowerReading(text: string): PowerReading | null {
  const values = powerValues(text);
  if (!values.has("Instantaneous power reading")) return null;
  if (/^deactivated/i.test(values.get("Power reading state is") ?? "")) return null;
  const reading: PowerReading = {
    currentWatts: null,
    minimumWatts: null,
    maximumWatts: null,
    averageWatts: null,
  };
  for (const [key, field] of Object.entries(POWER_KEYS)) reading[field] = watts(values.get(key));
  return reading;
}

/** `parseDcmiPowerReading`, and a problem when non-blank text has no DCMI reading line. */
export function readDcmiPowerReading(text: string): Parsed<PowerReading | null> {
  const value = parseDcmiPowerReading(text);
  if (isBlank(text)) return { value, problem: null };
  const binary = binaryProblem(text);
  if (binary !== null) return { value, problem: binary };
  if (!powerValues(text).has("Instantaneous power reading")) {
    return {
      value,
      problem: `no "Instantaneous power reading" line in ${text.length} characters`,
    };
  }
  return { value, problem: null };
}
