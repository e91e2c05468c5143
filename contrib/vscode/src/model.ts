// The daemon's view of the pods, parsed from `rpdev status --json`.
//
// The CLI is a separate program that can be older or newer than this extension, and pod names
// come from the RunPod API (anyone who can create a pod chooses them), so parsing is tolerant
// (unknown fields ignored, missing ones left undefined, numbers accepted as numeric strings) and
// every string shown to the user is cleaned of control characters and capped in length.

export interface PodWarning {
  kind: string;
  message: string;
  stopAt?: number; // epoch seconds
}

export interface Pod {
  id: string;
  name: string;
  status: string; // "RUNNING", "EXITED", ...
  sshAlias?: string;
  sshHost?: string;
  sshPort?: number;
  policy?: string;
  idleDeadline?: number; // epoch seconds
  idleState?: string;
  holdUntil?: number | "forever";
  costPerHr?: number;
  spendToday?: number;
  warning?: PodWarning;
}

export interface StatusSnapshot {
  daemonVersion?: string;
  daemonPid?: number;
  apiOk?: boolean;
  apiError?: string;
  pods: Pod[];
}

const MAX_TEXT = 300;

// Ids go on the rpdev command line as separate arguments (never through a shell), but one that
// starts with "-" would still be read as an option, so only plain ids are kept.
const POD_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;
// An alias ends up in a vscode-remote:// URI and in settings keys.
const SSH_ALIAS = /^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$/;

export function isPodId(value: string): boolean {
  return POD_ID.test(value);
}

export function isSshAlias(value: string): boolean {
  return SSH_ALIAS.test(value);
}

export function cleanText(value: unknown, max = MAX_TEXT): string | undefined {
  if (typeof value !== "string") {
    return undefined;
  }
  const flat = value.replace(/[\s\u0000-\u001f\u007f-\u009f]+/g, " ").trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

export function toNumber(value: unknown): number | undefined {
  if (typeof value === "number" && Number.isFinite(value)) {
    return value;
  }
  if (typeof value === "string" && value.trim() !== "") {
    const n = Number(value);
    return Number.isFinite(n) ? n : undefined;
  }
  return undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function parseWarning(raw: unknown): PodWarning | undefined {
  if (!isRecord(raw)) {
    return undefined;
  }
  const message = cleanText(raw.message);
  if (!message) {
    return undefined;
  }
  return { kind: cleanText(raw.kind, 40) ?? "warning", message, stopAt: toNumber(raw.stop_at) };
}

function parseHold(raw: unknown): number | "forever" | undefined {
  if (raw === "forever") {
    return "forever";
  }
  return toNumber(raw);
}

export function parsePod(raw: unknown): Pod | undefined {
  if (!isRecord(raw)) {
    return undefined;
  }
  const id = typeof raw.id === "string" ? raw.id : undefined;
  if (id === undefined || !isPodId(id)) {
    return undefined;
  }
  const alias = typeof raw.ssh_alias === "string" && isSshAlias(raw.ssh_alias) ? raw.ssh_alias : undefined;
  return {
    id,
    name: cleanText(raw.name, 80) || id,
    status: (cleanText(raw.status, 30) || "UNKNOWN").toUpperCase(),
    sshAlias: alias,
    sshHost: cleanText(raw.ssh_host, 255),
    sshPort: toNumber(raw.ssh_port),
    policy: cleanText(raw.policy, 30),
    idleDeadline: toNumber(raw.idle_deadline),
    idleState: cleanText(raw.idle_state, 120),
    holdUntil: parseHold(raw.hold_until),
    costPerHr: toNumber(raw.cost_per_hr),
    spendToday: toNumber(raw.spend_today),
    warning: parseWarning(raw.warning),
  };
}

/** Parse `rpdev status --json`. Accepts a bare list of pods too. Throws on anything that is not
 * a JSON object or list, so that garbage is reported instead of showing "no pods". */
export function parseStatus(raw: unknown): StatusSnapshot {
  if (Array.isArray(raw)) {
    return { pods: raw.map(parsePod).filter((p): p is Pod => p !== undefined) };
  }
  if (!isRecord(raw)) {
    throw new TypeError("expected a JSON object from `rpdev status --json`");
  }
  const daemon = isRecord(raw.daemon) ? raw.daemon : {};
  const api = isRecord(raw.api) ? raw.api : {};
  const pods = Array.isArray(raw.pods) ? raw.pods : [];
  return {
    daemonVersion: cleanText(daemon.version, 40),
    daemonPid: toNumber(daemon.pid),
    apiOk: typeof api.ok === "boolean" ? api.ok : undefined,
    apiError: cleanText(api.error),
    pods: pods.map(parsePod).filter((p): p is Pod => p !== undefined),
  };
}

/** The pod that an SSH alias (the Remote-SSH host) belongs to. */
export function findPodByAlias(pods: readonly Pod[], alias: string): Pod | undefined {
  const want = alias.toLowerCase();
  return (
    pods.find((p) => p.sshAlias?.toLowerCase() === want) ??
    pods.find((p) => `${p.name}.runpod`.toLowerCase() === want) ??
    pods.find((p) => `${p.id}.runpod`.toLowerCase() === want)
  );
}

/** A pod given by the user (id or name). */
export function findPod(pods: readonly Pod[], idOrName: string): Pod | undefined {
  return pods.find((p) => p.id === idOrName) ?? pods.find((p) => p.name === idOrName);
}
