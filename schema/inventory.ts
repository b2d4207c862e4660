// The inventory document, schema v1. This file is the single source of truth: TypeScript types
// come from z.infer, and schema/inventory.schema.json is generated from it (npm run schema).
// Compatibility rule (see schema/README.md): adding a field is a minor version, anything else
// (rename, removal, type or meaning change) is a major version.
// Fields added after 1.0 carry a default (`since`), so that a document of an earlier 1.x still
// parses: it reads as "not collected" (null, [] or false), and the agent always writes them.
import { z } from "zod";

export const SCHEMA_VERSION = "1.2.0";

/** A node id is a file name on the master: no separators, no leading dot, bounded length. */
export const NODE_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

const text = z.string().nullable();
const count = z.number().int().nonnegative().nullable();
const mac = z
  .string()
  .regex(/^[0-9a-f]{2}(:[0-9a-f]{2}){5,19}$/)
  .nullable()
  .describe("lowercase, colon-separated");
/** A field added in a minor version: optional on input (older documents), present on output. */
const since = <T extends z.ZodType>(field: T, fallback: z.output<T>) =>
  // Arrays get a fresh copy per document: zod hands the default out as is.
  field.default(() => (Array.isArray(fallback) ? [...fallback] : fallback) as never);
/** The kernel's NUMA node (sysfs numa_node); its -1 ("unknown") is null. */
const numaNode = count.describe("NUMA node the kernel places it on; null when unknown (-1)");
const hexId = (digits: number) =>
  z
    .string()
    .regex(new RegExp(`^[0-9a-f]{${digits}}$`))
    .nullable();

export const Boot = z.strictObject({
  bootMac: mac.describe("from BOOTIF=01-aa-bb-.. on the kernel command line"),
  pxeServer: text.describe("pxeaddr= on the kernel command line: the master's address"),
  postAction: text.describe("postaction= on the kernel command line"),
  params: z
    .record(z.string(), z.string())
    .describe("every key=value of /proc/cmdline (last one wins; bare flags map to '')"),
  firmware: since(
    z.enum(["uefi", "bios"]).nullable().describe("uefi when /sys/firmware/efi exists (1.2)"),
    null,
  ),
  secureBoot: since(
    z
      .boolean()
      .nullable()
      .describe("SecureBoot efivar is 1 and SetupMode is 0; null on BIOS or unreadable (1.2)"),
    null,
  ),
});

export const System = z.strictObject({
  manufacturer: text,
  productName: text,
  version: text,
  serialNumber: text,
  uuid: z
    .string()
    .regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/)
    .nullable(),
  sku: text,
  family: text,
});

export const Baseboard = z.strictObject({
  manufacturer: text,
  productName: text,
  version: text,
  serialNumber: text,
  assetTag: text,
});

export const Chassis = z.strictObject({
  manufacturer: text,
  type: text,
  serialNumber: text,
  assetTag: text,
});

export const Bios = z.strictObject({
  vendor: text,
  version: text,
  releaseDate: text.describe("as the firmware reports it (usually MM/DD/YYYY)"),
  releaseDateIso: since(
    z.iso.date().nullable().describe("releaseDate as YYYY-MM-DD; null when it is not a date (1.2)"),
    null,
  ),
});

export const Processor = z.strictObject({
  socket: text,
  manufacturer: text,
  model: text,
  cores: count,
  threads: count,
  maxSpeedMhz: count,
  currentSpeedMhz: count,
  status: text.describe("SMBIOS status, e.g. 'Populated, Enabled'"),
});

export const Cpu = z.strictObject({
  architecture: text,
  model: text,
  sockets: count,
  coresPerSocket: count,
  threadsPerCore: count,
  logicalCpus: count,
});

export const Dimm = z.strictObject({
  locator: text,
  bankLocator: text,
  sizeBytes: count,
  type: text.describe("DDR4, DDR5, RAM, ..."),
  formFactor: text,
  speedMts: count,
  configuredSpeedMts: count,
  manufacturer: text,
  serialNumber: text,
  partNumber: text,
  technology: text.describe("DRAM, Intel Optane persistent memory, ...; null before SMBIOS 3.2"),
  persistent: z.boolean().describe("true for persistent-memory modules (NVDIMM, Optane)"),
});

export const Memory = z.strictObject({
  totalBytes: count.describe("sum of installed volatile (DRAM) modules"),
  persistentBytes: count.describe("sum of installed persistent-memory modules"),
  osVisibleBytes: count.describe("MemTotal from /proc/meminfo"),
  slots: count.describe("number of SMBIOS memory-device records, installed or not"),
  dimms: z.array(Dimm).describe("installed modules only"),
});

export const PowerSupply = z.strictObject({
  name: text,
  location: text,
  manufacturer: text,
  serialNumber: text,
  modelPartNumber: text,
  maxPowerWatts: count,
  status: text,
});

