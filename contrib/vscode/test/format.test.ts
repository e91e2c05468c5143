import "./setup";

import * as assert from "node:assert/strict";
import { test } from "node:test";

import { budgetText, budgetWarning, formatAge, formatCost, formatDuration, podTooltip, statusBarText, statusReport } from "../src/format";
import { parsePod, parseStatus, Pod } from "../src/model";
import { pod } from "./setup";

const NOW = 1_700_000_000;

function p(overrides: Record<string, unknown> = {}): Pod {
  const parsed = parsePod(pod(overrides));
  assert.ok(parsed);
  return parsed;
}

test("durations read as a countdown", () => {
  assert.equal(formatDuration(0), "0:00");
  assert.equal(formatDuration(45), "0:45");
  assert.equal(formatDuration(760), "12:40");
  assert.equal(formatDuration(3599.9), "59:59");
  assert.equal(formatDuration(3960), "1h 06m");
  assert.equal(formatDuration(200000), "2d 7h");
  assert.equal(formatDuration(-5), "0:00");
});

test("costs", () => {
  assert.equal(formatCost(0.44), "$0.44/h");
  assert.equal(formatCost(2), "$2.00/h");
  assert.equal(formatCost(0.034), "$0.034/h");
  assert.equal(formatCost(undefined), undefined);
});

test("a running idle-stop pod shows its countdown and price", () => {
  assert.equal(statusBarText(p({ idle_deadline: NOW + 760 }), NOW), "$(vm-running) trainer · stops in 12:40 · $0.44/h");
  assert.equal(statusBarText(p({ idle_deadline: NOW - 1 }), NOW), "$(vm-running) trainer · stopping · $0.44/h");
});

test("without a deadline the daemon's own words show", () => {
  assert.equal(statusBarText(p(), NOW), "$(vm-running) trainer · busy: GPU 97 % · $0.44/h");
  assert.equal(statusBarText(p({ idle_state: null, cost_per_hr: null }), NOW), "$(vm-running) trainer");
});

test("a hold wins over the countdown", () => {
  assert.equal(statusBarText(p({ idle_deadline: NOW + 60, hold_until: NOW + 1800 }), NOW), "$(vm-running) trainer · held 30:00 · $0.44/h");
  assert.equal(statusBarText(p({ hold_until: "forever" }), NOW), "$(vm-running) trainer · held · $0.44/h");
  assert.equal(statusBarText(p({ idle_deadline: NOW + 60, hold_until: NOW - 5 }), NOW), "$(vm-running) trainer · stops in 1:00 · $0.44/h");
});

test("stopped pods and warnings", () => {
  assert.equal(statusBarText(p({ status: "EXITED" }), NOW), "$(vm-outline) trainer exited");
  const warned = p({ idle_deadline: NOW + 300, warning: { kind: "idle.warn", message: "idle: stops in 5:00", stop_at: NOW + 300 } });
  assert.match(statusBarText(warned, NOW), /^\$\(warning\) trainer · stops in 5:00/);
  assert.match(podTooltip(warned, NOW), /Warning: idle: stops in 5:00/);
});

test("a pod name cannot draw icons in the status bar", () => {
  const text = statusBarText(p({ name: "$(alert) pay me" }), NOW);
  assert.ok(!text.includes("$(alert)"), text);
});

test("tooltip and report say everything that matters", () => {
  const tip = podTooltip(p({ idle_deadline: NOW + 760 }), NOW);
  assert.match(tip, /trainer \(abc123xyz\): RUNNING/);
  assert.match(tip, /SSH: trainer\.runpod -> 203\.0\.113\.7:40022/);
  assert.match(tip, /Policy: idle-stop/);
  assert.match(tip, /Idle stop: stops in 12:40/);
  assert.match(tip, /Cost: \$0\.44\/h, \$3\.12 today/);
  const report = statusReport(
    parseStatus({ daemon: { version: "0.2.0", pid: 9 }, api: { ok: false, error: "HTTP 503" }, pods: [pod(), pod({ id: "b2", name: "other", status: "EXITED" })] }),
    NOW,
  );
  assert.match(report, /^rpdevd 0\.2\.0 \(pid 9\)/);
  assert.match(report, /RunPod API: unreachable: HTTP 503/);
  assert.match(report, /trainer\s+RUNNING\s+idle-stop\s+trainer\.runpod\s+\$0\.44\/h\s+busy: GPU 97 %/);
  assert.match(report, /other\s+EXITED/);
  assert.match(statusReport({ pods: [] }, NOW), /No pods are managed yet/);
});

test("ages, the budget and what a last-known pod says", () => {
  assert.equal(formatAge(45), "45s");
  assert.equal(formatAge(720), "12m");
  assert.equal(formatAge(11100), "3h 05m");
  const budget = { month: "2026-03", monthly: 200, spent: 123.4, percent: 61.7, told: [] };
  assert.equal(budgetText(budget), "$123.40 of $200 this month (62 %)");
  assert.equal(budgetText({ ...budget, monthly: 150.5 }), "$123.40 of $150.50 this month (62 %)");
  assert.match(budgetWarning({ ...budget, spent: 201.5 }, 100), /^rpdev: budget exceeded: \$201\.50 spent in 2026-03, over the monthly budget of \$200/);
  assert.match(budgetWarning({ ...budget, spent: 161 }, 80), /^rpdev: 80 % of the monthly budget reached: \$161\.00 spent in 2026-03 of \$200/);

  const known = p({ status: "EXITED", last_known: true, as_of: NOW - 720 });
  assert.equal(statusBarText(known, NOW), "$(vm-outline) trainer exited · last known, 12m ago");
  assert.equal(statusBarText(p({ last_known: true, as_of: NOW - 7200 }), NOW), "$(vm-running) trainer · last known, 2h 00m ago · busy: GPU 97 % · $0.44/h");
  assert.equal(statusBarText(p({ last_known: false, as_of: NOW - 7200 }), NOW), "$(vm-running) trainer · busy: GPU 97 % · $0.44/h");
  const tip = podTooltip(p({ last_known: true, as_of: NOW - 720, max_bid: 0.4 }), NOW, budget);
  assert.match(tip, /State: last known, 12m ago/);
  assert.match(tip, /Max bid: \$0\.40\/GPU\/h/);
  assert.match(tip, /Budget: \$123\.40 of \$200 this month \(62 %\)/);
  const plainTip = podTooltip(p(), NOW);
  assert.ok(!/State:|Max bid|Budget/.test(plainTip), plainTip);

  const report = statusReport(parseStatus({ pods: [pod({ max_bid: 0.4, last_known: true, as_of: NOW - 60 })], budget }), NOW);
  assert.match(report, /Budget: \$123\.40 of \$200 this month \(62 %\)/);
  assert.match(report, /last known, 1m ago/);
  assert.match(report, /max bid \$0\.40\/GPU\/h/);
  assert.ok(!/Budget/.test(statusReport(parseStatus({ pods: [pod()], budget: null }), NOW)));
});
