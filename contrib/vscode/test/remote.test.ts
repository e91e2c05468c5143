import "./setup";

import * as assert from "node:assert/strict";
import { test } from "node:test";

import { aliasFromAuthority, connectedRunpodAlias, remoteFolderUri } from "../src/remote";

const hex = (text: string) => Buffer.from(text, "utf8").toString("hex");

test("reads the plain alias form", () => {
  assert.equal(aliasFromAuthority("ssh-remote+trainer.runpod"), "trainer.runpod");
  assert.equal(aliasFromAuthority("ssh-remote%2Btrainer.runpod"), "trainer.runpod");
  assert.equal(aliasFromAuthority("SSH-REMOTE+trainer.runpod"), "trainer.runpod");
});

test("reads the hex-encoded JSON form, with or without a user", () => {
  assert.equal(aliasFromAuthority(`ssh-remote+${hex('{"hostName":"trainer.runpod"}')}`), "trainer.runpod");
  assert.equal(aliasFromAuthority(`ssh-remote+${hex('{"hostName":"root@gpu.runpod","user":"x"}')}`), "gpu.runpod");
  assert.equal(aliasFromAuthority("ssh-remote+root@trainer.runpod"), "trainer.runpod");
});

test("an alias made of hex digits is still an alias", () => {
  assert.equal(aliasFromAuthority("ssh-remote+deadbeef"), "deadbeef");
  assert.equal(aliasFromAuthority(`ssh-remote+${hex("not json")}`), hex("not json"));
});

test("other remotes and broken authorities give nothing", () => {
  assert.equal(aliasFromAuthority("wsl+Ubuntu"), undefined);
  assert.equal(aliasFromAuthority("dev-container+abc"), undefined);
  assert.equal(aliasFromAuthority("ssh-remote+"), undefined);
  assert.equal(aliasFromAuthority("ssh-remote+a b"), undefined);
  assert.equal(aliasFromAuthority(`ssh-remote+${hex('{"hostName":"x\\n ProxyCommand evil"}')}`), undefined);
  assert.equal(aliasFromAuthority("ssh-remote+%E0%A4%A"), undefined);
});

test("only ssh-remote windows on *.runpod hosts count", () => {
  assert.equal(connectedRunpodAlias("ssh-remote", ["ssh-remote+box.example", "ssh-remote+trainer.runpod"]), "trainer.runpod");
  assert.equal(connectedRunpodAlias("ssh-remote", ["ssh-remote+box.example"]), undefined);
  assert.equal(connectedRunpodAlias("ssh-remote", ["ssh-remote+.runpod"]), undefined);
  assert.equal(connectedRunpodAlias(undefined, ["ssh-remote+trainer.runpod"]), undefined);
  assert.equal(connectedRunpodAlias("wsl", ["ssh-remote+trainer.runpod"]), undefined);
});

test("builds the URI that opens a pod's folder", () => {
  assert.equal(remoteFolderUri("trainer.runpod", "/workspace"), "vscode-remote://ssh-remote+trainer.runpod/workspace");
  assert.equal(remoteFolderUri("t.runpod", "workspace/my proj"), "vscode-remote://ssh-remote+t.runpod/workspace/my%20proj");
});
