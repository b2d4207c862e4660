// Fuzzing harness: every exported parser of agent/collect/ and every route of the master, fed
// random and mutated real input. One module with a count parameter: test/fuzz.test.ts runs a
// few hundred cases per target, `npm run fuzz` (test/fuzz/run.ts) runs 10,000.
//
// Parser invariant: never throws, and the value validates against the schema parts it feeds.
// Route invariant: no 5xx, the server keeps answering, nothing is written outside the root,
// every stored document still validates.
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { gunzipSync } from "node:zlib";
import fc from "fast-check";
import { create as createTar, Parser as TarParser } from "tar";
import { Agent, request } from "undici";
import { z } from "zod";
import {
  parseBootif,
  parseCmdline,
  redactCmdline,
  splitCmdline,
} from "../../agent/collect/cmdline.ts";
import { parseDmidecode, readSmbiosType42 } from "../../agent/collect/dmidecode.ts";
import { parseSysFirmwareEfi } from "../../agent/collect/efi.ts";
import {
  parseDriverInfo,
  parseEthtoolLink,
  parsePermanentMac,
} from "../../agent/collect/ethtool.ts";
import { parseNvidiaSmi } from "../../agent/collect/gpu.ts";
import { parseSysInfiniband } from "../../agent/collect/infiniband.ts";
import { parseLan6Print, parseUserList } from "../../agent/collect/ipmi-access.ts";
import { parseDcmiPowerReading, parseSdrElist } from "../../agent/collect/ipmi-sensors.ts";
import { parseFruPrint, parseLanPrint, parseMcInfo } from "../../agent/collect/ipmitool.ts";
import { parseLldpctl } from "../../agent/collect/lldpctl.ts";
import { parseLsblk } from "../../agent/collect/lsblk.ts";
import { parseLscpu } from "../../agent/collect/lscpu.ts";
import { parseLshw } from "../../agent/collect/lshw.ts";
import { parseLspci } from "../../agent/collect/lspci.ts";
import { parseMeminfo } from "../../agent/collect/meminfo.ts";
import { buildNics, parseIpAddr, parseSysNet } from "../../agent/collect/net.ts";
import { parseSysDevicesSystemNode } from "../../agent/collect/numa.ts";
import { parseSysBusPci } from "../../agent/collect/pci-sysfs.ts";
import { parseSmartctl, parseSmartctlScan } from "../../agent/collect/smartctl.ts";
import { parseSysClassTpm, parseTpm2Properties } from "../../agent/collect/tpm.ts";
import {
  Bmc,
  Boot,
  Cpu,
  Disk,
  Fru,
  Gpu,
  InfinibandDevice,
  Inventory,
  LldpNeighbor,
  Nic,
  NumaNode,
  PciDevice,
  PowerReading,
  RedfishHostInterface,
  Sensor,
  Tpm,
} from "../../schema/inventory.ts";
import { DmidecodeFactsSchema, LshwFactsSchema } from "../support/fact-schemas.ts";
import { listTree, sandbox, startTestServer } from "../support/master.ts";
import { sampleInventory } from "../support/sample-inventory.ts";
import { STORAGE_TARGETS } from "./storage-targets.ts";

const REPO = new URL("../../", import.meta.url).pathname;

export interface TargetResult {
  target: string;
  count: number;
  failures: number;
  ms: number;
  /** The first few failing inputs (shortened), to reproduce. */
  examples: string[];
  /** What the cases were made of: real files mutated (parsers), answers by status (routes). */
  detail: string;
}

const MAX_EXAMPLES = 3;

function shorten(value: string | Buffer): string {
  if (Buffer.isBuffer(value)) {
    return `hex ${value.subarray(0, 48).toString("hex")}${value.length > 48 ? "..." : ""} (${value.length} bytes)`;
  }
  const text = value;
  return JSON.stringify(text.length > 300 ? `${text.slice(0, 300)}...(${text.length})` : text);
}

