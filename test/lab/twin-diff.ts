// What the agent collects on two peers with the same virtual hardware, one booted from SeaBIOS and
// one under OVMF with Secure Boot enforced (the kernel then runs in lockdown mode: no /dev/mem,
// dmidecode reads the sysfs SMBIOS tables): the two documents must tell the same facts.
// Left out of the comparison, because they differ by design:
// - each peer's identity: serials, UUID, MACs, the BMC's LAN settings and leased addresses, as
//   the lab gave them (replaced by a placeholder naming the field, in both documents);
// - times and durations (any key ending in At, Ms or Seconds, and collectedAt);
// - the firmware's own facts: boot.* (firmware, secureBoot, the kernel command line the boot
//   loader passed), bios.* (SeaBIOS vs EDK II) and memory.osVisibleBytes (each firmware reserves
//   its own share of RAM);
// - per-run facts: nodeId, hostname, agent.
import type { LabResult } from "./lab.ts";
import type { PeerSpec } from "./peer.ts";

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

const DROPPED_PATHS = new Set([
  "boot",
  "bios",
  "memory.osVisibleBytes",
  "nodeId",
  "hostname",
  "agent",
]);
/**
 * Differ by firmware, not by lockdown (the 06:23 CI run): a NIC's link-local IPv6 address is its
 * MAC's (EUI-64: an identity), a NUMA node's memory is what the firmware left the OS (as
 * memory.osVisibleBytes), and whether lpc_ich and i801_smbus bind to the chipset's LPC and SMBus
 * functions depends on how the firmware set them up (SeaBIOS: no driver; OVMF: bound).
 */
const FIRMWARE_PATHS = [
  /^nics\[\d+\]\.ipv6\[\d+\]$/,
  /^numaNodes\[\d+\]\.memoryBytes$/,
  /^pciDevices\[\d+\]\.driver$/,
];
const UNORDERED = new Set(["collectors", "warnings"]);
const TIME_KEY = /(At|Ms|Seconds)$|^collectedAt$/;

/** A value's JSON without its times: the sort key of an unordered list's items. */
const timeless = (value: Json) =>
  JSON.stringify(value, (key, v: Json) => (TIME_KEY.test(key) ? undefined : v));

/** Each identity string the lab gave the peer, with the placeholder it becomes. */
export function identityTokens(spec: PeerSpec, leasedIps: string[] = []): [string, string][] {
  const tokens: [string, string][] = [
    [spec.system.serial, "<system serial>"],
    [spec.system.uuid.toLowerCase(), "<system uuid>"],
    [spec.baseboard.serial, "<baseboard serial>"],
  ];
  spec.nics.forEach((n, i) => {
    tokens.push([n.mac.toLowerCase(), `<nic ${i} mac>`]);
  });
  spec.disks.forEach((d, i) => {
    tokens.push([d.serial, `<disk ${i} serial>`]);
  });
  if (spec.bmcLan) {
    tokens.push([spec.bmcLan.macAddress.toLowerCase(), "<bmc mac>"]);
    tokens.push([spec.bmcLan.ipv4Address, "<bmc ip>"]);
  }
  leasedIps.forEach((ip, i) => {
    tokens.push([ip, `<leased ip ${i}>`]);
  });
  // Longest first: a serial that starts with another (LAB..01S and LAB..01SP1) stays whole.
  return tokens.sort((a, b) => b[0].length - a[0].length);
}

/** The document as flat `path = value` lines, identities replaced, dropped fields left out. */
export function comparable(doc: unknown, tokens: [string, string][]): Map<string, string> {
  const out = new Map<string, string>();
  const anonymize = (text: string) => {
    let t = text;
    for (const [value, placeholder] of tokens) {
      if (!value) continue;
      t = t.split(value).join(placeholder);
      if (value.toUpperCase() !== value) t = t.split(value.toUpperCase()).join(placeholder);
    }
    return t;
  };
  const walk = (value: Json, path: string) => {
    if (DROPPED_PATHS.has(path) || FIRMWARE_PATHS.some((p) => p.test(path))) return;
    const key = path.split(".").at(-1) ?? "";
    if (TIME_KEY.test(key.replace(/\[\d+\]$/, ""))) return;
    if (Array.isArray(value)) {
      if (value.length === 0) out.set(path, "[]");
      // The collectors finish in their own order; each one's run is compared, not the order.
      const items = UNORDERED.has(path)
        ? [...value].sort((x, y) => timeless(x).localeCompare(timeless(y)))
        : value;
      items.forEach((v, i) => {
        walk(v, `${path}[${i}]`);
      });
    } else if (value !== null && typeof value === "object") {
      for (const [k, v] of Object.entries(value)) walk(v, path ? `${path}.${k}` : k);
    } else {
      out.set(path, typeof value === "string" ? JSON.stringify(anonymize(value)) : String(value));
    }
  };
  walk(doc as Json, "");
  return out;
}

/**
 * Every fact that differs between the two peers' documents, one readable line each
 * (`path: A=<value> B=<value>`); [] when they tell the same.
 */
export function twinDifferences(
  a: { spec: PeerSpec; document: unknown; leasedIps?: string[] },
  b: { spec: PeerSpec; document: unknown; leasedIps?: string[] },
): string[] {
  const left = comparable(a.document, identityTokens(a.spec, a.leasedIps));
  const right = comparable(b.document, identityTokens(b.spec, b.leasedIps));
  const paths = [...new Set([...left.keys(), ...right.keys()])].sort();
  return paths
    .filter((p) => left.get(p) !== right.get(p))
    .map(
      (p) =>
        `${p}: ${a.spec.name}=${left.get(p) ?? "(absent)"} ${b.spec.name}=${right.get(p) ?? "(absent)"}`,
    );
}

/** The run's twins compared (lab.ts LabResult.twins); [] without twins or when they agree. */
export function checkTwins(result: LabResult): string[] {
  if (!result.twins) return [];
  const [a, b] = result.twins.map((name) => {
    const peer = result.peers.find((p) => p.spec.name === name);
    const ips = result.bytes.peers.find((p) => p.name === name)?.ips ?? [];
    return peer ? { spec: peer.spec, document: peer.document, leasedIps: ips } : null;
  });
  if (!a?.document || !b?.document)
    return [`twins ${result.twins.join(" and ")}: a document is missing, nothing to compare`];
  return twinDifferences(a, b);
}
