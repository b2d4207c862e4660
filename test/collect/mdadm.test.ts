// mdadm --detail: the parser on ironic-python-agent's recorded outputs (samples/mdadm-detail-ipa,
// every expected value read by hand, see FACTS.md), damaged and foreign input, and the storage
// collector's md path: one `mdadm --detail` per array of /proc/mdstat, replayed.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import fc from "fast-check";
import {
  type MdDetail,
  mdadmDetailProbe,
  mdDataMembers,
  parseMdadmDetail,
  parseMdstat,
  readMdadmDetail,
} from "../../agent/collect/mdadm.ts";
import {
  applyStorage,
  collectStorage,
  emptyStorageFacts,
  type StorageFacts,
} from "../../agent/collect/storage.ts";
import type { Probe, ProbeResult, Runner } from "../../agent/exec.ts";
import { replayRunner } from "../../agent/exec.ts";
import { Disk } from "../../schema/inventory.ts";
import { disk } from "../support/disk.ts";
import { assertHonestParser, assertSurvivesMutations } from "../support/properties.ts";

const ROOT = new URL("../../", import.meta.url);
const read = (path: string) => readFileSync(new URL(path, ROOT), "utf8");
const IPA = "samples/mdadm-detail-ipa/";
const MD0 = `${IPA}mdadm-detail-md0.txt`;
const NVME = `${IPA}mdadm-detail-md0-nvme.txt`;
const INACTIVE = `${IPA}mdadm-detail-md126-inactive.txt`;
const SAMPLES = [MD0, NVME, INACTIVE];

const storageWith = (fields: Partial<StorageFacts>): StorageFacts => ({
  ...emptyStorageFacts(),
  ...fields,
});

// --- golden ------------------------------------------------------------------------------------

test("mdadm --detail (IPA MDADM_DETAIL_OUTPUT): clean raid1 on vde1 and vdf1", () => {
  assert.deepEqual(readMdadmDetail(read(MD0)), {
    value: {
      device: "/dev/md0",
      raidLevel: "raid1",
      // Array Size : 1048512 (1023.94 MiB 1073.68 MB): KiB; 1048512 * 1024 = 1073676288
      sizeBytes: 1073676288,
      raidDevices: 2,
      state: "clean",
      uuid: "83143055:2781ddf5:2c8f44c7:9b45d92e",
      // "abc.xyz.com:0  (local to host abc.xyz.com)"
      name: "abc.xyz.com:0",
      members: [
        { device: "vde1", raidDevice: 0, state: "active sync" },
        { device: "vdf1", raidDevice: 1, state: "active sync" },
      ],
    },
    problem: null,
  });
});

test("mdadm --detail (IPA MDADM_DETAIL_OUTPUT_NVME): older mdadm's narrower labels, NVMe partitions", () => {
  assert.deepEqual(readMdadmDetail(read(NVME)), {
    value: {
      device: "/dev/md0",
      raidLevel: "raid1",
      // Array Size : 439221248 (418.87 GiB 449.76 GB)
      sizeBytes: 449762557952,
      raidDevices: 2,
      state: "clean",
      uuid: "abe222bc:98735860:ab324674:e4076313",
      name: "rescue:0",
      members: [
        { device: "nvme0n1p1", raidDevice: 0, state: "active sync" },
        { device: "nvme1n1p1", raidDevice: 1, state: "active sync" },
      ],
    },
    problem: null,
  });
});

test("mdadm --detail (IPA MDADM_DETAIL_OUTPUT_BROKEN_RAID0): inactive, no size, no State column", () => {
  const { value, problem } = readMdadmDetail(read(INACTIVE));
  assert.equal(problem, null);
  assert.deepEqual(value, {
    device: "/dev/md126",
    raidLevel: "raid0",
    sizeBytes: null,
    raidDevices: null,
    state: "inactive",
    uuid: "b5e136c0:a7e379b7:db25e45d:4b63928b",
    name: "prj6ogxgyzd:1",
    // "       -       8        2        -        /dev/sda2"
    members: [{ device: "sda2", raidDevice: null, state: null }],
  });
  assert.deepEqual(mdDataMembers(value as MdDetail), ["sda2"]);
});

