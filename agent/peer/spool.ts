// Where a peer keeps what the master never acknowledged: nothing is lost, and an operator can
// copy the spool off the node (or re-run with the master reachable).
import { mkdir, open, rename, stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import { ERROR_CODES, ReconError } from "../errors.ts";

export const DEFAULT_SPOOL_DIR = "/var/spool/recon";

/**
 * `mkdir -p` that always ends. Node's recursive mkdir loops forever where mkdir answers ENOENT
 * although the parent exists (procfs: `/proc/newdir`); here ENOENT is retried once, only after
 * the parent was created, so every error (ENOENT, EPERM on sysfs, ENOTDIR) comes back.
 */
export async function makeDirectory(path: string, mode?: number): Promise<void> {
  try {
    await mkdir(path, { mode });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "EEXIST") {
      if ((await stat(path)).isDirectory()) return;
      throw error;
    }
    const parent = dirname(path);
    if (code !== "ENOENT" || parent === path) throw error;
    const parentExists = await stat(parent).then(
      (s) => s.isDirectory(),
      () => false,
    );
    if (parentExists) throw error;
    await makeDirectory(parent, mode);
    await mkdir(path, { mode });
  }
}

async function writeAtomic(path: string, bytes: Uint8Array): Promise<void> {
  const temp = `${path}.partial`;
  const handle = await open(temp, "w", 0o600);
  try {
    await handle.writeFile(bytes);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(temp, path);
}

/** Writes the document and evidence under <spoolDir>/<nodeId>/; returns that directory. */
export async function spool(
  spoolDir: string,
  nodeId: string,
  inventory: Uint8Array,
  evidence: Uint8Array | null,
): Promise<string> {
  const dir = join(spoolDir, nodeId);
  try {
    await makeDirectory(dir, 0o700);
    await writeAtomic(join(dir, "inventory.json"), inventory);
    if (evidence) await writeAtomic(join(dir, "evidence.tar.gz"), evidence);
  } catch (error) {
    throw new ReconError(ERROR_CODES.IO, `cannot spool to ${dir}: ${String(error)}`, {
      cause: error,
    });
  }
  return dir;
}
