// Entry of the single binary. packaging/build.ts bundles this file to CommonJS (a Node 24 SEA
// main must be CommonJS, so no top-level await) and injects it into the Node binary. It does
// what bin/recon-agent.js does for `npx recon-agent`, so both behave the same.
//
// NODE_OPTIONS: the SEA config sets execArgvExtension "none", so the runtime never reads it;
// it is also dropped here so that no child process (a tool the agent runs) inherits it.
import { main } from "../agent/cli.ts";

delete process.env.NODE_OPTIONS;

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    // main() never throws; this is only a last resort.
    process.stderr.write(`recon-agent: internal error: ${String(error)}\n`);
    process.exitCode = 1;
  },
);
