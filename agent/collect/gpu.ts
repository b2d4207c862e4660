// GPUs and accelerators: every PCI function of class 03xx (display) or 12xx (processing
// accelerator), with what `nvidia-smi -q -x` adds for NVIDIA cards (UUID, serial, VBIOS, memory)
// and amdgpu's VRAM size from sysfs. nvidia-smi only runs when lspci or sysfs shows an NVIDIA
// function: on every other machine it would be one more process start for nothing.
import type { Gpu, PciDevice } from "../../schema/inventory.ts";
import type { Probe } from "../exec.ts";
import { cleanString, parseBinarySize } from "../normalize.ts";
import { type PciSysfs, pciSysfsAt } from "./pci-sysfs.ts";
import {
  binaryProblem,
  type Collect,
  isBlank,
  type Parsed,
  parseOutput,
  reportParsed,
  usableOutput,
} from "./types.ts";

export const NVIDIA_VENDOR_ID = "10de";

/** What nvidia-smi says about one GPU. */
export interface NvidiaGpu {
  /** lowercase dddd:bb:dd.f, so it joins pciDevices[].address. */
  pciAddress: string | null;
  model: string | null;
  uuid: string | null;
  serialNumber: string | null;
  vbiosVersion: string | null;
  memoryBytes: number | null;
}

const ENTITIES: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };

function decodeXml(text: string): string {
  return text.replace(/&(amp|lt|gt|quot|apos|#\d{1,7}|#x[0-9a-f]{1,6});/gi, (whole, name) => {
    const key = String(name).toLowerCase();
    if (key.startsWith("#x")) return safeCodePoint(Number.parseInt(key.slice(2), 16), whole);
    if (key.startsWith("#")) return safeCodePoint(Number.parseInt(key.slice(1), 10), whole);
    return ENTITIES[key] ?? whole;
  });
}

function safeCodePoint(code: number, fallback: string): string {
  return Number.isInteger(code) && code > 0 && code <= 0x10ffff
    ? String.fromCodePoint(code)
    : fallback;
}

/** The text of the first `<tag>` directly holding text (no child elements) inside `xml`. */
function element(xml: string, tag: string): string | null {
  const match = new RegExp(`<${tag}(?:\\s[^>]*)?>([^<]*)</${tag}>`).exec(xml);
  return match?.[1] === undefined ? null : cleanString(decodeXml(match[1]));
}

/** The inner XML of the first `<tag>...</tag>` block. */
function block(xml: string, tag: string): string | null {
  const start = new RegExp(`<${tag}(?:\\s[^>]*)?>`).exec(xml);
  if (!start) return null;
  const from = start.index + start[0].length;
  const end = xml.indexOf(`</${tag}>`, from);
  return end < 0 ? null : xml.slice(from, end);
}

/**
 * nvidia-smi's bus id to the sysfs form: drivers up to ~400 print `0000:04:00.0`, later ones an
 * 8-digit domain, `00000000:07:00.0`; hex digits are uppercase in both.
 */
export function normalizeNvidiaBusId(value: string | null): string | null {
  const match = /^([0-9a-f]{1,8}):([0-9a-f]{2}):([0-9a-f]{2})\.([0-7])$/i.exec(value?.trim() ?? "");
  if (!match) return null;
  const [, domain = "", bus = "", device = "", fn = ""] = match;
  const domainHex = Number.parseInt(domain, 16).toString(16).padStart(4, "0");
  return `${domainHex}:${bus}:${device}.${fn}`.toLowerCase();
}

/**
 * Parses `nvidia-smi -q -x`; never throws. Real input (Apache Hadoop's test resources, driver
 * 375.66, two Tesla P100, trimmed):
 *
 *     <nvidia_smi_log>
 *         <gpu id="0000:04:00.0">
 *             <product_name>Tesla P100-PCIE-12GB</product_name>
 *             <serial>0320717030197</serial>
 *             <uuid>GPU-28604e81-21ec-cc48-6759-bf2648b22e16</uuid>
 *             <vbios_version>86.00.3A.00.02</vbios_version>
 *             <pci> ... <pci_bus_id>0000:04:00.0</pci_bus_id> ... </pci>
 *             <fb_memory_usage>
 *                 <total>11567 MiB</total>
 *
 * `N/A` (consumer cards have no serial) is null. The memory is the framebuffer's total, which
 * nvidia-smi reports after the driver's reservation (11567 MiB on a 12 GB card).
 */
export function parseNvidiaSmi(text: string): NvidiaGpu[] {
  if (typeof text !== "string") return [];
  const gpus: NvidiaGpu[] = [];
  const open = /<gpu(?:\s[^>]*)?>/g;
  for (let match = open.exec(text); match !== null; match = open.exec(text)) {
    const from = match.index + match[0].length;
    const end = text.indexOf("</gpu>", from);
    const xml = end < 0 ? text.slice(from) : text.slice(from, end);
    const idAttr = /\sid="([^"]*)"/.exec(match[0])?.[1] ?? null;
    const pci = block(xml, "pci");
    const fb = block(xml, "fb_memory_usage");
    gpus.push({
      pciAddress:
        normalizeNvidiaBusId(pci === null ? null : element(pci, "pci_bus_id")) ??
        normalizeNvidiaBusId(idAttr),
      model: element(xml, "product_name"),
      uuid: element(xml, "uuid"),
      serialNumber: element(xml, "serial"),
      vbiosVersion: element(xml, "vbios_version"),
      memoryBytes: fb === null ? null : parseBinarySize(element(fb, "total")),
    });
    if (end < 0) break;
  }
  return gpus;
}

