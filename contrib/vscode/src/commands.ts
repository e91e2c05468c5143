// The commands: Open Pod..., Stop Pod, Hold, Release Hold, Show rpdev Status, Configure Remote-SSH.

import * as vscode from "vscode";

import { CliError } from "./cli";
import { Controller, HOLD_CHOICES, showCliError, toCliError } from "./controller";
import { formatCost, holdText, statusReport } from "./format";
import { Pod, StatusSnapshot } from "./model";
import { remoteFolderUri } from "./remote";
import { describeChanges, remoteSshChanges, RemoteSshSettings } from "./remoteSsh";

const WAKE_WAIT_S = 600;
const WAKE_POLL_MS = 3000;

interface PodPick extends vscode.QuickPickItem {
  pod: Pod;
}

export class Commands {
  constructor(
    private readonly controller: Controller,
    private readonly output: vscode.OutputChannel,
  ) {
    controller.onHold((pod, duration) => this.hold(pod, duration));
  }

  register(): vscode.Disposable[] {
    const c = (id: string, fn: () => Promise<unknown>) =>
      vscode.commands.registerCommand(id, () => this.guard(fn));
    return [
      c("rpdev.openPod", () => this.openPod()),
      c("rpdev.stopPod", () => this.stopPod()),
      c("rpdev.hold30m", () => this.holdCommand("30m")),
      c("rpdev.hold2h", () => this.holdCommand("2h")),
      c("rpdev.releaseHold", () => this.releaseHold()),
      c("rpdev.showStatus", () => this.showStatus()),
      c("rpdev.configureRemoteSSH", () => this.configureRemoteSsh()),
      c("rpdev.podActions", () => this.podActions()),
      c("rpdev.refresh", () => this.controller.refresh()),
    ];
  }

  /** Every command's errors end in a message with what to do, never in a silent failure. */
  private async guard(fn: () => Promise<unknown>): Promise<void> {
    try {
      await fn();
    } catch (error) {
      await showCliError(this.controller, toCliError(error));
    }
  }

  /** The pod a command acts on: this window's pod, else one the user picks. */
  private async choosePod(placeHolder: string, filter: (pod: Pod) => boolean): Promise<Pod | undefined> {
    const snapshot = await this.controller.load();
    const own = this.controller.pod;
    if (own && filter(own)) {
      return own;
    }
    return this.pickPod(snapshot, placeHolder, filter);
  }

  private async pickPod(
    snapshot: StatusSnapshot,
    placeHolder: string,
    filter: (pod: Pod) => boolean,
  ): Promise<Pod | undefined> {
    const pods = snapshot.pods.filter(filter);
    if (pods.length === 0) {
      await vscode.window.showInformationMessage(
        snapshot.pods.length === 0 ? "rpdev manages no pods yet: add them to config.toml." : "No pod fits.",
      );
      return undefined;
    }
    const items: PodPick[] = pods.map((pod) => ({
      label: pod.name,
      description: [pod.status, formatCost(pod.costPerHr), pod.policy].filter(Boolean).join(" · "),
      detail: pod.sshAlias,
      pod,
    }));
    const picked = await vscode.window.showQuickPick(items, { placeHolder });
    return picked?.pod;
  }

  async openPod(): Promise<void> {
    const snapshot = await this.controller.load();
    const pod = await this.pickPod(snapshot, "Pod to open", () => true);
    if (!pod) {
      return;
    }
    const config = vscode.workspace.getConfiguration("rpdev");
    if (config.get<string>("openWith", "editor") === "rpdev") {
      // `rpdev open` does everything itself (resume, wait, launch the editor).
      await this.controller.rpdev.open(pod.id, /cursor/i.test(vscode.env.appName));
      return;
    }
    let target = pod;
    if (pod.status !== "RUNNING") {
      const resume = await vscode.window.showInformationMessage(
        `${pod.name} is ${pod.status.toLowerCase()}. Resume it and open it?`,
        "Resume and Open",
      );
      if (resume !== "Resume and Open") {
        return;
      }
      const ready = await this.resumeAndWait(pod);
      if (!ready) {
        return;
      }
      target = ready;
    }
    if (!target.sshAlias) {
      throw new CliError(
        "failed",
        `rpdev has no SSH entry for ${target.name} yet.`,
        "Run `rpdev ssh-config`, then try again; `rpdev doctor` tells what is missing.",
      );
    }
    const folder = config.get<string>("remoteFolder", "/workspace") || "/workspace";
    await vscode.commands.executeCommand("vscode.openFolder", vscode.Uri.parse(remoteFolderUri(target.sshAlias, folder)), {
      forceNewWindow: true,
    });
  }

