import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import fc from "fast-check";
import { isSafeIfname } from "../../agent/collect/ethtool.ts";
import { collectLldp, LLDPCTL_PROBE, parseLldpctl } from "../../agent/collect/lldpctl.ts";
import { replayRunner } from "../../agent/exec.ts";
import { LldpNeighbor } from "../../schema/inventory.ts";
import { fakeRunner } from "../support/fake-runner.ts";
import { assertSurvivesMutations } from "../support/properties.ts";

const FIXTURES = new URL("../../fixtures/", import.meta.url);
const read = (path: string) => readFileSync(new URL(path, FIXTURES), "utf8");
const NETBOX = "../samples/lldpctl-keyvalue-netbox/";
const NETNS = "this-machine-extra-tools/lldpd-netns/";

const none = {
  chassisId: null,
  systemName: null,
  portId: null,
  portDescription: null,
  vlanId: null,
};

// --- golden: the five published samples and our lldpd captures -------------------------------

test("netbox 223: VLAN only, PVID flag optional", () => {
  assert.deepEqual(parseLldpctl(read(`${NETBOX}lldpctl-keyvalue-223.txt`)), {
    eth0: { ...none, vlanId: 300 },
    eth1: { ...none, vlanId: 300 },
  });
});

test("netbox cumulus: two ports; the hand-edited eno1 key in eno2d1's block leaves it nameless", () => {
  assert.deepEqual(parseLldpctl(read(`${NETBOX}lldpctl-keyvalue-cumulus.txt`)), {
    eno1: {
      chassisId: "e4:f0:04:b6:47:32",
      systemName: "toto-chassis.dc42",
      portId: "swp46",
      portDescription: "BXVWNR2:lom2",
      vlanId: null,
    },
    eno2d1: {
      chassisId: "e4:f0:04:b6:4e:32",
      systemName: null,
      portId: "swp46",
      portDescription: "BXVWNR2:lom1",
      vlanId: null,
    },
  });
});

test("netbox dedibox: minimal neighbour; Cisco with a multi-line description and a PVID", () => {
  assert.deepEqual(parseLldpctl(read(`${NETBOX}lldpctl-keyvalue-dedibox1.txt`)), {
    enp1s0f0: {
      chassisId: "00:07:cb:0b:6c:d7",
      systemName: "s120-f3-2.itx4",
      portId: "RJ-9",
      portDescription: null,
      vlanId: null,
    },
  });
  assert.deepEqual(parseLldpctl(read(`${NETBOX}lldpctl-keyvalue-dedibox2.txt`)), {
    eno1: {
      chassisId: "38:20:56:67:90:80",
      systemName: "s35-b12.dc3",
      portId: "Gi1/0/29",
      portDescription: "GigabitEthernet1/0/29",
      vlanId: 140,
    },
  });
});

test("netbox qfx: port id as a local ifIndex, VLAN name after the id", () => {
  assert.deepEqual(parseLldpctl(read(`${NETBOX}lldpctl-keyvalue-qfx.txt`)), {
    eth0: {
      chassisId: "40:a6:77:7a:72:00",
      systemName: "sw-filer-f06.dc42",
      portId: "512",
      portDescription: "xe-0/0/1",
      vlanId: 296,
    },
    eth1: {
      chassisId: "40:a6:77:7c:fb:20",
      systemName: "sw-filer-f05.dc42",
      portId: "512",
      portDescription: "xe-0/0/1",
      vlanId: 296,
    },
  });
});

test("lldpd 1.0.16 through a veth pair: port id as ifname, and as MAC (lldpd's default)", () => {
  const expected = {
    chassisId: "0c:42:a1:aa:bb:cc",
    systemName: "leaf-r12-1.dc1",
    portId: "swp12",
    portDescription: "srv-r12-07:eno1",
    vlanId: null,
  };
  assert.deepEqual(parseLldpctl(read(`${NETNS}lldpctl.txt`)), { eno1: expected });
  assert.deepEqual(parseLldpctl(read(`${NETNS}lldpctl-portid-mac.txt`)), {
    eno1: { ...expected, portId: "0c:42:a1:aa:bb:cc" },
  });
});

// --- synthetic edge cases (shaped like lldpd's kv writer) -------------------------------------

