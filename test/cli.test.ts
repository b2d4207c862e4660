// The CLI as users run it: a real process, real arguments, real exit codes.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { COMMAND_TABLE, exitCodesLine } from "../agent/cli.ts";
import { checkoutCommit } from "../agent/version.ts";
import { Inventory } from "../schema/inventory.ts";
import { underCI } from "./support/ci.ts";

const root = new URL("..", import.meta.url).pathname;
const entry = join(root, "bin/recon-agent.js");

/** Runs the CLI. `live` lets it start real tools (the test runner's refusal is lifted). */
function cli(args: string[], options: { live?: boolean; uid?: number } = {}) {
  const env = { ...process.env };
  if (options.live) delete env.NODE_TEST_CONTEXT;
  return spawnSync(process.execPath, [entry, ...args], {
    encoding: "utf8",
    env,
    cwd: options.uid === undefined ? root : tmpdir(),
    uid: options.uid,
    timeout: 300_000,
  });
}

test("--help tells the subcommands and exit codes; --version prints version and commit", () => {
  const help = cli(["--help"]);
  assert.equal(help.status, 0);
  assert.match(cli(["run", "--help"]).stdout, /--replay DIR/);
  for (const word of ["--dry-run", "capture", "serve", "validate", "schema", "Exit codes"]) {
    assert.ok(help.stdout.includes(word), word);
  }
  const version = cli(["--version"]);
  assert.equal(version.status, 0);
  assert.match(version.stdout, /^recon-agent \d+\.\d+\.\d+ \(\S+\)\n$/);
});

