// CSV export: RFC 4180 fields, and every fixture machine's document as five tables whose rows
// match the document and hold no placeholder.
import assert from "node:assert/strict";
import { test } from "node:test";
import { CSV_TABLES, csvField, csvFiles, csvLine } from "../../agent/export/csv.ts";
import { cleanString } from "../../agent/normalize.ts";
import { MACHINES, readCsv, replay, replayAll, withNics } from "./fixtures.ts";

test("fields are quoted exactly when RFC 4180 needs it", () => {
  assert.equal(csvField(null), "");
  assert.equal(csvField(0), "0");
  assert.equal(csvField(false), "false");
  assert.equal(csvField("DIMM A1"), "DIMM A1");
  assert.equal(csvField("Dell Inc., EMC"), '"Dell Inc., EMC"');
  assert.equal(csvField('3.5" SATA'), '"3.5"" SATA"');
  assert.equal(csvField("two\r\nlines"), '"two\r\nlines"');
  assert.equal(csvLine(["a", null, 'b"c']), 'a,,"b""c"\r\n');
  assert.deepEqual(readCsv(csvLine(["x,y", 'q"', "", "z\nw"])), [["x,y", 'q"', "", "z\nw"]]);
});

test("every fixture: five tables, one row per node/DIMM/disk/NIC/PSU, no placeholders", async () => {
  const docs = await replayAll();
  assert.ok(docs.size >= 40, `${docs.size} fixtures`);
  const files = csvFiles([...docs.values()]);
  assert.deepEqual(
    [...files.keys()],
    ["nodes.csv", "dimms.csv", "disks.csv", "nics.csv", "psus.csv"],
  );
  const all = [...docs.values()];
  const sum = (f: (d: (typeof all)[number]) => number) => all.reduce((n, d) => n + f(d), 0);
  const expected: Record<string, number> = {
    "nodes.csv": docs.size,
    "dimms.csv": sum((d) => d.memory.dimms.length),
    "disks.csv": sum((d) => d.disks.length),
    "nics.csv": sum((d) => d.nics.length),
    "psus.csv": sum((d) => d.powerSupplies.length),
  };
  for (const table of CSV_TABLES) {
    const [header, ...rows] = readCsv(files.get(table.file) ?? "");
    assert.deepEqual(header, table.header);
    assert.equal(rows.length, expected[table.file], table.file);
    for (const row of rows) {
      assert.equal(row.length, table.header.length, `${table.file}: ${row.join("|")}`);
      assert.ok(
        docs.size > 0 && [...docs.values()].some((d) => d.nodeId === row[0]),
        `${table.file} keyed by a nodeId`,
      );
      for (const cell of row) {
        // Counts and sizes are numbers ("0" is a count, not filler); text must not be a placeholder.
        if (cell !== "" && !/^\d+$/.test(cell))
          assert.notEqual(
            cleanString(cell),
            null,
            `${table.file}: placeholder ${JSON.stringify(cell)}`,
          );
      }
    }
  }
  // The fixtures hold real DIMMs, NICs and PSUs: the child tables are not trivially empty.
  // (No fixture captured ip/ethtool: NICs are checked on a document with NICs below.)
  for (const file of ["dimms.csv", "disks.csv", "psus.csv"]) {
    assert.ok((expected[file] ?? 0) > 0, `${file}: ${expected[file]} rows`);
  }
});

test("a Dell R740 capture: the node row says what its document says", async () => {
  const doc = await replay("dell-poweredge-r740-linuxhw");
  const [header, row] = readCsv(csvFiles([doc]).get("nodes.csv") ?? "");
  const cell = (name: string) => row?.[header?.indexOf(name) ?? -1];
  assert.equal(cell("nodeId"), doc.nodeId);
  assert.equal(cell("manufacturer"), "Dell Inc.");
  assert.equal(cell("product"), "PowerEdge R740");
  assert.equal(cell("serial"), "", "anonymised in the capture: empty, not a placeholder");
  assert.equal(cell("memoryBytes"), String(256 * 1024 ** 3));
  assert.equal(cell("collectedAt"), "2026-11-25T12:00:00.000Z");
  const dimms = readCsv(csvFiles([doc]).get("dimms.csv") ?? "").slice(1);
  assert.equal(dimms.length, doc.memory.dimms.length);
  assert.equal(dimms[0]?.[3], String(doc.memory.dimms[0]?.sizeBytes));
});

test("placeholders left in a document from elsewhere are not exported", async () => {
  const doc = await replay(MACHINES[0] as string);
  doc.system.serialNumber = "To Be Filled By O.E.M.";
  doc.system.manufacturer = "Acme, Inc.";
  const [header, row] = readCsv(csvFiles([doc]).get("nodes.csv") ?? "");
  assert.equal(row?.[header?.indexOf("serial") ?? -1], "");
  assert.equal(row?.[header?.indexOf("manufacturer") ?? -1], "Acme, Inc.");
});

test("NICs: one row each, addresses space-separated, the LLDP switch name quoted", async () => {
  const doc = await withNics("dell-poweredge-r740-linuxhw");
  const text = csvFiles([doc]).get("nics.csv") ?? "";
  assert.ok(text.includes('"leaf-1, rack 4"'));
  const [header, first, second] = readCsv(text);
  const col = (name: string) => header?.indexOf(name) ?? -1;
  assert.equal(first?.[col("macAddress")], "3c:ec:ef:10:20:30");
  assert.equal(first?.[col("ipv4")], "10.13.37.50/24");
  assert.equal(first?.[col("lldpSystemName")], "leaf-1, rack 4");
  assert.equal(second?.[col("permanentMacAddress")], "");
  assert.equal(second?.[col("speedMbps")], "");
  assert.equal(second?.[col("linkUp")], "false");
});
