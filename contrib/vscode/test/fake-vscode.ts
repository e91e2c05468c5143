// A stand-in for the `vscode` module: just the API the extension uses, with every call recorded
// and every user answer scripted by the test. Loaded in place of `vscode` by ./setup.

export interface Shown {
  level: "info" | "warning" | "error";
  message: string;
  items: string[];
  modal: boolean;
}

type Answer = (shown: Shown) => string | undefined;
type Picker = (items: readonly { label: string }[], placeHolder: string | undefined) => { label: string } | undefined;

export class FakeStatusBarItem {
  text = "";
  tooltip: string | undefined;
  command: string | undefined;
  name: string | undefined;
  backgroundColor: ThemeColor | undefined;
  visible = false;
  disposed = false;
  show(): void {
    this.visible = true;
  }
  hide(): void {
    this.visible = false;
  }
  dispose(): void {
    this.disposed = true;
    this.visible = false;
  }
}

export class FakeOutputChannel {
  lines: string[] = [];
  shown = false;
  constructor(readonly name: string) {}
  append(text: string): void {
    this.lines.push(text);
  }
  appendLine(text: string): void {
    this.lines.push(text);
  }
  clear(): void {
    this.lines = [];
  }
  show(): void {
    this.shown = true;
  }
  dispose(): void {}
  get text(): string {
    return this.lines.join("\n");
  }
}

export class Disposable {
  constructor(private readonly fn: () => void) {}
  dispose(): void {
    this.fn();
  }
}

export class EventEmitter<T> {
  private listeners: Array<(value: T) => void> = [];
  event = (listener: (value: T) => void): Disposable => {
    this.listeners.push(listener);
    return new Disposable(() => {
      this.listeners = this.listeners.filter((l) => l !== listener);
    });
  };
  fire(value: T): void {
    for (const l of [...this.listeners]) {
      l(value);
    }
  }
}

export class ThemeColor {
  constructor(readonly id: string) {}
}

export enum StatusBarAlignment {
  Left = 1,
  Right = 2,
}

export enum ConfigurationTarget {
  Global = 1,
  Workspace = 2,
  WorkspaceFolder = 3,
}

export enum ProgressLocation {
  SourceControl = 1,
  Window = 10,
  Notification = 15,
}

export class Uri {
  private constructor(
    readonly scheme: string,
    readonly authority: string,
    readonly path: string,
  ) {}
  static parse(text: string): Uri {
    const m = /^([a-z][a-z0-9+.-]*):\/\/([^/]*)(.*)$/i.exec(text);
    if (!m) {
      return new Uri("file", "", text);
    }
    return new Uri(m[1], decodeURIComponent(m[2]), decodeURIComponent(m[3] || "/"));
  }
  static file(path: string): Uri {
    return new Uri("file", "", path);
  }
  toString(): string {
    return `${this.scheme}://${this.authority}${this.path}`;
  }
}

/** Settings keyed "section.key"; `registered` lists the sections an installed extension declares. */
export const fake = {
  shown: [] as Shown[],
  answer: (() => undefined) as Answer,
  pick: (() => undefined) as Picker,
  picks: [] as string[][],
  statusBarItems: [] as FakeStatusBarItem[],
  outputs: [] as FakeOutputChannel[],
  commands: new Map<string, (...args: unknown[]) => unknown>(),
  executed: [] as Array<{ command: string; args: unknown[] }>,
  settings: new Map<string, unknown>(),
  registered: new Set<string>(["rpdev", "remote.SSH"]),
  progressTitles: [] as string[],
  configChanged: new EventEmitter<{ affectsConfiguration(section: string): boolean }>(),
  foldersChanged: new EventEmitter<unknown>(),
  reset(): void {
    this.shown = [];
    this.answer = () => undefined;
    this.pick = () => undefined;
    this.picks = [];
    this.statusBarItems = [];
    this.outputs = [];
    this.commands.clear();
    this.executed = [];
    this.settings.clear();
    this.registered = new Set(["rpdev", "remote.SSH"]);
    this.progressTitles = [];
    env.remoteName = undefined;
    env.appName = "Visual Studio Code";
    workspace.workspaceFolders = undefined;
    workspace.workspaceFile = undefined;
    window.activeTextEditor = undefined;
  },
};

