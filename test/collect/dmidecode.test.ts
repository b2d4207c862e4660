// Unit and property tests of the dmidecode parser. Snippets are real dmidecode output, quoted
// line by line from the fixtures (fixtures/<machine>/dmidecode.txt) or from the public sources
// named above each one; whole-fixture expectations live in dmidecode-golden.test.ts.
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import fc from "fast-check";
import { z } from "zod";
import {
  collectDmidecode,
  type DmidecodeFacts,
  dmidecodeProbe,
  emptyDmidecodeFacts,
  parseDmidecode,
  readSmbiosType42,
  readSmbiosType42Capture,
  redfishFromStructure,
  slotBusAddress,
  smbiosType42Probe,
  structuresOfType,
} from "../../agent/collect/dmidecode.ts";
import { type ProbeResult, replayRunner } from "../../agent/exec.ts";
import { dumpOf, TABLES } from "../../samples/smbios-platform-tables/make-tables.ts";
import { CollectorReport, type Dimm, RedfishHostInterface } from "../../schema/inventory.ts";
import { hostInterfaceStructure } from "../lab/smbios.ts";
import { DmidecodeFactsSchema } from "../support/fact-schemas.ts";
import { fakeRunner } from "../support/fake-runner.ts";

const GiB = 2 ** 30;
const MiB = 2 ** 20;
const lines = (...rows: string[]) => `${rows.join("\n")}\n`;

// dell-poweredge-r740-linuxhw (dmidecode 3.4, SMBIOS 3.2.0), abridged record by record.
const R740_IDENTITY = lines(
  "# dmidecode 3.4",
  "Getting SMBIOS data from sysfs.",
  "SMBIOS 3.2.0 present.",
  "Table at 0x68D2F000.",
  "",
  "Handle 0xDA00, DMI type 218, 17 bytes",
  "OEM-specific Type",
  "\tHeader and Data:",
  "\t\tDA 11 00 DA B2 00 17 20 0E 10 03 FF FF 00 00 00",
  "\t\t00",
  "",
  "Handle 0x0000, DMI type 0, 26 bytes",
  "BIOS Information",
  "\tVendor: Dell Inc.",
  "\tVersion: 2.22.1",
  "\tRelease Date: 08/09/2024",
  "\tAddress: 0xF0000",
  "\tRuntime Size: 64 kB",
  "\tROM Size: 32 MB",
  "\tCharacteristics:",
  "\t\tISA is supported",
  "\t\tPCI is supported",
  "\t\tUEFI is supported",
  "\tBIOS Revision: 2.22",
  "",
  "Handle 0x0100, DMI type 1, 27 bytes",
  "System Information",
  "\tManufacturer: Dell Inc.",
  "\tProduct Name: PowerEdge R740",
  "\tVersion: Not Specified",
  "\tSerial Number: --",
  "\tUUID: --",
  "\tWake-up Type: Power Switch",
  "\tSKU Number: SKU=0715;ModelName=PowerEdge R740",
  "\tFamily: PowerEdge",
  "",
  "Handle 0x0200, DMI type 2, 8 bytes",
  "Base Board Information",
  "\tManufacturer: Dell Inc.",
  "\tProduct Name: 01YM03",
  "\tVersion: A02",
  "\tSerial Number: --",
  "",
  "Handle 0x0300, DMI type 3, 22 bytes",
  "Chassis Information",
  "\tManufacturer: Dell Inc.",
  "\tType: Rack Mount Chassis",
  "\tLock: Present",
  "\tVersion: Not Specified",
  "\tSerial Number: --",
  "\tAsset Tag: --",
  "\tBoot-up State: Safe",
  "\tHeight: 2 U",
  "",
);

const R740_CPU1 = lines(
  "Handle 0x0400, DMI type 4, 48 bytes",
  "Processor Information",
  "\tSocket Designation: CPU1",
  "\tType: Central Processor",
  "\tFamily: Xeon",
  "\tManufacturer: Intel",
  "\tID: 54 06 05 00 FF FB EB BF",
  "\tSignature: Type 0, Family 6, Model 85, Stepping 4",
  "\tFlags:",
  "\t\tFPU (Floating-point unit on-chip)",
  "\t\tVME (Virtual mode extension)",
  "\t\tPBE (Pending break enabled)",
  "\tVersion: Intel(R) Xeon(R) Gold 6154 CPU @ 3.00GHz",
  "\tVoltage: 1.8 V",
  "\tExternal Clock: 10400 MHz",
  "\tMax Speed: 4000 MHz",
  "\tCurrent Speed: 3000 MHz",
  "\tStatus: Populated, Enabled",
  "\tUpgrade: Socket LGA2011",
  "\tL1 Cache Handle: 0x0700",
  "\tSerial Number: --",
  "\tAsset Tag: --",
  "\tPart Number: Not Specified",
  "\tCore Count: 18",
  "\tCore Enabled: 18",
  "\tThread Count: 36",
  "\tCharacteristics:",
  "\t\t64-bit capable",
  "\t\tMulti-Core",
  "\t\tHardware Thread",
  "",
);

const R740_MEMORY = lines(
  "Handle 0x1000, DMI type 16, 23 bytes",
  "Physical Memory Array",
  "\tLocation: System Board Or Motherboard",
  "\tUse: System Memory",
  "\tError Correction Type: Multi-bit ECC",
  "\tMaximum Capacity: 7680 GB",
  "\tError Information Handle: Not Provided",
  "\tNumber Of Devices: 24",
  "",
  "Handle 0x1100, DMI type 17, 84 bytes",
  "Memory Device",
  "\tArray Handle: 0x1000",
  "\tError Information Handle: Not Provided",
  "\tTotal Width: 72 bits",
  "\tData Width: 64 bits",
  "\tSize: 16 GB",
  "\tForm Factor: DIMM",
  "\tSet: 1",
  "\tLocator: A1",
  "\tBank Locator: Not Specified",
  "\tType: DDR4",
  "\tType Detail: Synchronous Registered (Buffered)",
  "\tSpeed: 2933 MT/s",
  "\tManufacturer: 00AD00B300AD",
  "\tSerial Number: --",
  "\tAsset Tag: --",
  "\tPart Number: HMA82GR7DJR4N-WM",
  "\tRank: 1",
  "\tConfigured Memory Speed: 2666 MT/s",
  "\tMinimum Voltage: 1.2 V",
  "\tMaximum Voltage: 1.2 V",
  "\tConfigured Voltage: 1.2 V",
  "\tMemory Technology: DRAM",
  "\tMemory Operating Mode Capability: Volatile memory",
  "\tFirmware Version: Not Specified",
  "\tModule Manufacturer ID: Unknown",
  "\tModule Product ID: Unknown",
  "\tMemory Subsystem Controller Manufacturer ID: Unknown",
  "\tMemory Subsystem Controller Product ID: Unknown",
  "\tNon-Volatile Size: None",
  "\tVolatile Size: 16 GB",
  "\tCache Size: None",
  "\tLogical Size: None",
  "",
  "Handle 0x1108, DMI type 17, 84 bytes",
  "Memory Device",
  "\tArray Handle: 0x1000",
  "\tError Information Handle: Not Provided",
  "\tTotal Width: Unknown",
  "\tData Width: Unknown",
  "\tSize: No Module Installed",
  "\tForm Factor: Unknown",
  "\tSet: 2",
  "\tLocator: A9",
  "\tBank Locator: Not Specified",
  "\tType: Unknown",
  "\tType Detail: None",
  "",
);

