// A stateful loopback server that answers like NetBox 4.2 for the endpoints the exporter uses
// (paginated GET lists with filters, POST, PATCH) and refuses what NetBox refuses: a request body
// not matching the OpenAPI document's request schema (validated with ajv against its
// components, with additionalProperties: false added, since NetBox drops unknown fields
// silently), unknown custom fields, unresolvable related objects, and NetBox's uniqueness rules
// (device name per site, asset tag across NetBox, interface, inventory item, power port and
// module bay name per device, one MAC object per interface assignment, module type model per
// manufacturer, one module per bay, one cable per interface). GET /api/status/ tells a
// configurable version; from 4.3 it holds NetBox's built-in module type profiles and validates a
// module type's attribute_data against its profile's JSON schema, as NetBox does. No real NetBox
// can be installed on these machines; this is how the export is tested.
import { readdirSync, readFileSync } from "node:fs";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { Ajv, type ValidateFunction } from "ajv";
import { parse } from "yaml";

export const OPENAPI_FILE = "/work/shared/reference/netbox/openapi-netbox-4.2.2.yaml";

type Row = Record<string, unknown> & { id: number };

/** POST and PATCH schemas per endpoint (the OpenAPI document's components). */
export const REQUEST_SCHEMAS: Record<string, [string, string]> = {
  "dcim/manufacturers": ["ManufacturerRequest", "PatchedManufacturerRequest"],
  "dcim/device-types": ["WritableDeviceTypeRequest", "PatchedWritableDeviceTypeRequest"],
  "dcim/devices": [
    "WritableDeviceWithConfigContextRequest",
    "PatchedWritableDeviceWithConfigContextRequest",
  ],
  "dcim/interfaces": ["WritableInterfaceRequest", "PatchedWritableInterfaceRequest"],
  "dcim/mac-addresses": ["MACAddressRequest", "PatchedMACAddressRequest"],
  "ipam/ip-addresses": ["WritableIPAddressRequest", "PatchedWritableIPAddressRequest"],
  "dcim/inventory-items": ["WritableInventoryItemRequest", "PatchedWritableInventoryItemRequest"],
  "dcim/power-ports": ["WritablePowerPortRequest", "PatchedWritablePowerPortRequest"],
  "dcim/module-types": ["WritableModuleTypeRequest", "PatchedWritableModuleTypeRequest"],
  "dcim/module-bays": ["ModuleBayRequest", "PatchedModuleBayRequest"],
  "dcim/modules": ["WritableModuleRequest", "PatchedWritableModuleRequest"],
  "dcim/cables": ["WritableCableRequest", "PatchedWritableCableRequest"],
  "extras/tags": ["TagRequest", "PatchedTagRequest"],
  "extras/custom-fields": ["WritableCustomFieldRequest", "PatchedWritableCustomFieldRequest"],
};
const COLLECTIONS = [...Object.keys(REQUEST_SCHEMAS), "dcim/sites", "dcim/device-roles"];
/** Collections of a device's components: their rules and device_id filters are per device. */
const DEVICE_SCOPED = new Set([
  "dcim/interfaces",
  "dcim/inventory-items",
  "dcim/power-ports",
  "dcim/module-bays",
  "dcim/modules",
  "dcim/mac-addresses",
]);
export const PROFILES_DIR = "/work/shared/reference/netbox/module_type_profiles";

/** NetBox's built-in module type profiles (what its 4.3 migration creates), from the files. */
export function builtinProfiles(): { name: string; schema: Record<string, unknown> }[] {
  return readdirSync(PROFILES_DIR)
    .filter((f) => f.endsWith(".json"))
    .sort()
    .map((f) => JSON.parse(readFileSync(join(PROFILES_DIR, f), "utf8")));
}

const profileValidators = new Map<string, ValidateFunction>();
/** A validator of a profile's JSON schema (as NetBox's ModuleType.clean runs jsonschema). */
export function profileValidator(schema: Record<string, unknown>): ValidateFunction {
  const key = JSON.stringify(schema);
  let v = profileValidators.get(key);
  if (!v) {
    v = new Ajv({ strict: false, allErrors: true }).compile(schema);
    profileValidators.set(key, v);
  }
  return v;
}

