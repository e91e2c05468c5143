// Which SSH host this window is connected to, from Remote-SSH's remote authority.
//
// Remote-SSH names a window's remote `ssh-remote+<host>`. Older versions put the host alias there
// as is; newer ones may put hex-encoded JSON (`{"hostName":"trainer.runpod"}`, sometimes with a
// user), so both forms are accepted.

import { isSshAlias } from "./model";

export const SSH_REMOTE = "ssh-remote";
export const RUNPOD_SUFFIX = ".runpod";

function decodeHexJson(text: string): string | undefined {
  if (text.length < 4 || text.length % 2 !== 0 || !/^[0-9a-f]+$/i.test(text)) {
    return undefined;
  }
  const decoded = Buffer.from(text, "hex").toString("utf8");
  if (!decoded.startsWith("{")) {
    return undefined;
  }
  try {
    const value: unknown = JSON.parse(decoded);
    if (typeof value === "object" && value !== null) {
      const host = (value as Record<string, unknown>).hostName;
      return typeof host === "string" ? host : undefined;
    }
  } catch {
    // Not JSON after all: an alias that happens to be made of hex digits.
  }
  return undefined;
}

function stripUser(host: string): string {
  const at = host.lastIndexOf("@");
  return at >= 0 ? host.slice(at + 1) : host;
}

/** `ssh-remote+trainer.runpod` (or its hex-JSON form) -> `trainer.runpod`; anything else -> undefined. */
export function aliasFromAuthority(authority: string): string | undefined {
  let text = authority;
  try {
    text = decodeURIComponent(authority);
  } catch {
    // A stray "%": keep the text as it is.
  }
  const prefix = `${SSH_REMOTE}+`;
  if (!text.toLowerCase().startsWith(prefix)) {
    return undefined;
  }
  const rest = text.slice(prefix.length);
  const host = stripUser(decodeHexJson(rest) ?? rest);
  return isSshAlias(host) ? host : undefined;
}

export function isRunpodAlias(alias: string): boolean {
  return alias.toLowerCase().endsWith(RUNPOD_SUFFIX) && alias.length > RUNPOD_SUFFIX.length;
}

/**
 * The `*.runpod` host this window is connected to, given `vscode.env.remoteName` and the
 * authorities of the window's URIs (workspace folders, workspace file, open editors).
 */
export function connectedRunpodAlias(
  remoteName: string | undefined,
  authorities: readonly string[],
): string | undefined {
  if (remoteName !== SSH_REMOTE) {
    return undefined;
  }
  for (const authority of authorities) {
    const alias = aliasFromAuthority(authority);
    if (alias !== undefined && isRunpodAlias(alias)) {
      return alias;
    }
  }
  return undefined;
}

/** The URI that opens `folder` on `alias` through Remote-SSH. */
export function remoteFolderUri(alias: string, folder: string): string {
  const path = folder.startsWith("/") ? folder : `/${folder}`;
  return `vscode-remote://${SSH_REMOTE}+${alias}${encodeURI(path)}`;
}
