// Fuzz targets of the storage parsers (mdadm, nvme, storcli, sysfs-storage), kept beside the
// harness so that adding them there is one line. Each schema is what the parser may return.
import { z } from "zod";
import { parseMdadmDetail, parseMdstat } from "../../agent/collect/mdadm.ts";
import { parseNvmeIdCtrl, parseNvmeList } from "../../agent/collect/nvme.ts";
import { parseSsacliConfig } from "../../agent/collect/ssacli.ts";
import { parseStorcliControllers, parseStorcliVirtualDrives } from "../../agent/collect/storcli.ts";
import { parseSysStorage } from "../../agent/collect/sysfs-storage.ts";

const text = z.string().nullable();
const count = z.number().int().nonnegative().nullable();
const pci = z
  .string()
  .regex(/^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$/)
  .nullable();
const starts =
  (...prefixes: string[]) =>
  (name: string) =>
    prefixes.some((p) => name.startsWith(p)) && !name.endsWith(".md");

export const STORAGE_TARGETS = [
  {
    name: "parseMdstat",
    files: starts("proc-mdstat"),
    run: parseMdstat,
    schema: z.array(
      z.strictObject({
        name: z.string().regex(/^md/),
        raidLevel: text,
        active: z.boolean(),
        members: z.array(z.string().min(1)),
        sizeBytes: count,
      }),
    ),
  },
  {
    name: "parseMdadmDetail",
    files: starts("mdadm-detail"),
    run: parseMdadmDetail,
    schema: z
      .strictObject({
        device: z.string().regex(/^\/dev\/\S+$/),
        raidLevel: z
          .string()
          .regex(/^[a-z0-9]+$/)
          .nullable(),
        sizeBytes: count,
        raidDevices: count,
        state: z.string().min(1).nullable(),
        uuid: z
          .string()
          .regex(/^[0-9a-f]{8}(:[0-9a-f]{8}){3}$/)
          .nullable(),
        name: z.string().min(1).nullable(),
        members: z.array(
          z.strictObject({
            device: z.string().min(1),
            raidDevice: count,
            state: z.string().min(1).nullable(),
          }),
        ),
      })
      .nullable(),
  },
  {
    name: "parseNvmeList",
    files: starts("nvme-list"),
    run: parseNvmeList,
    schema: z.array(
      z.strictObject({
        name: z.string().regex(/^nvme\d+n\d+$/),
        controller: z
          .string()
          .regex(/^nvme\d+$/)
          .nullable(),
        sizeBytes: count,
        model: text,
        serialNumber: text,
        firmwareVersion: text,
        nqn: text,
      }),
    ),
  },
  {
    name: "parseNvmeIdCtrl",
    files: starts("nvme-id-ctrl"),
    run: parseNvmeIdCtrl,
    schema: z.strictObject({ serialNumber: text, model: text, firmwareVersion: text, nqn: text }),
  },
  {
    name: "parseStorcliControllers",
    files: starts("storcli-"),
    run: parseStorcliControllers,
    schema: z.array(
      z.strictObject({
        index: count,
        model: text,
        serialNumber: text,
        firmwareVersion: text,
        driver: text,
        pciAddress: pci,
      }),
    ),
  },
  {
    name: "parseStorcliVirtualDrives",
    files: starts("storcli-"),
    run: parseStorcliVirtualDrives,
    schema: z.array(
      z.strictObject({
        controller: count,
        id: z.number().int().nonnegative(),
        raidLevel: z
          .string()
          .regex(/^raid\d+$/)
          .nullable(),
        kernelName: z
          .string()
          .regex(/^[a-z][a-z0-9]*$/)
          .nullable(),
        memberDeviceIds: z.array(z.number().int().nonnegative()),
      }),
    ),
  },
  {
    name: "parseSsacliConfig",
    files: starts("ssacli-"),
    run: parseSsacliConfig,
    schema: z.array(
      z.strictObject({
        model: text,
        slot: text,
        serialNumber: text,
        firmwareVersion: text,
        driver: text,
        pciAddress: pci,
        logicalDrives: z.array(
          z.strictObject({
            id: z.number().int().nonnegative(),
            raidLevel: z
              .string()
              .regex(/^raid\d+(adm)?$/)
              .nullable(),
            kernelName: z
              .string()
              .regex(/^[a-z][a-z0-9]*$/)
              .nullable(),
            members: z.array(z.string().regex(/^[0-9A-Za-z]+:\d+:\d+$/)),
          }),
        ),
        physicalDrives: z.array(
          z.strictObject({
            bay: z.string().regex(/^[0-9A-Za-z]+:\d+:\d+$/),
            serialNumber: text,
            vendor: text,
            model: text,
            firmwareVersion: text,
            transport: z.enum(["sata", "sas", "nvme"]).nullable(),
            rotational: z.boolean().nullable(),
          }),
        ),
      }),
    ),
  },
  {
    name: "parseSysStorage",
    files: starts("sys-storage"),
    run: parseSysStorage,
    schema: z.strictObject({
      block: z.record(z.string(), z.strictObject({ devicePath: text, numaNode: count })),
      scsiHost: z.record(
        z.string().regex(/^host\d+$/),
        z.strictObject({ procName: text, firmwareVersion: text, pciAddress: pci, numaNode: count }),
      ),
      nvme: z.record(
        z.string().regex(/^nvme\d+$/),
        z.strictObject({
          serial: text,
          model: text,
          firmwareVersion: text,
          nqn: text,
          pciAddress: pci,
          numaNode: count,
          namespaces: z.array(z.string().regex(/^nvme\d+n\d+$/)),
        }),
      ),
    }),
  },
];
