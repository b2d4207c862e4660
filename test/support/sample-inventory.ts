// A complete, schema-valid inventory document for tests: every field present, realistic values
// (a two-socket 1U server with a BMC) and nulls where a real machine reports nothing.
import type { Dimm, Inventory, PciDevice } from "../../schema/inventory.ts";
import { SCHEMA_VERSION } from "../../schema/inventory.ts";

function dimm(index: number): Dimm {
  const bank = String.fromCharCode(65 + (index % 2));
  return {
    locator: `${bank}${Math.floor(index / 2) + 1}`,
    bankLocator: null,
    sizeBytes: 32 * 1024 ** 3,
    type: "DDR4",
    formFactor: "DIMM",
    speedMts: 2666,
    configuredSpeedMts: 2666,
    manufacturer: "Samsung",
    serialNumber: `3${(0x1a2b3c00 + index).toString(16).toUpperCase()}`,
    partNumber: "M393A4K40CB2-CTD",
    technology: "DRAM",
    persistent: false,
  };
}

function pci(address: string, className: string, deviceName: string, driver: string | null) {
  const device: PciDevice = {
    address,
    classId: "0200",
    className,
    vendorId: "8086",
    vendorName: "Intel Corporation",
    deviceId: "1572",
    deviceName,
    subsystemVendorId: "8086",
    subsystemId: "0006",
    revision: "02",
    driver,
  };
  return device;
}

/**
 * A valid document; `overrides` replace top-level fields (shallow), e.g.
 * sampleInventory({ nodeId: "node-7" }) or sampleInventory({ bmc: null }).
 */
