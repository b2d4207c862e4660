// A disks[] entry for storage tests: what lsblk would have given, every unknown field null,
// parsed by the schema so that the defaults of later schema versions are filled in.
import { Disk } from "../../schema/inventory.ts";

export function disk(name: string, fields: Partial<Disk> = {}): Disk {
  return Disk.parse({
    name,
    path: `/dev/${name}`,
    sizeBytes: null,
    model: null,
    vendor: null,
    serialNumber: null,
    wwn: null,
    transport: null,
    rotational: null,
    removable: null,
    firmwareVersion: null,
    smartPassed: null,
    powerOnHours: null,
    temperatureCelsius: null,
    ...fields,
  });
}
