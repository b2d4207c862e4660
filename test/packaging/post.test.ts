// post.sh (verify, pick by uname -m, run, pass the exit code on) and the post.tgz it ships in,
// with small shell scripts standing in for the binaries.
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import {
  appendFileSync,
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { makePostPackages, makePostTgz, sha256sums } from "../../packaging/package.ts";
import { underCI } from "../support/ci.ts";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const POST_SH = join(ROOT, "packaging/post.sh");
const BINARIES = ["recon-agent-x86_64", "recon-agent-aarch64"];
const scratch = mkdtempSync(join(tmpdir(), "recon-post-"));
after(() => rmSync(scratch, { recursive: true, force: true }));

let n = 0;
function fakeAgent(name: string): string {
  return [
    "#!/bin/sh",
    `printf '%s\\n' "${name} $*" "NODE_OPTIONS=\${NODE_OPTIONS-unset}" > "$RECON_MARK"`,
    // biome-ignore lint/suspicious/noTemplateCurlyInString: shell syntax
    'exit "${RECON_FAKE_EXIT:-0}"',
    "",
  ].join("\n");
}

/** A directory laid out like an unpacked post.tgz, with a `uname` stub. */
async function unpacked(machine = "x86_64"): Promise<{ dir: string; bin: string }> {
  const dir = join(scratch, `post-${++n}`);
  const bin = join(dir, ".stub-bin");
  mkdirSync(bin, { recursive: true });
  copyFileSync(POST_SH, join(dir, "post.sh"));
  for (const name of BINARIES) writeFileSync(join(dir, name), fakeAgent(name), { mode: 0o755 });
  writeFileSync(join(dir, "SHA256SUMS"), await sha256sums(dir, ["post.sh", ...BINARIES]));
  writeFileSync(join(bin, "uname"), `#!/bin/sh\necho ${machine}\n`, { mode: 0o755 });
  return { dir, bin };
}

function runPost(dir: string, bin: string, args: string[] = [], exit = "0") {
  const mark = join(dir, ".mark");
  const result = spawnSync("sh", [join(dir, "post.sh"), ...args], {
    encoding: "utf8",
    env: {
      PATH: `${bin}:/usr/bin:/bin`,
      RECON_MARK: mark,
      RECON_FAKE_EXIT: exit,
      NODE_OPTIONS: "--require=/nonexistent",
    },
  });
  return {
    status: result.status,
    stderr: result.stderr,
    ran: existsSync(mark) ? readFileSync(mark, "utf8") : null,
  };
}

describe("post.sh", () => {
  it("runs the x86_64 agent with the arguments, without NODE_OPTIONS, and passes its exit code on", async () => {
    const { dir, bin } = await unpacked("x86_64");
    const r = runPost(dir, bin, ["--cmdline", "/tmp/x y"], "5");
    assert.equal(r.status, 5, r.stderr);
    assert.equal(r.ran, "recon-agent-x86_64 --cmdline /tmp/x y\nNODE_OPTIONS=unset\n");
    assert.match(r.stderr, /recon-agent-x86_64: OK/);
    assert.match(r.stderr, /exited with 5/);
  });

  it("picks the aarch64 agent on arm64", async () => {
    const { dir, bin } = await unpacked("aarch64");
    const r = runPost(dir, bin);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.ran ?? "", /^recon-agent-aarch64 \n/);
  });

  it("refuses a tampered binary: exit 20, agent not run", async () => {
    const { dir, bin } = await unpacked();
    appendFileSync(join(dir, "recon-agent-x86_64"), "touch /tmp/pwned\n");
    const r = runPost(dir, bin);
    assert.equal(r.status, 20);
    assert.equal(r.ran, null);
    assert.match(r.stderr, /checksum mismatch/);
  });

  it("refuses when the other CPU's binary is corrupted too (the whole package is checked)", async () => {
    const { dir, bin } = await unpacked();
    writeFileSync(join(dir, "recon-agent-aarch64"), "truncated");
    const r = runPost(dir, bin);
    assert.equal(r.status, 20);
    assert.equal(r.ran, null);
  });

  it("refuses without SHA256SUMS", async () => {
    const { dir, bin } = await unpacked();
    rmSync(join(dir, "SHA256SUMS"));
    const r = runPost(dir, bin);
    assert.equal(r.status, 20);
    assert.equal(r.ran, null);
  });

  it("refuses when SHA256SUMS does not list the binary it would run", async () => {
    const { dir, bin } = await unpacked();
    const sums = readFileSync(join(dir, "SHA256SUMS"), "utf8")
      .split("\n")
      .filter((l) => !l.endsWith("recon-agent-x86_64"))
      .join("\n");
    writeFileSync(join(dir, "SHA256SUMS"), sums);
    const r = runPost(dir, bin);
    assert.equal(r.status, 20);
    assert.equal(r.ran, null);
  });

  it("exits 21 on a CPU it has no binary for", async () => {
    const { dir, bin } = await unpacked("riscv64");
    const r = runPost(dir, bin);
    assert.equal(r.status, 21);
    assert.equal(r.ran, null);
  });
});

