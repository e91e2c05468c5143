// The live part: polls the daemon while this window is connected to a pod, keeps the status bar
// item current, and raises the idle-stop warning once per warning.

import * as vscode from "vscode";

import { CliError, Rpdev } from "./cli";
import { budgetWarning, podTooltip, statusBarText } from "./format";
import { findPodByAlias, parseStatus, Pod, StatusSnapshot } from "./model";
import { connectedRunpodAlias } from "./remote";

export const HOLD_CHOICES: ReadonlyArray<{ label: string; duration: string }> = [
  { label: "Hold 30m", duration: "30m" },
  { label: "Hold 2h", duration: "2h" },
];

export function toCliError(error: unknown): CliError {
  if (error instanceof CliError) {
    return error;
  }
  const message = error instanceof Error ? error.message : String(error);
  return new CliError("bad-output", `rpdev answered something unexpected: ${message}`, "Update rpdev and this extension together.");
}

export function pollIntervalMs(): number {
  const seconds = vscode.workspace.getConfiguration("rpdev").get<number>("pollInterval", 5);
  return Math.max(1, Number.isFinite(seconds) ? seconds : 5) * 1000;
}

/** The authorities of everything this window has open on its remote. */
function windowAuthorities(): string[] {
  const uris: vscode.Uri[] = [];
  for (const folder of vscode.workspace.workspaceFolders ?? []) {
    uris.push(folder.uri);
  }
  if (vscode.workspace.workspaceFile) {
    uris.push(vscode.workspace.workspaceFile);
  }
  const editor = vscode.window.activeTextEditor;
  if (editor) {
    uris.push(editor.document.uri);
  }
  return uris.filter((u) => u.scheme === "vscode-remote").map((u) => u.authority);
}

export class Controller implements vscode.Disposable {
  readonly item: vscode.StatusBarItem;
  alias: string | undefined;
  snapshot: StatusSnapshot | undefined;
  error: CliError | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private tickTimer: NodeJS.Timeout | undefined;
  private inFlight: Promise<void> | undefined;
  private warned: string | undefined;
  private readonly budgetShown = new Set<string>(); // "2026-03:80": thresholds said in this window
  private errorShown: string | undefined;
  private readonly pending = new Set<Promise<unknown>>();
  private holdAction: ((pod: Pod, duration: string) => Promise<void>) | undefined;

  constructor(
    readonly rpdev: Rpdev,
    readonly now: () => number = () => Date.now() / 1000,
  ) {
    this.item = vscode.window.createStatusBarItem(vscode.StatusBarAlignment.Left, 100);
    this.item.name = "rpdev pod";
    this.item.command = "rpdev.podActions";
  }

  /** Set by the commands module: what the warning's Hold buttons do. */
  onHold(action: (pod: Pod, duration: string) => Promise<void>): void {
    this.holdAction = action;
  }

  /** The pod this window is connected to, if rpdev manages it. */
  get pod(): Pod | undefined {
    if (this.alias === undefined || this.snapshot === undefined) {
      return undefined;
    }
    return findPodByAlias(this.snapshot.pods, this.alias);
  }

  /** Look at the window again and (re)start or stop polling. */
  start(): void {
    this.alias = connectedRunpodAlias(vscode.env.remoteName, windowAuthorities());
    this.stopTimers();
    if (this.alias === undefined) {
      this.item.hide();
      return;
    }
    this.render();
    this.item.show();
    this.pollTimer = setInterval(() => this.track(this.refresh()), pollIntervalMs());
    // The countdown moves every second between polls, from the last deadline the daemon gave.
    this.tickTimer = setInterval(() => this.render(), 1000);
    this.pollTimer.unref?.();
    this.tickTimer.unref?.();
    this.track(this.refresh());
  }

  /** Ask the daemon for the pods now. Concurrent calls share one run of `rpdev status`. */
  refresh(): Promise<void> {
    if (!this.inFlight) {
      this.inFlight = this.load()
        .then(
          () => undefined,
          () => this.raiseError(),
        )
        .finally(() => {
          this.inFlight = undefined;
        });
    }
    return this.inFlight;
  }

  /** `rpdev status --json`, parsed; remembers the result (or the error) and updates the window.
   * Errors are thrown to the caller (a command shows them itself). */
  async load(): Promise<StatusSnapshot> {
    try {
      const snapshot = parseStatus(await this.rpdev.status());
      this.snapshot = snapshot;
      this.error = undefined;
      this.errorShown = undefined;
      this.render();
      this.raiseWarning();
      this.raiseBudget();
      return snapshot;
    } catch (error) {
      this.error = toCliError(error);
      this.render();
      throw this.error;
    }
  }

