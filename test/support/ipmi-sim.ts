// A real BMC for tests: OpenIPMI's ipmi_sim (Debian package `openipmi`) on 127.0.0.1, reached
// by real ipmitool over RMCP+ (lanplus). Each instance gets its own temp dir (lan.conf, emulator
// command file, state dir, password file) and a generated chassis-control script that records
// every power change with a millisecond timestamp, so a test can tell exactly when the chassis
// was switched off. FRUs and sensors go into the emulator command file (FRU data, SDR records,
// sensor readings: `sdr elist` then reads them back). See /work/shared/reference/bmc-simulation.md,
// man 5 ipmi_lan and man 5 ipmi_sim_cmd.
//
// Usage:
//   test("...", { skip: ipmiSimSkip() }, async (t) => {
//     const sim = await startIpmiSim();
//     t.after(() => sim.stop());
//     ... realRunner({ allowInTests: true }) with sim.ipmiArgs ...
//   });
// Without ipmi_sim/ipmitool: skipped with a reason, except under CI (CI=true, test/support/ci.ts),
// where the test runs and startIpmiSim() fails with a message naming the packages to install.
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { accessSync, constants } from "node:fs";
import {
  chmod,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  readlink,
  rm,
  writeFile,
} from "node:fs/promises";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { underCI } from "./ci.ts";

export type PowerState = "on" | "off";

export interface PowerEvent {
  /** Date.now() scale (ms since the epoch) when the chassis-control program ran. */
  at: number;
  state: PowerState;
  /** "power": a chassis power on/off/cycle command; "shutdown": the simulated OS honouring a soft-off. */
  cause: "power" | "shutdown";
}

export interface ChassisCall {
  at: number;
  /** Arguments after the MC address, e.g. ["set", "power", "0"], ["set", "shutdown", "1"], ["get", "power"]. */
  args: string[];
}

export interface LanFacts {
  ipv4Address: string;
  netmask: string;
  gateway: string;
  macAddress: string;
  /** 802.1q VLAN id; null leaves tagging disabled. */
  vlanId: number | null;
}

export interface FruSpec {
  /** FRU device id; 0 is the builtin FRU, others get an SDR FRU locator so `fru print` lists them. */
  id: number;
  /** Device id string of the SDR locator (ids other than 0). */
  name?: string;
  chassis?: { partNumber?: string; serial?: string };
  board?: { manufacturer?: string; product?: string; serial?: string; partNumber?: string };
  product?: {
    manufacturer?: string;
    name?: string;
    partNumber?: string;
    version?: string;
    serial?: string;
    assetTag?: string;
  };
}

/**
 * A sensor in the BMC's SDR repository and its current reading (man 5 ipmi_sim_cmd: sensor_add,
 * sensor_set_value, sensor_set_bit). "threshold": an analog sensor read as `m * raw * 10^rExp`
 * in `unit` (IPMI base unit code: 1 degrees C, 4 Volts, 5 Amps, 6 Watts, 18 RPM); "discrete": a
 * sensor-specific sensor (event/reading type 0x6f) with the given state bits asserted.
 */
export type SensorSpec =
  | {
      kind: "threshold";
      number: number;
      name: string;
      /** IPMI sensor type: 0x01 temperature, 0x02 voltage, 0x03 current, 0x04 fan. */
      sensorType: number;
      entityId: number;
      entityInstance: number;
      unit: number;
      m: number;
      rExp: number;
      raw: number;
      /** false: the BMC does not scan it (ipmitool prints "ns" and "Disabled"). */
      scanning?: boolean;
    }
  | {
      kind: "discrete";
      number: number;
      name: string;
      /** IPMI sensor type, e.g. 0x08 power supply (bit 0 presence, bit 1 failure). */
      sensorType: number;
      entityId: number;
      entityInstance: number;
      bits: number[];
    };

