// `npm run lab:arm64 -- [--keep] [--timeout MIN]`: one arm64 peer boots over PXE and reports.
// The lab's provisioning LAN (netns.ts) and host-side master (master.ts: dnsmasq + the built
// `recon-agent serve`) with, for DHCP client architecture 11, Debian's signed grubaa64.efi over
// TFTP, which reads grub/grub.cfg (packaging/menu.ts renderGrubCfg) and loads the arm64 kernel
// and initrd of `npm run build:arm64` (packaging/arm64-peer.ts) over TFTP. The peer is QEMU's
// `virt` machine under TCG with AAVMF (UEFI): its firmware PXE-boots the virtio NIC, the
// initrd's /init (test/lab/init.sh) takes a lease, fetches post-aarch64.tgz (post.tgz from a
// master without it) and runs the arm64 agent, which uploads and powers the machine off.
// The master's record is checked as the x86 lab checks its peers (lab.ts checkPeer).
//
// Power-off: Debian's qemu-system-aarch64 has no IPMI devices (no ipmi-bmc-extern, no
// pci-ipmi-kcs: `qemu-system-aarch64 -device help`), so this peer has no BMC the lab's ipmi_sim
// could be wired to; the agent finds no /dev/ipmi0 and powers off through the OS (PSCI), which
// the lab records as `os`. An Ampere server's BMC is reached as any other (ipmi_si on its KCS).
//
// Exit codes: 0 the master's record matches the peer, 1 it does not, 3 cannot run here.
import { spawnSync } from "node:child_process";
import {
  chmodSync,
  copyFileSync,
  existsSync,
  linkSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { Hall } from "../../agent/master/hall.ts";
import { NodeStore } from "../../agent/master/store.ts";
import { buildArm64Payload, defaultArm64Cache } from "../../packaging/arm64-peer.ts";
import { renderGrubCfg } from "../../packaging/menu.ts";
import { unprivileged } from "./bmc.ts";
import { checkPeer, ensureDist, type PeerResult } from "./lab.ts";
import { IMAGE_NAME, Master } from "./master.ts";
import { Lan } from "./netns.ts";
import { type PeerSpec, PeerVm } from "./peer.ts";
import { Cleanup, closeOnSignals, run, sleep } from "./proc.ts";

const UNPRIVILEGED_UID = 65534;
export const AAVMF_CODE = "/usr/share/AAVMF/AAVMF_CODE.fd";
export const AAVMF_VARS = "/usr/share/AAVMF/AAVMF_VARS.fd";
/** Where the arm64 kernel and initrd are on the master's HTTP server (the contract's path). */
export const AARCH64_PATH = `install/${IMAGE_NAME}/aarch64`;
const GiB = 1024 ** 3;

/**
 * The arm64 peer. PeerVm and checkPeer read its name, identity, NICs, disks, BMC and firmware
 * ("ovmf": UEFI without Secure Boot, which AAVMF_CODE.fd is); `machine` is peer.ts's x86 type
 * and unused here: the machine is QEMU's virt.
 */
export function arm64PeerSpec(runTag: string): PeerSpec {
  return {
    name: "arm1",
    machine: "q35",
    firmware: "ovmf",
    memoryMiB: 2048,
    cpus: 1,
    system: {
      manufacturer: "Recon Lab",
      product: "RL-A64 Ampere-class",
      version: "rev1",
      serial: `LAB${runTag}A64`,
      uuid: `5ec0${runTag}-1ab0-4000-8000-0000000000a1`,
      family: "recon-lab",
    },
    baseboard: { manufacturer: "Recon Lab", product: "RLB-A64", serial: `LAB${runTag}A64B` },
    nics: [{ model: "virtio-net-pci", mac: `52:54:00:${runTag.slice(0, 2)}:a1:01` }],
    disks: [{ bus: "virtio", serial: `LAB${runTag}A64V0`, sizeBytes: 1 * GiB }],
    bmc: "none",
  };
}

const escapeOpt = (value: string) => value.replace(/,/g, ",,");

/** qemu-system-aarch64's arguments for the peer: virt, TCG, AAVMF, PXE on its virtio NIC. */
export function arm64QemuArgs(
  spec: PeerSpec,
  ctx: { dir: string; tap: string; serialLog: string; qmpSocket: string },
): string[] {
  const nic = spec.nics[0];
  if (!nic) throw new Error(`${spec.name}: no NIC`);
  return [
    "qemu-system-aarch64",
    "-name",
    spec.name,
    "-machine",
    "virt",
    "-accel",
    "tcg",
    // pauth-impdef: QEMU's own pointer-authentication hash instead of QARMA, which TCG computes
    // slowly on every signed return (Debian's arm64 userland uses PAC).
    "-cpu",
    "max,pauth-impdef=on",
    "-m",
    String(spec.memoryMiB),
    "-smp",
    String(spec.cpus),
    "-nodefaults",
    "-display",
    "none",
    "-serial",
    `file:${ctx.serialLog}`,
    "-qmp",
    `unix:${ctx.qmpSocket},server=on,wait=off`,
    "-drive",
    `if=pflash,format=raw,readonly=on,file=${AAVMF_CODE}`,
    "-drive",
    `if=pflash,format=raw,file=${join(ctx.dir, "AAVMF_VARS.fd")}`,
    "-smbios",
    `type=1,manufacturer=${escapeOpt(spec.system.manufacturer)},product=${escapeOpt(spec.system.product)},version=${escapeOpt(spec.system.version)},serial=${escapeOpt(spec.system.serial)},uuid=${spec.system.uuid},family=${escapeOpt(spec.system.family)}`,
    "-smbios",
    `type=2,manufacturer=${escapeOpt(spec.baseboard.manufacturer)},product=${escapeOpt(spec.baseboard.product)},serial=${escapeOpt(spec.baseboard.serial)}`,
    "-netdev",
    `tap,id=n0,ifname=${ctx.tap},script=no,downscript=no`,
    // AAVMF's own virtio-net driver and PXE (no option ROM: QEMU's efi-virtio.rom is x86 iPXE).
    "-device",
    `virtio-net-pci,netdev=n0,mac=${nic.mac},romfile=,bootindex=1`,
    ...spec.disks.flatMap((disk, i) => [
      "-drive",
      `file=${join(ctx.dir, `disk${i}.img`)},format=raw,if=none,id=d${i}`,
      "-device",
      `virtio-blk-pci,drive=d${i},serial=${disk.serial}`,
    ]),
  ];
}

function prerequisites(): string | null {
  if (process.geteuid?.() !== 0) return "the lab needs root (network namespaces, taps, dnsmasq)";
  const missing: string[] = [];
  for (const [cmd, pkg] of [
    ["qemu-system-aarch64", "qemu-system-arm"],
    ["dnsmasq", "dnsmasq"],
    ["apt-get", "apt"],
    ["dpkg-deb", "dpkg"],
    ["depmod", "kmod"],
  ] as const) {
    if (spawnSync("sh", ["-c", `command -v ${cmd}`], { stdio: "ignore" }).status !== 0)
      missing.push(`${cmd} (${pkg})`);
  }
  for (const f of [AAVMF_CODE, AAVMF_VARS])
    if (!existsSync(f)) missing.push(`${f} (qemu-efi-aarch64)`);
  return missing.length > 0 ? `missing: ${missing.join(", ")}` : null;
}

/** The node's state as the master's status page shows it (powered-off after the agent's event). */
async function nodeState(root: string, nodeId: string): Promise<string | null> {
  const store = new NodeStore(root);
  await store.open();
  const hall = await Hall.open({ root, log: () => undefined });
  try {
    return hall.nodes(store.list()).find((n) => n.nodeId === nodeId)?.state ?? null;
  } finally {
    await hall.close();
  }
}

const secs = (ms: number) => `${(ms / 1000).toFixed(1)}s`;

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      keep: { type: "boolean", default: false },
      timeout: { type: "string", default: "40" },
    },
  });
  const why = prerequisites();
  if (why) {
    process.stderr.write(`lab:arm64: cannot run: ${why}\n`);
    return 3;
  }
  const startedAt = Date.now();
  const say = (line: string) =>
    process.stdout.write(`[${secs(Date.now() - startedAt).padStart(7)}] ${line}\n`);
  const payload = buildArm64Payload({ cacheDir: defaultArm64Cache(), log: say });
  const bytes = payload.manifest.bytes as Record<string, number>;
  say(
    `arm64 kernel ${payload.kernelVersion} (${((bytes.linux ?? 0) / 1e6).toFixed(1)} MB), initrd ${((bytes.initrd ?? 0) / 1e6).toFixed(1)} MB, ` +
      `${payload.cached ? "cached" : "built"} in ${payload.buildSeconds.toFixed(1)} s: ${payload.dir}`,
  );
  const { agent, postTgz } = ensureDist(say);
  const cleanup = new Cleanup();
  const removeSignals = closeOnSignals(cleanup);
  const runDir = mkdtempSync(join(tmpdir(), "recon-lab-arm64-"));
  // dnsmasq (TFTP), serve and QEMU run as nobody: they must reach into it.
  chmodSync(runDir, 0o755);
  const uid = UNPRIVILEGED_UID;
  let problems: string[] = ["the lab did not finish"];
  try {
    const lan = Lan.create(cleanup);
    say(`provisioning LAN: netns ${lan.ns}, ${lan.bridge} ${lan.masterIp}/${lan.prefixLength}`);
    const master = new Master({
      lan,
      dir: join(runDir, "master"),
      agentBinary: agent,
      postTgz,
      vmlinuz: payload.linux,
      initrd: payload.initrd,
      kernelVersion: payload.kernelVersion,
      menuArgs: [],
      uid,
      log: say,
      dnsmasq: { efiAarch64File: "grubaa64.efi" },
    });
    cleanup.add("stop master", () => master.stop());
    // GRUB loads them over TFTP (Debian's signed network GRUB has no http module), from the
    // same paths as the HTTP server's, as recon-role.sh links install/ into the TFTP root.
    for (const root of [master.installDir, join(master.tftpRoot, "install")]) {
      const armDir = join(root, IMAGE_NAME, "aarch64");
      mkdirSync(armDir, { recursive: true });
      linkSync(payload.linux, join(armDir, "linux"));
      linkSync(payload.initrd, join(armDir, "initrd"));
    }
    copyFileSync(payload.grub, join(master.tftpRoot, "grubaa64.efi"));
    mkdirSync(join(master.tftpRoot, "grub"), { recursive: true });
    writeFileSync(
      join(master.tftpRoot, "grub", "grub.cfg"),
      renderGrubCfg({
        master: lan.masterIp,
        imageName: IMAGE_NAME,
        imageVersion: payload.kernelVersion,
        kernel: "vmlinuz",
        initrd: "initrd.gz",
        aarch64Path: AARCH64_PATH,
        // QEMU virt's serial port is a PL011.
        aarch64Console: ["ttyAMA0,115200n8"],
      }),
    );
    await master.startDnsmasq();
    await master.startServe();
    say(`master: dnsmasq (arch 11 -> grubaa64.efi) + recon-agent serve on http://${lan.masterIp}/`);
    master.onEvent((what, d) => {
      if (what === "lease") say(`arm1    DHCP lease ${d.ip} (${d.mac})`);
      else if (what === "fetch") say(`arm1    GET ${d.path}`);
      else if (what === "stored") say(`master  stored ${d.kind} of ${d.nodeId}`);
    });

    const runTag = Date.now().toString(16).slice(-4);
    const spec = arm64PeerSpec(runTag);
    const dir = join(runDir, "peers", spec.name);
    mkdirSync(dir, { recursive: true });
    copyFileSync(AAVMF_VARS, join(dir, "AAVMF_VARS.fd"));
    spec.disks.forEach((disk, i) => {
      const file = join(dir, `disk${i}.img`);
      writeFileSync(file, "");
      run(["truncate", "-s", String(disk.sizeBytes), file]);
    });
    run(["chown", "-R", `${uid}:${uid}`, dir]);
    const tap = lan.addTap(uid);
    const serialLog = join(dir, "serial.log");
    const qmpSocket = join(dir, "qmp.sock");
    const vm = new PeerVm(spec, serialLog, (v, line) => {
      if (v.phase === "off")
        say(
          `arm1    powered off (${v.offMethod()}) after ${secs((v.timeline.offAt ?? 0) - v.timeline.startedAt)}`,
        );
      else say(`arm1    ${v.phase}${line ? `: ${line}` : ""}`);
    });
    cleanup.add("stop qemu arm1", () => vm.kill());
    say(
      `arm1    booting: virt (TCG, cpu max), ${spec.cpus} vCPU, ${spec.memoryMiB} MiB, AAVMF, NIC virtio-net=${spec.nics[0]?.mac}, disk virtio:${spec.disks[0]?.serial}, no BMC`,
    );
    await vm.start(
      lan.exec([...unprivileged(uid), ...arm64QemuArgs(spec, { dir, tap, serialLog, qmpSocket })]),
      qmpSocket,
      join(dir, "qemu.log"),
    );
    const deadline = Date.now() + Number(values.timeout) * 60_000;
    while (vm.exit === null) {
      master.poll();
      if (Date.now() > deadline) {
        say(`timeout: arm1 still running after ${values.timeout} min; powering it off`);
        await vm.kill();
        break;
      }
      await sleep(500);
    }
    await sleep(500);
    master.poll();

    // What the master has for the peer.
    const nodeDir = join(master.root, "nodes", spec.system.uuid);
    const inventoryPath = join(nodeDir, "inventory.json");
    const evidence = existsSync(nodeDir)
      ? readdirSync(nodeDir).find((f) => f.startsWith("evidence"))
      : undefined;
    const document = existsSync(inventoryPath)
      ? (JSON.parse(readFileSync(inventoryPath, "utf8")) as unknown)
      : null;
    const stored = (kind: string) =>
      master.stored.find((s) => s.nodeId === spec.system.uuid && s.kind === kind)?.at ?? null;
    const result: PeerResult = {
      spec,
      scenario: "normal",
      nodeId: document ? spec.system.uuid : null,
      inventoryPath: document ? inventoryPath : null,
      evidencePath: evidence ? join(nodeDir, evidence) : null,
      document,
      inventoryStoredAt: stored("inventory"),
      evidenceStoredAt: stored("evidence"),
      offMethod: vm.offMethod(),
      offRequestedAt: vm.exit?.at ?? null,
      offAt: vm.timeline.offAt ?? null,
      startedAt: vm.timeline.startedAt,
      agentEvents: vm.agentEvents.map((e) => String(e.event)),
      masterState: await nodeState(master.root, spec.system.uuid),
      notes: vm.notes,
      serialTail: "",
      serialLog,
    };
    problems = checkPeer(result);
    printSummary(document, Date.now() - startedAt, vm.timeline);
    if (problems.length > 0) {
      say(`arm1: ${problems.length} problem(s):`);
      for (const p of problems) say(`  - ${p}`);
      const tail = existsSync(serialLog)
        ? readFileSync(serialLog, "utf8").split("\n").slice(-40)
        : [];
      process.stdout.write(`--- serial console (last 40 lines) ---\n${tail.join("\n")}\n`);
    }
  } finally {
    const errors = await cleanup.close();
    for (const e of errors) say(`cleanup: ${e}`);
    removeSignals();
    if (values.keep) say(`run directory kept: ${runDir}`);
    else rmSync(runDir, { recursive: true, force: true });
  }
  return problems.length === 0 ? 0 : 1;
}

