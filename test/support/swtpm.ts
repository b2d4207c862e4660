// A real TPM 2.0 for tests: swtpm (Debian package `swtpm`, on libtpms) in a temp state directory,
// its TPM command channel on a Unix socket (no port to pick, nothing on the network). It speaks
// raw TPM commands there, the bytes the agent writes to /dev/tpmrm0, so a test sends the agent's
// own command through swtpmTransport. --flags not-need-init,startup-clear: swtpm sends
// TPM2_Startup(CLEAR) itself, as a machine's firmware would have.
//
// Without swtpm: skipped with a reason, except under CI (CI=true, test/support/ci.ts), where the
// test runs and startSwtpm() fails naming the package (the ipmi-sim.ts convention).
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TpmTransport } from "../../agent/collect/tpm.ts";
import { onPath } from "../../agent/exec.ts";
import { underCI } from "./ci.ts";
import { until } from "./poll.ts";

export interface Swtpm {
  /** The TPM command channel (a Unix socket). */
  socket: string;
  transport: TpmTransport;
  stop(): Promise<void>;
}

const INSTALL_HINT = "apt-get install swtpm";

/** For `test(name, { skip: swtpmSkip() }, ...)`: a reason on a developer machine, false under CI. */
export function swtpmSkip(): string | false {
  if (onPath("swtpm", process.env.PATH) || underCI) return false;
  return `swtpm not installed (${INSTALL_HINT})`;
}

/**
 * One exchange over a stream socket (a Unix socket's path, or swtpm's TCP server): the command out, then bytes until the response's own
 * responseSize (bytes 2..5) is in, the peer closes, or `maxBytes` arrived.
 */
export function swtpmTransport(to: string | { host: string; port: number }): TpmTransport {
  return (command, maxBytes) =>
    new Promise((resolve, reject) => {
      const socket = typeof to === "string" ? connect(to) : connect(to.port, to.host);
      const chunks: Buffer[] = [];
      let length = 0;
      let settled = false;
      const finish = (error?: Error) => {
        if (settled) return;
        settled = true;
        socket.destroy();
        if (error) reject(error);
        else resolve(Buffer.concat(chunks).subarray(0, maxBytes));
      };
      socket.on("connect", () => socket.write(command));
      socket.on("data", (chunk: Buffer) => {
        chunks.push(chunk);
        length += chunk.length;
        const head = Buffer.concat(chunks);
        if (length >= maxBytes || (head.length >= 6 && head.length >= head.readUInt32BE(2))) {
          finish();
        }
      });
      socket.on("error", finish);
      socket.on("end", () => finish());
    });
}

export async function startSwtpm(): Promise<Swtpm> {
  if (!onPath("swtpm", process.env.PATH)) {
    throw new Error(
      `swtpm is not installed (${INSTALL_HINT})` +
        (underCI ? " (CI must provide it: .ci/apt-packages.txt lists it)" : ""),
    );
  }
  const dir = await mkdtemp(join(tmpdir(), "recon-swtpm-"));
  const socket = join(dir, "tpm.sock");
  const child: ChildProcess = spawn(
    "swtpm",
    [
      "socket",
      "--tpm2",
      "--tpmstate",
      `dir=${dir}`,
      "--server",
      `type=unixio,path=${socket}`,
      "--ctrl",
      `type=unixio,path=${join(dir, "ctrl.sock")}`,
      "--flags",
      "not-need-init,startup-clear",
      "--log",
      `file=${join(dir, "swtpm.log")}`,
    ],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr += chunk.toString("utf8").slice(0, 2000);
  });
  let exited = false;
  const gone = new Promise<void>((resolve) => {
    child.on("exit", () => {
      exited = true;
      resolve();
    });
    child.on("error", () => {
      exited = true;
      resolve();
    });
  });
  const stop = async () => {
    if (!exited) child.kill("SIGTERM");
    await gone;
    await rm(dir, { recursive: true, force: true });
  };
  try {
    // The socket is there once swtpm listens; a connect proves it.
    await until("swtpm's command socket", 10_000, async () => {
      if (exited) throw new Error(`swtpm exited: ${stderr.trim() || "no message"}`);
      const listening = await new Promise<boolean>((resolve) => {
        const probe = connect(socket);
        probe.on("connect", () => {
          probe.destroy();
          resolve(true);
        });
        probe.on("error", () => resolve(false));
      });
      return listening ? true : undefined;
    });
  } catch (error) {
    await stop();
    throw error;
  }
  return { socket, transport: swtpmTransport(socket), stop };
}
