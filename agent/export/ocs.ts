// OCS Inventory NG export: the XML inventory an OCS agent sends (`<REQUEST>` with `INVENTORY`),
// one per node, and its sender (POST, zlib, `application/x-compress`, as the agents do). Each
// CONTENT section is an OCS table and each element a column
// (/usr/share/perl5/Apache/Ocsinventory/Map.pm of ocsinventory-server 2.8); only those are
// written. Units as OCS stores them: memory and disk sizes in MB as the OCS agents compute them
// (2^20 bytes), speeds in MHz, MT/s and Mb/s. The BMC is one more NETWORKS entry with
// DESCRIPTION `bmc`, as the OCS and FusionInventory agents' IPMI modules write it.
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { deflateSync, gunzipSync, inflateSync } from "node:zlib";
import type { Inventory } from "../../schema/inventory.ts";
import { cleanString } from "../normalize.ts";
import { errorText, readBodyLimited } from "./source.ts";
import { type ExportSession, type ExportTarget, startFileOrSend } from "./target.ts";

export type OcsFields = Record<string, string>;

/** CONTENT, in the order the sections are written. SLOTS: recon has no SMBIOS slot records. */
export interface OcsContent {
  HARDWARE: OcsFields;
  BIOS: OcsFields;
  CPUS: OcsFields[];
  MEMORIES: OcsFields[];
  STORAGES: OcsFields[];
  NETWORKS: OcsFields[];
  CONTROLLERS: OcsFields[];
}

export interface OcsInventory {
  deviceId: string;
  content: OcsContent;
}

/**
 * HARDWARE/CHECKSUM: the bitmask of sections the server rewrites (Map.pm's `mask`); without it
 * the 2.8 server builds broken SQL. 4128767 = every non-SNMP section, so sections a machine no
 * longer has (a removed disk) are emptied too.
 */
export const OCS_CHECKSUM = 4128767;
/**
 * The server refuses a DEVICEID not ending in `-YYYY-MM-DD-HH-MM-SS`
 * (Apache::Ocsinventory::Server::System::_check_deviceid). An agent puts the time it first ran
 * there and keeps it on disk; a live image has no disk to keep it on, so recon writes a fixed
 * time (the Unix epoch, "no time") after the nodeId: the same machine always sends the same
 * DEVICEID, and the server updates its record in place.
 */
export const OCS_DEVICEID_SUFFIX = "-1970-01-01-00-00-00";
const MIB = 1024 * 1024;
const MAX_ANSWER_BYTES = 64 * 1024;

export function ocsDeviceId(doc: Inventory): string {
  return `${doc.nodeId}${OCS_DEVICEID_SUFFIX}`;
}

/** Keeps only known values, as text (null and placeholders dropped: never "Not Specified"). */
function fields(entries: Record<string, string | number | null | undefined>): OcsFields {
  const out: OcsFields = {};
  for (const [key, value] of Object.entries(entries)) {
    if (value === null || value === undefined) continue;
    const text = typeof value === "number" ? String(value) : cleanString(value);
    if (text !== null) out[key] = text;
  }
  return out;
}

function mib(bytes: number | null): number | null {
  return bytes === null ? null : Math.round(bytes / MIB);
}

/** Prefix length to a dotted IPv4 mask; null when it is not 0..32. */
function ipv4Mask(bits: number): string | null {
  if (!Number.isInteger(bits) || bits < 0 || bits > 32) return null;
  const value = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
  return [24, 16, 8, 0].map((s) => (value >>> s) & 255).join(".");
}

/** The network address of an IPv4 address under a dotted mask (IPSUBNET); null if either is not IPv4. */
function ipv4Subnet(ip: string, mask: string): string | null {
  const a = ip.split(".").map(Number);
  const m = mask.split(".").map(Number);
  const octet = (o: number) => Number.isInteger(o) && o >= 0 && o <= 255;
  if (a.length !== 4 || m.length !== 4 || !a.every(octet) || !m.every(octet)) return null;
  return a.map((o, i) => o & (m[i] ?? 0)).join(".");
}