const R740_IPMI = lines(
  "Handle 0x2600, DMI type 38, 18 bytes",
  "IPMI Device Information",
  "\tInterface Type: KCS (Keyboard Control Style)",
  "\tSpecification Version: 2.0",
  "\tI2C Slave Address: 0x10",
  "\tNV Storage Device: Not Present",
  "\tBase Address: 0x0000000000000CA8 (I/O)",
  "",
);

const R740_DIMM_A1: Dimm = {
  locator: "A1",
  bankLocator: null,
  sizeBytes: 16 * GiB,
  type: "DDR4",
  formFactor: "DIMM",
  speedMts: 2933,
  configuredSpeedMts: 2666,
  manufacturer: "00AD00B300AD",
  serialNumber: null,
  partNumber: "HMA82GR7DJR4N-WM",
  technology: "DRAM",
  persistent: false,
};

/** Invariants that hold for any input, however mangled. */
function assertWellFormed(facts: DmidecodeFacts): void {
  DmidecodeFactsSchema.parse(facts);
  for (const cpu of facts.processors) {
    assert.match(cpu.status ?? "", /^Populated, (Enabled|Idle)$/i);
  }
  for (const dimm of facts.dimms) assert.ok((dimm.sizeBytes ?? 0) > 0);
  if (facts.dimms.length > 0) assert.ok(facts.slots !== null && facts.slots >= facts.dimms.length);
}

describe("parseDmidecode: system, board, chassis, BIOS", () => {
  test("reads types 0-3 of a Dell R740 and nulls anonymised serials and UUID", () => {
    const facts = parseDmidecode(R740_IDENTITY);
    assert.deepEqual(facts.bios, {
      vendor: "Dell Inc.",
      version: "2.22.1",
      releaseDate: "08/09/2024",
      releaseDateIso: "2024-08-09",
    });
    assert.deepEqual(facts.system, {
      manufacturer: "Dell Inc.",
      productName: "PowerEdge R740",
      version: null,
      serialNumber: null,
      uuid: null,
      sku: "SKU=0715;ModelName=PowerEdge R740",
      family: "PowerEdge",
    });
    assert.deepEqual(facts.baseboard, {
      manufacturer: "Dell Inc.",
      productName: "01YM03",
      version: "A02",
      serialNumber: null,
      assetTag: null,
    });
    assert.deepEqual(facts.chassis, {
      manufacturer: "Dell Inc.",
      type: "Rack Mount Chassis",
      serialNumber: null,
      assetTag: null,
    });
    assert.deepEqual(facts.processors, []);
    assert.equal(facts.slots, null);
    assert.equal(facts.ipmiDevicePresent, false);
  });

  test("UUID in canonical lowercase; serial kept with its spaces collapsed (VMware)", () => {
    // vmware-virtual-platform-ubuntu1804-jc
    const facts = parseDmidecode(
      lines(
        "Handle 0x0001, DMI type 1, 27 bytes",
        "System Information",
        "\tManufacturer: VMware, Inc.",
        "\tProduct Name: VMware Virtual Platform",
        "\tVersion: None",
        "\tSerial Number: VMware-56 4d 0d 1a cc cf 45 fa-43 81 ac 1f 3b 99 45 17",
        "\tUUID: 1A0D4D56-CFCC-FA45-4381-AC1F3B994517",
        "\tWake-up Type: Power Switch",
        "\tSKU Number: Not Specified",
        "\tFamily: Not Specified",
      ),
    );
    assert.deepEqual(facts.system, {
      manufacturer: "VMware, Inc.",
      productName: "VMware Virtual Platform",
      version: null,
      serialNumber: "VMware-56 4d 0d 1a cc cf 45 fa-43 81 ac 1f 3b 99 45 17",
      uuid: "1a0d4d56-cfcc-fa45-4381-ac1f3b994517",
      sku: null,
      family: null,
    });
  });

  test("firmware boilerplate and blank values are null (ASRock Rack, LattePanda)", () => {
    // asrockrack-genoad12m3-2q-h-linuxhw
    const asrock = parseDmidecode(
      lines(
        "Handle 0x0001, DMI type 1, 27 bytes",
        "System Information",
        "\tManufacturer: To Be Filled By O.E.M.",
        "\tProduct Name: GENOAD12M3-2Q/H",
        "\tVersion: To Be Filled By O.E.M.",
        "\tSerial Number: --",
        "\tUUID: --",
        "\tWake-up Type: Power Switch",
        "\tSKU Number: To Be Filled By O.E.M.",
        "\tFamily: To Be Filled By O.E.M.",
      ),
    );
    assert.equal(asrock.system.manufacturer, null);
    assert.equal(asrock.system.productName, "GENOAD12M3-2Q/H");
    assert.equal(asrock.system.sku, null);
    // lattepanda-mu-mudata: the values are a single space in the raw text
    const latte = parseDmidecode(
      lines(
        "Handle 0x0001, DMI type 1, 27 bytes",
        "System Information",
        "\tManufacturer:  ",
        "\tProduct Name: ADL-N",
        "\tVersion:  ",
        "\tSerial Number:  ",
        "\tUUID: afd75c80-ebec-11ee-b2c4-cf25994d0f00",
        "\tWake-up Type: Power Switch",
        "\tSKU Number:  ",
        "\tFamily:  ",
      ),
    );
    assert.deepEqual(latte.system, {
      manufacturer: null,
      productName: "ADL-N",
      version: null,
      serialNumber: null,
      uuid: "afd75c80-ebec-11ee-b2c4-cf25994d0f00",
      sku: null,
      family: null,
    });
  });

  test("the first record of a type wins", () => {
    const second = R740_IDENTITY.replace("Handle 0x0200", "Handle 0x0201").replace(
      "01YM03",
      "SECOND",
    );
    const facts = parseDmidecode(R740_IDENTITY + second);
    assert.equal(facts.baseboard.productName, "01YM03");
  });

  test("CRLF line endings parse exactly like LF", () => {
    const text = R740_IDENTITY + R740_CPU1 + R740_MEMORY + R740_IPMI;
    const crlf = parseDmidecode(text.replaceAll("\n", "\r\n"));
    assert.deepEqual(crlf, parseDmidecode(text));
    assert.equal(crlf.system.productName, "PowerEdge R740");
    assert.deepEqual(crlf.dimms, [R740_DIMM_A1]);
  });

  test("empty, non-dmidecode and whitespace-only input give the empty facts", () => {
    for (const text of ["", "\n\n", "# No SMBIOS nor DMI entry point found, sorry.\n"]) {
      assert.deepEqual(parseDmidecode(text), emptyDmidecodeFacts());
    }
    const empty = emptyDmidecodeFacts();
    assert.equal(empty.system.serialNumber, null);
    assert.equal(empty.slots, null);
    assert.deepEqual(empty.dimms, []);
    assertWellFormed(empty);
  });
});