export const Disk = z.strictObject({
  name: z.string().describe("kernel name, e.g. sda, nvme0n1"),
  path: text.describe("/dev/<name>"),
  sizeBytes: count,
  model: text,
  vendor: text,
  serialNumber: text,
  wwn: text,
  transport: text.describe("sata, sas, nvme, usb, virtio (null when the kernel does not say)"),
  rotational: z.boolean().nullable(),
  removable: z.boolean().nullable(),
  firmwareVersion: text,
  smartPassed: z
    .boolean()
    .nullable()
    .describe("SMART overall health (smartctl); null when not available"),
  powerOnHours: count.describe("SMART power-on hours"),
  temperatureCelsius: z.number().nullable().describe("current temperature (smartctl)"),
  virtual: since(
    z
      .boolean()
      .nullable()
      .describe("true for a RAID virtual disk or md array; false for a drive; null unknown (1.2)"),
    null,
  ),
  raidLevel: since(text.describe("raid0, raid1, raid5, raid10, ... for virtual disks (1.2)"), null),
  memberSerials: since(
    z.array(z.string()).describe("serials of a virtual disk's member drives, where told (1.2)"),
    [],
  ),
  reachedThrough: since(
    text.describe(
      "for a drive the kernel does not expose (behind a RAID controller): the block device and " +
        "smartctl device type it was read through, e.g. 'sda megaraid,4'; its name is then " +
        "'<block device>:<type>,<N>' and path null (1.2)",
    ),
    null,
  ),
  controllerSerial: since(
    text.describe("serial of the NVMe controller of a namespace (1.2)"),
    null,
  ),
  numaNode: since(numaNode, null),
});

export const LldpNeighbor = z.strictObject({
  chassisId: text.describe("the switch's chassis id (often its MAC)"),
  systemName: text.describe("the switch's name"),
  portId: text.describe("the switch port this NIC is cabled to"),
  portDescription: text,
  vlanId: count.describe("port VLAN id, when advertised"),
});

export const Nic = z.strictObject({
  name: z.string(),
  macAddress: mac,
  permanentMacAddress: mac,
  driver: text,
  pciAddress: text.describe("domain:bus:device.function, e.g. 0000:3b:00.0"),
  speedMbps: count,
  linkUp: z.boolean().nullable(),
  mtu: count,
  ipv4: z.array(z.string()).describe("address/prefix, e.g. 10.0.0.5/24"),
  ipv6: z.array(z.string()).describe("address/prefix"),
  lldp: LldpNeighbor.nullable().describe("the switch port seen through LLDP (lldpd), if any"),
  firmwareVersion: since(text.describe("ethtool -i firmware-version (1.2)"), null),
  numaNode: since(numaNode, null),
  bmcUsb: since(
    z
      .boolean()
      .describe(
        "the BMC's USB network device (cdc_ether, rndis_host): never a data or boot NIC (1.2)",
      ),
    false,
  ),
});

export const PciDevice = z.strictObject({
  address: z.string().describe("domain:bus:device.function"),
  classId: hexId(4),
  className: text,
  vendorId: hexId(4),
  vendorName: text,
  deviceId: hexId(4),
  deviceName: text,
  subsystemVendorId: hexId(4),
  subsystemId: hexId(4),
  revision: hexId(2),
  driver: text,
  numaNode: since(numaNode, null),
  sriovTotalVfs: since(count.describe("SR-IOV virtual functions it supports (1.2)"), null),
  sriovEnabledVfs: since(count.describe("SR-IOV virtual functions enabled (1.2)"), null),
});

export const Bmc = z.strictObject({
  macAddress: mac,
  ipv4Address: text.describe("null when unconfigured (0.0.0.0)"),
  ipv4Source: text.describe("static, dhcp, bios, other"),
  netmask: text,
  gateway: text,
  vlanId: count.describe("null when VLAN tagging is disabled"),
  channel: count.describe("the LAN channel these facts were read from"),
  firmwareVersion: text,
  ipmiVersion: text,
  manufacturerId: count,
  manufacturerName: text,
  productId: count,
  ipv6Addresses: since(
    z.array(z.string()).describe("address/prefix from ipmitool lan6 print (1.2)"),
    [],
  ),
  users: since(
    z
      .array(
        z.strictObject({
          id: z.number().int().nonnegative(),
          name: z.string(),
          privilege: text.describe("ADMINISTRATOR, OPERATOR, USER, ... (ipmitool user list)"),
          enabled: z.boolean().nullable(),
        }),
      )
      .describe("BMC user names with a name set; never passwords (1.2)"),
    [],
  ),
});

