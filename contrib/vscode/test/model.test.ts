import "./setup";

import * as assert from "node:assert/strict";
import { test } from "node:test";

import { cleanText, findPod, findPodByAlias, parsePod, parseStatus } from "../src/model";
import { pod } from "./setup";

test("parses the documented status document", () => {
  const snapshot = parseStatus({
    daemon: { version: "0.3.1", pid: 77 },
    api: { ok: false, error: "timed out" },
    pods: [pod({ hold_until: "forever", warning: { kind: "idle.warn", message: "stops in 5m", stop_at: 1700000300 } })],
  });
  assert.equal(snapshot.daemonVersion, "0.3.1");
  assert.equal(snapshot.daemonPid, 77);
  assert.equal(snapshot.apiOk, false);
  assert.equal(snapshot.apiError, "timed out");
  const p = snapshot.pods[0];
  assert.equal(p.id, "abc123xyz");
  assert.equal(p.sshAlias, "trainer.runpod");
  assert.equal(p.sshPort, 40022);
  assert.equal(p.holdUntil, "forever");
  assert.equal(p.costPerHr, 0.44);
  assert.deepEqual(p.warning, { kind: "idle.warn", message: "stops in 5m", stopAt: 1700000300 });
});

test("tolerates missing, extra and stringly-typed fields", () => {
  const snapshot = parseStatus({ pods: [{ id: "p1", status: "exited", cost_per_hr: "0.2", idle_deadline: "", future: 1 }] });
  const p = snapshot.pods[0];
  assert.equal(p.name, "p1");
  assert.equal(p.status, "EXITED");
  assert.equal(p.costPerHr, 0.2);
  assert.equal(p.idleDeadline, undefined);
  assert.equal(p.sshAlias, undefined);
  assert.equal(snapshot.apiOk, undefined);
  assert.deepEqual(parseStatus({}).pods, []);
  assert.equal(parseStatus([pod()]).pods.length, 1);
});

test("rejects documents that are not status", () => {
  assert.throws(() => parseStatus("daemon is up"), TypeError);
  assert.throws(() => parseStatus(null), TypeError);
  assert.throws(() => parseStatus(42), TypeError);
});

test("drops pods whose id could be read as an option or is not an id", () => {
  const snapshot = parseStatus({ pods: [pod({ id: "-rf" }), pod({ id: "a b" }), pod({ id: 7 }), "junk", null, pod()] });
  assert.deepEqual(
    snapshot.pods.map((p) => p.id),
    ["abc123xyz"],
  );
});

test("hostile names are flattened and capped; hostile aliases are dropped", () => {
  const p = parsePod(pod({ name: "x\n  ProxyCommand evil\u0007", ssh_alias: "x\n ProxyCommand evil" }));
  assert.ok(p);
  assert.equal(p.name, "x ProxyCommand evil");
  assert.equal(p.sshAlias, undefined);
  assert.equal(cleanText("a".repeat(1000), 10)?.length, 10);
  assert.equal(parsePod(pod({ warning: { kind: "idle.warn" } }))?.warning, undefined);
});

test("finds a pod by Remote-SSH alias, name or id", () => {
  const pods = parseStatus({ pods: [pod(), pod({ id: "zz9", name: "other", ssh_alias: null })] }).pods;
  assert.equal(findPodByAlias(pods, "Trainer.RunPod")?.id, "abc123xyz");
  assert.equal(findPodByAlias(pods, "other.runpod")?.id, "zz9");
  assert.equal(findPodByAlias(pods, "zz9.runpod")?.id, "zz9");
  assert.equal(findPodByAlias(pods, "nope.runpod"), undefined);
  assert.equal(findPod(pods, "other")?.id, "zz9");
  assert.equal(findPod(pods, "abc123xyz")?.name, "trainer");
});

test("reads the budget, a pod's max bid and whether it is last known; a broken budget is none", () => {
  const snapshot = parseStatus({
    budget: { month: "2026-03", monthly: 200, spent: "123.4", percent: 61.7, told: [80, "x"], extra: 1 },
    pods: [pod({ max_bid: 0.4, last_known: true, as_of: 1700000000 })],
  });
  assert.deepEqual(snapshot.budget, { month: "2026-03", monthly: 200, spent: 123.4, percent: 61.7, told: [80] });
  const p = snapshot.pods[0];
  assert.equal(p.maxBid, 0.4);
  assert.equal(p.lastKnown, true);
  assert.equal(p.asOf, 1700000000);
  const plain = parseStatus({ budget: null, pods: [pod({ last_known: "yes" })] });
  assert.equal(plain.budget, undefined);
  assert.equal(plain.pods[0].lastKnown, undefined);
  assert.equal(plain.pods[0].maxBid, undefined);
  assert.equal(parseStatus({ budget: { monthly: 0, spent: 1 }, pods: [] }).budget, undefined);
  assert.equal(parseStatus({ budget: { monthly: 5, spent: 1, month: "\u001b[2J" }, pods: [] }).budget?.month, "");
});