describe("parseDmidecode: processors", () => {
  test("reads socket, model, cores, threads and speeds; skips Flags and Characteristics lists", () => {
    assert.deepEqual(parseDmidecode(R740_CPU1).processors, [
      {
        socket: "CPU1",
        manufacturer: "Intel",
        model: "Intel(R) Xeon(R) Gold 6154 CPU @ 3.00GHz",
        cores: 18,
        threads: 36,
        maxSpeedMhz: 4000,
        currentSpeedMhz: 3000,
        status: "Populated, Enabled",
      },
    ]);
  });

  test("'Populated, Disabled By BIOS' phantom sockets are not processors (VMware)", () => {
    // vmware-virtual-platform-ubuntu1804-jc: CPU #000 enabled, CPU #001..#127 like the second
    const record = (handle: string, socket: string, id: string, status: string) =>
      lines(
        `Handle ${handle}, DMI type 4, 42 bytes`,
        "Processor Information",
        `\tSocket Designation: ${socket}`,
        "\tType: Central Processor",
        "\tFamily: Unknown",
        "\tManufacturer: GenuineIntel",
        `\tID: ${id}`,
        "\tVersion: Intel(R) Core(TM) i5-8279U CPU @ 2.40GHz",
        "\tVoltage: 3.3 V",
        "\tExternal Clock: Unknown",
        "\tMax Speed: 30000 MHz",
        "\tCurrent Speed: 2400 MHz",
        `\tStatus: ${status}`,
        "\tUpgrade: ZIF Socket",
        "\tL3 Cache Handle: Not Provided",
        "\tSerial Number: Not Specified",
        "\tCore Count: 1",
        "\tCore Enabled: 1",
        "\tCharacteristics:",
        "\t\t64-bit capable",
        "\t\tExecute Protection",
        "",
      );
    const facts = parseDmidecode(
      record("0x0004", "CPU #000", "EA 06 08 00 FF FB 8B 0F", "Populated, Enabled") +
        record("0x0005", "CPU #001", "EA 06 00 00 FF FB 8B 0F", "Populated, Disabled By BIOS") +
        record("0x0006", "CPU #002", "EA 06 00 00 FF FB 8B 0F", "Populated, Disabled By BIOS"),
    );
    assert.deepEqual(facts.processors, [
      {
        socket: "CPU #000",
        manufacturer: "GenuineIntel",
        model: "Intel(R) Core(TM) i5-8279U CPU @ 2.40GHz",
        cores: 1,
        threads: null,
        maxSpeedMhz: 30000,
        currentSpeedMhz: 2400,
        status: "Populated, Enabled",
      },
    ]);
  });

  test("'Unpopulated' sockets are skipped, 'Populated, Idle' ones kept (Supermicro, HP Gen8)", () => {
    // supermicro-ssg-6028r-osd072p-netbox, second socket
    const unpopulated = lines(
      "Handle 0x005B, DMI type 4, 48 bytes",
      "Processor Information",
      "\tSocket Designation: SOCKET 1",
      "\tType: <OUT OF SPEC>",
      "\tFamily: <OUT OF SPEC>",
      "\tManufacturer: Not Specified",
      "\tID: 00 00 00 00 00 00 00 00",
      "\tVersion: Not Specified",
      "\tVoltage: Unknown",
      "\tExternal Clock: Unknown",
      "\tMax Speed: Unknown",
      "\tCurrent Speed: Unknown",
      "\tStatus: Unpopulated",
      "\tUpgrade: <OUT OF SPEC>",
      "\tCharacteristics: None",
      "",
    );
    // hp-proliant-dl380p-gen8-netbox, second socket (dmidecode 3.0); the model has padding
    const idle = lines(
      "Handle 0x0401, DMI type 4, 42 bytes",
      "Processor Information",
      "\tSocket Designation: Proc 2",
      "\tType: Central Processor",
      "\tFamily: Xeon",
      "\tManufacturer: Intel",
      "\tVersion:  Intel(R) Xeon(R) CPU E5-2620 0 @ 2.00GHz       ",
      "\tVoltage: 1.4 V",
      "\tExternal Clock: 100 MHz",
      "\tMax Speed: 4800 MHz",
      "\tCurrent Speed: 2000 MHz",
      "\tStatus: Populated, Idle",
      "\tUpgrade: Socket LGA2011",
      "\tCore Count: 6",
      "\tCore Enabled: 6",
      "\tThread Count: 12",
      "",
    );
    const facts = parseDmidecode(unpopulated + idle);
    assert.deepEqual(facts.processors, [
      {
        socket: "Proc 2",
        manufacturer: "Intel",
        model: "Intel(R) Xeon(R) CPU E5-2620 0 @ 2.00GHz",
        cores: 6,
        threads: 12,
        maxSpeedMhz: 4800,
        currentSpeedMhz: 2000,
        status: "Populated, Idle",
      },
    ]);
  });

  test("a type-4 record without a Status line is not counted", () => {
    const facts = parseDmidecode(R740_CPU1.replace("\tStatus: Populated, Enabled\n", ""));
    assert.deepEqual(facts.processors, []);
  });
});

