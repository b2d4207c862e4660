// NetBox export: the mapping, and the sync against a stateful loopback server that answers like
// NetBox and refuses what NetBox refuses (OpenAPI request schemas with unknown keys refused,
// uniqueness rules, unknown custom fields). Every fixture machine is applied, then applied again.
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { exportCommand } from "../../agent/export/command.ts";
import {
  authorization,
  interfaceType,
  NetboxClient,
  syncNode,
  toNetbox,
  UUID_FIELD,
} from "../../agent/export/netbox.ts";
import { type Inventory, Inventory as InventorySchema } from "../../schema/inventory.ts";
import { requestValidator, startNetboxServer } from "../support/netbox-server.ts";
import { replay, replayAll, withNics } from "./fixtures.ts";

const SCOPE = { site: { name: "DC 1", slug: "dc1" }, role: { name: "Server", slug: "server" } };

async function netbox(token = "0123456789abcdef") {
  const server = await startNetboxServer({ token });
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
  const docs = [...(await replayAll()).values(), await fullMachine()];
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
        .every((d) => (d.tags as { slug: string }[]).some((t) => t.slug === "recon")),
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
  assert.ok(o.inventoryItems.some((i) => String(i.name).startsWith("DIMM ")));
  assert.equal(new Set(o.inventoryItems.map((i) => i.name)).size, o.inventoryItems.length);
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

test("netbox --help tells its flags; --site/--role/--url required, --out refused", async () => {
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
    /no --out/,
  );
});
