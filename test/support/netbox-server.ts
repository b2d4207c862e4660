// A stateful loopback server that answers like NetBox 4.2 for the endpoints the exporter uses
// (paginated GET lists with filters, POST, PATCH) and refuses what NetBox refuses: a request body
// not matching the OpenAPI document's request schema (validated with ajv against its
// components, with additionalProperties: false added, since NetBox drops unknown fields
// silently), unknown custom fields, unresolvable related objects, and NetBox's uniqueness rules
// (device name per site, asset tag across NetBox, interface, inventory item and power port name
// per device, one MAC object per interface assignment). No real NetBox can be installed on these machines; this is how the
// export is tested.
import { readFileSync } from "node:fs";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
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
  "extras/tags": ["TagRequest", "PatchedTagRequest"],
  "extras/custom-fields": ["WritableCustomFieldRequest", "PatchedWritableCustomFieldRequest"],
};
const COLLECTIONS = [...Object.keys(REQUEST_SCHEMAS), "dcim/sites", "dcim/device-roles"];

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
}

export async function startNetboxServer(options: NetboxServerOptions): Promise<NetboxServer> {
  const data = new Map<string, Row[]>(COLLECTIONS.map((c) => [c, []]));
  let nextId = 1;
  const writes: NetboxServer["writes"] = [];
  const table = (c: string) => data.get(c) as Row[];
  const byId = (c: string, id: unknown) => table(c).find((r) => r.id === id);

  function resolve(collection: string, wanted: unknown, field: string): Row {
    if (typeof wanted !== "object" || wanted === null)
      throw new Refused(400, `${field}: expected an object`);
    const matches = table(collection).filter((r) => holdsAll(r, wanted as Record<string, unknown>));
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
    if (collection === "dcim/mac-addresses" && out.mac_address)
      out.mac_address = String(out.mac_address).toUpperCase();
    return out;
  }

  function unique(collection: string, row: Row) {
    const clash = (what: string, same: (r: Row) => boolean) => {
      if (table(collection).some((r) => r.id !== row.id && same(r))) throw new Refused(400, what);
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
    if (["dcim/interfaces", "dcim/inventory-items", "dcim/power-ports"].includes(collection))
      clash(
        `name ${row.name} exists on this device`,
        (r) => dev(r) === dev(row) && r.name === row.name,
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

  function filter(collection: string, row: Row, key: string, value: string): boolean {
    if (key.startsWith("cf_"))
      return (
        String((row.custom_fields as Record<string, unknown> | undefined)?.[key.slice(3)]) === value
      );
    if (key === "tag") return ((row.tags as Row[] | undefined) ?? []).some((t) => t.slug === value);
    if (key === "site") return (row.site as Row | undefined)?.slug === value;
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
    const m = /^\/api\/([a-z]+\/[a-z-]+)\/(?:(\d+)\/)?$/.exec(url.pathname);
    const collection = m?.[1] ?? "";
    if (!m || !data.has(collection)) throw new Refused(404, "Not found");
    const id = m[2] === undefined ? null : Number(m[2]);
    if (req.method === "GET" && id === null) {
      const limit = Number(url.searchParams.get("limit") ?? 50);
      const offset = Number(url.searchParams.get("offset") ?? 0);
      const filters = [...url.searchParams].filter(([k]) => k !== "limit" && k !== "offset");
      const all = table(collection).filter((r) =>
        filters.every(([k, v]) => filter(collection, r, k, v)),
      );
      const next = new URL(url);
      next.searchParams.set("offset", String(offset + limit));
      return {
        count: all.length,
        next: offset + limit < all.length ? next.href : null,
        previous: null,
        results: all.slice(offset, offset + limit),
      };
    }
    if (req.method !== "POST" && req.method !== "PATCH")
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
      if (!validate(body))
        throw new Refused(400, `schema: ${JSON.stringify(validate.errors?.slice(0, 3))}`);
      if (req.method === "POST" && id === null) {
        const row = { id: nextId, ...resolveRefs(collection, body, null) } as Row;
        unique(collection, row);
        nextId++;
        table(collection).push(row);
        res.statusCode = 201;
        return row;
      }
      const current = id === null ? undefined : byId(collection, id);
      if (req.method !== "PATCH" || !current) throw new Refused(404, "Not found");
      const row = { ...current, ...resolveRefs(collection, body, current) } as Row;
      unique(collection, row);
      Object.assign(current, row);
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
