// OCS export, pure part: every fixture machine maps to well-formed XML that reads back to the
// mapping (a strict reader below: a mismatched tag, a bare `<` or `&`, or a character XML 1.0
// forbids fails it), escaping, units, the DEVICEID rule, and the sender against a loopback
// server that answers as OCS does (zlib both ways; an error page on refusal). The real server
// is test/export/ocs-server.test.ts.
import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { test } from "node:test";
import { deflateSync, inflateSync } from "node:zlib";
import {
  OCS_CHECKSUM,
  type OcsFields,
  ocsDeviceId,
  ocsXml,
  parseOcsReply,
  sendOcs,
  toOcs,
  xmlText,
} from "../../agent/export/ocs.ts";
import { replay, replayAll, withNics } from "./fixtures.ts";

interface XmlElement {
  name: string;
  children: XmlElement[];
  text: string;
}

const ENTITIES: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };
const XML_CHAR = /^[\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]*$/u;

/** A strict reader for element-only XML (no attributes, as the exporter writes it). Throws. */
function readXml(xml: string): XmlElement {
  if (!XML_CHAR.test(xml)) throw new Error("character not allowed in XML 1.0");
  let i = 0;
  const declaration = /^<\?xml [^?]*\?>\s*/.exec(xml);
  if (declaration) i = declaration[0].length;
  const decode = (raw: string): string => {
    if (/<|&(?!(amp|lt|gt|quot|apos|#\d+|#x[0-9a-f]+);)/i.test(raw)) {
      throw new Error(`bare < or & in ${JSON.stringify(raw)}`);
    }
    return raw.replace(/&(#x[0-9a-f]+|#\d+|\w+);/gi, (_, e: string) =>
      e.startsWith("#x") || e.startsWith("#X")
        ? String.fromCodePoint(Number.parseInt(e.slice(2), 16))
        : e.startsWith("#")
          ? String.fromCodePoint(Number(e.slice(1)))
          : (ENTITIES[e] ?? ""),
    );
  };
  const parse = (): XmlElement => {
    const open = /^<([A-Z_][A-Z0-9_]*)>/i.exec(xml.slice(i));
    if (!open?.[1]) throw new Error(`expected an element at ${i}: ${xml.slice(i, i + 30)}`);
    const name = open[1];
    i += open[0].length;
    const children: XmlElement[] = [];
    let text = "";
    for (;;) {
      const next = xml.indexOf("<", i);
      if (next < 0) throw new Error(`<${name}> not closed`);
      text += xml.slice(i, next);
      i = next;
      if (xml.startsWith(`</${name}>`, i)) {
        i += name.length + 3;
        break;
      }
      if (xml.startsWith("</", i)) throw new Error(`mismatched close at ${i} inside <${name}>`);
      children.push(parse());
    }
    return { name, children, text: children.length > 0 ? text.trim() : decode(text) };
  };
  const root = parse();
  if (xml.slice(i).trim() !== "") throw new Error("content after the root element");
  return root;
}

function childText(element: XmlElement, name: string): string | undefined {
  return element.children.find((c) => c.name === name)?.text;
}

/** CONTENT read back into the mapping's shape: section name -> records. */
function readContent(xml: string): {
  deviceId: string | undefined;
  sections: Map<string, OcsFields[]>;
} {
  const root = readXml(xml);
  assert.equal(root.name, "REQUEST");
  assert.equal(childText(root, "QUERY"), "INVENTORY");
  const content = root.children.find((c) => c.name === "CONTENT");
  assert.ok(content);
  const sections = new Map<string, OcsFields[]>();
  for (const section of content.children) {
    const record = Object.fromEntries(section.children.map((c) => [c.name, c.text]));
    assert.equal(
      section.children.every((c) => c.children.length === 0),
      true,
      section.name,
    );
    sections.set(section.name, [...(sections.get(section.name) ?? []), record]);
  }
  return { deviceId: childText(root, "DEVICEID"), sections };
}

test("the reader refuses what an XML parser refuses (so the tests below can fail)", () => {
  assert.throws(() => readXml("<A><B>x</A></B>"), /mismatched/);
  assert.throws(() => readXml("<A>a & b</A>"), /bare/);
  assert.throws(() => readXml("<A>a < b</A>"), /expected an element/);
  assert.throws(() => readXml("<A>\u0001</A>"), /not allowed/);
  assert.equal(readXml("<A>a &amp; b &lt;c&gt;</A>").text, "a & b <c>");
});

test("every fixture maps to well-formed XML that reads back to the mapping", async () => {
  const docs = await replayAll();
  const all = [...docs.entries(), ["with-nics", await withNics("ipmi-sim-openipmi")] as const];
  for (const [machine, doc] of all) {
    const inventory = toOcs(doc);
    const { deviceId, sections } = readContent(ocsXml(inventory));
    assert.equal(deviceId, ocsDeviceId(doc), machine);
    for (const [name, value] of Object.entries(inventory.content) as [
      string,
      OcsFields | OcsFields[],
    ][]) {
      const records = (Array.isArray(value) ? value : [value]).filter(
        (r) => Object.keys(r).length > 0,
      );
      assert.deepEqual(sections.get(name) ?? [], records, `${machine} ${name}`);
      for (const record of records) {
        for (const [key, text] of Object.entries(record)) {
          assert.notEqual(text, "", `${machine} ${name}.${key} empty`);
          assert.doesNotMatch(text, /^(not specified|unknown|to be filled by o\.e\.m\.)$/i);
        }
      }
    }
    assert.equal(inventory.content.HARDWARE.NAME, doc.nodeId, "never the live image's hostname");
    assert.equal(inventory.content.HARDWARE.CHECKSUM, String(OCS_CHECKSUM));
    assert.equal(inventory.content.MEMORIES.length, doc.memory.dimms.length, machine);
    assert.equal(inventory.content.STORAGES.length, doc.disks.length, machine);
    assert.equal(inventory.content.CONTROLLERS.length, doc.pciDevices.length, machine);
  }
});

test("text is escaped; characters XML cannot carry become U+FFFD; null is left out", async () => {
  const doc = await replay("dell-poweredge-r740-linuxhw");
  doc.system.serialNumber = 'A&B <C> "D" \u0001E\uFFFF';
  doc.system.productName = null;
  const xml = ocsXml(toOcs(doc));
  const bios = readContent(xml).sections.get("BIOS")?.[0];
  assert.equal(bios?.SSN, 'A&B <C> "D" \uFFFDE\uFFFD');
  assert.equal(bios?.SMODEL, undefined, "unknown model: no element, not a placeholder");
  assert.doesNotMatch(xml, /<SMODEL>/);
  assert.equal(xmlText("x\uD800y"), "x\uFFFDy", "a lone surrogate");
});

test("units: memory and disks in MB (2^20 bytes); CPUs per processor; PROCESSORS is MHz", async () => {
  const doc = await replay("dell-poweredge-r740-linuxhw");
  const ocs = toOcs(doc);
  assert.equal(ocs.content.HARDWARE.MEMORY, String(256 * 1024));
  assert.equal(
    ocs.content.MEMORIES[0]?.CAPACITY,
    String((doc.memory.dimms[0]?.sizeBytes ?? 0) / 2 ** 20),
  );
  assert.equal(ocs.content.CPUS.length, doc.processors.length);
  assert.equal(ocs.content.HARDWARE.PROCESSORN, String(doc.processors.length));
  const first = doc.processors[0];
  assert.equal(
    ocs.content.HARDWARE.PROCESSORS,
    String(first?.currentSpeedMhz ?? first?.maxSpeedMhz),
  );
  assert.equal(ocs.content.BIOS.SMODEL, "PowerEdge R740");
  const disks = [...(await replayAll()).values()].find((d) => d.disks.some((k) => k.sizeBytes));
  assert.ok(disks);
  const disk = disks.disks.find((k) => k.sizeBytes);
  assert.ok(
    toOcs(disks).content.STORAGES.some(
      (s) =>
        s.NAME === disk?.name &&
        s.DISKSIZE === String(Math.round((disk?.sizeBytes ?? 0) / 2 ** 20)),
    ),
  );
});

test("NICs: one entry per address with mask and subnet; the BMC is the `bmc` entry", async () => {
  const doc = await withNics("ipmi-sim-openipmi");
  const networks = toOcs(doc).content.NETWORKS;
  const eno1 = networks.filter((n) => n.DESCRIPTION === "eno1");
  assert.deepEqual(
    eno1.map((n) => [n.IPADDRESS, n.IPMASK, n.IPSUBNET]),
    [
      ["10.13.37.50", "255.255.255.0", "10.13.37.0"],
      ["fe80::3eec:efff:fe10:2030", "64", undefined],
    ],
  );
  assert.equal(eno1[0]?.MACADDR, "3c:ec:ef:10:20:30");
  assert.equal(eno1[0]?.SPEED, "10000 Mb/s");
  assert.equal(eno1[0]?.STATUS, "Up");
  assert.equal(networks.find((n) => n.DESCRIPTION === "eno2")?.IPADDRESS, undefined);
  const bmc = networks.filter((n) => n.DESCRIPTION === "bmc");
  assert.equal(bmc.length, 1);
  assert.ok(doc.bmc?.macAddress);
  assert.equal(bmc[0]?.MACADDR, doc.bmc.macAddress);
  assert.equal(bmc[0]?.IPADDRESS, doc.bmc.ipv4Address ?? undefined);
  assert.equal(bmc[0]?.IPMASK, doc.bmc.netmask ?? undefined);
});

test("DEVICEID: the server's format, the same on every collection of the same machine", async () => {
  const a = await replay("dell-poweredge-r740-linuxhw");
  const b = {
    ...(await replay("dell-poweredge-r740-linuxhw")),
    collectedAt: "2026-12-24T08:00:00.000Z",
    hostname: "other",
  };
  assert.equal(ocsDeviceId(a), ocsDeviceId(b));
  // Apache::Ocsinventory::Server::System::_check_deviceid's rule.
  assert.match(ocsDeviceId(a), /^.+-\d{4}(?:-\d{2}){5}$/);
  assert.ok(ocsDeviceId(a).startsWith(a.nodeId));
  assert.notEqual(ocsDeviceId(a), ocsDeviceId({ ...a, nodeId: "other-node" }));
});

test("sendOcs POSTs zlib as an agent does; a refusal is reported with the server's words", async () => {
  const seen: { type: string | undefined; agent: string | undefined; xml: string }[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const xml = inflateSync(Buffer.concat(chunks)).toString();
      seen.push({
        type: req.headers["content-type"],
        agent: req.headers["user-agent"],
        xml,
      });
      if (xml.includes("<SSN>REFUSE</SSN>")) {
        res.writeHead(403, { "Content-Type": "text/html" });
        res.end(
          "<html><head><title>403 Forbidden</title></head><body><h1>Forbidden</h1><p>You don't have permission.</p></body></html>",
        );
        return;
      }
      if (xml.includes("<SSN>NOREPLY</SSN>")) {
        res.writeHead(200).end(deflateSync(Buffer.from("hello")));
        return;
      }
      res.writeHead(200, { "Content-Type": "application/x-compressed" });
      res.end(
        deflateSync(
          Buffer.from(
            "<?xml version='1.0' encoding='UTF-8'?>\n<REPLY>\n  <RESPONSE>NO_ACCOUNT_UPDATE</RESPONSE>\n</REPLY>\n",
          ),
        ),
      );
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/ocsinventory`;
  const options = { url, fetch, userAgent: "recon-agent_v0.1.0" };
  try {
    const doc = await replay("dell-poweredge-r740-linuxhw");
    const inventory = toOcs(doc);
    assert.deepEqual(await sendOcs(inventory, options), {
      ok: true,
      response: "NO_ACCOUNT_UPDATE",
    });
    assert.equal(seen[0]?.type, "application/x-compress");
    assert.equal(seen[0]?.agent, "recon-agent_v0.1.0");
    assert.equal(seen[0]?.xml, ocsXml(inventory));
    doc.system.serialNumber = "REFUSE";
    assert.deepEqual(await sendOcs(toOcs(doc), options), {
      ok: false,
      reason: "OCS answered HTTP 403 Forbidden: Forbidden You don't have permission.",
    });
    doc.system.serialNumber = "NOREPLY";
    const noReply = await sendOcs(toOcs(doc), options);
    assert.equal(noReply.ok, false);
    assert.match(noReply.ok ? "" : noReply.reason, /with no REPLY: hello/);
  } finally {
    server.close();
  }
  const closed = await sendOcs(toOcs(await replay("dell-poweredge-r740-linuxhw")), options);
  assert.match(closed.ok ? "" : closed.reason, /^cannot reach /);
  assert.equal(parseOcsReply("<REPLY><RESPONSE>SEND</RESPONSE></REPLY>"), "SEND");
  assert.equal(parseOcsReply("<html>"), null);
});
