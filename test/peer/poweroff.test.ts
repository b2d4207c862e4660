import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type TestContext, test } from "node:test";
import { isReconError } from "../../agent/errors.ts";
import { type Probe, type ProbeResult, type Runner, realRunner } from "../../agent/exec.ts";
import { peerConfigFromCmdline } from "../../agent/peer/config.ts";
import { parseChassisPower, powerOff } from "../../agent/peer/poweroff.ts";
import { defaultPeers, PeerVm } from "../lab/peer.ts";
import { parseVmLinkLog, VmCommandDecoder } from "../lab/vm-link.ts";
import { type IpmiSim, ipmiSimSkip, startIpmiSim } from "../support/ipmi-sim.ts";
import { until } from "../support/poll.ts";

function recorder() {
  const events: Array<Record<string, unknown>> = [];
  return {
    events,
    log: (event: Record<string, unknown>) => events.push(event),
    names: () => events.map((e) => e.event),
  };
}

/** A runner that answers by command line (argv joined with spaces); records every command. */
function scriptedRunner(answer: (command: string) => Partial<ProbeResult>) {
  const commands: string[] = [];
  const runner: Runner = {
    async run(probe: Probe) {
      const command = probe.source.kind === "command" ? probe.source.argv.join(" ") : probe.file;
      commands.push(command);
      return {
        file: probe.file,
        status: "failed",
        output: "",
        exitCode: 1,
        durationMs: 1,
        command,
        message: "scripted failure",
        ...answer(command),
      };
    },
  };
  return { runner, commands };
}

const noBmc = (command: string): Partial<ProbeResult> | null =>
  command.startsWith("ipmitool")
    ? { status: "failed", exitCode: 1, message: "Could not open device at /dev/ipmi0" }
    : null;

test("parseChassisPower", () => {
  assert.equal(parseChassisPower("Chassis Power is on\n"), "on");
  assert.equal(parseChassisPower("Chassis Power is off\n"), "off");
  assert.equal(parseChassisPower("Error: Unable to establish IPMI v2 / RMCP+ session\n"), null);
  assert.equal(parseChassisPower(""), null);
});

// --- without a BMC (scripted runner) ---

test("no BMC: the injected OS power-off runs, nothing else", async () => {
  const { runner, commands } = scriptedRunner((c) => noBmc(c) ?? { status: "ok", exitCode: 0 });
  const rec = recorder();
  let calls = 0;
  const outcome = await powerOff({
    mode: "soft",
    runner,
    log: rec.log,
    osPowerOff: async () => {
      calls++;
    },
  });
  assert.equal(calls, 1);
  assert.deepEqual(commands, ["ipmitool chassis power status"]);
  assert.equal(outcome.method, "os-poweroff");
  assert.equal(outcome.bmc, false);
  assert.deepEqual(rec.names(), [
    "poweroff.start",
    "poweroff.bmc",
    "poweroff.os",
    "poweroff.os.result",
    "poweroff.done",
  ]);
});

test("no BMC: systemctl poweroff fails, poweroff -f is the fallback", async () => {
  const { runner, commands } = scriptedRunner(
    (c) => noBmc(c) ?? (c === "poweroff -f" ? { status: "ok", exitCode: 0, message: null } : {}),
  );
  const outcome = await powerOff({ mode: "hard", runner, log: () => {} });
  assert.equal(outcome.method, "os-poweroff");
  assert.deepEqual(commands, [
    "ipmitool chassis power status",
    "systemctl poweroff",
    "poweroff -f",
  ]);
});

test("no BMC, reboot mode: systemctl reboot", async () => {
  const { runner, commands } = scriptedRunner(
    (c) => noBmc(c) ?? { status: "ok", exitCode: 0, message: null },
  );
  const outcome = await powerOff({ mode: "reboot", runner, log: () => {} });
  assert.equal(outcome.method, "os-reboot");
  assert.deepEqual(commands, ["ipmitool chassis power status", "systemctl reboot"]);
});

test("nothing works: ReconError POWER_OFF_FAILED naming what was tried", async () => {
  const { runner } = scriptedRunner(() => ({}));
  const rec = recorder();
  await assert.rejects(powerOff({ mode: "soft", runner, log: rec.log }), (error) => {
    assert.ok(isReconError(error));
    assert.equal(error.code, "E_POWER_OFF_FAILED");
    assert.match(error.message, /systemctl poweroff: failed/);
    assert.match(error.message, /poweroff -f: failed/);
    return true;
  });
  assert.equal(rec.names().at(-1), "poweroff.failed");
});