// ---------------------------------------------------------------------------------------------
// Inputs: real captures (fixtures/ and samples/) and their mutations.

/** Every file under fixtures/ and samples/ whose name starts with `prefix` (a tool's output). */
function realFiles(test: (name: string) => boolean): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const full = path.join(dir, name);
      if (statSync(full).isDirectory()) walk(full);
      else if (test(name)) out.push(readFileSync(full, "latin1"));
    }
  };
  walk(path.join(REPO, "fixtures"));
  walk(path.join(REPO, "samples"));
  return out;
}

function lines(text: string): string[] {
  return text.split("\n");
}

/** Mutations of a real capture: truncate, overwrite bytes, duplicate, swap or drop lines. */
function mutated(samples: readonly string[]): fc.Arbitrary<string> {
  const sample = fc.constantFrom(...samples);
  return fc.oneof(
    fc.tuple(sample, fc.nat()).map(([t, cut]) => t.slice(0, cut % (t.length + 1))),
    fc.tuple(sample, fc.nat(), fc.string({ unit: "binary", maxLength: 16 })).map(([t, at, s]) => {
      const i = at % (t.length + 1);
      return t.slice(0, i) + s + t.slice(i + s.length);
    }),
    fc.tuple(sample, fc.nat(), fc.nat()).map(([t, a, n]) => {
      const ls = lines(t);
      const i = a % ls.length;
      ls.splice(i, 0, ...Array.from({ length: (n % 3) + 1 }, () => ls[i] ?? ""));
      return ls.join("\n");
    }),
    fc.tuple(sample, fc.nat(), fc.nat()).map(([t, a, b]) => {
      const ls = lines(t);
      const i = a % ls.length;
      const j = b % ls.length;
      [ls[i], ls[j]] = [ls[j] ?? "", ls[i] ?? ""];
      return ls.join("\n");
    }),
    fc.tuple(sample, fc.nat()).map(([t, a]) => {
      const ls = lines(t);
      ls.splice(a % ls.length, 1);
      return ls.join("\n");
    }),
  );
}

/** Random text: unicode strings, raw bytes read as latin1, and line-shaped key: value noise. */
const randomText: fc.Arbitrary<string> = fc.oneof(
  fc.string({ unit: "grapheme", maxLength: 400 }),
  fc.uint8Array({ maxLength: 600 }).map((b) => Buffer.from(b).toString("latin1")),
  fc
    .array(fc.tuple(fc.string({ maxLength: 20 }), fc.string({ maxLength: 30 })), { maxLength: 30 })
    .map((pairs) => pairs.map(([k, v]) => `${k}: ${v}`).join("\n")),
  fc.json().map(String),
);

function inputs(samples: readonly string[]): fc.Arbitrary<string> {
  return samples.length === 0 ? randomText : fc.oneof(randomText, mutated(samples));
}

// ---------------------------------------------------------------------------------------------
// Parsers.

const nullableString = z.string().nullable();
const Mac = Nic.shape.macAddress;
const Count = Nic.shape.speedMbps;
const McInfo = Bmc.pick({
  firmwareVersion: true,
  ipmiVersion: true,
  manufacturerId: true,
  manufacturerName: true,
  productId: true,
});
const LanInfo = Bmc.pick({
  macAddress: true,
  ipv4Address: true,
  ipv4Source: true,
  netmask: true,
  gateway: true,
  vlanId: true,
});
const SmartFacts = Disk.pick({
  serialNumber: true,
  model: true,
  firmwareVersion: true,
  smartPassed: true,
  powerOnHours: true,
  temperatureCelsius: true,
  sizeBytes: true,
  wwn: true,
  rotational: true,
  transport: true,
  vendor: true,
}).extend({
  deviceName: nullableString,
  kernelName: nullableString,
  controllerType: nullableString,
});
const EthtoolLink = z.strictObject({
  speedMbps: Count,
  linkDetected: z.boolean().nullable(),
  duplex: z.enum(["full", "half"]).nullable(),
});
const IpLink = Nic.pick({ name: true, macAddress: true, mtu: true, ipv4: true, ipv6: true }).extend(
  {
    up: z.boolean().nullable(),
    loopback: z.boolean(),
    ether: z.boolean(),
  },
);
const SysNet = z.record(
  z.string(),
  z.strictObject({
    address: nullableString.optional(),
    carrier: nullableString.optional(),
    speed: nullableString.optional(),
    mtu: nullableString.optional(),
    operstate: nullableString.optional(),
    driver: nullableString.optional(),
    devicePath: nullableString.optional(),
    type: nullableString.optional(),
  }),
);

