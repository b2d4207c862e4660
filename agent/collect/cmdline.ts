// /proc/cmdline: how this node was booted, and recon's own configuration keys.
//
// Real input (a peer booted from the master's iPXE menu):
//   initrd=initrd root=live:http://10.13.37.1/install/recon/recon.iso rd.live.image
//   BOOTIF=01-52-54-00-12-34-56 pxeaddr=10.13.37.1 postaction=liveboot console=ttyS0,115200n8
import { readFileSync } from "node:fs";
import type { Boot } from "../../schema/inventory.ts";
import type { Probe, Runner } from "../exec.ts";
import { cleanString, normalizeMac } from "../normalize.ts";
import { type Collect, reportOf, usableOutput } from "./types.ts";

/** Keys whose values are secrets: never copied into the document. */
export const SECRET_KEYS: ReadonlySet<string> = new Set(["recon.token"]);

/** One word of a kernel command line: where it sits in the text, and its key and value. */
export interface CmdlineWord {
  start: number;
  end: number;
  key: string;
  value: string;
}

/**
 * The one tokenizer of the kernel command line (the parser and the redaction both use it).
 * Double quotes group words (`key="a b"`, `"key=a b"`), as the kernel does; a bare word is a
 * flag with value "".
 */
export function cmdlineWords(text: string): CmdlineWord[] {
  const words: CmdlineWord[] = [];
  for (const match of text.matchAll(/(?:[^\s"]+|"[^"]*"?)+/g)) {
    const unquoted = match[0].replace(/"/g, "");
    const eq = unquoted.indexOf("=");
    const key = eq === -1 ? unquoted : unquoted.slice(0, eq);
    if (key.length === 0) continue;
    const start = match.index;
    words.push({
      start,
      end: start + match[0].length,
      key,
      value: eq === -1 ? "" : unquoted.slice(eq + 1),
    });
  }
  return words;
}

/** Splits a kernel command line into key/value pairs, in order (see cmdlineWords). */
export function splitCmdline(text: string): Array<[string, string]> {
  return cmdlineWords(text).map((word) => [word.key, word.value]);
}

/** BOOTIF as pxelinux/iPXE pass it: "01-aa-bb-cc-dd-ee-ff" (01 = Ethernet); plain MACs too. */
export function parseBootif(value: string | null | undefined): string | null {
  if (!value) return null;
  const trimmed = value.trim().toLowerCase();
  const withoutType = /^[0-9a-f]{2}-(?:[0-9a-f]{2}-){5}[0-9a-f]{2}$/.test(trimmed)
    ? trimmed.slice(3)
    : trimmed;
  return normalizeMac(withoutType);
}

/** Parses /proc/cmdline text into the document's `boot` section. Never throws. */
export function parseCmdline(text: string): Boot {
  const params: Record<string, string> = {};
  for (const [key, value] of splitCmdline(String(text ?? ""))) {
    if (SECRET_KEYS.has(key)) continue;
    params[key] = value;
  }
  return {
    bootMac: parseBootif(params.BOOTIF),
    pxeServer: cleanString(params.pxeaddr),
    postAction: cleanString(params.postaction),
    params,
    // The firmware facts come from their own collector (efi.ts), merged in by collect/index.ts.
    firmware: null,
    secureBoot: null,
  };
}

/**
 * The cmdline with secret values masked, as it may be written to evidence: every word the
 * tokenizer reads as a secret key (however it is quoted) becomes `key=(redacted)`.
 */
export function redactCmdline(text: string): string {
  let out = "";
  let at = 0;
  for (const word of cmdlineWords(text)) {
    if (!SECRET_KEYS.has(word.key)) continue;
    out += `${text.slice(at, word.start)}${word.key}=(redacted)`;
    at = word.end;
  }
  return out + text.slice(at);
}

export const cmdlineProbe: Probe = {
  file: "cmdline.txt",
  source: {
    kind: "internal",
    describe: "read /proc/cmdline (secrets redacted)",
    read: () => redactCmdline(readFileSync("/proc/cmdline", "utf8")),
  },
  timeoutMs: 1000,
};

/** A kernel command line given instead of /proc/cmdline (`--cmdline FILE`): its text and path. */
export interface CmdlineOverride {
  text: string;
  path: string;
}

/**
 * `inner`, except that cmdline.txt is the given command line (redacted, like /proc/cmdline), so
 * the whole document (boot.bootMac, boot.pxeServer, ...) and a capture come from that file.
 */
export function withCmdline(inner: Runner, cmdline: CmdlineOverride): Runner {
  return {
    async run(probe, signal) {
      if (probe.file !== cmdlineProbe.file) return inner.run(probe, signal);
      return {
        file: probe.file,
        status: "ok",
        output: redactCmdline(cmdline.text),
        exitCode: null,
        durationMs: 0,
        command: `read ${cmdline.path} (secrets redacted)`,
        message: null,
      };
    },
  };
}

export const emptyBoot: Boot = {
  bootMac: null,
  pxeServer: null,
  postAction: null,
  params: {},
  firmware: null,
  secureBoot: null,
};

export const collectCmdline: Collect<Boot> = async (runner, signal) => {
  const result = await runner.run(cmdlineProbe, signal);
  const output = usableOutput(result);
  return {
    value: output === null ? emptyBoot : parseCmdline(output),
    reports: [reportOf("cmdline", result)],
  };
};
