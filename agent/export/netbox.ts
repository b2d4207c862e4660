// NetBox export: the pure mapping from one document to the NetBox objects it describes
// (manufacturer, device type, device, interfaces, MAC address objects, the BMC's interface and
// IP address, inventory items), and the sync beside it: read the current state through the REST
// API, plan per object (create / update / unchanged), and in apply mode create or update in
// place. Nothing is ever deleted. Related objects are written in the dictionary form the
// OpenAPI document (4.2.2) describes ({"slug": ...}, {"name": ...}), never as a bare id.
import type { Inventory } from "../../schema/inventory.ts";
import { ERROR_CODES, ReconError } from "../errors.ts";
import { cleanString } from "../normalize.ts";
import { errorText, type Fetch, readBodyLimited } from "./source.ts";
import type { ExportSession, ExportTarget } from "./target.ts";

export const RECON_TAG = { name: "recon", slug: "recon" } as const;
/** The custom field on dcim.device that holds the SMBIOS system UUID (matching key 1). */
export const UUID_FIELD = "recon_system_uuid";
const MAX_ANSWER_BYTES = 16 * 1024 * 1024;
const PAGE = 1000;

type Json = string | number | boolean | null | Json[] | { [key: string]: Json };
type Body = { [key: string]: Json };

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
  return {
    manufacturer: manufacturer && { ...manufacturer, tags },
    deviceType,
    device,
    uuid,
    serial,
    interfaces,
    inventoryItems: items,
  };
}

/** The Authorization header: v2 tokens (NetBox 4.5+) are "nbt_<key>.<secret>", v1 a bare key. */
export function authorization(token: string): string {
  return token.startsWith("nbt_") ? `Bearer ${token}` : `Token ${token}`;
}

/** Whether the current value already holds what is wanted (objects: the keys wanted; lists of
 * related objects: every wanted one present, others a person added are left). */
export function holds(current: unknown, wanted: Json): boolean {
  if (wanted === null || typeof wanted !== "object") return current === wanted;
  if (Array.isArray(wanted)) {
    return Array.isArray(current) && wanted.every((w) => current.some((c) => holds(c, w)));
  }
  if (current === null || typeof current !== "object") return false;
  return Object.entries(wanted).every(([k, v]) =>
    holds((current as Record<string, unknown>)[k], v),
  );
}

/** The fields of `wanted` that `current` does not hold (tags merged with the ones present). */
export function changes(current: Record<string, unknown>, wanted: Body): Body {
  const out: Body = {};
  for (const [key, value] of Object.entries(wanted)) {
    if (holds(current[key], value)) continue;
    if (key === "tags" && Array.isArray(current.tags)) {
      out.tags = [
        ...(current.tags as { name: string; slug: string }[]).map((t) => ({
          name: t.name,
          slug: t.slug,
        })),
        ...(value as Json[]),
      ];
    } else if (key === "custom_fields") {
      out[key] = { ...(current[key] as Body), ...(value as Body) };
    } else out[key] = value;
  }
  return out;
}

type Row = Record<string, unknown> & { id: number };

