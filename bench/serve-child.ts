// A master in its own process, for bench/master.ts (RSS sampling) and the crash test (SIGKILL).
//   node bench/serve-child.ts --root DIR [--host H] [--port N] [--token T] [--quiet]
//        [--static /prefix=DIR]... [--file /path=FILE]...
// Log events go to stdout, one JSON object per line; the first is "listening" with the port
// (with --quiet only that one). SIGTERM/SIGINT close the server and exit 0. Like serveCommand, it
// applies tuneProcessForServing() first, so the benchmark measures what `recon-agent serve` runs.
import { parseArgs } from "node:util";
import { startServer, tuneProcessForServing } from "../agent/master/index.ts";

const { values } = parseArgs({
  options: {
    root: { type: "string" },
    host: { type: "string", default: "127.0.0.1" },
    port: { type: "string", default: "0" },
    token: { type: "string" },
    quiet: { type: "boolean", default: false },
    static: { type: "string", multiple: true, default: [] },
    file: { type: "string", multiple: true, default: [] },
  },
});
if (!values.root) {
  process.stderr.write("serve-child: --root is required\n");
  process.exit(2);
}

function pairs(list: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of list) {
    const at = item.indexOf("=");
    if (at <= 0) throw new Error(`expected /prefix=path, got ${item}`);
    out[item.slice(0, at)] = item.slice(at + 1);
  }
  return out;
}

// Same process tuning as `recon-agent serve` (serveCommand).
tuneProcessForServing();
const quiet = values.quiet;
const server = await startServer({
  root: values.root,
  host: values.host,
  port: Number(values.port),
  token: values.token ?? null,
  staticRoots: pairs(values.static),
  files: pairs(values.file),
  log: (event) => {
    if (!quiet || event.event === "listening") process.stdout.write(`${JSON.stringify(event)}\n`);
  },
});

let stopping = false;
const stop = () => {
  if (stopping) return;
  stopping = true;
  server.close().then(() => process.exit(0));
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
