// NetBox export: the mapping, and the sync against a stateful loopback server that answers like
// NetBox and refuses what NetBox refuses (OpenAPI request schemas with unknown keys refused,
// uniqueness rules, unknown custom fields). Every fixture machine is applied, then applied again.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { exportCommand } from "../../agent/export/command.ts";
import {
  authorization,
  interfaceType,
  NetboxClient,
  PROFILES,
  planText,
  syncNode,
  toNetbox,
  UUID_FIELD,
} from "../../agent/export/netbox.ts";
import { prepare } from "../../agent/export/netbox-sync.ts";
import { type Inventory, Inventory as InventorySchema } from "../../schema/inventory.ts";
import {
  builtinProfiles,
  profileValidator,
  requestValidator,
  startNetboxServer,
} from "../support/netbox-server.ts";
import { replay, replayAll, withNics } from "./fixtures.ts";

const SCOPE = { site: { name: "DC 1", slug: "dc1" }, role: { name: "Server", slug: "server" } };

async function netbox(token = "0123456789abcdef", version?: string) {
  const server = await startNetboxServer({ token, version });
  server.seed("dcim/sites", { ...SCOPE.site });
  server.seed("dcim/device-roles", { ...SCOPE.role });
  return { server, client: new NetboxClient(server.url, token, fetch) };
}

/** The Dell R740 fixture with two NICs and the BMC of the ipmi_sim fixture. */
async function fullMachine(): Promise<Inventory> {
  const doc = await withNics("dell-poweredge-r740-linuxhw");
  doc.bmc = (await replay("ipmi-sim-openipmi")).bmc;
  return InventorySchema.parse(doc);
}

const quiet = { stderr: () => undefined, stderrIsTty: false };

