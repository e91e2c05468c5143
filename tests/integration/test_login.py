"""`rpdev login`: the key is checked with RunPod before anything is kept, and without a keyring
it is not kept at all (exit 4, with what to do instead); rpdev never writes it to a file."""

from __future__ import annotations

from pathlib import Path

from tests.integration.harness import API_KEY, SimThread, cli


def files_holding(root: Path, secret: str) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]


def test_a_key_runpod_rejects_is_refused(sim: SimThread, home: Path) -> None:
    out = cli("login", "--stdin", input="not-the-key\n", env={"RUNPOD_API_KEY": ""})
    assert out.returncode == 1, out.stderr
    assert "rpdev: RunPod rejected this key" in out.stderr
    assert "Traceback" not in out.stderr


def test_a_working_key_without_a_keyring_is_not_kept_and_exits_4(
    sim: SimThread, home: Path
) -> None:
    # The home fixture's keyring backend is keyring's `fail` backend: no keyring at all.
    out = cli("login", "--stdin", input=f"{API_KEY}\n", env={"RUNPOD_API_KEY": ""})
    assert out.returncode == 4, out.stderr
    assert "the key works" in out.stderr and "NOT stored" in out.stderr
    assert "RUNPOD_API_KEY" in out.stderr  # what to do instead
    assert files_holding(home, API_KEY) == []  # never a plain file of rpdev's
