// The post-action, run only after the master acknowledged the inventory: switch the node off
// (or reboot it) through its BMC when one answers, else through the OS. Every command goes
// through the Runner as an argument array; every step is logged as a structured event.
//
//   soft   ipmitool chassis power soft (ACPI request to the OS), poll `chassis power status`
//          until off or the grace period ends, then `chassis power off`
//   hard   ipmitool chassis power off
//   reboot ipmitool chassis power cycle (power on when the chassis is already off)
//   none   nothing
// No BMC (or the BMC refused): `systemctl poweroff|reboot`, falling back to `poweroff -f` /
// `reboot -f`. When nothing worked: ReconError(POWER_OFF_FAILED).
import { setTimeout as sleep } from "node:timers/promises";
import { ERROR_CODES, ReconError } from "../errors.ts";
import type { Probe, ProbeResult, Runner } from "../exec.ts";
import type { PowerOffMode } from "./config.ts";

export type { PowerOffMode };

export type PowerOffMethod =
  | "none"
  | "already-off"
  | "ipmi-soft"
  | "ipmi-soft-then-hard"
  | "ipmi-hard"
  | "ipmi-cycle"
  | "ipmi-on"
  | "os-poweroff"
  | "os-reboot";

export type ChassisPower = "on" | "off";

export interface PowerOffOutcome {
  mode: PowerOffMode;
  method: PowerOffMethod;
  /** Whether a BMC answered `chassis power status`. */
  bmc: boolean;
  /** The chassis state the BMC last reported; null without a BMC or when it stopped answering. */
  chassis: ChassisPower | null;
  durationMs: number;
}

export interface PowerOffOptions {
  mode: PowerOffMode;
  runner: Runner;
  /** Extra ipmitool arguments, e.g. ["-I","lanplus","-H","127.0.0.1","-p","9001","-U","u","-P","p","-C","3"]. */
  ipmiArgs?: readonly string[];
  /** How long a soft power-off may take before the hard one (default 60 s). */
  graceMs?: number;
  /** Interval between `chassis power status` polls during the grace period (default 2 s). */
  pollMs?: number;
  log: (event: Record<string, unknown>) => void;
  /** OS power-off used when no BMC answers (default: systemctl poweroff, then poweroff -f). */
  osPowerOff?: () => Promise<void>;
  /** OS reboot used when no BMC answers in reboot mode (default: systemctl reboot, then reboot -f). */
  osReboot?: () => Promise<void>;
}

export const DEFAULT_GRACE_MS = 60_000;
export const DEFAULT_POLL_MS = 2_000;
const IPMI_TIMEOUT_MS = 10_000;
const OS_TIMEOUT_MS = 30_000;

/**
 * `ipmitool chassis power status` -> "on" | "off" | null. Real input (ipmi_sim):
 *   Chassis Power is on
 */
export function parseChassisPower(text: string): ChassisPower | null {
  const match = /Chassis Power is (on|off)\b/i.exec(String(text ?? ""));
  return match?.[1] ? (match[1].toLowerCase() as ChassisPower) : null;
}

type IpmiAction = "status" | "soft" | "off" | "cycle" | "on";

function summary(result: ProbeResult) {
  return {
    command: result.command,
    status: result.status,
    exitCode: result.exitCode,
    durationMs: result.durationMs,
    message: result.message,
  };
}

