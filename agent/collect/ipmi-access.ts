// How the BMC is reached: its IPv6 addresses (`ipmitool lan6 print <channel>`) and the names of
// its user accounts (`ipmitool user list <channel>`). Pure parsers only; the probes live in
// ipmitool.ts. Passwords are never read: no `user test`, no command that touches them.
import { isIPv6 } from "node:net";
import type { Bmc } from "../../schema/inventory.ts";
import { cleanString } from "../normalize.ts";
import { binaryProblem, isBlank, type Parsed } from "./types.ts";

export type BmcUser = Bmc["users"][number];

const ADDRESS_BLOCK = /^IPv6 (Static|Dynamic) Address \d+:\s*$/;
const LAN6_MARKERS =
  /^IPv6(\/IPv4)? (Support|Addressing Enables|Status|Static Address|Dynamic Address)/m;

/** "2001:db8::1/64" -> the same, lowercase; the unspecified "::" and malformed values -> null. */
function addressWithPrefix(value: string): string | null {
  const match = /^([0-9a-fA-F:.]+)\/(\d{1,3})$/.exec(value.trim());
  if (!match?.[1] || !match[2]) return null;
  const prefix = Number(match[2]);
  if (prefix > 128 || !isIPv6(match[1])) return null;
  const address = match[1].toLowerCase();
  if (/^[0:]+$/.test(address)) return null;
  return `${address}/${prefix}`;
}

/**
 * Parses `ipmitool lan6 print <channel>` into the addresses the BMC holds: every static or
 * dynamic address slot whose Status is active, unspecified (::) slots left out, in output
 * order, once each. Router and DUID blocks are not addresses of the BMC. Never throws. Real
 * input (HPE ProLiant Gen8 iLO 4):
 *   IPv6 Static Address 0:
 *       Enabled:        no
 *       Address:        ::/0
 *       Status:         disabled
 *   IPv6 Dynamic Address 0:
 *       Source/Type:    SLAAC
 *       Address:        fe80::5a20:ffff:feff:ffff/64
 *       Status:         active
 */
export function parseLan6Print(text: string): string[] {
  const addresses: string[] = [];
  let block: { address: string | null; active: boolean } | null = null;
  const flush = () => {
    if (block?.active && block.address !== null && !addresses.includes(block.address)) {
      addresses.push(block.address);
    }
    block = null;
  };
  for (const line of String(text ?? "").split(/\r?\n/)) {
    if (!/^\s/.test(line)) {
      flush();
      if (ADDRESS_BLOCK.test(line.trim())) block = { address: null, active: false };
      continue;
    }
    if (block === null) continue;
    const current: { address: string | null; active: boolean } = block;
    const match = /^\s+(Address|Status):\s*(.*)$/.exec(line);
    if (match?.[1] === "Address") current.address = addressWithPrefix(match[2] ?? "");
    if (match?.[1] === "Status") current.active = /^active\b/i.test((match[2] ?? "").trim());
  }
  flush();
  return addresses;
}

/** `parseLan6Print`, and a problem when non-blank text has none of lan6 print's headings. */
export function readLan6Print(text: string): Parsed<string[]> {
  const value = parseLan6Print(text);
  if (isBlank(text)) return { value, problem: null };
  const binary = binaryProblem(text);
  if (binary !== null) return { value, problem: binary };
  if (!LAN6_MARKERS.test(String(text))) {
    return { value, problem: `no "IPv6 ..." heading of lan6 print in ${text.length} characters` };
  }
  return { value, problem: null };
}

const USER_HEADER = /^ID\s+Name\s+Callin\s+Link Auth\s+IPMI Msg\s+Channel Priv Limit\s*$/;
const USER_ROW = /^(\d+)\s+(.*?)\s*\b(true|false)\s+(true|false)\s+(true|false)\s+(\S.*?)\s*$/;

/**
 * Parses `ipmitool user list <channel>`: one entry per user slot that has a name (slots without
 * one, or ipmitool's "(Empty User)", are left out). `privilege` is the channel privilege limit;
 * `enabled` is null because user list does not print it. Never throws. Real input (ipmi_sim
 * over lanplus; HP iLO prints "(Empty User)" and "NO ACCESS" for unused slots):
 *   ID  Name	     Callin  Link Auth	IPMI Msg   Channel Priv Limit
 *   1                    true    false      false      Unknown (0x00)
 *   2   recon565304      true    false      true       ADMINISTRATOR
 */
export function parseUserList(text: string): BmcUser[] {
  const users: BmcUser[] = [];
  for (const line of String(text ?? "").split(/\r?\n/)) {
    const match = USER_ROW.exec(line.replace(/\t/g, " "));
    if (!match?.[1]) continue;
    const name = (match[2] ?? "").trim();
    if (name === "" || /^\(empty user\)$/i.test(name)) continue;
    const id = Number(match[1]);
    if (!Number.isSafeInteger(id)) continue;
    const privilege = cleanString(match[6]);
    users.push({
      id,
      name,
      privilege: privilege === null || /^unknown\b/i.test(privilege) ? null : privilege,
      enabled: null,
    });
  }
  return users;
}

/** `parseUserList`, and a problem when non-blank text has neither the header nor a user row. */
export function readUserList(text: string): Parsed<BmcUser[]> {
  const value = parseUserList(text);
  if (isBlank(text)) return { value, problem: null };
  const binary = binaryProblem(text);
  if (binary !== null) return { value, problem: binary };
  const lines = String(text).split(/\r?\n/);
  const found = lines.some(
    (line) => USER_HEADER.test(line.replace(/\t/g, " ").trim()) || USER_ROW.test(line),
  );
  if (!found) return { value, problem: `no user list header or row in ${text.length} characters` };
  return { value, problem: null };
}
