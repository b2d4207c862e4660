// InfiniBand and RDMA devices (HCAs, RoCE NICs, Omni-Path, soft-RoCE) from /sys/class/infiniband:
// node GUID, firmware, board id, and per port the GUID, state, rate and link layer. Read
// in-process and captured as sys-class-infiniband.json, so a replay sees what the agent saw.
//
// Real input (prometheus/procfs test fixtures, an Omni-Path HFI and a ConnectX-3):
//   /sys/class/infiniband/hfi1_0/fw_ver            1.27.0
//   /sys/class/infiniband/mlx4_0/board_id          SM_1141000001000
//   /sys/class/infiniband/mlx4_0/ports/1/state     4: ACTIVE
//   /sys/class/infiniband/mlx4_0/ports/1/phys_state 5: LinkUp
//   /sys/class/infiniband/mlx4_0/ports/1/rate      40 Gb/sec (4X QDR)
//   /sys/class/infiniband/mlx4_0/ports/1/link_layer InfiniBand
// sys-class-infiniband.json (written by this module) keeps each file's trimmed text:
//   {"mlx4_0":{"node_guid":null,"fw_ver":"2.31.5050","board_id":"SM_1141000001000",
//     "devicePath":null,"ports":{"1":{"state":"4: ACTIVE","phys_state":"5: LinkUp",
//     "rate":"40 Gb/sec (4X QDR)","link_layer":"InfiniBand","gid0":null}}}}
import { readdirSync, realpathSync } from "node:fs";
import { join } from "node:path";
import type { InfinibandDevice, InfinibandPort } from "../../schema/inventory.ts";
import type { Probe } from "../exec.ts";
import { cleanString } from "../normalize.ts";
import { pciAddressFromDevicePath } from "./net.ts";
import { jsonRecord, listSysfsDir, readSysfsAttr } from "./sysfs.ts";
import {
  type Collect,
  isBlank,
  type Parsed,
  parseOutput,
  readJson,
  reportParsed,
  usableOutput,
} from "./types.ts";

const DEVICE_ATTRIBUTES = ["node_guid", "fw_ver", "board_id"] as const;
const PORT_ATTRIBUTES = ["state", "phys_state", "rate", "link_layer"] as const;

const text = (value: unknown) => (typeof value === "string" ? cleanString(value) : null);

/** "4: ACTIVE" -> "ACTIVE", "5: LinkUp" -> "LinkUp" (the kernel prints the number and the name). */
export function portStateName(value: unknown): string | null {
  const raw = text(value);
  if (raw === null) return null;
  return cleanString(/^\d+:\s*(.*)$/.exec(raw)?.[1] ?? raw);
}

/** "100 Gb/sec (4X EDR)" -> 100, "2.5 Gb/sec (1X SDR)" -> 2.5; anything else null. */
export function parseRateGbps(value: unknown): number | null {
  const match = /^\s*(\d{1,6}(?:\.\d{1,3})?)\s*Gb\/sec\b/.exec(
    typeof value === "string" ? value : "",
  );
  if (!match?.[1]) return null;
  const rate = Number(match[1]);
  return Number.isFinite(rate) ? rate : null;
}

/** Four groups of four lowercase hex digits: the form sysfs prints node_guid in. */
function normalizeGuid(value: unknown): string | null {
  const raw = text(value)?.toLowerCase() ?? null;
  if (raw === null || !/^[0-9a-f]{4}(:[0-9a-f]{4}){3}$/.test(raw)) return null;
  return /^0{4}(:0{4}){3}$/.test(raw) ? null : raw;
}

/**
 * The port GUID: the interface-id half (last 64 bits) of GID 0, `fe80:0000:0000:0000:` + GUID
 * on InfiniBand, the EUI-64 of the MAC on RoCE. An all-zero GID (port without address) is null.
 */
export function portGuidFromGid(gid: unknown): string | null {
  const raw = text(gid)?.toLowerCase() ?? null;
  if (raw === null || !/^[0-9a-f]{4}(:[0-9a-f]{4}){7}$/.test(raw)) return null;
  return normalizeGuid(raw.split(":").slice(4).join(":"));
}

