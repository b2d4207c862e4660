// NetBox export: the pure mapping from one document to the NetBox objects it describes
// (manufacturer, device type, device, interfaces, MAC address objects, the BMC's interface and
// IP address, inventory items), and the target; the sync (client, plan, apply) is beside it in
// netbox-sync.ts.
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Inventory } from "../../schema/inventory.ts";
import { ERROR_CODES, ReconError } from "../errors.ts";
import { makeDirectory } from "../fs.ts";
import { cleanString } from "../normalize.ts";
import {
  type Body,
  type Json,
  lookup,
  modeForVersion,
  NetboxClient,
  netboxVersion,
  planText,
  prepare,
  RECON_TAG,
  syncNode,
  UUID_FIELD,
} from "./netbox-sync.ts";
import { errorText } from "./source.ts";
import type { ExportSession, ExportTarget } from "./target.ts";

export {
  authorization,
  NetboxClient,
  planText,
  RECON_TAG,
  syncNode,
  UUID_FIELD,
} from "./netbox-sync.ts";

export interface NetboxInterface {
  name: string;
  body: Body;
  /** The MAC address object assigned to it (and made primary), if the NIC has one. */
  mac: string | null;
  /** The BMC's address ("10.0.0.5/24"), assigned to this interface and set as device.oob_ip. */
  oobAddress: string | null;
  /** The switch port LLDP saw (nics[].lldp): cabled to it when both are in NetBox. */
  neighbor: { device: string; port: string } | null;
}

/** Modules in module bays with profiled module types (NetBox 4.3+), or inventory items. */
export type NetboxMode = "modules" | "inventory-items";

export type ModuleKind = "cpu" | "memory" | "disk" | "psu" | "gpu";

/** NetBox's built-in module type profiles (4.3+, by name) and the attributes their JSON schemas
 * require (../shared/reference/netbox/module_type_profiles/). */
export const PROFILES: Record<ModuleKind, { name: string; required: string[] }> = {
  cpu: { name: "CPU", required: [] },
  memory: { name: "Memory", required: ["class", "size"] },
  disk: { name: "Hard disk", required: ["size"] },
  psu: { name: "Power supply", required: ["input_current", "input_voltage"] },
  gpu: { name: "GPU", required: ["memory"] },
};

/** One hardware part: the facts its module type, module or inventory item carry. */
export interface NetboxComponent {
  kind: ModuleKind;
  /** Unique per device: the name of its module bay or inventory item. */
  name: string;
  manufacturer: string | null;
  model: string | null;
  partNumber: string | null;
  serial: string | null;
  /** Of the module type (shared by every part of that model). */
  description: string | null;
  /** Of the inventory item. */
  itemDescription: string | null;
  /** Of the module (what tells this part from others of its model: a GPU's UUID, VBIOS). */
  moduleDescription: string | null;
  watts: number | null;
  /** The profile's attribute data: only what is known. */
  attributes: Body;
}

/** A module in its own bay; module_bay and module_type are set by the sync once they exist. */
export interface NetboxModule {
  kind: ModuleKind;
  bay: Body;
  /** Keyed in NetBox by manufacturer and model; profile and attribute_data only on 4.3+. */
  moduleType: Body;
  module: Body;
  /** The profile's name when the attributes it requires are known. */
  profile: string | null;
}

/** Everything one document becomes in NetBox, before any id is known. */
export interface NetboxObjects {
  mode: NetboxMode;
  manufacturer: Body | null;
  deviceType: Body | null;
  device: Body;
  /** Identity keys: never a placeholder. */
  uuid: string | null;
  serial: string | null;
  interfaces: NetboxInterface[];
  /** All parts in inventory-items mode; in modules mode those without a maker or model. */
  inventoryItems: Body[];
  modules: NetboxModule[];
  /** One per PSU, named as its module bay or inventory item, with maximum_draw (W) if known. */
  powerPorts: Body[];
}

/** The site and role as NetBox holds them ({name, slug}); --out knows only their slugs. */
export interface NetboxScope {
  site: { name?: string; slug: string };
  role: { name?: string; slug: string };
}

