// Facts from `lshw -json` that the other tools may miss: the system identity on boards without
// SMBIOS (device tree), disk identity when lsblk has none, NIC details and total memory.
import type { Probe } from "../exec.ts";
import { cleanString, normalizeMac, normalizeUuid } from "../normalize.ts";
import {
  type Collect,
  isBlank,
  type Parsed,
  parseOutput,
  readJson,
  reportParsed,
  usableOutput,
} from "./types.ts";

/** Partial<System>-like: parseLshw always sets all four (null when unknown). */
export interface LshwSystem {
  manufacturer?: string | null;
  productName?: string | null;
  serialNumber?: string | null;
  /** From configuration.uuid; prefer dmidecode's when both exist (older lshw byte order differs). */
  uuid?: string | null;
}

export interface LshwDisk {
  /** Kernel name: basename of the logical name ("/dev/sda" -> "sda"). */
  name: string;
  serialNumber: string | null;
  model: string | null;
  vendor: string | null;
  sizeBytes: number | null;
  firmwareVersion: string | null;
}

export interface LshwNic {
  /** Interface name (logicalname). */
  name: string;
  macAddress: string | null;
  driver: string | null;
  /** "0000:00:03.0"; for virtio interfaces, the address of the PCI function they sit on. */
  pciAddress: string | null;
  /** Negotiated speed (lshw `size`, bit/s); null when the link is down. */
  speedMbps: number | null;
  /** Fastest speed the port supports (lshw `capacity`, bit/s). */
  capacityMbps: number | null;
  linkUp: boolean | null;
}

export interface LshwFacts {
  system: LshwSystem;
  disks: LshwDisk[];
  nics: LshwNic[];
  /** Sum of the "System Memory" nodes (falling back to their banks); null when none. */
  memoryBytes: number | null;
}

export const LSHW_PROBE: Probe = {
  file: "lshw.json",
  source: { kind: "command", argv: ["lshw", "-json", "-quiet"], versionArgv: ["-version"] },
  // lshw probes every bus; on large machines that takes minutes.
  timeoutMs: 180_000,
  needsRoot: true,
};

export function emptyLshwFacts(): LshwFacts {
  return {
    system: { manufacturer: null, productName: null, serialNumber: null, uuid: null },
    disks: [],
    nics: [],
    memoryBytes: null,
  };
}

type Node = Record<string, unknown>;

function isNode(value: unknown): value is Node {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function str(value: unknown): string | null {
  if (typeof value === "string") return cleanString(value);
  if (typeof value === "number" && Number.isFinite(value)) return String(value);
  return null;
}

function count(value: unknown): number | null {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0 ? value : null;
}

function children(node: Node): Node[] {
  return Array.isArray(node.children) ? node.children.filter(isNode) : [];
}

function config(node: Node): Node {
  return isNode(node.configuration) ? node.configuration : {};
}

/** logicalname is a string or, when a node has several, an array ("/dev/vda", "/"). */
function logicalNames(node: Node): string[] {
  const value = node.logicalname;
  const list = Array.isArray(value) ? value : [value];
  return list
    .filter((v): v is string => typeof v === "string" && v.trim() !== "")
    .map((v) => v.trim());
}

/** Kernel block-device names, preferred over aliases (/dev/cdrom) and NVMe char devices (ng0n1). */
const BLOCK_NAME =
  /^(?:sd[a-z]+|vd[a-z]+|xvd[a-z]+|hd[a-z]+|nvme\d+n\d+|mmcblk\d+|sr\d+|md\d+|dasd[a-z]+)$/;

function diskName(node: Node): string | null {
  const names = logicalNames(node)
    .filter((n) => n.startsWith("/dev/"))
    .map((n) => n.slice(5))
    .filter((n) => n !== "" && !n.includes("/"));
  return names.find((n) => BLOCK_NAME.test(n)) ?? names[0] ?? null;
}

function isOptical(node: Node, name: string): boolean {
  const caps = isNode(node.capabilities) ? Object.keys(node.capabilities) : [];
  const id = typeof node.id === "string" ? node.id : "";
  return (
    /^sr\d+$/.test(name) ||
    id.startsWith("cdrom") ||
    caps.some((c) => /^(?:cd-|dvd|audio$)/.test(c))
  );
}

function pciBusinfo(node: Node | undefined): string | null {
  const businfo = node && typeof node.businfo === "string" ? node.businfo.trim() : "";
  const match = /^pci@([0-9a-f]{4,8}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7])$/i.exec(businfo);
  return match?.[1]?.toLowerCase() ?? null;
}

function bitsToMbps(node: Node, key: "size" | "capacity"): number | null {
  if (node.units !== "bit/s") return null;
  const bits = count(node[key]);
  return bits === null ? null : Math.round(bits / 1_000_000);
}

function linkState(node: Node): boolean | null {
  const link = config(node).link;
  if (link === "yes") return true;
  if (link === "no") return false;
  return null;
}

/** lshw appends the SMBIOS SKU to the product: "80FG (LENOVO_MT_80FG_BU_idea_FM_Lenovo Z70-80)". */
function productName(node: Node): string | null {
  const product = str(node.product);
  const sku = str(config(node).sku);
  if (product !== null && sku !== null && product.endsWith(` (${sku})`)) {
    return cleanString(product.slice(0, -(sku.length + 3)));
  }
  return product;
}

/**
 * Tolerates what lshw versions print: one object (<= B.02.19), an array of objects (B.02.20+),
 * and, as a fallback, several top-level objects one after another (`-C` on some old versions).
 */
