#!/usr/bin/env node
// `npx recon-agent` entry: runs the TypeScript sources directly on the pinned Node 24
// (type stripping). The single binary built by `npm run build` bundles the same entry.
import { main } from "../agent/cli.ts";

process.exitCode = await main(process.argv.slice(2));
