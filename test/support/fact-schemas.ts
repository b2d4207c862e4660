// zod schemas for the facts a parser returns before collect/index.ts assembles the document,
// built from the document schema's own parts, so parser tests and the fuzzer check one contract.
import { z } from "zod";
import {
  Baseboard,
  Bios,
  Chassis,
  Dimm,
  PowerSupply,
  Processor,
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
  powerSupplies: z.array(PowerSupply),
  ipmiDevicePresent: z.boolean(),
});