/** The document's summary: what an operator would look at first. */
function printSummary(
  document: unknown,
  ms: number,
  t: {
    startedAt: number;
    kernelAt?: number;
    dhcpAt?: number;
    agentAt?: number;
    acknowledgedAt?: number;
    offAt?: number;
  },
): void {
  const at = (x?: number) => (x ? secs(x - t.startedAt) : "-");
  process.stdout.write(
    `\nlab:arm64 ran ${secs(ms)}; peer: console ${at(t.kernelAt)}, lease ${at(t.dhcpAt)}, agent ${at(t.agentAt)}, acknowledged ${at(t.acknowledgedAt)}, off ${at(t.offAt)}\n`,
  );
  if (!document || typeof document !== "object") {
    process.stdout.write("no inventory on the master\n");
    return;
  }
  const d = document as Record<string, Record<string, unknown> & { [k: string]: unknown }>;
  const sys = d.system ?? {};
  const cpu = d.cpu ?? {};
  const mem = d.memory ?? {};
  const disks = (d.disks as unknown as Record<string, unknown>[] | undefined) ?? [];
  const nics = (d.nics as unknown as Record<string, unknown>[] | undefined) ?? [];
  const boot = d.boot ?? {};
  const collectors =
    (d.collectors as unknown as { name?: string; status?: string }[] | undefined) ?? [];
  const notOk = collectors.filter((c) => c.status !== "ok").map((c) => `${c.name}=${c.status}`);
  process.stdout.write(
    [
      `system   ${sys.manufacturer} ${sys.productName} serial ${sys.serialNumber} uuid ${sys.uuid}`,
      `cpu      ${cpu.architecture ?? "?"} ${cpu.model ?? cpu.modelName ?? ""} logical ${cpu.logicalCpus}`,
      `memory   total ${mem.totalBytes} os-visible ${mem.osVisibleBytes}`,
      `disks    ${disks.map((x) => `${x.name}:${x.serialNumber}`).join(" ")}`,
      `nics     ${nics.map((x) => `${x.name}:${x.macAddress}`).join(" ")}`,
      `boot     firmware ${boot.firmware} secureBoot ${boot.secureBoot} bootMac ${boot.bootMac}`,
      `bmc      ${JSON.stringify(d.bmc ?? null)}`,
      `collectors not ok: ${notOk.join(" ") || "none"}`,
      "",
    ].join("\n"),
  );
}

if (import.meta.main) process.exitCode = await main();