test("every fixture: every request body validates, nothing is refused; a second run changes nothing", async () => {
  const { server } = await netbox();
  const dir = mkdtempSync(join(tmpdir(), "h9-netbox-"));
  // The full machine's eno1 sees switch sw-a1 port Ethernet1/1 through LLDP; both are in NetBox.
  const cabled = await fullMachine();
  (cabled.nics[0] as Inventory["nics"][number]).lldp = {
    chassisId: "00:11:22:33:44:55",
    systemName: "sw-a1",
    portId: "Ethernet1/1",
    portDescription: null,
    vlanId: null,
  };
  const sw = server.seed("dcim/devices", {
    name: "sw-a1",
    site: server.rows("dcim/sites")[0],
    tags: [],
  });
  const swPort = server.seed("dcim/interfaces", {
    device: { id: sw.id, name: sw.name },
    name: "Ethernet1/1",
    type: "10gbase-x-sfpp",
    cable: null,
    link_peers: [],
    tags: [],
  });
  const docs = [...(await replayAll()).values(), cabled];
  // Distinct nodes only (some fixtures are the same machine captured twice).
  const byNode = new Map(docs.map((d) => [d.nodeId, d]));
  for (const d of byNode.values()) writeFileSync(join(dir, `${d.nodeId}.json`), JSON.stringify(d));
  const token = join(dir, "token");
  writeFileSync(token, "0123456789abcdef\n");
  const args = [
    "netbox",
    "--from",
    dir,
    "--url",
    server.url,
    "--token-file",
    token,
    "--site",
    "dc1",
    "--role",
    "server",
    "--json",
  ];
  const run = async () => {
    let text = "";
    await exportCommand(args, { ...quiet, stdout: (t) => (text += t) }).catch(() => undefined);
    return JSON.parse(text).results as { node: string; outcome: string; detail: string }[];
  };
  try {
    const first = await run();
    assert.deepEqual(
      server.writes.filter((w) => w.refused !== null),
      [],
      "no write refused",
    );
    for (const r of first) {
      const doc = byNode.get(r.node) as Inventory;
      const typed = toNetbox(doc, SCOPE).deviceType !== null;
      assert.equal(r.outcome, typed ? "created" : "failed", `${r.node}: ${r.detail}`);
      if (!typed) assert.match(r.detail, /no device type/);
    }
    assert.ok(first.filter((r) => r.outcome === "created").length >= 20);
    const writes = server.writes.length;
    const second = await run();
    assert.deepEqual(
      server.writes.slice(writes).map((w) => [w.method, w.path, w.body]),
      [],
    );
    assert.equal(server.writes.length, writes, "the second run wrote nothing");
    for (const r of second)
      assert.ok(r.outcome === "unchanged" || r.outcome === "failed", `${r.node}: ${r.detail}`);
    // What the server holds for the full machine: BMC, oob_ip, MACs, primary MAC.
    const full = await fullMachine();
    const device = server.rows("dcim/devices").find((d) => d.name === full.nodeId);
    assert.ok(device);
    assert.equal((device.custom_fields as Record<string, unknown>)[UUID_FIELD], full.system.uuid);
    assert.equal(
      (device.oob_ip as { address: string }).address.split("/")[0],
      full.bmc?.ipv4Address,
    );
    const ifaces = server
      .rows("dcim/interfaces")
      .filter((i) => (i.device as { id: number }).id === device.id);
    const bmc = ifaces.find((i) => i.name === "bmc");
    assert.equal(bmc?.mgmt_only, true);
    const eno1 = ifaces.find((i) => i.name === "eno1");
    assert.equal(eno1?.speed, 10_000_000);
    assert.equal(eno1?.type, "10gbase-x-sfpp");
    assert.equal(
      (eno1?.primary_mac_address as { mac_address: string } | undefined)?.mac_address,
      "3C:EC:EF:10:20:30",
    );
    const ports = server
      .rows("dcim/power-ports")
      .filter((p) => (p.device as { id: number }).id === device.id);
    assert.equal(ports.length, full.powerSupplies.length);
    assert.ok(ports.length > 0);
    assert.equal(ports[0]?.maximum_draw, full.powerSupplies[0]?.maxPowerWatts ?? undefined);
    assert.ok(
      server
        .rows("dcim/devices")
        .filter((d) => d.id !== sw.id)
        .every((d) => (d.tags as { slug: string }[]).some((t) => t.slug === "recon")),
    );
    assert.deepEqual(sw.tags, [], "the switch a person made is left as it was");
    // NetBox 4.6: CPUs, DIMMs and PSUs as modules in bays of their own, with profiled types.
    const mine = (rows: Record<string, unknown>[]) =>
      rows.filter((r) => (r.device as { id: number }).id === device.id);
    const bays = mine(server.rows("dcim/module-bays"));
    const modules = mine(server.rows("dcim/modules"));
    assert.equal(
      bays.length,
      full.processors.length + full.memory.dimms.length + full.powerSupplies.length,
    );
    assert.equal(modules.length, bays.length, "one module in every bay");
    assert.equal(mine(server.rows("dcim/inventory-items")).length, 0);
    const dimm = full.memory.dimms[0];
    const dimmModule = modules.find(
      (m) => (m.module_bay as { name: string }).name === `DIMM ${dimm?.locator}`,
    );
    const dimmType = dimmModule?.module_type as Record<string, unknown>;
    assert.equal(dimmType.model, dimm?.partNumber);
    assert.deepEqual(dimmType.profile, {
      id: (dimmType.profile as { id: number }).id,
      name: "Memory",
    });
    assert.deepEqual(dimmType.attribute_data, {
      class: dimm?.type,
      size: (dimm?.sizeBytes ?? 0) / 2 ** 30,
      data_rate: dimm?.speedMts,
    });
    // The LLDP cable, between eno1 and the switch port.
    assert.equal(server.rows("dcim/cables").length, 1);
    assert.deepEqual(
      ((eno1?.link_peers as { id: number }[] | undefined) ?? []).map((p) => p.id),
      [swPort.id],
    );
    // One module type per manufacturer and model, shared by every node.
    const types = server.rows("dcim/module-types");
    assert.equal(
      new Set(types.map((t) => `${(t.manufacturer as { id: number }).id} ${t.model}`)).size,
      types.length,
    );
  } finally {
    await server.close();
  }
});

test("the validator refuses what NetBox would drop or refuse (so the test above can fail)", async () => {
  const body = toNetbox(await fullMachine(), SCOPE);
  const iface = requestValidator("WritableInterfaceRequest");
  assert.ok(iface(body.interfaces[0]?.body));
  assert.equal(iface({ ...body.interfaces[0]?.body, speeed: 1 }), false, "misspelt field");
  assert.equal(
    iface({ ...body.interfaces[0]?.body, type: "10G SFP+" }),
    false,
    "a label, not a value",
  );
  assert.equal(
    requestValidator("WritableDeviceWithConfigContextRequest")({
      ...body.device,
      serial: "x".repeat(51),
    }),
    false,
  );
});

