// Honest collector status (issue 10): a parser that cannot make sense of its input makes its
// collector `failed` with a message naming the file and the problem; only a tool that ran and
// said nothing is `ok` with nulls. The properties check content, not only "does not throw".
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { collectDmidecode, readDmidecode } from "../../agent/collect/dmidecode.ts";
import {
  ethtoolLinkCollector,
  permanentMacCollector,
  readEthtoolLink,
  readPermanentMac,
} from "../../agent/collect/ethtool.ts";
import { ipmiCollector, readFruPrint, readMcInfo } from "../../agent/collect/ipmitool.ts";
import { collectLldp, readLldpctl } from "../../agent/collect/lldpctl.ts";
import { collectLsblk, readLsblk } from "../../agent/collect/lsblk.ts";
import { collectLscpu, readLscpu } from "../../agent/collect/lscpu.ts";
import { collectLshw, readLshw } from "../../agent/collect/lshw.ts";
import { collectLspci, readLspci } from "../../agent/collect/lspci.ts";
import { collectMeminfo, readMeminfo } from "../../agent/collect/meminfo.ts";
import { collectNics } from "../../agent/collect/net.ts";
import { collectSmart, readSmartctlScan } from "../../agent/collect/smartctl.ts";
import type { Collect } from "../../agent/collect/types.ts";
import { type Probe, replayRunner } from "../../agent/exec.ts";
import { fakeRunner } from "../support/fake-runner.ts";
import { assertHonestParser, type ParseOutcome } from "../support/properties.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const FIXTURES = join(ROOT, "fixtures");
const read = (path: string) => readFileSync(join(ROOT, path), "utf8");

/** Every file under fixtures/ and samples/ whose name matches. */
function captures(pattern: RegExp): string[] {
  const walk = (dir: string): string[] =>
    readdirSync(dir).flatMap((name) => {
      const path = join(dir, name);
      return statSync(path).isDirectory() ? walk(path) : pattern.test(name) ? [path] : [];
    });
  return [...walk(FIXTURES), ...walk(join(ROOT, "samples"))].map((p) => readFileSync(p, "utf8"));
}

/** 4 KiB of bytes from a fixed-seed generator: reproducible "random bytes". */
function garbage(seed = 7): Buffer {
  let state = seed;
  return Buffer.from(
    Array.from({ length: 4096 }, () => {
      state = (state * 1103515245 + 12345) % 2 ** 31;
      return state >> 16;
    }),
  );
}

