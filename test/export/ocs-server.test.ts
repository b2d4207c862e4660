// OCS export into a real OCS Inventory NG 2.8 server (test/support/ocs-server.ts: MariaDB and
// Apache with mod_perl on loopback, private, stopped by PID). Every fixture machine (two with NICs
// added, since no fixture captured ip/ethtool), among them this build machine's own capture
// (`this-machine-debian12`, a QEMU/KVM guest), goes in through `recon-agent export ocs --url`;
// what MariaDB then holds is read back with SQL and compared, per machine, with the document.
// Then: a re-import with one DIMM changed updates that machine in place; a machine the server
// refuses (its record locked, as while another inventory of it is being written) fails alone
// with the server's answer, the others are still imported.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { exportCommand } from "../../agent/export/command.ts";
import { ocsDeviceId, toOcs } from "../../agent/export/ocs.ts";
import type { NodeResult } from "../../agent/export/summary.ts";
import { cleanString } from "../../agent/normalize.ts";
import type { Inventory } from "../../schema/inventory.ts";
import { ocsServerSkip, type Row, startOcsServer } from "../support/ocs-server.ts";
import { replayAll, withNics } from "./fixtures.ts";

const MIB = 2 ** 20;
const INJECTOR = "/usr/share/ocsinventory-server/binutils/ocsinventory-injector.pl";

/** The documents to import: one per nodeId (two fixture pairs share one), two with NICs. */
async function documents(): Promise<Inventory[]> {
  const byNode = new Map<string, Inventory>();
  for (const doc of (await replayAll()).values()) {
    // The first of a pair wins, as the export command would have it; the empty capture of
    // this-machine-extra-tools (smartctl/ethtool only) gives way to the laptop with two disks.
    if (doc.nodeId.startsWith("anon-") && doc.disks.length === 0) continue;
    if (!byNode.has(doc.nodeId)) byNode.set(doc.nodeId, structuredClone(doc));
  }
  for (const machine of ["ipmi-sim-openipmi", "dell-poweredge-r740-linuxhw"]) {
    const doc = await withNics(machine);
    byNode.set(doc.nodeId, doc);
  }
  return [...byNode.values()];
}

async function runExport(dir: string, url: string): Promise<NodeResult[]> {
  let out = "";
  try {
    await exportCommand(["ocs", "--from", dir, "--url", url, "--json", "--quiet"], {
      stdout: (text) => {
        out += text;
      },
      stderr: () => undefined,
    });
  } catch (error) {
    if ((error as { code?: string }).code !== "E_EXPORT_FAILED") throw error;
  }
  return (JSON.parse(out) as { results: NodeResult[] }).results;
}

/** What OCS stores for a value the document does not know: '' or NULL, both "unknown". */
const stored = (value: string | null | undefined) => value ?? "";
const expected = (value: string | null) => cleanString(value) ?? "";
const sorted = (values: string[]) => [...values].sort();

async function writeDocs(dir: string, docs: Inventory[]): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir);
  for (const doc of docs) await writeFile(join(dir, `${doc.nodeId}.json`), JSON.stringify(doc));
}