// Written in mdadm's layout (not a capture): a degraded raid5 rebuilding onto a spare, with a
// removed slot, a faulty member and an idle hot spare, the rows as mdadm orders them.
const DEGRADED = [
  "/dev/md1:",
  "           Version : 1.2",
  "        Raid Level : raid5",
  "        Array Size : 2093056 (2044.00 MiB 2143.29 MB)",
  "      Raid Devices : 3",
  "             State : clean, degraded, recovering ",
  "              Name : host:1",
  "              UUID : 0A1B2C3D:4e5f6071:8293a4b5:c6d7e8f9",
  "",
  "    Number   Major   Minor   RaidDevice State",
  "       0       8       17        0      active sync   /dev/sdb1",
  "       -       0        0        1      removed",
  "       3       8       49        2      spare rebuilding   /dev/sdd1",
  "",
  "       1       8       33        -      faulty   /dev/sdc1",
  "       4       8       65        -      spare   /dev/sde1",
  "",
].join("\n");

test("mdadm --detail: degraded array, removed slot, faulty and spare members", () => {
  const { value, problem } = readMdadmDetail(DEGRADED);
  assert.equal(problem, null);
  const detail = value as MdDetail;
  assert.deepEqual(
    [detail.raidLevel, detail.sizeBytes, detail.raidDevices, detail.state, detail.uuid],
    [
      "raid5",
      2093056 * 1024,
      3,
      "clean, degraded, recovering",
      "0a1b2c3d:4e5f6071:8293a4b5:c6d7e8f9",
    ],
  );
  assert.deepEqual(
    detail.members.map((m) => [m.device, m.raidDevice, m.state]),
    [
      ["sdb1", 0, "active sync"],
      ["sdd1", 2, "spare rebuilding"],
      ["sdc1", null, "faulty"],
      ["sde1", null, "spare"],
    ],
  );
  // The faulty one and the idle spare hold none of the data; the one being rebuilt will.
  assert.deepEqual(mdDataMembers(detail), ["sdb1", "sdd1"]);
});

// --- bad input ---------------------------------------------------------------------------------

test("mdadm --detail: empty, binary, other tools' output, truncated", () => {
  assert.deepEqual(readMdadmDetail(""), { value: null, problem: null });
  assert.deepEqual(readMdadmDetail(" \n\n"), { value: null, problem: null });
  assert.match(readMdadmDetail("/dev/md0:\n\u0000\u0001junk\n").problem ?? "", /binary data/);
  assert.match(readMdadmDetail(`${read(MD0)}\ufffd`).problem ?? "", /binary data/);
  // /proc/mdstat, lsblk's JSON and mdadm's own error text are not --detail output.
  const mdstat = "Personalities : [raid1]\nmd0 : active raid1 vdf1[1] vde1[0]\n";
  for (const other of [mdstat, '{"blockdevices": []}\n', "mdadm: cannot open /dev/md9\n"]) {
    const outcome = readMdadmDetail(other);
    assert.equal(outcome.value, null);
    assert.match(outcome.problem ?? "", /no "\/dev\/mdX:" first line/);
  }
  // mdadm --examine of a member (ironic-python-agent's MDADM_EXAMINE_OUTPUT_MEMBER, its start).
  const examine =
    "/dev/sda1:\n          Magic : a92b4efc\n        Version : 1.2\n" +
    "     Array UUID : 83143055:2781ddf5:2c8f44c7:9b45d92e\n     Raid Level : raid1\n";
  assert.deepEqual(readMdadmDetail(examine), {
    value: null,
    problem: "mdadm --examine output (a member's superblock), not --detail",
  });
  const text = read(MD0);
  // Cut before the device table: the fields read stand, the missing table is the problem.
  const beforeTable = readMdadmDetail(text.slice(0, text.indexOf("    Number")));
  assert.match(beforeTable.problem ?? "", /no device table/);
  assert.equal(beforeTable.value?.uuid, "83143055:2781ddf5:2c8f44c7:9b45d92e");
  assert.deepEqual(beforeTable.value?.members, []);
  // Cut inside the last row's device path: that line is not read ("vd" is no device).
  const inPath = readMdadmDetail(text.slice(0, text.lastIndexOf("/dev/vdf1") + 7));
  assert.match(inPath.problem ?? "", /line 26 cut short/);
  assert.deepEqual(
    inPath.value?.members.map((m) => m.device),
    ["vde1"],
  );
  // Cut inside a row, newline kept by a later line: the row is unreadable.
  const lines = text.split("\n");
  lines[25] = "       1     253       80";
  const brokenRow = readMdadmDetail(lines.join("\n"));
  assert.match(brokenRow.problem ?? "", /device table line 26 unreadable/);
  assert.deepEqual(
    brokenRow.value?.members.map((m) => m.device),
    ["vde1"],
  );
  assert.equal(parseMdadmDetail("garbage\n"), null);
});

