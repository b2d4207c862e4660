// Peer configuration from the kernel command line. Documented keys (README, "Kernel command line"):
//   pxeaddr=<addr>              the master's address (the iPXE menu passes ${next-server})
//   BOOTIF=01-aa-bb-cc-dd-ee-ff the NIC this node booted from
//   postaction=liveboot         this flow (inventory, upload, power off)
//   recon.master=<url>          overrides pxeaddr, e.g. http://10.13.37.1:8080/
//   recon.token=<token>         bearer token for uploads, when the master requires one
//   recon.poweroff=soft|hard|reboot|none   what to do after the master's acknowledgement
//   recon.upload_timeout=<s>    how long to keep retrying the upload (default 600)
// Flags on the agent's command line override every one of these.

import { splitCmdline } from "../collect/cmdline.ts";
import { ERROR_CODES, ReconError } from "../errors.ts";

export const POWER_OFF_MODES = ["soft", "hard", "reboot", "none"] as const;
export type PowerOffMode = (typeof POWER_OFF_MODES)[number];

export interface PeerConfig {
  masterUrl: URL | null;
  token: string | null;
  powerOff: PowerOffMode;
  uploadTimeoutMs: number;
}

export const DEFAULT_UPLOAD_TIMEOUT_MS = 600_000;

export function isPowerOffMode(value: string): value is PowerOffMode {
  return (POWER_OFF_MODES as readonly string[]).includes(value);
}

/** Parses a master base URL; `what` names where it came from (`--master`, `recon.master`). */
export function parseMasterUrl(raw: string, what: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ReconError(ERROR_CODES.USAGE, `${what} is not a URL: ${raw}`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new ReconError(ERROR_CODES.USAGE, `${what} must be http(s): ${raw}`);
  }
  // API paths resolve relative to the base, so it must end in a slash.
  if (!url.pathname.endsWith("/")) url.pathname = `${url.pathname}/`;
  return url;
}

/** The master's base URL from recon.master= or pxeaddr=; null when neither is given. */
export function masterUrlFrom(value: {
  master?: string | null;
  pxeaddr?: string | null;
}): URL | null {
  const raw = value.master?.trim() || null;
  if (raw) return parseMasterUrl(raw, "recon.master");
  const addr = value.pxeaddr?.trim() || null;
  if (!addr) return null;
  if (!/^[A-Za-z0-9.:-]+$/.test(addr)) {
    throw new ReconError(ERROR_CODES.USAGE, `pxeaddr is not an address: ${addr}`);
  }
  return new URL(`http://${addr.includes(":") ? `[${addr}]` : addr}/`);
}

/** Longest upload retry window accepted from the kernel command line or --upload-timeout. */
export const MAX_UPLOAD_TIMEOUT_S = 86_400;

/**
 * The peer configuration from /proc/cmdline text, each field on its own: a bad value is kept as
 * the usage error it would raise, so a flag that overrides the field can still win (the CLI then
 * warns that the kernel argument was ignored).
 */
export type PeerCmdline = {
  [K in keyof PeerConfig]: { value: PeerConfig[K] } | { error: ReconError };
};

function field<T>(read: () => T): { value: T } | { error: ReconError } {
  try {
    return { value: read() };
  } catch (error) {
    if (error instanceof ReconError) return { error };
    throw error;
  }
}

export function readPeerCmdline(text: string): PeerCmdline {
  const params = new Map(splitCmdline(text));
  return {
    masterUrl: field(() =>
      masterUrlFrom({ master: params.get("recon.master"), pxeaddr: params.get("pxeaddr") }),
    ),
    token: { value: params.get("recon.token") || null },
    powerOff: field(() => {
      const powerOff = params.get("recon.poweroff") ?? "soft";
      if (!isPowerOffMode(powerOff)) {
        throw new ReconError(
          ERROR_CODES.USAGE,
          `recon.poweroff must be one of ${POWER_OFF_MODES.join(", ")}: got ${powerOff}`,
        );
      }
      return powerOff;
    }),
    uploadTimeoutMs: field(() => {
      const timeout = params.get("recon.upload_timeout");
      if (timeout === undefined) return DEFAULT_UPLOAD_TIMEOUT_MS;
      const seconds = Number(timeout);
      if (!(Number.isFinite(seconds) && seconds > 0 && seconds <= MAX_UPLOAD_TIMEOUT_S)) {
        throw new ReconError(
          ERROR_CODES.USAGE,
          `recon.upload_timeout must be seconds > 0 and at most ${MAX_UPLOAD_TIMEOUT_S}: ${timeout}`,
        );
      }
      return seconds * 1000;
    }),
  };
}

/** Reads the peer configuration from /proc/cmdline text. Throws ReconError(USAGE) on bad values. */
export function peerConfigFromCmdline(text: string): PeerConfig {
  const read = readPeerCmdline(text);
  const value = <K extends keyof PeerConfig>(key: K): PeerConfig[K] => {
    const entry = read[key];
    if ("error" in entry) throw entry.error;
    return entry.value;
  };
  return {
    masterUrl: value("masterUrl"),
    token: value("token"),
    powerOff: value("powerOff"),
    uploadTimeoutMs: value("uploadTimeoutMs"),
  };
}
