// Every fixture machine replayed into its inventory document (fixed clock), once per test file.
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { collectInventory } from "../../agent/collect/index.ts";
import { replayRunner } from "../../agent/exec.ts";
import { type Inventory, Inventory as InventorySchema } from "../../schema/inventory.ts";

export const FIXTURES = new URL("../../fixtures/", import.meta.url).pathname;
export const MACHINES = readdirSync(FIXTURES, { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .map((d) => d.name)
  .sort();
export const now = () => new Date("2026-11-25T12:00:00Z");

export async function replay(machine: string): Promise<Inventory> {
  return collectInventory({
    runner: await replayRunner(join(FIXTURES, machine)),
    now,
    randomUuid: () => "00000000-0000-4000-8000-000000000000",
  });
}

let all: Promise<Map<string, Inventory>> | null = null;
/** machine folder -> document, for every fixture. */
export function replayAll(): Promise<Map<string, Inventory>> {
  all ??= (async () => {
    const docs = new Map<string, Inventory>();
    for (const machine of MACHINES) docs.set(machine, await replay(machine));
    return docs;
  })();
  return all;
}

/** A small RFC 4180 reader for checking what the exporter wrote (quoted fields, CRLF). */
export function readCsv(text: string): string[][] {
  const records: string[][] = [];
  let field = "";
  let record: string[] = [];
  let i = 0;
  let quoted = false;
  while (i < text.length) {
    const c = text[i] as string;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i += 2;
        continue;
      }
      if (c === '"') quoted = false;
      else field += c;
      i++;
      continue;
    }
    if (c === '"' && field === "") quoted = true;
    else if (c === ",") {
      record.push(field);
      field = "";
    } else if (c === "\r" && text[i + 1] === "\n") {
      record.push(field);
      records.push(record);
      record = [];
      field = "";
      i++;
    } else if (c === "\n" || c === "\r") throw new Error(`bare line break at ${i}`);
    else field += c;
    i++;
  }
  if (field !== "" || record.length > 0) throw new Error("last record not CRLF-terminated");
  return records;
}

/** A fixture document with two NICs (no fixture captured ip/ethtool), checked by the schema. */
export async function withNics(machine: string): Promise<Inventory> {
  const doc = await replay(machine);
  const nic = {
    name: "eno1",
    macAddress: "3c:ec:ef:10:20:30",
    permanentMacAddress: "3c:ec:ef:10:20:30",
    driver: "ixgbe",
    pciAddress: "0000:3b:00.0",
    speedMbps: 10000,
    linkUp: true,
    mtu: 9000,
    ipv4: ["10.13.37.50/24"],
    ipv6: ["fe80::3eec:efff:fe10:2030/64"],
    lldp: {
      chassisId: "00:1c:73:aa:bb:cc",
      systemName: "leaf-1, rack 4",
      portId: "Ethernet12",
      portDescription: null,
      vlanId: 20,
    },
    firmwareVersion: "0x800009e1",
    numaNode: 0,
    bmcUsb: false,
  };
  doc.nics = [
    nic,
    {
      ...nic,
      name: "eno2",
      macAddress: "3c:ec:ef:10:20:31",
      permanentMacAddress: null,
      linkUp: false,
      speedMbps: null,
      ipv4: [],
      ipv6: [],
      lldp: null,
    },
  ];
  return InventorySchema.parse(doc);
}
