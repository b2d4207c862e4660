// The fuzzing harness at a small count (`npm run fuzz` runs 10,000 per target): every parser
// and every master route, random and mutated real input, 0 failures.
import assert from "node:assert/strict";
import { test } from "node:test";
import { formatResults, fuzzParser, fuzzRoutes, PARSERS, ROUTES } from "./fuzz/harness.ts";

const COUNT = Number(process.env.FUZZ_COUNT ?? 200);

for (const [i, target] of PARSERS.entries()) {
  test(`fuzz ${target.name}: ${COUNT} random and mutated inputs`, () => {
    const result = fuzzParser(target, COUNT, 1 + i);
    assert.equal(result.count, COUNT);
    assert.equal(result.failures, 0, formatResults([result]));
  });
}

test(`fuzz the master's routes: ${COUNT} requests each`, async (t) => {
  const results = await fuzzRoutes(COUNT, 7);
  assert.deepEqual(
    results.map((r) => r.target),
    ROUTES.map((r) => r.name),
  );
  for (const result of results) {
    await t.test(result.target, () => {
      assert.equal(result.count, COUNT);
      assert.equal(result.failures, 0, formatResults([result]));
    });
  }
});
