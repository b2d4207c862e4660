// The bytes each peer fetched from the master, from the master's own records: serve's
// `{"event":"http",...,"remote":IP,"bytes":N}` log lines (N: what the response put on the
// connection) summed by remote address, and each address mapped to a peer through its DHCP lease
// (dnsmasq's log on the host-side master; the `dhcp` records of <root>/events/events.jsonl, which
// the image's master keeps on the stick) and the lease's MAC to the peer that has that NIC.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";

export interface FetchedBytes {
  bytes: number;
  requests: number;
  /** Bytes by file (the URL path's last segment, e.g. squashfs.img, post-x86_64.tgz). */
  byFile: Record<string, number>;
}

export interface PeerBytes extends FetchedBytes {
  name: string;
  /** The addresses the peer held (iPXE's lease and the booted system's may differ). */
  ips: string[];
}

/**
 * serve's http lines in `text` (a log file, or a console where each line may carry a prefix such
 * as `[  12.3] recon-role.sh[818]: `), summed by remote address. Lines without `bytes` (a serve
 * older than that field) are counted in `unmeasured`. Never throws.
 */
export function sumHttpBytes(text: string): {
  byRemote: Map<string, FetchedBytes>;
  unmeasured: number;
} {
  const byRemote = new Map<string, FetchedBytes>();
  let unmeasured = 0;
  for (const line of text.split("\n")) {
    const start = line.indexOf('{"');
    if (start < 0 || !line.includes('"event":"http"')) continue;
    let e: Record<string, unknown>;
    try {
      e = JSON.parse(line.slice(start).replace(/\r/g, "")) as Record<string, unknown>;
    } catch {
      continue;
    }
    if (e.event !== "http" || typeof e.remote !== "string") continue;
    if (typeof e.bytes !== "number") {
      unmeasured++;
      continue;
    }
    const remote = e.remote.replace(/^::ffff:/, "");
    const entry = byRemote.get(remote) ?? { bytes: 0, requests: 0, byFile: {} };
    const file =
      String(e.path ?? "")
        .split("?")[0]
        ?.split("/")
        .at(-1) || "/";
    entry.bytes += e.bytes;
    entry.requests++;
    entry.byFile[file] = (entry.byFile[file] ?? 0) + e.bytes;
    byRemote.set(remote, entry);
  }
  return { byRemote, unmeasured };
}

/** MAC -> the IPs its leases gave it, from the `dhcp` records of <root>/events/events.jsonl. */
export function leasesFromEvents(root: string): Map<string, Set<string>> {
  const leases = new Map<string, Set<string>>();
  const file = join(root, "events", "events.jsonl");
  if (!existsSync(file)) return leases;
  for (const line of readFileSync(file, "utf8").split("\n")) {
    try {
      const r = JSON.parse(line) as { type?: unknown; mac?: unknown; ip?: unknown };
      if (r.type !== "dhcp" || typeof r.mac !== "string" || typeof r.ip !== "string") continue;
      const ips = leases.get(r.mac.toLowerCase()) ?? new Set<string>();
      ips.add(r.ip);
      leases.set(r.mac.toLowerCase(), ips);
    } catch {}
  }
  return leases;
}

/**
 * Bytes per peer: `peers` name each peer's NIC MACs; `leases` MAC -> IPs. Addresses that no
 * lease ties to a peer are returned as `unknown` (the lab's own host, say).
 */
export function bytesPerPeer(
  http: Map<string, FetchedBytes>,
  leases: Map<string, Set<string>>,
  peers: { name: string; macs: string[] }[],
): { peers: PeerBytes[]; unknown: Map<string, FetchedBytes> } {
  const owner = new Map<string, string>();
  for (const p of peers)
    for (const mac of p.macs)
      for (const ip of leases.get(mac.toLowerCase()) ?? []) owner.set(ip, p.name);
  const result: PeerBytes[] = peers.map((p) => ({
    name: p.name,
    ips: [],
    bytes: 0,
    requests: 0,
    byFile: {},
  }));
  const unknown = new Map<string, FetchedBytes>();
  for (const [ip, fetched] of http) {
    const peer = result.find((r) => r.name === owner.get(ip));
    if (!peer) {
      unknown.set(ip, fetched);
      continue;
    }
    peer.ips.push(ip);
    peer.bytes += fetched.bytes;
    peer.requests += fetched.requests;
    for (const [file, n] of Object.entries(fetched.byFile))
      peer.byFile[file] = (peer.byFile[file] ?? 0) + n;
  }
  return { peers: result, unknown };
}

const MB = 1e6;

/** Seconds of a link of `bitsPerSecond` that `bytes` take (no protocol overhead counted). */
export function linkSeconds(bytes: number, bitsPerSecond: number): number {
  return (bytes * 8) / bitsPerSecond;
}

/** The per-peer table, the mean, and 1,000 such peers at 1 and 10 Gbit/s, as text. */
export function formatPeerBytes(peers: PeerBytes[]): string {
  const lines = peers.map((p) => {
    const files = Object.entries(p.byFile)
      .sort((a, b) => b[1] - a[1])
      .map(([f, n]) => `${f} ${(n / MB).toFixed(1)}`)
      .join(", ");
    return `  ${p.name.padEnd(8)} ${(p.bytes / MB).toFixed(1).padStart(7)} MB in ${p.requests} requests (${files})`;
  });
  const fetched = peers.filter((p) => p.bytes > 0);
  if (fetched.length === 0) return [...lines, "  no peer fetched anything"].join("\n");
  const mean = fetched.reduce((s, p) => s + p.bytes, 0) / fetched.length;
  const hall = 1000 * mean;
  const minutes = (bps: number) => (linkSeconds(hall, bps) / 60).toFixed(1);
  lines.push(
    `  mean     ${(mean / MB).toFixed(1).padStart(7)} MB per peer: ${linkSeconds(mean, 1e9).toFixed(2)} s of a 1 Gbit/s link; ` +
      `1,000 peers ${(hall / 1e9).toFixed(1)} GB: ${minutes(1e9)} min at 1 Gbit/s, ${minutes(10e9)} min at 10 Gbit/s`,
  );
  return lines.join("\n");
}
