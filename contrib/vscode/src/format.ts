// What the status bar, its tooltip and the status report say. Pure: `now` is epoch seconds.

import type { Pod, StatusSnapshot } from "./model";

/** 45 -> "0:45", 760 -> "12:40", 4000 -> "1h 06m", 200000 -> "2d 7h". */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  if (s < 3600) {
    return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
  }
  if (s < 86400) {
    return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
  }
  return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
}

export function formatCost(perHour: number | undefined): string | undefined {
  if (perHour === undefined) {
    return undefined;
  }
  return `$${perHour.toFixed(perHour > 0 && perHour < 0.1 ? 3 : 2)}/h`;
}

// Status-bar text renders `$(name)` as an icon; a pod name must not be able to draw one.
function plain(text: string): string {
  return text.replace(/\$\(/g, "$\u200b(");
}

/** "held 25:00", "held", or undefined when no hold is in force. */
export function holdText(pod: Pod, now: number): string | undefined {
  if (pod.holdUntil === "forever") {
    return "held";
  }
  if (pod.holdUntil !== undefined && pod.holdUntil > now) {
    return `held ${formatDuration(pod.holdUntil - now)}`;
  }
  return undefined;
}

/** The idle part: a live countdown when the daemon gave a deadline, else its own words. */
export function idleText(pod: Pod, now: number): string | undefined {
  const hold = holdText(pod, now);
  if (hold) {
    return hold;
  }
  if (pod.idleDeadline !== undefined) {
    const left = pod.idleDeadline - now;
    return left > 0 ? `stops in ${formatDuration(left)}` : "stopping";
  }
  return pod.idleState;
}

export function statusBarText(pod: Pod, now: number): string {
  const running = pod.status === "RUNNING";
  const icon = pod.warning ? "$(warning)" : running ? "$(vm-running)" : "$(vm-outline)";
  const parts = [`${icon} ${plain(pod.name)}`];
  if (!running) {
    parts[0] += ` ${plain(pod.status.toLowerCase())}`;
  } else {
    const idle = idleText(pod, now);
    if (idle) {
      parts.push(plain(idle));
    }
    const cost = formatCost(pod.costPerHr);
    if (cost) {
      parts.push(cost);
    }
  }
  return parts.join(" · ");
}

export function podTooltip(pod: Pod, now: number): string {
  const lines = [`${pod.name} (${pod.id}): ${pod.status}`];
  if (pod.sshAlias) {
    lines.push(`SSH: ${pod.sshAlias}${pod.sshHost ? ` -> ${pod.sshHost}:${pod.sshPort ?? 22}` : ""}`);
  }
  if (pod.policy) {
    lines.push(`Policy: ${pod.policy}`);
  }
  const hold = holdText(pod, now);
  if (hold) {
    lines.push(`Hold: ${hold}`);
  }
  if (pod.idleDeadline !== undefined && !hold) {
    lines.push(`Idle stop: ${idleText(pod, now)}`);
  }
  if (pod.idleState) {
    lines.push(`Activity: ${pod.idleState}`);
  }
  const cost = formatCost(pod.costPerHr);
  if (cost) {
    const today = pod.spendToday !== undefined ? `, $${pod.spendToday.toFixed(2)} today` : "";
    lines.push(`Cost: ${cost}${today}`);
  }
  if (pod.warning) {
    lines.push(`Warning: ${pod.warning.message}`);
  }
  lines.push("", "Click for actions");
  return lines.join("\n");
}

/** The text of "rpdev: Show rpdev Status". */
export function statusReport(snapshot: StatusSnapshot, now: number): string {
  const out: string[] = [];
  const daemon = snapshot.daemonVersion ? `rpdevd ${snapshot.daemonVersion}` : "rpdevd";
  out.push(`${daemon}${snapshot.daemonPid !== undefined ? ` (pid ${snapshot.daemonPid})` : ""}`);
  if (snapshot.apiOk === false) {
    out.push(`RunPod API: unreachable${snapshot.apiError ? `: ${snapshot.apiError}` : ""}`);
  } else if (snapshot.apiOk === true) {
    out.push("RunPod API: ok");
  }
  out.push("");
  if (snapshot.pods.length === 0) {
    out.push("No pods are managed yet. Add them to config.toml, or run `rpdev pods`.");
    return out.join("\n");
  }
  for (const pod of snapshot.pods) {
    const cost = formatCost(pod.costPerHr) ?? "";
    const alias = pod.sshAlias ?? "";
    const idle = pod.status === "RUNNING" ? (idleText(pod, now) ?? "") : "";
    out.push(
      [pod.name.padEnd(20), pod.status.padEnd(9), (pod.policy ?? "").padEnd(10), alias.padEnd(24), cost.padEnd(9), idle]
        .join(" ")
        .trimEnd(),
    );
    if (pod.warning) {
      out.push(`    ! ${pod.warning.message}`);
    }
  }
  return out.join("\n");
}