export function sampleInventory(overrides: Partial<Inventory> = {}): Inventory {
  const nodeId = overrides.nodeId ?? "4c4c4544-0047-3610-8044-b4c04f594d32";
  const base: Inventory = {
    schemaVersion: SCHEMA_VERSION,
    agent: { name: "recon-agent", version: "0.1.0" },
    collectedAt: "2025-03-14T09:26:53.589Z",
    nodeId,
    nodeIdSource: "uuid",
    hostname: "localhost",
    boot: {
      bootMac: "b4:96:91:3c:5e:10",
      pxeServer: "10.20.0.1",
      postAction: "liveboot",
      params: {
        BOOT_IMAGE: "/vmlinuz",
        BOOTIF: "01-b4-96-91-3c-5e-10",
        pxeaddr: "10.20.0.1",
        postaction: "liveboot",
        "rd.neednet": "1",
        quiet: "",
      },
    },
    system: {
      manufacturer: "Dell Inc.",
      productName: "PowerEdge R640",
      version: null,
      serialNumber: "7G6P2Z2",
      uuid: "4c4c4544-0047-3610-8044-b4c04f594d32",
      sku: "SKU=NotProvided;ModelName=PowerEdge R640",
      family: null,
    },
    baseboard: {
      manufacturer: "Dell Inc.",
      productName: "0W23H8",
      version: "A01",
      serialNumber: ".7G6P2Z2.CNIVC0097D00FU.",
      assetTag: null,
    },
    chassis: {
      manufacturer: "Dell Inc.",
      type: "Rack Mount Chassis",
      serialNumber: "7G6P2Z2",
      assetTag: null,
    },
    bios: { vendor: "Dell Inc.", version: "2.19.1", releaseDate: "06/27/2023" },
    cpu: {
      architecture: "x86_64",
      model: "Intel(R) Xeon(R) Gold 6130 CPU @ 2.10GHz",
      sockets: 2,
      coresPerSocket: 16,
      threadsPerCore: 2,
      logicalCpus: 64,
    },
    processors: [0, 1].map((socket) => ({
      socket: `CPU${socket + 1}`,
      manufacturer: "Intel",
      model: "Intel(R) Xeon(R) Gold 6130 CPU @ 2.10GHz",
      cores: 16,
      threads: 32,
      maxSpeedMhz: 4000,
      currentSpeedMhz: 2100,
      status: "Populated, Enabled",
    })),
    memory: {
      totalBytes: 12 * 32 * 1024 ** 3,
      persistentBytes: 0,
      osVisibleBytes: 404_129_169_408,
      slots: 24,
      dimms: Array.from({ length: 12 }, (_, i) => dimm(i)),
    },
    powerSupplies: [1, 2].map((n) => ({
      name: `PS${n}`,
      location: null,
      manufacturer: "Dell",
      serialNumber: `CNLOD0089F${n}A2C`,
      modelPartNumber: "0CMPGM",
      maxPowerWatts: 750,
      status: "Present, OK",
    })),
    disks: [
      {
        name: "sda",
        path: "/dev/sda",
        sizeBytes: 479_559_942_144,
        model: "SSDSC2KB480G8R",
        vendor: "ATA",
        serialNumber: "PHYF9154012H480BGN",
        wwn: "0x55cd2e4150d2a3f1",
        transport: "sata",
        rotational: false,
        removable: false,
        firmwareVersion: "XCV1DL67",
        smartPassed: true,
        powerOnHours: 12345,
        temperatureCelsius: 31,
      },
      {
        name: "nvme0n1",
        path: "/dev/nvme0n1",
        sizeBytes: 1_600_321_314_816,
        model: "Dell Express Flash PM1725b 1.6TB SFF",
        vendor: null,
        serialNumber: "S4D2NA0N100742",
        wwn: "eui.3634473052b007420025384100000001",
        transport: "nvme",
        rotational: false,
        removable: false,
        firmwareVersion: "1.1.0",
        smartPassed: true,
        powerOnHours: 12345,
        temperatureCelsius: 31,
      },
    ],
    nics: [
      {
        name: "eno1",
        macAddress: "b4:96:91:3c:5e:10",
        permanentMacAddress: "b4:96:91:3c:5e:10",
        driver: "i40e",
        pciAddress: "0000:19:00.0",
        speedMbps: 10000,
        linkUp: true,
        mtu: 1500,
        ipv4: ["10.20.0.57/24"],
        ipv6: ["fe80::b696:91ff:fe3c:5e10/64"],
        lldp: null,
      },
      {
        name: "eno2",
        macAddress: "b4:96:91:3c:5e:11",
        permanentMacAddress: "b4:96:91:3c:5e:11",
        driver: "i40e",
        pciAddress: "0000:19:00.1",
        speedMbps: null,
        linkUp: false,
        mtu: 1500,
        ipv4: [],
        ipv6: [],
        lldp: null,
      },
    ],
    pciDevices: [
      pci("0000:19:00.0", "Ethernet controller", "Ethernet Controller X710 for 10GbE SFP+", "i40e"),
      pci("0000:19:00.1", "Ethernet controller", "Ethernet Controller X710 for 10GbE SFP+", "i40e"),
    ],
    bmc: {
      macAddress: "d0:94:66:2a:7b:01",
      ipv4Address: "10.10.0.57",
      ipv4Source: "static",
      netmask: "255.255.255.0",
      gateway: "10.10.0.1",
      vlanId: null,
      channel: 1,
      firmwareVersion: "6.10",
      ipmiVersion: "2.0",
      manufacturerId: 674,
      manufacturerName: "Dell Inc.",
      productId: 256,
    },
    fru: [
      {
        id: 0,
        name: "Builtin FRU Device",
        boardManufacturer: "DELL",
        boardProduct: "PowerEdge R640",
        boardSerial: "CNIVC0097D00FU",
        boardPartNumber: "0W23H8A01",
        productManufacturer: "DELL",
        productName: "PowerEdge R640",
        productSerial: "7G6P2Z2",
        productPartNumber: null,
        chassisSerial: null,
        chassisPartNumber: null,
      },
    ],
    collectors: [
      {
        name: "dmidecode",
        status: "ok",
        durationMs: 84.2,
        command: "dmidecode",
        exitCode: 0,
        message: null,
      },
      {
        name: "ipmitool-lan",
        status: "failed",
        durationMs: 1203,
        command: "ipmitool lan print 8",
        exitCode: 1,
        message: "Invalid channel 8",
      },
    ],
  };
  return { ...base, ...overrides };
}