test("--version from a git checkout prints its commit (loose ref, packed ref, detached)", () => {
  const head = spawnSync("git", ["rev-parse", "--short=7", "HEAD"], {
    cwd: root,
    encoding: "utf8",
  });
  if (head.status === 0) {
    assert.equal(
      cli(["--version"]).stdout,
      `recon-agent ${JSON.parse(readFileSync(join(root, "package.json"), "utf8")).version} (${head.stdout.trim()})\n`,
    );
  }
  const dir = mkdtempSync(join(tmpdir(), "recon-h3-git-"));
  try {
    const sha = "0123456789abcdef0123456789abcdef01234567";
    const url = new URL(`file://${dir}/`);
    assert.equal(checkoutCommit(url), null, "not a checkout");
    mkdirSync(join(dir, ".git/refs/heads"), { recursive: true });
    writeFileSync(join(dir, ".git/HEAD"), "ref: refs/heads/main\n");
    writeFileSync(join(dir, ".git/packed-refs"), `# pack-refs\n${sha} refs/heads/main\n`);
    assert.equal(checkoutCommit(url), "0123456");
    writeFileSync(join(dir, ".git/refs/heads/main"), `${"f".repeat(40)}\n`);
    assert.equal(checkoutCommit(url), "fffffff");
    writeFileSync(join(dir, ".git/HEAD"), `${sha}\n`);
    assert.equal(checkoutCommit(url), "0123456");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("bad input is a usage error (exit 2) with a clear message", () => {
  const unknownFlag = cli(["--frobnicate"]);
  assert.equal(unknownFlag.status, 2);
  assert.match(unknownFlag.stderr, /frobnicate/);
  const unknownCommand = cli(["explode"]);
  assert.equal(unknownCommand.status, 2);
  assert.match(unknownCommand.stderr, /unknown command "explode"/);
  const missingReplay = cli(["--dry-run", "--replay", "/nonexistent/capture"]);
  assert.equal(missingReplay.status, 2);
  assert.match(missingReplay.stderr, /replay directory not found/);
  const badBudget = cli(["--dry-run", "--budget", "soon"]);
  assert.equal(badBudget.status, 2);
});

const dell = join(root, "fixtures/dell-poweredge-r740-linuxhw");

/** A usage error as a person meets it: exit 2, recon's message, no Node parser text or stack. */
function assertUsage(run: ReturnType<typeof cli>, pattern: RegExp) {
  assert.equal(run.status, 2, run.stderr);
  assert.match(run.stderr, pattern);
  assert.match(run.stderr, /--help\) \[E_USAGE\]\n$/);
  assert.doesNotMatch(run.stderr, /ambiguous|To specify|ERR_PARSE_ARGS|\n\s+at /);
}

test("every subcommand has its own --help, naming exactly the flags it accepts", () => {
  for (const command of COMMAND_TABLE.commands) {
    const args = command.name === "dry-run" ? ["--dry-run", "--help"] : [command.name, "--help"];
    const help = cli(args);
    assert.equal(help.status, 0, `${args.join(" ")}: ${help.stderr}`);
    assert.match(
      help.stdout,
      new RegExp(`^Usage: recon-agent ${command.usage.replace(/[[\].]/g, "\\$&")}`),
    );
    const named = new Set([...help.stdout.matchAll(/--([a-z][a-z0-9-]+)/g)].map((m) => m[1]));
    named.delete("help");
    assert.deepEqual(
      [...named].filter((f) => f !== "dry-run").sort(),
      Object.keys(command.flags)
        .filter((f) => f !== "dry-run")
        .sort(),
      `${command.name} --help names what it accepts`,
    );
    // Every flag the help names is accepted: all of them at once are not an "unknown flag".
    const all = [...named].flatMap((flag) =>
      command.flags[flag ?? ""]?.type === "string" ? [`--${flag}`, "x"] : [`--${flag}`],
    );
    const run = cli([command.name === "dry-run" ? "--dry-run" : command.name, ...all, "--help"]);
    assert.equal(run.status, 0, `${command.name} ${all.join(" ")}: ${run.stderr}`);
  }
  for (const command of COMMAND_TABLE.delegated) {
    const help = cli([command.name, "--help"]);
    assert.equal(help.status, 0, help.stderr);
    assert.match(help.stdout, new RegExp(`recon-agent ${command.name}`));
  }
  // Each export target has its own help, reached through the CLI entry too.
  for (const target of ["csv", "glpi", "netbox"]) {
    const help = cli(["export", target, "--help"]);
    assert.equal(help.status, 0, help.stderr);
    assert.match(help.stdout, new RegExp(`^Usage: recon-agent export ${target} `));
  }
  const bootAssets = cli(["boot-assets", "--help"]).stdout;
  for (const flag of bootAssets.matchAll(/--([a-z][a-z0-9-]+)/g)) {
    if (flag[1] === "help") continue;
    const run = cli(["boot-assets", `--${flag[1]}`, "x"]);
    assert.doesNotMatch(run.stderr, /Unknown option/, `boot-assets accepts --${flag[1]}`);
  }
  const global = cli(["--help"]);
  for (const command of [...COMMAND_TABLE.commands, ...COMMAND_TABLE.delegated])
    assert.ok(global.stdout.includes(command.name === "dry-run" ? "--dry-run" : command.name));
});

test("unknown and malformed flags: recon's message names the flag and the subcommand", () => {
  assertUsage(
    cli(["serve", "--bogus"]),
    /unknown flag --bogus for "serve" \(see recon-agent serve --help/,
  );
  assertUsage(cli(["capture", "/tmp/x", "--replay", "y"]), /unknown flag --replay for "capture"/);
  assertUsage(cli(["--dry-run", "--master", "http://x/"]), /unknown flag --master for --dry-run/);
  assertUsage(cli(["--dry-run", "--replay"]), /--replay needs a value \(DIR\)/);
  assertUsage(cli(["--dry-run", "--dry-run=yes"]), /--dry-run takes no value/);
  assertUsage(cli(["validate"]), /validate needs FILE/);
  assertUsage(cli(["schema", "extra"]), /schema takes no arguments, got "extra"/);
  assertUsage(
    cli(["serve", "--root", "/tmp", "--max-evidence-bytes", "-5"]),
    /--max-evidence-bytes needs a whole number/,
  );
});

test("--budget is bounded: 1e9, -1, abc and 0 are usage errors", () => {
  for (const bad of ["1e9", "-1", "abc", "0", "Infinity"]) {
    assertUsage(
      cli(["--dry-run", "--replay", dell, "--budget", bad]),
      new RegExp(`--budget needs a number of seconds from 1 to 3600, got "${bad}"`),
    );
  }
  assert.equal(cli(["--dry-run", "--replay", dell, "--budget", "3600"]).status, 0);
});

test("file errors are exit 3 with the path and the reason, no stack, no hang (/proc, /sys, ENOTDIR)", () => {
  for (const [out, reason] of [
    ["/etc/passwd/sub/", "ENOTDIR"],
    ["/sys/newdir/", "EPERM|EACCES|ENOENT"],
    ["/proc/newdir/", "ENOENT"],
    ["/proc/newdir/deeper/", "ENOENT"],
  ] as const) {
    const run = spawnSync(process.execPath, [entry, "--dry-run", "--replay", dell, "--out", out], {
      encoding: "utf8",
      timeout: 20_000,
    });
    assert.equal(run.signal, null, `${out}: did not hang`);
    assert.equal(run.status, 3, run.stderr);
    assert.match(run.stderr, new RegExp(`cannot create directory ${out}: (${reason}) \\[E_IO\\]`));
    assert.doesNotMatch(run.stderr, /\n\s+at /);
  }
  const dir = mkdtempSync(join(tmpdir(), "recon-h3-io-"));
  try {
    // Every command that creates a directory goes through the same mkdir: none hangs on /proc.
    const docs = join(dir, "docs");
    assert.equal(cli(["--dry-run", "--replay", dell, "--out", `${docs}/`]).status, 0);
    for (const args of [
      ["capture", "/proc/newdir/"],
      ["export", "csv", "--from", docs, "--out", "/proc/newdir/", "--quiet"],
      ["export", "glpi", "--from", docs, "--out", "/proc/newdir/", "--quiet"],
      ["serve", "--root", "/proc/newdir", "--host", "127.0.0.1", "--port", "0"],
    ]) {
      const run = spawnSync(process.execPath, [entry, ...args], {
        encoding: "utf8",
        timeout: 20_000,
      });
      assert.equal(run.signal, null, `${args.join(" ")}: did not hang`);
      assert.equal(run.status, 3, `${args.join(" ")}: ${run.stderr}`);
      assert.match(run.stderr, /\/proc\/newdir\/?: ENOENT.*\[E_IO\]/);
      assert.doesNotMatch(run.stderr, /\n\s+at /);
    }
    const missingToken = cli(["--cmdline", join(dir, "c"), "--token-file", join(dir, "none")]);
    assert.equal(missingToken.status, 3);
    writeFileSync(join(dir, "c"), "pxeaddr=127.0.0.1\n");
    const token = cli([
      "--cmdline",
      join(dir, "c"),
      "--replay",
      dell,
      "--token-file",
      join(dir, "none"),
    ]);
    assert.equal(token.status, 3, token.stderr);
    assert.match(token.stderr, /cannot read token file .*none: ENOENT \[E_IO\]/);
    const notADir = cli(["--dry-run", "--replay", join(dir, "c")]);
    assertUsage(notADir, /replay directory not found/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a replay of an empty directory or of unrelated files is a usage error", () => {
  const dir = mkdtempSync(join(tmpdir(), "recon-h3-empty-"));
  try {
    assertUsage(cli(["--dry-run", "--replay", dir]), /holds no capture files/);
    writeFileSync(join(dir, "notes.md"), "# hello\n");
    writeFileSync(join(dir, "photo.jpg"), "x");
    assertUsage(cli(["--dry-run", "--replay", dir]), new RegExp(`${dir} holds no capture files`));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("flags override bad kernel arguments, with a warning; --master is blamed for itself", () => {
  const dir = mkdtempSync(join(tmpdir(), "recon-h3-cmdline-"));
  try {
    const cmdline = join(dir, "cmdline");
    // Nothing listens on port 9 of loopback: the upload fails after the 1 s budget (exit 5),
    // which shows the kernel argument no longer stops the run with exit 2.
    writeFileSync(cmdline, "recon.poweroff=sometimes recon.master=http://127.0.0.1:9/\n");
    const bad = cli(["--cmdline", cmdline, "--replay", dell, "--spool", dir]);
    assertUsage(bad, /recon.poweroff must be one of soft, hard, reboot, none: got sometimes/);
    const overridden = cli([
      "--cmdline",
      cmdline,
      "--replay",
      dell,
      "--spool",
      dir,
      "--no-poweroff",
      "--upload-timeout",
      "1",
    ]);
    assert.equal(overridden.status, 5, overridden.stderr);
    assert.match(
      overridden.stderr,
      /warning: ignoring the kernel argument \(recon.poweroff must be .*got sometimes\): overridden by --no-poweroff/,
    );
    const ftp = cli([
      "--cmdline",
      cmdline,
      "--replay",
      dell,
      "--master",
      "ftp://x",
      "--no-poweroff",
    ]);
    assertUsage(ftp, /--master must be http\(s\): ftp:\/\/x/);
    assert.doesNotMatch(ftp.stderr, /recon\.master/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("--cmdline FILE feeds the whole document: boot section from the file, the token redacted", () => {
  const dir = mkdtempSync(join(tmpdir(), "recon-h3-cmdline-"));
  try {
    const cmdline = join(dir, "cmdline");
    writeFileSync(
      cmdline,
      'BOOTIF=01-52-54-00-12-34-56 pxeaddr=10.13.37.1 "recon.token=abc def"\n',
    );
    const run = cli(["--dry-run", "--replay", dell, "--cmdline", cmdline]);
    assert.equal(run.status, 0, run.stderr);
    const doc = Inventory.parse(JSON.parse(run.stdout));
    assert.equal(doc.boot.bootMac, "52:54:00:12:34:56");
    assert.equal(doc.boot.pxeServer, "10.13.37.1");
    assert.ok(!run.stdout.includes("abc def"));
    // A missing --cmdline file is exit 3 before any work.
    const missing = cli(["--dry-run", "--replay", dell, "--cmdline", join(dir, "none")]);
    assert.equal(missing.status, 3, missing.stderr);
    assert.match(missing.stderr, /cannot read kernel command line .*none: ENOENT \[E_IO\]/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a replay with no identity at all is refused (exit 2) unless --allow-anonymous", () => {
  const dir = mkdtempSync(join(tmpdir(), "recon-h3-anon-"));
  try {
    writeFileSync(join(dir, "cmdline.txt"), "quiet\n");
    const refused = cli(["--dry-run", "--replay", dir]);
    assert.equal(refused.status, 2, refused.stderr);
    assert.match(
      refused.stderr,
      new RegExp(`replay of ${dir}: no system UUID, serial, MAC or stable fact found`),
    );
    assert.match(refused.stderr, /--allow-anonymous/);
    assert.equal(refused.stdout, "");
    const allowed = cli(["--dry-run", "--replay", dir, "--allow-anonymous"]);
    assert.equal(allowed.status, 0, allowed.stderr);
    assert.equal(Inventory.parse(JSON.parse(allowed.stdout)).nodeIdSource, "random");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("serve --max-inventory-bytes is a real limit: a larger upload gets 413, nothing stored", async () => {
  const dir = mkdtempSync(join(tmpdir(), "recon-h3-serve-"));
  const child = spawn(
    process.execPath,
    [
      entry,
      "serve",
      "--root",
      dir,
      "--host",
      "127.0.0.1",
      "--port",
      "0",
      "--max-inventory-bytes",
      "1000",
      "--min-upload-rate",
      "10",
    ],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  try {
    const url = await new Promise<string>((resolve, reject) => {
      let seen = "";
      child.stderr.on("data", (d) => {
        seen += d;
        const found = /"event":"listening","url":"([^"]+)"/.exec(seen)?.[1];
        if (found) resolve(found);
      });
      child.on("exit", (code) => reject(new Error(`serve exited ${code}: ${seen}`)));
    });
    const doc = readFileSync(join(root, "schema/inventory.schema.json"), "utf8");
    const big = JSON.stringify({ padding: doc.repeat(2) });
    assert.ok(big.length > 1000);
    const response = await fetch(`${url}/api/v1/nodes/h3-node/inventory`, {
      method: "PUT",
      headers: { "content-type": "application/json" },
      body: big,
    });
    assert.equal(response.status, 413);
    await response.body?.cancel();
    assert.deepEqual(readdirSync(join(dir, "nodes")), []);
  } finally {
    child.kill("SIGTERM");
    await new Promise((resolve) => child.once("close", resolve));
    rmSync(dir, { recursive: true, force: true });
  }
});

test("validate goes on past unreadable and invalid files, reports each, fails at the end", () => {
  const dir = mkdtempSync(join(tmpdir(), "recon-h3-validate-"));
  try {
    const good = join(dir, "good.json");
    writeFileSync(
      good,
      cli(["--dry-run", "--replay", join(root, "fixtures/ipmi-sim-openipmi")]).stdout,
    );
    writeFileSync(join(dir, "bad.json"), "{not json");
    const run = cli(["validate", join(dir, "missing.json"), join(dir, "bad.json"), good]);
    assert.equal(run.status, 4, run.stderr);
    assert.match(run.stdout, /missing\.json: cannot read document .*ENOENT/);
    assert.match(run.stdout, /bad\.json: not JSON/);
    assert.match(run.stdout, /good\.json: valid/);
    assert.match(run.stderr, /1 invalid and 1 unreadable of 3 documents/);
    const onlyMissing = cli(["validate", join(dir, "missing.json"), good]);
    assert.equal(onlyMissing.status, 3);
    assert.match(onlyMissing.stdout, /good\.json: valid/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the exit code list is the same in --help and in the README, and names code 8", () => {
  const line = exitCodesLine();
  assert.match(line, /8 refused to start a process/);
  assert.ok(cli(["--help"]).stdout.includes(line));
  const readme = readFileSync(join(root, "README.md"), "utf8").replace(/\s+/g, " ");
  assert.ok(readme.includes(line), `README.md has: ${line}`);
});

test("run mode without a master on the cmdline says so and exits 2", () => {
  const dir = mkdtempSync(join(tmpdir(), "recon-cli-"));
  try {
    writeFileSync(join(dir, "cmdline"), "quiet splash\n");
    const run = cli([
      "--cmdline",
      join(dir, "cmdline"),
      "--replay",
      join(root, "fixtures/dell-poweredge-r740-linuxhw"),
    ]);
    assert.equal(run.status, 2);
    assert.match(run.stderr, /neither pxeaddr= nor recon.master=/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("--dry-run --replay prints a schema-valid document; --out writes <nodeId>.json and a summary", () => {
  const replay = cli(["--dry-run", "--replay", join(root, "fixtures/ipmi-sim-openipmi")]);
  assert.equal(replay.status, 0, replay.stderr);
  const doc = Inventory.parse(JSON.parse(replay.stdout));
  assert.ok(doc.bmc);
  const dir = mkdtempSync(join(tmpdir(), "recon-out-"));
  try {
    const out = cli([
      "--dry-run",
      "--replay",
      join(root, "fixtures/dell-poweredge-r740-linuxhw"),
      "--out",
      `${dir}/`,
    ]);
    assert.equal(out.status, 0, out.stderr);
    assert.match(out.stdout, /system +Dell Inc\. PowerEdge R740/);
    const files = readdirSync(dir);
    assert.equal(files.length, 1);
    Inventory.parse(JSON.parse(readFileSync(join(dir, files[0] ?? ""), "utf8")));
    const valid = cli(["validate", join(dir, files[0] ?? "")]);
    assert.equal(valid.status, 0);
    writeFileSync(join(dir, "bad.json"), JSON.stringify({ ...doc, nodeId: "../etc" }));
    const invalid = cli(["validate", join(dir, "bad.json")]);
    assert.equal(invalid.status, 4);
    assert.match(invalid.stdout, /nodeId/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("schema prints the committed JSON Schema", () => {
  const out = cli(["schema"]);
  assert.equal(out.status, 0);
  assert.equal(out.stdout, readFileSync(join(root, "schema/inventory.schema.json"), "utf8"));
});

test("capture then replay: the same facts from the raw outputs (live, this machine)", () => {
  const dir = mkdtempSync(join(tmpdir(), "recon-capture-"));
  try {
    const capture = cli(["capture", dir], { live: true });
    assert.equal(capture.status, 0, capture.stderr);
    const manifest = JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8"));
    assert.equal(manifest.format, "recon-capture/1");
    assert.ok(manifest.probes["lsblk.json"], "lsblk ran");
    const replay = cli(["--dry-run", "--replay", dir]);
    assert.equal(replay.status, 0, replay.stderr);
    const doc = Inventory.parse(JSON.parse(replay.stdout));
    const live = Inventory.parse(JSON.parse(cli(["--dry-run"], { live: true }).stdout));
    assert.equal(doc.nodeId, live.nodeId);
    assert.deepEqual(doc.disks, live.disks);
    assert.deepEqual(doc.pciDevices, live.pciDevices);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("as a non-root user --dry-run still prints a document, with one warning and root-only tools marked", (t) => {
  if (process.geteuid?.() !== 0) {
    assert.ok(!underCI, "CI runs the tests as root (this one switches to an unprivileged user)");
    return t.skip("needs root to switch to an unprivileged user");
  }
  let run = cli(["--dry-run"], { live: true, uid: 65534 });
  if ((run.error as NodeJS.ErrnoException | undefined)?.code === "EACCES") {
    // The checkout sits under a directory only root may enter (e.g. mktemp -d): run as the
    // unmapped user of a fresh user namespace instead: euid 65534, no privilege over the host.
    const env = { ...process.env };
    delete env.NODE_TEST_CONTEXT;
    run = spawnSync("unshare", ["--user", process.execPath, entry, "--dry-run"], {
      encoding: "utf8",
      env,
      cwd: root,
      timeout: 300_000,
    });
  }
  assert.equal(run.status, 0, run.stderr);
  const doc = Inventory.parse(JSON.parse(run.stdout));
  const warnings = run.stderr.split("\n").filter((l) => l.includes("warning"));
  assert.equal(warnings.length, 1, run.stderr);
  assert.match(warnings[0] ?? "", /not running as root/);
  const dmidecode = doc.collectors.find((c) => c.name === "dmidecode");
  assert.equal(dmidecode?.status, "skipped");
  assert.equal(dmidecode?.message, "requires root");
});

test("the README's first command: `npm start` inventories this machine and says where the JSON went", () => {
  const env = { ...process.env };
  delete env.NODE_TEST_CONTEXT;
  const run = spawnSync("npm", ["start"], { cwd: root, env, encoding: "utf8", timeout: 300_000 });
  assert.equal(run.status, 0, run.stderr);
  const where = /^document +(\S+\.json)$/m.exec(run.stdout)?.[1];
  assert.ok(where, run.stdout);
  Inventory.parse(JSON.parse(readFileSync(join(root, where), "utf8")));
});

test("serve --stall-after: a text that is no positive number is a usage error naming it", () => {
  for (const bad of ["abc", "0", "-5", ""]) {
    const run = cli(["serve", "--root", "/tmp/recon-never-created", "--stall-after", bad]);
    assert.equal(run.status, 2, bad);
    assert.match(
      run.stderr,
      new RegExp(`--stall-after needs a positive number of seconds, got "${bad}"`),
    );
  }
});
