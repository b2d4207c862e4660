// `npm run lab -- [--peers N] [--failure-paths] [--poweroff soft|hard] [--menu-arg ARG]... [--keep]`
// `npm run lab -- --image ISO|kiwi/builds/<recipe> [--peers N] [--keep]`
// The virtual data center (docs/lab.md): a master and N PXE-booted QEMU peers in a network
// namespace; prints progress while it runs and a table of what the master received at the end.
// Exit codes: 0 every peer matched, 1 a peer did not, 2 bad arguments, 3 cannot run here.
import { parseArgs } from "node:util";
import {
  checkImageMaster,
  checkPeer,
  type LabResult,
  labPrerequisites,
  type PeerResult,
  runLab,
} from "./lab.ts";
import { FIRMWARES, type Firmware } from "./peer.ts";
import { formatPeerBytes } from "./peer-bytes.ts";
import { checkTwins } from "./twin-diff.ts";

const USAGE = `usage: npm run lab -- [options]
  --peers N          normal peers to boot (default 3)
  --failure-paths    also boot 'outage' (the master's upload service stops while its agent
                     runs) and 'no-bmc' (falls back to the OS power-off)
  --poweroff MODE    soft|hard: recon.poweroff= on the kernel command line (default: the
                     agent's default, soft)
  --menu-arg ARG     another kernel argument for menu.ipxe (repeatable)
  --timeout MIN      per-phase limit in minutes (default 10)
  --keep             keep the run directory (serial logs, master data) under /tmp
  --image ISO|DIR    the live image instead (kiwi/make-recipe-target debian-12 target; DIR:
                     kiwi/builds/debian-12, whose image.env names the ISO): the master is a
                     QEMU machine booting the ISO from a USB stick, the peers PXE-boot
                     it; the inventories are read from the stick's RECON-DATA partition after
                     the master is powered down. Not with --failure-paths, --poweroff or
                     --menu-arg (the image's master writes its own menu.ipxe)
  --master-firmware F  with --image: seabios|ovmf|ovmf-secureboot (default ovmf-secureboot when
                     the ISO's UEFI boot loader is signed, else seabios)
  --twin F           with --image: peer1's twin (same hardware, PXE from its virtio NIC) boots
                     under F: ovmf|ovmf-secureboot|none (default ovmf-secureboot when the ISO is
                     signed, else none); the two documents must tell the same facts
`;

function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length))) ?? [];
  return rows
    .map((r, ri) => {
      const line = r
        .map((c, i) => c.padEnd(widths[i] ?? 0))
        .join("  ")
        .trimEnd();
      return ri === 0 ? `${line}\n${widths.map((w) => "-".repeat(w)).join("  ")}` : line;
    })
    .join("\n");
}

const GiB = 1024 ** 3;

function summarize(result: LabResult): { text: string; failures: [PeerResult, string[]][] } {
  const rows: string[][] = [
    [
      "peer",
      "node id",
      "serial",
      "product",
      "mem",
      "cpus",
      "disks (serials)",
      "NICs",
      "BMC",
      "evidence",
      "off",
      "boot->off",
    ],
  ];
  const failures: [PeerResult, string[]][] = [];
  for (const p of result.peers) {
    const d = p.document as {
      system?: { serialNumber?: string; productName?: string };
      memory?: { totalBytes?: number | null };
      cpu?: { logicalCpus?: number | null };
      disks?: { serialNumber?: string | null }[];
      nics?: { macAddress?: string | null }[];
      bmc?: { ipv4Address?: string | null; ipmiVersion?: string | null } | null;
    } | null;
    const problems = checkPeer(p, result.serveHistory);
    if (problems.length) failures.push([p, problems]);
    rows.push([
      p.spec.name,
      p.nodeId ?? "-",
      d?.system?.serialNumber ?? "-",
      d?.system?.productName ?? "-",
      d?.memory?.totalBytes ? `${(d.memory.totalBytes / GiB).toFixed(2)}G` : "-",
      String(d?.cpu?.logicalCpus ?? "-"),
      d?.disks ? d.disks.map((x) => x.serialNumber ?? "?").join(",") : "-",
      d?.nics ? String(d.nics.filter((n) => n.macAddress).length) : "-",
      d ? (d.bmc ? (d.bmc.ipv4Address ?? `ipmi ${d.bmc.ipmiVersion ?? "?"}`) : "none") : "-",
      p.evidencePath ? "yes" : "no",
      p.offMethod ?? "-",
      p.offAt ? `${((p.offAt - p.startedAt) / 1000).toFixed(1)}s` : "-",
    ]);
  }
  return { text: table(rows), failures };
}

