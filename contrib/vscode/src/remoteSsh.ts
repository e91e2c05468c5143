// The Remote-SSH settings that wake on connect needs.
//
// With wake on connect, the pod's Host entry runs `rpdev proxy`, which resumes a stopped pod and
// waits for SSH before piping the connection: that takes minutes, far past Remote-SSH's default
// 15 s connect timeout. And Remote-SSH asks for (or probes) the platform of each new host, which
// a pod still booting cannot answer; pods are always Linux.

export const WAKE_CONNECT_TIMEOUT_S = 300;

export interface RemoteSshSettings {
  connectTimeout?: number;
  remotePlatform?: Record<string, string>;
}

/** The changes to make (only those needed; a user's own remotePlatform entries are kept). */
export function remoteSshChanges(current: RemoteSshSettings, aliases: readonly string[]): RemoteSshSettings {
  const changes: RemoteSshSettings = {};
  if (current.connectTimeout === undefined || current.connectTimeout < WAKE_CONNECT_TIMEOUT_S) {
    changes.connectTimeout = WAKE_CONNECT_TIMEOUT_S;
  }
  const platforms = { ...(current.remotePlatform ?? {}) };
  let added = false;
  for (const alias of aliases) {
    if (!(alias in platforms)) {
      platforms[alias] = "linux";
      added = true;
    }
  }
  if (added) {
    changes.remotePlatform = platforms;
  }
  return changes;
}

export function describeChanges(changes: RemoteSshSettings, aliases: readonly string[]): string {
  const said: string[] = [];
  if (changes.connectTimeout !== undefined) {
    said.push(`remote.SSH.connectTimeout = ${changes.connectTimeout} s`);
  }
  if (changes.remotePlatform !== undefined) {
    said.push(`remote.SSH.remotePlatform: linux for ${aliases.join(", ")}`);
  }
  return said.length === 0
    ? "Remote-SSH is already set up for wake on connect."
    : `Set ${said.join("; ")}.`;
}
