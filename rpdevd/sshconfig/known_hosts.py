"""rpdev's own known_hosts file: one pinned host key per pod, under its `HostKeyAlias`.

A pod's host key changes on every stop/resume (its `/etc/ssh` is wiped), so a key is pinned per
pod id, not per address. The daemon replaces a pod's key only after the in-pod identity check
(rpdevd.endpoint) passed. The user's own `~/.ssh/known_hosts` is never read or written.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import struct
from dataclasses import dataclass
from pathlib import Path

from rpdevd.sshconfig.safewrite import update_file

_KEY_TYPE_RE = re.compile(r"^[a-z0-9][a-z0-9@.-]{2,63}$")
_ALIAS_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,80}$")


@dataclass(frozen=True)
class HostKey:
    key_type: str
    blob: bytes

    @property
    def line(self) -> str:
        """The OpenSSH public key form, without a comment: `ssh-ed25519 AAAA...`."""
        return f"{self.key_type} {base64.b64encode(self.blob).decode('ascii')}"

    @property
    def fingerprint(self) -> str:
        """As `ssh-keygen -l` prints it: `SHA256:` and unpadded base64 of the blob's digest."""
        digest = hashlib.sha256(self.blob).digest()
        return "SHA256:" + base64.b64encode(digest).decode("ascii").rstrip("=")


@dataclass(frozen=True)
class Pinned:
    alias: str
    fingerprint: str
    previous: str | None  # the fingerprint pinned before, None when this is the first

    @property
    def changed(self) -> bool:
        """A different key replaced an earlier one (worth an event)."""
        return self.previous is not None and self.previous != self.fingerprint


def parse_key(text: str) -> HostKey:
    """An OpenSSH public key (`type base64 [comment]`), checked: the blob must name its type."""
    words = text.strip().split()
    if len(words) < 2:
        raise ValueError("not an OpenSSH public key line")
    key_type, b64 = words[0], words[1]
    if not _KEY_TYPE_RE.match(key_type):
        raise ValueError(f"not a key type: {key_type!r}")
    try:
        blob = base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError) as e:
        raise ValueError("the key is not valid base64") from e
    if len(blob) < 4:
        raise ValueError("the key blob is too short")
    (n,) = struct.unpack(">I", blob[:4])
    if blob[4 : 4 + n].decode("ascii", "replace") != key_type:
        raise ValueError(f"the key blob does not hold a {key_type} key")
    return HostKey(key_type, blob)


def fingerprint(key_line: str) -> str:
    return parse_key(key_line).fingerprint


def check_alias(alias: str) -> str:
    if not _ALIAS_RE.match(alias):
        raise ValueError(f"not a host key alias: {alias!r}")
    return alias


def _entries(data: bytes) -> list[tuple[list[str], HostKey | None, bytes]]:
    """(host names, key or None, raw line) for each line; lines rpdev cannot parse are kept."""
    out: list[tuple[list[str], HostKey | None, bytes]] = []
    for raw in data.splitlines(keepends=True):
        text = raw.decode("utf-8", "replace").strip()
        if not text or text.startswith("#") or text.startswith("@"):
            out.append(([], None, raw))
            continue
        words = text.split()
        try:
            key = parse_key(" ".join(words[1:3]))
        except ValueError:
            out.append(([], None, raw))
            continue
        out.append((words[0].split(","), key, raw))
    return out


def pinned_keys(path: Path) -> dict[str, list[HostKey]]:
    """alias -> keys pinned for it."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return {}
    found: dict[str, list[HostKey]] = {}
    for names, key, _ in _entries(data):
        if key is not None:
            for name in names:
                found.setdefault(name, []).append(key)
    return found


def replace_key(data: bytes, alias: str, key: HostKey) -> tuple[bytes, str | None]:
    """Pure: the file with `alias`'s keys replaced by `key`, and the fingerprint it had."""
    entries = _entries(data)
    mine = [old for names, old, _ in entries if old is not None and alias in names]
    if mine == [key]:
        return data, key.fingerprint  # already pinned: leave the file as it is
    kept: list[bytes] = []
    previous: str | None = None
    for names, old, raw in entries:
        if old is not None and alias in names:
            previous = previous or old.fingerprint
            continue
        kept.append(raw if raw.endswith(b"\n") else raw + b"\n")
    kept.append(f"{alias} {key.line}\n".encode("ascii"))
    return b"".join(kept), previous


def remove_alias(data: bytes, alias: str) -> bytes:
    return b"".join(raw for names, key, raw in _entries(data) if key is None or alias not in names)


def pin_host_key(alias: str, key_line: str, path: Path) -> Pinned:
    """Pin `key_line` as the only key for `alias` in rpdev's known_hosts at `path`.

    Call only after the endpoint's identity was confirmed. Returns the new fingerprint and the
    one it replaced, so the caller can record a change."""
    check_alias(alias)
    key = parse_key(key_line)
    seen: list[str | None] = []

    def change(old: bytes | None) -> bytes:
        new, previous = replace_key(old or b"", alias, key)
        seen.append(previous)
        return new

    update_file(path, change)
    return Pinned(alias, key.fingerprint, seen[-1] if seen else None)


def unpin(alias: str, path: Path) -> bool:
    """Forget a pod's key (the pod is no longer managed). True when something was removed."""
    check_alias(alias)
    return update_file(path, lambda old: remove_alias(old, alias) if old else None).changed
