// The extension as VS Code runs it: activate() against the fake `vscode` module, with a real
// executable standing in for rpdev.

import "./setup";

import * as assert from "node:assert/strict";
import { afterEach, beforeEach, test } from "node:test";

import { activate, Api, deactivate } from "../src/extension";
import { env, fake, Shown, Uri, window, workspace } from "./fake-vscode";
import { FakeRpdev, pod, Scenario, statusJson } from "./setup";

const hex = (text: string) => Buffer.from(text, "utf8").toString("hex");

let rpdev: FakeRpdev;
let context: { subscriptions: Array<{ dispose(): void }> };

beforeEach(() => {
  fake.reset();
  context = { subscriptions: [] };
});

afterEach(() => {
  context.subscriptions.forEach((d) => d.dispose());
  deactivate();
  rpdev?.cleanup();
});

function connectTo(authority: string): void {
  env.remoteName = "ssh-remote";
  workspace.workspaceFolders = [{ uri: Uri.parse(`vscode-remote://${authority}/workspace`), name: "workspace", index: 0 }];
}

async function start(scenario: Scenario): Promise<Api> {
  rpdev = new FakeRpdev(scenario);
  fake.settings.set("rpdev.path", rpdev.bin);
  fake.settings.set("rpdev.pollInterval", 3600); // the tests poll by hand
  const api = activate(context as never);
  await api.controller.settled();
  return api;
}

async function run(command: string, api: Api): Promise<void> {
  const fn = fake.commands.get(command);
  assert.ok(fn, `${command} is registered`);
  await fn();
  await api.controller.settled();
}

function item() {
  assert.equal(fake.statusBarItems.length, 1);
  return fake.statusBarItems[0];
}

const answering =
  (answers: Record<string, string>) =>
  (shown: Shown): string | undefined =>
    Object.entries(answers).find(([prefix]) => shown.message.startsWith(prefix))?.[1];

test("a local window shows nothing and runs nothing", async () => {
  await start({ replies: { status: statusJson([pod()]) } });
  assert.equal(item().visible, false);
  assert.deepEqual(rpdev.calls(), []);
});

test("a window on trainer.runpod shows the pod's state, countdown and price", async () => {
  connectTo("ssh-remote+trainer.runpod");
  const deadline = Date.now() / 1000 + 760;
  const api = await start({ replies: { status: statusJson([pod({ idle_deadline: deadline })]) } });
  assert.equal(item().visible, true);
  assert.match(item().text, /^\$\(vm-running\) trainer · stops in 12:[34]\d · \$0\.44\/h$/);
  assert.match(String(item().tooltip), /Policy: idle-stop/);
  assert.equal(item().command, "rpdev.podActions");
  assert.equal(api.controller.pod?.id, "abc123xyz");
  assert.deepEqual(rpdev.calls(), [["status", "--json"]]);
  assert.deepEqual(fake.shown, []);
});

test("the hex-encoded remote authority of newer Remote-SSH versions is understood", async () => {
  connectTo(`ssh-remote+${hex('{"hostName":"trainer.runpod"}')}`);
  await start({ replies: { status: statusJson([pod({ status: "EXITED" })]) } });
  assert.equal(item().text, "$(vm-outline) trainer exited");
});

test("the pod is also found from an open editor when no folder is open", async () => {
  env.remoteName = "ssh-remote";
  window.activeTextEditor = { document: { uri: Uri.parse("vscode-remote://ssh-remote+trainer.runpod/root/x.py") } };
  const api = await start({ replies: { status: statusJson([pod()]) } });
  assert.equal(api.controller.alias, "trainer.runpod");
});

test("an SSH host rpdev does not manage says so", async () => {
  connectTo("ssh-remote+stranger.runpod");
  await start({ replies: { status: statusJson([pod()]) } });
  assert.match(item().text, /^\$\(question\) stranger\.runpod/);
  assert.match(String(item().tooltip), /does not manage/);
});