test("mapping: type values, kbps, the BMC, names never from the hostname, no placeholders", async () => {
  const doc = await fullMachine();
  doc.hostname = "live-image";
  doc.system.serialNumber = "To Be Filled By O.E.M.";
  const o = toNetbox(doc, SCOPE);
  assert.equal(o.device.name, doc.nodeId);
  assert.equal(o.serial, null);
  assert.equal(o.device.serial, undefined);
  assert.ok(!JSON.stringify(o).includes("To Be Filled"));
  const bmc = o.interfaces.find((i) => i.name === "bmc");
  assert.equal(bmc?.body.mgmt_only, true);
  assert.match(bmc?.oobAddress ?? "", /^\d+\.\d+\.\d+\.\d+\/\d+$/);
  const nic = doc.nics[0] as Inventory["nics"][number];
  assert.equal(interfaceType({ ...nic, speedMbps: 1000 }), "1000base-t");
  assert.equal(interfaceType({ ...nic, speedMbps: 25000 }), "25gbase-x-sfp28");
  assert.equal(interfaceType({ ...nic, speedMbps: 100000 }), "100gbase-x-qsfp28");
  assert.equal(interfaceType({ ...nic, speedMbps: null }), "other");
  assert.equal(interfaceType({ ...nic, pciAddress: null }), "virtual");
  assert.equal(interfaceType({ ...nic, name: "bond0", pciAddress: null }), "lag");
  const items = toNetbox(doc, SCOPE, "inventory-items");
  assert.ok(items.inventoryItems.some((i) => String(i.name).startsWith("DIMM ")));
  assert.equal(items.modules.length, 0);
  assert.equal(new Set(items.inventoryItems.map((i) => i.name)).size, items.inventoryItems.length);
  // Modules mode: the same parts, as modules in bays of the same names.
  assert.deepEqual(
    [...o.modules.map((m) => m.bay.name), ...o.inventoryItems.map((i) => i.name)].sort(),
    items.inventoryItems.map((i) => i.name).sort(),
  );
  assert.ok(o.modules.some((m) => String(m.bay.name).startsWith("DIMM ")));
});

test("modules: every fixture's module type attribute data validates against its profile's JSON schema; a profile only with its required attributes", async () => {
  const profiles = new Map(builtinProfiles().map((p) => [p.name, p.schema]));
  const docs = [...(await replayAll()).values(), await fullMachine()];
  const typeBody = requestValidator("WritableModuleTypeRequest");
  const bayBody = requestValidator("ModuleBayRequest");
  const seen = new Set<string>();
  for (const doc of docs) {
    const o = toNetbox(doc, SCOPE);
    for (const m of o.modules) {
      const { profile, attribute_data, ...rest } = m.moduleType;
      assert.ok(typeBody(rest), `${doc.nodeId} ${m.bay.name}: ${JSON.stringify(typeBody.errors)}`);
      assert.ok(bayBody(m.bay), `${doc.nodeId} ${m.bay.name}`);
      if (m.profile === null) {
        assert.equal(profile, undefined);
        assert.equal(attribute_data, undefined);
        continue;
      }
      seen.add(m.profile);
      assert.deepEqual(profile, { name: m.profile });
      assert.equal(m.profile, PROFILES[m.kind].name);
      const schema = profiles.get(m.profile);
      assert.ok(schema, m.profile);
      const validate = profileValidator(schema);
      assert.ok(
        validate(attribute_data),
        `${doc.nodeId} ${m.bay.name}: ${JSON.stringify(validate.errors)}`,
      );
      // The required list the mapping keeps is the schema's own.
      assert.deepEqual(PROFILES[m.kind].required, (schema.required as string[] | undefined) ?? []);
    }
  }
  assert.ok(seen.has("CPU") && seen.has("Memory"), [...seen].join(", "));
  // The profiles' validators can fail: a DIMM without its class, a disk size as text.
  const memory = profileValidator(profiles.get("Memory") as Record<string, unknown>);
  assert.equal(memory({ size: 16 }), false);
  assert.equal(memory({ class: "DDR4", size: 16, data_rate: 3200 }), true);
  assert.equal(memory({ class: "LPDDR5", size: 16 }), false);
  const disk = profileValidator(profiles.get("Hard disk") as Record<string, unknown>);
  assert.equal(disk({ size: "480" }), false);
  // What is unknown stays out: a DIMM of type "RAM" has no class, so no profile (never DDR5,
  // the profile's default); a PSU never has one (input current and voltage are not known).
  const doc = await fullMachine();
  doc.memory.dimms = doc.memory.dimms.map((d) => ({ ...d, type: "RAM" }));
  const o = toNetbox(doc, SCOPE);
  const dimm = o.modules.find((m) => m.kind === "memory");
  assert.equal(dimm?.profile, null);
  assert.ok(o.modules.some((m) => m.kind === "psu"));
  assert.ok(o.modules.filter((m) => m.kind === "psu").every((m) => m.profile === null));
  const cpu = o.modules.find((m) => m.kind === "cpu");
  assert.deepEqual(cpu?.moduleType.attribute_data, {
    speed: (doc.processors[0]?.currentSpeedMhz ?? 0) / 1000,
    cores: doc.processors[0]?.cores,
  });
  // A part whose maker is unknown cannot have a module type: it stays an inventory item.
  doc.memory.dimms = doc.memory.dimms.map((d) => ({ ...d, manufacturer: null }));
  const without = toNetbox(doc, SCOPE);
  assert.ok(without.inventoryItems.some((i) => String(i.name).startsWith("DIMM ")));
  assert.ok(!without.modules.some((m) => m.kind === "memory"));
});

