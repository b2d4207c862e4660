// The virtual data center end to end (docs/lab.md): a master (dnsmasq + the built
// `recon-agent serve`) and QEMU peers that PXE-boot, report and power themselves off through
// their BMC. Runs the same code as `npm run lab -- --peers 3 --failure-paths`.
// Needs root and the Debian packages in docs/lab.md: skipped with the reason when they are
// missing, except under CI (CI=true, test/support/ci.ts), where that is a failure.
import assert from "node:assert/strict";
import { test } from "node:test";
import { underCI } from "../support/ci.ts";
import { checkPeer, ensureDist, labPrerequisites, runLab } from "./lab.ts";

const why = labPrerequisites();
const skip = why && !underCI ? `lab cannot run here: ${why}` : false;

// Building the single binary and post.tgz (xz at its strongest: minutes on 2 cores) is a step of
// its own, so the lab's own time below is the lab's.
test("lab: dist/recon-agent and dist/post.tgz are built", { skip, timeout: 25 * 60_000 }, () => {
  if (why) assert.fail(`lab cannot run in CI: ${why} (see docs/lab.md for the packages)`);
  ensureDist((line) => process.stderr.write(`lab: ${line}\n`));
});

test("lab: 3 peers PXE-boot, report to the master and power off through IPMI; failure paths", {
  skip,
  timeout: 15 * 60_000,
}, async (t) => {
  if (why) assert.fail(`lab cannot run in CI: ${why} (see docs/lab.md for the packages)`);
  const result = await runLab({
    peers: 3,
    failurePaths: true,
    phaseTimeoutMs: 6 * 60_000,
    // Live progress on stderr (the runner reports diagnostics only when the test ends).
    log: (line) => process.stderr.write(`lab: ${line}\n`),
  });
  t.diagnostic(`lab finished in ${(result.durationMs / 1000).toFixed(1)} s`);
  assert.deepEqual(result.peers.map((p) => p.spec.name).sort(), [
    "no-bmc",
    "outage",
    "peer1",
    "peer2",
    "peer3",
  ]);
  for (const peer of result.peers) {
    await t.test(`${peer.spec.name} (${peer.scenario}, BMC ${peer.spec.bmc})`, () => {
      const problems = checkPeer(peer, result.serveHistory);
      assert.deepEqual(
        problems,
        [],
        `${peer.spec.name}: ${problems.join("; ")}\n--- serial console (last lines) ---\n${peer.serialTail}`,
      );
    });
  }
  await t.test("outage: the master was really down while the agent retried", () => {
    const outage = result.peers.find((p) => p.scenario === "outage");
    assert.ok(outage);
    assert.deepEqual(
      result.serveHistory.map((h) => h.event),
      ["start", "stop", "start"],
    );
    assert.ok(outage.agentEvents.includes("upload.retry"), "the agent logged upload.retry");
  });
  await t.test("no-bmc: fell back to the OS power-off, no IPMI involved", () => {
    const noBmc = result.peers.find((p) => p.scenario === "no-bmc");
    assert.equal(noBmc?.offMethod, "os");
  });
  await t.test("dhcp-only: lease and boot files, no agent: the master lists it as booting", () => {
    assert.ok(result.dhcpOnly, "the failure paths start a DHCP-only peer");
    assert.ok(result.dhcpOnly.fetched.length >= 3, `fetched ${result.dhcpOnly.fetched.join(" ")}`);
    assert.equal(result.dhcpOnly.state, "booting");
  });
});
