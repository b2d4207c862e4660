// Shared property test for parsers: real captures, cut short or overwritten in place, must still
// parse (no throw) into values the caller's check accepts (usually a zod schema).
import fc from "fast-check";

export function assertSurvivesMutations(
  samples: readonly string[],
  check: (text: string) => void,
  numRuns = 300,
): void {
  fc.assert(
    fc.property(
      fc.constantFrom(...samples),
      fc.nat(),
      fc.nat(),
      fc.string(),
      (text, cut, at, insert) => {
        check(text.slice(0, cut % (text.length + 1)));
        const i = at % (text.length + 1);
        check(text.slice(0, i) + insert + text.slice(i + insert.length));
      },
    ),
    { numRuns },
  );
}

/** What a `read*` parser returns: the facts it could read and why the input was not valid. */
export interface ParseOutcome {
  value: unknown;
  problem: string | null;
}

/**
 * Every string in a parsed value (nested objects and arrays included). Numbers count only when a
 * `carried` mapping made them: parsers derive many numbers (counts, sums) no single line holds.
 */
function stringLeaves(value: unknown, out: Set<string> = new Set(), numbers = false): Set<string> {
  if (typeof value === "string") out.add(value);
  else if (numbers && typeof value === "number") out.add(String(value));
  else if (Array.isArray(value)) for (const item of value) stringLeaves(item, out, numbers);
  else if (typeof value === "object" && value !== null) {
    for (const item of Object.values(value)) stringLeaves(item, out, numbers);
  }
  return out;
}

/**
 * Facts of a sample: the strings of its parse that appear verbatim in it (at least 3 characters,
 * so "0" or "ok" do not count), each with every place it appears.
 */
function factsOf(text: string, value: unknown, numbers: boolean): Map<string, number[]> {
  const facts = new Map<string, number[]>();
  for (const fact of stringLeaves(value, new Set(), numbers)) {
    if (fact.length < 3) continue;
    const at: number[] = [];
    for (let i = text.indexOf(fact); i >= 0; i = text.indexOf(fact, i + 1)) at.push(i);
    if (at.length > 0) facts.set(fact, at);
  }
  return facts;
}

/** [start, end) of the blank-line separated block around `index`. */
function blockAround(text: string, index: number): [number, number] {
  const before = text.lastIndexOf("\n\n", index);
  const after = text.indexOf("\n\n", index);
  return [Math.max(before, 0), after < 0 ? text.length : after + 2];
}

/**
 * Honest status and content, for a parser that returns a `ParseOutcome`:
 * - every real sample parses without a problem and yields facts (a parser that returns [] for
 *   everything fails here);
 * - random bytes always give a problem (no tool prints them);
 * - a sample cut short or overwritten in place either gives a problem, or keeps every fact whose
 *   every occurrence sits in a block (blank-line separated record) the mutation left intact.
 *   JSON captures have one block, so for them this asks: valid JSON, or a problem (checked
 *   against JSON.parse itself when `json` is set).
 * `carried` turns a parsed value into the text its facts have in the capture, for parsers that
 * convert units (meminfo's kB become bytes); by default its strings and numbers.
 */
export function assertHonestParser(
  samples: readonly string[],
  read: (text: string) => ParseOutcome,
  options: { json?: boolean; numRuns?: number; carried?: (value: unknown) => unknown } = {},
): void {
  const numRuns = options.numRuns ?? 200;
  const carried = options.carried ?? ((value: unknown) => value);
  const sampleFacts = samples.map((text) => {
    const outcome = read(text);
    if (outcome.problem !== null) {
      throw new Error(`a real sample has a problem: ${outcome.problem}`);
    }
    return factsOf(text, carried(outcome.value), options.carried !== undefined);
  });
  // A sample may be genuinely empty (a scan without disks), but not all of them.
  if (sampleFacts.every((facts) => facts.size === 0)) {
    throw new Error("no fact read from any real sample");
  }
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 16, maxLength: 4096 }), (bytes) => {
      const text = Buffer.from(bytes).toString("utf8");
      if (read(text).problem === null) throw new Error("random bytes parsed without a problem");
    }),
    { numRuns },
  );
  const checkMutation = (
    text: string,
    facts: Map<string, number[]>,
    from: number,
    to: number,
    mutated: string,
  ) => {
    const outcome = read(mutated);
    if (outcome.problem !== null) return;
    if (options.json && mutated.trim() !== "") {
      try {
        JSON.parse(mutated);
      } catch {
        throw new Error(`invalid JSON read without a problem: ${mutated.slice(0, 80)}`);
      }
    }
    const kept = stringLeaves(carried(outcome.value), new Set(), options.carried !== undefined);
    for (const [fact, places] of facts) {
      const intact = places.every((at) => {
        const [start, end] = blockAround(text, at);
        // Untouched: the block ends before the mutation, or (for an overwrite) starts after it.
        return end <= from || (to < text.length && start >= to);
      });
      if (intact && !kept.has(fact)) {
        throw new Error(`"${fact}" from an intact record was dropped without a problem`);
      }
    }
  };
  fc.assert(
    fc.property(
      fc.nat({ max: samples.length - 1 }),
      fc.nat(),
      fc.nat(),
      fc.string({ minLength: 1 }),
      (which, cut, at, insert) => {
        const text = samples[which] as string;
        const facts = sampleFacts[which] as Map<string, number[]>;
        const end = cut % (text.length + 1);
        checkMutation(text, facts, end, text.length, text.slice(0, end));
        const i = at % (text.length + 1);
        const j = Math.min(text.length, i + insert.length);
        checkMutation(text, facts, i, j, text.slice(0, i) + insert + text.slice(j));
      },
    ),
    { numRuns },
  );
}
