// GLPI export: every fixture machine's document validates against GLPI's published inventory
// schema (with no key the schema does not name), units and identity rules, and the sender
// against a loopback HTTP server that checks what GLPI 10 checks (header, content type, zlib).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { test } from "node:test";
import { inflateSync } from "node:zlib";
import { Ajv } from "ajv";
import addFormats from "ajv-formats";
import { glpiAgentId, glpiDate, glpiDeviceId, sendGlpi, toGlpi } from "../../agent/export/glpi.ts";
import { replay, replayAll, withNics } from "./fixtures.ts";

const SCHEMA_FILE = "/work/shared/reference/glpi-inventory-format/inventory.schema.json";
const schema = JSON.parse(readFileSync(SCHEMA_FILE, "utf8"));
const ajv = new Ajv({ strict: false, allErrors: true });
addFormats.default(ajv);
const validate = ajv.compile(schema);

/** Keys the schema does not name: GLPI would drop them silently, so the test refuses them. */
function unknownKeys(value: unknown, node: Record<string, unknown>, path: string): string[] {
  if (Array.isArray(value)) {
    const items = (node.items ?? {}) as Record<string, unknown>;
    return value.flatMap((v, i) => unknownKeys(v, items, `${path}[${i}]`));
  }
  if (value === null || typeof value !== "object") return [];
  const props = (node.properties ?? {}) as Record<string, Record<string, unknown>>;
  return Object.entries(value).flatMap(([k, v]) =>
    props[k] ? unknownKeys(v, props[k], `${path}.${k}`) : [`${path}.${k}`],
  );
}

test("every fixture validates against GLPI's inventory schema, with only keys it names", async () => {
  const docs = await replayAll();
  for (const [machine, doc] of [
    ...docs,
    ["with-nics", await withNics("ipmi-sim-openipmi")] as const,
  ]) {
    const glpi = toGlpi(doc);
    assert.ok(validate(glpi), `${machine}: ${ajv.errorsText(validate.errors)}`);
    assert.deepEqual(unknownKeys(glpi, schema, "$"), [], machine);
    assert.equal(glpi.itemtype, "Computer");
    assert.equal(glpi.content.hardware.name, doc.nodeId, "never the live image's hostname");
  }
});

test("the validator refuses what GLPI refuses (so the test above can fail)", async () => {
  const glpi = toGlpi(await replay("ipmi-sim-openipmi"));
  assert.ok(validate(glpi));
  const bad = structuredClone(glpi) as unknown as { content: { networks: { status?: string }[] } };
  (bad.content.networks[0] as { status?: string }).status = "sideways";
  assert.equal(validate(bad), false);
  assert.deepEqual(unknownKeys({ ...glpi, extra: 1 }, schema, "$"), ["$.extra"]);
});

test("units: memory in MiB, disks in MB, PSUs in W; BIOS date as YYYY-MM-DD", async () => {
  const doc = await replay("dell-poweredge-r740-linuxhw");
  const glpi = toGlpi(doc);
  assert.equal(glpi.content.hardware.memory, 256 * 1024);
  assert.equal(glpi.content.memories.length, doc.memory.dimms.length);
  assert.equal(glpi.content.memories[0]?.capacity, (doc.memory.dimms[0]?.sizeBytes ?? 0) / 2 ** 20);
  assert.equal(glpi.content.cpus.length, 2);
  assert.equal(glpi.content.bios.smodel, "PowerEdge R740");
  assert.equal(glpi.content.bios.ssn, undefined, "unknown serial left out, not a placeholder");
  assert.equal(glpiDate("03/14/2019"), "2019-03-14");
  assert.equal(glpiDate("2019-03-14"), "2019-03-14");
  assert.equal(glpiDate("sometime"), null);
  const docs = await replayAll();
  const withPsu = [...docs.values()].find((d) => d.powerSupplies.some((p) => p.maxPowerWatts));
  assert.ok(withPsu, "a fixture with PSU wattage");
  const psu = withPsu.powerSupplies.find((p) => p.maxPowerWatts);
  assert.ok(toGlpi(withPsu).content.powersupplies.some((p) => p.power_max === psu?.maxPowerWatts));
  const withDisk = [...docs.values()].find((d) => d.disks.some((k) => k.sizeBytes));
  assert.ok(withDisk);
  const disk = withDisk.disks.find((k) => k.sizeBytes);
  assert.ok(
    toGlpi(withDisk).content.storages.some(
      (s) => s.name === disk?.name && s.disksize === Math.round((disk?.sizeBytes ?? 0) / 1e6),
    ),
  );
});