function show(level: Shown["level"], message: string, rest: unknown[]): Promise<string | undefined> {
  let modal = false;
  const items: string[] = [];
  for (const item of rest) {
    if (typeof item === "string") {
      items.push(item);
    } else if (item && typeof item === "object" && "modal" in item) {
      modal = Boolean((item as { modal?: boolean }).modal);
    }
  }
  const shown = { level, message, items, modal };
  fake.shown.push(shown);
  const answer = fake.answer(shown);
  return Promise.resolve(answer !== undefined && items.includes(answer) ? answer : undefined);
}

export const window = {
  activeTextEditor: undefined as undefined | { document: { uri: Uri } },
  createStatusBarItem(): FakeStatusBarItem {
    const item = new FakeStatusBarItem();
    fake.statusBarItems.push(item);
    return item;
  },
  createOutputChannel(name: string): FakeOutputChannel {
    const channel = new FakeOutputChannel(name);
    fake.outputs.push(channel);
    return channel;
  },
  showInformationMessage: (message: string, ...rest: unknown[]) => show("info", message, rest),
  showWarningMessage: (message: string, ...rest: unknown[]) => show("warning", message, rest),
  showErrorMessage: (message: string, ...rest: unknown[]) => show("error", message, rest),
  showQuickPick<T extends { label: string }>(items: readonly T[], options?: { placeHolder?: string }): Promise<T | undefined> {
    fake.picks.push(items.map((i) => i.label));
    return Promise.resolve(fake.pick(items, options?.placeHolder) as T | undefined);
  },
  withProgress<R>(
    options: { title?: string },
    task: (progress: { report(value: unknown): void }, token: { isCancellationRequested: boolean }) => Promise<R>,
  ): Promise<R> {
    fake.progressTitles.push(options.title ?? "");
    return task({ report: () => undefined }, { isCancellationRequested: false });
  },
};

export const commands = {
  registerCommand(id: string, fn: (...args: unknown[]) => unknown): Disposable {
    if (fake.commands.has(id)) {
      throw new Error(`command ${id} already registered`);
    }
    fake.commands.set(id, fn);
    return new Disposable(() => fake.commands.delete(id));
  },
  async executeCommand(command: string, ...args: unknown[]): Promise<unknown> {
    const fn = fake.commands.get(command);
    if (fn) {
      return fn(...args);
    }
    fake.executed.push({ command, args });
    return undefined;
  },
};

export const workspace = {
  workspaceFolders: undefined as undefined | Array<{ uri: Uri; name: string; index: number }>,
  workspaceFile: undefined as undefined | Uri,
  getConfiguration(section: string) {
    return {
      get<T>(key: string, defaultValue?: T): T | undefined {
        const full = `${section}.${key}`;
        return fake.settings.has(full) ? (fake.settings.get(full) as T) : defaultValue;
      },
      inspect<T>(key: string): { key: string; globalValue?: T } {
        return { key: `${section}.${key}`, globalValue: fake.settings.get(`${section}.${key}`) as T | undefined };
      },
      async update(key: string, value: unknown, target: ConfigurationTarget): Promise<void> {
        if (![...fake.registered].some((s) => section === s || section.startsWith(`${s}.`))) {
          // VS Code's own words for a setting no extension declares.
          throw new Error(`Unable to write to User Settings because ${section}.${key} is not a registered configuration.`);
        }
        if (target !== ConfigurationTarget.Global) {
          throw new Error("the fake only keeps user (global) settings");
        }
        fake.settings.set(`${section}.${key}`, value);
      },
    };
  },
  onDidChangeConfiguration: fake.configChanged.event,
  onDidChangeWorkspaceFolders: fake.foldersChanged.event,
};

export const env = {
  remoteName: undefined as string | undefined,
  appName: "Visual Studio Code",
};
