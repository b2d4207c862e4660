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
