// A peer's external BMC: OpenIPMI's ipmi_sim inside the lab's namespace, on its loopback.
//   - VM side: `serial 15 127.0.0.1 <vmPort> codec VM`; QEMU attaches with ipmi-bmc-extern and
//     the guest talks to it through the KCS interface (/dev/ipmi0). Without a chassis_control
//     program ipmi_sim forwards chassis power off/soft to QEMU itself (QEMU then reports
//     SHUTDOWN "host-ipmi" or presses the ACPI power button), which is what the lab records.
//   - LAN side: `startlan 1` on 127.0.0.1:<lanPort>; before the peer boots, the lab sets the LAN
//     channel's address and MAC out-of-band with ipmitool (lanplus), so the inventory's `bmc`
//     facts can be compared with what the BMC was given.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { encodeFru, type FruSpec } from "../support/ipmi-sim.ts";
import type { Lan } from "./netns.ts";
import { type Daemon, run, sleep, startDaemon } from "./proc.ts";

export interface BmcLan {
  ipv4Address: string;
  netmask: string;
  gateway: string;
  macAddress: string;
}

export interface IpmiSimBmc {
  daemon: Daemon;
  vmPort: number;
  lanPort: number;
  user: string;
  password: string;
}

/** Drops to an unprivileged user inside the namespace (ipmi_sim and QEMU need no root). */
export function unprivileged(uid: number | null): string[] {
  return uid === null || uid === 0
    ? []
    : ["setpriv", `--reuid=${uid}`, `--regid=${uid}`, "--clear-groups", "--pdeathsig=KILL", "--"];
}

const hex = (bytes: number[]) => bytes.map((b) => `0x${b.toString(16).padStart(2, "0")}`).join(" ");

/** SDR type 0x11 (FRU Device Locator), so `ipmitool fru print` lists FRU devices other than 0. */
function fruLocatorSdr(recordId: number, fruId: number, name: string): number[] {
  const id = [...Buffer.from(name.slice(0, 16), "latin1")];
  const body = [
    0x20,
    fruId,
    0x80,
    0x00,
    0x00,
    0x10,
    0x00,
    0x0a,
    0x01,
    0x00,
    0xc0 | id.length,
    ...id,
  ];
  return [recordId & 0xff, recordId >> 8, 0x51, 0x11, body.length, ...body];
}

export async function startIpmiSim(options: {
  lan: Lan;
  dir: string;
  name: string;
  vmPort: number;
  lanPort: number;
  uid: number | null;
  facts: BmcLan | null;
  /** FRU 0 is the BMC's own; others get an SDR FRU locator. */
  fru?: FruSpec[];
}): Promise<IpmiSimBmc> {
  const { dir, vmPort, lanPort } = options;
  const user = "admin";
  const password = "recon-lab";
  mkdirSync(join(dir, "state"), { recursive: true });
  const conf = join(dir, "lan.conf");
  const emu = join(dir, "sim.emu");
  writeFileSync(
    conf,
    [
      `name "${options.name}"`,
      "set_working_mc 0x20",
      "  startlan 1",
      `    addr 127.0.0.1 ${lanPort}`,
      "    priv_limit admin",
      "    allowed_auths_callback none md2 md5 straight",
      "    allowed_auths_user none md2 md5 straight",
      "    allowed_auths_operator none md2 md5 straight",
      "    allowed_auths_admin none md2 md5 straight",
      "    guid a123456789abcdefa123456789abcdef",
      "  endlan",
      `  serial 15 127.0.0.1 ${vmPort} codec VM`,
      "  poweroff_wait 0",
      "  kill_wait 0",
      `  user 2 true "${user}" "${password}" admin 10 none md2 md5 straight`,
      "",
    ].join("\n"),
  );
  // mc_add: IPMB 0x20, device id 0, no device SDRs, revision 0x23, firmware 9.08, device-support
  // 0x9f (chassis device among others), manufacturer 0x1291, product 0x0f02.
  const lines = [
    "mc_setbmc 0x20",
    "mc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02 persist_sdr",
    "sel_enable 0x20 1000 0x0a",
  ];
  let recordId = 1;
  for (const fru of options.fru ?? []) {
    const data = encodeFru(fru);
    lines.push(`mc_add_fru_data 0x20 ${fru.id} ${data.length} data ${hex(data)}`);
    if (fru.id !== 0)
      lines.push(
        `main_sdr_add 0x20 ${hex(fruLocatorSdr(recordId++, fru.id, fru.name ?? `FRU ${fru.id}`))}`,
      );
  }
  lines.push("mc_enable 0x20", "");
  writeFileSync(emu, lines.join("\n"));
  if (options.uid) run(["chown", "-R", `${options.uid}:${options.uid}`, dir]);
  const daemon = startDaemon(
    `ipmi_sim ${options.name}`,
    options.lan.exec([
      ...unprivileged(options.uid),
      "ipmi_sim",
      "-c",
      conf,
      "-f",
      emu,
      "-s",
      join(dir, "state"),
      "-n",
    ]),
    join(dir, "ipmi_sim.log"),
  );
  const bmc: IpmiSimBmc = { daemon, vmPort, lanPort, user, password };
  // Wait until the LAN side answers, then set the LAN facts out-of-band.
  const ipmitool = (...args: string[]) =>
    run(
      options.lan.exec([
        "ipmitool",
        "-I",
        "lanplus",
        "-C",
        "3",
        "-H",
        "127.0.0.1",
        "-p",
        String(lanPort),
        "-U",
        user,
        "-P",
        password,
        "-N",
        "1",
        "-R",
        "2",
        ...args,
      ]),
      { allowFail: true },
    );
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (!daemon.running())
      throw new Error(`ipmi_sim ${options.name} exited; see ${join(dir, "ipmi_sim.log")}`);
    if (ipmitool("mc", "info").code === 0) break;
    if (Date.now() > deadline)
      throw new Error(`ipmi_sim ${options.name} does not answer on 127.0.0.1:${lanPort}`);
    await sleep(200);
  }
  if (options.facts) {
    const f = options.facts;
    for (const args of [
      ["lan", "set", "1", "ipsrc", "static"],
      ["lan", "set", "1", "ipaddr", f.ipv4Address],
      ["lan", "set", "1", "netmask", f.netmask],
      ["lan", "set", "1", "defgw", "ipaddr", f.gateway],
      ["lan", "set", "1", "macaddr", f.macAddress],
    ]) {
      const r = ipmitool(...args);
      if (r.code !== 0) throw new Error(`ipmitool ${args.join(" ")}: ${r.stderr.trim()}`);
    }
  }
  return bmc;
}
