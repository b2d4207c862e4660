// Ironic export into a real Ironic 21.4 with ironic-inspector 11.1 (test/support/ironic-server.ts):
// `recon-agent export ironic --url` feeds the inspector's /v1/continue with the documents of six
// fixture machines; each must come back out of Ironic's REST API as a node with its ports (MACs,
// PXE flag, the switch port from LLDP) and the properties the inspector derives (cpus, memory_mb,
// local_gb, cpu_arch), expected values computed from the documents by the inspector's own rules.
// Documents the inspector refuses (the same MACs again, no NIC at all) fail for their node with
// the inspector's answer while the nodes after them are still imported; a second inspection of
// an enrolled node updates it in place.
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { exportCommand } from "../../agent/export/command.ts";
import type { NodeResult } from "../../agent/export/summary.ts";
import { type Inventory, Inventory as InventorySchema } from "../../schema/inventory.ts";
import { ironicServerSkip, startIronicServer } from "../support/ironic-server.ts";
import { replay, withNics } from "./fixtures.ts";

const MACHINES = [
  "this-machine-debian12",
  "dell-poweredge-r740-linuxhw",
  "hpe-proliant-dl380-gen10-linuxhw",
  "lenovo-thinksystem-sr650-v2-linuxhw",
  "supermicro-as-4124gs-tnr-linuxhw",
  "ipmi-sim-openipmi",
];
const GIB = 2 ** 30;

interface Port {
  address: string;
  node_uuid: string;
  pxe_enabled: boolean;
  local_link_connection: Record<string, string>;
}
interface Node {
  uuid: string;
  driver: string;
  provision_state: string;
  properties: Record<string, string>;
  driver_info: Record<string, string>;
}

/**
 * No fixture captured `ip` or ethtool, so each machine gets two NICs of its own (MACs from its
 * position): the even ones PXE-boot from eno2, the odd ones have no BOOTIF and an address on
 * both NICs. eno1 keeps the LLDP neighbour withNics gives it.
 */
async function machineWithNics(machine: string, index: number): Promise<Inventory> {
  const doc = await withNics(machine);
  const mac = (n: number) => `52:54:00:ab:${index.toString(16).padStart(2, "0")}:0${n}`;
  doc.nics = doc.nics.map((nic, n) => ({
    ...nic,
    macAddress: mac(n + 1),
    permanentMacAddress: mac(n + 1),
    ipv4: [`10.13.${40 + index}.${n + 10}/24`],
  }));
  doc.boot.bootMac = index % 2 === 0 ? mac(2) : null;
  return InventorySchema.parse(doc);
}

/** The inspector's rules (plugins/standard.py, defaults): what each node should look like. */
function expected(doc: Inventory) {
  const threads = doc.processors.map((p) => p.threads);
  const cpus =
    doc.cpu.logicalCpus ??
    (threads.length > 0 && threads.every((t) => t !== null)
      ? threads.reduce((a, b) => (a ?? 0) + (b ?? 0), 0)
      : null);
  const disks = doc.disks.filter(
    (d) => d.reachedThrough === null && d.removable !== true && (d.sizeBytes ?? 0) >= 4 * GIB,
  );
  const root = disks.sort((a, b) => (a.sizeBytes ?? 0) - (b.sizeBytes ?? 0))[0];
  const properties: Record<string, string> = {
    // disk_partitioning_spacing: one GiB less than the root disk; 0 without one.
    local_gb: String(root ? Math.floor((root.sizeBytes ?? 0) / GIB) - 1 : 0),
  };
  if (cpus) properties.cpus = String(cpus);
  if (cpus && doc.cpu.architecture) properties.cpu_arch = doc.cpu.architecture;
  if (doc.memory.totalBytes)
    properties.memory_mb = String(Math.round(doc.memory.totalBytes / 2 ** 20));
  // add_ports = pxe: only the PXE NIC when BOOTIF names one, else every NIC with an address.
  const ports = doc.nics
    .filter((n) => (doc.boot.bootMac ? n.macAddress === doc.boot.bootMac : n.ipv4.length > 0))
    .map((n) => n.macAddress as string)
    .sort();
  return { properties, ports };
}

