// GLPI export: GLPI's native inventory format (the JSON the GLPI agent sends to GLPI 10+),
// one document per node, and its sender. Units as GLPI stores them: memory in MiB ("MB" in
// GLPI), disk sizes in MB (10^6 bytes, as disks are sold), power in W, speeds in MHz and Mbit/s.
// The BMC is one more network entry with `management: true`.
import { createHash } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { deflateSync } from "node:zlib";
import type { Inventory } from "../../schema/inventory.ts";
import { cleanString } from "../normalize.ts";
import { errorText, readBodyLimited } from "./source.ts";
import { type ExportSession, type ExportTarget, startFileOrSend } from "./target.ts";

type Record_ = Record<string, string | number | boolean>;

export interface GlpiInventory {
  action: "inventory";
  deviceid: string;
  itemtype: "Computer";
  content: {
    versionclient: string;
    hardware: Record_;
    bios: Record_;
    cpus: Record_[];
    memories: Record_[];
    storages: Record_[];
    networks: Record_[];
    powersupplies: Record_[];
  };
}

const MIB = 1024 * 1024;
const MAX_ANSWER_BYTES = 64 * 1024;
const MB = 1_000_000;
const GLPI_ARCH =
  /^(mips|mips64|alpha|sparc|sparc64|m68k|i\d86|x86_64|powerpc|powerpc64|arm.*|aarch64)$/;

/** Keeps only known values (null and placeholders dropped: GLPI must not see "Not Specified"). */
function compact(entries: Record<string, string | number | boolean | null | undefined>): Record_ {
  const out: Record_ = {};
  for (const [key, value] of Object.entries(entries)) {
    if (value === null || value === undefined) continue;
    if (typeof value === "string") {
      const clean = cleanString(value);
      if (clean !== null) out[key] = clean;
    } else out[key] = value;
  }
  return out;
}

/**
 * The GLPI agent's deviceid is hostname + timestamp, new on every boot of a live image. recon's
 * is derived from the machine: its SMBIOS UUID, else its nodeId.
 */
export function glpiDeviceId(doc: Inventory): string {
  return `recon-${doc.system.uuid ?? doc.nodeId}`;
}