export interface IpmiSimOptions {
  /** LAN channel 1 facts set out-of-band after start; null leaves the channel unconfigured. */
  lan?: LanFacts | null;
  fru?: FruSpec[];
  /** Sensors in the SDR repository; none by default (`sdr elist` then prints nothing). */
  sensors?: SensorSpec[];
  /**
   * What the simulated OS does with a soft-off request (ACPI shutdown): "ignore" (an OS that
   * hangs or has no ACPI handler) or "honor" (the chassis goes off after softOffDelayMs).
   */
  softOff?: "ignore" | "honor";
  softOffDelayMs?: number;
  initialPower?: PowerState;
  /**
   * Attach a virtual machine instead of the chassis-control program: ipmi_sim listens on
   * 127.0.0.1:vmPort for the serial VM protocol (what QEMU's ipmi-bmc-extern speaks), sends its
   * power commands there, and reports the chassis on while a VM is connected. powerState(),
   * powerEvents() and chassisCalls() then stay empty: the VM side sees the commands.
   */
  vm?: boolean;
}

export interface IpmiSim {
  host: "127.0.0.1";
  port: number;
  user: string;
  password: string;
  /** ipmitool arguments that reach this BMC (the password goes through a file, not argv). */
  ipmiArgs: string[];
  dir: string;
  pid: number;
  /** The serial VM port (options.vm), else null. */
  vmPort: number | null;
  lan: LanFacts | null;
  powerState(): Promise<PowerState>;
  powerEvents(): Promise<PowerEvent[]>;
  chassisCalls(): Promise<ChassisCall[]>;
  /** Runs ipmitool against this BMC (test setup and assertions). */
  ipmitool(args: string[]): Promise<{ code: number; stdout: string; stderr: string }>;
  stop(): Promise<void>;
}

export const DEFAULT_LAN: LanFacts = {
  ipv4Address: "192.0.2.10",
  netmask: "255.255.255.0",
  gateway: "192.0.2.1",
  macAddress: "52:54:00:12:34:56",
  vlanId: null,
};

export const DEFAULT_FRU: FruSpec[] = [
  {
    id: 0,
    chassis: { partNumber: "CHS-1000", serial: "CSN0001" },
    board: {
      manufacturer: "Recon Test Boards",
      product: "RT-MB1",
      serial: "BSN0001",
      partNumber: "BPN-42",
    },
    product: {
      manufacturer: "Recon Systems",
      name: "RS-1U",
      partNumber: "RS-1U-A",
      version: "1.0",
      serial: "PSN0001",
      assetTag: "ASSET-7",
    },
  },
  {
    id: 1,
    name: "PSU1",
    product: {
      manufacturer: "Recon Power",
      name: "RP-800W",
      partNumber: "RP800",
      serial: "PSU0001",
    },
  },
];

/** A temperature, a fan, a 12 V rail, a power meter and two PSU status sensors (one failed). */
export const DEFAULT_SENSORS: SensorSpec[] = [
  {
    kind: "threshold",
    number: 0x01,
    name: "Temp",
    sensorType: 0x01,
    entityId: 3,
    entityInstance: 1,
    unit: 1,
    m: 1,
    rExp: 0,
    raw: 40,
  },
  {
    kind: "threshold",
    number: 0x30,
    name: "Fan1",
    sensorType: 0x04,
    entityId: 29,
    entityInstance: 1,
    unit: 18,
    m: 40,
    rExp: 0,
    raw: 126,
  },
  {
    kind: "threshold",
    number: 0x31,
    name: "12V",
    sensorType: 0x02,
    entityId: 7,
    entityInstance: 1,
    unit: 4,
    m: 6,
    rExp: -2,
    raw: 202,
  },
  {
    kind: "threshold",
    number: 0x32,
    name: "Pwr Consumption",
    sensorType: 0x03,
    entityId: 7,
    entityInstance: 1,
    unit: 6,
    m: 2,
    rExp: 0,
    raw: 125,
  },
  {
    kind: "threshold",
    number: 0x33,
    name: "Temp 2",
    sensorType: 0x01,
    entityId: 8,
    entityInstance: 10,
    unit: 1,
    m: 1,
    rExp: 0,
    raw: 0,
    scanning: false,
  },
  {
    kind: "discrete",
    number: 0x8a,
    name: "PS1 Status",
    sensorType: 0x08,
    entityId: 10,
    entityInstance: 1,
    bits: [0],
  },
  {
    kind: "discrete",
    number: 0x8b,
    name: "PS2 Status",
    sensorType: 0x08,
    entityId: 10,
    entityInstance: 2,
    bits: [0, 1],
  },
];

