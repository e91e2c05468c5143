"""The SSH files rpdev writes, where they live, and the calls the daemon and the CLI make.

The generated Host file and the pinned keys live in rpdev's state dir (`paths.ssh_dir()`); the
user's `~/.ssh/config` only gets the Include block, and only on request.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rpdevd import paths
from rpdevd.sshconfig import include
from rpdevd.sshconfig.render import (
    Generated,
    HostEntry,
    RenderOptions,
    parse_slugs,
    render_config,
)
from rpdevd.sshconfig.safewrite import WriteResult, update_file


def generated_path() -> Path:
    return paths.ssh_dir() / "config"


def known_hosts_path() -> Path:
    return paths.ssh_dir() / "known_hosts"


def user_config_path() -> Path:
    """`~/.ssh/config`, from $HOME (as every other tool reading it for the user)."""
    return Path.home() / ".ssh" / "config"


@dataclass(frozen=True)
class GeneratedUpdate:
    path: Path
    changed: bool
    aliases: dict[str, str]  # pod id -> `<slug>.runpod`
    refused: dict[str, str] = field(default_factory=dict)  # pod id -> why it has no entry


def _decode(data: bytes | None) -> str:
    return data.decode("utf-8", "replace") if data else ""


def update_generated(
    hosts: Iterable[HostEntry],
    path: Path | None = None,
    *,
    known_hosts: Path | None = None,
    server_alive_interval: int = 15,
    proxy_program: Sequence[str] = ("rpdev",),
) -> GeneratedUpdate:
    """Rewrite the generated Host file for `hosts` (every managed pod) when its text changes.

    Slugs already in the file are kept (stable aliases). An entry holding a value that cannot be
    written safely is left out and named in `refused`."""
    path = path or generated_path()
    paths.ensure_private_dir(path.parent)
    options = RenderOptions(
        known_hosts=known_hosts or path.parent / "known_hosts",
        server_alive_interval=server_alive_interval,
        proxy_program=tuple(proxy_program),
    )
    hosts = list(hosts)
    rendered: list[Generated] = []

    def change(old: bytes | None) -> bytes:
        generated = render_config(hosts, options, parse_slugs(_decode(old)))
        rendered.append(generated)
        return generated.text.encode("utf-8")

    result = update_file(path, change)
    last = rendered[-1]
    return GeneratedUpdate(result.path, result.changed, dict(last.aliases), dict(last.refused))


def write_generated(hosts: Iterable[HostEntry], path: Path | None = None) -> bool:
    """The daemon's call whenever a managed pod's endpoint (or the pod set) changes."""
    return update_generated(hosts, path).changed


def read_aliases(path: Path | None = None) -> dict[str, str]:
    """pod id -> alias, as last written (for `rpdev status`)."""
    try:
        text = (path or generated_path()).read_text("utf-8", "replace")
    except FileNotFoundError:
        return {}
    return {pod_id: f"{slug}.runpod" for pod_id, slug in parse_slugs(text).items()}


@dataclass(frozen=True)
class IncludePlan:
    path: Path
    old: bytes | None
    new: bytes | None

    @property
    def changes(self) -> bool:
        return self.old != self.new

    def diff(self) -> str:
        before = _decode(self.old).splitlines(keepends=True)
        after = _decode(self.new).splitlines(keepends=True)
        lines = difflib.unified_diff(before, after, f"{self.path} (now)", f"{self.path} (after)")
        return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def plan_include(
    install: bool, user_config: Path | None = None, generated: Path | None = None
) -> IncludePlan:
    """What install (or uninstall) would do, without writing. Raises include.MarkerError."""
    path = user_config or user_config_path()
    try:
        old: bytes | None = path.read_bytes()
    except FileNotFoundError:
        old = None
    new: bytes | None
    if install:
        new = include.install(old or b"", generated or generated_path())
    else:
        new = include.uninstall(old) if old is not None else None
    return IncludePlan(path, old, new)


def install_include(user_config: Path | None = None, generated: Path | None = None) -> WriteResult:
    """Put rpdev's Include block at the top of the user's SSH config (created 0600 if missing).
    Raises include.MarkerError for a file with broken markers, and safewrite.ReadOnlyFile for a
    read-only one, changing nothing."""
    target = generated or generated_path()
    return update_file(
        user_config or user_config_path(),
        lambda old: include.install(old or b"", target),
        backup=True,
        respect_read_only=True,
    )


def uninstall_include(user_config: Path | None = None) -> WriteResult:
    """Remove rpdev's Include block; every other byte stays. A missing file stays missing; a
    read-only one is left as it is (safewrite.ReadOnlyFile)."""
    return update_file(
        user_config or user_config_path(),
        lambda old: include.uninstall(old) if old is not None else None,
        backup=True,
        respect_read_only=True,
    )
