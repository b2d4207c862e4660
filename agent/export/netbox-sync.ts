// NetBox sync: a small REST client (paginated GETs with filters, POST, PATCH) and the per-node
// sync of what agent/export/netbox.ts mapped: read the current state, plan per object (create /
// update / unchanged) and, unless it is a dry run, create or update in place. Nothing is ever
// deleted. Related objects are written in the dictionary form the OpenAPI document (4.2.2)
// describes ({"slug": ...}, {"name": ...}), with "id" where it is known, never as a bare id.
import { ERROR_CODES, ReconError } from "../errors.ts";
import type { NetboxInterface, NetboxMode, NetboxModule, NetboxObjects } from "./netbox.ts";
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
  /** Shared objects found or created during this session (manufacturers, module types), so
   * that 1,000 nodes with the same DIMM ask for its module type once. */
  readonly known = new Map<string, Row>();
  /** NetBox's module type profiles by name (4.3+; read by prepare in modules mode). */
  profiles = new Map<string, Row>();
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
  /** What was left alone and why (a conflicting cable, a switch not in NetBox...). */
  notes: string[];
  /** Shared objects (manufacturers, module types) this node already counted, by key: the row,
   * or null when a dry run plans to create it. Each is counted once per node. */
  shared: Map<string, Row | null>;
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
  /** A second look at an object already counted (a field set after its creation). */
  again = false,
): Promise<Row | null> {
  if (current === null) {
    plan.create.push(what);
    return dryRun ? null : client.create(path, wanted);
  }
  const diff = changes(current, wanted);
  if (Object.keys(diff).length === 0) {
    if (!again) plan.unchanged++;
    return current;
  }
  plan.update.push(`${what} (${Object.keys(diff).join(", ")})`);
  return dryRun ? { ...current, ...diff } : client.update(path, current.id, diff);
}

function one(rows: Row[], what: string): Row | null {
  if (rows.length > 1) throw new Error(`${rows.length} ${what}: matched none of them`);
  return rows[0] ?? null;
}

/** The manufacturer by slug (found, created, or in a dry run planned), as a brief reference
 * under the name NetBox holds. */
async function ensureManufacturer(
  client: NetboxClient,
  plan: NodePlan,
  dryRun: boolean,
  wanted: Body,
): Promise<{ name: string; slug: string }> {
  const key = `manufacturer ${wanted.slug}`;
  const brief = (row: Row | null | undefined) =>
    row
      ? { name: String(row.name), slug: String(row.slug) }
      : { name: String(wanted.name), slug: String(wanted.slug) };
  if (plan.shared.has(key)) return brief(plan.shared.get(key));
  const known =
    client.known.get(key) ??
    one(await client.list("dcim/manufacturers", { slug: wanted.slug as string }), "manufacturers");
  if (known) {
    client.known.set(key, known);
    plan.shared.set(key, known);
    plan.unchanged++;
    return brief(known);
  }
  const row = await ensure(
    client,
    plan,
    dryRun,
    `manufacturer ${wanted.name}`,
    "dcim/manufacturers",
    null,
    { ...wanted, tags: [{ ...RECON_TAG }] },
  );
  if (row) client.known.set(key, row);
  plan.shared.set(key, row);
  return brief(row);
}

/** The module type by manufacturer and model. One that exists is used as it is (module types
 * are shared by every device; a person may have set its profile or attributes); a new one gets
 * the profile when NetBox has it. */