const TOOLS = ["ipmi_sim", "ipmitool"] as const;

function onPath(tool: string): boolean {
  for (const dir of (process.env.PATH ?? "/usr/bin:/bin").split(delimiter)) {
    if (!dir) continue;
    try {
      accessSync(join(dir, tool), constants.X_OK);
      return true;
    } catch {
      // next directory
    }
  }
  return false;
}

/** The tools this harness needs that are not on PATH. */
export function missingIpmiTools(): string[] {
  return TOOLS.filter((tool) => !onPath(tool));
}

const INSTALL_HINT = "apt-get install -y openipmi ipmitool";

/**
 * For `test(name, { skip: ipmiSimSkip() }, ...)`: a reason to skip when the tools are missing on a
 * developer machine; false under CI (the test then fails in startIpmiSim with a clear message).
 */
export function ipmiSimSkip(): string | false {
  const missing = missingIpmiTools();
  if (missing.length === 0 || underCI) return false;
  return `${missing.join(", ")} not installed (${INSTALL_HINT})`;
}

/**
 * The 127.0.0.1 ports process `pid` is bound to (UDP) or listening on (TCP), from its socket
 * inodes in /proc: ipmi_sim is given port 0 and the kernel picks free ones, so no port is probed,
 * released and then hoped to be still free.
 */
async function boundPorts(pid: number, proto: "udp" | "tcp"): Promise<number[]> {
  const inodes = new Set<string>();
  try {
    for (const fd of await readdir(`/proc/${pid}/fd`)) {
      const link = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => "");
      const match = /^socket:\[(\d+)\]$/.exec(link);
      if (match?.[1]) inodes.add(match[1]);
    }
    const table = await readFile(`/proc/${pid}/net/${proto}`, "utf8");
    const ports: number[] = [];
    for (const line of table.split("\n").slice(1)) {
      const [, local, , state, , , , , , inode] = line.trim().split(/\s+/);
      if (!local || !inode || !inodes.has(inode)) continue;
      if (proto === "tcp" && state !== "0A") continue; // LISTEN
      const [host, port] = local.split(":");
      if (host === "0100007F" && port) ports.push(Number.parseInt(port, 16));
    }
    return ports;
  } catch {
    return []; // the process is gone
  }
}

function runIpmitool(
  args: string[],
  timeoutMs = 15_000,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      "ipmitool",
      args,
      { timeout: timeoutMs, env: { ...process.env, LC_ALL: "C", LANG: "C" } },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === "number" ? error.code : -1) : 0;
        resolve({ code, stdout: String(stdout), stderr: String(stderr) });
      },
    );
  });
}

const quote = (value: string) => `'${value.replace(/'/g, `'\\''`)}'`;

/** The program ipmi_sim runs as `<program> 0x20 get power` / `<program> 0x20 set power 0` ... */
function chassisScript(dir: string, softOff: "ignore" | "honor", softOffDelayMs: number): string {
  const delay = (softOffDelayMs / 1000).toFixed(3);
  return `#!/bin/sh
# Generated by test/support/ipmi-sim.ts: ipmi_sim's chassis_control program.
dir=${quote(dir)}
now() { date +%s%3N; }
echo "$(now) $*" >> "$dir/calls.log"
shift
op=$1
shift
case "$op" in
  get)
    for item in "$@"; do
      case "$item" in
        power) echo "power:$(cat "$dir/power")" ;;
      esac
    done
    ;;
  set)
    while [ $# -ge 2 ]; do
      case "$1" in
        power)
          echo "$2" > "$dir/power"
          echo "$(now) $2 power" >> "$dir/events.log"
          ;;
        shutdown)
          if [ ${quote(softOff)} = honor ] && [ "$2" = 1 ]; then
            ( sleep ${delay}; echo 0 > "$dir/power"; echo "$(now) 0 shutdown" >> "$dir/events.log" ) \\
              </dev/null >/dev/null 2>&1 &
          fi
          ;;
      esac
      shift 2
    done
    ;;