test("dotted interface names, other id subtypes, CRLF, uppercase MACs", () => {
  const text = [
    "lldp.eth0.100.via=LLDP",
    "lldp.eth0.100.chassis.local=FDO2331X0AB",
    "lldp.eth0.100.chassis.name=tor1",
    "lldp.eth0.100.port.ifalias=uplink-7",
    "lldp.bond0.via=LLDP\r",
    "lldp.bond0.chassis.mac=AA:BB:CC:00:11:22\r",
    "lldp.bond0.port.mac=aa-bb-cc-00-11-23\r",
    "lldp.bond0.port.descr=  Ethernet1/7  \r",
  ].join("\n");
  assert.deepEqual(parseLldpctl(text), {
    "eth0.100": { ...none, chassisId: "FDO2331X0AB", systemName: "tor1", portId: "uplink-7" },
    bond0: {
      ...none,
      chassisId: "aa:bb:cc:00:11:22",
      portId: "aa:bb:cc:00:11:23",
      portDescription: "Ethernet1/7",
    },
  });
});

test("VLANs: the PVID wins, several without PVID are ambiguous, a PVID-only entry counts", () => {
  const vlans = (lines: string[]) =>
    parseLldpctl(["lldp.eth0.via=LLDP", ...lines.map((l) => `lldp.eth0.${l}`)].join("\n")).eth0
      ?.vlanId;
  assert.equal(
    vlans(["vlan.vlan-id=10", "vlan=a", "vlan.vlan-id=20", "vlan.pvid=yes", "vlan=b"]),
    20,
  );
  assert.equal(vlans(["vlan.vlan-id=10", "vlan=a", "vlan.vlan-id=20", "chassis.name=s"]), null);
  assert.equal(vlans(["vlan.vlan-id=10", "vlan.vlan-id=10"]), 10);
  assert.equal(vlans(["vlan.vlan-id=0", "vlan.pvid=yes"]), undefined, "nothing usable: no entry");
  assert.equal(vlans(["vlan.vlan-id=4095", "vlan.pvid=yes", "chassis.name=s"]), null);
  assert.equal(
    vlans(["vlan.pvid=yes", "vlan.vlan-id=7", "chassis.name=s"]),
    7,
    "stray pvid ignored",
  );
});

test("a second neighbour on the same port is ignored; first value of a key wins", () => {
  const text = [
    "lldp.eth0.via=LLDP",
    "lldp.eth0.chassis.name=first",
    "lldp.eth0.chassis.name=again",
    "lldp.eth0.via=CDPv2",
    "lldp.eth0.chassis.name=second",
    "lldp.eth0.port.ifname=Gi0/1",
  ].join("\n");
  assert.deepEqual(parseLldpctl(text), { eth0: { ...none, systemName: "first" } });
});

test("junk, unsafe interface names and prototype keys", () => {
  assert.deepEqual(parseLldpctl(""), {});
  assert.deepEqual(parseLldpctl("no neighbours\n\n=\nlldp.=x\nlldp..chassis.name=x"), {});
  assert.deepEqual(parseLldpctl("lldp.a b.chassis.name=x\nlldp.-x.chassis.name=x"), {});
  assert.deepEqual(parseLldpctl("lldp.averyveryverylongname.chassis.name=x"), {});
  const proto = parseLldpctl("lldp.__proto__.chassis.name=evil\nlldp.constructor.port.ifname=p");
  assert.deepEqual(Object.keys(proto), ["__proto__", "constructor"]);
  assert.equal(Object.getPrototypeOf(proto), Object.prototype);
  assert.equal(Object.getOwnPropertyDescriptor(proto, "__proto__")?.value.systemName, "evil");
});

// --- properties -------------------------------------------------------------------------------

const REAL = [
  `${NETBOX}lldpctl-keyvalue-223.txt`,
  `${NETBOX}lldpctl-keyvalue-cumulus.txt`,
  `${NETBOX}lldpctl-keyvalue-dedibox1.txt`,
  `${NETBOX}lldpctl-keyvalue-dedibox2.txt`,
  `${NETBOX}lldpctl-keyvalue-qfx.txt`,
  `${NETNS}lldpctl.txt`,
].map(read);

function check(result: Record<string, LldpNeighbor>) {
  for (const [name, neighbour] of Object.entries(result)) {
    assert.ok(isSafeIfname(name), name);
    LldpNeighbor.parse(neighbour);
    assert.ok(Object.values(neighbour).some((v) => v !== null));
  }
}

const ifname = fc.oneof(
  fc.constantFrom("eth0", "eno1", "eth0.100", "__proto__", "a b"),
  fc.string({ maxLength: 18 }),
);
const key = fc.oneof(
  fc.constantFrom(
    "via",
    "rid",
    "chassis.mac",
    "chassis.local",
    "chassis.name",
    "port.ifname",
    "port.mac",
    "port.local",
    "port.descr",
    "vlan.vlan-id",
    "vlan.pvid",
    "vlan",
  ),
  fc.string({ maxLength: 12 }),
);
const value = fc.oneof(
  fc.constantFrom(
    "LLDP",
    "yes",
    "300",
    "0",
    "4096",
    "-1",
    "aa:bb:cc:dd:ee:ff",
    "00:00:00:00:00:00",
    "",
    "N/A",
  ),
  fc.string(),
);
const line = fc.tuple(ifname, key, value).map(([i, k, v]) => `lldp.${i}.${k}=${v}`);