export function slugify(text: string): string {
  return (
    text
      .toLowerCase()
      .replace(/[^a-z0-9_]+/g, "-")
      .replace(/^-+|-+$/g, "")
      .slice(0, 100) || "unknown"
  );
}

const SPEED_TYPES: Record<number, string> = {
  100: "100base-tx",
  1000: "1000base-t",
  2500: "2.5gbase-t",
  5000: "5gbase-t",
  10000: "10gbase-x-sfpp",
  25000: "25gbase-x-sfp28",
  40000: "40gbase-x-qsfpp",
  50000: "50gbase-x-sfp56",
  100000: "100gbase-x-qsfp28",
  200000: "200gbase-x-qsfp56",
  400000: "400gbase-x-qsfpdd",
};

/**
 * NetBox's interface type value. The document has no port type, so a speed names its usual
 * port (10G as SFP+, 1G as copper); a NIC without a PCI address is virtual, a bond a LAG, and
 * an unknown speed "other" (never a guess).
 */
export function interfaceType(nic: Inventory["nics"][number]): string {
  if (/^(bond|team)\d*/.test(nic.name)) return "lag";
  if (nic.pciAddress === null) return "virtual";
  return (nic.speedMbps !== null && SPEED_TYPES[nic.speedMbps]) || "other";
}

function prefixLength(netmask: string | null): number {
  if (netmask === null) return 32;
  const bits = netmask
    .split(".")
    .map((o) => Number(o).toString(2).padStart(8, "0"))
    .join("");
  return /^1*0*$/.test(bits) && bits.length === 32
    ? bits.indexOf("0") === -1
      ? 32
      : bits.indexOf("0")
    : 32;
}

function put(body: Body, key: string, value: string | number | boolean | null, max?: number) {
  if (value === null) return;
  if (typeof value === "string") {
    const clean = cleanString(value);
    if (clean !== null) body[key] = max === undefined ? clean : clean.slice(0, max);
  } else body[key] = value;
}

/** The switch (by its LLDP system name, as NetBox names devices) and port LLDP saw. */
function neighborOf(nic: Inventory["nics"][number]): NetboxInterface["neighbor"] {
  const device = cleanString(nic.lldp?.systemName);
  const port = cleanString(nic.lldp?.portId);
  return device === null || port === null ? null : { device, port };
}