test("injected OS power-off that throws: ReconError POWER_OFF_FAILED", async () => {
  const { runner } = scriptedRunner((c) => noBmc(c) ?? {});
  await assert.rejects(
    powerOff({
      mode: "hard",
      runner,
      log: () => {},
      osPowerOff: async () => {
        throw new Error("permission denied");
      },
    }),
    (error) => isReconError(error) && error.code === "E_POWER_OFF_FAILED",
  );
});

test("BMC answers but refuses power off: falls back to the OS", async () => {
  const { runner, commands } = scriptedRunner((c) =>
    c === "ipmitool chassis power status"
      ? { status: "ok", exitCode: 0, output: "Chassis Power is on\n", message: null }
      : {},
  );
  let calls = 0;
  const outcome = await powerOff({
    mode: "hard",
    runner,
    log: () => {},
    osPowerOff: async () => {
      calls++;
    },
  });
  assert.equal(calls, 1);
  assert.equal(outcome.method, "os-poweroff");
  assert.equal(outcome.bmc, true);
  assert.deepEqual(commands, ["ipmitool chassis power status", "ipmitool chassis power off"]);
});

test("mode none runs nothing at all", async () => {
  const { runner, commands } = scriptedRunner(() => ({}));
  const outcome = await powerOff({
    mode: "none",
    runner,
    log: () => {},
    osPowerOff: async () => assert.fail("must not power off"),
  });
  assert.equal(outcome.method, "none");
  assert.deepEqual(commands, []);
});

// --- against ipmi_sim (a real BMC implementation, real ipmitool) ---

const sim = { skip: ipmiSimSkip() };

/** What the BMC itself says, asked over its LAN channel in a session of its own. */
async function bmcSays(bmc: IpmiSim): Promise<string> {
  const answer = await bmc.ipmitool(["chassis", "power", "status"]);
  assert.equal(answer.code, 0, answer.stderr);
  return answer.stdout.trim();
}

test("recon.poweroff=hard: the BMC switched the chassis off and says so", sim, async (t) => {
  const bmc = await startIpmiSim();
  t.after(() => bmc.stop());
  const { powerOff: mode } = peerConfigFromCmdline("BOOT_IMAGE=vmlinuz recon.poweroff=hard");
  assert.equal(mode, "hard");
  assert.equal(await bmcSays(bmc), "Chassis Power is on");
  const rec = recorder();
  const before = Date.now();
  const outcome = await powerOff({
    mode,
    runner: realRunner({ allowInTests: true }),
    ipmiArgs: bmc.ipmiArgs,
    log: rec.log,
    osPowerOff: async () => assert.fail("the BMC path must be used"),
  });
  const after = Date.now();
  assert.equal(outcome.method, "ipmi-hard");
  assert.equal(outcome.chassis, "off");
  // The BMC side: its answer to a fresh session, its chassis state, and the one power-off
  // command its chassis control received (no soft-off request before it).
  assert.equal(await bmcSays(bmc), "Chassis Power is off");
  assert.equal(await bmc.powerState(), "off");
  const sets = (await bmc.chassisCalls()).filter((c) => c.args[0] === "set");
  assert.deepEqual(
    sets.map((c) => c.args.join(" ")),
    ["set power 0"],
  );
  const events = await bmc.powerEvents();
  assert.equal(events.length, 1);
  assert.equal(events[0]?.state, "off");
  assert.equal(events[0]?.cause, "power");
  assert.ok((events[0]?.at ?? 0) >= before - 5 && (events[0]?.at ?? 0) <= after + 5);
  assert.deepEqual(rec.names(), [
    "poweroff.start",
    "poweroff.bmc",
    "poweroff.ipmi",
    "poweroff.bmc",
    "poweroff.done",
  ]);
  assert.equal(rec.events[2]?.action, "off");
});