describe("parseDmidecode: memory", () => {
  test("installed modules only; every type-17 record of a System Memory array is a slot", () => {
    const facts = parseDmidecode(R740_MEMORY);
    assert.deepEqual(facts.dimms, [R740_DIMM_A1]);
    assert.equal(facts.slots, 2);
  });

  test("dmidecode 2.12 units and names: '16384 MB', 'Speed: 2400 MHz', 'Configured Clock Speed'", () => {
    // dell-dss7500-netbox (dmidecode 2.12 predates DDR4: "Type: <OUT OF SPEC>")
    const facts = parseDmidecode(
      lines(
        "Handle 0x1100, DMI type 17, 40 bytes",
        "Memory Device",
        "\tArray Handle: 0x1000",
        "\tError Information Handle: Not Provided",
        "\tTotal Width: 72 bits",
        "\tData Width: 64 bits",
        "\tSize: 16384 MB",
        "\tForm Factor: DIMM",
        "\tSet: 1",
        "\tLocator: A1",
        "\tBank Locator: Not Specified",
        "\tType: <OUT OF SPEC>",
        "\tType Detail: Synchronous Registered (Buffered)",
        "\tSpeed: 2400 MHz",
        "\tManufacturer: 002C00B3002C",
        "\tSerial Number: 4242",
        "\tAsset Tag: 4242",
        "\tPart Number: 18ASF2G72PDZ-2G3B1",
        "\tRank: 2",
        "\tConfigured Clock Speed: 2133 MHz",
        "",
      ),
    );
    assert.deepEqual(facts.dimms, [
      {
        locator: "A1",
        bankLocator: null,
        sizeBytes: 16 * GiB,
        type: null,
        formFactor: "DIMM",
        speedMts: 2400,
        configuredSpeedMts: 2133,
        manufacturer: "002C00B3002C",
        serialNumber: "4242",
        partNumber: "18ASF2G72PDZ-2G3B1",
        technology: null,
        persistent: false,
      },
    ]);
    // No type-16 record in the snippet: the device still counts.
    assert.equal(facts.slots, 1);
  });

  test("'Size' is authoritative: 'Volatile Size: 32 kB' on a 32 GB module (Lenovo SR645)", () => {
    // lenovo-thinksystem-sr645-linuxhw, DIMM 10
    const facts = parseDmidecode(
      lines(
        "Handle 0x0024, DMI type 17, 92 bytes",
        "Memory Device",
        "\tArray Handle: 0x0006",
        "\tSize: 32 GB",
        "\tForm Factor: DIMM",
        "\tLocator: DIMM 10",
        "\tBank Locator: CPU 1",
        "\tType: DDR4",
        "\tSpeed: 3200 MT/s",
        "\tManufacturer: Samsung",
        "\tSerial Number: --",
        "\tPart Number: M393A4K40DB3-CWE    ",
        "\tConfigured Memory Speed: 2933 MT/s",
        "\tMemory Technology: DRAM",
        "\tMemory Operating Mode Capability: Volatile memory",
        "\tNon-Volatile Size: None",
        "\tVolatile Size: 32 kB",
        "\tCache Size: None",
        "\tLogical Size: None",
      ),
    );
    assert.equal(facts.dimms[0]?.sizeBytes, 32 * GiB);
    assert.equal(facts.dimms[0]?.partNumber, "M393A4K40DB3-CWE");
    assert.equal(facts.dimms[0]?.persistent, false);
  });

  // Optane PMem in Memory Mode: TUM-DSE/doctor-cluster-config docs/hosts/adelaide.md (MIT),
  // `dmidecode --type memory` (dmidecode 3.4, SMBIOS 3.3.0). Published with 8-space indentation.
  const ADELAIDE = [
    "# dmidecode 3.4",
    "Getting SMBIOS data from sysfs.",
    "SMBIOS 3.3.0 present.",
    "",
    "Handle 0x002A, DMI type 16, 23 bytes",
    "Physical Memory Array",
    "        Location: System Board Or Motherboard",
    "        Use: System Memory",
    "        Maximum Capacity: 12 TB",
    "        Number Of Devices: 8",
    "",
    "Handle 0x002B, DMI type 17, 92 bytes",
    "Memory Device",
    "        Array Handle: 0x002A",
    "        Size: 64 GB",
    "        Form Factor: DIMM",
    "        Locator: DIMMA1",
    "        Bank Locator: P0_Node0_Channel0_Dimm0",
    "        Type: DDR4",
    "        Type Detail: Synchronous Cache DRAM Registered (Buffered)",
    "        Speed: 3200 MT/s",
    "        Manufacturer: Samsung",
    "        Serial Number: H1KX00014148249FED",
    "        Part Number: M393A8G40AB2-CWE",
    "        Configured Memory Speed: 2933 MT/s",
    "        Memory Technology: DRAM",
    "        Memory Operating Mode Capability: Volatile memory",
    "        Non-Volatile Size: None",
    "        Volatile Size: None",
    "        Cache Size: 64 GB",
    "        Logical Size: None",
    "",
    "Handle 0x002D, DMI type 17, 92 bytes",
    "Memory Device",
    "        Array Handle: 0x002A",
    "        Size: 256 GB",
    "        Form Factor: DIMM",
    "        Locator: DIMMB1",
    "        Bank Locator: P0_Node0_Channel1_Dimm0",
    "        Type: Logical non-volatile device",
    "        Type Detail: Synchronous Non-Volatile LRDIMM",
    "        Speed: 3200 MT/s",
    "        Manufacturer: Intel",
    "        Serial Number: 214400000D62",
    "        Part Number: NMB1XXD256GPS",
    "        Configured Memory Speed: 2933 MT/s",
    "        Memory Technology: Intel Optane DC persistent memory",
    "        Memory Operating Mode Capability: Volatile memory Byte-accessible persistent memory",
    "        Firmware Version: 1553",
    "        Non-Volatile Size: None",
    "        Volatile Size: 253 GB",
    "        Cache Size: None",
    "        Logical Size: None",
    "",
  ].join("\n");

  test("Optane in Memory Mode is persistent, the DRAM cache in front of it is not", () => {
    const expected = [
      {
        locator: "DIMMA1",
        bankLocator: "P0_Node0_Channel0_Dimm0",
        sizeBytes: 64 * GiB,
        type: "DDR4",
        formFactor: "DIMM",
        speedMts: 3200,
        configuredSpeedMts: 2933,
        manufacturer: "Samsung",
        serialNumber: "H1KX00014148249FED",
        partNumber: "M393A8G40AB2-CWE",
        technology: "DRAM",
        persistent: false,
      },
      {
        locator: "DIMMB1",
        bankLocator: "P0_Node0_Channel1_Dimm0",
        sizeBytes: 256 * GiB,
        type: "Logical non-volatile device",
        formFactor: "DIMM",
        speedMts: 3200,
        configuredSpeedMts: 2933,
        manufacturer: "Intel",
        serialNumber: "214400000D62",
        partNumber: "NMB1XXD256GPS",
        technology: "Intel Optane DC persistent memory",
        persistent: true,
      },
    ];
    const facts = parseDmidecode(ADELAIDE);
    assert.deepEqual(facts.dimms, expected);
    assert.equal(facts.slots, 2);
    // dmidecode itself indents with tabs: same result.
    assert.deepEqual(parseDmidecode(ADELAIDE.replaceAll("        ", "\t")).dimms, expected);
  });

  test("each persistent-memory signal on its own marks the module persistent", () => {
    const optane = ADELAIDE.slice(ADELAIDE.indexOf("Handle 0x002D"));
    const dram = ADELAIDE.slice(
      ADELAIDE.indexOf("Handle 0x002B"),
      ADELAIDE.indexOf("Handle 0x002D"),
    );
    const persistent = (text: string) => parseDmidecode(text).dimms.map((d) => d.persistent);
    assert.deepEqual(persistent(dram), [false]);
    // dmidecode's Memory Technology strings for NVDIMMs and later Optane generations
    for (const technology of ["NVDIMM-N", "NVDIMM-P", "Intel Optane persistent memory"]) {
      const text = dram.replace("Memory Technology: DRAM", `Memory Technology: ${technology}`);
      assert.deepEqual(persistent(text), [true], technology);
    }
    // persistent-only capability
    const appDirectOnly = dram.replace(
      "Mode Capability: Volatile memory",
      "Mode Capability: Byte-accessible persistent memory",
    );
    assert.deepEqual(persistent(appDirectOnly), [true]);
    // Non-Volatile Size with no volatile part
    const nonVolatile = dram
      .replace("Non-Volatile Size: None", "Non-Volatile Size: 64 GB")
      .replace("Memory Technology: DRAM", "Memory Technology: Unknown");
    assert.deepEqual(persistent(nonVolatile), [true]);
    // "Type: Logical non-volatile device" alone
    const typeOnly = optane
      .replace("Intel Optane DC persistent memory", "Unknown")
      .replace("Volatile memory Byte-accessible persistent memory", "Volatile memory");
    assert.deepEqual(persistent(typeOnly), [true]);
  });

  test("Optane in App Direct mode (Non-Volatile Size, wrapped capability line)", () => {
    // LKML, Kemeng Shi, "[PATCH] x86: Accelerate copy_page with non-temporal in X86",
    // 2021-04-13: the AEP module of a Huawei server; the mail client wrapped one line.
    const facts = parseDmidecode(
      lines(
        "Handle 0x0040, DMI type 17, 92 bytes",
        "Memory Device",
        "        Array Handle: 0x0035",
        "        Size: 128 GB",
        "        Form Factor: DIMM",
        "        Locator: DIMM131 J41",
        "        Bank Locator: _Node1_Channel3_Dimm1",
        "        Type: Logical non-volatile device",
        "        Type Detail: Synchronous Non-Volatile LRDIMM",
        "        Speed: 2666 MT/s",
        "        Manufacturer: Intel",
        "        Serial Number: 00006803",
        "        Part Number: NMA1XXD128GPS",
        "        Configured Memory Speed: 2666 MT/s",
        "        Memory Technology: Intel persistent memory",
        "        Memory Operating Mode Capability: Volatile memory",
        "\tByte-accessible persistent memory",
        "        Firmware Version: 5355",
        "        Non-Volatile Size: 126 GB",
        "        Volatile Size: None",
      ),
    );
    assert.equal(facts.dimms.length, 1);
    assert.equal(facts.dimms[0]?.sizeBytes, 128 * GiB);
    assert.equal(facts.dimms[0]?.technology, "Intel persistent memory");
    assert.equal(facts.dimms[0]?.persistent, true);
  });

  // LKML, Lorenzo Colitti, "Re: [ACPI] Re: Call for help: list of machines with working S3",
  // 2005-02-15: HP Compaq nc6000, dmidecode 2.5 (old layout: bare `Handle` line, indented
  // `DMI type` line and title). Its BIOS flash chip is a Memory Device of a Flash Memory array.
  const NC6000 = lines(
    "# dmidecode 2.5",
    "SMBIOS 2.3 present.",
    "31 structures occupying 1354 bytes.",
    "Table at 0x000FF2EB.",
    "Handle 0x0001",
    "\tDMI type 1, 25 bytes.",
    "\tSystem Information",
    "\t\tManufacturer: Hewlett-Packard",
    "\t\tProduct Name: HP Compaq nc6000 (DJ254A#ABB)   ",
    "\t\tVersion: F.0F",
    "\t\tSerial Number: XXXXXXXXXX                      ",
    "\t\tUUID: XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX",
    "\t\tWake-up Type: Power Switch",
    "Handle 0x0004",
    "\tDMI type 4, 35 bytes.",
    "\tProcessor Information",
    "\t\tSocket Designation: U10",
    "\t\tType: Central Processor",
    "\t\tFamily: Pentium M",
    "\t\tManufacturer: Intel(R)",
    "\t\tFlags:",
    "\t\t\tFPU (Floating-point unit on-chip)",
    "\t\t\tSBF (Signal break on FERR)",
    "\t\tVersion: Intel(R) Pentium(R) M processor 1400MHz        ",
    "\t\tMax Speed: 1400 MHz",
    "\t\tCurrent Speed: 1400 MHz",
    "\t\tStatus: Populated, Enabled",
    "Handle 0x000A",
    "\tDMI type 16, 15 bytes.",
    "\tPhysical Memory Array",
    "\t\tLocation: System Board Or Motherboard",
    "\t\tUse: System Memory",
    "\t\tMaximum Capacity: 1 GB",
    "\t\tNumber Of Devices: 2",
    "Handle 0x000B",
    "\tDMI type 16, 15 bytes.",
    "\tPhysical Memory Array",
    "\t\tLocation: System Board Or Motherboard",
    "\t\tUse: Flash Memory",
    "\t\tMaximum Capacity: 1 MB",
    "\t\tNumber Of Devices: 1",
    "Handle 0x000C",
    "\tDMI type 17, 27 bytes.",
    "\tMemory Device",
    "\t\tArray Handle: 0x000A",
    "\t\tSize: 256 MB",
    "\t\tForm Factor: SODIMM",
    "\t\tLocator: DIMM #1",
    "\t\tBank Locator: 030B2C25",
    "\t\tType: DDR",
    "\t\tSpeed: 142 MHz (7.0 ns)",
    "\t\tManufacturer: Not Specified",
    "\t\tSerial Number: Not Specified",
    "Handle 0x000D",
    "\tDMI type 17, 27 bytes.",
    "\tMemory Device",
    "\t\tArray Handle: 0x000A",
    "\t\tSize: 256 MB",
    "\t\tForm Factor: SODIMM",
    "\t\tLocator: DIMM #2",
    "\t\tBank Locator: 051FD180",
    "\t\tType: DDR",
    "\t\tSpeed: 142 MHz (7.0 ns)",
    "\t\tSerial Number: XXXXXXXXXXXX-XXXXX",
    "Handle 0x000E",
    "\tDMI type 17, 27 bytes.",
    "\tMemory Device",
    "\t\tArray Handle: 0x000B",
    "\t\tTotal Width: 8 bits",
    "\t\tSize: 1024 kB",
    "\t\tForm Factor: Chip",
    "\t\tLocator: SST49F008A",
    "\t\tType: Flash",
    "\t\tType Detail: Non-Volatile",
    "Handle 0x0016",
    "\tDMI type 126, 26 bytes.",
    "\tInactive",
    "Handle 0x001B",
    "\tDMI type 127, 4 bytes.",
    "\tEnd Of Table",
  );

  test("old dmidecode 2.x layout; devices of a Flash Memory array are neither DIMMs nor slots", () => {
    const facts = parseDmidecode(NC6000);
    assert.equal(facts.system.manufacturer, "Hewlett-Packard");
    assert.equal(facts.system.productName, "HP Compaq nc6000 (DJ254A#ABB)");
    assert.equal(facts.system.serialNumber, null);
    assert.equal(facts.system.uuid, null);
    assert.deepEqual(
      facts.processors.map((p) => [p.socket, p.model, p.maxSpeedMhz, p.cores]),
      [["U10", "Intel(R) Pentium(R) M processor 1400MHz", 1400, null]],
    );
    assert.deepEqual(
      facts.dimms.map((d) => [d.locator, d.sizeBytes, d.type, d.speedMts, d.serialNumber]),
      [
        ["DIMM #1", 256 * MiB, "DDR", 142, null],
        ["DIMM #2", 256 * MiB, "DDR", 142, null],
      ],
    );
    assert.equal(facts.slots, 2);
  });

  test("the 'Mbyte' unit spelling of dmidecode 1.x is read", () => {
    // LKML, "Re: APIC on Dell Laptops", 2003-05-26: Dell Inspiron 8500, dmidecode 1.8
    const facts = parseDmidecode(
      lines(
        "Handle 0x1100",
        "\tDMI type 17, 27 bytes.",
        "\tMemory Device",
        "\t\tArray Handle: 0x1000",
        "\t\tSize: 256 Mbyte",
        "\t\tForm Factor: DIMM",
        "\t\tLocator: DIMM_A",
        "\t\tBank Locator: ",
        "\t\tType: DDR",
        "\t\tSpeed: 266 MHz (3.8 ns)",
        "\t\tPart Number:                 ",
      ),
    );
    assert.deepEqual(
      facts.dimms.map((d) => [d.locator, d.sizeBytes, d.speedMts, d.bankLocator, d.partNumber]),
      [["DIMM_A", 256 * MiB, 266, null, null]],
    );
  });
});