  /** Resume, then wait until the daemon reports the pod running with an SSH endpoint. */
  private resumeAndWait(pod: Pod): Thenable<Pod | undefined> {
    return vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `Resuming ${pod.name}`, cancellable: true },
      async (progress, token) => {
        await this.controller.rpdev.resume(pod.id);
        const deadline = this.controller.now() + WAKE_WAIT_S;
        for (;;) {
          const fresh = (await this.controller.load()).pods.find((p) => p.id === pod.id);
          if (fresh && fresh.status === "RUNNING" && fresh.sshPort !== undefined) {
            return fresh;
          }
          progress.report({ message: fresh ? fresh.status.toLowerCase() : "waiting for the daemon" });
          if (token.isCancellationRequested) {
            return undefined;
          }
          if (this.controller.now() > deadline) {
            throw new CliError(
              "timeout",
              `${pod.name} did not come up within ${WAKE_WAIT_S / 60} minutes.`,
              "Look at `rpdev status` and the RunPod console: the host may have no free GPU.",
            );
          }
          await new Promise((resolve) => setTimeout(resolve, WAKE_POLL_MS));
        }
      },
    );
  }

  async stopPod(): Promise<void> {
    const pod = await this.choosePod("Pod to stop", (p) => p.status === "RUNNING");
    if (!pod) {
      return;
    }
    const connected = this.controller.pod?.id === pod.id;
    const detail = connected
      ? "This window is connected to it and will lose its connection. /workspace is kept; the rest of the container disk is wiped."
      : "/workspace is kept; the rest of the container disk is wiped.";
    const answer = await vscode.window.showWarningMessage(`Stop ${pod.name}?`, { modal: true, detail }, "Stop");
    if (answer !== "Stop") {
      return;
    }
    await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `Stopping ${pod.name}` },
      () => this.controller.rpdev.stop(pod.id),
    );
    await this.controller.refresh();
    await vscode.window.showInformationMessage(`${pod.name} is stopping.`);
  }

  private async holdCommand(duration: string): Promise<void> {
    const pod = await this.choosePod(`Pod to hold for ${duration}`, (p) => p.status === "RUNNING");
    if (pod) {
      await this.hold(pod, duration);
    }
  }

  /** Keep a pod from being idle-stopped for `duration` (the warning's buttons come here too). */
  async hold(pod: Pod, duration: string): Promise<void> {
    try {
      await this.controller.rpdev.hold(pod.id, duration);
    } catch (error) {
      await showCliError(this.controller, toCliError(error));
      return;
    }
    await this.controller.refresh();
    await vscode.window.showInformationMessage(`Holding ${pod.name} for ${duration}: it will not be idle-stopped before then.`);
  }

  async releaseHold(): Promise<void> {
    const now = this.controller.now();
    const pod = await this.choosePod("Pod to release", (p) => holdText(p, now) !== undefined);
    if (!pod) {
      return;
    }
    await this.controller.rpdev.releaseHold(pod.id);
    await this.controller.refresh();
    await vscode.window.showInformationMessage(`Released the hold on ${pod.name}.`);
  }

  async showStatus(): Promise<void> {
    this.output.clear();
    try {
      const snapshot = await this.controller.load();
      this.output.appendLine(statusReport(snapshot, this.controller.now()));
    } catch (error) {
      const e = toCliError(error);
      this.output.appendLine(e.message);
      this.output.appendLine(e.hint);
      if (e.stderr) {
        this.output.appendLine("");
        this.output.appendLine(e.stderr.trimEnd());
      }
    }
    this.output.show(true);
  }

  async configureRemoteSsh(): Promise<void> {
    let aliases: string[] = [];
    try {
      aliases = (await this.controller.load()).pods.flatMap((p) => (p.sshAlias ? [p.sshAlias] : []));
    } catch {
      // Without the daemon, at least the pod this window is on can be set up.
    }
    if (this.controller.alias && !aliases.includes(this.controller.alias)) {
      aliases.push(this.controller.alias);
    }
    const config = vscode.workspace.getConfiguration("remote.SSH");
    const current: RemoteSshSettings = {
      connectTimeout: config.inspect<number>("connectTimeout")?.globalValue,
      remotePlatform: config.inspect<Record<string, string>>("remotePlatform")?.globalValue,
    };
    const changes = remoteSshChanges(current, aliases);
    try {
      if (changes.connectTimeout !== undefined) {
        await config.update("connectTimeout", changes.connectTimeout, vscode.ConfigurationTarget.Global);
      }
      if (changes.remotePlatform !== undefined) {
        await config.update("remotePlatform", changes.remotePlatform, vscode.ConfigurationTarget.Global);
      }
    } catch (error) {
      // VS Code refuses to write settings that no installed extension declares.
      const why = error instanceof Error ? error.message : String(error);
      await vscode.window.showErrorMessage(
        `Could not change the Remote-SSH settings (${why}). Install the Remote - SSH extension first.`,
      );
      return;
    }
    await vscode.window.showInformationMessage(describeChanges(changes, aliases));
  }

  /** The status bar item's menu. */
  async podActions(): Promise<void> {
    const pod = this.controller.pod;
    const items: Array<vscode.QuickPickItem & { command: string }> = [];
    if (pod?.status === "RUNNING") {
      for (const choice of HOLD_CHOICES) {
        items.push({ label: choice.label, command: choice.duration === "30m" ? "rpdev.hold30m" : "rpdev.hold2h" });
      }
      if (holdText(pod, this.controller.now())) {
        items.push({ label: "Release Hold", command: "rpdev.releaseHold" });
      }
      items.push({ label: "Stop Pod", command: "rpdev.stopPod" });
    }
    items.push({ label: "Open Pod...", command: "rpdev.openPod" });
    items.push({ label: "Show rpdev Status", command: "rpdev.showStatus" });
    const picked = await vscode.window.showQuickPick(items, { placeHolder: pod ? pod.name : "rpdev" });
    if (picked) {
      await vscode.commands.executeCommand(picked.command);
    }
  }
}