/** "10.0.0.5/24" to address, mask and subnet (IPMASK and IPSUBNET as OCS agents fill them). */
function ipv4Parts(cidr: string): { ip: string; mask: string | null; subnet: string | null } {
  const [ip = cidr, prefix] = cidr.split("/");
  const mask = prefix === undefined ? null : ipv4Mask(Number(prefix));
  return { ip, mask, subnet: mask === null ? null : ipv4Subnet(ip, mask) };
}

/** The pure mapping: one valid document to one OCS inventory. */
export function toOcs(doc: Inventory): OcsInventory {
  const arch = doc.cpu.architecture;
  const first = doc.processors[0];
  const cpus =
    doc.processors.length > 0
      ? doc.processors.map((p) =>
          fields({
            MANUFACTURER: p.manufacturer,
            TYPE: p.model,
            SPEED: p.maxSpeedMhz,
            CURRENT_SPEED: p.currentSpeedMhz,
            CORES: p.cores,
            LOGICAL_CPUS: p.threads,
            SOCKET: p.socket,
            CPUARCH: arch,
          }),
        )
      : // No SMBIOS processor records (VMs, some ARM boards): one entry per socket from lscpu.
        Array.from({ length: doc.cpu.model ? (doc.cpu.sockets ?? 1) : 0 }, () =>
          fields({
            TYPE: doc.cpu.model,
            CORES: doc.cpu.coresPerSocket,
            LOGICAL_CPUS:
              doc.cpu.coresPerSocket !== null && doc.cpu.threadsPerCore !== null
                ? doc.cpu.coresPerSocket * doc.cpu.threadsPerCore
                : null,
            CPUARCH: arch,
          }),
        );
  const networks: OcsFields[] = [];
  for (const n of doc.nics) {
    const base = {
      DESCRIPTION: n.name,
      TYPE: n.pciAddress !== null ? "ethernet" : null,
      SPEED: n.speedMbps === null ? null : `${n.speedMbps} Mb/s`,
      MTU: n.mtu,
      MACADDR: n.permanentMacAddress ?? n.macAddress,
      STATUS: n.linkUp === null ? null : n.linkUp ? "Up" : "Down",
      // The OCS agent's rule: a device without a bus device (no PCI address) is virtual.
      VIRTUALDEV: n.pciAddress === null ? 1 : 0,
    };
    // One entry per address, as the agents write it (OCS keeps one address per row).
    const v4 = n.ipv4.map(ipv4Parts);
    if (v4.length === 0 && n.ipv6.length === 0) networks.push(fields(base));
    for (const a of v4) {
      networks.push(fields({ ...base, IPADDRESS: a.ip, IPMASK: a.mask, IPSUBNET: a.subnet }));
    }
    for (const cidr of n.ipv6) {
      const [ip, prefix] = cidr.split("/");
      networks.push(fields({ ...base, IPADDRESS: ip, IPMASK: prefix ?? null }));
    }
  }
  if (doc.bmc !== null) {
    const { ipv4Address, netmask } = doc.bmc;
    networks.push(
      fields({
        DESCRIPTION: "bmc",
        TYPE: "ethernet",
        MACADDR: doc.bmc.macAddress,
        IPADDRESS: ipv4Address,
        IPMASK: netmask,
        IPSUBNET:
          ipv4Address !== null && netmask !== null ? ipv4Subnet(ipv4Address, netmask) : null,
        IPGATEWAY: doc.bmc.gateway,
        VIRTUALDEV: 0,
      }),
    );
  }
  return {
    deviceId: ocsDeviceId(doc),
    content: {
      HARDWARE: fields({
        // The live image's hostname names the image, not the machine.
        NAME: doc.nodeId,
        UUID: doc.system.uuid,
        MEMORY: mib(doc.memory.totalBytes),
        PROCESSORT: doc.cpu.model ?? first?.model ?? null,
        // OCS: PROCESSORS is the speed in MHz, PROCESSORN the number of processors.
        PROCESSORS: first?.currentSpeedMhz ?? first?.maxSpeedMhz ?? null,
        PROCESSORN: doc.processors.length > 0 ? doc.processors.length : doc.cpu.sockets,
        ARCH: arch,
        CHECKSUM: OCS_CHECKSUM,
      }),
      BIOS: fields({
        SMANUFACTURER: doc.system.manufacturer,
        SMODEL: doc.system.productName,
        SSN: doc.system.serialNumber,
        TYPE: doc.chassis.type,
        BMANUFACTURER: doc.bios.vendor,
        BVERSION: doc.bios.version,
        // As the firmware reports it (MM/DD/YYYY): what OCS agents send from dmidecode.
        BDATE: doc.bios.releaseDate,
        ASSETTAG: doc.chassis.assetTag ?? doc.baseboard.assetTag,
        MMANUFACTURER: doc.baseboard.manufacturer,
        MMODEL: doc.baseboard.productName,
        MSN: doc.baseboard.serialNumber,
      }),
      CPUS: cpus,
      MEMORIES: doc.memory.dimms.map((m, index) =>
        fields({
          CAPTION: m.locator,
          DESCRIPTION: m.formFactor,
          CAPACITY: mib(m.sizeBytes),
          TYPE: m.type,
          SPEED: m.speedMts,
          NUMSLOTS: index + 1,
          SERIALNUMBER: m.serialNumber,
        }),
      ),
      STORAGES: doc.disks.map((k) =>
        fields({
          MANUFACTURER: k.vendor,
          NAME: k.name,
          MODEL: k.model,
          DESCRIPTION: k.transport?.toUpperCase() ?? null,
          TYPE: k.removable ? "removable" : "disk",
          DISKSIZE: mib(k.sizeBytes),
          SERIALNUMBER: k.serialNumber,
          FIRMWARE: k.firmwareVersion,
        }),
      ),
      NETWORKS: networks,
      CONTROLLERS: doc.pciDevices.map((d) =>
        fields({
          MANUFACTURER: d.vendorName,
          NAME: d.deviceName,
          CAPTION: d.address,
          DESCRIPTION: d.driver === null ? null : `driver ${d.driver}`,
          VERSION: d.revision,
          TYPE: d.className,
        }),
      ),
    },
  };
}

