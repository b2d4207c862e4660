// NetBox sync: a small REST client (paginated GETs with filters, POST, PATCH) and the per-node
// sync of what agent/export/netbox.ts mapped: read the current state, plan per object (create /
// update / unchanged) and, unless it is a dry run, create or update in place. Nothing is ever
// deleted. Related objects are written in the dictionary form the OpenAPI document (4.2.2)
// describes ({"slug": ...}, {"name": ...}), with "id" where it is known, never as a bare id.
import { ERROR_CODES, ReconError } from "../errors.ts";
import type { NetboxObjects } from "./netbox.ts";
import { errorText, type Fetch, readBodyLimited } from "./source.ts";
export const RECON_TAG = { name: "recon", slug: "recon" } as const;
/** The custom field on dcim.device that holds the SMBIOS system UUID (matching key 1). */
export const UUID_FIELD = "recon_system_uuid";
const MAX_ANSWER_BYTES = 16 * 1024 * 1024;
const PAGE = 1000;

export type Json = string | number | boolean | null | Json[] | { [key: string]: Json };
export type Body = { [key: string]: Json };

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
  const components: [string, string, Body[]][] = [
    ["inventory item", "dcim/inventory-items", objects.inventoryItems],
    ["power port", "dcim/power-ports", objects.powerPorts],
  ];
  for (const [what, path, wanted] of components) {
    if (wanted.length === 0) continue;
    const held = device && found ? await client.list(path, { device_id: device.id }) : [];
    for (const body of wanted) {
      const current = held.find((i) => i.name === body.name) ?? null;
      await ensure(client, plan, dryRun, `${what} ${body.name}`, path, current, {
        ...body,
        device: ref,
      });
    }
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
export async function prepare(client: NetboxClient, dryRun: boolean): Promise<void> {
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

export async function lookup(
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