test("OCS Inventory NG: every fixture machine imported, read back from MariaDB", {
  skip: ocsServerSkip(),
  timeout: 170_000,
}, async (t) => {
  const testStarted = Date.now();
  const ocs = await startOcsServer();
  t.after(() => ocs.stop());
  t.diagnostic(
    `OCS server (MariaDB + Apache/mod_perl) up in ${(ocs.startupMs / 1000).toFixed(1)} s`,
  );
  const work = await mkdtemp(join(tmpdir(), "recon-ocs-docs-"));
  t.after(() => rm(work, { recursive: true, force: true }));
  const source = join(work, "docs");
  const docs = await documents();
  assert.ok(docs.length >= 11, `${docs.length} machines`);
  await writeDocs(source, docs);

  const importStarted = Date.now();
  const results = await runExport(source, ocs.url);
  t.diagnostic(
    `${docs.length} machines imported in ${((Date.now() - importStarted) / 1000).toFixed(1)} s`,
  );
  assert.deepEqual(
    results.filter((r) => r.outcome !== "sent"),
    [],
    `every node accepted (Apache log: ${(await ocs.errorLog()).slice(-1500)})`,
  );
  assert.equal(results.length, docs.length);

  const count = async (table: string) =>
    Number((await ocs.query(`SELECT COUNT(*) AS n FROM ${table}`))[0]?.n);
  assert.equal(await count("hardware"), docs.length, "one machine per document, none merged");
  const byId = async (table: string, id: string) =>
    ocs.query(`SELECT * FROM ${table} WHERE HARDWARE_ID = ${Number(id)} ORDER BY ID`);

  for (const doc of docs) {
    const what = doc.nodeId;
    const hardware = await ocs.query(
      `SELECT ID, NAME, UUID, MEMORY, PROCESSORT, PROCESSORN FROM hardware WHERE DEVICEID = '${ocsDeviceId(doc)}'`,
    );
    assert.equal(hardware.length, 1, what);
    const hw = hardware[0] as Row;
    const id = hw.ID as string;
    assert.equal(hw.NAME, doc.nodeId);
    assert.equal(stored(hw.UUID), doc.system.uuid ?? "", `${what} UUID`);
    assert.equal(
      Number(hw.MEMORY),
      doc.memory.totalBytes === null ? 0 : Math.round(doc.memory.totalBytes / MIB),
      `${what} memory`,
    );

    // No BIOS fact known (ipmi-sim): no BIOS section, so no row.
    const [bios = {}] = await ocs.query(`SELECT * FROM bios WHERE HARDWARE_ID = ${Number(id)}`);
    assert.equal(stored(bios.SSN), expected(doc.system.serialNumber), `${what} serial`);
    assert.equal(
      stored(bios.SMANUFACTURER),
      expected(doc.system.manufacturer),
      `${what} manufacturer`,
    );
    assert.equal(stored(bios.SMODEL), expected(doc.system.productName), `${what} model`);
    assert.equal(stored(bios.BVERSION), expected(doc.bios.version), `${what} BIOS version`);
    assert.equal(stored(bios.BDATE), expected(doc.bios.releaseDate), `${what} BIOS date`);
    assert.equal(stored(bios.MSN), expected(doc.baseboard.serialNumber), `${what} board serial`);

    // CPUs: the processors SMBIOS lists, else one per socket lscpu counts.
    const cpuModels =
      doc.processors.length > 0
        ? doc.processors.map((p) => expected(p.model))
        : Array.from({ length: doc.cpu.model ? (doc.cpu.sockets ?? 1) : 0 }, () =>
            expected(doc.cpu.model),
          );
    const cpus = await byId("cpus", id);
    assert.deepEqual(sorted(cpus.map((c) => stored(c.TYPE))), sorted(cpuModels), `${what} CPUs`);
    assert.equal(Number(hw.PROCESSORN ?? 0), doc.processors.length || (doc.cpu.sockets ?? 0));
    assert.equal(
      stored(hw.PROCESSORT),
      expected(doc.cpu.model ?? doc.processors[0]?.model ?? null),
      `${what} CPU model`,
    );

    const memories = await byId("memories", id);
    assert.deepEqual(
      sorted(
        memories.map((m) => `${stored(m.CAPTION)}|${stored(m.CAPACITY)}|${stored(m.SERIALNUMBER)}`),
      ),
      sorted(
        doc.memory.dimms.map(
          (d) =>
            `${expected(d.locator)}|${d.sizeBytes === null ? "" : Math.round(d.sizeBytes / MIB)}|${expected(d.serialNumber)}`,
        ),
      ),
      `${what} DIMMs (locator, MB, serial)`,
    );

    const storages = await byId("storages", id);
    assert.deepEqual(
      sorted(storages.map((s) => `${s.NAME}|${stored(s.SERIALNUMBER)}|${s.DISKSIZE}`)),
      sorted(
        doc.disks.map(
          (k) =>
            `${k.name}|${expected(k.serialNumber)}|${k.sizeBytes === null ? 0 : Math.round(k.sizeBytes / MIB)}`,
        ),
      ),
      `${what} disks (name, serial, MB)`,
    );

    const networks = await byId("networks", id);
    const macs = [
      ...doc.nics.flatMap((n) => {
        const mac = n.permanentMacAddress ?? n.macAddress ?? "00:00:00:00:00:00";
        return Array.from({ length: Math.max(1, n.ipv4.length + n.ipv6.length) }, () => mac);
      }),
      ...(doc.bmc ? [doc.bmc.macAddress ?? "00:00:00:00:00:00"] : []),
    ];
    assert.deepEqual(sorted(networks.map((n) => stored(n.MACADDR))), sorted(macs), `${what} MACs`);
    if (doc.bmc) {
      const bmc = networks.filter((n) => n.DESCRIPTION === "bmc");
      assert.equal(bmc.length, 1, `${what} one bmc entry`);
      assert.equal(stored(bmc[0]?.IPADDRESS), doc.bmc.ipv4Address ?? "", `${what} BMC address`);
    }
    assert.equal((await byId("controllers", id)).length, doc.pciDevices.length, `${what} PCI`);
  }

  // Re-import of one machine with one DIMM changed: that row changes, no machine is added.
  const machine = docs.find((d) => d.memory.dimms.length >= 2 && d.system.uuid === null);
  assert.ok(machine, "a machine with DIMMs");
  const [before] = await ocs.query(
    `SELECT ID FROM hardware WHERE DEVICEID = '${ocsDeviceId(machine)}'`,
  );
  const changed = structuredClone(machine);
  const dimm = changed.memory.dimms[0];
  assert.ok(dimm);
  dimm.serialNumber = "RECON-REPLACED-0001";
  dimm.sizeBytes = (dimm.sizeBytes ?? 0) * 2;
  const hardwareRows = await count("hardware");
  await writeDocs(source, [changed]);
  const again = await runExport(source, ocs.url);
  assert.deepEqual(
    again.map((r) => r.outcome),
    ["sent"],
  );
  assert.equal(await count("hardware"), hardwareRows, "no machine added");
  const [after] = await ocs.query(
    `SELECT ID FROM hardware WHERE DEVICEID = '${ocsDeviceId(machine)}'`,
  );
  assert.equal(after?.ID, before?.ID, "the same machine record");
  const memories = await byId("memories", after?.ID as string);
  assert.equal(memories.length, machine.memory.dimms.length, "no DIMM row added");
  const replaced = memories.filter((m) => m.SERIALNUMBER === "RECON-REPLACED-0001");
  assert.equal(replaced.length, 1);
  assert.equal(replaced[0]?.CAPTION, expected(dimm.locator));
  assert.equal(Number(replaced[0]?.CAPACITY), Math.round(dimm.sizeBytes / MIB));
  const oldSerial = machine.memory.dimms[0]?.serialNumber ?? null;
  if (oldSerial !== null) {
    assert.equal(
      memories.filter((m) => m.SERIALNUMBER === expected(oldSerial)).length,
      changed.memory.dimms.filter((d) => d.serialNumber === oldSerial).length,
      "the old serial is gone from that slot",
    );
  }

  // A machine the server refuses: its record is locked (table `locks`, as the server writes it
  // while an inventory of that machine is in progress). It fails alone, with the server's
  // answer; the other machine is still imported; the locked one is left as it was.
  const locked = docs.find((d) => d !== machine && d.memory.dimms.length > 0) as Inventory;
  const other = docs.find((d) => d !== machine && d !== locked && d.disks.length > 0) as Inventory;
  const [lockedRow] = await ocs.query(
    `SELECT ID FROM hardware WHERE DEVICEID = '${ocsDeviceId(locked)}'`,
  );
  await ocs.query(
    `INSERT INTO locks (HARDWARE_ID, ID, SINCE) VALUES (${Number(lockedRow?.ID)}, 1, NOW())`,
  );
  const lockedChanged = structuredClone(locked);
  lockedChanged.system.serialNumber = "RECON-MUST-NOT-LAND";
  const otherChanged = structuredClone(other);
  otherChanged.system.serialNumber = "RECON-OTHER-LANDED";
  await writeDocs(source, [lockedChanged, otherChanged]);
  const mixed = await runExport(source, ocs.url);
  const lockedResult = mixed.find((r) => r.node === locked.nodeId);
  assert.equal(lockedResult?.outcome, "failed");
  assert.match(lockedResult?.detail ?? "", /^OCS answered HTTP 403 Forbidden/);
  t.diagnostic(`the locked machine: ${lockedResult?.detail}`);
  assert.equal(mixed.find((r) => r.node === other.nodeId)?.outcome, "sent");
  const serialOf = async (doc: Inventory) =>
    (
      await ocs.query(
        `SELECT b.SSN FROM bios b JOIN hardware h ON h.ID = b.HARDWARE_ID WHERE h.DEVICEID = '${ocsDeviceId(doc)}'`,
      )
    )[0]?.SSN;
  assert.equal(stored(await serialOf(locked)), expected(locked.system.serialNumber));
  assert.equal(await serialOf(other), "RECON-OTHER-LANDED");
  // --out files are what the server's own ocsinventory-injector imports.
  const files = join(work, "ocs-files");
  await writeDocs(source, [otherChanged]);
  await exportCommand(["ocs", "--from", source, "--out", files, "--quiet"], {
    stdout: () => undefined,
  });
  const injected = await new Promise<string>((resolve, reject) =>
    execFile(
      "perl",
      [INJECTOR, "-v", "-d", files, "-u", ocs.url],
      { timeout: 60_000 },
      (error, stdout, stderr) =>
        error ? reject(new Error(`${error} ${stderr}`)) : resolve(stdout),
    ),
  );
  assert.match(injected, /\.ocs\.\.\.OK/);
  const [agent] = await ocs.query(
    `SELECT USERAGENT FROM hardware WHERE DEVICEID = '${ocsDeviceId(other)}'`,
  );
  assert.match(agent?.USERAGENT ?? "", /^OCS-NG_INJECTOR/, "the injector's import landed");
  assert.equal(await count("hardware"), hardwareRows, "and updated in place");
  t.diagnostic(`whole OCS test ${((Date.now() - testStarted) / 1000).toFixed(1)} s`);
});