describe("parseDmidecode: table structure", () => {
  test("a broken table keeps the records before 'DMI table is broken! Stop.'", () => {
    // quanta-s210-x12ms-broken-table-linuxhw, last record and the line that ends the dump
    const text = lines(
      "Handle 0x005B, DMI type 38, 18 bytes",
      "IPMI Device Information",
      "\tInterface Type: KCS (Keyboard Control Style)",
      "\tSpecification Version: 2.0",
      "\tI2C Slave Address: 0x10",
      "\tNV Storage Device: Not Present",
      "\tBase Address: 0x0000000000000CA2 (I/O)",
      "\tRegister Spacing: Successive Byte Boundaries",
      "",
      "Invalid entry length (0). DMI table is broken! Stop.",
      "\tManufacturer: not part of any record",
      "",
    );
    const facts = parseDmidecode(R740_IDENTITY + text);
    assert.equal(facts.ipmiDevicePresent, true);
    assert.equal(facts.system.productName, "PowerEdge R740");
  });

  test("a dump cut off inside a record keeps what was read (VMware facter fixture)", () => {
    const cut = R740_CPU1.slice(0, R740_CPU1.indexOf("\tCore Count"));
    const facts = parseDmidecode(R740_IDENTITY + cut);
    assert.equal(facts.processors.length, 1);
    assert.equal(facts.processors[0]?.cores, null);
  });

  test("Inactive and OEM-specific records are ignored", () => {
    // oracle-virtualbox-facter; the second Inactive record is a made-up one carrying fields
    const facts = parseDmidecode(
      lines(
        "Handle 0x0007, DMI type 126, 42 bytes",
        "Inactive",
        "",
        "Handle 0x0008, DMI type 126, 42 bytes",
        "Inactive",
        "\tManufacturer: Not Real",
        "",
        "Handle 0x0008, DMI type 128, 8 bytes",
        "OEM-specific Type",
        "\tHeader and Data:",
        "\t\t80 08 08 00 E7 BB 2B 00",
        "",
        "Handle 0xFEFF, DMI type 127, 4 bytes",
        "End Of Table",
      ),
    );
    assert.deepEqual(facts, emptyDmidecodeFacts());
  });

  test("an indented record title (type 25 in dmidecode 3.1) does not disturb later records", () => {
    // dell-xps-15-9550-linuxhw
    const facts = parseDmidecode(
      lines(
        "Handle 0x0025, DMI type 25, 9 bytes",
        "\tSystem Power Controls",
        "\tNext Scheduled Power-on: *-* 00:00:00",
        "",
      ) + R740_IPMI,
    );
    assert.equal(facts.ipmiDevicePresent, true);
  });

  test("IPMI Device Information (type 38) sets ipmiDevicePresent", () => {
    assert.equal(parseDmidecode(R740_IPMI).ipmiDevicePresent, true);
    assert.equal(parseDmidecode(R740_IDENTITY).ipmiDevicePresent, false);
  });
});