export const Fru = z.strictObject({
  id: count,
  name: text,
  boardManufacturer: text,
  boardProduct: text,
  boardSerial: text,
  boardPartNumber: text,
  productManufacturer: text,
  productName: text,
  productSerial: text,
  productPartNumber: text,
  chassisSerial: text,
  chassisPartNumber: text,
});

/** Added in 1.2: boot security, storage controllers, NUMA, slots, accelerators, BMC sensors. */
export const Tpm = z.strictObject({
  version: z.enum(["2.0", "1.2"]).nullable(),
  manufacturer: text.describe("TPM vendor (e.g. IFX, NTC, STM, MSFT)"),
  firmwareVersion: text,
});

export const StorageController = z.strictObject({
  pciAddress: text,
  model: text,
  vendor: text,
  driver: text.describe("megaraid_sas, mpt3sas, hpsa, aacraid, ahci, nvme, ..."),
  firmwareVersion: text,
  serialNumber: text,
});

export const NvmeController = z.strictObject({
  name: z.string().describe("kernel name, e.g. nvme0"),
  pciAddress: text,
  model: text,
  serialNumber: text,
  firmwareVersion: text,
  nqn: text.describe("subsystem NQN"),
  namespaces: z.array(z.string()).describe("kernel names of its namespaces, e.g. nvme0n1"),
});

export const NumaNode = z.strictObject({
  id: z.number().int().nonnegative(),
  logicalCpus: z.array(z.number().int().nonnegative()).describe("the node's CPU numbers"),
  memoryBytes: count,
  hugepages: z.array(
    z.strictObject({
      sizeBytes: z.number().int().positive(),
      total: count,
      free: count,
    }),
  ),
});

export const Slot = z.strictObject({
  designation: text,
  type: text.describe("SMBIOS slot type, e.g. 'x16 PCI Express 4'"),
  currentUsage: text.describe("In Use, Available, ..."),
  busAddress: text.describe("lowercase dddd:bb:dd.f: joins pciDevices[].address"),
});

export const Gpu = z.strictObject({
  pciAddress: text,
  vendor: text,
  model: text,
  uuid: text.describe("nvidia-smi's GPU UUID"),
  serialNumber: text,
  vbiosVersion: text,
  memoryBytes: count,
  driver: text,
  numaNode,
});

export const InfinibandPort = z.strictObject({
  port: z.number().int().nonnegative(),
  guid: text,
  state: text.describe("ACTIVE, DOWN, INIT, ..."),
  physicalState: text.describe("LinkUp, Disabled, Polling, ..."),
  rateGbps: z.number().nonnegative().nullable(),
  linkLayer: text.describe("InfiniBand or Ethernet (RoCE)"),
});

export const InfinibandDevice = z.strictObject({
  name: z.string().describe("e.g. mlx5_0, rxe0"),
  pciAddress: text,
  nodeGuid: text,
  firmwareVersion: text,
  boardId: text,
  ports: z.array(InfinibandPort),
});

export const Sensor = z.strictObject({
  name: z.string(),
  type: text.describe("Temperature, Fan, Voltage, Power Supply, Current, ..."),
  status: text.describe("ok, cr, nr, ns (not readable), ..."),
  value: z.number().nullable(),
  unit: text.describe("degrees C, RPM, Volts, Watts, Amps, ..."),
  entity: text.describe("IPMI entity id, e.g. 3.1"),
  state: since(
    text.describe("discrete states ipmitool prints, e.g. Presence detected, Failure detected"),
    null,
  ),
});

export const PowerReading = z.strictObject({
  currentWatts: count,
  minimumWatts: count,
  maximumWatts: count,
  averageWatts: count,
});

export const RedfishHostInterface = z.strictObject({
  interfaceType: text.describe("SMBIOS type 42 interface type, e.g. Network"),
  protocol: text.describe("e.g. Redfish over IP"),
  serviceAddress: text.describe("the Redfish service's IP address"),
  serviceHostname: text,
  deviceVendorId: hexId(4),
  deviceProductId: hexId(4),
});

export const Warning = z.strictObject({
  code: z.string().regex(/^[a-z][a-z0-9-]*$/),
  message: z.string(),
  fields: z.array(z.string()).describe("the document paths it is about, e.g. memory.totalBytes"),
});

export const CollectorStatus = z.enum(["ok", "failed", "skipped", "timeout"]);

export const CollectorReport = z.strictObject({
  name: z.string(),
  status: CollectorStatus,
  durationMs: z.number().nonnegative(),
  command: text.describe("what ran, or what was read, as one display string"),
  exitCode: z.number().int().nullable(),
  message: text.describe("why it failed or was skipped; null when ok"),
});

/**
 * Where nodeId came from (schema/README.md, "Identity"), in the order agent/collect/identity.ts
 * tries them. "hostname" is only found in 1.0 documents (whose fallback was the host name or
 * `unknown-node`): kept so they stay valid; agents since 1.1 never write it.
 */