test("the idle-stop warning is raised once per warning, even as its words count down", async () => {
  connectTo("ssh-remote+trainer.runpod");
  const stopAt = Math.floor(Date.now() / 1000) + 300;
  const warnedWith = (message: string) =>
    statusJson([pod({ idle_deadline: stopAt, warning: { kind: "idle.warn", message, stop_at: stopAt } })]);
  const api = await start({ replies: { status: warnedWith("trainer is idle and stops in 5:00") } });
  const warnings = () => fake.shown.filter((s) => s.level === "warning");
  assert.equal(warnings().length, 1);
  assert.equal(warnings()[0].message, "rpdev: trainer is idle and stops in 5:00");
  assert.deepEqual(warnings()[0].items, ["Hold 30m", "Hold 2h"]);
  assert.equal(item().backgroundColor?.id, "statusBarItem.warningBackground");

  rpdev.set({ replies: { status: warnedWith("trainer is idle and stops in 4:55") } });
  await api.controller.refresh();
  await api.controller.refresh();
  await api.controller.settled();
  assert.equal(warnings().length, 1);

  // Resolved (activity came back), then a new warning: raised again.
  rpdev.set({ replies: { status: statusJson([pod()]) } });
  await api.controller.refresh();
  assert.equal(item().backgroundColor, undefined);
  rpdev.set({ replies: { status: warnedWith("trainer is idle and stops in 5:00") } });
  await api.controller.refresh();
  await api.controller.settled();
  assert.equal(warnings().length, 2);
  assert.ok(!rpdev.calls().some((c) => c[0] === "hold"), "dismissed warnings hold nothing");
});

test("the daemon's budget warnings are raised once per threshold; the tooltip shows the budget", async () => {
  connectTo("ssh-remote+trainer.runpod");
  const budget = (spent: number, told: number[]) => ({ month: "2026-03", monthly: 200, spent, percent: spent / 2, told });
  const api = await start({ replies: { status: statusJson([pod()], { budget: budget(120, []) }) } });
  const warnings = () => fake.shown.filter((s) => s.level === "warning").map((s) => s.message);
  assert.deepEqual(warnings(), []);
  assert.match(String(item().tooltip), /Budget: \$120\.00 of \$200 this month \(60 %\)/);

  rpdev.set({ replies: { status: statusJson([pod()], { budget: budget(161, [80]) }) } });
  await api.controller.refresh();
  await api.controller.refresh();
  await api.controller.settled();
  assert.equal(warnings().length, 1);
  assert.match(warnings()[0], /^rpdev: 80 % of the monthly budget reached: \$161\.00 spent in 2026-03/);

  rpdev.set({ replies: { status: statusJson([pod()], { budget: budget(201, [80, 100]) }) } });
  await api.controller.refresh();
  await api.controller.refresh();
  await api.controller.settled();
  assert.equal(warnings().length, 2);
  assert.match(warnings()[1], /^rpdev: budget exceeded: \$201\.00 spent in 2026-03/);
});

test("a window opened over budget says the highest threshold once; no budget says nothing", async () => {
  connectTo("ssh-remote+trainer.runpod");
  const over = { month: "2026-03", monthly: 200, spent: 250, percent: 125, told: [80, 100] };
  const api = await start({ replies: { status: statusJson([pod()], { budget: over }) } });
  await api.controller.refresh();
  await api.controller.settled();
  assert.deepEqual(
    fake.shown.filter((s) => s.level === "warning").map((s) => s.message.split(":")[1].trim()),
    ["budget exceeded"],
  );
  rpdev.set({ replies: { status: statusJson([pod()], { budget: null }) } });
  await api.controller.refresh();
  assert.ok(!/Budget/.test(String(item().tooltip)));
});

test("a pod known only as RunPod last reported it shows its age", async () => {
  connectTo("ssh-remote+trainer.runpod");
  const asOf = Date.now() / 1000 - 720;
  await start({ replies: { status: statusJson([pod({ status: "EXITED", last_known: true, as_of: asOf })]) } });
  assert.match(item().text, /^\$\(vm-outline\) trainer exited · last known, 1[12]m ago$/);
  assert.match(String(item().tooltip), /State: last known, 1[12]m ago/);
});