function roots(text: string): { nodes: Node[]; problem: string | null } {
  let { document, problem } = readJson(text);
  if (problem !== null) {
    const joined = readJson(`[${text.replace(/}\s*{/g, "},{")}]`);
    if (joined.problem !== null) return { nodes: [], problem };
    document = joined.document;
  }
  const nodes = Array.isArray(document)
    ? document.filter(isNode)
    : isNode(document)
      ? [document]
      : [];
  return { nodes, problem: nodes.length === 0 ? "JSON holds no lshw object" : null };
}

/**
 * Parses `lshw -json`. Real input (lshw B.02.19.2, Debian 12, trimmed):
 *
 *     {
 *       "id" : "vm",
 *       "class" : "system",
 *       "description" : "Computer",
 *       "children" : [    {
 *           "id" : "core",
 *           "class" : "bus",
 *           "children" : [        {
 *               "id" : "memory",
 *               "class" : "memory",
 *               "description" : "System memory",
 *               "units" : "bytes",
 *               "size" : 25769803776
 *     ...
 *             "id" : "virtio2",
 *             "class" : "network",
 *             "businfo" : "virtio@2",
 *             "logicalname" : "eth0",
 *             "serial" : "02:fc:00:00:00:01",
 *             "configuration" : {"driver" : "virtio_net", "link" : "yes", ...}
 *
 * Empty output is no facts and no problem; text that is not JSON, or JSON holding no object, is a
 * problem.
 */
export function readLshw(text: string): Parsed<LshwFacts> {
  if (typeof text !== "string" || isBlank(text)) return { value: emptyLshwFacts(), problem: null };
  const { nodes, problem } = roots(text);
  return { value: factsOf(nodes), problem };
}

/** The facts of `readLshw`, problem or not. */
export function parseLshw(text: string): LshwFacts {
  return readLshw(text).value;
}

function factsOf(tops: Node[]): LshwFacts {
  const facts = emptyLshwFacts();
  const system = tops.find((n) => n.class === "system") ?? tops[0];
  if (system) {
    facts.system = {
      manufacturer: str(system.vendor),
      productName: productName(system),
      serialNumber: str(system.serial),
      uuid: normalizeUuid(str(config(system).uuid)),
    };
  }
  let memory: number | null = null;
  const seenDisks = new Set<string>();
  const seenNics = new Set<string>();
  // Iterative walk: a hostile or corrupt document must not overflow the stack.
  const stack: Array<{ node: Node; parent: Node | undefined }> = tops
    .map((node) => ({ node, parent: undefined }))
    .reverse();
  while (stack.length > 0) {
    const item = stack.pop();
    if (!item) break;
    const { node, parent } = item;
    const kids = children(node);
    for (let i = kids.length - 1; i >= 0; i--) {
      const child = kids[i];
      if (child) stack.push({ node: child, parent: node });
    }
    const cls = node.class;
    if (cls === "memory" && str(node.description)?.toLowerCase() === "system memory") {
      let size = node.units === "bytes" || node.units === undefined ? count(node.size) : null;
      if (size === null) {
        const banks = kids.map((b) => (b.units === "bytes" ? count(b.size) : null));
        if (banks.some((b) => b !== null))
          size = banks.reduce<number>((sum, b) => sum + (b ?? 0), 0);
      }
      if (size !== null && Number.isSafeInteger((memory ?? 0) + size))
        memory = (memory ?? 0) + size;
    } else if (cls === "disk") {
      const name = diskName(node);
      if (name === null || seenDisks.has(name) || isOptical(node, name)) continue;
      seenDisks.add(name);
      // An NVMe namespace node carries only its size; the controller above it has the identity.
      const controller =
        parent &&
        parent.class === "storage" &&
        logicalNames(parent).some((n) => /^\/dev\/nvme\d+$/.test(n))
          ? parent
          : undefined;
      facts.disks.push({
        name,
        serialNumber: str(node.serial) ?? (controller ? str(controller.serial) : null),
        model: str(node.product) ?? (controller ? str(controller.product) : null),
        vendor: str(node.vendor) ?? (controller ? str(controller.vendor) : null),
        sizeBytes: node.units === "bytes" ? count(node.size) : null,
        firmwareVersion: str(node.version) ?? (controller ? str(controller.version) : null),
      });
    } else if (cls === "network") {
      const name = logicalNames(node)[0];
      if (name === undefined || seenNics.has(name)) continue;
      seenNics.add(name);
      const linkUp = linkState(node);
      const businfo = typeof node.businfo === "string" ? node.businfo : "";
      facts.nics.push({
        name,
        macAddress: normalizeMac(str(node.serial)),
        driver: str(config(node).driver),
        // A virtio interface hangs below the PCI function that carries it.
        pciAddress: pciBusinfo(node) ?? (businfo.startsWith("virtio@") ? pciBusinfo(parent) : null),
        speedMbps: linkUp === false ? null : bitsToMbps(node, "size"),
        capacityMbps: bitsToMbps(node, "capacity"),
        linkUp,
      });
    }
  }
  facts.memoryBytes = memory;
  return facts;
}

export const collectLshw: Collect<LshwFacts> = async (runner, signal) => {
  const result = await runner.run(LSHW_PROBE, signal);
  const { value, problem } = parseOutput(usableOutput(result), readLshw, emptyLshwFacts());
  return { value, reports: [reportParsed("lshw", result, problem)] };
};