interface ParserTarget {
  name: string;
  /** Real captures this parser reads (file-name test). */
  files: (name: string) => boolean;
  run: (text: string) => unknown;
  schema: z.ZodType;
}

const starts =
  (...prefixes: string[]) =>
  (name: string) =>
    prefixes.some((p) => name.startsWith(p)) && !name.endsWith(".md");

const PARSE_TARGETS: ParserTarget[] = [
  {
    name: "parseCmdline",
    files: starts("proc-cmdline", "cmdline"),
    run: parseCmdline,
    schema: Boot,
  },
  {
    name: "splitCmdline",
    files: starts("proc-cmdline", "cmdline"),
    run: splitCmdline,
    schema: z.array(z.tuple([z.string(), z.string()])),
  },
  {
    name: "redactCmdline",
    files: starts("proc-cmdline", "cmdline"),
    run: redactCmdline,
    schema: z.string(),
  },
  { name: "parseBootif", files: starts("proc-cmdline"), run: parseBootif, schema: Mac },
  {
    name: "parseDmidecode",
    files: starts("dmidecode"),
    run: parseDmidecode,
    schema: DmidecodeFactsSchema,
  },
  { name: "parsePermanentMac", files: starts("ethtool-P"), run: parsePermanentMac, schema: Mac },
  {
    name: "readSmbiosType42",
    files: starts("sys-firmware-dmi-42"),
    run: readSmbiosType42,
    schema: z.strictObject({
      value: RedfishHostInterface.nullable(),
      problem: z.string().nullable(),
    }),
  },
  {
    name: "parseSysFirmwareEfi",
    files: starts("sys-firmware-efi"),
    run: parseSysFirmwareEfi,
    schema: Boot.pick({ firmware: true, secureBoot: true }),
  },
  {
    name: "parseSysClassTpm",
    files: starts("sys-class-tpm"),
    run: parseSysClassTpm,
    schema: Tpm.nullable(),
  },
  {
    name: "parseTpm2Properties",
    files: starts("tpm2-properties"),
    run: parseTpm2Properties,
    schema: z.strictObject({
      manufacturer: Tpm.shape.manufacturer,
      vendorString: z.string().nullable(),
      firmwareVersion: Tpm.shape.firmwareVersion,
    }),
  },
  {
    name: "parseSysDevicesSystemNode",
    files: starts("sys-devices-system-node"),
    run: parseSysDevicesSystemNode,
    schema: z.array(NumaNode),
  },
  {
    name: "parseDriverInfo",
    files: starts("ethtool-i-"),
    run: parseDriverInfo,
    schema: z.strictObject({
      driver: z.string().nullable(),
      firmwareVersion: Nic.shape.firmwareVersion,
      busInfo: z.string().nullable(),
    }),
  },
  {
    name: "parseSysBusPci",
    files: starts("sys-bus-pci"),
    run: parseSysBusPci,
    schema: z.record(
      z.string().regex(/^[0-9a-f]{4,8}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$/),
      z.strictObject({
        classId: PciDevice.shape.classId,
        vendorId: PciDevice.shape.vendorId,
        deviceId: PciDevice.shape.deviceId,
        driver: z.string().nullable(),
        numaNode: PciDevice.shape.numaNode,
        sriovTotalVfs: PciDevice.shape.sriovTotalVfs,
        sriovEnabledVfs: PciDevice.shape.sriovEnabledVfs,
        vramBytes: z.number().int().nonnegative().nullable(),
      }),
    ),
  },
  {
    name: "parseNvidiaSmi",
    files: starts("nvidia-smi"),
    run: parseNvidiaSmi,
    schema: z.array(
      Gpu.pick({
        pciAddress: true,
        model: true,
        uuid: true,
        serialNumber: true,
        vbiosVersion: true,
        memoryBytes: true,
      }),
    ),
  },
  {
    name: "parseSysInfiniband",
    files: starts("sys-class-infiniband"),
    run: parseSysInfiniband,
    schema: z.array(InfinibandDevice),
  },
  {
    name: "parseEthtoolLink",
    files: starts("ethtool"),
    run: parseEthtoolLink,
    schema: EthtoolLink,
  },
  { name: "parseMcInfo", files: starts("ipmitool-mc"), run: parseMcInfo, schema: McInfo },
  {
    name: "parseLanPrint",
    files: starts("ipmitool-lan"),
    run: parseLanPrint,
    schema: LanInfo.nullable(),
  },
  {
    name: "parseFruPrint",
    files: starts("ipmitool-fru"),
    run: parseFruPrint,
    schema: z.array(Fru),
  },
  {
    name: "parseSdrElist",
    files: starts("ipmitool-sdr"),
    run: parseSdrElist,
    schema: z.array(Sensor),
  },
  {
    name: "parseDcmiPowerReading",
    files: starts("ipmitool-dcmi"),
    run: parseDcmiPowerReading,
    schema: PowerReading.nullable(),
  },
  {
    name: "parseLan6Print",
    files: starts("ipmitool-lan6"),
    run: parseLan6Print,
    schema: Bmc.shape.ipv6Addresses,
  },
  {
    name: "parseUserList",
    files: starts("ipmitool-user"),
    run: parseUserList,
    schema: Bmc.shape.users,
  },
  {
    name: "parseLldpctl",
    files: starts("lldpctl"),
    run: parseLldpctl,
    schema: z.record(z.string(), LldpNeighbor),
  },
  { name: "parseLsblk", files: starts("lsblk"), run: parseLsblk, schema: z.array(Disk) },
  { name: "parseLscpu", files: starts("lscpu"), run: parseLscpu, schema: Cpu },
  { name: "parseLshw", files: starts("lshw"), run: parseLshw, schema: LshwFactsSchema },
  { name: "parseLspci", files: starts("lspci"), run: parseLspci, schema: z.array(PciDevice) },
  {
    name: "parseMeminfo",
    files: starts("meminfo"),
    run: parseMeminfo,
    schema: z.strictObject({ memTotalBytes: Count }),
  },
  { name: "parseIpAddr", files: starts("ip-addr"), run: parseIpAddr, schema: z.array(IpLink) },
  { name: "parseSysNet", files: starts("sys-class-net"), run: parseSysNet, schema: SysNet },
  {
    name: "buildNics",
    files: starts("ip-addr"),
    run: (text) => buildNics(parseIpAddr(text), parseSysNet(text)),
    schema: z.array(Nic),
  },
  {
    name: "parseSmartctlScan",
    files: starts("smartctl-scan"),
    run: parseSmartctlScan,
    schema: z.strictObject({
      devices: z.array(z.strictObject({ name: z.string(), type: z.string() })),
      rejected: z.array(z.string()),
    }),
  },
  {
    name: "parseSmartctl",
    files: (n) => n.includes("smartctl") && !n.includes("scan") && n.endsWith(".json"),
    run: parseSmartctl,
    schema: SmartFacts,
  },
  ...STORAGE_TARGETS,
];

