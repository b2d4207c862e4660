// Writes schema/inventory.schema.json from the zod source (npm run schema). A test fails when
// the committed file is stale.
import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { inventoryJsonSchema } from "./inventory.ts";

export const SCHEMA_FILE = fileURLToPath(new URL("./inventory.schema.json", import.meta.url));

export function renderSchemaFile(): string {
  return `${JSON.stringify(inventoryJsonSchema(), null, 2)}\n`;
}

if (import.meta.main) {
  writeFileSync(SCHEMA_FILE, renderSchemaFile());
  process.stdout.write(`wrote ${SCHEMA_FILE}\n`);
}
