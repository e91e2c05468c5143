// The extension against the real rpdev CLI (and, in the "up" phase, a real daemon). Run by
// tests/unit/test_vscode_extension.py, which sets up a private home and says what to expect;
// skipped in a plain `npm test`.

import "./setup";

import * as assert from "node:assert/strict";
import { test } from "node:test";

import { CliError, processRunner, Rpdev } from "../src/cli";
import { activate, deactivate } from "../src/extension";
import { parseStatus } from "../src/model";
import { fake } from "./fake-vscode";

const bin = process.env.RPDEV_E2E_BIN;
const expect = process.env.RPDEV_E2E_EXPECT;

test("no daemon: the real CLI's failure reads as 'daemon not running'", { skip: !bin || expect !== "down" }, async () => {
  const rpdev = new Rpdev(processRunner(() => bin as string));
  await assert.rejects(rpdev.status(), (e: CliError) => {
    assert.equal(e.kind, "daemon-down", e.message);
    assert.match(e.stderr, /rpdevd is not running/);
    return true;
  });
});

test("a real daemon: its status parses, and Show rpdev Status reports it", { skip: !bin || expect !== "up" }, async () => {
  const rpdev = new Rpdev(processRunner(() => bin as string));
  const snapshot = parseStatus(await rpdev.status());
  assert.ok(snapshot.daemonVersion, "daemon.version");
  assert.ok(snapshot.daemonPid && snapshot.daemonPid > 0, "daemon.pid");
  assert.equal(snapshot.apiOk, false); // no API key in the private home
  assert.ok(snapshot.apiError);
  assert.deepEqual(snapshot.pods, []);

  fake.reset();
  fake.settings.set("rpdev.path", bin);
  const context = { subscriptions: [] as Array<{ dispose(): void }> };
  const api = activate(context as never);
  try {
    await fake.commands.get("rpdev.showStatus")?.();
    const text = fake.outputs[0].text;
    assert.match(text, new RegExp(`rpdevd ${snapshot.daemonVersion} \\(pid ${snapshot.daemonPid}\\)`));
    assert.match(text, /RunPod API: unreachable/);
    assert.match(text, /No pods are managed yet/);
    await api.controller.settled();
  } finally {
    context.subscriptions.forEach((d) => d.dispose());
    deactivate();
  }
});