test("matching: on the UUID custom field (name a person gave kept), then on exactly one serial", async () => {
  const { server, client } = await netbox();
  try {
    const machine = await fullMachine();
    const doc = {
      ...machine,
      system: { ...machine.system, uuid: "4c4c4544-0042-3010-8056-b4c04f4d4e31" },
    };
    // Unknown tags and custom fields are refused (NetBox: they must exist first).
    await assert.rejects(syncNode(client, toNetbox(doc, SCOPE), "dc1", false), /HTTP 400/);
    // The session makes the tag and custom field; here the sync alone: seed them.
    server.seed("extras/tags", { name: "recon", slug: "recon" });
    server.seed("extras/custom-fields", { name: UUID_FIELD });
    const first = await syncNode(
      client,
      toNetbox({ ...doc, nodeId: "first-name" }, SCOPE),
      "dc1",
      false,
    );
    assert.ok(first.create.includes("device first-name"));
    const device = server.rows("dcim/devices")[0];
    assert.ok(device);
    device.name = "rack4-db1"; // a person renamed it
    const again = await syncNode(
      client,
      toNetbox({ ...doc, nodeId: "other-id" }, SCOPE),
      "dc1",
      false,
    );
    assert.deepEqual(again.create, [], "matched on the UUID");
    assert.equal(server.rows("dcim/devices").length, 1);
    assert.equal(server.rows("dcim/devices")[0]?.name, "rack4-db1");
    // Without a UUID: two devices with its serial match none, and the node fails.
    const twin = {
      ...doc,
      nodeId: "twin",
      system: { ...doc.system, uuid: null, serialNumber: "SER123" },
    };
    server.seed("dcim/devices", {
      name: "a",
      serial: "SER123",
      site: { id: 1, ...SCOPE.site },
      tags: [],
    });
    server.seed("dcim/devices", {
      name: "b",
      serial: "SER123",
      site: { id: 1, ...SCOPE.site },
      tags: [],
    });
    await assert.rejects(
      syncNode(client, toNetbox(twin, SCOPE), "dc1", true),
      /2 devices with serial SER123/,
    );
  } finally {
    await server.close();
  }
});

test("a refused object fails its node and the others go on; dry-run plans and writes nothing", async () => {
  const { server } = await netbox("nbt_abc.def");
  const dir = mkdtempSync(join(tmpdir(), "h9-netbox-"));
  const doc = await fullMachine();
  const clash = {
    ...doc,
    nodeId: "clash",
    system: { ...doc.system, uuid: null, serialNumber: "OTHER1" },
    chassis: { ...doc.chassis, assetTag: "AT-1" },
  };
  const fine = {
    ...doc,
    nodeId: "fine",
    system: { ...doc.system, uuid: null, serialNumber: "OTHER2" },
  };
  writeFileSync(join(dir, "a.json"), JSON.stringify(clash));
  writeFileSync(join(dir, "b.json"), JSON.stringify(fine));
  writeFileSync(join(dir, "token"), "nbt_abc.def\n");
  server.seed("dcim/devices", {
    name: "a person's",
    asset_tag: "AT-1",
    site: { id: 1, ...SCOPE.site },
    tags: [],
  });
  const base = [
    "netbox",
    "--from",
    join(dir, "a.json"),
    "--from",
    join(dir, "b.json"),
    "--url",
    server.url,
    "--token-file",
    join(dir, "token"),
    "--site",
    "dc1",
    "--role",
    "server",
  ];
  try {
    let plan = "";
    await exportCommand([...base, "--dry-run"], { ...quiet, stdout: (t) => (plan += t) });
    assert.equal(server.writes.length, 0, "dry-run wrote nothing");
    assert.match(plan, /clash +planned +would create \d+: manufacturer/);
    let text = "";
    await assert.rejects(
      exportCommand(base, { ...quiet, stdout: (t) => (text += t) }),
      /1 created, 1 failed/,
    );
    assert.match(text, /clash +failed .*asset tag AT-1 exists/);
    assert.match(text, /fine +created/);
  } finally {
    await server.close();
  }
  assert.equal(authorization("nbt_abc.def"), "Bearer nbt_abc.def");
  assert.equal(authorization("0123abcd"), "Token 0123abcd");
});