/**
 * Text content: `&`, `<`, `>` escaped; characters XML 1.0 cannot carry at all (controls other
 * than tab/LF/CR, lone surrogates, U+FFFE/U+FFFF) become U+FFFD, or the server's parser refuses
 * the whole inventory.
 */
export function xmlText(value: string): string {
  return value
    .replace(/[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu, "\uFFFD")
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;");
}

function element(name: string, record: OcsFields, indent: string): string {
  const inner = Object.entries(record)
    .map(([key, value]) => `${indent}  <${key}>${xmlText(value)}</${key}>\n`)
    .join("");
  return `${indent}<${name}>\n${inner}${indent}</${name}>\n`;
}

/** The request body an OCS agent sends, before compression. */
export function ocsXml(inventory: OcsInventory): string {
  const sections = Object.entries(inventory.content)
    .flatMap(([name, value]: [string, OcsFields | OcsFields[]]) =>
      (Array.isArray(value) ? value : [value])
        // Nothing known (a BMC-only capture has no BIOS facts): no empty element.
        .filter((record) => Object.keys(record).length > 0)
        .map((record) => element(name, record, "    ")),
    )
    .join("");
  return `<?xml version="1.0" encoding="UTF-8"?>
<REQUEST>
  <DEVICEID>${xmlText(inventory.deviceId)}</DEVICEID>
  <QUERY>INVENTORY</QUERY>
  <CONTENT>
${sections}  </CONTENT>
</REQUEST>
`;
}

/** The RESPONSE of an OCS `<REPLY>`, or null when the body is no reply. */
export function parseOcsReply(text: string): string | null {
  if (!/<REPLY>/.test(text)) return null;
  return /<RESPONSE>([^<]*)<\/RESPONSE>/.exec(text)?.[1]?.trim() ?? "";
}

/** The reply body in the request's encoding (zlib), or gzip, or plain, as the server may send. */
function decodeBody(body: Buffer): string {
  for (const decode of [inflateSync, gunzipSync]) {
    try {
      return decode(body).toString("utf8");
    } catch {
      // next encoding
    }
  }
  return body.toString("utf8");
}

/** An error page's words, for the node's detail (Apache answers HTML). */
function pageText(text: string): string {
  return text
    .replace(/<title>[^<]*<\/title>/i, "")
    .replace(/<[^>]*>/g, " ")
    .replace(/\s+/g, " ")
    .trim()
    .slice(0, 300);
}

export interface OcsSendOptions {
  url: string;
  fetch: typeof globalThis.fetch;
  /** The User-Agent header (hardware.USERAGENT holds 50 characters). */
  userAgent: string;
}

export type OcsSendResult = { ok: true; response: string } | { ok: false; reason: string };

/** POSTs one inventory as an OCS agent does. Never throws. */
export async function sendOcs(
  inventory: OcsInventory,
  options: OcsSendOptions,
): Promise<OcsSendResult> {
  try {
    const response = await options.fetch(options.url, {
      method: "POST",
      headers: { "Content-Type": "application/x-compress", "User-Agent": options.userAgent },
      body: deflateSync(Buffer.from(ocsXml(inventory))),
      signal: AbortSignal.timeout(60_000),
    });
    // The server answers a few hundred bytes; more is not OCS.
    const text = decodeBody(await readBodyLimited(response, MAX_ANSWER_BYTES));
    if (!response.ok) {
      const words = pageText(text);
      return {
        ok: false,
        reason: `OCS answered HTTP ${response.status} ${response.statusText}${words ? `: ${words}` : ""}`,
      };
    }
    const reply = parseOcsReply(text);
    if (reply === null) {
      return {
        ok: false,
        reason: `OCS answered HTTP ${response.status} with no REPLY: ${pageText(text).slice(0, 200)}`,
      };
    }
    return { ok: true, response: reply };
  } catch (error) {
    return { ok: false, reason: `cannot reach ${options.url}: ${errorText(error)}` };
  }
}

function counts(c: OcsContent): string {
  return `${c.CPUS.length} cpus, ${c.MEMORIES.length} memories, ${c.STORAGES.length} storages, ${c.NETWORKS.length} networks, ${c.CONTROLLERS.length} controllers`;
}

export const ocsTarget: ExportTarget = {
  name: "ocs",
  summary: "OCS Inventory NG agent XML (REQUEST/INVENTORY), one per node",
  help: `Maps each document to the XML inventory an OCS Inventory NG agent sends
(<REQUEST><DEVICEID>..</DEVICEID><QUERY>INVENTORY</QUERY><CONTENT>..</CONTENT></REQUEST>).
DEVICEID is "<nodeId>${OCS_DEVICEID_SUFFIX}", the same on every boot, so a re-import updates
the machine in place. Memory and disks in MB (2^20 bytes); the BMC is a NETWORKS entry with
DESCRIPTION "bmc".
  --out DIR     writes <nodeId>.ocs per node: the plain XML an agent's --local run writes,
                which the server's ocsinventory-injector imports (-d DIR -u URL)
  --url URL     POSTs each one zlib-compressed (Content-Type: application/x-compress) to the
                server's agent endpoint, e.g. http://ocs.example/ocsinventory
  --dry-run     prints what would be sent; writes and sends nothing
OCS answers a new and a known machine alike, so a node it accepted is "sent".`,
  options: {},
  async start(context): Promise<ExportSession> {
    await startFileOrSend("ocs", context);
    return {
      async node(doc) {
        const inventory = toOcs(doc);
        const what = `DEVICEID ${inventory.deviceId}: ${counts(inventory.content)}`;
        if (context.dryRun) return { outcome: "planned", detail: `would send ${what}` };
        if (context.out !== null) {
          const file = join(context.out, `${doc.nodeId}.ocs`);
          try {
            await writeFile(file, ocsXml(inventory));
          } catch (error) {
            return { outcome: "failed", detail: `cannot write ${file}: ${errorText(error)}` };
          }
          if (context.url === null) return { outcome: "written", detail: `${file}: ${what}` };
        }
        const sent = await sendOcs(inventory, {
          url: context.url ?? "",
          fetch: context.fetch,
          userAgent: `${doc.agent.name}_v${doc.agent.version}`.slice(0, 50),
        });
        return sent.ok
          ? { outcome: "sent", detail: `${what}; OCS answered ${sent.response}` }
          : { outcome: "failed", detail: sent.reason };
      },
      async finish() {},
    };
  },
};