describe("makePostTgz", () => {
  for (const compressor of ["gzip", "xz"] as const) {
    it(`packs post.sh, both binaries and SHA256SUMS (${compressor}); tar xf && ./post.sh works`, async () => {
      const dist = join(scratch, `dist-${compressor}`);
      mkdirSync(dist, { recursive: true });
      writeFileSync(join(dist, "recon-agent"), fakeAgent("recon-agent-x86_64"));
      writeFileSync(join(dist, "recon-agent-arm64"), fakeAgent("recon-agent-aarch64"));
      const result = await makePostTgz({ distDir: dist, compressor });
      assert.equal(result.path, join(dist, "post.tgz"));
      const listing = execFileSync("tar", ["tvf", result.path], { encoding: "utf8" });
      const names = listing
        .trim()
        .split("\n")
        .map((l) => l.split(/\s+/).pop());
      assert.deepEqual(names, ["SHA256SUMS", "post.sh", ...BINARIES]);
      assert.match(listing, /^-rwxr-xr-x 0\/0 .* post\.sh$/m);
      const out = join(scratch, `out-${compressor}`);
      mkdirSync(out);
      execFileSync("tar", ["xf", result.path, "-C", out]);
      const bin = join(out, ".stub-bin");
      mkdirSync(bin);
      writeFileSync(join(bin, "uname"), "#!/bin/sh\necho x86_64\n");
      chmodSync(join(bin, "uname"), 0o755);
      const r = runPost(out, bin, ["--dry-run"]);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.ran ?? "", /^recon-agent-x86_64 --dry-run\n/);
      // reproducible: the same inputs give the same bytes
      const again = await makePostTgz({
        distDir: dist,
        compressor,
        out: join(dist, "again.tgz"),
      });
      assert.deepEqual(readFileSync(again.path), readFileSync(result.path));
    });
  }
});

describe("makePostPackages (npm run package)", () => {
  it("writes post-x86_64.tgz and post-aarch64.tgz with one agent each, and post.tgz = x86_64", async () => {
    const dist = join(scratch, "dist-per-arch");
    mkdirSync(dist, { recursive: true });
    writeFileSync(join(dist, "recon-agent"), fakeAgent("recon-agent-x86_64"));
    writeFileSync(join(dist, "recon-agent-arm64"), fakeAgent("recon-agent-aarch64"));
    const results = await makePostPackages({ distDir: dist, compressor: "gzip" });
    assert.deepEqual(
      results.map((r) => r.path),
      ["post-x86_64.tgz", "post-aarch64.tgz", "post.tgz"].map((f) => join(dist, f)),
    );
    const names = (file: string) =>
      execFileSync("tar", ["tf", join(dist, file)], { encoding: "utf8" })
        .trim()
        .split("\n");
    assert.deepEqual(names("post-x86_64.tgz"), ["SHA256SUMS", "post.sh", "recon-agent-x86_64"]);
    assert.deepEqual(names("post-aarch64.tgz"), ["SHA256SUMS", "post.sh", "recon-agent-aarch64"]);
    assert.deepEqual(
      readFileSync(join(dist, "post.tgz")),
      readFileSync(join(dist, "post-x86_64.tgz")),
    );
    // each runs on its own CPU and refuses the other (exit 21: no binary for this CPU)
    for (const [file, machine, other] of [
      ["post-x86_64.tgz", "x86_64", "aarch64"],
      ["post-aarch64.tgz", "aarch64", "x86_64"],
    ] as const) {
      const out = join(scratch, `per-arch-${machine}`);
      mkdirSync(out);
      execFileSync("tar", ["xf", join(dist, file), "-C", out]);
      const sums = readFileSync(join(out, "SHA256SUMS"), "utf8");
      assert.doesNotMatch(sums, new RegExp(`recon-agent-${other}`));
      for (const [uname, status] of [
        [machine, 0],
        [other, 20],
      ] as const) {
        const bin = join(out, `.stub-bin-${uname}`);
        mkdirSync(bin);
        writeFileSync(join(bin, "uname"), `#!/bin/sh\necho ${uname}\n`);
        chmodSync(join(bin, "uname"), 0o755);
        const r = runPost(out, bin, ["--dry-run"]);
        assert.equal(r.status, status, r.stderr);
        if (status === 0)
          assert.match(r.ran ?? "", new RegExp(`^recon-agent-${machine} --dry-run\n`));
      }
    }
  });
});

const hasShellcheck = spawnSync("shellcheck", ["--version"]).status === 0;
// Under CI a missing prerequisite is a failure, not a skip.
describe("shell scripts", {
  skip: !underCI && !hasShellcheck && "shellcheck not installed",
}, () => {
  for (const script of ["packaging/post.sh", "packaging/recon-role.sh"]) {
    it(`${script} is POSIX sh and shellcheck-clean`, () => {
      const r = spawnSync("shellcheck", ["--shell=sh", "--severity=style", join(ROOT, script)], {
        encoding: "utf8",
      });
      assert.equal(r.status, 0, r.stdout);
    });
  }
});