export const NodeIdSource = z
  .enum([
    "uuid",
    "serial",
    "baseboardSerial",
    "chassisSerial",
    "bootMac",
    "permanentMac",
    "nicMac",
    "fingerprint",
    "random",
    "hostname",
  ])
  .describe("which fact nodeId was derived from; see schema/README.md, Identity");

export const Inventory = z.strictObject({
  schemaVersion: z.string().regex(/^\d+\.\d+\.\d+$/),
  agent: z.strictObject({ name: z.string(), version: z.string() }),
  collectedAt: z.iso.datetime({ offset: true }).describe("RFC 3339"),
  nodeId: z.string().regex(NODE_ID_PATTERN),
  nodeIdSource: NodeIdSource,
  hostname: text,
  boot: Boot,
  system: System,
  baseboard: Baseboard,
  chassis: Chassis,
  bios: Bios,
  cpu: Cpu,
  processors: z.array(Processor).describe("installed CPUs only"),
  memory: Memory,
  powerSupplies: z.array(PowerSupply),
  disks: z.array(Disk),
  nics: z.array(Nic),
  pciDevices: z.array(PciDevice),
  bmc: Bmc.nullable(),
  fru: z.array(Fru),
  tpm: since(Tpm.nullable().describe("null when there is no TPM (/sys/class/tpm) (1.2)"), null),
  storageControllers: since(z.array(StorageController), []),
  nvmeControllers: since(z.array(NvmeController), []),
  numaNodes: since(z.array(NumaNode), []),
  slots: since(z.array(Slot).describe("SMBIOS type 9 system slots (1.2)"), []),
  gpus: since(z.array(Gpu), []),
  infiniband: since(z.array(InfinibandDevice).describe("/sys/class/infiniband (1.2)"), []),
  sensors: since(z.array(Sensor).describe("ipmitool sdr elist (1.2)"), []),
  powerReading: since(PowerReading.nullable().describe("ipmitool dcmi power reading (1.2)"), null),
  redfishHostInterface: since(
    RedfishHostInterface.nullable().describe("SMBIOS type 42 (1.2)"),
    null,
  ),
  warnings: since(z.array(Warning).describe("cross-checks between sources (1.2)"), []),
  collectors: z.array(CollectorReport),
});

export type Inventory = z.infer<typeof Inventory>;
export type Boot = z.infer<typeof Boot>;
export type System = z.infer<typeof System>;
export type Baseboard = z.infer<typeof Baseboard>;
export type Chassis = z.infer<typeof Chassis>;
export type Bios = z.infer<typeof Bios>;
export type Processor = z.infer<typeof Processor>;
export type Cpu = z.infer<typeof Cpu>;
export type Dimm = z.infer<typeof Dimm>;
export type Memory = z.infer<typeof Memory>;
export type PowerSupply = z.infer<typeof PowerSupply>;
export type Disk = z.infer<typeof Disk>;
export type Nic = z.infer<typeof Nic>;
export type LldpNeighbor = z.infer<typeof LldpNeighbor>;
export type PciDevice = z.infer<typeof PciDevice>;
export type Bmc = z.infer<typeof Bmc>;
export type Fru = z.infer<typeof Fru>;
export type CollectorReport = z.infer<typeof CollectorReport>;
export type CollectorStatus = z.infer<typeof CollectorStatus>;
export type NodeIdSource = z.infer<typeof NodeIdSource>;
export type Tpm = z.infer<typeof Tpm>;
export type StorageController = z.infer<typeof StorageController>;
export type NvmeController = z.infer<typeof NvmeController>;
export type NumaNode = z.infer<typeof NumaNode>;
export type Slot = z.infer<typeof Slot>;
export type Gpu = z.infer<typeof Gpu>;
export type InfinibandDevice = z.infer<typeof InfinibandDevice>;
export type InfinibandPort = z.infer<typeof InfinibandPort>;
export type Sensor = z.infer<typeof Sensor>;
export type PowerReading = z.infer<typeof PowerReading>;
export type RedfishHostInterface = z.infer<typeof RedfishHostInterface>;
export type Warning = z.infer<typeof Warning>;

/**
 * The JSON Schema (draft 2020-12) of the document: "output" is what the agent writes (every field
 * required), "input" what the schema reads (fields added after 1.0 may be missing).
 */
export function inventoryJsonSchema(io: "output" | "input" = "output"): Record<string, unknown> {
  const generated = z.toJSONSchema(Inventory, { target: "draft-2020-12", io });
  return {
    ...generated,
    $id: `https://recon.invalid/schema/inventory-${SCHEMA_VERSION}.json`,
    title: `recon inventory document v${SCHEMA_VERSION}`,
  };
}