/** Every module of agent/collect/ that holds a parser above. */
const COLLECT_MODULES = [
  "cmdline",
  "dmidecode",
  "efi",
  "ethtool",
  "gpu",
  "infiniband",
  "ipmitool",
  "ipmi-access",
  "ipmi-sensors",
  "lldpctl",
  "lsblk",
  "lscpu",
  "lshw",
  "lspci",
  "meminfo",
  "net",
  "numa",
  "pci-sysfs",
  "smartctl",
  "tpm",
  "mdadm",
  "nvme",
  "storcli",
  "sysfs-storage",
  "ssacli",
];
const collectExports: Record<string, unknown>[] = await Promise.all(
  COLLECT_MODULES.map((name) => import(`../../agent/collect/${name}.ts`)),
);

/**
 * The `readX` beside a `parseX` (text in, `{ value, problem }` out: `problem` says why the input
 * is not what the tool prints). Found by name so a parser that gains one is fuzzed too; async
 * readers read the file system, not text, and are left out.
 */
function readerTargets(): ParserTarget[] {
  return PARSE_TARGETS.flatMap((target) => {
    if (!target.name.startsWith("parse")) return [];
    const name = target.name.replace(/^parse/, "read");
    // readSysNet reads /sys (synchronously: not an AsyncFunction either); its text reader is
    // readSysNetCapture, so a Capture reader wins over the plain name.
    const read = collectExports
      .flatMap((m) => [m[`${name}Capture`], m[name]])
      .find((f) => typeof f === "function" && f.constructor.name !== "AsyncFunction");
    if (typeof read !== "function") return [];
    return [
      {
        name: read.name,
        files: target.files,
        run: read as (text: string) => unknown,
        schema: z.strictObject({ value: target.schema, problem: z.string().nullable() }),
      },
    ];
  });
}

