import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { z } from "zod";
import { deriveNodeId } from "../../agent/collect/identity.ts";
import {
  buildNics,
  isBmcUsbNic,
  parseIpAddr,
  parseSysNet,
  pciAddressFromDevicePath,
  readSysNet,
} from "../../agent/collect/net.ts";
import { Nic } from "../../schema/inventory.ts";
import { sampleInventory } from "../support/sample-inventory.ts";

// Captured on the development machine (Debian 12 VM, virtio NIC), `ip -j addr`, trimmed to two links.
const IP_ADDR = JSON.stringify([
  {
    ifindex: 1,
    ifname: "lo",
    flags: ["LOOPBACK", "UP", "LOWER_UP"],
    mtu: 65536,
    operstate: "UNKNOWN",
    link_type: "loopback",
    address: "00:00:00:00:00:00",
    addr_info: [{ family: "inet", local: "127.0.0.1", prefixlen: 8, scope: "host" }],
  },
  {
    ifindex: 4,
    ifname: "eth0",
    flags: ["BROADCAST", "MULTICAST", "UP", "LOWER_UP"],
    mtu: 1400,
    operstate: "UP",
    link_type: "ether",
    address: "02:fc:00:00:00:01",
    addr_info: [
      { family: "inet", local: "192.0.2.2", prefixlen: 24, scope: "global" },
      { family: "inet6", local: "fd00::2", prefixlen: 64, scope: "global" },
      { family: "inet6", local: "fe80::fc:ff:fe00:1", prefixlen: 64, scope: "link" },
    ],
  },
  {
    ifindex: 5,
    ifname: "br0",
    flags: ["BROADCAST", "UP"],
    mtu: 1500,
    operstate: "DOWN",
    link_type: "ether",
    address: "aa:bb:cc:00:00:01",
    addr_info: [],
  },
]);
const SYS_NET = JSON.stringify({
  eth0: {
    address: "02:fc:00:00:00:01",
    carrier: "1",
    speed: "-1",
    mtu: "1400",
    operstate: "up",
    type: "1",
    driver: "virtio_net",
    devicePath: "/sys/devices/pci0000:00/0000:00:03.0/virtio2",
  },
  lo: {
    address: "00:00:00:00:00:00",
    carrier: "1",
    speed: null,
    mtu: "65536",
    operstate: "unknown",
    type: "772",
    driver: null,
    devicePath: null,
  },
  br0: {
    address: "aa:bb:cc:00:00:01",
    carrier: "0",
    speed: null,
    mtu: "1500",
    operstate: "down",
    type: "1",
    driver: null,
    devicePath: null,
  },
});

test("NICs: physical interfaces only, with addresses, driver and PCI address", () => {
  const nics = buildNics(parseIpAddr(IP_ADDR), parseSysNet(SYS_NET));
  assert.deepEqual(nics, [
    {
      name: "eth0",
      macAddress: "02:fc:00:00:00:01",
      permanentMacAddress: null,
      driver: "virtio_net",
      pciAddress: "0000:00:03.0",
      speedMbps: null, // sysfs says -1: unknown
      linkUp: true,
      mtu: 1400,
      ipv4: ["192.0.2.2/24"],
      ipv6: ["fd00::2/64", "fe80::fc:ff:fe00:1/64"],
      lldp: null,
      firmwareVersion: null,
      numaNode: null,
      bmcUsb: false,
    },
  ]);
});

test("without a sysfs capture, Ethernet links from ip stand in (bridges included, loopback not)", () => {
  const nics = buildNics(parseIpAddr(IP_ADDR), null);
  assert.deepEqual(
    nics.map((n) => n.name),
    ["br0", "eth0"],
  );
  assert.equal(nics[0]?.linkUp, false);
});

test("PCI address from a sysfs device path", () => {
  assert.equal(
    pciAddressFromDevicePath("/sys/devices/pci0000:3a/0000:3a:00.0/0000:3b:00.1"),
    "0000:3b:00.1",
  );
  assert.equal(pciAddressFromDevicePath("/sys/devices/platform/soc/d0030000.ethernet"), null);
  assert.equal(pciAddressFromDevicePath(null), null);
});

test("reading this machine's /sys/class/net gives loopback without a device", async () => {
  const sys = parseSysNet(await readSysNet());
  assert.ok(sys.lo, "lo is always there");
  assert.equal(sys.lo?.devicePath, null);
  assert.equal(
    buildNics([], sys).some((n) => n.name === "lo"),
    false,
  );
});

test("parsers never throw; output is schema-valid", () => {
  fc.assert(
    fc.property(fc.oneof(fc.string(), fc.json()), fc.oneof(fc.string(), fc.json()), (a, b) => {
      z.array(Nic).parse(buildNics(parseIpAddr(a), parseSysNet(b)));
    }),
  );
  fc.assert(
    fc.property(fc.nat(IP_ADDR.length), fc.nat(SYS_NET.length), (i, j) => {
      z.array(Nic).parse(
        buildNics(parseIpAddr(IP_ADDR.slice(0, i)), parseSysNet(SYS_NET.slice(0, j))),
      );
    }),
  );
});

test("bmcUsb: a NIC on a USB network-function driver is the BMC's, not a data NIC", () => {
  // sysfs as it is for the BMC host interface on cdc_ether (USB device path) and a PCI NIC.
  const nics = buildNics([], {
    usb0: {
      driver: "cdc_ether",
      devicePath: "/sys/devices/pci0000:00/0000:00:14.0/usb1/1-3/1-3:1.0",
    },
    enp0s20f0u3: {
      driver: "rndis_host",
      devicePath: "/sys/devices/pci0000:00/0000:00:14.0/usb1/1-3/1-3:1.0",
    },
    eno1: { driver: "igb", devicePath: "/sys/devices/pci0000:00/0000:00:1c.0/0000:02:00.0" },
  });
  assert.deepEqual(
    nics.map((n) => [n.name, n.bmcUsb]),
    [
      ["eno1", false],
      ["enp0s20f0u3", true],
      ["usb0", true],
    ],
  );
  // Without a driver (no sysfs): the names BMCs give it.
  assert.equal(isBmcUsbNic({ name: "usb0", driver: null }), true);
  assert.equal(isBmcUsbNic({ name: "idrac", driver: null }), true);
  assert.equal(isBmcUsbNic({ name: "eth0", driver: null }), false);
  // A known PCI driver wins over a BMC-like name.
  assert.equal(isBmcUsbNic({ name: "usb0", driver: "e1000e" }), false);
});

test("a BOOTIF naming the BMC's USB NIC does not give the node id", () => {
  const doc = sampleInventory();
  doc.system = { ...doc.system, uuid: null, serialNumber: null };
  doc.baseboard = { ...doc.baseboard, serialNumber: null };
  doc.chassis = { ...doc.chassis, serialNumber: null };
  const [usb] = buildNics([], {
    usb0: {
      driver: "cdc_ether",
      address: "b4:96:91:3c:5e:99",
      devicePath: "/sys/devices/pci0000:00/0000:00:14.0/usb1/1-3/1-3:1.0",
    },
  });
  assert.ok(usb?.bmcUsb);
  doc.nics = [...doc.nics, usb as Nic];
  doc.boot = { ...doc.boot, bootMac: "b4:96:91:3c:5e:99" };
  assert.notEqual(deriveNodeId(doc).nodeIdSource, "bootMac");
  doc.boot = { ...doc.boot, bootMac: "b4:96:91:3c:5e:11" };
  assert.deepEqual(deriveNodeId(doc), { nodeId: "mac-b496913c5e11", nodeIdSource: "bootMac" });
});