/** A small NetBox REST client: paginated GETs with filters, POST, PATCH. Throws on refusal. */
export class NetboxClient {
  readonly base: string;
  readonly headers: Record<string, string>;
  readonly fetcher: Fetch;
  requests = 0;
  constructor(url: string, token: string | null, fetcher: Fetch) {
    this.base = url.replace(/\/+$/, "").replace(/\/api$/, "");
    this.headers = { Accept: "application/json", "Content-Type": "application/json" };
    if (token) this.headers.Authorization = authorization(token);
    this.fetcher = fetcher;
  }
  async call(method: string, url: string, body?: Body): Promise<unknown> {
    this.requests++;
    const response = await this.fetcher(url, {
      method,
      headers: this.headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(60_000),
    });
    const text = (await readBodyLimited(response, MAX_ANSWER_BYTES)).toString("utf8");
    if (!response.ok) {
      throw new Error(
        `NetBox refused ${method} ${url.slice(this.base.length)}: HTTP ${response.status} ${text.slice(0, 300)}`,
      );
    }
    return JSON.parse(text);
  }
  async list(path: string, filters: Record<string, string | number>): Promise<Row[]> {
    const query = new URLSearchParams({
      ...Object.fromEntries(Object.entries(filters).map(([k, v]) => [k, String(v)])),
      limit: String(PAGE),
    });
    let url: string | null = `${this.base}/api/${path}/?${query}`;
    const rows: Row[] = [];
    while (url !== null) {
      const page = (await this.call("GET", url)) as { results?: Row[]; next?: string | null };
      rows.push(...(page.results ?? []));
      // Only follow a next link into the same NetBox.
      url =
        typeof page.next === "string" && page.next.startsWith(`${this.base}/api/`)
          ? page.next
          : null;
    }
    return rows;
  }
  async create(path: string, body: Body): Promise<Row> {
    return (await this.call("POST", `${this.base}/api/${path}/`, body)) as Row;
  }
  async update(path: string, id: number, body: Body): Promise<Row> {
    return (await this.call("PATCH", `${this.base}/api/${path}/${id}/`, body)) as Row;
  }
}

export interface NodePlan {
  create: string[];
  update: string[];
  unchanged: number;
}

/** One step of the sync: plan it, and unless dry-run, do it. Returns the row (or null when
 * a dry run would create it). */
async function ensure(
  client: NetboxClient,
  plan: NodePlan,
  dryRun: boolean,
  what: string,
  path: string,
  current: Row | null,
  wanted: Body,
): Promise<Row | null> {
  if (current === null) {
    plan.create.push(what);
    return dryRun ? null : client.create(path, wanted);
  }
  const diff = changes(current, wanted);
  if (Object.keys(diff).length === 0) {
    plan.unchanged++;
    return current;
  }
  plan.update.push(`${what} (${Object.keys(diff).join(", ")})`);
  return dryRun ? { ...current, ...diff } : client.update(path, current.id, diff);
}

function one(rows: Row[], what: string): Row | null {
  if (rows.length > 1) throw new Error(`${rows.length} ${what}: matched none of them`);
  return rows[0] ?? null;
}

/** Finds the device: by the UUID custom field, then by serial (exactly one), then by the name
 * this exporter gives it when it carries the recon tag. Never by hostname. */
export async function findDevice(
  client: NetboxClient,
  objects: NetboxObjects,
  siteSlug: string,
): Promise<Row | null> {
  if (objects.uuid !== null) {
    const byUuid = one(
      await client.list("dcim/devices", { [`cf_${UUID_FIELD}`]: objects.uuid }),
      `devices with system UUID ${objects.uuid}`,
    );
    if (byUuid) return byUuid;
  }
  if (objects.serial !== null) {
    // A device holding another system UUID is another machine with the same serial.
    const candidates = (await client.list("dcim/devices", { serial: objects.serial })).filter(
      (d) => {
        const held = (d.custom_fields as Record<string, unknown> | undefined)?.[UUID_FIELD];
        return held === undefined || held === null || held === "" || held === objects.uuid;
      },
    );
    const bySerial = one(candidates, `devices with serial ${objects.serial}`);
    if (bySerial) return bySerial;
  }
  const byName = await client.list("dcim/devices", {
    name: objects.device.name as string,
    site: siteSlug,
    tag: RECON_TAG.slug,
  });
  return one(byName, `recon devices named ${objects.device.name}`);
}