export const PARSERS: ParserTarget[] = [...PARSE_TARGETS, ...readerTargets()];

export function fuzzParser(target: ParserTarget, count: number, seed: number): TargetResult {
  const samples = realFiles(target.files);
  const cases = fc.sample(inputs(samples), { numRuns: count, seed });
  const examples: string[] = [];
  let failures = 0;
  const started = performance.now();
  for (const text of cases) {
    try {
      const parsed = target.schema.safeParse(target.run(text));
      if (!parsed.success) throw new Error(parsed.error.issues[0]?.message ?? "invalid");
    } catch (error) {
      failures++;
      if (examples.length < MAX_EXAMPLES) {
        examples.push(`${(error as Error).message} <- ${shorten(text)}`);
      }
    }
  }
  const ms = performance.now() - started;
  const detail = `${samples.length} real files`;
  return { target: target.name, count: cases.length, failures, ms, examples, detail };
}

// ---------------------------------------------------------------------------------------------
// Routes: the real master in-process, on 127.0.0.1 port 0, in a temp root.

interface FuzzRequest {
  method: "GET" | "PUT" | "HEAD";
  path: string;
  body?: Buffer;
  headers?: Record<string, string>;
}

/** Characters of a request target undici sends as they are; others are percent-encoded. */
function asTarget(raw: string): string {
  return raw.replace(/[^A-Za-z0-9._~!$&'()*+,;=:@/%?-]/g, (c) =>
    Array.from(Buffer.from(c, "utf8"), (b) => `%${b.toString(16).padStart(2, "0")}`).join(""),
  );
}

const nodeIdLike: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom("node-1", "node-2", "a", "4c4c4544-0047-3610-8044-b4c04f594d32"),
  fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,20}$/),
  fc.constantFrom(
    "..",
    ".",
    "%2e%2e",
    "..%2f..%2fetc",
    "a%2fb",
    "%00",
    "a%5cb",
    "%",
    "%zz",
    "x".repeat(200),
  ),
  fc.string({ maxLength: 40 }),
);