test("the issue's replay: random dmidecode.txt and truncated lsblk.json fail both collectors", async () => {
  const dir = mkdtempSync(join(tmpdir(), "recon-honest-"));
  try {
    writeFileSync(join(dir, "dmidecode.txt"), garbage());
    const lsblk = read("fixtures/this-machine-debian12/lsblk.json");
    writeFileSync(join(dir, "lsblk.json"), lsblk.slice(0, 812));
    const runner = await replayRunner(dir);
    const dmi = await collectDmidecode(runner);
    const disks = await collectLsblk(runner);
    assert.equal(dmi.reports[0]?.status, "failed");
    assert.match(dmi.reports[0]?.message ?? "", /^dmidecode\.txt: binary data \(U\+[0-9A-F]{4} at/);
    assert.equal(disks.reports[0]?.status, "failed");
    // Node names the place: "Expected ':' after property name in JSON at position 812 (...)".
    assert.match(
      disks.reports[0]?.message ?? "",
      /^lsblk\.json: not JSON \(.* (at position|after) 812\b/,
    );
    assert.deepEqual(disks.value, []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

const MC_INFO = read("fixtures/ipmi-sim-openipmi/ipmitool-mc-info.txt");
/** An out-of-band BMC (no device node to look for) whose mc info answers from the fixture. */
const ipmiWithMcInfo: Collect<unknown> = (runner, signal) =>
  ipmiCollector({ ipmiArgs: ["-I", "lanplus", "-H", "192.0.2.1"] })(
    {
      run: (probe, s) =>
        probe.file === "ipmitool-mc-info.txt"
          ? fakeRunner({ output: MC_INFO }).runner.run(probe, s)
          : runner.run(probe, s),
    },
    signal,
  );

interface Case {
  /** The collectors[] entry name. */
  name: string;
  /** How its capture file name starts (the entry name when not set). */
  file?: string;
  collect: Collect<unknown>;
  /** A real capture, the one the garbage tests damage. */
  real: string;
  /** What the damaged capture must be reported as. */
  truncated: RegExp;
  /** Output a tool that ran can genuinely print with nothing in it: `ok`. */
  honestEmpty: string[];
}

const CASES: Case[] = [
  {
    name: "dmidecode",
    collect: collectDmidecode,
    real: read("fixtures/dell-poweredge-r740-linuxhw/dmidecode.txt"),
    truncated: /^$/, // a cut mid-record keeps the records before it: ok (see the property)
    honestEmpty: ["", "# dmidecode 3.4\n# No SMBIOS nor DMI entry point found, sorry.\n"],
  },
  {
    name: "lsblk",
    collect: collectLsblk,
    real: read("fixtures/this-machine-debian12/lsblk.json"),
    truncated: /^lsblk\.json: not JSON \(.* (at position|after) \d+/,
    honestEmpty: ["", '{"blockdevices": []}\n'],
  },
  {
    name: "lscpu",
    collect: collectLscpu,
    real: read("fixtures/this-machine-debian12/lscpu.json"),
    truncated: /^lscpu\.json: not JSON \(/,
    honestEmpty: [""],
  },
  {
    name: "lshw",
    collect: collectLshw,
    real: read("fixtures/this-machine-debian12/lshw.json"),
    truncated: /^lshw\.json: not JSON \(/,
    honestEmpty: [""],
  },
  {
    name: "lspci",
    collect: collectLspci,
    real: read("fixtures/this-machine-debian12/lspci.txt"),
    truncated: /^$/,
    honestEmpty: [""],
  },
  {
    name: "meminfo",
    collect: collectMeminfo,
    real: read("fixtures/this-machine-debian12/meminfo.txt"),
    truncated: /^$/,
    honestEmpty: [""],
  },
  {
    name: "lldpctl",
    collect: collectLldp,
    real: read("fixtures/this-machine-extra-tools/lldpd-netns/lldpctl.txt"),
    truncated: /^$/,
    honestEmpty: [""],
  },
  {
    name: "smartctl-scan",
    collect: collectSmart,
    real: read("fixtures/this-machine-extra-tools/smartctl-scan.json"),
    truncated: /^smartctl-scan\.json: not JSON \(/,
    honestEmpty: ["", "{}"],
  },
  {
    name: "ethtool-permaddr",
    file: "ethtool-P-",
    collect: permanentMacCollector(["eth0"]),
    real: read("fixtures/this-machine-extra-tools/ethtool-P-eth0.txt"),
    truncated: /^ethtool-P-eth0\.txt: unreadable permanent address "[0-9a-f:]*"$/,
    honestEmpty: ["", "Permanent address: not set\n"],
  },
  {
    name: "ethtool-link",
    file: "ethtool-e",
    collect: ethtoolLinkCollector(["eth0"]),
    real: read("fixtures/this-machine-extra-tools/ethtool-eth0.txt"),
    truncated: /^$/,
    honestEmpty: ["", "\tLink detected: yes\n", "No data available\n"],
  },
  {
    name: "ipmitool-mc-info",
    collect: ipmiCollector({ ipmiArgs: ["-I", "lanplus", "-H", "192.0.2.1"] }),
    real: MC_INFO,
    truncated: /^$/,
    honestEmpty: [],
  },
  {
    name: "ipmitool-fru-print",
    collect: ipmiWithMcInfo,
    real: read("fixtures/ipmi-sim-openipmi/ipmitool-fru-print.txt"),
    truncated: /^$/,
    honestEmpty: [""],
  },
  {
    name: "ip-addr",
    collect: collectNics,
    real: '[{"ifindex":2,"ifname":"eth0","flags":["BROADCAST","UP","LOWER_UP"],"mtu":1500,"link_type":"ether","address":"52:54:00:12:34:56","addr_info":[]}]\n',
    truncated: /^ip-addr\.json: not JSON \(/,
    honestEmpty: ["", "[]"],
  },
];

/** Answers the case's own probe with `output`, every other probe with "not captured". */
function answering(name: string, output: string | Buffer) {
  return fakeRunner((probe: Probe) =>
    probe.file.startsWith(name)
      ? { output: output.toString() }
      : { status: "skipped", exitCode: null, message: "not captured" },
  ).runner;
}

async function reportFor(c: Case, output: string | Buffer) {
  const { reports } = await c.collect(answering(c.file ?? c.name, output));
  const report = reports.find((r) => r.name === c.name || r.name === `${c.name}-scan`);
  assert.ok(report, `${c.name}: no report in ${JSON.stringify(reports)}`);
  return report;
}

for (const c of CASES) {
  test(`${c.name}: random bytes fail the collector, naming the file`, async () => {
    const report = await reportFor(c, garbage());
    assert.equal(report.status, "failed");
    assert.match(report.message ?? "", new RegExp(`^${c.file ?? c.name}[.\\w-]*: \\S`));
  });

  test(`${c.name}: a real capture is ok; a capture cut in half is ${c.truncated.source === "^$" ? "ok with its intact records" : "failed"}`, async () => {
    assert.equal((await reportFor(c, c.real)).status, "ok");
    const report = await reportFor(c, c.real.slice(0, Math.floor(c.real.length / 2)));
    if (c.truncated.source === "^$") assert.equal(report.status, "ok");
    else {
      assert.equal(report.status, "failed");
      assert.match(report.message ?? "", c.truncated);
    }
  });

  test(`${c.name}: output that is genuinely empty is ok, without a message`, async () => {
    for (const output of c.honestEmpty) {
      const report = await reportFor(c, output);
      assert.equal(report.status, "ok", JSON.stringify(output));
      assert.equal(report.message, null);
    }
  });

  test(`${c.name}: text of another tool fails the collector`, async () => {
    const other =
      c.name === "meminfo"
        ? c.real.replace(/^MemTotal:.*$/m, "")
        : read("fixtures/this-machine-debian12/meminfo.txt");
    const report = await reportFor(c, c.name === "meminfo" ? other : `${other}\n`);
    assert.equal(report.status, "failed");
  });
}

const PARSERS: Array<{
  name: string;
  read: (text: string) => ParseOutcome;
  samples: string[];
  json?: boolean;
  carried?: (value: unknown) => unknown;
}> = [
  { name: "dmidecode", read: readDmidecode, samples: captures(/^dmidecode\.txt$/) },
  { name: "lsblk", read: readLsblk, samples: captures(/^lsblk\.json$/), json: true },
  { name: "lscpu", read: readLscpu, samples: captures(/^lscpu.*\.json$/), json: true },
  { name: "lshw", read: readLshw, samples: captures(/^lshw\.json$/), json: true },
  {
    name: "lspci",
    read: readLspci,
    samples: [
      "fixtures/this-machine-debian12/lspci.txt",
      "fixtures/this-machine-debian12/lspci-vmm.txt",
      "fixtures/this-machine-debian12/lspci-vmm-n.txt",
      "fixtures/this-machine-debian12/lspci-vm-k.txt",
      "fixtures/vmware-vm-ubuntu2010-lspci-jc/lspci.txt",
    ].map(read),
  },
  {
    name: "meminfo",
    read: readMeminfo,
    samples: captures(/^meminfo\.txt$/),
    // The kernel's kB are KiB: the capture carries the value / 1024.
    carried: (value) => ((value as { memTotalBytes: number | null }).memTotalBytes ?? 0) / 1024,
  },
  { name: "ipmitool-mc-info", read: readMcInfo, samples: captures(/^ipmitool-mc-info\.txt$/) },
  {
    name: "ipmitool-fru-print",
    read: readFruPrint,
    samples: captures(/^ipmitool-fru-print\.txt$/),
  },
  { name: "lldpctl", read: readLldpctl, samples: captures(/^lldpctl.*\.txt$/) },
  { name: "ethtool-permaddr", read: readPermanentMac, samples: captures(/^ethtool-P-\w+\.txt$/) },
  {
    name: "ethtool-link",
    read: readEthtoolLink,
    samples: captures(/^ethtool-(?:eth\d|lo|ifb\d|\d)[\w-]*\.txt$/),
    carried: (value) => (value as { speedMbps: number | null }).speedMbps,
  },
  {
    name: "smartctl-scan",
    read: readSmartctlScan,
    samples: captures(/^smartctl-scan.*\.json$/),
    json: true,
  },
];

for (const p of PARSERS) {
  test(`property (${p.name}): random bytes fail; mutated captures fail or keep their intact facts`, () => {
    assert.ok(p.samples.length > 0);
    assertHonestParser(p.samples, p.read, { json: p.json, carried: p.carried, numRuns: 100 });
  });
}