async function main(argv: string[]): Promise<number> {
  let values: ReturnType<typeof parse>["values"];
  function parse() {
    return parseArgs({
      args: argv,
      options: {
        peers: { type: "string", default: "3" },
        "failure-paths": { type: "boolean", default: false },
        poweroff: { type: "string" },
        "menu-arg": { type: "string", multiple: true },
        timeout: { type: "string", default: "10" },
        keep: { type: "boolean", default: false },
        image: { type: "string" },
        "master-firmware": { type: "string" },
        twin: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
    });
  }
  try {
    values = parse().values;
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const peers = Number(values.peers);
  if (!Number.isInteger(peers) || peers < 0 || peers > 16) {
    process.stderr.write(`--peers must be 0..16\n${USAGE}`);
    return 2;
  }
  if (values.poweroff !== undefined && values.poweroff !== "soft" && values.poweroff !== "hard") {
    process.stderr.write(`--poweroff must be soft or hard\n${USAGE}`);
    return 2;
  }
  if (
    values.image !== undefined &&
    (values["failure-paths"] || values.poweroff !== undefined || values["menu-arg"]?.length)
  ) {
    process.stderr.write(
      `--image cannot be combined with --failure-paths, --poweroff or --menu-arg\n${USAGE}`,
    );
    return 2;
  }
  const masterFirmware = values["master-firmware"];
  if (masterFirmware !== undefined && !FIRMWARES.includes(masterFirmware as Firmware)) {
    process.stderr.write(`--master-firmware must be one of ${FIRMWARES.join(", ")}\n${USAGE}`);
    return 2;
  }
  const twin = values.twin;
  if (twin !== undefined && !["ovmf", "ovmf-secureboot", "none"].includes(twin)) {
    process.stderr.write(`--twin must be ovmf, ovmf-secureboot or none\n${USAGE}`);
    return 2;
  }
  if ((masterFirmware !== undefined || twin !== undefined) && values.image === undefined) {
    process.stderr.write(`--master-firmware and --twin need --image\n${USAGE}`);
    return 2;
  }
  const why = labPrerequisites();
  if (why) {
    process.stderr.write(`lab: cannot run: ${why}\n(see docs/lab.md for the packages)\n`);
    return 3;
  }
  const result = await runLab({
    peers,
    failurePaths: values["failure-paths"],
    poweroff: values.poweroff as "soft" | "hard" | undefined,
    menuArgs: values["menu-arg"] ?? [],
    phaseTimeoutMs: Number(values.timeout) * 60_000,
    keep: values.keep,
    ...(values.image !== undefined ? { image: values.image } : {}),
    ...(masterFirmware !== undefined ? { masterFirmware: masterFirmware as Firmware } : {}),
    ...(twin !== undefined ? { twinFirmware: twin as "ovmf" | "ovmf-secureboot" | "none" } : {}),
    log: (line) => process.stdout.write(`${line}\n`),
  });
  const { text, failures } = summarize(result);
  const where = result.imageMaster
    ? `the stick's RECON-DATA partition, copied to ${result.masterRoot}/nodes`
    : `${result.masterRoot}/nodes`;
  process.stdout.write(`\nWhat the master received (${where}):\n${text}\n`);
  for (const [p, problems] of failures) {
    process.stdout.write(
      `\n${p.spec.name}: ${problems.length} problem(s)\n${problems.map((x) => `  - ${x}`).join("\n")}\n`,
    );
    process.stdout.write(
      `  serial console (last lines of ${p.serialLog}):\n${p.serialTail.replace(/^/gm, "    | ")}\n`,
    );
  }
  const { bytes } = result;
  process.stdout.write(
    `\nBytes each peer fetched from the master (serve's http log, by leased address):\n${formatPeerBytes(bytes.peers)}\n`,
  );
  if (bytes.unmeasured)
    process.stdout.write(`  (${bytes.unmeasured} http lines without bytes: an older serve)\n`);
  const m = result.imageMaster;
  if (m)
    process.stdout.write(
      `\nmaster: firmware ${m.firmware}, kernel: Secure boot ${m.secureBoot ?? "not reported"}` +
        `${m.lockdown ? `, locked down from ${m.lockdown}` : ""}; the stick holds ${m.stickFiles.join(", ")}\n`,
    );
  const twinProblems = checkTwins(result);
  if (result.twins)
    process.stdout.write(
      `\ntwins ${result.twins.join(" and ")} (same hardware, ${result.peers.find((p) => p.spec.name === result.twins?.[1])?.spec.firmware}): ` +
        `${twinProblems.length === 0 ? "the documents tell the same facts" : `${twinProblems.length} difference(s)`}\n` +
        twinProblems.map((d) => `  - ${d}\n`).join(""),
    );
  const masterProblems = [...checkImageMaster(result), ...twinProblems.map((d) => `twins: ${d}`)];
  for (const p of checkImageMaster(result)) process.stdout.write(`\nmaster: ${p}\n`);
  const n = result.peers.length;
  process.stdout.write(
    `\n${n - failures.length} of ${n} peers reported and powered off as expected in ${(result.durationMs / 1000).toFixed(1)}s` +
      `${result.kept ? ` (run directory kept: ${result.runDir})` : ""}\n`,
  );
  return failures.length === 0 && masterProblems.length === 0 ? 0 : 1;
}

process.exitCode = await main(process.argv.slice(2));