async function ensureModuleType(
  client: NetboxClient,
  plan: NodePlan,
  dryRun: boolean,
  module: NetboxModule,
): Promise<Row | null> {
  const maker = await ensureManufacturer(
    client,
    plan,
    dryRun,
    module.moduleType.manufacturer as Body,
  );
  const model = module.moduleType.model as string;
  const key = `module type ${maker.slug} ${model}`;
  if (plan.shared.has(key)) return plan.shared.get(key) ?? null;
  // A manufacturer a dry run would create has no module types yet.
  const planned = plan.shared.get(`manufacturer ${maker.slug}`) === null;
  const known =
    client.known.get(key) ??
    (planned
      ? null
      : one(
          await client.list("dcim/module-types", { manufacturer: maker.slug, model }),
          `module types ${model}`,
        ));
  if (known) {
    client.known.set(key, known);
    plan.shared.set(key, known);
    plan.unchanged++;
    return known;
  }
  const body: Body = { ...module.moduleType, manufacturer: maker };
  if (module.profile !== null) {
    const profile = client.profiles.get(module.profile);
    if (profile) body.profile = { id: profile.id, name: String(profile.name) };
    else {
      delete body.profile;
      delete body.attribute_data;
      plan.notes.push(`no module type profile "${module.profile}" in NetBox: ${model} has none`);
    }
  }
  const row = await ensure(
    client,
    plan,
    dryRun,
    `module type ${model}`,
    "dcim/module-types",
    null,
    body,
  );
  if (row) client.known.set(key, row);
  plan.shared.set(key, row);
  return row;
}

/** Module bays (by name) and the module in each (one per bay, as NetBox allows). */
async function syncModules(
  client: NetboxClient,
  plan: NodePlan,
  dryRun: boolean,
  modules: NetboxModule[],
  device: Row | null,
  found: boolean,
  ref: Body,
): Promise<void> {
  if (modules.length === 0) return;
  const bays =
    device && found ? await client.list("dcim/module-bays", { device_id: device.id }) : [];
  const held = device && found ? await client.list("dcim/modules", { device_id: device.id }) : [];
  for (const m of modules) {
    const name = m.bay.name as string;
    const type = await ensureModuleType(client, plan, dryRun, m);
    const bay = await ensure(
      client,
      plan,
      dryRun,
      `module bay ${name}`,
      "dcim/module-bays",
      bays.find((b) => b.name === name) ?? null,
      { ...m.bay, device: ref },
    );
    const current = bay
      ? (held.find((x) => (x.module_bay as Row | null | undefined)?.id === bay.id) ?? null)
      : null;
    if (bay === null || type === null) {
      // Dry run only: the bay or the module type does not exist yet.
      if (current) plan.update.push(`module ${name} (module_type)`);
      else plan.create.push(`module ${name}`);
      continue;
    }
    const manufacturer = type.manufacturer as Row;
    const wanted: Body = {
      ...m.module,
      device: ref,
      module_type: {
        id: type.id,
        manufacturer: { name: String(manufacturer.name), slug: String(manufacturer.slug) },
        model: String(type.model),
      },
    };
    // Matched on its bay: the bay is only sent when the module is created.
    if (current === null) wanted.module_bay = bay.id;
    await ensure(client, plan, dryRun, `module ${name}`, "dcim/modules", current, wanted);
  }
}

/** The cable LLDP tells of, only between two interfaces already in NetBox (the switch is found
 * by name, never created). A cable either end already has to something else is reported and
 * left; NetBox allows one cable per interface. */
