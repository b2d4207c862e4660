// Golden tests of the lan6 print and user list parsers on real outputs (values checked by hand
// against the raw files and their FACTS.md), and properties on generated input.
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { test } from "node:test";
import fc from "fast-check";
import {
  parseLan6Print,
  parseUserList,
  readLan6Print,
  readUserList,
} from "../../agent/collect/ipmi-access.ts";
import { Bmc } from "../../schema/inventory.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const read = (path: string) => readFile(`${ROOT}${path}`, "utf8");

test("parseLan6Print: HPE Gen8 iLO 4, only the active SLAAC slot", async () => {
  const text = await read("samples/ipmitool-lan6-hpe-gen8/ipmitool-lan6-print.txt");
  assert.deepEqual(parseLan6Print(text), ["fe80::5a20:ffff:feff:ffff/64"]);
  assert.equal(readLan6Print(text).problem, null);
});

test("parseLan6Print: static and DHCPv6 slots, routers are not addresses, duplicates once", () => {
  const text = [
    "IPv6 Static Address 0:",
    "    Enabled:        yes",
    "    Address:        2001:DB8::10/64",
    "    Status:         active",
    "IPv6 Static Address 1:",
    "    Enabled:        no",
    "    Address:        2001:db8::11/64",
    "    Status:         disabled",
    "IPv6 Dynamic Address 0:",
    "    Source/Type:    DHCPv6",
    "    Address:        2001:db8:0:1::2/64",
    "    Status:         active",
    "IPv6 Dynamic Address 1:",
    "    Source/Type:    DHCPv6",
    "    Address:        2001:db8::10/64",
    "    Status:         active",
    "IPv6 Dynamic Address 2:",
    "    Source/Type:    DHCPv6",
    "    Address:        ::/0",
    "    Status:         active",
    "IPv6 Dynamic Address 3:",
    "    Address:        not-an-address/64",
    "    Status:         active",
    "IPv6 Static Router 0 IP Address:",
    "    Address: 2001:db8::1",
    "    Status:  active",
  ].join("\n");
  assert.deepEqual(parseLan6Print(text), ["2001:db8::10/64", "2001:db8:0:1::2/64"]);
});

test("readLan6Print: blank (ipmi_sim: no IPv6 parameters) is honest, other text is not", () => {
  assert.deepEqual(readLan6Print(""), { value: [], problem: null });
  const other = readLan6Print("Invalid channel 5\n");
  assert.deepEqual(other.value, []);
  assert.match(other.problem ?? "", /no "IPv6 \.\.\." heading/);
});

test("parseUserList: HP iLO 3, one named user among empty slots", async () => {
  const text = await read("samples/ipmitool-sdr-elist-hp-dl360g7/ipmitool-user-list-2.txt");
  assert.deepEqual(parseUserList(text), [
    { id: 1, name: "Administrator", privilege: "ADMINISTRATOR", enabled: null },
  ]);
  assert.equal(readUserList(text).problem, null);
});

test("parseUserList: ipmi_sim capture (63 slots, unnamed ones left out)", async () => {
  const text = await read("fixtures/ipmi-sim-openipmi-sensors/ipmitool-user-list-1.txt");
  assert.deepEqual(parseUserList(text), [
    { id: 2, name: "reconed8900", privilege: "ADMINISTRATOR", enabled: null },
  ]);
});

test("parseUserList: names with spaces, other privileges, unknown privilege", () => {
  const text = [
    "ID  Name\t     Callin  Link Auth\tIPMI Msg   Channel Priv Limit",
    "2   ADMIN            false   false      true       ADMINISTRATOR",
    "3   ops team         true    true       true       OPERATOR",
    "4   monitor          true    false      true       USER",
    "5   old              true    false      false      NO ACCESS",
    "6   weird            true    false      false      Unknown (0x0A)",
  ].join("\n");
  assert.deepEqual(
    parseUserList(text).map((u) => [u.id, u.name, u.privilege]),
    [
      [2, "ADMIN", "ADMINISTRATOR"],
      [3, "ops team", "OPERATOR"],
      [4, "monitor", "USER"],
      [5, "old", "NO ACCESS"],
      [6, "weird", null],
    ],
  );
  const failed = readUserList("Get User Access command failed (channel 5, user 1)\n");
  assert.deepEqual(failed.value, []);
  assert.match(failed.problem ?? "", /no user list header or row/);
  assert.deepEqual(readUserList(""), { value: [], problem: null });
});

// --- properties ---

const userName = fc
  .string({ minLength: 1, maxLength: 16 })
  .filter((s) => /^[\x21-\x7e]+( [\x21-\x7e]+)*$/.test(s) && !/^(true|false)$/.test(s))
  .filter((s) => !/\b(true|false)\b/.test(s) && !/^\(empty user\)$/i.test(s));

test("property: a generated user list reads back id, name and privilege", () => {
  const users = fc.uniqueArray(
    fc.record({
      id: fc.integer({ min: 1, max: 63 }),
      name: userName,
      privilege: fc.constantFrom("ADMINISTRATOR", "OPERATOR", "USER", "CALLBACK", "NO ACCESS"),
    }),
    { selector: (u) => u.id, maxLength: 15 },
  );
  fc.assert(
    fc.property(users, (list) => {
      const text = [
        "ID  Name\t     Callin  Link Auth\tIPMI Msg   Channel Priv Limit",
        ...list.map(
          (u) =>
            `${String(u.id).padEnd(4)}${u.name.padEnd(17)}true    false      true       ${u.privilege}`,
        ),
      ].join("\n");
      assert.deepEqual(
        parseUserList(text).map((u) => [u.id, u.name, u.privilege]),
        list.map((u) => [u.id, u.name, u.privilege]),
      );
    }),
    { numRuns: 300 },
  );
});

test("property: the parsers never throw and stay schema-valid on any text", () => {
  const lines = fc
    .array(
      fc.oneof(
        fc.string(),
        fc.constantFrom(
          "IPv6 Static Address 0:",
          "IPv6 Dynamic Address 7:",
          "    Address:        fe80::1/64",
          "    Address:        fe80::1/129",
          "    Status:         active",
          "1   x                true    false      true       ADMINISTRATOR",
          "99999999999999999999 y true false true USER",
        ),
      ),
      { maxLength: 30 },
    )
    .map((l) => l.join("\n"));
  fc.assert(
    fc.property(fc.oneof(fc.string({ maxLength: 2000 }), lines), (text) => {
      Bmc.shape.ipv6Addresses.parse(parseLan6Print(text));
      Bmc.shape.users.parse(parseUserList(text));
      readLan6Print(text);
      readUserList(text);
    }),
    { numRuns: 500 },
  );
  for (const bad of [undefined, null, 42] as unknown as string[]) {
    parseLan6Print(bad);
    parseUserList(bad);
  }
});