test("every element the exporter writes is a column of the server's Map.pm", {
  skip: ocsServerSkip(),
}, async () => {
  const map = readFileSync("/usr/share/perl5/Apache/Ocsinventory/Map.pm", "utf8");
  const columns = new Map<string, Set<string>>();
  for (const section of map.matchAll(
    /^\s{2}(\w+) =>\s+\{[\s\S]*?fields =>\s+\{([\s\S]*?)\n\s*\}/gm,
  )) {
    const [, name = "", body = ""] = section;
    columns.set(
      name.toUpperCase(),
      new Set([...body.matchAll(/(\w+) => \{/g)].map((m) => m[1] ?? "")),
    );
  }
  assert.ok(columns.get("HARDWARE")?.has("CHECKSUM"), "Map.pm read");
  for (const doc of [...(await documents())]) {
    for (const [section, value] of Object.entries(toOcs(doc).content)) {
      const known = columns.get(section);
      assert.ok(known, `${section} is a section of Map.pm`);
      for (const record of Array.isArray(value) ? value : [value]) {
        for (const key of Object.keys(record)) {
          // HARDWARE.UUID is written by Update/Hardware.pm although Map.pm does not list it.
          if (section === "HARDWARE" && key === "UUID") continue;
          assert.ok(known.has(key), `${section}.${key} is a column OCS writes`);
        }
      }
    }
  }
});
