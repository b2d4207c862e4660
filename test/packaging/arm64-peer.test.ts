// The pure parts of packaging/arm64-peer.ts: apt's plan, ELF headers, links inside a tree.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import {
  elfDynamic,
  parseSimulatedInstalls,
  privateAptOptions,
  resolveInTree,
} from "../../packaging/arm64-peer.ts";

test("parseSimulatedInstalls reads apt-get -s install's Inst lines (epochs, [all], trailing [])", () => {
  const text = [
    "NOTE: This is only a simulation!",
    "Inst libssl3 (3.0.22-1~deb12u2 Debian-Security:12/oldstable-security [arm64])",
    "Inst libdevmapper1.02.1 (2:1.02.185-2 Debian:12.15/oldstable [arm64]) []",
    "Inst pci.ids (0.0~2023.04.11-1 Debian:12.15/oldstable [all])",
    "Inst libkrb5-3 (1.20.1-2+deb12u5 Debian:12.15/oldstable, Debian-Security:12/oldstable-security [arm64])",
    "Conf libssl3 (3.0.22-1~deb12u2 Debian-Security:12/oldstable-security [arm64])",
  ].join("\n");
  assert.deepEqual(parseSimulatedInstalls(text), [
    { name: "libssl3", version: "3.0.22-1~deb12u2", arch: "arm64" },
    { name: "libdevmapper1.02.1", version: "2:1.02.185-2", arch: "arm64" },
    { name: "pci.ids", version: "0.0~2023.04.11-1", arch: "all" },
    { name: "libkrb5-3", version: "1.20.1-2+deb12u5", arch: "arm64" },
  ]);
  assert.deepEqual(parseSimulatedInstalls(""), []);
});

test("privateAptOptions keeps state, cache and sources in the private directory, arm64 only", () => {
  const opts = privateAptOptions("/var/cache/x/apt");
  const values = opts.filter((_, i) => i % 2 === 1);
  assert.ok(opts.filter((_, i) => i % 2 === 0).every((o) => o === "-o"));
  assert.ok(values.includes("APT::Architecture=arm64"));
  assert.ok(values.includes("APT::Architectures=arm64"));
  assert.ok(values.includes("Dir::State=/var/cache/x/apt/state"));
  assert.ok(values.includes("Dir::State::status=/var/cache/x/apt/state/status"));
  assert.ok(values.includes("Dir::Cache=/var/cache/x/apt/cache"));
  assert.ok(values.includes("Dir::Etc::SourceList=/dev/null"));
  // Nothing points at the machine's own apt state.
  assert.ok(!values.some((v) => v.includes("/var/lib/apt") || v.includes("/var/lib/dpkg")));
});

/** A minimal ELF64 LE executable: PT_INTERP, PT_LOAD, PT_DYNAMIC with two DT_NEEDED. */
function fakeElf(machine: number): Buffer {
  const buf = Buffer.alloc(0x400);
  buf.writeUInt32BE(0x7f454c46, 0);
  buf[4] = 2;
  buf[5] = 1;
  buf.writeUInt16LE(2, 16); // ET_EXEC
  buf.writeUInt16LE(machine, 18);
  buf.writeBigUInt64LE(64n, 32); // phoff
  buf.writeUInt16LE(56, 54);
  buf.writeUInt16LE(3, 56);
  const ph = (i: number, type: number, offset: number, vaddr: number, size: number) => {
    const p = 64 + i * 56;
    buf.writeUInt32LE(type, p);
    buf.writeBigUInt64LE(BigInt(offset), p + 8);
    buf.writeBigUInt64LE(BigInt(vaddr), p + 16);
    buf.writeBigUInt64LE(BigInt(size), p + 32);
  };
  const interp = "/lib/ld-linux-aarch64.so.1\0";
  buf.write(interp, 0x200, "latin1");
  ph(0, 3, 0x200, 0x400200, interp.length);
  ph(1, 1, 0, 0x400000, 0x400); // PT_LOAD: the whole file at 0x400000
  const strtab = "\0libc.so.6\0libstdc++.so.6\0";
  buf.write(strtab, 0x300, "latin1");
  const dyn = 0x240;
  const entry = (i: number, tag: number, val: number) => {
    buf.writeBigInt64LE(BigInt(tag), dyn + i * 16);
    buf.writeBigUInt64LE(BigInt(val), dyn + i * 16 + 8);
  };
  entry(0, 1, 1); // DT_NEEDED libc.so.6
  entry(1, 1, 11); // DT_NEEDED libstdc++.so.6
  entry(2, 5, 0x400300); // DT_STRTAB (address)
  entry(3, 0, 0);
  ph(2, 2, dyn, 0x400000 + dyn, 4 * 16);
  return buf;
}

test("elfDynamic reads the interpreter and DT_NEEDED of an aarch64 ELF", () => {
  assert.deepEqual(elfDynamic(fakeElf(183)), {
    machine: 183,
    interpreter: "/lib/ld-linux-aarch64.so.1",
    needed: ["libc.so.6", "libstdc++.so.6"],
  });
});

test("elfDynamic on this machine's own /bin/sh finds libc.so.6 (a real, linked ELF)", () => {
  const info = elfDynamic(readFileSync("/bin/sh"));
  assert.ok(info, "/bin/sh is an ELF64 little-endian program");
  assert.ok(info.needed.includes("libc.so.6"), `needed: ${info.needed.join(", ")}`);
  assert.match(info.interpreter ?? "", /^\/lib.*\/ld-linux/);
});

test("elfDynamic returns null, never throws, for text, a truncated ELF and a broken string table", () => {
  assert.equal(elfDynamic(Buffer.from("#!/bin/sh\necho hi\n")), null);
  assert.equal(elfDynamic(fakeElf(183).subarray(0, 100)), null);
  const broken = fakeElf(183);
  broken.writeBigUInt64LE(0x900000n, 0x240 + 2 * 16 + 8); // DT_STRTAB outside every PT_LOAD
  assert.equal(elfDynamic(broken), null);
});

test("resolveInTree follows absolute links inside the tree, never to the host's file", () => {
  const root = mkdtempSync(join(tmpdir(), "arm64-tree-"));
  try {
    mkdirSync(join(root, "bin"));
    mkdirSync(join(root, "sbin"));
    writeFileSync(join(root, "bin", "ip"), "tree's ip");
    symlinkSync("/bin/ip", join(root, "sbin", "ip")); // as iproute2 ships it
    symlinkSync("../sbin/ip", join(root, "bin", "ip2"));
    assert.equal(resolveInTree(root, join(root, "sbin", "ip")), join(root, "bin", "ip"));
    assert.equal(resolveInTree(root, join(root, "bin", "ip2")), join(root, "bin", "ip"));
    symlinkSync("/loop", join(root, "loop"));
    assert.throws(() => resolveInTree(root, join(root, "loop")), /too many symbolic links/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