test("the BMC is a network with management: true, its address and MAC", async () => {
  const doc = await replay("ipmi-sim-openipmi");
  assert.ok(doc.bmc?.macAddress);
  const bmc = toGlpi(doc).content.networks.filter((n) => n.management === true);
  assert.equal(bmc.length, 1);
  assert.equal(bmc[0]?.mac, doc.bmc.macAddress);
  if (doc.bmc.ipv4Address) assert.equal(bmc[0]?.ipaddress, doc.bmc.ipv4Address);
});

test("deviceid and GLPI-Agent-ID are the same on every collection of the same machine", async () => {
  const a = await replay("dell-poweredge-r740-linuxhw");
  const b = {
    ...(await replay("dell-poweredge-r740-linuxhw")),
    collectedAt: "2026-12-24T08:00:00.000Z",
    hostname: "other",
  };
  assert.equal(glpiDeviceId(a), glpiDeviceId(b));
  assert.equal(glpiAgentId(a), glpiAgentId(b));
  assert.match(glpiAgentId(a), /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  const noUuid = { ...a, system: { ...a.system, uuid: null } };
  assert.equal(glpiDeviceId(noUuid), `recon-${a.nodeId}`);
  assert.match(
    glpiAgentId(noUuid),
    /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
  );
  assert.notEqual(glpiAgentId(noUuid), glpiAgentId({ ...noUuid, nodeId: "other-node" }));
});

test("sendGlpi POSTs JSON or zlib with GLPI-Agent-ID; a refusal is reported with GLPI's answer", async () => {
  const seen: { type: string | undefined; agent: string | undefined; body: unknown }[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const raw = Buffer.concat(chunks);
      const type = req.headers["content-type"];
      const body = JSON.parse(
        (type === "application/x-compress-zlib" ? inflateSync(raw) : raw).toString(),
      );
      seen.push({ type, agent: req.headers["glpi-agent-id"] as string | undefined, body });
      res.writeHead(200, { "Content-Type": "application/json" });
      res.end(
        JSON.stringify(
          body.content.hardware.memory > 0
            ? { status: "ok" }
            : { status: "error", message: "no memory" },
        ),
      );
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/front/inventory.php`;
  try {
    const doc = await replay("dell-poweredge-r740-linuxhw");
    const inv = toGlpi(doc);
    for (const compress of [false, true]) {
      assert.equal(await sendGlpi(doc, inv, { url, compress, authorization: null, fetch }), null);
    }
    assert.deepEqual(
      seen.map((s) => s.type),
      ["application/json", "application/x-compress-zlib"],
    );
    assert.equal(seen[0]?.agent, glpiAgentId(doc));
    assert.deepEqual(seen[1]?.body, inv);
    const empty = toGlpi({ ...doc, memory: { ...doc.memory, totalBytes: null } });
    assert.equal(
      await sendGlpi(doc, empty, { url, compress: false, authorization: null, fetch }),
      "GLPI refused it: no memory",
    );
  } finally {
    server.close();
  }
  const closed = await sendGlpi(
    await replay("dell-poweredge-r740-linuxhw"),
    toGlpi(await replay("dell-poweredge-r740-linuxhw")),
    { url, compress: false, authorization: null, fetch },
  );
  assert.match(closed ?? "", /^cannot reach /);
});
