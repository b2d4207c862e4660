// Unpacks a ttar archive (the text tar of prometheus/procfs test fixtures) into a directory, so
// the agent's real sysfs readers run over a real sysfs tree. Format, per entry, separated by
// "# ttar - - -" lines:
//   Directory: class/infiniband           Path: class/infiniband/mlx4_0/fw_ver
//   Mode: 755                             Lines: 1
//                                         2.31.5050
//                                         Mode: 644
//   Path: class/drm/card0/device/driver
//   SymlinkTo: ../../../../bus/pci/drivers/amdgpu
// A last line ending in "EOF" has no trailing newline.
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";

export function unpackTtar(archive: string, into: string): void {
  const lines = readFileSync(archive, "utf8").split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? "";
    const dir = /^Directory: (.+)$/.exec(line);
    if (dir?.[1]) {
      mkdirSync(join(into, dir[1]), { recursive: true });
      continue;
    }
    const path = /^Path: (.+)$/.exec(line)?.[1];
    if (!path) continue;
    const next = lines[i + 1] ?? "";
    const target = join(into, path);
    mkdirSync(dirname(target), { recursive: true });
    const link = /^SymlinkTo: (.+)$/.exec(next);
    if (link?.[1]) {
      symlinkSync(link[1], target);
      i += 1;
      continue;
    }
    const count = Number(/^Lines: (\d+)$/.exec(next)?.[1] ?? Number.NaN);
    if (!Number.isInteger(count)) throw new Error(`${archive}: entry ${path} without Lines:`);
    const body = lines.slice(i + 2, i + 2 + count);
    let content = body.map((l) => `${l}\n`).join("");
    if (content.endsWith("EOF\n")) content = content.slice(0, -4);
    writeFileSync(target, content);
    i += 1 + count;
  }
}