describe("parseDmidecode: power supplies", () => {
  // supermicro-ssg-6028r-osd072p-netbox: two fitted supplies, two empty bays
  const psu = (n: number, fields: string[]) =>
    lines(
      `Handle 0x004${n}, DMI type 39, 22 bytes`,
      "System Power Supply",
      `\tPower Unit Group: ${n}`,
      `\tLocation: System Power Supply #${n}`,
      ...fields,
      "\tType: Unknown",
      "\tPlugged: Yes",
      "\tHot Replaceable: No",
      "",
    );
  const fitted = (serial: string) => [
    "\tName: PWS-920P-SQ",
    "\tManufacturer: SUPERMICRO",
    `\tSerial Number: ${serial}`,
    "\tAsset Tag: N/A",
    "\tModel Part Number: PWS-920P-SQ",
    "\tRevision: 1.0",
    "\tMax Power Capacity: 920 W",
    "\tStatus: Present, OK",
  ];
  const empty = [
    "\tName: To be filled by O.E.M.",
    "\tManufacturer: To be filled by O.E.M.",
    "\tSerial Number: To be filled by O.E.M.",
    "\tModel Part Number: To be filled by O.E.M.",
    "\tMax Power Capacity: Unknown",
    "\tStatus: Not Present",
  ];

  test("fitted supplies are read, 'Not Present' bays are not power supplies", () => {
    const facts = parseDmidecode(
      psu(1, fitted("P9212CH10JT1664")) +
        psu(2, fitted("P9212CH10JT1665")) +
        psu(3, empty) +
        psu(4, empty),
    );
    assert.deepEqual(facts.powerSupplies, [
      {
        name: "PWS-920P-SQ",
        location: "System Power Supply #1",
        manufacturer: "SUPERMICRO",
        serialNumber: "P9212CH10JT1664",
        modelPartNumber: "PWS-920P-SQ",
        maxPowerWatts: 920,
        status: "Present, OK",
      },
      {
        name: "PWS-920P-SQ",
        location: "System Power Supply #2",
        manufacturer: "SUPERMICRO",
        serialNumber: "P9212CH10JT1665",
        modelPartNumber: "PWS-920P-SQ",
        maxPowerWatts: 920,
        status: "Present, OK",
      },
    ]);
  });

  test("'Max Power Capacity: 0 W' and 'Unknown' are null (Gigabyte E252, LattePanda)", () => {
    const zero = parseDmidecode(
      psu(1, ["\tName: FSP800-20FM", "\tMax Power Capacity: 0 W", "\tStatus: Present, Unknown"]),
    );
    assert.equal(zero.powerSupplies[0]?.maxPowerWatts, null);
    assert.equal(zero.powerSupplies[0]?.status, "Present, Unknown");
    const unknown = parseDmidecode(
      psu(1, ["\tMax Power Capacity: Unknown", "\tStatus: Present, OK"]),
    );
    assert.equal(unknown.powerSupplies[0]?.maxPowerWatts, null);
  });
});

describe("collectDmidecode", () => {
  // dmidecode answers with `fields`; the raw type 42 read finds no type 42 structure.
  const runnerReturning = (fields: Partial<ProbeResult>) =>
    fakeRunner((probe) =>
      probe === dmidecodeProbe
        ? { durationMs: 12.5, command: "dmidecode", ...fields }
        : { output: '{"structures":[]}\n' },
    );

  test("the probe runs `dmidecode` as root with a 30 s budget", () => {
    assert.deepEqual(dmidecodeProbe, {
      file: "dmidecode.txt",
      source: { kind: "command", argv: ["dmidecode"], versionArgv: ["--version"] },
      timeoutMs: 30_000,
      needsRoot: true,
    });
  });

  test("parses the output of a successful run and reports it", async () => {
    const { runner, probes } = runnerReturning({ output: R740_IDENTITY + R740_MEMORY });
    const { value, reports } = await collectDmidecode(runner);
    assert.deepEqual(probes, [dmidecodeProbe, smbiosType42Probe]);
    assert.equal(value.system.productName, "PowerEdge R740");
    assert.deepEqual(value.dimms, [R740_DIMM_A1]);
    assert.deepEqual(reports, [
      {
        name: "dmidecode",
        status: "ok",
        durationMs: 12.5,
        command: "dmidecode",
        exitCode: 0,
        message: null,
      },
      {
        name: "smbios-type42",
        status: "ok",
        durationMs: 3,
        command: "read /sys/firmware/dmi/tables/DMI (type 42)",
        exitCode: null,
        message: null,
      },
    ]);
    z.array(CollectorReport).parse(reports);
  });

  test("a failed run that printed records (broken table) is still parsed", async () => {
    const output = `${R740_IDENTITY}Invalid entry length (0). DMI table is broken! Stop.\n`;
    const { runner } = runnerReturning({ status: "failed", exitCode: 1, output, message: "x" });
    const { value, reports } = await collectDmidecode(runner);
    assert.equal(value.system.manufacturer, "Dell Inc.");
    assert.equal(reports[0]?.status, "failed");
    assert.equal(reports[0]?.exitCode, 1);
  });

  test("skipped (not root), timed out or silent runs give the empty facts", async () => {
    const cases: Partial<ProbeResult>[] = [
      { status: "skipped", exitCode: null, message: "requires root" },
      { status: "timeout", exitCode: null, output: R740_IDENTITY, message: "timed out" },
      { status: "failed", exitCode: 1, output: "  \n", message: "/dev/mem: Permission denied" },
    ];
    for (const fields of cases) {
      const { value, reports } = await collectDmidecode(runnerReturning(fields).runner);
      assert.deepEqual(value, emptyDmidecodeFacts());
      assert.equal(reports[0]?.status, fields.status);
      assert.equal(reports[0]?.message, fields.message);
    }
  });
});