/** Plans (and unless dryRun, applies) one node. Throws with the reason when NetBox refuses. */
export async function syncNode(
  client: NetboxClient,
  objects: NetboxObjects,
  siteSlug: string,
  dryRun: boolean,
): Promise<NodePlan> {
  const plan: NodePlan = { create: [], update: [], unchanged: 0 };
  if (objects.deviceType === null) {
    // NetBox requires a device type, and a placeholder model is never exported.
    throw new Error("no device type: system.manufacturer or system.productName is unknown");
  }
  if (objects.manufacturer) {
    const current = one(
      await client.list("dcim/manufacturers", { slug: objects.manufacturer.slug as string }),
      "manufacturers",
    );
    // A manufacturer a person made is used as it is, under its own name ("LENOVO" for "Lenovo").
    if (current) {
      plan.unchanged++;
      const brief = { name: String(current.name), slug: String(current.slug) };
      objects.deviceType.manufacturer = brief;
      (objects.device.device_type as Body).manufacturer = brief;
    } else
      await ensure(
        client,
        plan,
        dryRun,
        `manufacturer ${objects.manufacturer.name}`,
        "dcim/manufacturers",
        null,
        objects.manufacturer,
      );
  }
  if (objects.deviceType) {
    const current = one(
      await client.list("dcim/device-types", { slug: objects.deviceType.slug as string }),
      "device types",
    );
    if (current) {
      plan.unchanged++;
      (objects.device.device_type as Body).model = String(current.model);
    } else
      await ensure(
        client,
        plan,
        dryRun,
        `device type ${objects.deviceType.model}`,
        "dcim/device-types",
        null,
        objects.deviceType,
      );
  }
  const found = await findDevice(client, objects, siteSlug);
  // A device found by UUID or serial keeps the name a person gave it.
  const wantedDevice = found ? { ...objects.device } : objects.device;
  if (found) delete wantedDevice.name;
  const device = await ensure(
    client,
    plan,
    dryRun,
    `device ${objects.device.name}`,
    "dcim/devices",
    found,
    wantedDevice,
  );
  const deviceName = (device?.name as string | undefined) ?? (objects.device.name as string);
  // Related objects by primary key among their attributes: a name or a MAC can be ambiguous.
  const ref: Body = device ? { id: device.id, name: deviceName } : { name: deviceName };
  const existing =
    device && found ? await client.list("dcim/interfaces", { device_id: device.id }) : [];
  const macs =
    device && found ? await client.list("dcim/mac-addresses", { device_id: device.id }) : [];
  let oob: string | null = null;
  let oobRow: Row | null = null;
  for (const nic of objects.interfaces) {
    const current = existing.find((i) => i.name === nic.name) ?? null;
    const iface = await ensure(
      client,
      plan,
      dryRun,
      `interface ${nic.name}`,
      "dcim/interfaces",
      current,
      { ...nic.body, device: ref },
    );
    if (nic.mac !== null) {
      const mac = nic.mac.toUpperCase();
      const held = iface
        ? (macs.find(
            (m) => String(m.mac_address).toUpperCase() === mac && m.assigned_object_id === iface.id,
          ) ?? null)
        : null;
      let macRow = held;
      if (held) plan.unchanged++;
      else if (iface === null) plan.create.push(`MAC ${mac}`);
      else
        macRow = await ensure(client, plan, dryRun, `MAC ${mac}`, "dcim/mac-addresses", null, {
          mac_address: mac,
          assigned_object_type: "dcim.interface",
          assigned_object_id: iface.id,
          tags: [{ ...RECON_TAG }],
        });
      if (iface)
        await ensure(
          client,
          plan,
          dryRun,
          `interface ${nic.name} primary MAC`,
          "dcim/interfaces",
          iface,
          {
            primary_mac_address: macRow
              ? { id: macRow.id, mac_address: mac }
              : { mac_address: mac },
          },
        );
      else plan.create.push(`interface ${nic.name} primary MAC`);
    }
    if (nic.oobAddress !== null) {
      const ips =
        iface && current ? await client.list("ipam/ip-addresses", { interface_id: iface.id }) : [];
      const ip = ips.find((a) => a.address === nic.oobAddress) ?? null;
      if (iface === null) plan.create.push(`IP ${nic.oobAddress}`);
      else
        oobRow = await ensure(
          client,
          plan,
          dryRun,
          `IP ${nic.oobAddress}`,
          "ipam/ip-addresses",
          ip,
          {
            address: nic.oobAddress,
            status: "active",
            assigned_object_type: "dcim.interface",
            assigned_object_id: iface.id,
            tags: [{ ...RECON_TAG }],
          },
        );
      oob = nic.oobAddress;
    }
  }
  if (oob !== null) {
    if (device)
      await ensure(client, plan, dryRun, "device oob_ip", "dcim/devices", device, {
        oob_ip: oobRow ? { id: oobRow.id, address: oob } : { address: oob },
      });
    else plan.create.push("device oob_ip");
  }
  const items =
    device && found ? await client.list("dcim/inventory-items", { device_id: device.id }) : [];
  for (const item of objects.inventoryItems) {
    const current = items.find((i) => i.name === item.name) ?? null;
    await ensure(
      client,
      plan,
      dryRun,
      `inventory item ${item.name}`,
      "dcim/inventory-items",
      current,
      { ...item, device: ref },
    );
  }
  return plan;
}

