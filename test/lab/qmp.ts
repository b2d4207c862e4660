// A minimal QMP client: connects to a QEMU's `-qmp unix:<path>,server=on,wait=off` socket and
// records its events. The lab uses them as the record of how a peer went off:
//   SHUTDOWN reason "host-ipmi"        the BMC switched the chassis off (chassis power off)
//   POWERDOWN, then SHUTDOWN "guest-shutdown"   the BMC pressed the ACPI power button
//                                      (chassis power soft) and the OS shut down
//   SHUTDOWN "guest-shutdown" alone    the OS powered itself off
// QMP timestamps are host time, so they compare with file times on the master.
import { connect, type Socket } from "node:net";
import { sleep } from "./proc.ts";

export interface QmpEvent {
  event: string;
  /** ms since the epoch (host clock), from QMP's timestamp. */
  at: number;
  data: Record<string, unknown>;
}

export class QmpClient {
  readonly events: QmpEvent[] = [];
  private socket: Socket | null = null;
  private buffer = "";
  private listeners: ((e: QmpEvent) => void)[] = [];

  /** Connects (retrying while QEMU creates the socket) and enables events. */
  static async connect(path: string, timeoutMs = 20_000): Promise<QmpClient> {
    const client = new QmpClient();
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        await client.open(path);
        return client;
      } catch (err) {
        if (Date.now() > deadline) throw new Error(`QMP ${path}: ${(err as Error).message}`);
        await sleep(100);
      }
    }
  }

  private open(path: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const socket = connect(path);
      let greeted = false;
      socket.setEncoding("utf8");
      socket.once("error", reject);
      socket.on("data", (chunk: string) => {
        this.buffer += chunk;
        let nl = this.buffer.indexOf("\n");
        while (nl >= 0) {
          const line = this.buffer.slice(0, nl).trim();
          this.buffer = this.buffer.slice(nl + 1);
          nl = this.buffer.indexOf("\n");
          if (!line) continue;
          let msg: Record<string, unknown>;
          try {
            msg = JSON.parse(line) as Record<string, unknown>;
          } catch {
            continue;
          }
          if ("QMP" in msg && !greeted) {
            greeted = true;
            socket.write('{"execute":"qmp_capabilities"}\n');
          } else if ("return" in msg && greeted && this.socket === null) {
            this.socket = socket;
            socket.off("error", reject);
            socket.on("error", () => {});
            resolve();
          } else if (typeof msg.event === "string") {
            const ts = msg.timestamp as { seconds?: number; microseconds?: number } | undefined;
            const at =
              ts?.seconds !== undefined
                ? ts.seconds * 1000 + Math.floor((ts.microseconds ?? 0) / 1000)
                : Date.now();
            const event: QmpEvent = {
              event: msg.event,
              at,
              data: (msg.data as Record<string, unknown>) ?? {},
            };
            this.events.push(event);
            for (const l of this.listeners) l(event);
          }
        }
      });
    });
  }

  onEvent(listener: (e: QmpEvent) => void): void {
    this.listeners.push(listener);
  }

  /** Sends a command without waiting for its answer (e.g. "quit"). */
  send(command: string): void {
    this.socket?.write(`${JSON.stringify({ execute: command })}\n`);
  }

  close(): void {
    this.socket?.destroy();
    this.socket = null;
  }
}