test("lists follow NetBox's pagination (results / next / count) to the last page", async () => {
  const { server, client } = await netbox();
  try {
    for (let i = 0; i < 2345; i++) server.seed("extras/tags", { name: `t${i}`, slug: `t${i}` });
    const rows = await client.list("extras/tags", {});
    assert.equal(rows.length, 2345);
    assert.equal(new Set(rows.map((r) => r.id)).size, 2345);
    assert.equal(client.requests, 3, "three pages of 1000");
  } finally {
    await server.close();
  }
});

test("netbox --help tells its flags; --site/--role and --url or --out required", async () => {
  let help = "";
  await exportCommand(["netbox", "--help"], { ...quiet, stdout: (t) => (help += t) });
  for (const flag of [
    "--site SLUG",
    "--role SLUG",
    "--url URL",
    "--token-file F",
    "--dry-run",
    "Bearer",
  ]) {
    assert.ok(help.includes(flag), flag);
  }
  const dir = mkdtempSync(join(tmpdir(), "h9-netbox-"));
  await assert.rejects(
    exportCommand(["netbox", "--from", dir, "--url", "http://127.0.0.1:9/"], quiet),
    /--site SLUG and --role SLUG/,
  );
  await assert.rejects(
    exportCommand(["netbox", "--from", dir, "--site", "a", "--role", "b"], quiet),
    /needs --url/,
  );
  await assert.rejects(
    exportCommand(
      [
        "netbox",
        "--from",
        dir,
        "--site",
        "a",
        "--role",
        "b",
        "--url",
        "http://127.0.0.1:9/",
        "--out",
        dir,
      ],
      quiet,
    ),
    /one or the other/,
  );
  await assert.rejects(
    exportCommand(
      [
        "netbox",
        "--from",
        dir,
        "--site",
        "a",
        "--role",
        "b",
        "--url",
        "http://127.0.0.1:9/",
      ].concat(["--netbox-version", "4.2"]),
      quiet,
    ),
    /--netbox-version is for --out/,
  );
  for (const flag of ["--inventory-items", "--netbox-version V", "--out DIR", "/api/status/"])
    assert.ok(help.includes(flag), flag);
});

test("NetBox 4.2 (from /api/status/) and --inventory-items: inventory items, no module objects; 4.2 refuses a module type profile", async () => {
  const doc = await fullMachine();
  const dir = mkdtempSync(join(tmpdir(), "h9-netbox-"));
  writeFileSync(join(dir, "a.json"), JSON.stringify(doc));
  writeFileSync(join(dir, "token"), "0123456789abcdef\n");
  for (const [version, flags] of [
    ["4.2.9", []],
    ["4.6.8", ["--inventory-items"]],
  ] as const) {
    const { server, client } = await netbox("0123456789abcdef", version);
    try {
      let text = "";
      await exportCommand(
        ["netbox", "--from", join(dir, "a.json"), "--url", server.url, "--token-file"].concat([
          join(dir, "token"),
          "--site",
          "dc1",
          "--role",
          "server",
          ...flags,
        ]),
        { ...quiet, stdout: (t) => (text += t) },
      );
      assert.match(text, /created/);
      assert.deepEqual(
        server.writes.filter((w) => w.refused !== null),
        [],
      );
      const writes = server.writes.length;
      let again = "";
      await exportCommand(
        ["netbox", "--from", join(dir, "a.json"), "--url", server.url, "--token-file"].concat([
          join(dir, "token"),
          "--site",
          "dc1",
          "--role",
          "server",
          ...flags,
        ]),
        { ...quiet, stdout: (t) => (again += t) },
      );
      assert.equal(server.writes.length, writes, `${version}: the second run wrote nothing`);
      assert.match(again, /unchanged/);
      const items = server.rows("dcim/inventory-items");
      assert.equal(
        items.length,
        doc.processors.length + doc.memory.dimms.length + doc.powerSupplies.length,
      );
      for (const path of ["dcim/module-types", "dcim/module-bays", "dcim/modules"])
        assert.equal(server.rows(path).length, 0, `${version}: ${path}`);
      if (version === "4.2.9") {
        // 4.2 has no profiles: the endpoint is missing and the field is refused as unknown.
        await assert.rejects(client.list("dcim/module-type-profiles", {}), /HTTP 404/);
        server.seed("dcim/manufacturers", { name: "Acme", slug: "acme" });
        await assert.rejects(
          client.create("dcim/module-types", {
            manufacturer: { name: "Acme", slug: "acme" },
            model: "X1",
            profile: { name: "CPU" },
          }),
          /HTTP 400.*profile/,
        );
      }
    } finally {
      await server.close();
    }
  }
});

