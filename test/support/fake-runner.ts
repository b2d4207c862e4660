// A Runner that answers from the test instead of running anything: for collectors' thin
// `collect` functions. Records every probe it was asked for.
import { describeProbe, type Probe, type ProbeResult, type Runner } from "../../agent/exec.ts";

export function fakeRunner(
  respond: Partial<ProbeResult> | ((probe: Probe) => Partial<ProbeResult>),
): { runner: Runner; probes: Probe[] } {
  const probes: Probe[] = [];
  const runner: Runner = {
    async run(probe) {
      probes.push(probe);
      return {
        file: probe.file,
        status: "ok",
        output: "",
        exitCode: probe.source.kind === "command" ? 0 : null,
        durationMs: 3,
        command: describeProbe(probe),
        message: null,
        ...(typeof respond === "function" ? respond(probe) : respond),
      };
    },
  };
  return { runner, probes };
}
