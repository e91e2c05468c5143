"""The socket's directory can sit in a shared temp dir, where another user may plant a link or a
directory of their own under the expected name. The daemon follows no link, uses no directory but
its own, and changes nothing outside it: each of those is refused with what to do."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from rpdevd.daemon.server import UnsafeRuntimeDir, prepare_runtime_dir
from tests.integration.harness import cli

NOBODY = 65534
as_root = pytest.mark.skipif(os.geteuid() != 0, reason="giving a file to another user needs root")


@pytest.fixture
def shared(tmp_path: Path) -> Path:
    """A world-writable sticky directory, as /tmp."""
    d = tmp_path / "shared"
    d.mkdir()
    os.chmod(d, 0o1777)
    return d


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    """A directory someone wants the daemon to chmod and write into."""
    d = tmp_path / "victim"
    d.mkdir()
    os.chmod(d, 0o1777)
    (d / "theirs").write_text("x")
    return d


def untouched(victim: Path) -> bool:
    return stat.S_IMODE(victim.stat().st_mode) == 0o1777 and sorted(os.listdir(victim)) == [
        "theirs"
    ]


def plant_link(shared: Path, victim: Path, owner: int | None = None) -> Path:
    link = shared / f"rpdev-{os.getuid()}"
    link.symlink_to(victim)
    if owner is not None:
        os.lchown(link, owner, owner)
    return link


def test_a_planted_symlink_is_refused_and_its_target_untouched(shared: Path, victim: Path) -> None:
    link = plant_link(shared, victim, NOBODY if os.geteuid() == 0 else None)
    with pytest.raises(UnsafeRuntimeDir, match="symbolic link") as refused:
        prepare_runtime_dir(link)
    assert "XDG_RUNTIME_DIR" in str(refused.value)
    assert untouched(victim)
    assert link.is_symlink()


@as_root
def test_a_directory_of_another_user_is_refused_and_left_as_it_is(shared: Path) -> None:
    planted = shared / f"rpdev-{os.getuid()}"
    planted.mkdir()
    os.chmod(planted, 0o777)
    os.chown(planted, NOBODY, NOBODY)
    with pytest.raises(UnsafeRuntimeDir, match="another user") as refused:
        prepare_runtime_dir(planted)
    assert f"uid {NOBODY}" in str(refused.value)
    st = planted.stat()
    assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (NOBODY, 0o777)
    assert os.listdir(planted) == []


def test_a_file_in_its_place_is_refused(shared: Path) -> None:
    planted = shared / f"rpdev-{os.getuid()}"
    planted.write_text("not a directory")
    os.chmod(planted, 0o644)
    with pytest.raises(UnsafeRuntimeDir, match="not a directory"):
        prepare_runtime_dir(planted)
    assert planted.read_text() == "not a directory"
    assert stat.S_IMODE(planted.stat().st_mode) == 0o644


def test_a_new_directory_is_private_and_an_own_open_one_is_closed(shared: Path) -> None:
    fresh = shared / "fresh"
    prepare_runtime_dir(fresh)
    st = os.lstat(fresh)
    assert stat.S_ISDIR(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o700
    assert st.st_uid == os.getuid()
    own = shared / "own"
    own.mkdir()
    os.chmod(own, 0o755)
    prepare_runtime_dir(own)
    assert stat.S_IMODE(own.stat().st_mode) == 0o700


no_run_user = pytest.mark.skipif(
    Path(f"/run/user/{os.getuid()}").is_dir(),
    reason="/run/user/<uid> exists here: the daemon would use it, not the temp dir",
)


def refused_by_the_daemon(link: Path, victim: Path, env: dict[str, str]) -> None:
    link.symlink_to(victim)
    if os.geteuid() == 0:
        os.lchown(link, NOBODY, NOBODY)
    out = cli("daemon", "run", env=env, timeout=30)
    assert out.returncode == 2, out.stdout + out.stderr
    assert f"refusing to put the socket in {link}" in out.stderr
    assert "symbolic link" in out.stderr and "XDG_RUNTIME_DIR" in out.stderr
    assert untouched(victim)
    assert link.is_symlink()


@no_run_user
def test_the_daemon_refuses_a_link_planted_at_its_temp_dir_fallback(
    home: Path, shared: Path, victim: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    link = shared / f"rpdev-{os.getuid()}"  # where the daemon goes without a runtime dir
    refused_by_the_daemon(link, victim, {"TMPDIR": str(shared)})


def test_the_daemon_refuses_a_link_in_its_runtime_dir(home: Path, victim: Path) -> None:
    refused_by_the_daemon(home / "run" / "rpdev", victim, {})