test("the warning's Hold button holds the pod", async () => {
  connectTo("ssh-remote+trainer.runpod");
  const stopAt = Math.floor(Date.now() / 1000) + 300;
  const warned = pod({ idle_deadline: stopAt, warning: { kind: "idle.warn", message: "trainer is idle and stops in 5:00", stop_at: stopAt } });
  fake.answer = answering({ "rpdev: trainer is idle": "Hold 2h" });
  await start({
    replies: { status: statusJson([warned]), hold: { stdout: '{"ok": true}' } },
    then: { hold: { status: statusJson([pod({ idle_deadline: null, hold_until: stopAt + 7200 })]) } },
  });
  assert.deepEqual(rpdev.calls(), [
    ["status", "--json"],
    ["hold", "abc123xyz", "2h", "--json"],
    ["status", "--json"],
  ]);
  assert.match(item().text, /^\$\(vm-running\) trainer · held 2h 0\dm · \$0\.44\/h$/);
  assert.ok(fake.shown.some((s) => s.message.startsWith("Holding trainer for 2h")));
});

test("a dismissed warning holds nothing", async () => {
  connectTo("ssh-remote+trainer.runpod");
  const warned = pod({ warning: { kind: "idle.warn", message: "stops soon", stop_at: 1 } });
  await start({ replies: { status: statusJson([warned]) } });
  assert.deepEqual(rpdev.calls(), [["status", "--json"]]);
});

test("a daemon that is not running is shown once, with a button that starts it", async () => {
  connectTo("ssh-remote+trainer.runpod");
  const down = { stderr: "rpdev: the daemon is not running\n", code: 1 };
  const api = await start({ replies: { status: down } });
  assert.equal(item().text, "$(warning) rpdev");
  assert.match(String(item().tooltip), /rpdev daemon start/);
  const errors = fake.shown.filter((s) => s.level === "error");
  assert.equal(errors.length, 1);
  assert.deepEqual(errors[0].items, ["Start Daemon"]);

  await api.controller.refresh();
  assert.equal(fake.shown.filter((s) => s.level === "error").length, 1, "not raised on every poll");

  rpdev.set({ replies: { status: statusJson([pod()]) } });
  await api.controller.refresh();
  assert.match(item().text, /^\$\(vm-running\) trainer/);
  assert.equal(api.controller.error, undefined);

  rpdev.set({ replies: { status: down } });
  await api.controller.refresh();
  await api.controller.settled();
  assert.equal(fake.shown.filter((s) => s.level === "error").length, 2, "raised again after a recovery");
});

test("Start Daemon runs `rpdev daemon start` and polls again", async () => {
  connectTo("ssh-remote+trainer.runpod");
  fake.answer = answering({ "The rpdev daemon is not running": "Start Daemon" });
  await start({
    replies: { status: { stderr: "rpdev: cannot connect to the daemon\n", code: 1 }, daemon: { stdout: "" } },
    then: { daemon: { status: statusJson([pod()]) } },
  });
  assert.deepEqual(rpdev.calls(), [["status", "--json"], ["daemon", "start"], ["status", "--json"]]);
  assert.match(item().text, /^\$\(vm-running\) trainer/);
});

test("a missing rpdev points at the rpdev.path setting", async () => {
  connectTo("ssh-remote+trainer.runpod");
  fake.answer = answering({ "Cannot run rpdev": "Open Settings" });
  const api = await start({ replies: {} });
  fake.settings.set("rpdev.path", "/nonexistent/rpdev");
  await api.controller.refresh();
  await api.controller.settled();
  assert.equal(api.controller.error?.kind, "not-found");
  assert.deepEqual(fake.executed, [{ command: "workbench.action.openSettings", args: ["rpdev.path"] }]);
});

