// What a peer's BMC told its VM: a relay on the serial link between QEMU (ipmi-bmc-extern) and
// ipmi_sim (`serial 15 ... codec VM`) that passes every byte through unchanged and records the
// hardware commands ipmi_sim sends, one JSON line each ({"at": ms, "command": "poweroff"}).
// The lab reports a BMC power-off from this record, the BMC's own action, instead of inferring it
// from a console line that is missing.
//
// The VM protocol (OpenIPMI's serial codec "VM", QEMU hw/ipmi/ipmi_bmc_extern.c): IPMI messages
// end with 0xA0, hardware commands with 0xA1, and 0xAA escapes a byte (the next one has 0x10
// set). Seen from ipmi_sim 2.0.33 on `ipmitool chassis power soft`, then `off`:
//   09 a1      graceful shutdown (the ACPI power button)
//   03 a1      power off
//
// Usage (inside the lab's namespace): node test/lab/vm-link.ts --listen PORT --to PORT --log FILE
// --listen 0 picks a free port; the relay prints "listening <port>" once it accepts connections.
import { appendFileSync } from "node:fs";
import { connect, createServer, type Socket } from "node:net";
import { parseArgs } from "node:util";

const MSG_END = 0xa0;
const CMD_END = 0xa1;
const ESCAPE = 0xaa;

export const VM_COMMANDS: Readonly<Record<number, string>> = {
  0: "noattn",
  1: "attn",
  2: "attn-irq",
  3: "poweroff",
  4: "reset",
  5: "enable-irq",
  6: "disable-irq",
  7: "send-nmi",
  8: "capabilities",
  9: "graceful-shutdown",
  255: "version",
};

/** Splits the BMC-to-VM byte stream into hardware commands; messages are skipped. Never throws. */
export class VmCommandDecoder {
  private frame: number[] = [];
  private escaped = false;

  /** The names of the commands completed by this chunk ("0x42" for a code it does not know). */
  push(chunk: Uint8Array): string[] {
    const commands: string[] = [];
    for (const byte of chunk) {
      if (this.escaped) {
        this.frame.push(byte & ~0x10);
        this.escaped = false;
      } else if (byte === ESCAPE) {
        this.escaped = true;
      } else if (byte === MSG_END) {
        this.frame = [];
      } else if (byte === CMD_END) {
        const code = this.frame[0];
        if (code !== undefined) commands.push(VM_COMMANDS[code] ?? `0x${code.toString(16)}`);
        this.frame = [];
      } else {
        this.frame.push(byte);
      }
    }
    return commands;
  }
}

export interface VmCommandRecord {
  at: number;
  command: string;
}

/** The records of a relay's log; lines that are not records are skipped. */
export function parseVmLinkLog(text: string): VmCommandRecord[] {
  const records: VmCommandRecord[] = [];
  for (const line of text.split("\n")) {
    try {
      const value = JSON.parse(line) as Partial<VmCommandRecord>;
      if (typeof value.at === "number" && typeof value.command === "string")
        records.push({ at: value.at, command: value.command });
    } catch {
      // not a record
    }
  }
  return records;
}

function relay(vm: Socket, bmcPort: number, log: string): void {
  const bmc = connect(bmcPort, "127.0.0.1");
  const decoder = new VmCommandDecoder();
  bmc.on("data", (chunk: Buffer) => {
    for (const command of decoder.push(chunk))
      appendFileSync(log, `${JSON.stringify({ at: Date.now(), command })}\n`);
    vm.write(chunk);
  });
  vm.pipe(bmc);
  const close = () => {
    vm.destroy();
    bmc.destroy();
  };
  vm.on("close", close).on("error", close);
  bmc.on("close", close).on("error", close);
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      listen: { type: "string" },
      to: { type: "string" },
      log: { type: "string" },
    },
  });
  const listen = Number(values.listen);
  const to = Number(values.to);
  if (!Number.isInteger(listen) || !Number.isInteger(to) || !values.log) {
    process.stderr.write("usage: vm-link.ts --listen PORT --to PORT --log FILE\n");
    process.exit(2);
  }
  const log = values.log;
  appendFileSync(log, "");
  const server = createServer((vm) => relay(vm, to, log));
  server.listen(listen, "127.0.0.1", () => {
    const address = server.address();
    const port = typeof address === "object" && address ? address.port : listen;
    process.stdout.write(`listening ${port}\n`);
  });
  process.on("SIGTERM", () => process.exit(0));
}