describe("parseDmidecode: properties", () => {
  const fixturesDir = join(import.meta.dirname, "../../fixtures");
  const fixtures = readdirSync(fixturesDir)
    .map((name) => join(fixturesDir, name, "dmidecode.txt"))
    .filter((path) => {
      try {
        readFileSync(path);
        return true;
      } catch {
        return false;
      }
    })
    .map((path) => readFileSync(path, "utf8"));
  const realLines = [...new Set(fixtures.flatMap((t) => t.split("\n")))];

  // Any code point, lone surrogates included (fc's "binary" unit is slow to set up).
  const anyCodePoints = fc.string({
    unit: fc.integer({ min: 0, max: 0x10ffff }).map((c) => String.fromCodePoint(c)),
  });

  test("never throws on arbitrary strings, and the result is well formed", () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.string(), anyCodePoints, fc.string({ unit: "binary-ascii" })),
        (text) => {
          assertWellFormed(parseDmidecode(text));
        },
      ),
      { numRuns: 500 },
    );
  });

  test("never throws on soups of real dmidecode lines and odd line endings", () => {
    const line = fc.oneof(
      { weight: 8, arbitrary: fc.constantFrom(...realLines) },
      { weight: 1, arbitrary: fc.string() },
      {
        weight: 1,
        arbitrary: fc.constantFrom("Handle 0x0001", "\tDMI type 17, 27 bytes.", "\t\t\t", "\t:"),
      },
    );
    const eol = fc.constantFrom("\n", "\r\n", "\r");
    fc.assert(
      fc.property(fc.array(line, { maxLength: 400 }), eol, (rows, end) => {
        assertWellFormed(parseDmidecode(rows.join(end)));
      }),
      { numRuns: 300 },
    );
  });

  test("never throws on truncated or mutated real fixtures", () => {
    const mutation = fc.record({
      fixture: fc.nat({ max: fixtures.length - 1 }),
      cut: fc.double({ min: 0, max: 1, noNaN: true }),
      edits: fc.array(
        fc.record({
          at: fc.double({ min: 0, max: 1, noNaN: true }),
          kind: fc.constantFrom("delete", "duplicate", "insert", "dedent", "indent"),
          text: fc.string(),
        }),
        { maxLength: 20 },
      ),
    });
    fc.assert(
      fc.property(mutation, ({ fixture, cut, edits }) => {
        const source = fixtures[fixture] ?? "";
        const rows = source.slice(0, Math.floor(source.length * cut)).split("\n");
        for (const edit of edits) {
          const i = Math.floor(edit.at * rows.length);
          const row = rows[i] ?? "";
          if (edit.kind === "delete") rows.splice(i, 1);
          else if (edit.kind === "duplicate") rows.splice(i, 0, row);
          else if (edit.kind === "insert") rows.splice(i, 0, edit.text);
          else if (edit.kind === "dedent") rows[i] = row.trimStart();
          else rows[i] = `\t${row}`;
        }
        assertWellFormed(parseDmidecode(rows.join("\n")));
      }),
      { numRuns: 200 },
    );
  });

  test("every prefix of a fixture's lines parses (processors never exceed the full count)", () => {
    const text = fixtures.find((t) => t.includes("Populated, Disabled By BIOS")) ?? "";
    const rows = text.split("\n");
    const full = parseDmidecode(text);
    for (let n = 0; n <= rows.length; n += 251) {
      const facts = parseDmidecode(rows.slice(0, n).join("\n"));
      assertWellFormed(facts);
      assert.ok(facts.processors.length <= full.processors.length);
      assert.ok((facts.slots ?? 0) <= (full.slots ?? 0));
    }
  });
});

// System slots (type 9) and the Redfish host interface (type 42): expected values read by hand
// from the fixtures' raw text (awk over the DMI type 9 / 42 records).
describe("dmidecode: system slots and the Redfish host interface", () => {
  const fixture = (name: string) =>
    parseDmidecode(
      readFileSync(join(import.meta.dirname, "../../fixtures", name, "dmidecode.txt"), "utf8"),
    );

  test("supermicro-ssg-6028r: 7 slots, empty ones all print 0000:ff:00.0", () => {
    const slot = (
      designation: string,
      width: string,
      currentUsage: string,
      busAddress: string,
    ) => ({
      designation,
      type: `${width} PCI Express 3 ${width}`,
      currentUsage,
      busAddress,
    });
    const slots = fixture("supermicro-ssg-6028r-osd072p-netbox").systemSlots;
    assert.equal(slots.length, 7);
    assert.deepEqual(slots.slice(0, 4), [
      slot("CPU1 SLOT1", "x8", "In Use", "0000:02:00.0"),
      slot("CPU1 SLOT2", "x16", "In Use", "0000:03:00.0"),
      slot("CPU1 SLOT3", "x8", "In Use", "0000:04:00.0"),
      slot("CPU2 SLOT4", "x16", "Available", "0000:ff:00.0"),
    ]);
    assert.deepEqual(slots.map((s) => s.busAddress).filter((a) => a === "0000:ff:00.0").length, 4);
  });

  test("lenovo-thinksystem-sr645: 0000:ff:1f.7 (bus and devfn 0xFF: not applicable) is null", () => {
    const slots = fixture("lenovo-thinksystem-sr645-linuxhw").systemSlots;
    assert.equal(slots.length, 14);
    assert.deepEqual(slots[0], {
      designation: "Slot 2",
      type: "x16 PCI Express 4",
      currentUsage: "In Use",
      busAddress: "0000:41:00.0",
    });
    assert.equal(slots[1]?.busAddress, "0000:01:00.0");
    assert.deepEqual(
      slots.slice(2).map((s) => s.busAddress),
      Array(12).fill(null),
    );
  });

  test("dell-poweredge-r740: slots without a Bus Address line have none", () => {
    const slots = fixture("dell-poweredge-r740-linuxhw").systemSlots;
    assert.equal(slots.length, 8);
    assert.deepEqual(slots[0], {
      designation: "PCIe Slot 1",
      type: "x8 PCI Express 3 x16",
      currentUsage: "In Use",
      busAddress: "0000:3b:00.0",
    });
    assert.deepEqual(slots[1], {
      designation: "PCIe Slot 2",
      type: "x8 PCI Express 3 x16",
      currentUsage: "Available",
      busAddress: null,
    });
  });

  test("bus addresses: lowercase dddd:bb:dd.f or null", () => {
    assert.equal(slotBusAddress("000D:0A:1F.3"), "000d:0a:1f.3");
    assert.equal(slotBusAddress(" 0000:00:1c.6 "), "0000:00:1c.6");
    assert.equal(slotBusAddress("00ff:ff:1f.7"), null);
    assert.equal(slotBusAddress("0000:ff:00.0"), "0000:ff:00.0");
    assert.equal(slotBusAddress("00:1c.6"), null);
    assert.equal(slotBusAddress("0000:00:1c.8"), null);
    assert.equal(slotBusAddress(null), null);
  });

  test("Redfish over IP, flat layout (dell-poweredge-r7525, dmidecode 3.4)", () => {
    assert.deepEqual(fixture("dell-poweredge-r7525-linuxhw").redfishHostInterface, {
      interfaceType: "Network",
      protocol: "Redfish over IP",
      serviceAddress: "169.254.1.1",
      serviceHostname: "idrac.local",
      deviceVendorId: "413c",
      deviceProductId: "a102",
    });
  });

  test("Redfish over IP, nested layout and empty hostname (gigabyte-e252-p30, after an OEM record)", () => {
    assert.deepEqual(fixture("gigabyte-e252-p30-ampere-altra-linuxhw").redfishHostInterface, {
      interfaceType: "Network",
      protocol: "Redfish over IP",
      serviceAddress: "169.254.0.17",
      serviceHostname: null,
      deviceVendorId: "046b",
      deviceProductId: "ffb0",
    });
  });

  test("two Redfish records: the first (lenovo-thinksystem-sr650-v2, IPv4 before IPv6)", () => {
    assert.deepEqual(fixture("lenovo-thinksystem-sr650-v2-linuxhw").redfishHostInterface, {
      interfaceType: "Network",
      protocol: "Redfish over IP",
      serviceAddress: "169.254.95.118",
      serviceHostname: "spb99-new1-ip",
      deviceVendorId: "04b3",
      deviceProductId: "4010",
    });
  });

  test("hostname with a leading space (supermicro-as-4124gs)", () => {
    const hi = fixture("supermicro-as-4124gs-tnr-linuxhw").redfishHostInterface;
    assert.equal(hi?.serviceHostname, "169.254.3.254");
    assert.equal(hi?.serviceAddress, "169.254.3.254");
    assert.equal(hi?.deviceVendorId, "0b1f");
  });

  test("no Redfish protocol record: null (KCS only, Reserved protocol, undecoded network)", () => {
    for (const name of [
      "asrockrack-genoad12m3-2q-h-linuxhw",
      "lenovo-thinksystem-sr645-linuxhw",
      "fujitsu-primergy-rx2540-m4-linuxhw",
      "dell-poweredge-r740-linuxhw",
    ]) {
      assert.equal(fixture(name).redfishHostInterface, null, name);
    }
  });
});