async function exportTo(url: string, dir: string) {
  let stdout = "";
  let failure: unknown = null;
  try {
    await exportCommand(["ironic", "--from", dir, "--url", url, "--json", "--quiet"], {
      stdout: (text) => {
        stdout += text;
      },
      stderr: () => undefined,
    });
  } catch (error) {
    failure = error;
  }
  const { results } = JSON.parse(stdout) as { results: NodeResult[] };
  return { results, failure };
}

test("six fixture machines into a real Ironic through ironic-inspector; refusals fail alone", {
  skip: ironicServerSkip(),
  timeout: 170_000,
}, async (t) => {
  const started = Date.now();
  const server = await startIronicServer();
  t.after(() => server.stop());
  t.diagnostic(
    `Ironic up in ${server.ironicUpMs} ms, ironic-inspector up in ${server.inspectorUpMs} ms`,
  );
  console.log(
    `ironic-server: Ironic up in ${server.ironicUpMs} ms, ironic-inspector in ${server.inspectorUpMs} ms`,
  );
  const dir = await mkdtemp(join(tmpdir(), "recon-ironic-docs-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const docs = await Promise.all(MACHINES.map(machineWithNics));
  const first = docs[0] as Inventory;
  // Refused: the first machine's NICs again under another node id (the inspector: 400 "Port
  // ... already exists"), and a document without any NIC, as every bare fixture is (the
  // exporter: the inspector would refuse it only after enrolling an empty node).
  const duplicate = { ...structuredClone(first), nodeId: `${first.nodeId}-copy` };
  const noNics = await replay("huawei-1288h-v5-linuxhw");
  assert.equal(noNics.nics.length, 0);
  // File names fix the order: each refused one sits before machines still to be imported.
  await Promise.all([
    ...docs.map((doc, i) => writeFile(join(dir, `${i}-${MACHINES[i]}.json`), JSON.stringify(doc))),
    writeFile(join(dir, "1a-duplicate.json"), JSON.stringify(duplicate)),
    writeFile(join(dir, "3a-no-nics.json"), JSON.stringify(noNics)),
  ]);

  const { results, failure } = await exportTo(server.inspectorUrl, dir);
  assert.equal((failure as { code?: string } | null)?.code, "E_EXPORT_FAILED", String(failure));
  const byNode = new Map(results.map((r) => [r.node, r]));
  assert.equal(results.length, MACHINES.length + 2);
  const dup = byNode.get(duplicate.nodeId);
  assert.equal(dup?.outcome, "failed");
  assert.match(
    dup?.detail ?? "",
    /^inspector answered HTTP 400: .*Port 52:54:00:ab:00:0\d already exists/,
  );
  const bare = byNode.get(noNics.nodeId);
  assert.equal(bare?.outcome, "failed");
  // Not sent: the inspector would enroll an empty node before refusing it.
  assert.match(bare?.detail ?? "", /^no NIC with a MAC address/);

  const { nodes } = await server.ironicApi<{ nodes: Node[] }>("/v1/nodes?detail=true");
  assert.equal(
    nodes.length,
    MACHINES.length,
    "one node per accepted document, none for a refused one",
  );
  const { ports } = await server.ironicApi<{ ports: Port[] }>("/v1/ports?detail=true");
  for (const doc of docs) {
    const result = byNode.get(doc.nodeId);
    assert.equal(result?.outcome, "created", `${doc.nodeId}: ${result?.detail}`);
    const uuid = /Ironic node ([0-9a-f-]{36})/.exec(result?.detail ?? "")?.[1];
    const node = nodes.find((n) => n.uuid === uuid);
    assert.ok(node, `${doc.nodeId}: node ${uuid} in Ironic`);
    const want = expected(doc);
    assert.deepEqual(node.properties, want.properties, doc.nodeId);
    assert.equal(node.driver, "fake-hardware");
    assert.equal(node.provision_state, "enroll");
    if (doc.bmc?.ipv4Address) assert.equal(node.driver_info.ipmi_address, doc.bmc.ipv4Address);
    const own = ports.filter((p) => p.node_uuid === node.uuid);
    assert.deepEqual(own.map((p) => p.address).sort(), want.ports, `${doc.nodeId}: ports`);
    // What IPA's inventory has no place for, kept by the inspector as `extra`; and the LLDP
    // neighbour as its lldp_basic hook parsed the TLVs.
    const data = await server.inspectorApi<{
      extra: Record<string, Record<string, Record<string, string | number>>>;
      all_interfaces: Record<string, { lldp_processed?: Record<string, unknown> }>;
    }>(`/v1/introspection/${node.uuid}/data`);
    assert.equal(data.extra.recon?.node?.id, doc.nodeId);
    const banks = Object.keys(data.extra.memory ?? {}).filter((k) => k.startsWith("bank:"));
    assert.equal(banks.length, doc.memory.dimms.length, `${doc.nodeId}: DIMMs in extra`);
    doc.memory.dimms.forEach((m, i) => {
      if (m.serialNumber)
        assert.equal(String(data.extra.memory?.[`bank:${i}`]?.serial), m.serialNumber);
    });
    for (const nic of doc.nics) {
      const lldp = data.all_interfaces[nic.name]?.lldp_processed;
      if (!nic.lldp) {
        assert.equal(lldp, undefined, nic.name);
        continue;
      }
      assert.equal(lldp?.switch_chassis_id, nic.lldp.chassisId);
      assert.equal(lldp?.switch_port_id, nic.lldp.portId);
      assert.equal(lldp?.switch_system_name, nic.lldp.systemName);
      assert.equal(lldp?.switch_port_untagged_vlan_id, nic.lldp.vlanId);
    }
    for (const port of own) {
      // The inspector marks the BOOTIF port PXE-enabled; without BOOTIF no port is.
      assert.equal(port.pxe_enabled, port.address === doc.boot.bootMac, port.address);
      const lldp = doc.nics.find((n) => n.macAddress === port.address)?.lldp;
      // The switch port on the Ironic port, through lldp_basic and local_link_connection.
      assert.deepEqual(
        port.local_link_connection,
        lldp ? { switch_id: lldp.chassisId, port_id: lldp.portId } : {},
        port.address,
      );
    }
  }
  // The machines cover each property (so the comparison above is not between empty sets).
  const wanted = docs.map((d) => expected(d).properties);
  for (const key of ["cpus", "cpu_arch", "memory_mb"]) {
    assert.ok(
      wanted.some((p) => p[key]),
      `a machine with ${key}`,
    );
  }
  assert.ok(
    wanted.some((p) => Number(p.local_gb) > 0),
    "a machine with a root disk",
  );
  assert.ok(
    ports.some((p) => p.local_link_connection.switch_id),
    "at least one port got its switch from LLDP",
  );

  // A second inspection of a known node (introspection started by the operator, boot not
  // managed) updates it in place: one DIMM fewer is less memory, and no new node.
  const target = docs[1] as Inventory;
  const targetUuid = /Ironic node ([0-9a-f-]{36})/.exec(
    byNode.get(target.nodeId)?.detail ?? "",
  )?.[1];
  const start = await fetch(
    `${server.inspectorUrl}/v1/introspection/${targetUuid}?manage_boot=false`,
    {
      method: "POST",
    },
  );
  assert.equal(start.status, 202, await start.text());
  const changed = structuredClone(target);
  const removed = changed.memory.dimms.pop();
  assert.ok(removed?.sizeBytes && changed.memory.totalBytes);
  changed.memory.totalBytes -= removed.sizeBytes;
  const again = await mkdtemp(join(tmpdir(), "recon-ironic-again-"));
  t.after(() => rm(again, { recursive: true, force: true }));
  await writeFile(join(again, "changed.json"), JSON.stringify(changed));
  const second = await exportTo(server.inspectorUrl, again);
  assert.equal(second.failure, null, String(second.failure));
  assert.equal(second.results[0]?.outcome, "updated", second.results[0]?.detail);
  const node = await server.ironicApi<Node>(`/v1/nodes/${targetUuid}`);
  assert.equal(node.properties.memory_mb, expected(changed).properties.memory_mb);
  assert.notEqual(node.properties.memory_mb, expected(target).properties.memory_mb);
  const after = await server.ironicApi<{ nodes: Node[] }>("/v1/nodes");
  assert.equal(after.nodes.length, MACHINES.length);
  console.log(`ironic-server: test took ${Date.now() - started} ms`);
});
