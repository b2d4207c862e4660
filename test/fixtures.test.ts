// Every folder under fixtures/ is a capture in the replay layout (one machine, or one set of tools
// captured together) with its attribution. Replaying it must yield facts from at least one
// collector that says `ok`: a folder that replays as "all skipped" belongs in samples/.
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { collectCmdline } from "../agent/collect/cmdline.ts";
import { collectDmidecode } from "../agent/collect/dmidecode.ts";
import { collectBootFirmware } from "../agent/collect/efi.ts";
import {
  ethtoolLinkCollector,
  firmwareVersionCollector,
  permanentMacCollector,
} from "../agent/collect/ethtool.ts";
import { nvidiaSmiCollector } from "../agent/collect/gpu.ts";
import { collectInfiniband } from "../agent/collect/infiniband.ts";
import { collectIpmi } from "../agent/collect/ipmitool.ts";
import { collectLldp } from "../agent/collect/lldpctl.ts";
import { collectLsblk } from "../agent/collect/lsblk.ts";
import { collectLscpu } from "../agent/collect/lscpu.ts";
import { collectLshw } from "../agent/collect/lshw.ts";
import { collectLspci } from "../agent/collect/lspci.ts";
import { collectMeminfo } from "../agent/collect/meminfo.ts";
import { collectNics } from "../agent/collect/net.ts";
import { collectNuma } from "../agent/collect/numa.ts";
import { collectPciSysfs } from "../agent/collect/pci-sysfs.ts";
import { collectSmart } from "../agent/collect/smartctl.ts";
import { collectStorage } from "../agent/collect/storage.ts";
import { collectTpm } from "../agent/collect/tpm.ts";
import type { Collect } from "../agent/collect/types.ts";
import { type Runner, replayRunner } from "../agent/exec.ts";

const FIXTURES = new URL("../fixtures/", import.meta.url).pathname;
const EMPTY = mkdtempSync(join(tmpdir(), "recon-fixtures-empty-"));
after(() => rmSync(EMPTY, { recursive: true, force: true }));

const folders = readdirSync(FIXTURES, { withFileTypes: true })
  .filter((entry) => entry.isDirectory())
  .map((entry) => entry.name)
  .sort();

/** The folder itself and every sub-folder: each one is a capture (this-machine-extra-tools/). */
function captureDirs(dir: string): string[] {
  const subs = readdirSync(dir, { withFileTypes: true }).filter((entry) => entry.isDirectory());
  return [dir, ...subs.flatMap((entry) => captureDirs(join(dir, entry.name)))];
}

/** Interfaces a capture ran ethtool on, read from its file names (`ethtool-P-<if>.txt`). */
function ethtoolNames(dir: string): string[] {
  return readdirSync(dir)
    .map((name) => /^ethtool-P-(.+)\.txt$/.exec(name)?.[1])
    .filter((name): name is string => name !== undefined);
}

function collectorsFor(dir: string): Record<string, Collect<unknown>> {
  const names = ethtoolNames(dir);
  return {
    cmdline: collectCmdline,
    dmidecode: collectDmidecode,
    lspci: collectLspci,
    lsblk: collectLsblk,
    lshw: collectLshw,
    lscpu: collectLscpu,
    meminfo: collectMeminfo,
    nics: collectNics,
    "ethtool-permaddr": permanentMacCollector(names),
    "ethtool-link": ethtoolLinkCollector(names),
    "ethtool-driver": firmwareVersionCollector(names),
    "sysfs-pci": collectPciSysfs,
    "nvidia-smi": nvidiaSmiCollector(true),
    "sysfs-infiniband": collectInfiniband,
    ipmitool: collectIpmi,
    smartctl: collectSmart,
    lldpctl: collectLldp,
    efi: collectBootFirmware,
    tpm: collectTpm,
    numa: collectNuma,
    storage: collectStorage,
  };
}

/**
 * Collectors that reported `ok` and whose value differs from what they give for an empty
 * directory: the facts this capture really carries.
 */
async function factualCollectors(dir: string): Promise<string[]> {
  const replay: Runner = await replayRunner(dir);
  const empty: Runner = await replayRunner(EMPTY);
  const found: string[] = [];
  for (const [name, collect] of Object.entries(collectorsFor(dir))) {
    const [here, none] = await Promise.all([collect(replay), collect(empty)]);
    const ok = here.reports.some((report) => report.status === "ok");
    if (ok && JSON.stringify(here.value) !== JSON.stringify(none.value)) found.push(name);
  }
  return found;
}

test("fixtures/ holds folders", () => {
  assert.ok(folders.length > 0);
});

for (const folder of folders) {
  test(`fixtures/${folder} has SOURCE.md and every capture in it replays with facts`, async () => {
    assert.ok(existsSync(join(FIXTURES, folder, "SOURCE.md")), "SOURCE.md is missing");
    for (const dir of captureDirs(join(FIXTURES, folder))) {
      const found = await factualCollectors(dir);
      assert.ok(
        found.length > 0,
        `${dir.slice(FIXTURES.length)}: no collector ok with facts (a tool-only sample belongs in samples/)`,
      );
    }
  });
}