async function syncCable(
  client: NetboxClient,
  plan: NodePlan,
  dryRun: boolean,
  nic: NetboxInterface,
  iface: Row | null,
): Promise<void> {
  const neighbor = nic.neighbor;
  if (neighbor === null) return;
  const what = `cable ${nic.name} to ${neighbor.device} ${neighbor.port}`;
  const key = `switch ${neighbor.device}`;
  let device = client.known.get(key) ?? null;
  if (device === null) {
    const rows = await client.list("dcim/devices", { name: neighbor.device });
    if (rows.length !== 1) {
      plan.notes.push(
        `${what}: ${rows.length === 0 ? "no device" : `${rows.length} devices`} named ${neighbor.device} in NetBox`,
      );
      return;
    }
    device = rows[0] as Row;
    client.known.set(key, device);
  }
  const port = one(
    await client.list("dcim/interfaces", { device_id: device.id, name: neighbor.port }),
    `interfaces ${neighbor.port}`,
  );
  if (port === null) {
    plan.notes.push(`${what}: ${neighbor.device} has no interface ${neighbor.port} in NetBox`);
    return;
  }
  const peers = (row: Row) =>
    ((row.link_peers as Row[] | undefined) ?? [])
      .map((p) => `${(p.device as Row | undefined)?.name ?? "?"} ${p.name ?? p.id}`)
      .join(", ") || "something";
  const cable = (row: Row | null) => (row?.cable as Row | null | undefined) ?? null;
  const mine = cable(iface);
  if (iface !== null && mine !== null) {
    if (((iface.link_peers as Row[] | undefined) ?? []).some((p) => p.id === port.id)) {
      plan.unchanged++;
      return;
    }
    plan.notes.push(`${what}: ${nic.name} has cable ${mine.id} to ${peers(iface)}, not replaced`);
    return;
  }
  const theirs = cable(port);
  if (theirs !== null) {
    plan.notes.push(
      `${what}: ${neighbor.device} ${neighbor.port} has cable ${theirs.id} to ${peers(port)}, not replaced`,
    );
    return;
  }
  if (iface === null) {
    plan.create.push(what); // dry run: the interface does not exist yet
    return;
  }
  const end = (id: number) => [{ object_type: "dcim.interface", object_id: id }];
  await ensure(client, plan, dryRun, what, "dcim/cables", null, {
    a_terminations: end(iface.id),
    b_terminations: end(port.id),
    status: "connected",
    tags: [{ ...RECON_TAG }],
  });
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
  const plan: NodePlan = { create: [], update: [], unchanged: 0, notes: [], shared: new Map() };
  if (objects.deviceType === null) {
    // NetBox requires a device type, and a placeholder model is never exported.
    throw new Error("no device type: system.manufacturer or system.productName is unknown");
  }
  if (objects.manufacturer) {
    // A manufacturer a person made is used as it is, under its own name ("LENOVO" for "Lenovo").
    const brief = await ensureManufacturer(client, plan, dryRun, objects.manufacturer);
    objects.deviceType.manufacturer = brief;
    (objects.device.device_type as Body).manufacturer = brief;
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
          true,
        );
      // Dry run, new interface: the apply PATCHes it once its MAC object exists.
      else plan.update.push(`interface ${nic.name} primary MAC (primary_mac_address)`);
    }
    await syncCable(client, plan, dryRun, nic, iface);
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
      await ensure(
        client,
        plan,
        dryRun,
        "device oob_ip",
        "dcim/devices",
        device,
        { oob_ip: oobRow ? { id: oobRow.id, address: oob } : { address: oob } },
        true,
      );
    else plan.update.push("device oob_ip (oob_ip)");
  }
  await syncModules(client, plan, dryRun, objects.modules, device, found !== null, ref);
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
  if (plan.notes.length > 0) parts.push(`left alone: ${plan.notes.join("; ")}`);
  return parts.join("; ");
}

/** The tag and the custom field must exist before devices carry them: made if missing. */
export async function prepare(
  client: NetboxClient,
  dryRun: boolean,
  mode: NetboxMode,
): Promise<void> {
  if (mode === "modules") {
    for (const row of await client.list("dcim/module-type-profiles", {}))
      client.profiles.set(String(row.name), row);
  }
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

/** NetBox's version as GET /api/status/ tells it ("4.3.2", "4.6.0-Docker-3.2.1"). */
export async function netboxVersion(client: NetboxClient): Promise<string> {
  const status = (await client.call("GET", `${client.base}/api/status/`)) as Record<
    string,
    unknown
  > | null;
  const version = status?.["netbox-version"];
  if (typeof version !== "string") throw new Error("GET /api/status/ holds no netbox-version");
  return version;
}

/** Modules from 4.3 (module type profiles are new there, inventory items deprecated), inventory
 * items on 4.2. Null for what is not a NetBox 4.2+ version. */
export function modeForVersion(version: string): NetboxMode | null {
  const m = /^v?(\d+)\.(\d+)/.exec(version.trim());
  if (!m) return null;
  const [major, minor] = [Number(m[1]), Number(m[2])];
  if (major < 4 || (major === 4 && minor < 2)) return null;
  return major === 4 && minor < 3 ? "inventory-items" : "modules";
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
