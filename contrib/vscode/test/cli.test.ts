import "./setup";

import * as assert from "node:assert/strict";
import * as os from "node:os";
import * as path from "node:path";
import { after, test } from "node:test";

import { classifyFailure, CliError, expandPath, parseJsonOutput, processRunner, Rpdev } from "../src/cli";
import { FakeRpdev, pod, statusJson } from "./setup";

const fakes: FakeRpdev[] = [];
after(() => fakes.forEach((f) => f.cleanup()));

function rpdevWith(replies: ConstructorParameters<typeof FakeRpdev>[0]["replies"]): { fake: FakeRpdev; rpdev: Rpdev } {
  const fake = new FakeRpdev({ replies });
  fakes.push(fake);
  return { fake, rpdev: new Rpdev(processRunner(() => fake.bin)) };
}

test("runs the real binary with the documented arguments", async () => {
  const { fake, rpdev } = rpdevWith({ status: statusJson([pod()]), stop: { stdout: "{}" }, hold: { stdout: "{}" }, resume: { stdout: "{}" }, open: {} });
  const status = (await rpdev.status()) as { pods: unknown[] };
  assert.equal(status.pods.length, 1);
  await rpdev.stop("abc123xyz");
  await rpdev.resume("abc123xyz");
  await rpdev.hold("abc123xyz", "30m");
  await rpdev.releaseHold("abc123xyz");
  await rpdev.open("abc123xyz", true);
  await rpdev.open("abc123xyz", false);
  assert.deepEqual(fake.calls(), [
    ["status", "--json"],
    ["stop", "abc123xyz", "--json"],
    ["resume", "abc123xyz", "--json"],
    ["hold", "abc123xyz", "30m", "--json"],
    ["hold", "abc123xyz", "--off", "--json"],
    ["open", "abc123xyz", "--cursor"],
    ["open", "abc123xyz"],
  ]);
});

test("a daemon that is not running is told apart from other failures", async () => {
  const { rpdev } = rpdevWith({
    status: { stderr: "rpdev: the daemon is not running (no socket at /run/user/1000/rpdev/rpdevd.sock)\n", code: 1 },
    stop: { stderr: "rpdev: pod abc123xyz: not found\n", code: 1 },
  });
  await assert.rejects(rpdev.status(), (e: CliError) => {
    assert.equal(e.kind, "daemon-down");
    assert.match(e.message, /not running/);
    assert.match(e.hint, /rpdev daemon start/);
    return true;
  });
  await assert.rejects(rpdev.stop("abc123xyz"), (e: CliError) => {
    assert.equal(e.kind, "failed");
    assert.match(e.message, /rpdev stop abc123xyz --json` failed: rpdev: pod abc123xyz: not found/);
    return true;
  });
});

test("a missing binary says to set rpdev.path", async () => {
  const rpdev = new Rpdev(processRunner(() => path.join(os.tmpdir(), "no-such-dir", "rpdev")));
  await assert.rejects(rpdev.status(), (e: CliError) => {
    assert.equal(e.kind, "not-found");
    assert.match(e.hint, /rpdev\.path/);
    return true;
  });
});

test("output that is not JSON is reported, log lines before JSON are skipped", async () => {
  const { rpdev } = rpdevWith({ status: { stdout: "Usage: rpdev [-h]\n" } });
  await assert.rejects(rpdev.status(), (e: CliError) => e.kind === "bad-output");
  assert.deepEqual(parseJsonOutput('warning: old config\n{"pods": [\n]}\n', "x"), { pods: [] });
  assert.equal(parseJsonOutput("  \n", "x"), null);
});

test("classifies timeouts and floods", () => {
  assert.equal(classifyFailure("rpdev", ["status"], { killed: true, signal: "SIGTERM" }, "").kind, "timeout");
  assert.equal(classifyFailure("rpdev", ["status"], { code: "ERR_CHILD_PROCESS_STDIO_MAXBUFFER" }, "").kind, "bad-output");
  assert.match(classifyFailure("rpdev", ["x"], { code: 4 }, "").message, /exit code 4/);
  assert.equal(classifyFailure("rpdev", ["status"], { code: 3 }, "rpdev: socket gone\n").kind, "daemon-down");
});

test("expands ~ in the configured path", () => {
  assert.equal(expandPath("~/.local/bin/rpdev"), path.join(os.homedir(), ".local/bin/rpdev"));
  assert.equal(expandPath("/usr/bin/rpdev"), "/usr/bin/rpdev");
  assert.equal(expandPath("rpdev"), "rpdev");
});
