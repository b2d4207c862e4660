// `npm run package`: dist/post.tgz, what the master serves to peers.
//
//   post.sh               verifies SHA256SUMS, picks the binary by `uname -m`, runs it
//   recon-agent-x86_64    dist/recon-agent
//   recon-agent-aarch64   dist/recon-agent-arm64
//   SHA256SUMS            sha256sum format ("<hex>  <name>")
//
// The archive is reproducible: sorted names, owner root, fixed mtime (SOURCE_DATE_EPOCH, else
// the commit time). Compression: see COMPRESSORS; the default is xz with a dictionary large
// enough to hold both binaries, so the ~45 MB the two Node runtimes share (ICU data, Node's
// own JavaScript) is stored once. GNU tar detects the format when reading, so peers still run
// `tar xf post.tgz`; the name stays post.tgz because that is the URL of the original design.
// Sizes and the reasons: packaging/README.md.
//
// Usage: node packaging/package.ts [--no-build] [--compress xz|zstd|gzip] [--out-dir DIR]
import { execFileSync, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { chmod, copyFile, mkdir, rename, rm, stat, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { pipeline } from "node:stream/promises";
import { parseArgs } from "node:util";
import { ARCH_INFO, ARCHES, type Arch, build, ROOT } from "./build.ts";

export type Compressor = "xz" | "zstd" | "gzip";

/** Compressor argv (reads the tar on stdin, writes to stdout) and what a peer needs. */
export const COMPRESSORS: Record<Compressor, { argv: string[]; peerNeeds: string }> = {
  // 192 MiB dictionary: both binaries (~217 MB together) mostly in one window; the peer needs
  // ~200 MiB of RAM to unpack, which a machine that booted a live image has. The x86 BCJ
  // filter saves ~0.8 MB net (more on the x86_64 binary than it costs on the aarch64 one).
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
async function tarCompress(dir: string, names: string[], out: string, compressor: Compressor) {
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
  const [cmd, ...args] = COMPRESSORS[compressor].argv as [string, ...string[]];
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

export async function makePostTgz(
  options: { distDir?: string; compressor?: Compressor; out?: string } = {},
): Promise<PackageResult> {
  const started = performance.now();
  const dist = resolve(ROOT, options.distDir ?? "dist");
  const compressor = options.compressor ?? "xz";
  const stage = join(dist, ".package");
  await rm(stage, { recursive: true, force: true });
  await mkdir(stage, { recursive: true });

  await copyFile(join(ROOT, "packaging/post.sh"), join(stage, "post.sh"));
  await chmod(join(stage, "post.sh"), 0o755);
  const binaries: string[] = [];
  for (const arch of ARCHES) {
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

  const out = options.out ?? join(dist, "post.tgz");
  const tmp = `${out}.tmp`;
  await tarCompress(stage, names, tmp, compressor);
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
  const result = await makePostTgz({ distDir: values["out-dir"], compressor });
  const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;
  for (const m of result.members) process.stderr.write(`package: ${m.name} ${mb(m.bytes)}\n`);
  process.stderr.write(
    `package: ${result.path}: ${mb(result.bytes)} (${result.bytes} bytes, ${compressor}, ` +
      `peers need ${COMPRESSORS[compressor].peerNeeds}) in ${result.seconds.toFixed(1)} s\n`,
  );
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