  render(): void {
    if (this.alias === undefined) {
      return;
    }
    const item = this.item;
    const pod = this.pod;
    item.backgroundColor = undefined;
    if (this.error) {
      item.text = "$(warning) rpdev";
      item.tooltip = `${this.error.message}\n${this.error.hint}`;
      item.backgroundColor = new vscode.ThemeColor("statusBarItem.errorBackground");
    } else if (this.snapshot === undefined) {
      item.text = `$(sync~spin) ${this.alias}`;
      item.tooltip = "Asking rpdev about this pod...";
    } else if (pod === undefined) {
      item.text = `$(question) ${this.alias}`;
      item.tooltip = `rpdev does not manage ${this.alias}. Add the pod to rpdev's config.toml, or run \`rpdev pods\`.`;
    } else {
      const now = this.now();
      item.text = statusBarText(pod, now);
      item.tooltip = podTooltip(pod, now, this.snapshot.budget);
      if (pod.warning) {
        item.backgroundColor = new vscode.ThemeColor("statusBarItem.warningBackground");
      }
    }
  }

  /** The idle-stop warning for this window's pod, once per warning: the daemon repeats it in
   * every status until it is resolved, and its message may count down, so a warning is known by
   * its kind and stop time, and forgotten once a status comes without it. Other pods' warnings
   * are left to their own windows and the TUI, so that several open windows do not all raise
   * the same one. */
  private raiseWarning(): void {
    const pod = this.pod;
    const warning = pod?.warning;
    if (!pod || !warning) {
      this.warned = undefined;
      return;
    }
    const key = `${pod.id}:${warning.kind}:${warning.stopAt ?? ""}`;
    if (this.warned === key) {
      return;
    }
    this.warned = key;
    const labels = HOLD_CHOICES.map((c) => c.label);
    this.track(
      Promise.resolve(vscode.window.showWarningMessage(`rpdev: ${warning.message}`, ...labels)).then(async (choice) => {
        const hold = HOLD_CHOICES.find((c) => c.label === choice);
        if (hold && this.holdAction) {
          await this.holdAction(pod, hold.duration);
        }
      }),
    );
  }

  /** The daemon's budget.warning (80 %) and budget.exceeded (100 %), as a warning: each
   * threshold once per month in this window. The status carries the thresholds the daemon has
   * told this month; when several are new (a window opened over budget), only the highest is said. */
  private raiseBudget(): void {
    const budget = this.snapshot?.budget;
    if (!budget) {
      return;
    }
    const fresh = budget.told.filter((t) => !this.budgetShown.has(`${budget.month}:${t}`));
    if (fresh.length === 0) {
      return;
    }
    fresh.forEach((t) => this.budgetShown.add(`${budget.month}:${t}`));
    this.track(Promise.resolve(vscode.window.showWarningMessage(budgetWarning(budget, Math.max(...fresh)))));
  }

  /** A poll failure is shown once, not on every poll, until a poll succeeds again. */
  private raiseError(): void {
    const error = this.error;
    if (!error || this.alias === undefined || this.errorShown === error.kind) {
      return;
    }
    this.errorShown = error.kind;
    this.track(showCliError(this, error));
  }

  /** Keep a background promise, so that tests (and deactivate) can wait for it. */
  track(promise: Promise<unknown>): void {
    const kept = promise.catch(() => undefined).finally(() => this.pending.delete(kept));
    this.pending.add(kept);
  }

  async settled(): Promise<void> {
    while (this.pending.size > 0) {
      await Promise.all([...this.pending]);
    }
  }

  private stopTimers(): void {
    clearInterval(this.pollTimer);
    clearInterval(this.tickTimer);
    this.pollTimer = undefined;
    this.tickTimer = undefined;
  }

  dispose(): void {
    this.stopTimers();
    this.item.dispose();
  }
}

/** An error with the buttons that fix it. */
export async function showCliError(controller: Controller, error: CliError): Promise<void> {
  const actions: string[] = [];
  if (error.kind === "not-found") {
    actions.push("Open Settings");
  } else if (error.kind === "daemon-down") {
    actions.push("Start Daemon");
  }
  const choice = await vscode.window.showErrorMessage(`${error.message} ${error.hint}`, ...actions);
  if (choice === "Open Settings") {
    await vscode.commands.executeCommand("workbench.action.openSettings", "rpdev.path");
  } else if (choice === "Start Daemon") {
    try {
      await controller.rpdev.startDaemon();
    } catch (startError) {
      const e = toCliError(startError);
      await vscode.window.showErrorMessage(`${e.message} ${e.hint}`);
      return;
    }
    await controller.refresh();
  }
}
