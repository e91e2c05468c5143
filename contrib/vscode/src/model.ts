// The daemon's view of the pods, parsed from `rpdev status --json`.
//
// The CLI is a separate program that can be older or newer than this extension, and pod names
// come from the RunPod API (anyone who can create a pod chooses them), so parsing is tolerant
// (unknown fields ignored, missing ones left undefined, numbers accepted as numeric strings) and
// every string shown to the user is cleaned of control characters and capped in length.

// What the daemon sends (`rpdev status --json` prints the daemon's `status` answer as it is),
// mirrored from rpdevd/views.py. The parsers below read raw JSON only through `Loose<...>` of
// these, so reading a key the daemon does not send fails to compile.
// --- views: written by scripts/views_ts.py from rpdevd/views.py; do not edit by hand ---
export interface WarningView {
  kind: string;
  message: string;
  stop_at: number;
  reason: string;
}
export interface SyncProgressView {
  pair: string;
  bytes_done: number;
  bytes_total: number;
  files_done: number;
  files_total: number;
}
export interface SyncRootView {
  id: string;
  pod: string;
  pod_id: string | null;
  local: string;
  remote: string;
  paused: boolean;
  source: string;
  state: string;
  held: number;
  max_delete: number;
  pending: number;
  last_sync: number | null;
  last_error: string | null;
  progress: SyncProgressView | null;
  pull?: string[];
  pull_interval?: number;
}
export interface ForwardView {
  pod: string;
  pod_id: string | null;
  name: string | null;
  local: number;
  bind: string;
  remote: number;
  source: string;
  state: string;
  error: string | null;
  connections: number;
}
export interface PodView {
  id: string;
  name: string;
  status: string;
  managed: boolean;
  policy: string;
  idle_timeout: number;
  warn_before: number;
  wake_on_connect: boolean;
  gpu: string;
  gpu_type: string;
  gpu_count: number;
  pod_type: string;
  is_spot: boolean;
  cost_per_hr: number | null;
  spend_today: number;
  spend_month: number;
  saved_month: number;
  saved_hours_month: number;
  ssh_alias: string | null;
  ssh_host: string | null;
  ssh_port: number | null;
  endpoint_state: string;
  api_endpoint: string | null;
  host_key_fingerprint: string | null;
  idle_state: string;
  idle_deadline: number | null;
  hold_until: number | string | null;
  warning: WarningView | null;
  last_sample: Record<string, unknown> | null;
  sync: SyncRootView[];
  forwards?: ForwardView[];
  last_error: string | null;
  status_since: number;
  volume_mount_path: string | null;
  as_of: number | null;
  last_known: boolean;
  max_bid?: number | null;
}
export interface ApiView {
  ok: boolean;
  error: string | null;
  hint: string | null;
  last_poll: number | null;
  key_source: string | null;
  failures: number;
  known_at: number | null;
  last_known: boolean;
  state_error: string | null;
}
export interface DaemonView {
  version: string;
  pid: number;
  uptime_s: number;
  socket: string;
  log: string;
  config: string | null;
  poll_interval: number;
  ssh_include: string | null;
}
export interface BudgetView {
  month: string;
  monthly: number;
  spent: number;
  percent: number;
  told: number[];
}
export interface StatusView {
  daemon: DaemonView;
  api: ApiView;
  pods: PodView[];
  unmanaged: number;
  budget?: BudgetView | null;
}
export interface PodsView {
  api: ApiView;
  pods: PodView[];
}
export interface EventView {
  seq: number;
  t: number;
  kind: string;
  pod_id: string | null;
  level: string;
  message: string;
  data: Record<string, unknown>;
}
// --- end of views ---

/** A JSON object that may hold any of T's keys, each of any type (checked when read). */
export type Loose<T> = { readonly [K in keyof T]?: unknown };

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
  maxBid?: number; // spot pods: keep-alive resumes at or below this, $/GPU/h
  warning?: PodWarning;
  lastKnown?: boolean; // the daemon shows what RunPod last said, not the latest poll
  asOf?: number; // epoch seconds: when RunPod last reported the pod
}

/** `[budget] monthly` against this month's spend over all pods; absent without a budget. */
export interface Budget {
  month: string; // YYYY-MM
  monthly: number;
  spent: number;
  percent: number;
  told: number[]; // thresholds the daemon has told this month: 80 (budget.warning), 100 (budget.exceeded)
}

export interface StatusSnapshot {
  daemonVersion?: string;
  daemonPid?: number;
  apiOk?: boolean;
  apiError?: string;
  budget?: Budget;
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

function parseWarning(value: unknown): PodWarning | undefined {
  if (!isRecord(value)) {
    return undefined;
  }
  const raw: Loose<WarningView> = value;
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

export function parsePod(value: unknown): Pod | undefined {
  if (!isRecord(value)) {
    return undefined;
  }
  const raw: Loose<PodView> = value;
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
    maxBid: toNumber(raw.max_bid),
    warning: parseWarning(raw.warning),
    lastKnown: raw.last_known === true ? true : undefined,
    asOf: toNumber(raw.as_of),
  };
}

const MONTH = /^\d{4}-\d{2}$/;

function parseBudget(value: unknown): Budget | undefined {
  if (!isRecord(value)) {
    return undefined;
  }
  const raw: Loose<BudgetView> = value;
  const monthly = toNumber(raw.monthly);
  const spent = toNumber(raw.spent);
  if (monthly === undefined || monthly <= 0 || spent === undefined) {
    return undefined;
  }
  const month = typeof raw.month === "string" && MONTH.test(raw.month) ? raw.month : "";
  const told = Array.isArray(raw.told) ? raw.told.map(toNumber).filter((n): n is number => n !== undefined) : [];
  return { month, monthly, spent, percent: toNumber(raw.percent) ?? (100 * spent) / monthly, told };
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
  const status: Loose<StatusView> = raw;
  const daemon: Loose<DaemonView> = isRecord(status.daemon) ? status.daemon : {};
  const api: Loose<ApiView> = isRecord(status.api) ? status.api : {};
  const pods = Array.isArray(status.pods) ? status.pods : [];
  return {
    daemonVersion: cleanText(daemon.version, 40),
    daemonPid: toNumber(daemon.pid),
    apiOk: typeof api.ok === "boolean" ? api.ok : undefined,
    apiError: cleanText(api.error),
    budget: parseBudget(status.budget),
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