test("property: random text and lldpctl-shaped lines give schema-valid neighbours", () => {
  fc.assert(
    fc.property(
      fc.oneof(
        fc.string(),
        fc.array(fc.oneof(line, fc.string()), { maxLength: 40 }).map((l) => l.join("\n")),
      ),
      (text) => check(parseLldpctl(text)),
    ),
    { numRuns: 500 },
  );
});

test("property: truncated and mutated real captures stay schema-valid", () => {
  assertSurvivesMutations(REAL, (text) => check(parseLldpctl(text)), 300);
});

test("property: shuffling other interfaces' lines around does not change a neighbour", () => {
  const qfx = read(`${NETBOX}lldpctl-keyvalue-qfx.txt`).trimEnd().split("\n");
  const expected = parseLldpctl(qfx.join("\n"));
  const eth0 = qfx.filter((l) => l.startsWith("lldp.eth0."));
  const eth1 = qfx.filter((l) => l.startsWith("lldp.eth1."));
  fc.assert(
    fc.property(
      fc.array(fc.boolean(), { minLength: eth0.length + eth1.length, maxLength: 60 }),
      (picks) => {
        const a = [...eth0];
        const b = [...eth1];
        const merged: string[] = [];
        for (const pick of picks) {
          const next = (pick ? a : b).shift() ?? (pick ? b : a).shift();
          if (next !== undefined) merged.push(next);
        }
        merged.push(...a, ...b);
        assert.deepEqual(parseLldpctl(merged.join("\n")), expected);
      },
    ),
    { numRuns: 100 },
  );
});

// --- collector --------------------------------------------------------------------------------

test("probe: exact argv, file, root only", () => {
  assert.equal(LLDPCTL_PROBE.file, "lldpctl.txt");
  assert.deepEqual(LLDPCTL_PROBE.source, {
    kind: "command",
    argv: ["lldpctl", "-f", "keyvalue"],
    versionArgv: ["-v"],
  });
  assert.equal(LLDPCTL_PROBE.needsRoot, true);
});

test("collectLldp: replay of the lldpd capture", async () => {
  const out = await collectLldp(await replayRunner(new URL(NETNS, FIXTURES).pathname));
  assert.deepEqual(Object.keys(out.value), ["eno1"]);
  assert.equal(out.value.eno1?.portId, "swp12");
  assert.deepEqual(out.reports, [
    {
      name: "lldpctl",
      status: "ok",
      durationMs: 0,
      command: "replay lldpctl.txt",
      exitCode: null,
      message: null,
    },
  ]);
});

test("collectLldp: this machine without lldpd (recorded failure) says so", async () => {
  const out = await collectLldp(
    await replayRunner(new URL("this-machine-extra-tools/", FIXTURES).pathname),
  );
  assert.deepEqual(out.value, {});
  assert.equal(out.reports[0]?.status, "failed");
  assert.equal(out.reports[0]?.exitCode, 1);
  assert.match(
    out.reports[0]?.message ?? "",
    /^lldpd is not running: .*unable to connect to socket/,
  );
});

test("collectLldp: not installed, not root, not captured, timeout: empty record", async () => {
  for (const [status, message] of [
    ["skipped", "lldpctl: not installed"],
    ["skipped", "requires root"],
    ["timeout", "timed out after 10000 ms"],
  ] as const) {
    const fake = fakeRunner({ status, message, exitCode: null });
    const out = await collectLldp(fake.runner);
    assert.deepEqual(fake.probes, [LLDPCTL_PROBE]);
    assert.deepEqual(out.value, {});
    assert.equal(out.reports[0]?.status, status);
    assert.equal(out.reports[0]?.message, message);
  }
  const empty = mkdtempSync(join(tmpdir(), "recon-lldp-"));
  try {
    const out = await collectLldp(await replayRunner(empty));
    assert.deepEqual(out.value, {});
    assert.equal(out.reports[0]?.message, "not captured");
    // lldpd running, no neighbour heard yet: empty output, ok.
    writeFileSync(join(empty, "lldpctl.txt"), "");
    const quiet = await collectLldp(await replayRunner(empty));
    assert.deepEqual(quiet.value, {});
    assert.equal(quiet.reports[0]?.status, "ok");
  } finally {
    rmSync(empty, { recursive: true, force: true });
  }
});