test("the test server refuses what NetBox refuses for modules: attribute data against the profile, two modules in a bay, a bay name twice", async () => {
  const { server, client } = await netbox();
  try {
    const site = server.rows("dcim/sites")[0];
    const device = server.seed("dcim/devices", { name: "d1", site, tags: [] });
    server.seed("dcim/manufacturers", { name: "Acme", slug: "acme" });
    const acme = { name: "Acme", slug: "acme" };
    const memory = server.rows("dcim/module-type-profiles").find((p) => p.name === "Memory");
    assert.ok(memory, "the built-in profiles are there on 4.6");
    const profile = { id: memory.id, name: "Memory" };
    await assert.rejects(
      client.create("dcim/module-types", {
        manufacturer: acme,
        model: "M1",
        profile,
        attribute_data: { size: 16 },
      }),
      /HTTP 400 .*Invalid schema.*class/,
    );
    const type = await client.create("dcim/module-types", {
      manufacturer: acme,
      model: "M1",
      profile,
      attribute_data: { class: "DDR4", size: 16 },
    });
    await assert.rejects(
      client.create("dcim/module-types", { manufacturer: acme, model: "M1" }),
      /exists for this manufacturer/,
    );
    const ref = { id: device.id, name: "d1" };
    const bay = await client.create("dcim/module-bays", { device: ref, name: "DIMM A1" });
    await assert.rejects(
      client.create("dcim/module-bays", { device: ref, name: "DIMM A1" }),
      /name DIMM A1 exists on this device/,
    );
    const module = {
      device: ref,
      module_bay: bay.id,
      module_type: { id: type.id, manufacturer: acme, model: "M1" },
    };
    await client.create("dcim/modules", module);
    await assert.rejects(client.create("dcim/modules", module), /Module bay already exists/);
    await assert.rejects(
      client.create("dcim/modules", { ...module, module_bay: String(bay.id) }),
      /HTTP 400 .*schema.*module_bay.*must be integer/,
    );
  } finally {
    await server.close();
  }
});

test("--out writes the mapping per node without asking NetBox: modules by default, inventory items for --netbox-version 4.2", async () => {
  const doc = await fullMachine();
  const dir = mkdtempSync(join(tmpdir(), "h9-netbox-"));
  writeFileSync(join(dir, "a.json"), JSON.stringify(doc));
  for (const [flags, mode] of [
    [[], "modules"],
    [["--netbox-version", "4.2.2"], "inventory-items"],
    [["--netbox-version", "4.6.8", "--inventory-items"], "inventory-items"],
  ] as const) {
    const out = mkdtempSync(join(tmpdir(), "h9-netbox-out-"));
    let text = "";
    await exportCommand(
      [
        "netbox",
        "--from",
        join(dir, "a.json"),
        "--out",
        out,
        "--site",
        "dc1",
        "--role",
        "srv",
      ].concat(flags),
      { ...quiet, stdout: (t) => (text += t) },
    );
    assert.match(text, /written/);
    const written = JSON.parse(readFileSync(join(out, `${doc.nodeId}.json`), "utf8"));
    assert.equal(written.mode, mode);
    assert.deepEqual(
      written,
      JSON.parse(
        JSON.stringify(toNetbox(doc, { site: { slug: "dc1" }, role: { slug: "srv" } }, mode)),
      ),
    );
    assert.equal(written.modules.length > 0, mode === "modules");
  }
  await assert.rejects(
    exportCommand(
      [
        "netbox",
        "--from",
        dir,
        "--out",
        dir,
        "--site",
        "a",
        "--role",
        "b",
        "--netbox-version",
        "3.7",
      ],
      quiet,
    ),
    /--netbox-version 3.7: NetBox 4.2 or later/,
  );
});