test(
  "soft: an OS that ignores the request is switched off when the grace period ends",
  sim,
  async (t) => {
    const bmc = await startIpmiSim({ softOff: "ignore" });
    t.after(() => bmc.stop());
    const graceMs = 1500;
    const rec = recorder();
    const outcome = await powerOff({
      mode: "soft",
      runner: realRunner({ allowInTests: true }),
      ipmiArgs: bmc.ipmiArgs,
      graceMs,
      pollMs: 250,
      log: rec.log,
    });
    assert.equal(outcome.method, "ipmi-soft-then-hard");
    assert.equal(outcome.chassis, "off");
    assert.equal(await bmcSays(bmc), "Chassis Power is off");
    assert.equal(await bmc.powerState(), "off");
    const calls = await bmc.chassisCalls();
    const shutdown = calls.find((c) => c.args.join(" ") === "set shutdown 1");
    const off = (await bmc.powerEvents()).find((e) => e.state === "off");
    assert.ok(shutdown, "the soft-off request reached the chassis");
    assert.ok(off, "the chassis was switched off");
    assert.equal(off.cause, "power");
    // ms timestamps from the same clock; allow for `date` granularity.
    assert.ok(
      off.at - shutdown.at >= graceMs - 20,
      `off ${off.at - shutdown.at} ms after the request`,
    );
    assert.ok(rec.names().includes("poweroff.grace-expired"));
    // It looked at the chassis during the grace period (how often depends on how fast each
    // ipmitool returns: on a loaded machine one poll can take most of the 1.5 s).
    assert.ok(rec.events.filter((e) => e.event === "poweroff.poll").length >= 1);
  },
);

test("soft: an OS that honours the request goes off without a hard power-off", sim, async (t) => {
  const bmc = await startIpmiSim({ softOff: "honor", softOffDelayMs: 300 });
  t.after(() => bmc.stop());
  const outcome = await powerOff({
    mode: "soft",
    runner: realRunner({ allowInTests: true }),
    ipmiArgs: bmc.ipmiArgs,
    graceMs: 10_000,
    pollMs: 100,
    log: () => {},
  });
  assert.equal(outcome.method, "ipmi-soft");
  assert.equal(outcome.chassis, "off");
  assert.ok(outcome.durationMs < 10_000);
  const events = await bmc.powerEvents();
  assert.deepEqual(
    events.map((e) => [e.state, e.cause]),
    [["off", "shutdown"]],
  );
  const calls = (await bmc.chassisCalls()).map((c) => c.args.join(" "));
  assert.ok(!calls.includes("set power 0"), `no hard power-off: ${calls.join(", ")}`);
});

test("none: the simulated chassis stays on", sim, async (t) => {
  const bmc = await startIpmiSim();
  t.after(() => bmc.stop());
  const outcome = await powerOff({
    mode: "none",
    runner: realRunner({ allowInTests: true }),
    ipmiArgs: bmc.ipmiArgs,
    log: () => {},
  });
  assert.equal(outcome.method, "none");
  assert.equal(await bmc.powerState(), "on");
  assert.deepEqual(await bmc.powerEvents(), []);
  assert.ok((await bmc.chassisCalls()).every((c) => c.args[0] !== "set"));
});

test("reboot: chassis power cycle through the BMC", sim, async (t) => {
  const bmc = await startIpmiSim();
  t.after(() => bmc.stop());
  const outcome = await powerOff({
    mode: "reboot",
    runner: realRunner({ allowInTests: true }),
    ipmiArgs: bmc.ipmiArgs,
    log: () => {},
    osReboot: async () => assert.fail("the BMC path must be used"),
  });
  assert.equal(outcome.method, "ipmi-cycle");
  const calls = (await bmc.chassisCalls()).map((c) => c.args.join(" "));
  assert.ok(calls.includes("set power 0"), calls.join(", "));
});

// --- a BMC attached to a virtual machine (the lab's set-up, without QEMU) ---
// ipmi_sim with a serial VM link, the lab's relay (test/lab/vm-link.ts) on that link recording
// what the BMC sends, and a stand-in for QEMU's ipmi-bmc-extern that announces power control and
// goes away (QEMU exits) when the BMC powers it off.

