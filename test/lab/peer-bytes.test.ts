// peer-bytes.ts on real log shapes: serve's own http lines (file and console form), events.jsonl
// dhcp records, and the hall figures it prints.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import {
  bytesPerPeer,
  formatPeerBytes,
  leasesFromEvents,
  linkSeconds,
  sumHttpBytes,
} from "./peer-bytes.ts";

const line = (remote: string, path: string, bytes?: number) =>
  JSON.stringify({
    ts: "2026-12-02T04:27:20.000Z",
    event: "http",
    method: "GET",
    path,
    status: 200,
    ms: 3.1,
    remote,
    ...(bytes === undefined ? {} : { bytes }),
  });

test("sumHttpBytes: serve.log lines and console lines with a prefix, by remote and file", () => {
  const text = [
    line("10.13.37.184", "/menu.ipxe", 812),
    `[  310.7] recon-role.sh[818]: ${line("::ffff:10.13.37.184", "/install/recon/linux", 8_000_000)}\r`,
    line("10.13.37.183", "/post-x86_64.tgz?x=1", 20_000_000),
    '{"ts":"x","event":"stored","nodeId":"n1","kind":"inventory"}',
    `[  311.0] recon-role.sh[818]: {"ts":"x","event":"http","rem`, // cut by the console
    line("10.13.37.183", "/post.tgz"), // an older serve: no bytes
  ].join("\n");
  const { byRemote, unmeasured } = sumHttpBytes(text);
  assert.equal(unmeasured, 1);
  assert.deepEqual(byRemote.get("10.13.37.184"), {
    bytes: 8_000_812,
    requests: 2,
    byFile: { "menu.ipxe": 812, linux: 8_000_000 },
  });
  assert.deepEqual(byRemote.get("10.13.37.183")?.byFile, { "post-x86_64.tgz": 20_000_000 });
});

test("bytesPerPeer: each address goes to the peer whose NIC leased it; others are unknown", () => {
  const root = mkdtempSync(join(tmpdir(), "peer-bytes-"));
  try {
    mkdirSync(join(root, "events"));
    const rec = (seq: number, mac: string, ip: string, type = "dhcp") =>
      JSON.stringify({
        seq,
        receivedAt: "2026-12-02T04:27:20.000Z",
        key: `mac-${mac.replace(/:/g, "")}`,
        mac,
        nodeId: null,
        type,
        ip,
      });
    writeFileSync(
      join(root, "events", "events.jsonl"),
      `${[
        rec(1, "52:54:00:41:01:01", "10.13.38.118"),
        rec(2, "52:54:00:41:02:01", "10.13.39.6"),
        rec(3, "52:54:00:41:02:01", "10.13.39.7"),
        rec(4, "52:54:00:41:01:01", "10.13.38.200", "boot-file"),
      ].join("\n")}\n`,
    );
    const leases = leasesFromEvents(root);
    assert.deepEqual([...(leases.get("52:54:00:41:02:01") ?? [])], ["10.13.39.6", "10.13.39.7"]);
    const { byRemote } = sumHttpBytes(
      [
        line("10.13.38.118", "/install/recon/squashfs.img", 150_000_000),
        line("10.13.39.6", "/menu.ipxe", 1000),
        line("10.13.39.7", "/post-x86_64.tgz", 20_000_000),
        line("10.13.38.200", "/post.tgz", 5),
        line("10.13.36.2", "/api/v1/nodes", 400),
      ].join("\n"),
    );
    const { peers, unknown } = bytesPerPeer(byRemote, leases, [
      { name: "peer1", macs: ["52:54:00:41:01:01", "52:54:00:41:01:02"] },
      { name: "peer2", macs: ["52:54:00:41:02:01"] },
      { name: "peer3", macs: ["52:54:00:41:03:01"] },
    ]);
    assert.deepEqual(
      peers.map((p) => [p.name, p.bytes, p.requests, p.ips]),
      [
        ["peer1", 150_000_000, 1, ["10.13.38.118"]],
        ["peer2", 20_001_000, 2, ["10.13.39.6", "10.13.39.7"]],
        ["peer3", 0, 0, []],
      ],
    );
    // A boot-file record is not a lease; the lab host's own address is no peer.
    assert.deepEqual([...unknown.keys()].sort(), ["10.13.36.2", "10.13.38.200"]);
    const text = formatPeerBytes(peers);
    // Mean over the peers that fetched: 85.0005 MB; 1,000 of them 85.0 GB: 11.3 min at 1 Gbit/s.
    assert.match(text, /mean\s+85\.0 MB per peer: 0\.68 s of a 1 Gbit\/s link/);
    assert.match(text, /1,000 peers 85\.0 GB: 11\.3 min at 1 Gbit\/s, 1\.1 min at 10 Gbit\/s/);
    assert.match(text, /peer3\s+0\.0 MB in 0 requests/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test("linkSeconds: 125 MB is one second of 1 Gbit/s", () => {
  assert.equal(linkSeconds(125e6, 1e9), 1);
});
