"""Promises of docs/sync.md held against a real sshd: `--no-delete`, the deletion cap, and a
foreign pod directory where a local file goes."""

from __future__ import annotations

import json

from tests.integration.test_sync_once import Rig, rig  # noqa: F401  (the fixture)


async def test_no_delete_leaves_every_pod_file_in_place(rig: Rig) -> None:  # noqa: F811
    (rig.local / "keep.txt").write_text("k")
    (rig.local / "gone.txt").write_text("bye")
    (rig.local / "sub").mkdir()
    (rig.local / "sub" / "inner.txt").write_text("in")
    rig.cli("once")
    (rig.local / "gone.txt").unlink()
    (rig.local / "sub" / "inner.txt").unlink()
    (rig.local / "sub").rmdir()
    out = json.loads(rig.cli("once", "--no-delete", "--json").stdout)
    assert out["deleted"] == 0
    assert (rig.remote / "gone.txt").read_text() == "bye"
    assert (rig.remote / "sub" / "inner.txt").read_text() == "in"
    # Without it, rpdev's own copies go.
    out = json.loads(rig.cli("once", "--json").stdout)
    assert out["deleted"] == 3
    assert not (rig.remote / "gone.txt").exists() and not (rig.remote / "sub").exists()
    assert (rig.remote / "keep.txt").read_text() == "k"


async def test_deletions_over_the_cap_wait_for_yes(rig: Rig) -> None:  # noqa: F811
    (rig.local / "keep.txt").write_text("k")
    for i in range(3):
        (rig.local / f"f{i}.txt").write_text(str(i))
    rig.cli("once")
    for i in range(3):
        (rig.local / f"f{i}.txt").unlink()
    held = rig.cli("once", "--max-delete", "2", "--json", check=False)
    assert all((rig.remote / f"f{i}.txt").exists() for i in range(3)), held.stdout + held.stderr
    assert held.returncode != 0 or json.loads(held.stdout)["deleted"] == 0
    yes = rig.cli("once", "--max-delete", "2", "--yes", "--json")
    assert json.loads(yes.stdout)["deleted"] == 3
    assert not any((rig.remote / f"f{i}.txt").exists() for i in range(3))
    for i in range(3):
        (rig.local / f"f{i}.txt").write_text(str(i))
    rig.cli("once")
    for i in range(3):
        (rig.local / f"f{i}.txt").unlink()
    at_cap = rig.cli("once", "--max-delete", "3", "--json")
    assert json.loads(at_cap.stdout)["deleted"] == 3
    assert not any((rig.remote / f"f{i}.txt").exists() for i in range(3))


async def test_a_foreign_pod_directory_where_a_local_file_goes_is_kept(rig: Rig) -> None:  # noqa: F811
    (rig.local / "data").write_text("local file")
    rig.remote.mkdir(parents=True)
    (rig.remote / "data").mkdir()
    (rig.remote / "data" / "results.csv").write_text("the user's results")
    report = await rig.once()
    assert (rig.remote / "data").read_text() == "local file"
    assert len(report.conflicts) == 1
    kept = rig.remote / report.conflicts[0]
    assert kept.is_dir() and (kept / "results.csv").read_text() == "the user's results"
