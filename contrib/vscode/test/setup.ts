// Makes `require("vscode")` load the fake, and gives tests a real executable standing in for
// `rpdev`: a small node script that answers from a scenario file and logs its arguments, so the
// extension's real process handling (arguments, exit codes, stderr, JSON parsing) is exercised.

import * as fs from "node:fs";
import Module = require("node:module");
import * as os from "node:os";
import * as path from "node:path";

const fakePath = path.join(__dirname, "fake-vscode.js");
type Resolve = (request: string, ...rest: unknown[]) => string;
const mod = Module as unknown as { _resolveFilename: Resolve };
const original = mod._resolveFilename;
mod._resolveFilename = function (request: string, ...rest: unknown[]): string {
  return request === "vscode" ? fakePath : original.call(this, request, ...rest);
};

export interface Reply {
  stdout?: string;
  stderr?: string;
  code?: number;
}

export interface Scenario {
  /** Replies by subcommand ("status", "stop", "hold", ...). */
  replies: Record<string, Reply>;
  /** After a subcommand runs, these replies replace the current ones (a resume makes the pod run). */
  then?: Record<string, Record<string, Reply>>;
}

const SCRIPT = `
const fs = require("fs");
const dir = __dirname;
const args = process.argv.slice(2);
fs.appendFileSync(dir + "/calls.jsonl", JSON.stringify(args) + "\\n");
const scenario = JSON.parse(fs.readFileSync(dir + "/scenario.json", "utf8"));
const reply = scenario.replies[args[0]] || { stderr: "rpdev: unknown command " + args[0], code: 2 };
const after = scenario.then && scenario.then[args[0]];
if (after) {
  Object.assign(scenario.replies, after);
  fs.writeFileSync(dir + "/scenario.json", JSON.stringify(scenario));
}
if (reply.stdout) process.stdout.write(reply.stdout);
if (reply.stderr) process.stderr.write(reply.stderr);
process.exitCode = reply.code || 0;
`;

export class FakeRpdev {
  readonly dir: string;
  readonly bin: string;

  constructor(scenario: Scenario) {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), "rpdev-vscode-"));
    this.bin = path.join(this.dir, "rpdev");
    fs.writeFileSync(path.join(this.dir, "main.js"), SCRIPT);
    fs.writeFileSync(this.bin, `#!/bin/sh\nexec "${process.execPath}" "${path.join(this.dir, "main.js")}" "$@"\n`, {
      mode: 0o755,
    });
    this.set(scenario);
  }

  set(scenario: Scenario): void {
    fs.writeFileSync(path.join(this.dir, "scenario.json"), JSON.stringify(scenario));
  }

  calls(): string[][] {
    const file = path.join(this.dir, "calls.jsonl");
    if (!fs.existsSync(file)) {
      return [];
    }
    return fs
      .readFileSync(file, "utf8")
      .split("\n")
      .filter((l) => l !== "")
      .map((l) => JSON.parse(l) as string[]);
  }

  cleanup(): void {
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

export function statusJson(pods: Array<Record<string, unknown>>, extra: Record<string, unknown> = {}): Reply {
  return {
    stdout: JSON.stringify({ daemon: { version: "0.1.0", pid: 4242 }, api: { ok: true, error: null }, pods, ...extra }),
  };
}

export function pod(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id: "abc123xyz",
    name: "trainer",
    status: "RUNNING",
    ssh_alias: "trainer.runpod",
    ssh_host: "203.0.113.7",
    ssh_port: 40022,
    policy: "idle-stop",
    idle_deadline: null,
    idle_state: "busy: GPU 97 %",
    hold_until: null,
    cost_per_hr: 0.44,
    spend_today: 3.12,
    warning: null,
    ...overrides,
  };
}
