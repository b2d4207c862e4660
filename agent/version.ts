// Agent name, version and commit. The bundler replaces RECON_BUILD_* for the single binary;
// from source, the version comes from package.json and the commit from the checkout's .git
// (read as files, no git process: --version must stay as fast as plain node), else "source".
import { readFileSync } from "node:fs";
import packageJson from "../package.json" with { type: "json" };

declare const RECON_BUILD_VERSION: string | undefined;
declare const RECON_BUILD_COMMIT: string | undefined;

function readText(url: URL | string): string | null {
  try {
    return readFileSync(url, "utf8").trim();
  } catch {
    return null;
  }
}

/**
 * The checkout's HEAD commit, short like `git rev-parse --short HEAD` (7 hex digits); null when
 * this is not a git checkout. Follows a worktree's `gitdir:` file, loose refs and packed-refs.
 */
export function checkoutCommit(root: URL = new URL("../", import.meta.url)): string | null {
  let gitDir = new URL(".git/", root);
  const pointer = readText(new URL(".git", root));
  if (pointer?.startsWith("gitdir: ")) {
    const target = pointer.slice("gitdir: ".length);
    gitDir = new URL(`${target.replace(/\/?$/, "/")}`, root);
  }
  const head = readText(new URL("HEAD", gitDir));
  if (!head) return null;
  let sha: string | null = head;
  if (head.startsWith("ref: ")) {
    const ref = head.slice("ref: ".length);
    // A worktree keeps its HEAD but shares refs with the main checkout (commondir).
    const common = readText(new URL("commondir", gitDir));
    const refsDir = common ? new URL(`${common.replace(/\/?$/, "/")}`, gitDir) : gitDir;
    sha =
      readText(new URL(ref, refsDir)) ??
      readText(new URL(ref, gitDir)) ??
      (readText(new URL("packed-refs", refsDir)) ?? "")
        .split("\n")
        .find((line) => line.endsWith(` ${ref}`))
        ?.split(" ")[0] ??
      null;
  }
  return sha && /^[0-9a-f]{40}$/.test(sha) ? sha.slice(0, 7) : null;
}

export const AGENT_NAME = "recon-agent";
export const AGENT_VERSION: string =
  typeof RECON_BUILD_VERSION === "string" ? RECON_BUILD_VERSION : packageJson.version;
export const AGENT_COMMIT: string =
  typeof RECON_BUILD_COMMIT === "string" ? RECON_BUILD_COMMIT : (checkoutCommit() ?? "source");
