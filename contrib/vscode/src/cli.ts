// Running `rpdev` and reading its answers.
//
// The extension never talks RunPod or SSH itself: every action goes through the rpdev CLI, which
// goes through the daemon. Arguments are passed as a list (no shell), output is size-limited, and
// every failure becomes a CliError that says what to do about it.

import { execFile } from "node:child_process";
import * as os from "node:os";
import * as path from "node:path";

export type CliErrorKind = "not-found" | "daemon-down" | "failed" | "bad-output" | "timeout";

export class CliError extends Error {
  constructor(
    readonly kind: CliErrorKind,
    message: string,
    readonly hint: string,
    readonly stderr = "",
  ) {
    super(message);
    this.name = "CliError";
  }
}

export interface CliResult {
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  timeoutMs?: number;
}

export type CliRunner = (args: readonly string[], options?: RunOptions) => Promise<CliResult>;

const MAX_OUTPUT = 4 * 1024 * 1024;
const DEFAULT_TIMEOUT_MS = 30_000;

/** `~/x` -> `$HOME/x`; VS Code does not expand it in settings. */
export function expandPath(command: string): string {
  if (command === "~") {
    return os.homedir();
  }
  if (command.startsWith("~/")) {
    return path.join(os.homedir(), command.slice(2));
  }
  return command;
}

const DAEMON_DOWN_EXIT = 3;
const DAEMON_DOWN = /not running|no daemon|cannot connect|could not connect|connection refused|no such file|start it with/i;

function firstLine(text: string): string {
  const line = text.split(/\r?\n/).find((l) => l.trim() !== "") ?? "";
  return line.trim().slice(0, 500);
}

/** Turn a failed run into an error a user can act on. Pure, so it can be tested on its own. */
export function classifyFailure(
  command: string,
  args: readonly string[],
  failure: { code?: string | number | null; killed?: boolean; signal?: string | null },
  stderr: string,
): CliError {
  const shown = `${path.basename(command)} ${args.join(" ")}`;
  if (failure.code === "ENOENT" || failure.code === "EACCES") {
    return new CliError(
      "not-found",
      `Cannot run rpdev (${command}): ${failure.code === "ENOENT" ? "not found" : "permission denied"}.`,
      "Install rpdev, or set the setting rpdev.path to its full path (for example ~/.local/bin/rpdev): " +
        "an editor started from the desktop may not see your shell's PATH.",
    );
  }
  if (failure.code === "ERR_CHILD_PROCESS_STDIO_MAXBUFFER") {
    return new CliError("bad-output", `\`${shown}\` printed more than 4 MiB.`, "Run it in a terminal to see why.");
  }
  if (failure.killed || failure.signal) {
    return new CliError(
      "timeout",
      `\`${shown}\` did not answer in time.`,
      "Check the daemon with `rpdev daemon status` and its log (`rpdev doctor`).",
      stderr,
    );
  }
  const said = firstLine(stderr);
  // rpdev exits with 3 when nothing answers on the daemon's socket; older or newer versions may
  // not, so its words count too.
  if (failure.code === DAEMON_DOWN_EXIT || DAEMON_DOWN.test(stderr)) {
    return new CliError(
      "daemon-down",
      "The rpdev daemon is not running.",
      "Start it with `rpdev daemon start`, or `rpdev daemon install-service` to start it at login.",
      stderr,
    );
  }
  return new CliError(
    "failed",
    `\`${shown}\` failed${said ? `: ${said}` : ` with exit code ${String(failure.code)}`}.`,
    "Run the same command in a terminal for details, or `rpdev doctor`.",
    stderr,
  );
}

/** A runner that executes the real rpdev binary found at `command()` (read on every call, so a
 * changed setting takes effect at once). */
export function processRunner(command: () => string): CliRunner {
  return (args, options) => {
    const bin = expandPath(command().trim() || "rpdev");
    return new Promise<CliResult>((resolve, reject) => {
      execFile(
        bin,
        [...args],
        {
          timeout: options?.timeoutMs ?? DEFAULT_TIMEOUT_MS,
          maxBuffer: MAX_OUTPUT,
          windowsHide: true,
          encoding: "utf8",
        },
        (error, stdout, stderr) => {
          if (error) {
            const e = error as NodeJS.ErrnoException & { killed?: boolean; signal?: string | null };
            reject(classifyFailure(bin, args, { code: e.code, killed: e.killed, signal: e.signal }, stderr));
            return;
          }
          resolve({ stdout, stderr });
        },
      );
    });
  };
}

/** The JSON document in a command's output. Tolerates log lines printed before it. */
export function parseJsonOutput(stdout: string, shown: string): unknown {
  const text = stdout.trim();
  if (text === "") {
    return null;
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    const lines = text.split(/\r?\n/);
    for (let i = lines.length - 1; i >= 0; i--) {
      const line = lines[i].trim();
      if (line.startsWith("{") || line.startsWith("[")) {
        try {
          return JSON.parse(lines.slice(i).join("\n")) as unknown;
        } catch {
          // keep looking further up
        }
      }
    }
  }
  throw new CliError(
    "bad-output",
    `\`${shown}\` did not print JSON.`,
    "This rpdev may be older than the extension: update it, or run the command in a terminal.",
  );
}

/** The commands the extension uses, in the CLI's own words. */
export class Rpdev {
  constructor(private readonly run: CliRunner) {}

  async json(args: readonly string[], options?: RunOptions): Promise<unknown> {
    const full = [...args, "--json"];
    const result = await this.run(full, options);
    return parseJsonOutput(result.stdout, `rpdev ${full.join(" ")}`);
  }

  status(): Promise<unknown> {
    return this.json(["status"]);
  }

  stop(pod: string): Promise<unknown> {
    return this.json(["stop", pod], { timeoutMs: 120_000 });
  }

  resume(pod: string): Promise<unknown> {
    return this.json(["resume", pod], { timeoutMs: 300_000 });
  }

  hold(pod: string, duration: string): Promise<unknown> {
    return this.json(["hold", pod, duration]);
  }

  releaseHold(pod: string): Promise<unknown> {
    return this.json(["hold", pod, "--off"]);
  }

  async open(pod: string, cursor: boolean): Promise<void> {
    await this.run(cursor ? ["open", pod, "--cursor"] : ["open", pod], { timeoutMs: 600_000 });
  }

  async startDaemon(): Promise<void> {
    await this.run(["daemon", "start"], { timeoutMs: 60_000 });
  }
}