/** Parses the sys-class-infiniband.json capture; never throws. Devices sort by name, ports by number. */
export function parseSysInfiniband(input: string): InfinibandDevice[] {
  const { document } = readJson(typeof input === "string" ? input : "");
  const devices: InfinibandDevice[] = [];
  for (const [name, value] of Object.entries(jsonRecord(document) ?? {})) {
    const entry = jsonRecord(value);
    if (entry === null || name.length === 0) continue;
    const ports: InfinibandPort[] = [];
    for (const [number, portValue] of Object.entries(jsonRecord(entry.ports) ?? {})) {
      const port = jsonRecord(portValue);
      if (port === null || !/^\d{1,3}$/.test(number)) continue;
      ports.push({
        port: Number(number),
        guid: portGuidFromGid(port.gid0),
        state: portStateName(port.state),
        physicalState: portStateName(port.phys_state),
        rateGbps: parseRateGbps(port.rate),
        linkLayer: text(port.link_layer),
      });
    }
    devices.push({
      name,
      pciAddress: pciAddressFromDevicePath(
        typeof entry.devicePath === "string" ? entry.devicePath : null,
      ),
      nodeGuid: normalizeGuid(entry.node_guid),
      firmwareVersion: text(entry.fw_ver),
      boardId: text(entry.board_id),
      ports: ports.sort((a, b) => a.port - b.port),
    });
  }
  return devices.sort((a, b) => a.name.localeCompare(b.name));
}

/**
 * Reads the sys-class-infiniband.json capture. Empty output and `{}` (no RDMA device) are valid;
 * text that is not a JSON object is a problem.
 */
export function readSysInfinibandCapture(input: string): Parsed<InfinibandDevice[]> {
  if (typeof input !== "string" || isBlank(input)) return { value: [], problem: null };
  const { document, problem } = readJson(input);
  if (problem !== null) return { value: [], problem };
  if (jsonRecord(document) === null) return { value: [], problem: "JSON but not an object" };
  return { value: parseSysInfiniband(input), problem: null };
}

/**
 * Reads /sys/class/infiniband into the sys-class-infiniband.json form. A machine without RDMA
 * has no such directory: ENOENT, which the runner reports as skipped.
 */
export function readSysInfiniband(root = "/sys/class/infiniband"): string {
  const out: Record<string, unknown> = {};
  for (const name of readdirSync(root).sort()) {
    const dir = join(root, name);
    const entry: Record<string, unknown> = {};
    for (const attr of DEVICE_ATTRIBUTES) entry[attr] = readSysfsAttr(join(dir, attr));
    let devicePath: string | null = null;
    try {
      devicePath = realpathSync(join(dir, "device"));
    } catch {
      // soft-RoCE (rxe) and other virtual devices have no parent device
    }
    entry.devicePath = devicePath;
    const ports: Record<string, unknown> = {};
    for (const number of listSysfsDir(join(dir, "ports"))) {
      const portDir = join(dir, "ports", number);
      const port: Record<string, string | null> = {};
      for (const attr of PORT_ATTRIBUTES) port[attr] = readSysfsAttr(join(portDir, attr));
      port.gid0 = readSysfsAttr(join(portDir, "gids", "0"));
      ports[number] = port;
    }
    entry.ports = ports;
    out[name] = entry;
  }
  return `${JSON.stringify(out, null, 2)}\n`;
}

export const sysInfinibandProbe: Probe = {
  file: "sys-class-infiniband.json",
  source: {
    kind: "internal",
    describe: "read /sys/class/infiniband",
    read: () => readSysInfiniband(),
  },
  timeoutMs: 10_000,
};

export const collectInfiniband: Collect<InfinibandDevice[]> = async (runner, signal) => {
  const result = await runner.run(sysInfinibandProbe, signal);
  const { value, problem } = parseOutput(usableOutput(result), readSysInfinibandCapture, []);
  return { value, reports: [reportParsed("sysfs-infiniband", result, problem)] };
};
