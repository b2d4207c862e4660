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

/** The master's base URL from recon.master= or pxeaddr=; null when neither is given. */
export function masterUrlFrom(value: {
  master?: string | null;
  pxeaddr?: string | null;
}): URL | null {
  const raw = value.master?.trim() || null;
  if (raw) {
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      throw new ReconError(ERROR_CODES.USAGE, `recon.master is not a URL: ${raw}`);
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") {
      throw new ReconError(ERROR_CODES.USAGE, `recon.master must be http(s): ${raw}`);
    }
    // API paths resolve relative to the base, so it must end in a slash.
    if (!url.pathname.endsWith("/")) url.pathname = `${url.pathname}/`;
    return url;
  }
  const addr = value.pxeaddr?.trim() || null;
  if (!addr) return null;
  if (!/^[A-Za-z0-9.:-]+$/.test(addr)) {
    throw new ReconError(ERROR_CODES.USAGE, `pxeaddr is not an address: ${addr}`);
  }
  return new URL(`http://${addr.includes(":") ? `[${addr}]` : addr}/`);
}

/** Reads the peer configuration from /proc/cmdline text. Throws ReconError(USAGE) on bad values. */
export function peerConfigFromCmdline(text: string): PeerConfig {
  const params = new Map(splitCmdline(text));
  const powerOff = params.get("recon.poweroff") ?? "soft";
  if (!isPowerOffMode(powerOff)) {
    throw new ReconError(
      ERROR_CODES.USAGE,
      `recon.poweroff must be one of ${POWER_OFF_MODES.join(", ")}: got ${powerOff}`,
    );
  }
  const timeout = params.get("recon.upload_timeout");
  const seconds = timeout === undefined ? null : Number(timeout);
  if (seconds !== null && !(Number.isFinite(seconds) && seconds > 0)) {
    throw new ReconError(ERROR_CODES.USAGE, `recon.upload_timeout must be seconds > 0: ${timeout}`);
  }
  return {
    masterUrl: masterUrlFrom({
      master: params.get("recon.master"),
      pxeaddr: params.get("pxeaddr"),
    }),
    token: params.get("recon.token") || null,
    powerOff,
    uploadTimeoutMs: seconds === null ? DEFAULT_UPLOAD_TIMEOUT_MS : seconds * 1000,
  };
}