export function planText(plan: NodePlan, dryRun: boolean): string {
  const verb = dryRun ? "would " : "";
  const parts: string[] = [];
  if (plan.create.length > 0)
    parts.push(`${verb}create ${plan.create.length}: ${plan.create.join(", ")}`);
  if (plan.update.length > 0)
    parts.push(`${verb}update ${plan.update.length}: ${plan.update.join(", ")}`);
  parts.push(`${plan.unchanged} unchanged`);
  return parts.join("; ");
}

/** The tag and the custom field must exist before devices carry them: made if missing. */
async function prepare(client: NetboxClient, dryRun: boolean): Promise<void> {
  if ((await client.list("extras/tags", { slug: RECON_TAG.slug })).length === 0 && !dryRun) {
    await client.create("extras/tags", {
      ...RECON_TAG,
      color: "2196f3",
      description: "made by recon-agent export",
    });
  }
  if ((await client.list("extras/custom-fields", { name: UUID_FIELD })).length === 0 && !dryRun) {
    await client.create("extras/custom-fields", {
      name: UUID_FIELD,
      label: "System UUID",
      type: "text",
      object_types: ["dcim.device"],
      description: "SMBIOS system UUID (recon-agent export matches devices on it)",
    });
  }
}

async function lookup(
  client: NetboxClient,
  path: string,
  slug: string,
  flag: string,
): Promise<{ name: string; slug: string }> {
  let rows: Row[];
  try {
    rows = await client.list(path, { slug });
  } catch (error) {
    throw new ReconError(ERROR_CODES.IO, `cannot read ${path} from NetBox: ${errorText(error)}`);
  }
  const row = rows[0];
  if (!row)
    throw new ReconError(
      ERROR_CODES.USAGE,
      `${flag} ${slug}: no such ${path.split("/")[1]} in NetBox`,
    );
  return { name: String(row.name), slug: String(row.slug) };
}

export const netboxTarget: ExportTarget = {
  name: "netbox",
  summary: "NetBox 4.2+ devices, interfaces, MACs, BMC, inventory items (plan or apply)",
  help: `Creates or updates, per node, in NetBox (4.2 and later): the manufacturer, the device type
(model from system.productName, part number from sku), the device (named by its nodeId, never the
live image's hostname; custom field ${UUID_FIELD} holds the system UUID), its interfaces (type
from speed, speed in kbps, mtu, enabled) with MAC address objects and primary_mac_address, the
BMC as a mgmt_only interface with its IP address as device.oob_ip, and CPUs, DIMMs, disks and PSUs
as inventory items. Everything it creates carries the tag "recon"; it never deletes anything.
A device is matched on ${UUID_FIELD}, then on serial (exactly one match), then on its recon name.
  --site SLUG       the site of new devices (required; must exist)
  --role SLUG       the device role of new devices (required; must exist)
  --url URL         the NetBox (https://netbox.example); required
  --token-file F    its API token: "nbt_..." is sent as Bearer (v2, NetBox 4.5+), else as Token
  --dry-run         reads NetBox and prints the plan per node; changes nothing`,
  options: { site: { type: "string" }, role: { type: "string" } },
  async start(context): Promise<ExportSession> {
    const site = context.values.site;
    const role = context.values.role;
    if (typeof site !== "string" || typeof role !== "string") {
      throw new ReconError(ERROR_CODES.USAGE, "netbox needs --site SLUG and --role SLUG");
    }
    if (context.url === null) throw new ReconError(ERROR_CODES.USAGE, "netbox needs --url URL");
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
