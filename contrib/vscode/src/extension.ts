// Entry point. The extension runs on the UI side (`extensionKind: ["ui"]`), next to `rpdev`,
// even when the window is connected to a pod through Remote-SSH.

import * as vscode from "vscode";

import { processRunner, Rpdev } from "./cli";
import { Commands } from "./commands";
import { Controller } from "./controller";

export interface Api {
  controller: Controller;
  commands: Commands;
}

let active: Api | undefined;

export function activate(context: vscode.ExtensionContext): Api {
  const runner = processRunner(() => vscode.workspace.getConfiguration("rpdev").get<string>("path", "rpdev"));
  const controller = new Controller(new Rpdev(runner));
  const output = vscode.window.createOutputChannel("rpdev");
  const commands = new Commands(controller, output);
  context.subscriptions.push(
    controller,
    output,
    ...commands.register(),
    vscode.workspace.onDidChangeConfiguration((event) => {
      if (event.affectsConfiguration("rpdev")) {
        controller.start();
      }
    }),
    vscode.workspace.onDidChangeWorkspaceFolders(() => controller.start()),
  );
  controller.start();
  active = { controller, commands };
  return active;
}

export function deactivate(): void {
  active?.controller.dispose();
  active = undefined;
}
