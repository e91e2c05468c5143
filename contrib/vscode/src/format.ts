// What the status bar, its tooltip and the status report say. Pure: `now` is epoch seconds.

import type { Budget, Pod, StatusSnapshot } from "./model";

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

/** How long ago: 45 -> "45s", 720 -> "12m", 11100 -> "3h 05m", 200000 -> "2d 7h". */
export function formatAge(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  if (s < 60) {
    return `${s}s`;
  }
  if (s < 3600) {
    return `${Math.floor(s / 60)}m`;
  }
  return formatDuration(s);
}

/** "last known, 12m ago": the pod as RunPod last reported it (the daemon could not ask since). */
export function lastKnownText(pod: Pod, now: number): string | undefined {
  if (!pod.lastKnown) {
    return undefined;
  }
  return pod.asOf !== undefined ? `last known, ${formatAge(now - pod.asOf)} ago` : "last known";
}

function dollars(value: number): string {
  return Number.isInteger(value) ? `$${value}` : `$${value.toFixed(2)}`;
}

/** "$123.40 of $200 this month (62 %)". */
export function budgetText(budget: Budget): string {
  return `$${budget.spent.toFixed(2)} of ${dollars(budget.monthly)} this month (${Math.round(budget.percent)} %)`;
}

/** What the daemon told at a budget threshold, said again as a warning in the editor. */
export function budgetWarning(budget: Budget, threshold: number): string {
  const month = budget.month ? ` in ${budget.month}` : "";
  const spent = `$${budget.spent.toFixed(2)} spent${month}`;
  return threshold >= 100
    ? `rpdev: budget exceeded: ${spent}, over the monthly budget of ${dollars(budget.monthly)}. \`rpdev cost\` shows it per pod.`
    : `rpdev: ${threshold} % of the monthly budget reached: ${spent} of ${dollars(budget.monthly)}. \`rpdev cost\` shows it per pod.`;
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
  const known = lastKnownText(pod, now);
  if (!running) {
    parts[0] += ` ${plain(pod.status.toLowerCase())}`;
    if (known) {
      parts.push(known);
    }
  } else {
    if (known) {
      parts.push(known);
    }
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

export function podTooltip(pod: Pod, now: number, budget?: Budget): string {
  const lines = [`${pod.name} (${pod.id}): ${pod.status}`];
  const known = lastKnownText(pod, now);
  if (known) {
    lines.push(`State: ${known} (rpdev has not heard from RunPod since)`);
  }
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
  if (pod.maxBid !== undefined) {
    lines.push(`Max bid: $${pod.maxBid.toFixed(2)}/GPU/h (keep-alive resumes it at or below)`);
  }
  if (budget) {
    lines.push(`Budget: ${budgetText(budget)}`);
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
  if (snapshot.budget) {
    out.push(`Budget: ${budgetText(snapshot.budget)}`);
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
    const known = lastKnownText(pod, now);
    if (known) {
      out.push(`    ${known}`);
    }
    if (pod.maxBid !== undefined) {
      out.push(`    max bid $${pod.maxBid.toFixed(2)}/GPU/h`);
    }
    if (pod.warning) {
      out.push(`    ! ${pod.warning.message}`);
    }
  }
  return out.join("\n");
}