async function vmBehindRelay(t: TestContext, bmc: IpmiSim) {
  const log = join(bmc.dir, "vm-link.jsonl");
  const relay = spawn(
    process.execPath,
    [
      join(import.meta.dirname, "../lab/vm-link.ts"),
      "--listen",
      "0",
      "--to",
      String(bmc.vmPort),
      "--log",
      log,
    ],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  t.after(() => {
    if (relay.exitCode === null && relay.pid) process.kill(relay.pid, "SIGTERM");
  });
  const port = await new Promise<number>((resolve, reject) => {
    let out = "";
    relay.stdout?.on("data", (chunk: Buffer) => {
      out += chunk;
      const match = /listening (\d+)/.exec(out);
      if (match) resolve(Number(match[1]));
    });
    relay.once("exit", (code) => reject(new Error(`vm-link exited ${code}: ${out}`)));
  });
  const vm = connect(port, "127.0.0.1");
  t.after(() => vm.destroy());
  await once(vm, "connect");
  // version 1; capabilities: power, reset, IRQ, attention, graceful shutdown
  vm.write(Buffer.from([0xff, 0x01, 0xa1, 0x08, 0x37, 0xa1]));
  const decoder = new VmCommandDecoder();
  vm.on("data", (chunk: Buffer) => {
    if (decoder.push(chunk).includes("poweroff")) vm.destroy();
  });
  await until("the BMC to see the VM", 10_000, async () =>
    (await bmcSays(bmc)) === "Chassis Power is on" ? true : undefined,
  );
  return { commands: async () => parseVmLinkLog(await readFile(log, "utf8")) };
}

test("VM link, recon.poweroff=hard: the relay records the BMC's power-off", sim, async (t) => {
  const bmc = await startIpmiSim({ vm: true });
  t.after(() => bmc.stop());
  const vm = await vmBehindRelay(t, bmc);
  const before = Date.now();
  const outcome = await powerOff({
    mode: "hard",
    runner: realRunner({ allowInTests: true }),
    ipmiArgs: bmc.ipmiArgs,
    log: () => {},
    osPowerOff: async () => assert.fail("the BMC path must be used"),
  });
  assert.equal(outcome.method, "ipmi-hard");
  const sent = (await vm.commands()).filter((r) => r.at >= before).map((r) => r.command);
  assert.deepEqual(sent, ["poweroff"]);
  // the VM is gone: the BMC says off
  await until("the BMC to report off", 10_000, async () =>
    (await bmcSays(bmc)) === "Chassis Power is off" ? true : undefined,
  );
});

test(
  "VM link, soft ignored: the relay records the ACPI request, then the power-off",
  sim,
  async (t) => {
    const bmc = await startIpmiSim({ vm: true });
    t.after(() => bmc.stop());
    const vm = await vmBehindRelay(t, bmc);
    const before = Date.now();
    // The stand-in ignores the ACPI request: the grace period ends and the BMC cuts the power.
    const outcome = await powerOff({
      mode: "soft",
      runner: realRunner({ allowInTests: true }),
      ipmiArgs: bmc.ipmiArgs,
      graceMs: 1000,
      pollMs: 250,
      log: () => {},
    });
    assert.equal(outcome.method, "ipmi-soft-then-hard");
    const sent = (await vm.commands()).filter((r) => r.at >= before).map((r) => r.command);
    assert.deepEqual(sent, ["graceful-shutdown", "poweroff"]);
  },
);

test("VmCommandDecoder: commands across chunks, escapes, messages skipped", () => {
  const decoder = new VmCommandDecoder();
  // a message (ends 0xA0) holding an escaped 0xA1, then graceful shutdown split over two chunks
  assert.deepEqual(decoder.push(Uint8Array.from([0x18, 0xaa, 0xb1, 0x00, 0xa0, 0x09])), []);
  assert.deepEqual(decoder.push(Uint8Array.from([0xa1, 0x03, 0xa1, 0x42, 0xa1])), [
    "graceful-shutdown",
    "poweroff",
    "0x42",
  ]);
  assert.deepEqual(parseVmLinkLog('{"at":1,"command":"poweroff"}\nnot json\n{"at":"x"}\n'), [
    { at: 1, command: "poweroff" },
  ]);
});

test("the lab's report is the BMC's record: ipmi-hard only when the BMC sent power-off", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "recon-offmethod-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const [spec] = defaultPeers(1, "t");
  assert.ok(spec);
  // A VM that QEMU saw end by "guest-shutdown", with the given BMC record.
  const peer = async (record: string | null) => {
    const vm = new PeerVm(spec, join(dir, "serial.log"), () => {});
    vm.exit = { code: 0, signal: null, at: Date.now() };
    vm.qmp = {
      events: [{ event: "SHUTDOWN", data: { reason: "guest-shutdown" }, at: Date.now() }],
    } as unknown as PeerVm["qmp"];
    if (record !== null) {
      vm.bmcLinkLog = join(dir, `vm-link-${Math.random().toString(36).slice(2)}.jsonl`);
      if (record !== "unreadable") await writeFile(vm.bmcLinkLog, record);
    }
    return vm.offMethod();
  };
  const line = (command: string) => `${JSON.stringify({ at: 1, command })}\n`;
  assert.equal(await peer(line("version") + line("poweroff")), "ipmi-hard");
  assert.equal(await peer(line("graceful-shutdown") + line("poweroff")), "ipmi-hard");
  assert.equal(await peer(line("graceful-shutdown")), "ipmi-soft");
  // a BMC that sent nothing: the OS switched itself off, whatever the console lacked
  assert.equal(await peer(line("capabilities")), "os");
  assert.equal(await peer(null), "os");
  assert.equal(await peer("unreadable"), "unobserved");
});
