// NetBox export: the pure mapping from one document to the NetBox objects it describes
// (manufacturer, device type, device, interfaces, MAC address objects, the BMC's interface and
// IP address, inventory items), and the target; the sync (client, plan, apply) is beside it in
// netbox-sync.ts.
import type { Inventory } from "../../schema/inventory.ts";
import { ERROR_CODES, ReconError } from "../errors.ts";
import { cleanString } from "../normalize.ts";
import {
  type Body,
  type Json,
  lookup,
  NetboxClient,
  planText,
  prepare,
  RECON_TAG,
  syncNode,
  UUID_FIELD,
} from "./netbox-sync.ts";
import { errorText } from "./source.ts";
import type { ExportSession, ExportTarget } from "./target.ts";

export { authorization, NetboxClient, RECON_TAG, syncNode, UUID_FIELD } from "./netbox-sync.ts";

export interface NetboxInterface {
  name: string;
  body: Body;
  /** The MAC address object assigned to it (and made primary), if the NIC has one. */
  mac: string | null;
  /** The BMC's address ("10.0.0.5/24"), assigned to this interface and set as device.oob_ip. */
  oobAddress: string | null;
}

/** Everything one document becomes in NetBox, before any id is known. */
export interface NetboxObjects {
  manufacturer: Body | null;
  deviceType: Body | null;
  device: Body;
  /** Identity keys: never a placeholder. */
  uuid: string | null;
  serial: string | null;
  interfaces: NetboxInterface[];
  inventoryItems: Body[];
  /** One per PSU, named as its inventory item, with maximum_draw (W) when known. */
  powerPorts: Body[];
}

export interface NetboxScope {
  site: { name: string; slug: string };
  role: { name: string; slug: string };
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

/** The pure mapping: one valid document to the NetBox objects it describes. */
export function toNetbox(doc: Inventory, scope: NetboxScope): NetboxObjects {
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
    });
  }
  const items: Body[] = [];
  const item = (name: string, fields: Record<string, string | null>) => {
    const body: Body = { device: deviceRef, name: name.slice(0, 64), discovered: true, tags };
    put(body, "part_id", fields.part ?? null, 50);
    put(body, "serial", fields.serial ?? null, 50);
    put(body, "description", fields.description ?? null, 200);
    items.push(body);
  };
  for (const [i, p] of doc.processors.entries()) {
    item(`CPU ${cleanString(p.socket) ?? i}`, { part: p.model, description: p.model });
  }
  for (const [i, m] of doc.memory.dimms.entries()) {
    const size = m.sizeBytes === null ? null : `${m.sizeBytes / 2 ** 30} GiB`;
    item(`DIMM ${cleanString(m.locator) ?? i}`, {
      part: m.partNumber,
      serial: m.serialNumber,
      description:
        [size, cleanString(m.type), cleanString(m.manufacturer)].filter(Boolean).join(" ") || null,
    });
  }
  for (const k of doc.disks) {
    const size = k.sizeBytes === null ? null : `${Math.round(k.sizeBytes / 1e9)} GB`;
    item(`Disk ${k.name}`, {
      part: k.model,
      serial: k.serialNumber,
      description: [size, cleanString(k.vendor), k.transport].filter(Boolean).join(" ") || null,
    });
  }
  for (const [i, p] of doc.powerSupplies.entries()) {
    item(`PSU ${cleanString(p.name) ?? cleanString(p.location) ?? i}`, {
      part: p.modelPartNumber,
      serial: p.serialNumber,
      description: p.maxPowerWatts === null ? null : `${p.maxPowerWatts} W`,
    });
  }
  // NetBox keeps inventory item names unique per device (and parent).
  const seen = new Map<string, number>();
  for (const body of items) {
    const n = (seen.get(body.name as string) ?? 0) + 1;
    seen.set(body.name as string, n);
    if (n > 1) body.name = `${body.name} #${n}`;
  }
  const powerPorts = items
    .filter((body) => String(body.name).startsWith("PSU "))
    .map((body, i) => {
      const port: Body = { device: deviceRef, name: body.name as string, tags };
      const watts = doc.powerSupplies[i]?.maxPowerWatts ?? null;
      if (watts !== null && watts >= 1) port.maximum_draw = watts;
      return port;
    });
  return {
    manufacturer: manufacturer && { ...manufacturer, tags },
    deviceType,
    device,
    uuid,
    serial,
    interfaces,
    inventoryItems: items,
    powerPorts,
  };
}

export const netboxTarget: ExportTarget = {
  name: "netbox",
  summary: "NetBox 4.2+ devices, interfaces, MACs, BMC, inventory items (plan or apply)",
  help: `Creates or updates, per node, in NetBox (4.2 and later): the manufacturer, the device type
(model from system.productName, part number from sku), the device (named by its nodeId, never the
live image's hostname; custom field ${UUID_FIELD} holds the system UUID), its interfaces (type
from speed, speed in kbps, mtu, enabled) with MAC address objects and primary_mac_address, the
BMC as a mgmt_only interface with its IP address as device.oob_ip, and CPUs, DIMMs, disks and PSUs
as inventory items, and a power port per PSU with maximum_draw. Everything it creates carries the tag "recon"; it never deletes anything.
A device is matched on ${UUID_FIELD}, then on serial (exactly one match), then on its recon name.
  --site SLUG       the site of new devices (required; must exist)
  --role SLUG       the device role of new devices (required; must exist)
  --url URL         the NetBox (https://netbox.example); required
  --token-file F    its API token: "nbt_..." is sent as Bearer (v2, NetBox 4.5+), else as Token
  --dry-run         reads NetBox and prints the plan per node; changes nothing
There is no --out: what is sent depends on what NetBox already holds.`,
  options: { site: { type: "string" }, role: { type: "string" } },
  async start(context): Promise<ExportSession> {
    const site = context.values.site;
    const role = context.values.role;
    if (typeof site !== "string" || typeof role !== "string") {
      throw new ReconError(ERROR_CODES.USAGE, "netbox needs --site SLUG and --role SLUG");
    }
    if (context.url === null) throw new ReconError(ERROR_CODES.USAGE, "netbox needs --url URL");
    if (context.out !== null) {
      // What is sent depends on what NetBox already holds: there is no file of it to write.
      throw new ReconError(ERROR_CODES.USAGE, "netbox has no --out: use --dry-run for the plan");
    }
    const client = new NetboxClient(context.url, context.token, context.fetch);
    const scope = {
      site: await lookup(client, "dcim/sites", site, "--site"),
      role: await lookup(client, "dcim/device-roles", role, "--role"),
    };
    try {
      await prepare(client, context.dryRun);
    } catch (error) {
      throw new ReconError(ERROR_CODES.IO, `cannot prepare NetBox: ${errorText(error)}`);
    }
    return {
      async node(doc) {
        try {
          const plan = await syncNode(client, toNetbox(doc, scope), site, context.dryRun);
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