const traversal: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    "../secret.txt",
    "..%2fsecret.txt",
    "%2e%2e/secret.txt",
    "%2e%2e%2fsecret.txt",
    "..%5csecret.txt",
    "....//secret.txt",
    "%252e%252e/secret.txt",
    "a/../../secret.txt",
    "./file.txt",
    "file.txt",
    "file.txt%00.png",
    "sub/inner.txt",
    "sub/../file.txt",
    "/../../secret.txt",
    "%c0%ae%c0%ae/secret.txt",
  ),
  fc
    .array(fc.constantFrom("..", ".", "sub", "file.txt", "%2e", "%2f", "", "secret.txt"), {
      maxLength: 8,
    })
    .map((parts) => parts.join("/")),
  fc.string({ maxLength: 30 }),
);

function tarOf(dir: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const stream = createTar({ gzip: true, cwd: dir, portable: true }, readdirSync(dir));
    stream.on("data", (chunk: Buffer) => chunks.push(chunk));
    stream.on("end", () => resolve(Buffer.concat(chunks)));
    stream.on("error", reject);
  });
}

function mutatedBytes(seeds: readonly Buffer[]): fc.Arbitrary<Buffer> {
  const seed = fc.constantFrom(...seeds);
  return fc.oneof(
    fc.tuple(seed, fc.nat()).map(([b, cut]) => b.subarray(0, cut % (b.length + 1))),
    fc.tuple(seed, fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 8 })).map(([b, at, s]) => {
      const copy = Buffer.from(b);
      copy.set(
        s.subarray(0, Math.max(0, copy.length - (at % (copy.length + 1)))),
        at % (copy.length + 1),
      );
      return copy;
    }),
    fc.uint8Array({ maxLength: 2000 }).map((b) => Buffer.from(b)),
    fc
      .uint8Array({ maxLength: 200 })
      .map((b) => Buffer.concat([Buffer.from([0x1f, 0x8b, 0x08]), b])),
  );
}

interface RouteTarget {
  name: string;
  /** Uploads evidence: only a readable gzip tar may be accepted. */
  evidence?: boolean;
  requests: (seeds: RouteSeeds) => fc.Arbitrary<FuzzRequest>;
}

interface RouteSeeds {
  inventories: string[];
  evidence: Buffer[];
}

export const ROUTES: RouteTarget[] = [
  {
    name: "PUT /api/v1/nodes/{id}/inventory",
    requests: ({ inventories }) =>
      fc
        .tuple(
          fc.oneof(
            {
              weight: 3,
              arbitrary: fc.constantFrom(...inventories).map((t) => [t, "node-1"] as const),
            },
            { weight: 5, arbitrary: mutated(inventories).map((t) => [t, "node-1"] as const) },
            { weight: 2, arbitrary: fc.tuple(randomText, nodeIdLike) },
          ),
          fc.boolean(),
        )
        .map(([[text, id], matchId]) => {
          const nodeId = matchId ? (/"nodeId":\s*"([^"]*)"/.exec(text)?.[1] ?? id) : id;
          return {
            method: "PUT",
            path: `/api/v1/nodes/${asTarget(nodeId)}/inventory`,
            body: Buffer.from(text, "utf8"),
            headers: { "content-type": "application/json" },
          };
        }),
  },
  {
    name: "PUT /api/v1/nodes/{id}/evidence",
    evidence: true,
    requests: ({ evidence }) =>
      fc
        .tuple(fc.oneof(fc.constant("node-1"), nodeIdLike), mutatedBytes(evidence))
        .map(([id, body]) => ({
          method: "PUT",
          path: `/api/v1/nodes/${asTarget(id)}/evidence`,
          body,
          headers: { "content-type": "application/gzip" },
        })),
  },
  {
    name: "GET /api/v1/nodes",
    requests: () =>
      fc
        .tuple(fc.constantFrom("/api/v1/nodes", "/api/v1/nodes/"), fc.string({ maxLength: 40 }))
        .map(([base, query]) => ({
          method: "GET",
          path: query ? `${base}?${asTarget(query)}` : base,
        })),
  },
  {
    name: "GET /api/v1/nodes/{id}[/inventory|/evidence]",
    requests: () =>
      fc
        .tuple(
          nodeIdLike,
          fc.constantFrom("", "/inventory", "/evidence", "/history", "/"),
          fc.constantFrom("GET", "HEAD"),
        )
        .map(([id, suffix, method]) => ({
          method: method as "GET" | "HEAD",
          path: `/api/v1/nodes/${asTarget(id)}${suffix}`,
        })),
  },
  {
    name: "GET static (/export, /nodes, files) with traversal",
    requests: () =>
      fc
        .tuple(
          fc.constantFrom("/export/", "/nodes/", "/", "/menu.ipxe", "/export", "/api/"),
          traversal,
        )
        .map(([prefix, rest]) => ({
          method: "GET",
          path: prefix.endsWith("/") ? `${prefix}${asTarget(rest)}` : prefix,
        })),
  },
  {
    name: "GET / (status page)",
    requests: () =>
      fc
        .tuple(fc.constantFrom("/", "/index.html"), fc.string({ maxLength: 30 }))
        .map(([p, q]) => ({ method: "GET", path: q ? `${p}?${asTarget(q)}` : p })),
  },
];