test("GPUs from gpus[]: a module with the GPU profile when its memory is known; the BMC's on-board VGA is none", async () => {
  const doc = await fullMachine();
  const vga = (await replay("vmware-vm-ubuntu2010-lspci-jc")).pciDevices.find((p) =>
    p.classId?.startsWith("03"),
  );
  assert.ok(vga);
  const gpu = {
    pciAddress: "0000:17:00.0",
    vendor: "NVIDIA Corporation",
    model: "NVIDIA A100-SXM4-40GB",
    uuid: "GPU-6f1c2a3b-0000-4000-8000-000000000001",
    serialNumber: "1563220012345",
    vbiosVersion: "92.00.45.00.03",
    memoryBytes: 40 * 2 ** 30,
    driver: "nvidia",
    numaNode: 0,
  };
  doc.pciDevices = [
    ...doc.pciDevices,
    { ...vga, address: "0000:03:00.0", vendorId: "1a03", vendorName: "ASPEED Technology, Inc." },
  ];
  doc.gpus = [
    gpu,
    { ...gpu, pciAddress: "0000:03:00.0", vendor: "ASPEED Technology, Inc.", model: "ASPEED" },
    { ...gpu, pciAddress: "0000:31:00.0", vendor: "10de", memoryBytes: null, serialNumber: null },
  ];
  const o = toNetbox(InventorySchema.parse(doc), SCOPE);
  const gpus = o.modules.filter((m) => m.kind === "gpu");
  assert.deepEqual(
    gpus.map((m) => m.bay.name),
    ["GPU 0000:17:00.0"],
    "the ASPEED VGA is no GPU; a bare vendor id with no lspci name is no maker",
  );
  assert.ok(o.inventoryItems.some((i) => i.name === "GPU 0000:31:00.0"));
  const [a100] = gpus;
  assert.equal(a100?.profile, "GPU");
  assert.deepEqual(a100?.moduleType.attribute_data, { gpu: gpu.model, memory: 40 });
  const schema = builtinProfiles().find((p) => p.name === "GPU")?.schema;
  assert.ok(schema && profileValidator(schema)(a100?.moduleType.attribute_data));
  assert.equal(a100?.module.serial, gpu.serialNumber);
  assert.match(String(a100?.module.description), /UUID GPU-6f1c.*VBIOS 92\.00/);
  // Applied: NetBox takes it (the server checks the attribute data against the profile too).
  const { server, client } = await netbox();
  try {
    server.seed("extras/tags", { name: "recon", slug: "recon" });
    server.seed("extras/custom-fields", { name: UUID_FIELD });
    client.profiles = new Map(
      server.rows("dcim/module-type-profiles").map((p) => [String(p.name), p]),
    );
    assert.ok(client.profiles.has("GPU"));
    await syncNode(client, o, "dc1", false);
    assert.deepEqual(
      server.writes.filter((w) => w.refused !== null),
      [],
    );
    const type = server.rows("dcim/module-types").find((t) => t.model === gpu.model);
    assert.equal((type?.profile as { name: string } | undefined)?.name, "GPU");
  } finally {
    await server.close();
  }
});