/** The GLPI-Agent-ID header: the system UUID, or a name-based (v5-style) UUID of the nodeId. */
export function glpiAgentId(doc: Inventory): string {
  if (doc.system.uuid) return doc.system.uuid;
  const hash = createHash("sha1").update(`recon-node:${doc.nodeId}`).digest();
  hash[6] = ((hash[6] ?? 0) & 0x0f) | 0x50;
  hash[8] = ((hash[8] ?? 0) & 0x3f) | 0x80;
  const hex = hash.subarray(0, 16).toString("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** SMBIOS "MM/DD/YYYY" (or ISO) to GLPI's "YYYY-MM-DD"; null when it is neither. */
export function glpiDate(value: string | null): string | null {
  if (value === null) return null;
  const us = /^(\d{2})\/(\d{2})\/(\d{4})$/.exec(value.trim());
  if (us) return `${us[3]}-${us[1]}-${us[2]}`;
  const iso = /^(\d{4}-\d{2}-\d{2})/.exec(value.trim());
  return iso ? (iso[1] ?? null) : null;
}

function mb(bytes: number | null, unit: number): number | null {
  return bytes === null ? null : Math.round(bytes / unit);
}

/** Address "10.0.0.5/24" to address and dotted mask. */
function ipv4Parts(cidr: string): { ip: string; mask: string | null } {
  const [ip = cidr, prefix] = cidr.split("/");
  const bits = prefix === undefined ? Number.NaN : Number(prefix);
  if (!Number.isInteger(bits) || bits < 0 || bits > 32) return { ip, mask: null };
  const value = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
  return { ip, mask: [24, 16, 8, 0].map((s) => (value >>> s) & 255).join(".") };
}

/** The pure mapping: one valid document to one GLPI inventory. */
export function toGlpi(doc: Inventory): GlpiInventory {
  const arch =
    doc.cpu.architecture && GLPI_ARCH.test(doc.cpu.architecture) ? doc.cpu.architecture : null;
  const cpus =
    doc.processors.length > 0
      ? doc.processors.map((p) =>
          compact({
            name: p.model,
            manufacturer: p.manufacturer,
            core: p.cores,
            thread: p.threads,
            speed: p.maxSpeedMhz,
            arch,
          }),
        )
      : // No SMBIOS processor records (VMs, some ARM boards): one entry per socket from lscpu.
        Array.from({ length: doc.cpu.model ? (doc.cpu.sockets ?? 1) : 0 }, () =>
          compact({
            name: doc.cpu.model,
            core: doc.cpu.coresPerSocket,
            thread:
              doc.cpu.coresPerSocket !== null && doc.cpu.threadsPerCore !== null
                ? doc.cpu.coresPerSocket * doc.cpu.threadsPerCore
                : null,
            arch,
          }),
        );
  const networks: Record_[] = [];
  for (const n of doc.nics) {
    const v4 = n.ipv4.map(ipv4Parts);
    const base = {
      description: n.name,
      mac: n.permanentMacAddress ?? n.macAddress,
      driver: n.driver,
      pcislot: n.pciAddress,
      speed: n.speedMbps === null ? null : String(n.speedMbps),
      mtu: n.mtu,
      status: n.linkUp === null ? null : n.linkUp ? "up" : "down",
      type: n.pciAddress !== null ? "ethernet" : null,
      virtualdev: n.pciAddress === null,
    };
    // GLPI keeps one address per network entry; the agent repeats the port per address.
    if (v4.length === 0) networks.push(compact(base));
    for (const a of v4) networks.push(compact({ ...base, ipaddress: a.ip, ipmask: a.mask }));
    for (const cidr of n.ipv6) {
      networks.push(compact({ ...base, ipaddress6: cidr.split("/")[0] }));
    }
  }
  if (doc.bmc !== null) {
    networks.push(
      compact({
        description: "BMC",
        management: true,
        mac: doc.bmc.macAddress,
        ipaddress: doc.bmc.ipv4Address,
        ipmask: doc.bmc.netmask,
        ipgateway: doc.bmc.gateway,
        firmware: doc.bmc.firmwareVersion,
        manufacturer: doc.bmc.manufacturerName,
        type: "ethernet",
      }),
    );
  }
  return {
    action: "inventory",
    deviceid: glpiDeviceId(doc),
    itemtype: "Computer",
    content: {
      versionclient: `${doc.agent.name}_v${doc.agent.version}`,
      hardware: compact({
        // The live image's hostname names the image, not the machine.
        name: doc.nodeId,
        uuid: doc.system.uuid,
        memory: mb(doc.memory.totalBytes, MIB),
        chassis_type: doc.chassis.type,
      }),
      bios: compact({
        smanufacturer: doc.system.manufacturer,
        smodel: doc.system.productName,
        ssn: doc.system.serialNumber,
        skunumber: doc.system.sku,
        mmanufacturer: doc.baseboard.manufacturer,
        mmodel: doc.baseboard.productName,
        msn: doc.baseboard.serialNumber,
        bmanufacturer: doc.bios.vendor,
        bversion: doc.bios.version,
        bdate: glpiDate(doc.bios.releaseDate),
        assettag: doc.chassis.assetTag ?? doc.baseboard.assetTag,
        enclosureserial: doc.chassis.serialNumber,
      }),
      cpus,
      memories: doc.memory.dimms.map((m, index) =>
        compact({
          caption: m.locator,
          description: m.formFactor,
          capacity: mb(m.sizeBytes, MIB),
          type: m.type,
          speed: m.speedMts === null ? null : String(m.speedMts),
          manufacturer: m.manufacturer,
          serialnumber: m.serialNumber,
          model: m.partNumber,
          formfactor: m.formFactor,
          numslots: index + 1,
        }),
      ),
      storages: doc.disks.map((k) =>
        compact({
          name: k.name,
          disksize: mb(k.sizeBytes, MB),
          model: k.model,
          manufacturer: k.vendor,
          serial: k.serialNumber,
          firmware: k.firmwareVersion,
          interface: k.transport?.toUpperCase() ?? null,
          wwn: k.wwn,
          type: k.removable ? "removable" : "disk",
        }),
      ),
      networks,
      powersupplies: doc.powerSupplies.map((p) =>
        compact({
          name: p.name,
          location: p.location,
          manufacturer: p.manufacturer,
          serialnumber: p.serialNumber,
          partnum: p.modelPartNumber,
          power_max: p.maxPowerWatts,
          status: p.status,
        }),
      ),
    },
  };
}

export interface GlpiSendOptions {
  url: string;
  compress: boolean;
  /** Sent as the Authorization header value, verbatim (GLPI's inventory endpoint takes none by
   * default; a proxy in front of it may). */
  authorization: string | null;
  fetch: typeof globalThis.fetch;
}

/** POSTs one inventory; returns null when GLPI answered ok, else the reason. Never throws. */
export async function sendGlpi(
  doc: Inventory,
  inventory: GlpiInventory,
  options: GlpiSendOptions,
): Promise<string | null> {
  const json = Buffer.from(JSON.stringify(inventory));
  const headers: Record<string, string> = {
    "Content-Type": options.compress ? "application/x-compress-zlib" : "application/json",
    "GLPI-Agent-ID": glpiAgentId(doc),
    "User-Agent": inventory.content.versionclient,
  };
  if (options.authorization) headers.Authorization = options.authorization;
  try {
    const response = await options.fetch(options.url, {
      method: "POST",
      headers,
      body: options.compress ? deflateSync(json) : json,
      signal: AbortSignal.timeout(60_000),
    });
    // GLPI answers a few hundred bytes; more is not GLPI.
    const text = (await readBodyLimited(response, MAX_ANSWER_BYTES))
      .toString("utf8")
      .slice(0, 2000);
    if (!response.ok) return `GLPI answered HTTP ${response.status}: ${text.trim()}`;
    let answer: { status?: unknown; message?: unknown } = {};
    try {
      answer = JSON.parse(text);
    } catch {
      return `GLPI answered HTTP ${response.status} with no JSON: ${text.trim().slice(0, 200)}`;
    }
    if (answer.status === "ok") return null;
    return `GLPI refused it: ${String(answer.message ?? answer.status ?? text)}`;
  } catch (error) {
    return `cannot reach ${options.url}: ${errorText(error)}`;
  }
}

export const glpiTarget: ExportTarget = {
  name: "glpi",
  summary: "GLPI native inventory JSON (GLPI 10+), one document per node",
  help: `Maps each document to GLPI's native inventory format ({"action":"inventory","deviceid":...,
"itemtype":"Computer","content":{...}}). deviceid is "recon-<system UUID>" (or
"recon-<nodeId>" without one), the same on every boot. Memory in MiB, disks in MB, PSUs in W;
the BMC is a network entry with management: true.
  --out DIR     writes <nodeId>.json per node
  --url URL     POSTs each document to GLPI's inventory endpoint (e.g.
                https://glpi.example/front/inventory.php) with a GLPI-Agent-ID header
  --compress    sends zlib (application/x-compress-zlib) instead of application/json
  --token-file F  its first line is sent as the Authorization header, verbatim
  --dry-run     prints what would be sent; writes and sends nothing`,
  options: { compress: { type: "boolean", default: false } },
  async start(context): Promise<ExportSession> {
    await startFileOrSend("glpi", context);
    return {
      async node(doc) {
        const inventory = toGlpi(doc);
        const c = inventory.content;
        const what = `deviceid ${inventory.deviceid}: ${c.cpus.length} cpus, ${c.memories.length} memories, ${c.storages.length} storages, ${c.networks.length} networks, ${c.powersupplies.length} powersupplies`;
        if (context.dryRun) return { outcome: "planned", detail: `would send ${what}` };
        if (context.out !== null) {
          const file = join(context.out, `${doc.nodeId}.json`);
          try {
            await writeFile(file, `${JSON.stringify(inventory, null, 2)}\n`);
          } catch (error) {
            return { outcome: "failed", detail: `cannot write ${file}: ${errorText(error)}` };
          }
          if (context.url === null) return { outcome: "written", detail: `${file}: ${what}` };
        }
        const refused = await sendGlpi(doc, inventory, {
          url: context.url ?? "",
          compress: context.values.compress === true,
          authorization: context.token,
          fetch: context.fetch,
        });
        return refused === null
          ? { outcome: "sent", detail: what }
          : { outcome: "failed", detail: refused };
      },
      async finish() {},
    };
  },
};
