// The switch port each NIC is cabled to, from lldpd's neighbour table (`lldpctl -f keyvalue`).
// lldpd must be running (the live image starts it at boot) and have heard the switch: switches
// send LLDP every 30 s by default, so a neighbour may be missing in the first half-minute.
import type { LldpNeighbor } from "../../schema/inventory.ts";
import type { Probe } from "../exec.ts";
import { cleanString, normalizeMac, parseCount } from "../normalize.ts";
import { isSafeIfname } from "./ethtool.ts";
import {
  binaryProblem,
  type Collect,
  isBlank,
  type Parsed,
  parseOutput,
  reportParsed,
  usableOutput,
} from "./types.ts";

export const LLDPCTL_PROBE: Probe = {
  file: "lldpctl.txt",
  source: { kind: "command", argv: ["lldpctl", "-f", "keyvalue"], versionArgv: ["-v"] },
  timeoutMs: 10_000,
  // The control socket /run/lldpd.socket is root:_lldpd 0660.
  needsRoot: true,
};

/** Sections lldpctl prints under `lldp.<interface>.`; the interface name may itself contain dots. */
const KEY =
  /^lldp\.(.+?)\.(via|rid|age|chassis|port|vlan|ppvid|pi|lldp-med|unknown-tlvs)(?:\.(.*))?$/;
/** Chassis/port id subtypes as lldpctl names them (the `id` tag is replaced by the subtype). */
const CHASSIS_ID_KEYS = ["mac", "local", "ifname", "ifalias", "ip", "unhandled", "id"];
const PORT_ID_KEYS = ["ifname", "local", "mac", "ifalias", "ip", "unhandled", "id"];

interface Block {
  /** `via` lines seen: the second one starts another neighbour on the same port (ignored). */
  neighbours: number;
  fields: Map<string, string>;
  vlans: { id: number | null; pvid: boolean }[];
}

function idValue(kind: string, value: string): string | null {
  return kind === "mac" ? (normalizeMac(value) ?? cleanString(value)) : cleanString(value);
}

function vlanOf(vlans: Block["vlans"]): number | null {
  const valid = vlans.filter((v) => v.id !== null && v.id >= 1 && v.id <= 4094);
  const pvid = valid.find((v) => v.pvid);
  if (pvid) return pvid.id;
  // Without a PVID flag, a single advertised VLAN is the port's; several make it ambiguous.
  const ids = new Set(valid.map((v) => v.id));
  return ids.size === 1 ? (valid[0]?.id ?? null) : null;
}

/**
 * Parses `lldpctl -f keyvalue` into one neighbour per local interface. Real input (lldpd
 * 1.0.16, trimmed):
 *
 *     lldp.eno1.via=LLDP
 *     lldp.eno1.rid=1
 *     lldp.eno1.chassis.mac=0c:42:a1:aa:bb:cc
 *     lldp.eno1.chassis.name=leaf-r12-1.dc1
 *     lldp.eno1.port.ifname=swp12
 *     lldp.eno1.port.descr=srv-r12-07:eno1
 *
 * and from a Juniper QFX neighbour (port id is a local ifIndex, VLAN with PVID flag):
 *
 *     lldp.eth0.port.local=512
 *     lldp.eth0.port.descr=xe-0/0/1
 *     lldp.eth0.vlan.vlan-id=296
 *     lldp.eth0.vlan.pvid=yes
 *     lldp.eth0.vlan=vlan-296
 *
 * The chassis and port id keys are named after their subtype (mac, local, ifname, ip...).
 * Multi-line values (a Cisco chassis.descr) continue on lines without a `lldp.` key; they are
 * skipped. The first value of each key wins; a second neighbour on the same interface (a new
 * `via` line) is ignored. Interfaces with nothing usable are left out.
 * No output (no neighbour heard) is valid and empty; text without a single `lldp.` key line, or
 * with binary bytes, is a problem (the neighbours read are kept).
 */
export function readLldpctl(text: string): Parsed<Record<string, LldpNeighbor>> {
  if (isBlank(text)) return { value: {}, problem: null };
  const value = parseLldpctl(text);
  const binary = binaryProblem(text);
  if (binary !== null) return { value, problem: binary };
  if (!/^lldp\.[^=\r\n]*=/m.test(text)) {
    return { value, problem: `no lldp.* key line found in ${text.length} characters` };
  }
  return { value, problem: null };
}

/** The neighbours in lldpctl key=value text; `readLldpctl` also says whether the text was lldpctl's. */
export function parseLldpctl(text: string): Record<string, LldpNeighbor> {
  const blocks = new Map<string, Block>();
  for (const raw of text.split("\n")) {
    const line = raw.replace(/\r$/, "");
    const eq = line.indexOf("=");
    if (eq < 0) continue;
    const match = KEY.exec(line.slice(0, eq));
    const ifname = match?.[1];
    const section = match?.[2];
    if (!ifname || !section || !isSafeIfname(ifname)) continue;
    const rest = match[3] ?? "";
    const value = line.slice(eq + 1);
    let block = blocks.get(ifname);
    if (!block) {
      block = { neighbours: 0, fields: new Map(), vlans: [] };
      blocks.set(ifname, block);
    }
    if (section === "via") block.neighbours++;
    if (block.neighbours > 1) continue;
    if (section === "vlan") {
      if (rest === "vlan-id") block.vlans.push({ id: parseCount(value), pvid: false });
      else if (rest === "pvid" && value.trim() === "yes") {
        const last = block.vlans.at(-1);
        if (last) last.pvid = true;
      }
      continue;
    }
    const key = rest ? `${section}.${rest}` : section;
    if (!block.fields.has(key)) block.fields.set(key, value);
  }
  const result: [string, LldpNeighbor][] = [];
  for (const [ifname, block] of blocks) {
    const pick = (prefix: string, kinds: string[]) => {
      for (const kind of kinds) {
        const value = block.fields.get(`${prefix}.${kind}`);
        if (value !== undefined) return idValue(kind, value);
      }
      return null;
    };
    const neighbour: LldpNeighbor = {
      chassisId: pick("chassis", CHASSIS_ID_KEYS),
      systemName: cleanString(block.fields.get("chassis.name")),
      portId: pick("port", PORT_ID_KEYS),
      portDescription: cleanString(block.fields.get("port.descr")),
      vlanId: vlanOf(block.vlans),
    };
    if (Object.values(neighbour).some((v) => v !== null)) result.push([ifname, neighbour]);
  }
  // fromEntries defines own properties: an interface called __proto__ stays a plain key.
  return Object.fromEntries(result);
}

export const collectLldp: Collect<Record<string, LldpNeighbor>> = async (runner, signal) => {
  const result = await runner.run(LLDPCTL_PROBE, signal);
  const { value, problem } = parseOutput(usableOutput(result), readLldpctl, {});
  const report = reportParsed("lldpctl", result, problem);
  if (result.status === "failed" && /unable to connect to socket/i.test(result.message ?? "")) {
    report.message = `lldpd is not running: ${result.message}`;
  }
  return { value, reports: [report] };
};