test("Stop Pod asks first, and stops only on Stop", async () => {
  connectTo("ssh-remote+trainer.runpod");
  const api = await start({ replies: { status: statusJson([pod()]), stop: { stdout: "{}" } } });
  await run("rpdev.stopPod", api);
  const ask = fake.shown.find((s) => s.message === "Stop trainer?");
  assert.ok(ask?.modal);
  assert.ok(!rpdev.calls().some((c) => c[0] === "stop"), "dismissed: nothing stopped");

  fake.answer = answering({ "Stop trainer?": "Stop" });
  rpdev.set({ replies: { status: statusJson([pod()]), stop: { stdout: "{}" } }, then: { stop: { status: statusJson([pod({ status: "EXITED" })]) } } });
  await run("rpdev.stopPod", api);
  assert.ok(rpdev.calls().some((c) => c.join(" ") === "stop abc123xyz --json"));
  assert.equal(item().text, "$(vm-outline) trainer exited");
});

test("from a local window, Hold asks which running pod", async () => {
  fake.pick = (items) => items.find((i) => i.label === "other");
  const api = await start({
    replies: { status: statusJson([pod(), pod({ id: "b2", name: "other" }), pod({ id: "c3", name: "off", status: "EXITED" })]), hold: { stdout: "{}" } },
  });
  await run("rpdev.hold2h", api);
  assert.deepEqual(fake.picks, [["trainer", "other"]]);
  assert.ok(rpdev.calls().some((c) => c.join(" ") === "hold b2 2h --json"));
});

test("Release Hold offers only held pods", async () => {
  const later = Date.now() / 1000 + 600;
  fake.pick = (items) => items[0];
  const api = await start({
    replies: { status: statusJson([pod(), pod({ id: "b2", name: "other", hold_until: later }), pod({ id: "c3", name: "x", hold_until: "forever" })]), hold: { stdout: "{}" } },
  });
  await run("rpdev.releaseHold", api);
  assert.deepEqual(fake.picks, [["other", "x"]]);
  assert.ok(rpdev.calls().some((c) => c.join(" ") === "hold b2 --off --json"));
});

test("Open Pod resumes a stopped pod, waits for SSH, then opens /workspace in a new window", async () => {
  fake.pick = (items) => items.find((i) => i.label === "trainer");
  fake.answer = answering({ "trainer is exited": "Resume and Open" });
  const api = await start({
    replies: { status: statusJson([pod({ status: "EXITED", ssh_port: null })]), resume: { stdout: "{}" } },
    then: { resume: { status: statusJson([pod()]) } },
  });
  await run("rpdev.openPod", api);
  assert.ok(rpdev.calls().some((c) => c.join(" ") === "resume abc123xyz --json"));
  assert.deepEqual(fake.progressTitles, ["Resuming trainer"]);
  assert.equal(fake.executed.length, 1);
  const [uri, options] = fake.executed[0].args as [Uri, { forceNewWindow: boolean }];
  assert.equal(fake.executed[0].command, "vscode.openFolder");
  assert.equal(uri.toString(), "vscode-remote://ssh-remote+trainer.runpod/workspace");
  assert.equal(options.forceNewWindow, true);
});

test("Open Pod through `rpdev open` passes --cursor in Cursor", async () => {
  env.appName = "Cursor";
  fake.settings.set("rpdev.openWith", "rpdev");
  fake.pick = (items) => items[0];
  const api = await start({ replies: { status: statusJson([pod()]), open: {} } });
  await run("rpdev.openPod", api);
  assert.ok(rpdev.calls().some((c) => c.join(" ") === "open abc123xyz --cursor"));
  assert.deepEqual(fake.executed, []);
});

test("Open Pod without an SSH entry says what to run", async () => {
  fake.pick = (items) => items[0];
  const api = await start({ replies: { status: statusJson([pod({ ssh_alias: null })]) } });
  await run("rpdev.openPod", api);
  assert.ok(fake.shown.some((s) => s.level === "error" && /rpdev ssh-config/.test(s.message)));
  assert.deepEqual(fake.executed, []);
});

