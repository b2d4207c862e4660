// zod schemas for the facts a parser returns before collect/index.ts assembles the document,
// built from the document schema's own parts, so parser tests and the fuzzer check one contract.
import { z } from "zod";
import {
  Baseboard,
  Bios,
  Chassis,
  Dimm,
  Disk,
  Nic,
  PowerSupply,
  Processor,
  RedfishHostInterface,
  Slot,
  System,
} from "../../schema/inventory.ts";

/** DmidecodeFacts (agent/collect/dmidecode.ts), field for field. */
export const DmidecodeFactsSchema = z.strictObject({
  system: System,
  baseboard: Baseboard,
  chassis: Chassis,
  bios: Bios,
  processors: z.array(Processor),
  dimms: z.array(Dimm),
  slots: z.number().int().positive().nullable(),
  memoryArrayDevices: z.number().int().nonnegative().nullable(),
  powerSupplies: z.array(PowerSupply),
  ipmiDevicePresent: z.boolean(),
  systemSlots: z.array(Slot),
  redfishHostInterface: RedfishHostInterface.nullable(),
});

/** LshwFacts (agent/collect/lshw.ts), checked with the schema's own field rules. */
export const LshwFactsSchema = z.strictObject({
  system: System.pick({ manufacturer: true, productName: true, serialNumber: true, uuid: true }),
  disks: z.array(
    Disk.pick({
      name: true,
      serialNumber: true,
      model: true,
      vendor: true,
      sizeBytes: true,
      firmwareVersion: true,
    }),
  ),
  nics: z.array(
    Nic.pick({
      name: true,
      macAddress: true,
      driver: true,
      pciAddress: true,
      speedMbps: true,
      linkUp: true,
    }).extend({ capacityMbps: Nic.shape.speedMbps }),
  ),
  memoryBytes: z.number().int().nonnegative().nullable(),
});