test("cables from LLDP: made only between interfaces both in NetBox; a conflicting cable is reported, never replaced; no switch is created", async () => {
  const { server, client } = await netbox();
  try {
    await prepare(client, false, "modules"); // as the session does: tag, custom field, profiles
    const site = server.rows("dcim/sites")[0];
    const port = (device: Record<string, unknown> & { id: number }, name: string) =>
      server.seed("dcim/interfaces", {
        device: { id: device.id, name: device.name },
        name,
        type: "10gbase-x-sfpp",
        cable: null,
        link_peers: [],
        tags: [],
      });
    const sw = server.seed("dcim/devices", { name: "sw-a1", site, tags: [] });
    const other = server.seed("dcim/devices", { name: "other", site, tags: [] });
    const [p1, p2] = [port(sw, "Ethernet1/1"), port(sw, "Ethernet1/2"), port(sw, "Ethernet1/3")];
    const eth0 = port(other, "eth0");
    // A person cabled Ethernet1/2 to another machine.
    const end = (id: number) => [{ object_type: "dcim.interface", object_id: id }];
    await client.create("dcim/cables", {
      a_terminations: end(eth0.id),
      b_terminations: end(p2?.id as number),
    });
    const doc = await fullMachine();
    const base = doc.nics[0] as Inventory["nics"][number];
    const lldp = (systemName: string, portId: string) => ({
      chassisId: "00:11:22:33:44:55",
      systemName,
      portId,
      portDescription: null,
      vlanId: null,
    });
    doc.nics = [
      { ...base, name: "eno1", lldp: lldp("sw-a1", "Ethernet1/1") },
      {
        ...base,
        name: "eno2",
        macAddress: "3c:ec:ef:10:20:32",
        permanentMacAddress: null,
        lldp: lldp("sw-a1", "Ethernet1/2"),
      },
      {
        ...base,
        name: "eno3",
        macAddress: "3c:ec:ef:10:20:33",
        permanentMacAddress: null,
        lldp: lldp("sw-missing", "Ethernet1/1"),
      },
      {
        ...base,
        name: "eno4",
        macAddress: "3c:ec:ef:10:20:34",
        permanentMacAddress: null,
        lldp: lldp("sw-a1", "Ethernet9/9"),
      },
    ];
    const objects = () => toNetbox(InventorySchema.parse(doc), SCOPE);
    const planned = await syncNode(client, objects(), "dc1", true);
    assert.ok(planned.create.includes("cable eno1 to sw-a1 Ethernet1/1"), planned.create.join());
    const notes = planned.notes.join("\n");
    assert.match(
      notes,
      /cable eno2 to sw-a1 Ethernet1\/2: sw-a1 Ethernet1\/2 has cable \d+ to other eth0, not replaced/,
    );
    assert.match(
      notes,
      /cable eno3 to sw-missing Ethernet1\/1: no device named sw-missing in NetBox/,
    );
    assert.match(notes, /cable eno4 to sw-a1 Ethernet9\/9: sw-a1 has no interface Ethernet9\/9/);
    const first = await syncNode(client, objects(), "dc1", false);
    assert.deepEqual(first.notes, planned.notes);
    // Honest counts: a shared module type or manufacturer counts once per node, so a first run
    // into this NetBox leaves nothing "unchanged", and the second finds what the first created.
    assert.equal(first.unchanged, 0);
    assert.deepEqual([first.create, first.update], [planned.create, planned.update], "as planned");
    assert.deepEqual(
      server.writes.filter((w) => w.refused !== null),
      [],
    );
    const cables = server.rows("dcim/cables");
    assert.equal(cables.length, 2, "one new cable; the person's is untouched");
    assert.deepEqual(
      server
        .rows("dcim/devices")
        .map((d) => d.name)
        .filter((n) => String(n).startsWith("sw")),
      ["sw-a1"],
    );
    assert.equal((p1?.link_peers as { name: string }[] | undefined)?.[0]?.name, "eno1");
    assert.equal((p2?.link_peers as { name: string }[] | undefined)?.[0]?.name, "eth0");
    // Second run: nothing written, the cable counted unchanged, the conflict still reported.
    const writes = server.writes.length;
    const second = await syncNode(client, objects(), "dc1", false);
    assert.equal(server.writes.length, writes, JSON.stringify(server.writes.slice(writes)));
    assert.deepEqual([second.create, second.update], [[], []]);
    assert.equal(second.unchanged, first.create.length);
    assert.deepEqual(second.notes, planned.notes);
    // The machine was recabled to Ethernet1/3: its interface's cable to 1/1 is reported, kept.
    doc.nics[0] = {
      ...(doc.nics[0] as Inventory["nics"][number]),
      lldp: lldp("sw-a1", "Ethernet1/3"),
    };
    const moved = await syncNode(client, objects(), "dc1", false);
    assert.equal(server.writes.length, writes);
    assert.match(
      moved.notes.join("\n"),
      /cable eno1 to sw-a1 Ethernet1\/3: eno1 has cable \d+ to sw-a1 Ethernet1\/1, not replaced/,
    );
    assert.match(planText(moved, false), /left alone: .*not replaced/);
    // NetBox's rule, which the server keeps: one cable per interface.
    await assert.rejects(
      client.create("dcim/cables", {
        a_terminations: end(eth0.id),
        b_terminations: end(p1?.id as number),
      }),
      /HTTP 400 .*Duplicate termination/,
    );
  } finally {
    await server.close();
  }
});
