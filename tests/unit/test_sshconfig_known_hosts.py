"""rpdev's known_hosts: one key per pod alias, replaced on restart, fingerprints as ssh-keygen."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from rpdevd.sim.sshd import generate_keypair
from rpdevd.sshconfig.known_hosts import (
    fingerprint,
    parse_key,
    pin_host_key,
    pinned_keys,
    unpin,
)


def new_key(tmp_path: Path, name: str) -> str:
    return " ".join(generate_keypair(tmp_path / name, "c").public.split()[:2])


def test_fingerprint_matches_ssh_keygen(tmp_path: Path) -> None:
    pair = generate_keypair(tmp_path / "k", "comment")
    out = subprocess.run(
        ["ssh-keygen", "-l", "-E", "sha256", "-f", str(tmp_path / "k.pub")],
        capture_output=True,
        text=True,
        check=True,
    )
    assert fingerprint(pair.public) == out.stdout.split()[1]


def test_pinning_replaces_the_pods_key_and_keeps_others(home: Path, tmp_path: Path) -> None:
    path = home / "kh"
    k1, k2, other = new_key(tmp_path, "a"), new_key(tmp_path, "b"), new_key(tmp_path, "c")
    first = pin_host_key("rpdev-p1", k1, path)
    assert first.previous is None and not first.changed
    pin_host_key("rpdev-other", other, path)
    again = pin_host_key("rpdev-p1", k1, path)
    assert not again.changed
    restarted = pin_host_key("rpdev-p1", k2, path)
    assert restarted.changed
    assert restarted.previous == fingerprint(k1) and restarted.fingerprint == fingerprint(k2)
    keys = pinned_keys(path)
    assert [k.line for k in keys["rpdev-p1"]] == [k2]
    assert [k.line for k in keys["rpdev-other"]] == [other]
    assert path.stat().st_mode & 0o777 == 0o600
    # ssh-keygen reads the file and finds the pinned key under the alias.
    out = subprocess.run(
        ["ssh-keygen", "-F", "rpdev-p1", "-f", str(path)], capture_output=True, text=True
    )
    assert out.returncode == 0 and k2.split()[1] in out.stdout


def test_pinning_the_same_key_again_does_not_rewrite(home: Path, tmp_path: Path) -> None:
    path = home / "kh"
    key = new_key(tmp_path, "a")
    pin_host_key("rpdev-p1", key, path)
    pin_host_key("rpdev-p2", new_key(tmp_path, "b"), path)
    before = path.stat()
    pin_host_key("rpdev-p1", key, path)
    assert path.stat().st_mtime_ns == before.st_mtime_ns


def test_lines_rpdev_does_not_understand_are_kept(home: Path, tmp_path: Path) -> None:
    path = home / "kh"
    path.write_bytes(b"# a comment\n@cert-authority * ssh-ed25519 AAAA\ngarbage line")
    pin_host_key("rpdev-p1", new_key(tmp_path, "a"), path)
    lines = path.read_bytes().splitlines()
    assert lines[:3] == [b"# a comment", b"@cert-authority * ssh-ed25519 AAAA", b"garbage line"]
    assert lines[3].startswith(b"rpdev-p1 ssh-ed25519 ")


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "ssh-ed25519",
        "ssh-ed25519 !!notbase64",
        "ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIATLq4wbP7TrZnz/sdg7idwmza3PupS2Sw/q5q5YKzYf",
        "ssh-ed25519\nevil AAAA",
    ],
)
def test_malformed_keys_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_key(bad)


def test_bad_aliases_are_refused(home: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        pin_host_key("a b", new_key(tmp_path, "a"), home / "kh")
    with pytest.raises(ValueError):
        pin_host_key("x\n*", new_key(tmp_path, "a"), home / "kh")
    assert not (home / "kh").exists()


def test_unpin_forgets_a_pod(home: Path, tmp_path: Path) -> None:
    path = home / "kh"
    pin_host_key("rpdev-p1", new_key(tmp_path, "a"), path)
    pin_host_key("rpdev-p2", new_key(tmp_path, "b"), path)
    assert unpin("rpdev-p1", path)
    assert not unpin("rpdev-p1", path)
    assert set(pinned_keys(path)) == {"rpdev-p2"}