/** The pure mapping: one valid document to the NetBox objects it describes. */
export function toNetbox(
  doc: Inventory,
  scope: NetboxScope,
  mode: NetboxMode = "modules",
): NetboxObjects {
  const tags: Json = [{ ...RECON_TAG }];
  const maker = cleanString(doc.system.manufacturer);
  const model = cleanString(doc.system.productName);
  const manufacturer = maker === null ? null : { name: maker.slice(0, 100), slug: slugify(maker) };
  const deviceType: Body | null =
    manufacturer === null || model === null
      ? null
      : {
          manufacturer: { ...manufacturer },
          model: model.slice(0, 100),
          slug: slugify(`${maker} ${model}`),
          tags,
        };
  if (deviceType) put(deviceType, "part_number", doc.system.sku, 50);
  const uuid = cleanString(doc.system.uuid);
  const serial = cleanString(doc.system.serialNumber);
  const device: Body = {
    // The live image's hostname names the image, not the machine.
    name: doc.nodeId.slice(0, 64),
    role: { ...scope.role },
    site: { ...scope.site },
    tags,
    custom_fields: { [UUID_FIELD]: uuid },
  };
  if (deviceType)
    device.device_type = {
      manufacturer: deviceType.manufacturer as Body,
      model: deviceType.model as string,
      slug: deviceType.slug as string,
    };
  put(device, "serial", serial, 50);
  put(device, "asset_tag", doc.chassis.assetTag, 50);
  const deviceRef = { name: device.name as string };
  const interfaces: NetboxInterface[] = doc.nics.map((nic) => {
    const body: Body = {
      device: deviceRef,
      name: nic.name.slice(0, 64),
      type: interfaceType(nic),
      tags,
    };
    if (nic.speedMbps !== null) body.speed = nic.speedMbps * 1000;
    if (nic.mtu !== null) body.mtu = nic.mtu;
    if (nic.linkUp !== null) body.enabled = nic.linkUp;
    put(body, "description", nic.driver, 200);
    return {
      name: body.name as string,
      body,
      mac: nic.permanentMacAddress ?? nic.macAddress,
      oobAddress: null,
      neighbor: neighborOf(nic),
    };
  });
  if (doc.bmc !== null) {
    // NetBox has no IPMI interface type: the BMC is a management-only interface.
    const body: Body = { device: deviceRef, name: "bmc", type: "other", mgmt_only: true, tags };
    put(
      body,
      "description",
      doc.bmc.manufacturerName ? `BMC (${doc.bmc.manufacturerName})` : "BMC",
      200,
    );
    interfaces.push({
      name: "bmc",
      body,
      mac: doc.bmc.macAddress,
      oobAddress: doc.bmc.ipv4Address
        ? `${doc.bmc.ipv4Address}/${prefixLength(doc.bmc.netmask)}`
        : null,
      neighbor: null,
    });
  }
  const components = componentsOf(doc);
  const items: Body[] = [];
  const modules: NetboxModule[] = [];
  for (const c of components) {
    const partMaker = c.manufacturer === null ? null : c.manufacturer.slice(0, 100);
    if (mode === "modules" && partMaker !== null && c.model !== null) {
      const required = PROFILES[c.kind].required;
      // A profile only with every attribute it requires known (never a default in its place).
      const profiled = required.every((key) => c.attributes[key] !== undefined);
      const moduleType: Body = {
        manufacturer: { name: partMaker, slug: slugify(partMaker) },
        model: c.model.slice(0, 100),
        tags,
      };
      put(moduleType, "part_number", c.partNumber, 50);
      put(moduleType, "description", c.description, 200);
      if (profiled) {
        moduleType.profile = { name: PROFILES[c.kind].name };
        moduleType.attribute_data = c.attributes;
      }
      const module: Body = { device: deviceRef, status: "active", tags };
      put(module, "serial", c.serial, 50);
      put(module, "description", c.moduleDescription, 200);
      modules.push({
        kind: c.kind,
        bay: { device: deviceRef, name: c.name, tags },
        moduleType,
        module,
        profile: profiled ? PROFILES[c.kind].name : null,
      });
      continue;
    }
    // Inventory items (NetBox 4.2, --inventory-items, or a part whose maker or model is unknown:
    // NetBox requires both of a module type).
    const body: Body = { device: deviceRef, name: c.name, discovered: true, tags };
    put(body, "part_id", c.partNumber, 50);
    put(body, "serial", c.serial, 50);
    put(body, "description", c.itemDescription, 200);
    items.push(body);
  }
  const powerPorts = components
    .filter((c) => c.kind === "psu")
    .map((c) => {
      const port: Body = { device: deviceRef, name: c.name, tags };
      if (c.watts !== null && c.watts >= 1) port.maximum_draw = c.watts;
      return port;
    });
  return {
    mode,
    manufacturer: manufacturer && { ...manufacturer, tags },
    deviceType,
    device,
    uuid,
    serial,
    interfaces,
    inventoryItems: items,
    modules,
    powerPorts,
  };
}

/** The hardware parts of a document, named uniquely per device (the names of their inventory
 * items or module bays), with what each profile's attributes hold when known. */
