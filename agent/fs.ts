// File-system helpers every part of recon shares (CLI, capture, spool, master store, exports).
import { mkdir, stat } from "node:fs/promises";
import { dirname } from "node:path";

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
