// `npm run package`: what the master serves to peers, one package per architecture (a peer
// fetches only its own agent: post-$(uname -m).tgz, packaging/recon-role.sh):
//
//   dist/post-x86_64.tgz    post.sh, recon-agent-x86_64 (dist/recon-agent), SHA256SUMS
//   dist/post-aarch64.tgz   post.sh, recon-agent-aarch64 (dist/recon-agent-arm64), SHA256SUMS
//   dist/post.tgz           the same bytes as post-x86_64.tgz, for peers that ask for post.tgz
//                           (images from before the per-architecture packages)
//
//   post.sh               verifies SHA256SUMS, picks the binary by `uname -m`, runs it
//   SHA256SUMS            sha256sum format ("<hex>  <name>")
//
// makePostTgz can still pack both binaries into one archive (arches: both). The archives are
// reproducible: sorted names, owner root, fixed mtime (SOURCE_DATE_EPOCH, else the commit
// time). Compression: see COMPRESSORS. GNU tar detects the format when reading, so peers still
// run `tar xf`. Sizes and the reasons: packaging/README.md.
//
// Usage: node packaging/package.ts [--no-build] [--compress xz|zstd|gzip] [--out-dir DIR]
import { execFileSync, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { chmod, copyFile, mkdir, rename, rm, stat, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { pipeline } from "node:stream/promises";
import { parseArgs } from "node:util";
import { ARCH_INFO, ARCHES, type Arch, build, ROOT } from "./build.ts";

export type Compressor = "xz" | "zstd" | "gzip";

/** Compressor argv (reads the tar on stdin, writes to stdout) and what a peer needs. */
export const COMPRESSORS: Record<Compressor, { argv: string[]; peerNeeds: string }> = {
  // 192 MiB dictionary: both binaries (~217 MB together) mostly in one window; the peer needs
  // ~200 MiB of RAM to unpack, which a machine that booted a live image has. The x86 BCJ
  // filter saves ~0.8 MB net (more on the x86_64 binary than it costs on the aarch64 one).
  // One binary (~111 MB) fits a 128 MiB dictionary; both need 192 MiB (see xzArgv).
  xz: {
    argv: ["xz", "-c", "-T1", "--x86", "--lzma2=preset=9e,dict=192MiB"],
    peerNeeds: "GNU tar and xz",
  },
  // --long=27 is the largest window `zstd -d` accepts without flags (tar passes none).
  zstd: { argv: ["zstd", "-c", "-q", "-19", "--long=27", "-T0"], peerNeeds: "GNU tar and zstd" },
  gzip: { argv: ["gzip", "-c", "-9", "-n"], peerNeeds: "tar and gzip" },
};

/** Name of each binary inside post.tgz: recon-agent-<uname -m>. */
export function postBinaryName(arch: Arch): string {
  return `recon-agent-${ARCH_INFO[arch].unameMachine}`;
}

/** File name of an architecture's package: post-<uname -m>.tgz. */
export function postPackageName(arch: Arch): string {
  return `post-${ARCH_INFO[arch].unameMachine}.tgz`;
}

/**
 * The compressor's argv for the binaries packed. xz: the x86 BCJ filter only when the x86_64
 * binary is in (both: it gains more on x86_64 than it costs on aarch64; aarch64 alone: plain
 * LZMA2, which every xz decodes), and a dictionary the size of what is packed (the peer needs
 * that much RAM to unpack).
 */
export function compressorArgv(compressor: Compressor, arches: readonly Arch[]): string[] {
  if (compressor !== "xz") return COMPRESSORS[compressor].argv;
  const x86 = arches.includes("x64") ? ["--x86"] : [];
  const dict = arches.length > 1 ? "192MiB" : "128MiB";
  return ["xz", "-c", "-T1", ...x86, `--lzma2=preset=9e,dict=${dict}`];
}

export async function sha256File(path: string): Promise<string> {
  const hash = createHash("sha256");
  await pipeline(createReadStream(path), hash);
  return hash.digest("hex");
}

/** SHA256SUMS text for files in dir, in the given order. */
export async function sha256sums(dir: string, names: readonly string[]): Promise<string> {
  let text = "";
  for (const name of names) text += `${await sha256File(join(dir, name))}  ${name}\n`;
  return text;
}

function sourceDateEpoch(): number {
  const fromEnv = Number(process.env.SOURCE_DATE_EPOCH);
  if (Number.isInteger(fromEnv) && fromEnv > 0) return fromEnv;
  try {
    return Number(
      execFileSync("git", ["log", "-1", "--format=%ct"], {
        cwd: ROOT,
        encoding: "utf8",
        stdio: ["ignore", "pipe", "ignore"],
      }).trim(),
    );
  } catch {
    return 0;
  }
}

/** Runs `tar c ... | <compressor> > out`. */
async function tarCompress(dir: string, names: string[], out: string, argv: readonly string[]) {
  const tarArgs = [
    "--create",
    "--file=-",
    "--format=gnu",
    "--sort=name",
    "--owner=0",
    "--group=0",
    "--numeric-owner",
    `--mtime=@${sourceDateEpoch()}`,
    "-C",
    dir,
    ...names,
  ];
  const [cmd, ...args] = argv as [string, ...string[]];
  const tar = spawn("tar", tarArgs, { stdio: ["ignore", "pipe", "inherit"] });
  const comp = spawn(cmd, args, { stdio: ["pipe", "pipe", "inherit"] });
  const exited = (p: ReturnType<typeof spawn>, what: string) =>
    new Promise<void>((ok, fail) => {
      p.on("error", (e) => fail(new Error(`${what}: ${e.message}`)));
      p.on("close", (code) => (code === 0 ? ok() : fail(new Error(`${what} exited ${code}`))));
    });
  const done = Promise.all([exited(tar, "tar"), exited(comp, cmd)]);
  tar.stdout.pipe(comp.stdin);
  await Promise.all([pipeline(comp.stdout, createWriteStream(out)), done]);
}

export interface PackageResult {
  path: string;
  bytes: number;
  compressor: Compressor;
  members: { name: string; bytes: number }[];
  seconds: number;
}

/**
 * One archive with post.sh, the binaries of `arches` (default: both) and SHA256SUMS. Default
 * out: dist/post-<uname -m>.tgz for one architecture, dist/post.tgz for both.
 */
export async function makePostTgz(
  options: {
    distDir?: string;
    compressor?: Compressor;
    out?: string;
    arches?: readonly Arch[];
  } = {},
): Promise<PackageResult> {
  const started = performance.now();
  const dist = resolve(ROOT, options.distDir ?? "dist");
  const compressor = options.compressor ?? "xz";
  const arches = options.arches ?? ARCHES;
  const only = arches.length === 1 ? (arches[0] as Arch) : null;
  const stage = join(dist, only ? `.package-${only}` : ".package");
  await rm(stage, { recursive: true, force: true });
  await mkdir(stage, { recursive: true });

  await copyFile(join(ROOT, "packaging/post.sh"), join(stage, "post.sh"));
  await chmod(join(stage, "post.sh"), 0o755);
  const binaries: string[] = [];
  for (const arch of arches) {
    const from = join(dist, ARCH_INFO[arch].outName);
    const name = postBinaryName(arch);
    await copyFile(from, join(stage, name)).catch((e: Error) => {
      throw new Error(`${from} is missing (run npm run build): ${e.message}`);
    });
    await chmod(join(stage, name), 0o755);
    binaries.push(name);
  }
  const sumsFor = ["post.sh", ...binaries];
  await writeFile(join(stage, "SHA256SUMS"), await sha256sums(stage, sumsFor));
  const names = ["SHA256SUMS", ...sumsFor];

  const out = options.out ?? join(dist, only ? postPackageName(only) : "post.tgz");
  const tmp = `${out}.tmp`;
  await tarCompress(stage, names, tmp, compressorArgv(compressor, arches));
  await rename(tmp, out);
  const members = await Promise.all(
    names.map(async (name) => ({ name, bytes: (await stat(join(stage, name))).size })),
  );
  await rm(stage, { recursive: true, force: true });
  return {
    path: out,
    bytes: (await stat(out)).size,
    compressor,
    members,
    seconds: (performance.now() - started) / 1000,
  };
}

/**
 * `npm run package`'s output: post-x86_64.tgz and post-aarch64.tgz (in parallel: xz -T1 each),
 * then post.tgz as a copy of post-x86_64.tgz.
 */
export async function makePostPackages(
  options: { distDir?: string; compressor?: Compressor } = {},
): Promise<PackageResult[]> {
  const results = await Promise.all(
    ARCHES.map((arch) => makePostTgz({ ...options, arches: [arch] })),
  );
  const x86 = results[ARCHES.indexOf("x64")] as PackageResult;
  const alias = join(dirname(x86.path), "post.tgz");
  await copyFile(x86.path, `${alias}.tmp`);
  await rename(`${alias}.tmp`, alias);
  return [...results, { ...x86, path: alias, seconds: 0 }];
}

async function cli(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      "no-build": { type: "boolean" },
      compress: { type: "string", default: "xz" },
      "out-dir": { type: "string", default: "dist" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    process.stdout.write(
      "Usage: node packaging/package.ts [--no-build] [--compress xz|zstd|gzip] [--out-dir DIR]\n",
    );
    return 0;
  }
  const compressor = values.compress as Compressor;
  if (!(compressor in COMPRESSORS)) {
    process.stderr.write(`package: --compress must be xz, zstd or gzip\n`);
    return 2;
  }
  if (!values["no-build"]) await build({ outDir: values["out-dir"] });
  const results = await makePostPackages({ distDir: values["out-dir"], compressor });
  const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;
  for (const result of results) {
    for (const m of result.members) process.stderr.write(`package: ${m.name} ${mb(m.bytes)}\n`);
    process.stderr.write(
      `package: ${result.path}: ${mb(result.bytes)} (${result.bytes} bytes, ${compressor}, ` +
        `peers need ${COMPRESSORS[compressor].peerNeeds}) in ${result.seconds.toFixed(1)} s\n`,
    );
  }
  return 0;
}

if (import.meta.main) {
  cli(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      process.stderr.write(`package: ${(error as Error).message}\n`);
      process.exitCode = 1;
    },
  );
}