export function componentsOf(doc: Inventory): NetboxComponent[] {
  const out: NetboxComponent[] = [];
  const add = (
    kind: ModuleKind,
    name: string,
    fields: Partial<Omit<NetboxComponent, "kind" | "name" | "attributes">>,
    attributes: Record<string, Json | null>,
  ) => {
    const known: Body = {};
    for (const [k, v] of Object.entries(attributes)) if (v !== null) known[k] = v;
    const manufacturer = cleanString(fields.manufacturer);
    out.push({
      kind,
      name: name.slice(0, 64),
      manufacturer,
      model: cleanString(fields.model),
      partNumber: cleanString(fields.partNumber),
      serial: cleanString(fields.serial),
      description: cleanString(fields.description),
      itemDescription: cleanString(fields.itemDescription ?? fields.description),
      moduleDescription: cleanString(fields.moduleDescription),
      watts: fields.watts ?? null,
      attributes: known,
    });
  };
  for (const [i, p] of doc.processors.entries()) {
    add(
      "cpu",
      `CPU ${cleanString(p.socket) ?? i}`,
      { manufacturer: p.manufacturer, model: p.model, partNumber: p.model, description: p.model },
      {
        architecture: cleanString(doc.cpu?.architecture),
        // SMBIOS "Current Speed" is the clock the CPU runs at; "Max Speed" is often the board's
        // ceiling (4000 MHz on most Xeon boards).
        speed: p.currentSpeedMhz === null ? null : p.currentSpeedMhz / 1000,
        cores: p.cores,
      },
    );
  }
  for (const [i, m] of doc.memory.dimms.entries()) {
    const gib = m.sizeBytes === null ? null : Math.round(m.sizeBytes / 2 ** 30);
    const type = cleanString(m.type);
    const size = m.sizeBytes === null ? null : `${m.sizeBytes / 2 ** 30} GiB`;
    add(
      "memory",
      `DIMM ${cleanString(m.locator) ?? i}`,
      {
        manufacturer: m.manufacturer,
        model: m.partNumber,
        partNumber: m.partNumber,
        serial: m.serialNumber,
        description: [size, type].filter(Boolean).join(" ") || null,
        itemDescription:
          [size, type, cleanString(m.manufacturer)].filter(Boolean).join(" ") || null,
      },
      {
        class: type !== null && MEMORY_CLASSES.has(type) ? type : null,
        size: gib,
        data_rate: m.speedMts,
      },
    );
  }
  for (const k of doc.disks) {
    const gb = k.sizeBytes === null ? null : Math.round(k.sizeBytes / 1e9);
    add(
      "disk",
      `Disk ${k.name}`,
      {
        manufacturer: k.vendor,
        model: k.model,
        partNumber: k.model,
        serial: k.serialNumber,
        description: gb === null ? null : `${gb} GB`,
        itemDescription:
          [gb === null ? null : `${gb} GB`, cleanString(k.vendor), k.transport]
            .filter(Boolean)
            .join(" ") || null,
      },
      { type: diskType(k), size: gb },
    );
  }
  for (const [i, p] of doc.powerSupplies.entries()) {
    add(
      "psu",
      `PSU ${cleanString(p.name) ?? cleanString(p.location) ?? i}`,
      {
        manufacturer: p.manufacturer,
        model: cleanString(p.modelPartNumber) ?? p.name,
        partNumber: p.modelPartNumber,
        serial: p.serialNumber,
        description: p.maxPowerWatts === null ? null : `${p.maxPowerWatts} W`,
        watts: p.maxPowerWatts,
      },
      // input_current and input_voltage (required by the profile) are not in the document.
      { wattage: p.maxPowerWatts },
    );
  }
  for (const g of gpusOf(doc)) add("gpu", g.name, g.fields, g.attributes);
  // NetBox keeps inventory item and module bay names unique per device.
  const seen = new Map<string, number>();
  for (const c of out) {
    const n = (seen.get(c.name) ?? 0) + 1;
    seen.set(c.name, n);
    if (n > 1) c.name = `${c.name} #${n}`;
  }
  return out;
}

const MEMORY_CLASSES = new Set(["DDR3", "DDR4", "DDR5"]);

/** The Hard disk profile's type: NVMe by transport, else HD or SSD by rotation; else unknown. */
function diskType(disk: Inventory["disks"][number]): string | null {
  if (disk.transport === "nvme") return "NVME";
  if (disk.rotational === null) return null;
  return disk.rotational ? "HD" : "SSD";
}

/** GPUs: gpus[] (PCI display controllers and processing accelerators, with nvidia-smi's facts),
 * except the VGA a BMC brings on the board (ASPEED, Matrox), which is no card in a slot. */
