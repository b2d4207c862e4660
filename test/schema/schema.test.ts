import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { renderSchemaFile, SCHEMA_FILE } from "../../schema/generate.ts";
import {
  Inventory,
  inventoryJsonSchema,
  NODE_ID_PATTERN,
  NodeIdSource,
  SCHEMA_VERSION,
} from "../../schema/inventory.ts";
import { sampleInventory } from "../support/sample-inventory.ts";

test("the committed JSON Schema is generated from the zod source (run `npm run schema`)", () => {
  assert.equal(readFileSync(SCHEMA_FILE, "utf8"), renderSchemaFile());
});

test("the JSON Schema is draft 2020-12 and forbids unknown properties everywhere", () => {
  const schema = inventoryJsonSchema();
  assert.equal(schema.$schema, "https://json-schema.org/draft/2020-12/schema");
  let objects = 0;
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) {
      for (const item of node) walk(item);
      return;
    }
    if (typeof node !== "object" || node === null) return;
    const record = node as Record<string, unknown>;
    if (record.type === "object" && record.properties) {
      objects++;
      assert.equal(
        record.additionalProperties,
        false,
        JSON.stringify(Object.keys(record.properties)),
      );
    }
    for (const value of Object.values(record)) walk(value);
  };
  walk(schema);
  assert.ok(objects >= 15, `walked ${objects} object schemas`);
});

test("core contract names are present", () => {
  const schema = inventoryJsonSchema() as {
    properties: Record<string, unknown>;
    required: string[];
  };
  for (const key of [
    "schemaVersion",
    "agent",
    "collectedAt",
    "nodeId",
    "boot",
    "system",
    "baseboard",
    "chassis",
    "bios",
    "processors",
    "memory",
    "disks",
    "nics",
    "pciDevices",
    "bmc",
    "fru",
    "collectors",
  ]) {
    assert.ok(key in schema.properties, key);
    assert.ok(schema.required.includes(key), key);
  }
  assert.match(SCHEMA_VERSION, /^1\.\d+\.\d+$/);
});

test("node ids cannot be path tricks", () => {
  for (const bad of [
    "",
    ".",
    "..",
    "../x",
    "a/b",
    "a\\b",
    ".hidden",
    "a b",
    "x".repeat(129),
    "a\u0000b",
  ]) {
    assert.equal(NODE_ID_PATTERN.test(bad), false, JSON.stringify(bad));
  }
  for (const good of [
    "4c4c4544-0042-3510-8052-b3c04f4d4e32",
    "CZJ1234X",
    "mac-525400abcd01",
    "a..b",
  ]) {
    assert.equal(NODE_ID_PATTERN.test(good), true, good);
  }
});

test("documents of 1.0 agents stay valid: nodeIdSource keeps every 1.0 value", () => {
  for (const source of ["uuid", "serial", "bootMac", "nicMac", "hostname"]) {
    assert.ok(NodeIdSource.options.includes(source as NodeIdSource), source);
  }
  const old = sampleInventory({
    schemaVersion: "1.0.0",
    nodeId: "unknown-node",
    nodeIdSource: "hostname",
  });
  assert.equal(Inventory.safeParse(old).success, true);
  assert.equal(Inventory.safeParse({ ...old, nodeIdSource: "guess" }).success, false);
});

test("schema/README documents every nodeIdSource value in the Identity section", () => {
  const readme = readFileSync(new URL("../../schema/README.md", import.meta.url), "utf8");
  const identity = readme.slice(
    readme.indexOf("## Identity"),
    readme.indexOf("## Field reference"),
  );
  assert.ok(identity.length > 0);
  for (const source of NodeIdSource.options) {
    assert.ok(identity.includes(`\`${source}\``), source);
  }
});