/** [major, minor] of "4.3.2" (what /api/status/ says). */
function versionOf(text: string): [number, number] {
  const m = /^(\d+)\.(\d+)/.exec(text);
  if (!m) throw new Error(`bad NetBox version ${text}`);
  return [Number(m[1]), Number(m[2])];
}

/** OpenAPI 3.0 to what ajv checks: nullable without a type becomes anyOf null; every request
 * object with properties refuses keys it does not name. */
function strictify(node: unknown, request: boolean): unknown {
  if (Array.isArray(node)) return node.map((n) => strictify(n, request));
  if (node === null || typeof node !== "object") return node;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(node)) {
    if (k === "description" || k === "example" || k.startsWith("x-")) continue;
    out[k] =
      k === "properties"
        ? Object.fromEntries(
            Object.entries(v as object).map(([p, s]) => [p, strictify(s, request)]),
          )
        : strictify(v, request);
  }
  // OpenAPI 3.0's boolean exclusive bounds, as JSON Schema's numeric ones.
  if (out.exclusiveMaximum === true) {
    out.exclusiveMaximum = out.maximum;
    delete out.maximum;
  }
  if (out.exclusiveMinimum === true) {
    out.exclusiveMinimum = out.minimum;
    delete out.minimum;
  }
  if (request && out.properties && out.additionalProperties === undefined)
    out.additionalProperties = false;
  if (out.nullable === true && out.type === undefined) {
    delete out.nullable;
    return { anyOf: [out, { type: "null" }] };
  }
  return out;
}

let validators: Map<string, ValidateFunction> | null = null;
/** One validator per request schema name (compiled once per process). */
export function requestValidator(name: string): ValidateFunction {
  if (validators === null) {
    const document = parse(readFileSync(OPENAPI_FILE, "utf8"), { maxAliasCount: -1 }) as {
      components: { schemas: Record<string, unknown> };
    };
    const schemas = Object.fromEntries(
      Object.entries(document.components.schemas)
        .filter(([n]) => n.endsWith("Request"))
        .map(([n, s]) => [n, strictify(s, true)]),
    );
    // A related object is given as a dictionary of its attributes; NetBox takes its primary key
    // among them (go-netbox's copy of the document leaves out the integer form of these fields).
    for (const [n, s] of Object.entries(schemas) as [
      string,
      { properties?: Record<string, unknown> },
    ][]) {
      if (n.startsWith("Brief") && s.properties) s.properties.id = { type: "integer", minimum: 1 };
    }
    const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false });
    ajv.addSchema({ $id: "netbox", components: { schemas } });
    const compiled = new Map<string, ValidateFunction>();
    for (const [post, patch] of Object.values(REQUEST_SCHEMAS)) {
      for (const n of [post, patch]) {
        const v = ajv.getSchema(`netbox#/components/schemas/${n}`);
        if (!v) throw new Error(`no schema ${n}`);
        compiled.set(n, v);
      }
    }
    validators = compiled;
  }
  const v = validators.get(name);
  if (!v) throw new Error(`no validator ${name}`);
  return v;
}