const SECRET = "fuzz-secret-outside-the-root";

/** Runs `fn` over items with `limit` in flight. */
async function inFlight<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>) {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++] as T);
  };
  await Promise.all(Array.from({ length: limit }, worker));
}

export async function fuzzRoutes(count: number, seed: number): Promise<TargetResult[]> {
  const box = sandbox();
  const root = path.join(box.dir, "root");
  const exported = path.join(box.dir, "export");
  mkdirSync(path.join(exported, "sub"), { recursive: true });
  writeFileSync(path.join(exported, "file.txt"), "exported\n");
  writeFileSync(path.join(exported, "sub", "inner.txt"), "inner\n");
  writeFileSync(path.join(box.dir, "secret.txt"), SECRET);
  writeFileSync(path.join(box.dir, "menu.ipxe"), "#!ipxe\n");
  const t = await startTestServer({
    root,
    staticRoots: { "/export": exported, "/nodes": path.join(root, "nodes") },
    files: { "/menu.ipxe": path.join(box.dir, "menu.ipxe") },
    log: () => undefined,
  });
  const outsideBefore = listTree(box.dir).filter((p) => !p.startsWith("root"));
  const agent = new Agent({ connections: 16, keepAliveTimeout: 30_000, pipelining: 1 });
  const base = sampleInventory({ nodeId: "node-1" });
  const inventories = [
    JSON.stringify(base),
    JSON.stringify(base, null, 2),
    JSON.stringify(sampleInventory({ nodeId: "node-2", bmc: null }), null, 1),
  ];
  const evidence = [
    await tarOf(path.join(REPO, "fixtures", "this-machine-util-linux-2.36.1")),
    await tarOf(path.join(REPO, "fixtures", "ipmi-sim-openipmi")),
  ];
  const results: TargetResult[] = [];
  const reported = new Set<string>();
  try {
    for (const [i, route] of ROUTES.entries()) {
      const cases = fc.sample(route.requests({ inventories, evidence }), {
        numRuns: count,
        seed: seed + i,
      });
      const examples: string[] = [];
      const statuses = new Map<number, number>();
      let failures = 0;
      const fail = (why: string, req?: FuzzRequest) => {
        failures++;
        if (examples.length < MAX_EXAMPLES) {
          const from = req
            ? ` <- ${req.method} ${req.path} ${req.body ? shorten(req.body) : ""}`
            : "";
          examples.push(`${why}${from}`);
        }
      };
      const started = performance.now();
      await inFlight(cases, 16, async (req) => {
        try {
          const res = await request(`${t.url}${req.path}`, {
            method: req.method,
            headers: req.headers,
            body: req.body,
            dispatcher: agent,
          });
          const body = Buffer.from(await res.body.arrayBuffer());
          statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
          if (res.statusCode >= 500) fail(`status ${res.statusCode}: ${shorten(body)}`, req);
          else if (body.includes(SECRET)) fail("served a file outside the root", req);
          else if (
            route.evidence &&
            res.statusCode < 300 &&
            !isReadableTarGz(req.body ?? Buffer.alloc(0))
          ) {
            fail(`status ${res.statusCode} for evidence that is not a readable gzip tar`, req);
          }
        } catch (error) {
          fail(`no answer: ${(error as Error).message}`, req);
        }
      });
      const ms = performance.now() - started;
      // The server still answers, and every stored document is still valid.
      const alive = await request(`${t.url}/api/v1/nodes`, { dispatcher: agent });
      await alive.body.dump();
      if (alive.statusCode !== 200) fail(`server stopped answering (${alive.statusCode})`);
      // Each bad document counts once, against the route that stored it.
      for (const bad of invalidStoredDocuments(root)) {
        if (reported.has(bad)) continue;
        reported.add(bad);
        fail(`stored document invalid: ${bad}`);
      }
      const outside = listTree(box.dir).filter((p) => !p.startsWith("root"));
      if (outside.join("\n") !== outsideBefore.join("\n")) {
        fail(
          `written outside the root: ${outside.filter((p) => !outsideBefore.includes(p)).join(", ")}`,
        );
      }
      const detail = [...statuses]
        .sort(([a], [b]) => a - b)
        .map(([status, n]) => `${status}x${n}`)
        .join(" ");
      results.push({ target: route.name, count: cases.length, failures, ms, examples, detail });
    }
  } finally {
    await agent.close();
    await t.server.close();
    box.cleanup();
  }
  return results;
}