function gpusOf(doc: Inventory): {
  name: string;
  fields: Partial<NetboxComponent>;
  attributes: Record<string, Json | null>;
}[] {
  const pci = new Map(doc.pciDevices.map((p) => [p.address, p]));
  return doc.gpus.flatMap((g, i) => {
    const device = g.pciAddress === null ? undefined : pci.get(g.pciAddress);
    const vendorId = device?.vendorId ?? (HEX_ID.test(g.vendor ?? "") ? g.vendor : null);
    if (vendorId !== null && BMC_VGA_VENDORS.has(vendorId)) return [];
    // A bare PCI vendor id is no manufacturer's name: the name lspci gave that id, else none.
    const vendor = HEX_ID.test(g.vendor ?? "")
      ? (doc.pciDevices.find((p) => p.vendorId === g.vendor && p.vendorName)?.vendorName ?? null)
      : g.vendor;
    const identity = [
      g.uuid === null ? null : `UUID ${g.uuid}`,
      g.vbiosVersion === null ? null : `VBIOS ${g.vbiosVersion}`,
    ]
      .filter(Boolean)
      .join(", ");
    const gib = g.memoryBytes === null ? null : Math.round(g.memoryBytes / 2 ** 30);
    return [
      {
        name: `GPU ${g.pciAddress ?? i}`,
        fields: {
          manufacturer: vendor,
          model: g.model,
          serial: g.serialNumber,
          description: gib === null ? null : `${gib} GB`,
          itemDescription:
            [gib === null ? null : `${gib} GB`, identity || null].filter(Boolean).join(", ") ||
            null,
          moduleDescription: identity || null,
        },
        attributes: { gpu: cleanString(g.model), memory: gib },
      },
    ];
  });
}
const HEX_ID = /^[0-9a-f]{4}$/;
const BMC_VGA_VENDORS = new Set(["1a03", "102b"]);

