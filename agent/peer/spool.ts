// Where a peer keeps what the master never acknowledged: nothing is lost, and an operator can
// copy the spool off the node (or re-run with the master reachable).
import { open, rename } from "node:fs/promises";
import { join } from "node:path";
import { ERROR_CODES, ReconError } from "../errors.ts";
import { makeDirectory } from "../fs.ts";

export const DEFAULT_SPOOL_DIR = "/var/spool/recon";

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