/** Stored evidence is what the API promises: a gzip stream holding a tar with entries. */
function isReadableTarGz(data: Buffer): boolean {
  try {
    const tarBytes = gunzipSync(data);
    let entries = 0;
    const parser = new TarParser({ strict: true, onReadEntry: () => entries++ });
    parser.end(tarBytes);
    return entries > 0;
  } catch {
    return false;
  }
}

/** Stored documents (inventories current and in history, evidence) that are not valid. */
function invalidStoredDocuments(root: string): string[] {
  const nodes = path.join(root, "nodes");
  const bad: string[] = [];
  let entries: string[] = [];
  try {
    entries = listTree(nodes);
  } catch {
    return bad;
  }
  for (const rel of entries) {
    if (path.basename(rel) === "evidence.tar.gz") {
      if (!isReadableTarGz(readFileSync(path.join(nodes, rel))))
        bad.push(`${rel} (not a readable gzip tar)`);
      continue;
    }
    if (!rel.endsWith(".json") || path.basename(rel).startsWith(".")) continue;
    const text = readFileSync(path.join(nodes, rel), "utf8");
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch {
      bad.push(`${rel} (not JSON)`);
      continue;
    }
    const isInventory =
      path.basename(rel) === "inventory.json" || rel.split(path.sep).includes("history");
    if (isInventory && !Inventory.safeParse(doc).success) bad.push(rel);
  }
  return bad;
}

// ---------------------------------------------------------------------------------------------

export async function fuzzAll(count: number, seed = 20261201): Promise<TargetResult[]> {
  const parsers = PARSERS.map((target, i) => fuzzParser(target, count, seed + i));
  return [...parsers, ...(await fuzzRoutes(count, seed + 1000))];
}

export function formatResults(results: readonly TargetResult[]): string {
  const width = Math.max(...results.map((r) => r.target.length));
  const rows = results.map(
    (r) =>
      `${r.target.padEnd(width)}  ${String(r.count).padStart(6)} cases  ${String(r.failures).padStart(5)} failures  ${(r.ms / 1000).toFixed(2).padStart(7)} s  ${r.detail}` +
      r.examples.map((e) => `\n    ${e}`).join(""),
  );
  const total = results.reduce((n, r) => n + r.count, 0);
  const failed = results.reduce((n, r) => n + r.failures, 0);
  return `${rows.join("\n")}\n${"total".padEnd(width)}  ${String(total).padStart(6)} cases  ${String(failed).padStart(5)} failures`;
}