class Refused extends Error {
  status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

export interface NetboxServer {
  url: string;
  /** Objects per collection ("dcim/devices" -> rows), as the server holds them. */
  rows(collection: string): Row[];
  seed(collection: string, row: Record<string, unknown>): Row;
  /** Every write: method, collection, body, and the refusal if any. */
  writes: { method: string; path: string; body: unknown; refused: string | null }[];
  close(): Promise<void>;
}

export interface NetboxServerOptions {
  /** The token key; requests must carry "Token <key>" or, for nbt_ keys, "Bearer <key>". */
  token: string;
  /** What GET /api/status/ says (default 4.6.8). From 4.3 the server has module type profiles
   * (the built-in ones) and module types take profile and attribute_data, which 4.2 refuses. */
  version?: string;
}

export async function startNetboxServer(options: NetboxServerOptions): Promise<NetboxServer> {
  const version = options.version ?? "4.6.8";
  const [major, minor] = versionOf(version);
  const profiled = major > 4 || (major === 4 && minor >= 3);
  const data = new Map<string, Row[]>(COLLECTIONS.map((c) => [c, []]));
  let nextId = 1;
  if (profiled) {
    data.set(
      "dcim/module-type-profiles",
      builtinProfiles().map((p) => ({ id: nextId++, ...p })),
    );
  }
  const writes: NetboxServer["writes"] = [];
  const table = (c: string) => data.get(c) as Row[];
  // Indexes, so that a plan for 1,000 nodes does not scan every module for every node: rows by
  // id (ids are unique across collections), and per device for the collections of components.
  const ids = new Map<number, [string, Row]>();
  const perDevice = new Map<string, Map<unknown, Row[]>>();
  const byId = (c: string, id: unknown) => {
    const entry = typeof id === "number" ? ids.get(id) : undefined;
    return entry && entry[0] === c ? entry[1] : undefined;
  };
  const deviceOf = (c: string, row: Row): unknown =>
    c === "dcim/mac-addresses"
      ? (byId("dcim/interfaces", row.assigned_object_id)?.device as Row | undefined)?.id
      : (row.device as Row | undefined)?.id;
  const ofDevice = (c: string, device: unknown): Row[] => perDevice.get(c)?.get(device) ?? [];
  function index(c: string, row: Row) {
    ids.set(row.id, [c, row]);
    if (!DEVICE_SCOPED.has(c)) return;
    const byDevice = perDevice.get(c) ?? new Map<unknown, Row[]>();
    perDevice.set(c, byDevice);
    const device = deviceOf(c, row);
    byDevice.set(device, [...(byDevice.get(device) ?? []), row]);
  }
  /** After a PATCH: a component moved to another device is listed under it. */
  function reindex(c: string, row: Row, before: unknown) {
    if (!DEVICE_SCOPED.has(c) || deviceOf(c, row) === before) return;
    const old = perDevice.get(c)?.get(before) ?? [];
    old.splice(old.indexOf(row), 1);
    index(c, row);
  }
  for (const [c, rows] of data) for (const row of rows) index(c, row);

  function resolve(collection: string, wanted: unknown, field: string): Row {
    if (typeof wanted !== "object" || wanted === null)
      throw new Refused(400, `${field}: expected an object`);
    const id = (wanted as { id?: unknown }).id;
    const pool =
      typeof id === "number"
        ? [byId(collection, id)].filter((r) => r !== undefined)
        : table(collection);
    const matches = pool.filter((r) => holdsAll(r, wanted as Record<string, unknown>));
    if (matches.length !== 1)
      throw new Refused(
        400,
        `${field}: ${matches.length === 0 ? "no" : "multiple"} ${collection} match ${JSON.stringify(wanted)}`,
      );
    return matches[0] as Row;
  }

  /** Related objects in dictionary form to the rows they name (as NetBox resolves them). */
  function resolveRefs(
    collection: string,
    body: Record<string, unknown>,
    self: Row | null,
  ): Record<string, unknown> {
    const out: Record<string, unknown> = { ...body };
    const fk: Record<string, string> = {
      site: "dcim/sites",
      role: "dcim/device-roles",
      device_type: "dcim/device-types",
      manufacturer: "dcim/manufacturers",
      device: "dcim/devices",
      module_type: "dcim/module-types",
    };
    for (const [field, target] of Object.entries(fk)) {
      if (body[field] !== undefined && body[field] !== null)
        out[field] = { ...resolve(target, body[field], field) };
    }
    if (Array.isArray(body.tags))
      out.tags = body.tags.map((t) => ({
        ...resolve("extras/tags", { slug: (t as { slug: unknown }).slug }, "tags"),
      }));
    if (body.custom_fields !== undefined) {
      const known = new Set(table("extras/custom-fields").map((f) => f.name));
      for (const key of Object.keys(body.custom_fields as object)) {
        if (!known.has(key))
          throw new Refused(400, `custom_fields: Unknown field name '${key}' in custom field data`);
      }
      out.custom_fields = {
        ...((self?.custom_fields as object) ?? {}),
        ...(body.custom_fields as object),
      };
    }
    if (body.assigned_object_type !== undefined) {
      if (
        body.assigned_object_type !== "dcim.interface" ||
        !byId("dcim/interfaces", body.assigned_object_id)
      )
        throw new Refused(400, "assigned_object: no such interface");
    }
    if (body.primary_mac_address) {
      const mac = resolve("dcim/mac-addresses", body.primary_mac_address, "primary_mac_address");
      if (self === null || mac.assigned_object_id !== self.id)
        throw new Refused(
          400,
          "primary_mac_address: the MAC address is not assigned to this interface",
        );
      out.primary_mac_address = { id: mac.id, mac_address: mac.mac_address };
    }
    if (body.oob_ip) {
      const ip = resolve("ipam/ip-addresses", body.oob_ip, "oob_ip");
      const iface = byId("dcim/interfaces", ip.assigned_object_id);
      if (self === null || (iface?.device as Row | undefined)?.id !== self.id)
        throw new Refused(400, "oob_ip: the IP address is not assigned to this device");
      out.oob_ip = { id: ip.id, address: ip.address };
    }
    if (collection === "dcim/modules" && body.module_bay !== undefined) {
      // NetBox takes the bay's primary key here and answers with the nested bay.
      const bay = byId("dcim/module-bays", body.module_bay);
      if (!bay) throw new Refused(400, "module_bay: no such module bay");
      out.module_bay = { id: bay.id, name: bay.name };
    }
    if (collection === "dcim/modules") {
      const bay = byId("dcim/module-bays", (out.module_bay as Row | undefined)?.id);
      if (bay && (bay.device as Row).id !== (out.device as Row | undefined)?.id)
        throw new Refused(400, "module_bay: the bay belongs to another device");
    }
    if (collection === "dcim/cables") {
      for (const side of ["a_terminations", "b_terminations"]) {
        const ends = (body[side] as { object_type: string; object_id: number }[] | undefined) ?? [];
        for (const end of ends) {
          const iface = byId("dcim/interfaces", end.object_id);
          if (end.object_type !== "dcim.interface" || !iface)
            throw new Refused(400, `${side}: no such interface ${end.object_id}`);
          // NetBox: an interface has at most one cable.
          if (iface.cable && (iface.cable as Row).id !== self?.id)
            throw new Refused(
              400,
              `Duplicate termination found for dcim.interface:${iface.id}: cable ${(iface.cable as Row).id}`,
            );
        }
      }
    }
    if (collection === "dcim/mac-addresses" && out.mac_address)
      out.mac_address = String(out.mac_address).toUpperCase();
    return out;
  }

  function unique(collection: string, row: Row) {
    const clash = (what: string, same: (r: Row) => boolean) => {
      // Every rule on a component is within its device (a module's bay is on its own device).
      const pool = DEVICE_SCOPED.has(collection)
        ? ofDevice(collection, deviceOf(collection, row))
        : table(collection);
      if (pool.some((r) => r.id !== row.id && same(r))) throw new Refused(400, what);
    };
    const dev = (r: Row) => (r.device as Row | undefined)?.id;
    if (collection === "dcim/devices") {
      if (row.name)
        clash(
          `device name ${row.name} exists at this site`,
          (r) => r.name === row.name && (r.site as Row).id === (row.site as Row).id,
        );
      if (row.asset_tag)
        clash(`asset tag ${row.asset_tag} exists`, (r) => r.asset_tag === row.asset_tag);
    }
    if (
      ["dcim/interfaces", "dcim/inventory-items", "dcim/power-ports", "dcim/module-bays"].includes(
        collection,
      )
    )
      clash(
        `name ${row.name} exists on this device`,
        (r) => dev(r) === dev(row) && r.name === row.name,
      );
    if (collection === "dcim/module-types")
      clash(
        `module type ${row.model} exists for this manufacturer`,
        (r) => r.model === row.model && (r.manufacturer as Row).id === (row.manufacturer as Row).id,
      );
    if (collection === "dcim/modules")
      clash(
        "Module with this Module bay already exists.",
        (r) => (r.module_bay as Row).id === (row.module_bay as Row).id,
      );
    if (collection === "dcim/mac-addresses")
      clash(
        `MAC ${row.mac_address} is assigned to this interface already`,
        (r) => r.mac_address === row.mac_address && r.assigned_object_id === row.assigned_object_id,
      );
    if (["dcim/manufacturers", "dcim/device-types", "extras/tags"].includes(collection))
      clash(`slug ${row.slug} exists`, (r) => r.slug === row.slug);
    if (collection === "extras/custom-fields")
      clash(`custom field ${row.name} exists`, (r) => r.name === row.name);
  }

  /** A new cable: each end's interface shows it and its peers, as NetBox answers. */
  function connect(cable: Row) {
    const ends = (side: string) =>
      ((cable[side] as { object_id: number }[]) ?? []).map(
        (t) => byId("dcim/interfaces", t.object_id) as Row,
      );
    const brief = (i: Row) => ({
      id: i.id,
      name: i.name,
      device: { id: (i.device as Row).id, name: (i.device as Row).name },
    });
    const [a, b] = [ends("a_terminations"), ends("b_terminations")];
    for (const [mine, theirs] of [
      [a, b],
      [b, a],
    ] as const) {
      for (const i of mine) {
        i.cable = { id: cable.id };
        i.link_peers = theirs.map(brief);
        i.link_peers_type = "dcim.interface";
      }
    }
  }

  function filter(collection: string, row: Row, key: string, value: string): boolean {
    if (key.startsWith("cf_"))
      return (
        String((row.custom_fields as Record<string, unknown> | undefined)?.[key.slice(3)]) === value
      );
    if (key === "tag") return ((row.tags as Row[] | undefined) ?? []).some((t) => t.slug === value);
    if (key === "site") return (row.site as Row | undefined)?.slug === value;
    if (key === "manufacturer") return (row.manufacturer as Row | undefined)?.slug === value;
    if (key === "interface_id") return String(row.assigned_object_id) === value;
    if (key === "device_id") {
      if (collection === "dcim/mac-addresses")
        return (
          String(
            (byId("dcim/interfaces", row.assigned_object_id)?.device as Row | undefined)?.id,
          ) === value
        );
      return String((row.device as Row | undefined)?.id) === value;
    }
    return String(row[key]) === value;
  }

  async function handle(req: IncomingMessage, res: ServerResponse, base: string) {
    const auth = req.headers.authorization ?? "";
    const expected = options.token.startsWith("nbt_")
      ? `Bearer ${options.token}`
      : `Token ${options.token}`;
    if (auth !== expected) throw new Refused(403, "Invalid token");
    const url = new URL(req.url ?? "/", base);
    if (req.method === "GET" && url.pathname === "/api/status/")
      return { "netbox-version": version, "django-version": "5.2", plugins: {} };
    const m = /^\/api\/([a-z]+\/[a-z-]+)\/(?:(\d+)\/)?$/.exec(url.pathname);
    const collection = m?.[1] ?? "";
    if (!m || !data.has(collection)) throw new Refused(404, "Not found");
    const id = m[2] === undefined ? null : Number(m[2]);
    if (req.method === "GET" && id === null) {
      const limit = Number(url.searchParams.get("limit") ?? 50);
      const offset = Number(url.searchParams.get("offset") ?? 0);
      const filters = [...url.searchParams].filter(([k]) => k !== "limit" && k !== "offset");
      const device = url.searchParams.get("device_id");
      const pool =
        device !== null && DEVICE_SCOPED.has(collection)
          ? ofDevice(collection, Number(device))
          : table(collection);
      const all = pool.filter((r) => filters.every(([k, v]) => filter(collection, r, k, v)));
      const next = new URL(url);
      next.searchParams.set("offset", String(offset + limit));
      return {
        count: all.length,
        next: offset + limit < all.length ? next.href : null,
        previous: null,
        results: all.slice(offset, offset + limit),
      };
    }
    if ((req.method !== "POST" && req.method !== "PATCH") || !REQUEST_SCHEMAS[collection])
      throw new Refused(405, "Method not allowed");
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req) {
      size += (chunk as Buffer).length;
      if (size > 1024 * 1024) throw new Refused(413, "body too large");
      chunks.push(chunk as Buffer);
    }
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
    } catch {
      throw new Refused(400, "not JSON");
    }
    const entry = { method: req.method, path: collection, body, refused: null as string | null };
    writes.push(entry);
    try {
      const [post, patch] = REQUEST_SCHEMAS[collection] as [string, string];
      const validate = requestValidator(req.method === "POST" ? post : patch);
      // 4.3+ fields the 4.2.2 document does not have; on 4.2 they stay and are refused as unknown.
      const { profile, attribute_data, ...rest } = body;
      const later = profiled && collection === "dcim/module-types";
      if (!validate(later ? rest : body))
        throw new Refused(400, `schema: ${JSON.stringify(validate.errors?.slice(0, 3))}`);
      const extra: Record<string, unknown> = {};
      if (later) {
        const held = profile ? resolve("dcim/module-type-profiles", profile, "profile") : null;
        if (held) {
          // ModuleType.clean(): jsonschema.validate(attribute_data, profile.schema).
          const check = profileValidator(held.schema as Record<string, unknown>);
          if (!check(attribute_data ?? null))
            throw new Refused(400, `Invalid schema: ${JSON.stringify(check.errors?.slice(0, 3))}`);
          extra.profile = { id: held.id, name: held.name };
          extra.attribute_data = attribute_data ?? null;
        } else if (profile === null || (profile === undefined && req.method === "POST")) {
          // Without a profile NetBox clears the attribute data.
          extra.profile = null;
          extra.attribute_data = null;
        }
      }
      if (req.method === "POST" && id === null) {
        const row = {
          id: nextId,
          ...(collection === "dcim/interfaces" ? { cable: null, link_peers: [] } : {}),
          ...resolveRefs(collection, later ? rest : body, null),
          ...extra,
        } as Row;
        unique(collection, row);
        nextId++;
        table(collection).push(row);
        index(collection, row);
        if (collection === "dcim/cables") connect(row);
        res.statusCode = 201;
        return row;
      }
      const current = id === null ? undefined : byId(collection, id);
      if (req.method !== "PATCH" || !current) throw new Refused(404, "Not found");
      const row = {
        ...current,
        ...resolveRefs(collection, later ? rest : body, current),
        ...extra,
      } as Row;
      unique(collection, row);
      const before = deviceOf(collection, current);
      Object.assign(current, row);
      reindex(collection, current, before);
      return current;
    } catch (error) {
      entry.refused = error instanceof Error ? error.message : String(error);
      throw error;
    }
  }

  const server = createServer((req, res) => {
    const base = `http://${req.headers.host}`;
    handle(req, res, base).then(
      (answer) => {
        res.setHeader("Content-Type", "application/json");
        res.end(JSON.stringify(answer));
      },
      (error: unknown) => {
        res.statusCode = error instanceof Refused ? error.status : 500;
        res.setHeader("Content-Type", "application/json");
        res.end(JSON.stringify({ detail: error instanceof Error ? error.message : String(error) }));
      },
    );
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    rows: table,
    seed(collection, row) {
      const full = { id: nextId++, ...row } as Row;
      table(collection).push(full);
      index(collection, full);
      return full;
    },
    writes,
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}

/** Whether row holds every key of wanted (nested objects by their keys). */
function holdsAll(row: unknown, wanted: Record<string, unknown>): boolean {
  if (row === null || typeof row !== "object") return false;
  return Object.entries(wanted).every(([k, v]) => {
    const have = (row as Record<string, unknown>)[k];
    return v !== null && typeof v === "object"
      ? holdsAll(have, v as Record<string, unknown>)
      : k === "mac_address"
        ? String(have).toUpperCase() === String(v).toUpperCase()
        : have === v;
  });
}