export async function powerOff(options: PowerOffOptions): Promise<PowerOffOutcome> {
  const { mode, runner, log } = options;
  const extra = [...(options.ipmiArgs ?? [])];
  const graceMs = options.graceMs ?? DEFAULT_GRACE_MS;
  const pollMs = Math.max(1, options.pollMs ?? DEFAULT_POLL_MS);
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);

  const done = (method: PowerOffMethod, bmc: boolean, chassis: ChassisPower | null) => {
    const outcome: PowerOffOutcome = { mode, method, bmc, chassis, durationMs: elapsed() };
    log({ event: "poweroff.done", ...outcome });
    return outcome;
  };

  const ipmiProbe = (action: IpmiAction): Probe => ({
    file: `poweroff-ipmitool-chassis-power-${action}.txt`,
    source: {
      kind: "command",
      argv: ["ipmitool", ...extra, "chassis", "power", action],
      versionArgv: ["-V"],
    },
    timeoutMs: IPMI_TIMEOUT_MS,
    needsRoot: extra.length === 0,
  });

  const status = async (): Promise<{ power: ChassisPower | null; result: ProbeResult }> => {
    const result = await runner.run(ipmiProbe("status"));
    const power = result.status === "ok" ? parseChassisPower(result.output) : null;
    return { power, result };
  };

  const ipmi = async (action: Exclude<IpmiAction, "status">): Promise<boolean> => {
    const result = await runner.run(ipmiProbe(action));
    log({ event: "poweroff.ipmi", action, ...summary(result) });
    return result.status === "ok";
  };

  const os = async (
    kind: "poweroff" | "reboot",
    because: string,
    bmc = false,
  ): Promise<PowerOffOutcome> => {
    const method: PowerOffMethod = kind === "poweroff" ? "os-poweroff" : "os-reboot";
    const injected = kind === "poweroff" ? options.osPowerOff : options.osReboot;
    log({ event: "poweroff.os", action: kind, because });
    if (injected) {
      try {
        await injected();
        log({ event: "poweroff.os.result", action: kind, via: "injected", status: "ok" });
        return done(method, bmc, null);
      } catch (error) {
        log({ event: "poweroff.failed", action: kind, via: "injected", message: String(error) });
        throw new ReconError(
          ERROR_CODES.POWER_OFF_FAILED,
          `${kind} failed (${because}): ${error instanceof Error ? error.message : String(error)}`,
          { cause: error },
        );
      }
    }
    const attempts: Array<readonly [string, ...string[]]> = [
      ["systemctl", kind],
      [kind, "-f"],
    ];
    const failures: string[] = [];
    for (const argv of attempts) {
      const result = await runner.run({
        file: `poweroff-${argv.join("-")}.txt`,
        source: { kind: "command", argv },
        timeoutMs: OS_TIMEOUT_MS,
      });
      log({ event: "poweroff.os.result", action: kind, ...summary(result) });
      if (result.status === "ok") return done(method, bmc, null);
      failures.push(
        `${result.command}: ${result.status}${result.message ? ` (${result.message})` : ""}`,
      );
    }
    log({ event: "poweroff.failed", action: kind, because, failures });
    throw new ReconError(
      ERROR_CODES.POWER_OFF_FAILED,
      `${kind} failed (${because}); tried ${failures.join("; ")}`,
    );
  };

  log({ event: "poweroff.start", mode, graceMs, pollMs, outOfBand: extra.length > 0 });
  if (mode === "none") {
    log({ event: "poweroff.skip", reason: "mode none: the node stays up" });
    return done("none", false, null);
  }

  const initial = await status();
  log({ event: "poweroff.bmc", power: initial.power, ...summary(initial.result) });
  if (initial.power === null) {
    const because = `no BMC answered (${initial.result.status}${initial.result.message ? `: ${initial.result.message}` : ""})`;
    return os(mode === "reboot" ? "reboot" : "poweroff", because);
  }

  if (mode === "reboot") {
    if (initial.power === "off") {
      if (await ipmi("on")) return done("ipmi-on", true, "on");
    } else if (await ipmi("cycle")) {
      return done("ipmi-cycle", true, null);
    }
    return os("reboot", "the BMC refused the power cycle", true);
  }

  if (initial.power === "off") return done("already-off", true, "off");

  let softAccepted = false;
  if (mode === "soft") {
    softAccepted = await ipmi("soft");
    if (softAccepted) {
      const deadline = performance.now() + graceMs;
      while (performance.now() < deadline) {
        await sleep(Math.min(pollMs, Math.max(1, deadline - performance.now())));
        const polled = await status();
        log({
          event: "poweroff.poll",
          power: polled.power,
          elapsedMs: elapsed(),
          status: polled.result.status,
          message: polled.result.message,
        });
        if (polled.power === "off") return done("ipmi-soft", true, "off");
      }
      log({ event: "poweroff.grace-expired", graceMs });
    }
  }

  if (await ipmi("off")) {
    const after = await status();
    log({ event: "poweroff.bmc", power: after.power, ...summary(after.result) });
    return done(softAccepted ? "ipmi-soft-then-hard" : "ipmi-hard", true, after.power);
  }
  return os("poweroff", "the BMC refused chassis power off", true);
}
