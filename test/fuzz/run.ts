// `npm run fuzz`: 10,000 cases per parser and per route (FUZZ_COUNT or --count N to change),
// prints count, failures and time per target; exits 1 when any case failed.
import { parseArgs } from "node:util";
import { formatResults, fuzzAll } from "./harness.ts";

const { values } = parseArgs({ options: { count: { type: "string" }, seed: { type: "string" } } });
const count = Number(values.count ?? process.env.FUZZ_COUNT ?? 10_000);
const seed = Number(values.seed ?? process.env.FUZZ_SEED ?? 20261201);
if (!Number.isInteger(count) || count < 1) throw new Error(`--count must be a positive integer`);
const results = await fuzzAll(count, seed);
console.log(`fuzz: ${count} cases per target, seed ${seed}`);
console.log(formatResults(results));
if (results.some((r) => r.failures > 0)) process.exitCode = 1;