esac
exit 0
`;
}

function lanConf(opts: {
  port: number;
  user: string;
  password: string;
  program: string;
  guid: string;
  vmPort: number | null;
}): string {
  const power =
    opts.vmPort === null
      ? `  chassis_control "${opts.program} 0x20"`
      : `  serial 15 127.0.0.1 ${opts.vmPort} codec VM\n  poweroff_wait 0\n  kill_wait 0`;
  return `# Generated by test/support/ipmi-sim.ts (see man 5 ipmi_lan).
name "recon-sim"
set_working_mc 0x20
  startlan 1
    addr 127.0.0.1 ${opts.port}
    priv_limit admin
    allowed_auths_callback none md2 md5 straight
    allowed_auths_user none md2 md5 straight
    allowed_auths_operator none md2 md5 straight
    allowed_auths_admin none md2 md5 straight
    guid ${opts.guid}
  endlan
${power}
  user 2 true "${opts.user}" "${opts.password}" admin 10 none md2 md5 straight
`;
}

// --- FRU inventory encoding (IPMI Platform Management FRU Information Storage Definition v1.0) ---

function field(value: string | undefined): number[] {
  const bytes = [...Buffer.from((value ?? "").slice(0, 63), "latin1")];
  return [0xc0 | bytes.length, ...bytes];
}

function checksum(bytes: number[]): number {
  return (0x100 - (bytes.reduce((a, b) => a + b, 0) & 0xff)) & 0xff;
}

/** An info area: fields, end marker 0xC1, padding to 8-byte multiple, checksum. */
function area(head: number[], fields: number[][]): number[] {
  const body = [0x01, 0x00, ...head, ...fields.flat(), 0xc1];
  while ((body.length + 1) % 8 !== 0) body.push(0x00);
  body[1] = (body.length + 1) / 8;
  body.push(checksum(body));
  return body;
}

export function encodeFru(spec: FruSpec): number[] {
  const areas: Array<number[] | null> = [
    spec.chassis
      ? area([0x17], [field(spec.chassis.partNumber), field(spec.chassis.serial)])
      : null,
    spec.board
      ? area(
          // English, manufacturing date: minutes since 1996-01-01 (here 2024-01-01 00:00).
          [0x00, ...le24(14_726_880)],
          [
            field(spec.board.manufacturer),
            field(spec.board.product),
            field(spec.board.serial),
            field(spec.board.partNumber),
            field(""),
          ],
        )
      : null,
    spec.product
      ? area(
          [0x00],
          [
            field(spec.product.manufacturer),
            field(spec.product.name),
            field(spec.product.partNumber),
            field(spec.product.version),
            field(spec.product.serial),
            field(spec.product.assetTag),
            field(""),
          ],
        )
      : null,
  ];
  const header = [0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00];
  const data: number[] = [];
  let offset = 1; // in 8-byte units; the header takes the first 8 bytes
  areas.forEach((bytes, index) => {
    if (!bytes) return;
    header[2 + index] = offset;
    data.push(...bytes);
    offset += bytes.length / 8;
  });
  header.push(checksum(header));
  return [...header, ...data];
}

function le24(value: number): number[] {
  return [value & 0xff, (value >> 8) & 0xff, (value >> 16) & 0xff];
}

/** SDR type 0x11 (FRU Device Locator) for a logical FRU device on the BMC. */
function fruLocatorSdr(recordId: number, fruId: number, name: string): number[] {
  const id = field(name);
  const body = [0x20, fruId, 0x80, 0x00, 0x00, 0x10, 0x00, 0x0a, 0x01, 0x00, ...id];
  return [recordId & 0xff, recordId >> 8, 0x51, 0x11, body.length, ...body];
}

const nibble = (value: number) => value & 0x0f;

/** SDR type 0x01 (Full Sensor Record) for a linear analog sensor, or 0x02 (Compact) for a discrete one. */
function sensorSdr(recordId: number, sensor: SensorSpec): number[] {
  const key = [0x20, 0x00, sensor.number];
  const id = field(sensor.name);
  // Entity, initialisation (scanning and events enabled), capabilities (auto re-arm, no
  // thresholds or hysteresis readable), sensor type, event/reading type.
  const common = (readingType: number) => [
    sensor.entityId,
    sensor.entityInstance & 0x7f,
    0x67,
    0x40,
    sensor.sensorType,
    readingType,
  ];
  let body: number[];
  if (sensor.kind === "threshold") {
    body = [
      ...key,
      ...common(0x01),
      ...[0x00, 0x00, 0x00, 0x00, 0x00, 0x00], // event masks: none
      0x00, // units 1: unsigned, no rate, no modifier
      sensor.unit,
      0x00,
      0x00, // linear
      sensor.m & 0xff,
      (sensor.m >> 2) & 0xc0,
      0x00, // B = 0
      0x00,
      0x00,
      (nibble(sensor.rExp) << 4) | 0x00, // R exponent, B exponent 0
      0x00, // analog characteristics
      ...[0x00, 0xff, 0x00, 0xff, 0x00], // nominal, normal max/min, sensor max/min
      ...[0x00, 0x00, 0x00, 0x00, 0x00, 0x00], // thresholds (not readable)
      0x00,
      0x00, // hysteresis
      0x00,
      0x00, // reserved
      0x00, // OEM
      ...id,
    ];
  } else {
    body = [
      ...key,
      ...common(0x6f),
      ...[0x00, 0x00, 0x00, 0x00, 0xff, 0x7f], // event masks none; every state readable
      0x00,
      0x00,
      0x00, // no units
      0x00,
      0x00, // no record sharing
      0x00,
      0x00, // hysteresis
      0x00,
      0x00,
      0x00, // reserved
      0x00, // OEM
      ...id,
    ];
  }
  const type = sensor.kind === "threshold" ? 0x01 : 0x02;
  return [recordId & 0xff, recordId >> 8, 0x51, type, body.length, ...body];
}

function sensorCommands(recordId: number, sensor: SensorSpec): string[] {
  const n = `0x${sensor.number.toString(16)}`;
  const lines = [
    `main_sdr_add 0x20 ${hex(sensorSdr(recordId, sensor))}`,
    `sensor_add 0x20 0 ${n} 0x${sensor.sensorType.toString(16)} ${sensor.kind === "threshold" ? "0x01" : "0x6f"}`,
  ];
  if (sensor.kind === "discrete") {
    for (const bit of sensor.bits) lines.push(`sensor_set_bit 0x20 0 ${n} ${bit} 1 0`);
    return lines;
  }
  lines.push(`sensor_set_value 0x20 0 ${n} ${sensor.raw} 0`);
  if (sensor.scanning === false) {
    // events-enable, scanning, event support, assert/deassert support, assert/deassert enabled
    lines.push(
      `sensor_set_event_support 0x20 0 ${n} disable no-scanning none ${"0".repeat(15)} ${"0".repeat(15)} ${"0".repeat(15)} ${"0".repeat(15)}`,
    );
  }
  return lines;
}

const hex = (bytes: number[]) => bytes.map((b) => `0x${b.toString(16).padStart(2, "0")}`).join(" ");

function emulatorCommands(fru: FruSpec[], sensors: SensorSpec[] = []): string {
  const lines = [
    "# Generated by test/support/ipmi-sim.ts (see man 5 ipmi_sim_cmd).",
    "mc_setbmc 0x20",
    // addr, device id, device SDRs, revision, fw major, fw minor, device support
    // (0x9f: chassis, bridge-less, IPMB event receiver, FRU, SEL, SDR, sensor), mfg id, product id
    "mc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02 persist_sdr",
    "sel_enable 0x20 1000 0x0a",
  ];
  let recordId = 1;
  for (const spec of fru) {
    const data = encodeFru(spec);
    lines.push(`mc_add_fru_data 0x20 ${spec.id} ${data.length} data ${hex(data)}`);
    if (spec.id !== 0) {
      lines.push(
        `main_sdr_add 0x20 ${hex(fruLocatorSdr(recordId++, spec.id, spec.name ?? `FRU ${spec.id}`))}`,
      );
    }
  }
  for (const sensor of sensors) lines.push(...sensorCommands(recordId++, sensor));
  lines.push("mc_enable 0x20", "");
  return lines.join("\n");
}

// --- process management ---

const running = new Set<ChildProcess>();
let exitHookInstalled = false;
function installExitHook() {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once("exit", () => {
    for (const child of running) {
      try {
        if (child.pid) process.kill(child.pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
  });
}

async function killChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || !child.pid) {
    running.delete(child);
    return;
  }
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  try {
    process.kill(child.pid, "SIGTERM");
  } catch {
    // already gone
  }
  const timedOut = await Promise.race([
    exited.then(() => false),
    sleep(3000, true, { ref: false }),
  ]);
  if (timedOut) {
    try {
      process.kill(child.pid, "SIGKILL");
    } catch {
      // already gone
    }
    await Promise.race([exited, sleep(2000, undefined, { ref: false })]);
  }
  running.delete(child);
}

/** Starts ipmi_sim; resolves once `ipmitool mc info` answers over lanplus with our credentials. */
export async function startIpmiSim(options: IpmiSimOptions = {}): Promise<IpmiSim> {
  const missing = missingIpmiTools();
  if (missing.length > 0) {
    throw new Error(
      `ipmi_sim harness: ${missing.join(", ")} not installed; install with: ${INSTALL_HINT}` +
        (underCI ? " (CI must provide them: the BMC tests are not optional there)" : ""),
    );
  }
  installExitHook();
  const lan = options.lan === undefined ? DEFAULT_LAN : options.lan;
  const fru = options.fru ?? DEFAULT_FRU;
  const dir = await mkdtemp(join(tmpdir(), "recon-ipmi-sim-"));
  let lastError = "";
  try {
    for (let attempt = 0; attempt < 3; attempt++) {
      const user = `recon${randomBytes(3).toString("hex")}`;
      const password = randomBytes(8).toString("hex");
      const stateDir = join(dir, `state-${attempt}`);
      await mkdir(stateDir);
      const program = join(dir, "chassis-control.sh");
      await writeFile(
        program,
        chassisScript(dir, options.softOff ?? "ignore", options.softOffDelayMs ?? 500),
      );
      await chmod(program, 0o755);
      await writeFile(join(dir, "power"), options.initialPower === "off" ? "0\n" : "1\n");
      await writeFile(join(dir, "events.log"), "");
      await writeFile(join(dir, "calls.log"), "");
      const passwordFile = join(dir, "password");
      await writeFile(passwordFile, password, { mode: 0o600 });
      const guid = randomBytes(16).toString("hex");
      await writeFile(
        join(dir, "lan.conf"),
        lanConf({ port: 0, user, password, program, guid, vmPort: options.vm ? 0 : null }),
      );
      await writeFile(join(dir, "bmc.emu"), emulatorCommands(fru, options.sensors));
      const child = spawn(
        "ipmi_sim",
        ["-c", join(dir, "lan.conf"), "-f", join(dir, "bmc.emu"), "-s", stateDir, "-n"],
        { cwd: dir, stdio: ["ignore", "pipe", "pipe"] },
      );
      running.add(child);
      let output = "";
      child.stdout?.on("data", (chunk: Buffer) => {
        output = `${output}${chunk}`.slice(-4000);
      });
      child.stderr?.on("data", (chunk: Buffer) => {
        output = `${output}${chunk}`.slice(-4000);
      });
      const spawnError = new Promise<string>((resolve) =>
        child.once("error", (error) => resolve(String(error))),
      );
      let port = 0;
      let vmPort: number | null = null;
      const bindDeadline = Date.now() + 10_000;
      while (Date.now() < bindDeadline && child.exitCode === null && child.pid) {
        port = (await boundPorts(child.pid, "udp"))[0] ?? 0;
        vmPort = options.vm ? ((await boundPorts(child.pid, "tcp"))[0] ?? null) : null;
        if (port && (vmPort !== null || !options.vm)) break;
        await sleep(20);
      }
      if (!port || (options.vm && vmPort === null)) {
        lastError = `ipmi_sim bound no port on 127.0.0.1; its output: ${output.trim() || "(none)"}`;
        await killChild(child);
        continue;
      }
      const ipmiArgs = [
        "-I",
        "lanplus",
        "-H",
        "127.0.0.1",
        "-p",
        String(port),
        "-U",
        user,
        "-f",
        passwordFile,
        "-C",
        "3",
      ];
      const deadline = Date.now() + 10_000;
      let ready = false;
      while (Date.now() < deadline) {
        if (child.exitCode !== null || child.signalCode !== null) break;
        const probe = await Promise.race([
          runIpmitool([...ipmiArgs, "-N", "1", "-R", "1", "mc", "info"], 5000),
          spawnError.then((message) => ({ code: -1, stdout: "", stderr: message })),
        ]);
        if (probe.code === 0) {
          ready = true;
          break;
        }
        lastError = probe.stderr.trim() || `exit ${probe.code}`;
        await sleep(100);
      }
      if (!ready) {
        lastError = `ipmi_sim on port ${port} never answered (${lastError}); its output: ${output.trim() || "(none)"}`;
        await killChild(child);
        continue;
      }
      const sim: IpmiSim = {
        host: "127.0.0.1",
        port,
        user,
        password,
        ipmiArgs,
        dir,
        pid: child.pid ?? -1,
        vmPort,
        lan,
        async powerState() {
          const text = await readFile(join(dir, "power"), "utf8");
          return text.trim() === "0" ? "off" : "on";
        },
        async powerEvents() {
          const text = await readFile(join(dir, "events.log"), "utf8");
          return text
            .split("\n")
            .filter((line) => line.trim())
            .map((line) => {
              const [at, state, cause] = line.trim().split(/\s+/);
              return {
                at: Number(at),
                state: state === "0" ? "off" : "on",
                cause: cause === "shutdown" ? "shutdown" : "power",
              } satisfies PowerEvent;
            });
        },
        async chassisCalls() {
          const text = await readFile(join(dir, "calls.log"), "utf8");
          return text
            .split("\n")
            .filter((line) => line.trim())
            .map((line) => {
              const [at, , ...args] = line.trim().split(/\s+/);
              return { at: Number(at), args };
            });
        },
        ipmitool: (args) => runIpmitool([...ipmiArgs, ...args]),
        async stop() {
          await killChild(child);
          await rm(dir, { recursive: true, force: true });
        },
      };
      if (lan) await configureLan(sim, lan);
      return sim;
    }
    throw new Error(`ipmi_sim harness: could not start the simulator: ${lastError}`);
  } catch (error) {
    for (const child of running) {
      if (child.spawnargs.some((arg) => arg.startsWith(dir))) await killChild(child);
    }
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

/** LAN channel 1 facts, set out-of-band the way an operator would (`ipmitool lan set 1 ...`). */
async function configureLan(sim: IpmiSim, lan: LanFacts): Promise<void> {
  const steps = [
    ["ipsrc", "static"],
    ["ipaddr", lan.ipv4Address],
    ["netmask", lan.netmask],
    ["defgw", "ipaddr", lan.gateway],
    ["macaddr", lan.macAddress],
    ...(lan.vlanId === null ? [] : [["vlan", "id", String(lan.vlanId)]]),
  ];
  for (const step of steps) {
    const result = await sim.ipmitool(["lan", "set", "1", ...step]);
    if (result.code !== 0) {
      throw new Error(
        `ipmi_sim harness: lan set 1 ${step.join(" ")} failed: ${result.stderr.trim()}`,
      );
    }
  }
}
