// The lab's DHCP-only peer (failure paths): a machine that gets its lease and fetches its boot
// files but never runs the agent (a kernel that hangs, a disk it boots from instead). It is no
// VM: busybox udhcpc takes a lease on a veth in a namespace of its own, cabled to the lab's
// bridge, then busybox wget fetches menu.ipxe and the kernel and initrd it names from the DHCP
// server, as iPXE would. The master must list it by its MAC as `booting`, with no nodeId.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Lan } from "./netns.ts";
import { type Cleanup, run } from "./proc.ts";

export interface DhcpOnlyPeer {
  mac: string;
  ip: string;
  /** The paths it fetched, in order. */
  fetched: string[];
}

/** The boot files a menu.ipxe names on the master (its `kernel` and `initrd` URLs' paths). */
export function bootFilesOf(menu: string, masterIp: string): string[] {
  const paths: string[] = [];
  for (const m of menu.matchAll(/^(?:kernel|initrd)\s+http:\/\/([^/\s]+)(\/\S*)/gm)) {
    if (m[1] === masterIp && m[2]) paths.push(m[2]);
  }
  return paths;
}

export function startDhcpOnlyPeer(
  lan: Lan,
  cleanup: Cleanup,
  options: { mac: string; dir: string },
): DhcpOnlyPeer {
  const ns = `${lan.ns}-d`;
  run(["ip", "netns", "add", ns]);
  cleanup.add(`delete netns ${ns}`, () => run(["ip", "netns", "del", ns], { allowFail: true }));
  run([
    "ip",
    "-n",
    lan.ns,
    "link",
    "add",
    "dhcp0",
    "type",
    "veth",
    "peer",
    "name",
    "eth0",
    "netns",
    ns,
  ]);
  run(["ip", "-n", lan.ns, "link", "set", "dhcp0", "master", lan.bridge, "up"]);
  run(["ip", "-n", ns, "link", "set", "eth0", "address", options.mac, "up"]);
  run(["ip", "-n", ns, "link", "set", "lo", "up"]);
  // udhcpc's script: configure the address it was given and say which server gave it (variables
  // from udhcpc: ip, mask, serverid). The boot files come from that server, as a PXE ROM's do: in
  // the image lab it is the master VM, not the host's end of the bridge (lan.masterIp).
  const script = join(options.dir, "udhcpc.sh");
  writeFileSync(
    script,
    '#!/bin/sh\n[ "$1" = bound ] && ip addr add "$ip/$mask" dev "$interface" && echo "$ip $serverid"\nexit 0\n',
    { mode: 0o755 },
  );
  const bound = run([
    ...["ip", "netns", "exec", ns, "busybox", "udhcpc", "-i", "eth0", "-f", "-q", "-n"],
    ...["-t", "6", "-T", "3", "-s", script],
  ]);
  const [, ip, server] =
    /^(\d{1,3}(?:\.\d{1,3}){3}) (\d{1,3}(?:\.\d{1,3}){3})$/m.exec(bound.stdout) ?? [];
  if (!ip || !server)
    throw new Error(`dhcp-only peer: udhcpc bound no address: ${bound.stdout}${bound.stderr}`);
  const wget = (path: string, out: string) =>
    run(["ip", "netns", "exec", ns, "busybox", "wget", "-q", "-O", out, `http://${server}${path}`]);
  const menuFile = join(options.dir, "menu.ipxe");
  wget("/menu.ipxe", menuFile);
  const fetched = ["/menu.ipxe"];
  const menu = run(["cat", menuFile]).stdout;
  for (const path of bootFilesOf(menu, server)) {
    wget(path, "/dev/null");
    fetched.push(path);
  }
  return { mac: options.mac, ip, fetched };
}