export const netboxTarget: ExportTarget = {
  name: "netbox",
  summary:
    "NetBox 4.2+ devices, interfaces, MACs, BMC, modules or inventory items, cables (plan or apply)",
  help: `Creates or updates, per node, in NetBox (4.2 and later): the manufacturer, the device type
(model from system.productName, part number from sku), the device (named by its nodeId, never the
live image's hostname; custom field ${UUID_FIELD} holds the system UUID), its interfaces (type
from speed, speed in kbps, mtu, enabled) with MAC address objects and primary_mac_address, the
BMC as a mgmt_only interface with its IP address as device.oob_ip, a power port per PSU with
maximum_draw, and CPUs, DIMMs, disks, PSUs and GPUs:
  - NetBox 4.3+: modules in module bays; module types (by manufacturer and model) carry the
    built-in profile (CPU, Memory, Hard disk, Power supply, GPU) and its attribute data when
    every attribute the profile requires is known; a part without maker or model stays an
    inventory item;
  - NetBox 4.2, or --inventory-items: inventory items.
The version is read from GET /api/status/. Cables from LLDP (nics[].lldp): only between an
interface and a switch port both already in NetBox (switch device by name, port by name); a
port cabled to something else is reported, never re-cabled; a switch is never created.
Everything it creates carries the tag "recon"; it never deletes anything.
A device is matched on ${UUID_FIELD}, then on serial (exactly one match), then on its recon name.
  --site SLUG          the site of new devices (required; must exist)
  --role SLUG          the device role of new devices (required; must exist)
  --url URL            the NetBox (https://netbox.example)
  --token-file F       its API token: "nbt_..." is sent as Bearer (v2, NetBox 4.5+), else Token
  --dry-run            reads NetBox and prints the plan per node; changes nothing
  --inventory-items    inventory items instead of modules, on any version
  --out DIR            without --url: writes <nodeId>.json per node, the objects the mapping
                       makes (related objects by name, no ids: what a first run into an empty
                       NetBox creates; a run against a NetBox also depends on what it holds)
  --netbox-version V   with --out: the NetBox the files are for (4.2: inventory items;
                       default: modules, as on 4.3+)`,
  options: {
    site: { type: "string" },
    role: { type: "string" },
    "inventory-items": { type: "boolean", default: false },
    "netbox-version": { type: "string" },
  },
  async start(context): Promise<ExportSession> {
    const site = context.values.site;
    const role = context.values.role;
    if (typeof site !== "string" || typeof role !== "string") {
      throw new ReconError(ERROR_CODES.USAGE, "netbox needs --site SLUG and --role SLUG");
    }
    const forced = context.values["inventory-items"] === true ? "inventory-items" : null;
    const given = context.values["netbox-version"];
    if (context.out !== null) {
      if (context.url !== null)
        throw new ReconError(
          ERROR_CODES.USAGE,
          "netbox: --out writes the mapping without NetBox; --url sends it (one or the other)",
        );
      const mode = typeof given === "string" ? modeForVersion(given) : "modules";
      if (mode === null)
        throw new ReconError(ERROR_CODES.USAGE, `--netbox-version ${given}: NetBox 4.2 or later`);
      return outSession(
        context.out,
        context.dryRun,
        { site: { slug: site }, role: { slug: role } },
        forced ?? mode,
      );
    }
    if (context.url === null)
      throw new ReconError(ERROR_CODES.USAGE, "netbox needs --url URL (or --out DIR)");
    if (given !== undefined)
      throw new ReconError(
        ERROR_CODES.USAGE,
        "--netbox-version is for --out; with --url the version is read from NetBox",
      );
    const client = new NetboxClient(context.url, context.token, context.fetch);
    let version: string;
    try {
      version = await netboxVersion(client);
    } catch (error) {
      throw new ReconError(ERROR_CODES.IO, `cannot read NetBox's version: ${errorText(error)}`);
    }
    const detected = modeForVersion(version);
    if (detected === null)
      throw new ReconError(ERROR_CODES.USAGE, `NetBox ${version}: the export needs 4.2 or later`);
    const mode = forced ?? detected;
    const scope = {
      site: await lookup(client, "dcim/sites", site, "--site"),
      role: await lookup(client, "dcim/device-roles", role, "--role"),
    };
    try {
      await prepare(client, context.dryRun, mode);
    } catch (error) {
      throw new ReconError(ERROR_CODES.IO, `cannot prepare NetBox: ${errorText(error)}`);
    }
    return {
      async node(doc) {
        try {
          const plan = await syncNode(client, toNetbox(doc, scope, mode), site, context.dryRun);
          const outcome = context.dryRun
            ? "planned"
            : plan.create.some((c) => c.startsWith("device "))
              ? "created"
              : plan.update.length + plan.create.length > 0
                ? "updated"
                : "unchanged";
          return { outcome, detail: planText(plan, context.dryRun) };
        } catch (error) {
          return { outcome: "failed", detail: errorText(error) };
        }
      },
      async finish() {},
    };
  },
};

/** --out: the mapping per node as a file, NetBox not asked. */
async function outSession(
  out: string,
  dryRun: boolean,
  scope: NetboxScope,
  mode: NetboxMode,
): Promise<ExportSession> {
  if (!dryRun) {
    try {
      await makeDirectory(out);
    } catch (error) {
      throw new ReconError(ERROR_CODES.IO, `cannot create ${out}: ${errorText(error)}`);
    }
  }
  return {
    async node(doc) {
      const objects = toNetbox(doc, scope, mode);
      const what = `${mode}: ${objects.interfaces.length} interfaces, ${objects.modules.length} modules, ${objects.inventoryItems.length} inventory items, ${objects.powerPorts.length} power ports, ${objects.interfaces.filter((i) => i.neighbor).length} LLDP neighbours (cabled only in NetBox)`;
      const file = join(out, `${doc.nodeId}.json`);
      if (dryRun) return { outcome: "planned", detail: `would write ${file}: ${what}` };
      try {
        await writeFile(file, `${JSON.stringify(objects, null, 2)}\n`);
      } catch (error) {
        return { outcome: "failed", detail: `cannot write ${file}: ${errorText(error)}` };
      }
      return { outcome: "written", detail: `${file}: ${what}` };
    },
    async finish() {},
  };
}
