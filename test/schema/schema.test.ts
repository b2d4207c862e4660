import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { test } from "node:test";
import { Ajv2020 } from "ajv/dist/2020.js";
import addFormats from "ajv-formats";
import {
  PUBLISHED_DIR,
  renderSchemaFile,
  SCHEMA_FILE,
  schemaFiles,
} from "../../schema/generate.ts";
import {
  Inventory,
  inventoryJsonSchema,
  NODE_ID_PATTERN,
  NodeIdSource,
  SCHEMA_VERSION,
} from "../../schema/inventory.ts";
import { sampleInventory } from "../support/sample-inventory.ts";

test("the committed JSON Schemas are generated from the zod source (run `npm run schema`)", () => {
  assert.equal(readFileSync(SCHEMA_FILE, "utf8"), renderSchemaFile());
  for (const [path, text] of schemaFiles()) assert.equal(readFileSync(path, "utf8"), text, path);
});

/** Every published schema, by file name, compiled (draft 2020-12, formats checked). */
function publishedValidators() {
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats.default(ajv);
  return new Map(
    readdirSync(PUBLISHED_DIR).map((name) => [
      name,
      ajv.compile(JSON.parse(readFileSync(`${PUBLISHED_DIR}${name}`, "utf8"))),
    ]),
  );
}

test("every released version is published strict and for consumers, each with its own $id", () => {
  const names = readdirSync(PUBLISHED_DIR).sort();
  for (const version of ["1.0.0", "1.1.0", SCHEMA_VERSION]) {
    for (const kind of ["schema", "consumer.schema"]) {
      const name = `inventory-${version}.${kind}.json`;
      assert.ok(names.includes(name), name);
      const { $id } = JSON.parse(readFileSync(`${PUBLISHED_DIR}${name}`, "utf8")) as {
        $id: string;
      };
      assert.ok($id.includes(version), `${name}: ${$id}`);
    }
  }
  const ids = names.map(
    (n) => (JSON.parse(readFileSync(`${PUBLISHED_DIR}${n}`, "utf8")) as { $id: string }).$id,
  );
  assert.equal(new Set(ids).size, ids.length);
});

test("an importer written for 1.0 or 1.1 accepts today's documents through its consumer schema", () => {
  const validators = publishedValidators();
  const today = sampleInventory();
  for (const version of ["1.0.0", "1.1.0", SCHEMA_VERSION]) {
    const consumer = validators.get(`inventory-${version}.consumer.schema.json`);
    assert.ok(consumer?.(today), `${version}: ${JSON.stringify(consumer?.errors?.slice(0, 3))}`);
  }
  // ...which the strict 1.0 schema, describing exactly what a 1.0 agent wrote, refuses.
  assert.equal(validators.get("inventory-1.0.0.schema.json")?.(today), false);
  assert.ok(validators.get(`inventory-${SCHEMA_VERSION}.schema.json`)?.(today));
  // The consumer schemas still check structure and types.
  const broken = { ...today, memory: { ...today.memory, totalBytes: "lots" } };
  for (const version of ["1.0.0", SCHEMA_VERSION]) {
    assert.equal(validators.get(`inventory-${version}.consumer.schema.json`)?.(broken), false);
  }
});

test("the current consumer schema reads real 1.0 documents (fields added since are optional)", () => {
  const validators = publishedValidators();
  const consumer = validators.get(`inventory-${SCHEMA_VERSION}.consumer.schema.json`);
  const strict = validators.get(`inventory-${SCHEMA_VERSION}.schema.json`);
  const dir = new URL("../master/reparse-1.0/", import.meta.url);
  const documents = readdirSync(dir).filter((name) => name.endsWith(".json"));
  assert.ok(documents.length >= 2);
  for (const name of documents) {
    const old = JSON.parse(readFileSync(new URL(name, dir), "utf8")) as { schemaVersion: string };
    assert.equal(old.schemaVersion, "1.0.0");
    assert.ok(consumer?.(old), `${name}: ${JSON.stringify(consumer?.errors?.slice(0, 3))}`);
    assert.equal(strict?.(old), false, name);
    assert.equal(Inventory.safeParse(old).success, true, name);
  }
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
