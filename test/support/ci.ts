// Whether the tests run under CI. `.ci/run` exports CI=true; only that exact value counts, so a
// stray CI=0, CI=false or CI= in a developer's shell does not turn skips into failures (and an
// empty value never passes for CI). Under CI a real-component test whose prerequisite is missing
// fails instead of skipping: every test that asks "are we in CI?" imports this one constant.
export const underCI = process.env.CI === "true";