test("the lab's platform SMBIOS tables as dmidecode 3.4 decodes them (samples/smbios-platform-tables)", () => {
  const facts = parseDmidecode(
    readFileSync(
      join(import.meta.dirname, "../../samples/smbios-platform-tables/dmidecode.txt"),
      "utf8",
    ),
  );
  const slot = (n: number, currentUsage: string, busAddress: string) => ({
    designation: `PCIe Slot ${n}`,
    type: "x16 PCI Express 3 x16",
    currentUsage,
    busAddress,
  });
  assert.deepEqual(facts.systemSlots, [
    slot(1, "In Use", "0000:00:02.0"),
    slot(2, "Available", "0000:00:00.0"),
    slot(3, "Available", "0000:00:00.0"),
  ]);
  assert.deepEqual(facts.powerSupplies, [
    {
      name: "RL-PSU-800",
      location: "PSU1",
      manufacturer: "Recon Lab Power",
      serialNumber: "LABPSU0001",
      modelPartNumber: "RLP-800-AC",
      maxPowerWatts: 800,
      status: "Present, OK",
    },
  ]);
  assert.deepEqual(facts.redfishHostInterface, {
    interfaceType: "Network",
    protocol: "Redfish over IP",
    serviceAddress: "169.254.0.17",
    serviceHostname: "bmc.recon.lab",
    deviceVendorId: "046b",
    deviceProductId: "ffb0",
  });
});

test("samples/smbios-platform-tables/smbios-dump.bin is what its make-tables.ts writes", () => {
  const dump = join(import.meta.dirname, "../../samples/smbios-platform-tables/smbios-dump.bin");
  assert.deepEqual(readFileSync(dump), dumpOf(Object.values(TABLES)));
});

describe("the Redfish host interface from raw type 42 structures (SMBIOS before 3.2)", () => {
  // The structure QEMU got for the qemu-uefi-secureboot fixture (test/lab/smbios.ts with the
  // values of test/lab/capture.ts, listed in fixtures/qemu-uefi-secureboot/FACTS.md), whose dmidecode.txt shows only
  // "Interface Type: Network" because QEMU 7.2 announces SMBIOS 3.0.
  const qemu = hostInterfaceStructure({
    handle: 0x2a00,
    usbVendorId: 0x0525,
    usbProductId: 0xa4a2,
    usbSerial: "1",
    serviceUuid: "5ec0cafe-0042-4000-8000-00000000002a",
    hostIpv4: "169.254.0.2",
    hostMask: "255.255.0.0",
    serviceIpv4: "169.254.0.1",
    serviceMask: "255.255.0.0",
    servicePort: 443,
    serviceVlan: 0,
    serviceHostname: "recon-bmc.local",
  });

  test("qemu-uefi-secureboot's type 42: USB 0525:a4a2, Redfish over IP at 169.254.0.1", () => {
    const fixture = readFileSync(
      join(import.meta.dirname, "../../fixtures/qemu-uefi-secureboot/dmidecode.txt"),
      "utf8",
    );
    assert.match(
      fixture,
      /DMI type 42, 124 bytes\nManagement Controller Host Interface\n\tInterface Type: Network\n\n/,
    );
    assert.equal(parseDmidecode(fixture).redfishHostInterface, null);
    assert.equal(qemu[1], 124); // the formatted length dmidecode printed
    assert.deepEqual(redfishFromStructure(qemu), {
      interfaceType: "Network",
      protocol: "Redfish over IP",
      serviceAddress: "169.254.0.1",
      serviceHostname: "recon-bmc.local",
      deviceVendorId: "0525",
      deviceProductId: "a4a2",
    });
  });

  test("the sample tables' type 42 decodes as dmidecode 3.4 decoded it", () => {
    const bytes = TABLES["platform-type42-redfish.bin"] as Buffer;
    const text = readFileSync(
      join(import.meta.dirname, "../../samples/smbios-platform-tables/dmidecode.txt"),
      "utf8",
    );
    assert.deepEqual(redfishFromStructure(bytes), parseDmidecode(text).redfishHostInterface);
  });

  test("a table is walked structure by structure (strings included) up to End Of Table", () => {
    const dump = readFileSync(
      join(import.meta.dirname, "../../samples/smbios-platform-tables/smbios-dump.bin"),
    ).subarray(32);
    const found = structuresOfType(dump, 42);
    assert.equal(found.length, 1);
    assert.deepEqual(found[0], TABLES["platform-type42-redfish.bin"]);
    assert.equal(structuresOfType(dump, 9).length, 3);
    assert.deepEqual(structuresOfType(Buffer.from([1, 2, 0]), 1), []);
  });

  test("capture file: read, decoded; not-JSON and bad hex are problems; none is no problem", async () => {
    const dir = mkdtempSync(join(tmpdir(), "recon-dmi42-"));
    try {
      const table = join(dir, "DMI");
      writeFileSync(table, Buffer.concat([qemu, Buffer.from([127, 4, 0xff, 0xfe, 0, 0])]));
      const text = await readSmbiosType42Capture(table);
      assert.deepEqual(JSON.parse(text), { structures: [qemu.toString("hex")] });
      assert.equal(readSmbiosType42(text).value?.serviceHostname, "recon-bmc.local");
      assert.deepEqual(JSON.parse(await readSmbiosType42Capture(join(dir, "absent"))), {
        structures: [],
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    assert.deepEqual(readSmbiosType42('{"structures":[]}'), { value: null, problem: null });
    assert.match(readSmbiosType42('{"structures":["zz"]}').problem ?? "", /hex structures/);
    assert.match(readSmbiosType42("{").problem ?? "", /not JSON/);
  });

  test("truncated, non-network and non-Redfish structures: null; never throws", () => {
    const formatted = qemu[1] ?? 0;
    for (let cut = 0; cut < formatted; cut += 7) {
      assert.equal(redfishFromStructure(qemu.subarray(0, cut)), null, `cut at ${cut}`);
    }
    const kcs = Buffer.from(qemu);
    kcs[4] = 0x02;
    assert.equal(redfishFromStructure(kcs), null);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        const value = redfishFromStructure(Buffer.from([42, ...bytes]));
        if (value !== null) RedfishHostInterface.parse(value);
      }),
    );
  });
});

test("qemu-uefi capture: the Redfish host interface from the guest's raw type 42 (sys-firmware-dmi-42.json)", async () => {
  const dir = join(import.meta.dirname, "../../fixtures/qemu-uefi");
  // dmidecode in the guest (SMBIOS 3.0) printed only the interface type.
  assert.match(
    readFileSync(join(dir, "dmidecode.txt"), "utf8"),
    /DMI type 42, 124 bytes\nManagement Controller Host Interface\n\tInterface Type: Network\n\n/,
  );
  const { value, reports } = await collectDmidecode(await replayRunner(dir));
  assert.deepEqual(value.redfishHostInterface, {
    interfaceType: "Network",
    protocol: "Redfish over IP",
    serviceAddress: "169.254.0.1",
    serviceHostname: "recon-bmc.local",
    deviceVendorId: "0525",
    deviceProductId: "a4a2",
  });
  assert.deepEqual(
    reports.map((r) => [r.name, r.status]),
    [
      ["dmidecode", "ok"],
      ["smbios-type42", "ok"],
    ],
  );
});
