// Writes the published JSON Schemas from the zod source (npm run schema). A test fails when a
// committed file is stale.
// - schema/inventory.schema.json: the current strict schema (what the agent emits).
// - schema/published/inventory-<v>.schema.json: the strict schema of every released version. Older
//   ones are frozen (copied from the release that made them); the current one is generated.
// - schema/published/inventory-<v>.consumer.schema.json: what an importer validates with. The same
//   structure and types, but objects accept properties they do not know and enumerations accept
//   values they do not know, since a minor version may add both (schema/README.md, Compatibility).
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { inventoryJsonSchema, SCHEMA_VERSION } from "./inventory.ts";

export const SCHEMA_FILE = fileURLToPath(new URL("./inventory.schema.json", import.meta.url));
export const PUBLISHED_DIR = fileURLToPath(new URL("./published/", import.meta.url));

type Json = unknown;

/** The consumer form of a strict schema: open objects, open enumerations, its own $id. */
export function consumerSchema(
  strict: Record<string, Json>,
  version: string,
): Record<string, Json> {
  const open = (node: Json): Json => {
    if (Array.isArray(node)) return node.map(open);
    if (typeof node !== "object" || node === null) return node;
    const out: Record<string, Json> = {};
    for (const [key, value] of Object.entries(node)) {
      if (key === "additionalProperties" && value === false) continue;
      if (key === "enum" && Array.isArray(value) && value.every((v) => typeof v === "string")) {
        // Keep the known values for readers of the schema, without refusing new ones.
        out.examples = value;
        continue;
      }
      out[key] = open(value);
    }
    // An enum of strings (or of strings and null) becomes that type.
    if ("examples" in out && !("type" in out) && Array.isArray((node as { enum?: Json[] }).enum)) {
      out.type = "string";
    }
    return out;
  };
  return {
    ...(open(strict) as Record<string, Json>),
    $id: `https://recon.invalid/schema/inventory-${version}.consumer.json`,
    title: `recon inventory document v${version}, for importers (accepts later 1.x additions)`,
  };
}

const render = (schema: unknown) => `${JSON.stringify(schema, null, 2)}\n`;

/** Every file this script writes, by path, with its content. */
export function schemaFiles(): Map<string, string> {
  const files = new Map<string, string>();
  const current = inventoryJsonSchema();
  files.set(SCHEMA_FILE, render(current));
  const strictOf = (version: string) => `${PUBLISHED_DIR}inventory-${version}.schema.json`;
  files.set(strictOf(SCHEMA_VERSION), render(current));
  const frozen = readdirSync(PUBLISHED_DIR)
    .map((name) => /^inventory-(\d+\.\d+\.\d+)\.schema\.json$/.exec(name)?.[1])
    .filter((v): v is string => v !== undefined && v !== SCHEMA_VERSION);
  for (const version of [...frozen, SCHEMA_VERSION]) {
    const strict =
      version === SCHEMA_VERSION
        ? // The current consumer schema reads older 1.x documents too: fields added since 1.0
          // carry defaults, so on input they are optional (zod's "input" view).
          (inventoryJsonSchema("input") as Record<string, Json>)
        : (JSON.parse(readFileSync(strictOf(version), "utf8")) as Record<string, Json>);
    files.set(
      `${PUBLISHED_DIR}inventory-${version}.consumer.schema.json`,
      render(consumerSchema(strict, version)),
    );
  }
  return files;
}

/** The current strict schema as committed (kept for the tests that name it). */
export function renderSchemaFile(): string {
  return render(inventoryJsonSchema());
}

if (import.meta.main) {
  for (const [path, text] of schemaFiles()) {
    writeFileSync(path, text);
    process.stdout.write(`wrote ${path}\n`);
  }
}