test("Show rpdev Status writes the report, or the error and what to do", async () => {
  const api = await start({ replies: { status: statusJson([pod()]) } });
  await run("rpdev.showStatus", api);
  const out = fake.outputs[0];
  assert.ok(out.shown);
  assert.match(out.text, /rpdevd 0\.1\.0 \(pid 4242\)/);
  assert.match(out.text, /trainer\s+RUNNING/);

  rpdev.set({ replies: { status: { stderr: "rpdev: daemon not running\nTraceback: ...\n", code: 1 } } });
  await run("rpdev.showStatus", api);
  assert.match(out.text, /not running/);
  assert.match(out.text, /rpdev daemon start/);
  assert.match(out.text, /Traceback/);
});

test("Configure Remote-SSH sets the timeout and the platform of every pod, keeping the user's own", async () => {
  fake.settings.set("remote.SSH.remotePlatform", { "box.example": "macOS", "trainer.runpod": "linux" });
  fake.settings.set("remote.SSH.connectTimeout", 30);
  const api = await start({ replies: { status: statusJson([pod(), pod({ id: "b2", name: "other", ssh_alias: "other.runpod" })]) } });
  await run("rpdev.configureRemoteSSH", api);
  assert.equal(fake.settings.get("remote.SSH.connectTimeout"), 300);
  assert.deepEqual(fake.settings.get("remote.SSH.remotePlatform"), {
    "box.example": "macOS",
    "trainer.runpod": "linux",
    "other.runpod": "linux",
  });
  assert.ok(fake.shown.some((s) => s.level === "info" && s.message.startsWith("Set remote.SSH.connectTimeout = 300 s")));

  await run("rpdev.configureRemoteSSH", api);
  assert.ok(fake.shown.some((s) => s.message === "Remote-SSH is already set up for wake on connect."));
});

test("Configure Remote-SSH explains when Remote-SSH is not installed", async () => {
  fake.registered.delete("remote.SSH");
  const api = await start({ replies: { status: statusJson([pod()]) } });
  await run("rpdev.configureRemoteSSH", api);
  assert.ok(fake.shown.some((s) => s.level === "error" && /Install the Remote - SSH extension/.test(s.message)));
});

test("a hostile pod name cannot break the status bar", async () => {
  connectTo("ssh-remote+trainer.runpod");
  await start({ replies: { status: statusJson([pod({ name: "x\n  ProxyCommand evil $(alert)" })]) } });
  assert.ok(!item().text.includes("\n"));
  assert.ok(!item().text.includes("$(alert)"));
});

test("changing a setting restarts polling; deactivating hides the item", async () => {
  connectTo("ssh-remote+trainer.runpod");
  const api = await start({ replies: { status: statusJson([pod()]) } });
  fake.configChanged.fire({ affectsConfiguration: (s: string) => s === "rpdev" });
  fake.configChanged.fire({ affectsConfiguration: (s: string) => s === "editor" });
  await api.controller.settled();
  assert.equal(rpdev.calls().length, 2);
  deactivate();
  assert.equal(item().visible, false);
});

test("the status bar menu offers the running pod's actions", async () => {
  connectTo("ssh-remote+trainer.runpod");
  const api = await start({ replies: { status: statusJson([pod({ hold_until: "forever" })]) } });
  await run("rpdev.podActions", api);
  assert.deepEqual(fake.picks[0], ["Hold 30m", "Hold 2h", "Release Hold", "Stop Pod", "Open Pod...", "Show rpdev Status"]);
});

test("package.json declares exactly the registered commands, and runs on the UI side", async () => {
  const manifest = require("../../package.json") as {
    extensionKind: string[];
    main: string;
    contributes: { commands: Array<{ command: string }>; configuration: { properties: Record<string, { scope?: string }> } };
  };
  await start({ replies: {} });
  assert.deepEqual(manifest.extensionKind, ["ui"]);
  assert.deepEqual(
    manifest.contributes.commands.map((c) => c.command).sort(),
    [...fake.commands.keys()].sort(),
  );
  // A workspace must not be able to point rpdev.path at a program of its own.
  assert.equal(manifest.contributes.configuration.properties["rpdev.path"].scope, "machine");
  assert.equal(manifest.main, "./out/src/extension.js");
});