// --- properties --------------------------------------------------------------------------------

test("property: readMdadmDetail never throws on arbitrary strings", () => {
  fc.assert(
    fc.property(fc.string(), (t) => {
      const { value, problem } = readMdadmDetail(t);
      assert.ok(problem === null || typeof problem === "string");
      assert.ok(value === null || typeof value.device === "string");
    }),
    { numRuns: 1000 },
  );
  fc.assert(
    fc.property(fc.string({ unit: "binary" }), (t) => {
      readMdadmDetail(t);
    }),
  );
});

test("property: mdadm --detail samples cut or overwritten: honest problem or the intact facts", () => {
  const samples = SAMPLES.map(read);
  assertSurvivesMutations([...samples, DEGRADED], (t) => {
    const detail = parseMdadmDetail(t);
    if (detail === null) return;
    assert.ok(detail.sizeBytes === null || Number.isSafeInteger(detail.sizeBytes));
    for (const m of detail.members) assert.ok(m.device.length > 0);
  });
  assertHonestParser(samples, readMdadmDetail, { numRuns: 150 });
});

// --- the probe and the collector ----------------------------------------------------------------

test("mdadmDetailProbe: an argument array for a name /proc/mdstat can hold, nothing else", () => {
  assert.deepEqual(mdadmDetailProbe("md0")?.source, {
    kind: "command",
    argv: ["mdadm", "--detail", "/dev/md0"],
  });
  assert.equal(mdadmDetailProbe("md127")?.file, "mdadm-detail-md127.txt");
  assert.equal(mdadmDetailProbe("md_d0")?.needsRoot, true);
  for (const bad of [
    "sda",
    "md",
    "md0/../sda",
    "md0 --zero-superblock",
    "../md0",
    `md${"1".repeat(33)}`,
  ]) {
    assert.equal(mdadmDetailProbe(bad), null, bad);
  }
});

const MDSTAT_IPA =
  "Personalities : [raid0] [raid1]\n" +
  "md126 : inactive sda2[0](S)\n      1048576 blocks super 1.2\n\n" +
  "md0 : active raid1 vdf1[1] vde1[0]\n      1048512 blocks super 1.0 [2/2] [UU]\n\n" +
  "unused devices: <none>\n";