/**
 * `parseNvidiaSmi`, and a problem when the text is not nvidia-smi's XML (no `<nvidia_smi_log>`),
 * holds binary bytes, or is cut off before `</nvidia_smi_log>` (the GPUs read are kept).
 */
export function readNvidiaSmi(text: string): Parsed<NvidiaGpu[]> {
  if (typeof text !== "string" || isBlank(text)) return { value: [], problem: null };
  const value = parseNvidiaSmi(text);
  const binary = binaryProblem(text);
  if (binary !== null) return { value, problem: binary };
  if (!/<nvidia_smi_log\s*>/.test(text))
    return { value, problem: `no <nvidia_smi_log> element in ${text.length} characters` };
  if (!text.includes("</nvidia_smi_log>"))
    return { value, problem: `cut off: no </nvidia_smi_log> after ${text.length} characters` };
  return { value, problem: null };
}

export const nvidiaSmiProbe: Probe = {
  file: "nvidia-smi-q-x.xml",
  source: { kind: "command", argv: ["nvidia-smi", "-q", "-x"], versionArgv: ["--version"] },
  timeoutMs: 30_000,
};

/** PCI class 03xx (VGA, 3D, display controllers) or 12xx (processing accelerators). */
export function isGpuClass(classId: string | null): boolean {
  return classId !== null && /^(03|12)[0-9a-f]{2}$/.test(classId);
}

/** Whether the machine has an NVIDIA display or accelerator function (then nvidia-smi is worth a run). */
export function hasNvidiaGpu(devices: PciDevice[], sysfs: PciSysfs): boolean {
  const nvidia = (vendor: string | null, cls: string | null) =>
    vendor === NVIDIA_VENDOR_ID && isGpuClass(cls);
  return (
    devices.some((d) => nvidia(d.vendorId, d.classId)) ||
    Object.values(sysfs).some((f) => nvidia(f.vendorId, f.classId))
  );
}

/** nvidia-smi when `wanted` (an NVIDIA function is present); otherwise a skipped entry and []. */
export function nvidiaSmiCollector(wanted: boolean): Collect<NvidiaGpu[]> {
  return async (runner, signal) => {
    if (!wanted) {
      return {
        value: [],
        reports: [
          {
            name: "nvidia-smi",
            status: "skipped",
            durationMs: 0,
            command: null,
            exitCode: null,
            message: "no NVIDIA display or accelerator function on the PCI bus",
          },
        ],
      };
    }
    const result = await runner.run(nvidiaSmiProbe, signal);
    const { value, problem } = parseOutput(usableOutput(result), readNvidiaSmi, []);
    return { value, reports: [reportParsed("nvidia-smi", result, problem)] };
  };
}

/**
 * gpus[]: one entry per display or accelerator function of pciDevices (merged with sysfs), in
 * address order, enriched by nvidia-smi (joined by PCI address) and amdgpu's VRAM. A GPU that
 * nvidia-smi reports and lspci did not list (lspci missing) is kept with what nvidia-smi knows.
 */
export function buildGpus(devices: PciDevice[], sysfs: PciSysfs, nvidia: NvidiaGpu[]): Gpu[] {
  const byAddress = new Map(nvidia.filter((g) => g.pciAddress).map((g) => [g.pciAddress, g]));
  const gpus: Gpu[] = [];
  const seen = new Set<string>();
  for (const device of devices) {
    const facts = pciSysfsAt(sysfs, device.address);
    if (!isGpuClass(device.classId ?? facts?.classId ?? null)) continue;
    const smi = byAddress.get(device.address);
    seen.add(device.address);
    gpus.push({
      pciAddress: device.address,
      vendor: device.vendorName ?? device.vendorId ?? facts?.vendorId ?? null,
      model: smi?.model ?? device.deviceName ?? null,
      uuid: smi?.uuid ?? null,
      serialNumber: smi?.serialNumber ?? null,
      vbiosVersion: smi?.vbiosVersion ?? null,
      memoryBytes: smi?.memoryBytes ?? facts?.vramBytes ?? null,
      driver: device.driver ?? facts?.driver ?? null,
      numaNode: device.numaNode ?? facts?.numaNode ?? null,
    });
  }
  // Without lspci: the sysfs functions of a GPU class, then nvidia-smi's own.
  for (const [address, facts] of Object.entries(sysfs)) {
    if (seen.has(address) || !isGpuClass(facts.classId)) continue;
    const smi = byAddress.get(address);
    seen.add(address);
    gpus.push({
      pciAddress: address,
      vendor: facts.vendorId,
      model: smi?.model ?? null,
      uuid: smi?.uuid ?? null,
      serialNumber: smi?.serialNumber ?? null,
      vbiosVersion: smi?.vbiosVersion ?? null,
      memoryBytes: smi?.memoryBytes ?? facts.vramBytes,
      driver: facts.driver,
      numaNode: facts.numaNode,
    });
  }
  for (const smi of nvidia) {
    if (smi.pciAddress !== null && seen.has(smi.pciAddress)) continue;
    if (smi.pciAddress !== null) seen.add(smi.pciAddress);
    gpus.push({
      pciAddress: smi.pciAddress,
      vendor: NVIDIA_VENDOR_ID,
      model: smi.model,
      uuid: smi.uuid,
      serialNumber: smi.serialNumber,
      vbiosVersion: smi.vbiosVersion,
      memoryBytes: smi.memoryBytes,
      driver: null,
      numaNode: null,
    });
  }
  return gpus.sort((a, b) => (a.pciAddress ?? "~").localeCompare(b.pciAddress ?? "~"));
}