test("collectStorage replays mdadm --detail per md array; a missing or foreign one leaves mdstat's facts", async () => {
  const dir = mkdtempSync(join(tmpdir(), "recon-mdadm-replay-"));
  try {
    writeFileSync(join(dir, "proc-mdstat.txt"), MDSTAT_IPA);
    writeFileSync(join(dir, "mdadm-detail-md0.txt"), read(MD0));
    writeFileSync(join(dir, "mdadm-detail-md126.txt"), read(INACTIVE));
    const out = await collectStorage(await replayRunner(dir));
    assert.deepEqual(
      out.reports
        .filter((r) => r.name === "mdstat" || r.name === "mdadm-detail")
        .map((r) => [r.name, r.status, r.command]),
      [
        ["mdstat", "ok", "replay proc-mdstat.txt"],
        ["mdadm-detail", "ok", "replay mdadm-detail-md126.txt"],
        ["mdadm-detail", "ok", "replay mdadm-detail-md0.txt"],
      ],
    );
    assert.deepEqual(Object.keys(out.value.mdDetails).sort(), ["md0", "md126"]);
    const disks = applyStorage(
      [
        disk("sda", { serialNumber: "SA" }),
        disk("vde", { serialNumber: "VE" }),
        disk("vdf", { serialNumber: "VF" }),
      ],
      [],
      out.value,
    );
    assert.deepEqual(
      disks.slice(3).map((d) => [d.name, d.raidLevel, d.sizeBytes, d.memberSerials, d.virtual]),
      [
        // mdstat prints no level for an inactive array, and its blocks are the member's size:
        // mdadm says raid0 and prints no Array Size, so the size is unknown.
        ["md126", "raid0", null, ["SA"], true],
        ["md0", "raid1", 1073676288, ["VE", "VF"], true],
      ],
    );
    for (const d of disks) Disk.parse(d);

    // No capture of md126's detail (mdadm absent or not root when captured): mdstat alone.
    rmSync(join(dir, "mdadm-detail-md126.txt"));
    // Something that is not mdadm --detail in md0's place: failed, and mdstat's facts stand.
    writeFileSync(join(dir, "mdadm-detail-md0.txt"), MDSTAT_IPA);
    const bad = await collectStorage(await replayRunner(dir));
    assert.deepEqual(
      bad.reports.filter((r) => r.name === "mdadm-detail").map((r) => [r.status, r.message]),
      [
        ["skipped", "not captured"],
        ["failed", 'mdadm-detail-md0.txt: no "/dev/mdX:" first line'],
      ],
    );
    assert.deepEqual(bad.value.mdDetails, {});
    const alone = applyStorage(
      [disk("vde", { serialNumber: "VE" }), disk("vdf", { serialNumber: "VF" })],
      [],
      bad.value,
    );
    assert.deepEqual(
      alone.slice(2).map((d) => [d.name, d.raidLevel, d.sizeBytes, d.memberSerials]),
      [
        ["md126", null, null, []],
        ["md0", "raid1", 1048512 * 1024, ["VF", "VE"]],
      ],
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("collectStorage: without mdadm each array's detail is skipped, mdstat's report unchanged", async () => {
  const calls: string[] = [];
  const runner: Runner = {
    async run(probe: Probe): Promise<ProbeResult> {
      const command =
        probe.source.kind === "command" ? probe.source.argv.join(" ") : `read ${probe.file}`;
      calls.push(command);
      const output = probe.file === "proc-mdstat.txt" ? MDSTAT_IPA : "";
      const ok = output !== "";
      return {
        file: probe.file,
        status: ok ? "ok" : "skipped",
        output,
        exitCode: ok ? 0 : null,
        durationMs: 0,
        command,
        message: ok ? null : `${command.split(" ")[0]}: not installed`,
      };
    },
  };
  const out = await collectStorage(runner);
  assert.deepEqual(
    calls.filter((c) => c.startsWith("mdadm")),
    ["mdadm --detail /dev/md126", "mdadm --detail /dev/md0"],
  );
  assert.deepEqual(
    out.reports
      .filter((r) => r.name === "mdstat" || r.name === "mdadm-detail")
      .map((r) => [r.name, r.status, r.message]),
    [
      ["mdstat", "ok", null],
      ["mdadm-detail", "skipped", "mdadm: not installed"],
      ["mdadm-detail", "skipped", "mdadm: not installed"],
    ],
  );
  assert.deepEqual(
    out.value.mdArrays.map((a) => a.name),
    parseMdstat(MDSTAT_IPA).map((a) => a.name),
  );
});

test("applyStorage: detail's faulty and spare members are not data members; a container has no RAID level", () => {
  const detail = readMdadmDetail(DEGRADED).value as MdDetail;
  const container: MdDetail = {
    device: "/dev/md127",
    raidLevel: "container",
    sizeBytes: null,
    raidDevices: null,
    state: null,
    uuid: null,
    name: null,
    members: [{ device: "sdf", raidDevice: null, state: null }],
  };
  const storage = storageWith({
    mdArrays: parseMdstat(
      "Personalities : [raid5]\n" +
        "md1 : active raid5 sde1[4](S) sdc1[1](F) sdd1[3] sdb1[0]\n" +
        "      2093056 blocks super 1.2 level 5, 512k chunk, algorithm 2 [3/1] [U__]\n\n" +
        "md127 : inactive sdf[0](S)\n      5201 blocks super external:imsm\n\n" +
        "unused devices: <none>\n",
    ),
    mdDetails: { md1: detail, md127: container },
  });
  const out = applyStorage(
    ["sdb", "sdc", "sdd", "sde", "sdf"].map((n) => disk(n, { serialNumber: n.toUpperCase() })),
    [],
    storage,
  );
  assert.deepEqual(
    out.slice(5).map((d) => [d.name, d.raidLevel, d.sizeBytes, d.memberSerials]),
    [
      ["md1", "raid5", 2093056 * 1024, ["SDB", "SDD"]],
      ["md127", null, null, ["SDF"]],
    ],
  );
});

test("collectStorage: a damaged detail's table is not used, and another array's detail not at all", async () => {
  const md0 = read(MD0);
  const files: Record<string, string> = {
    "proc-mdstat.txt": MDSTAT_IPA,
    // md126's place holds md0's detail; md0's is cut inside its last row.
    "mdadm-detail-md126.txt": md0,
    "mdadm-detail-md0.txt": md0.slice(0, md0.lastIndexOf("/dev/vdf1") + 7),
  };
  const runner: Runner = {
    async run(probe: Probe): Promise<ProbeResult> {
      const output = files[probe.file] ?? "";
      return {
        file: probe.file,
        status: output === "" ? "skipped" : "ok",
        output,
        exitCode: 0,
        durationMs: 0,
        command: probe.file,
        message: null,
      };
    },
  };
  const out = await collectStorage(runner);
  assert.deepEqual(
    out.reports.filter((r) => r.name === "mdadm-detail").map((r) => [r.status, r.message]),
    [
      ["failed", "mdadm-detail-md126.txt: describes /dev/md0, not /dev/md126"],
      ["failed", "mdadm-detail-md0.txt: line 26 cut short (no newline)"],
    ],
  );
  assert.deepEqual(Object.keys(out.value.mdDetails), ["md0"]);
  assert.deepEqual(out.value.mdDetails.md0?.members, []);
  assert.equal(out.value.mdDetails.md0?.uuid, "83143055:2781ddf5:2c8f44c7:9b45d92e");
  const disks = applyStorage(
    [disk("vde", { serialNumber: "VE" }), disk("vdf", { serialNumber: "VF" })],
    [],
    out.value,
  );
  // md0: the header's facts from the detail, the members (both) from mdstat.
  assert.deepEqual(
    disks.slice(2).map((d) => [d.name, d.raidLevel, d.sizeBytes, d.memberSerials]),
    [
      ["md126", null, null, []],
      ["md0", "raid1", 1073676288, ["VF", "VE"]],
    ],
  );
});
