"""The SFTP path (`sync/sftpops.py`, edits while watching) checks each pod path again just before
it replaces, moves over, chmods or deletes it: a pod edit made after the plan listed the
directory is kept, as a conflict copy or in place, never overwritten. A real sshd is the pod."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from rpdevd.sim.sshd import KeyPair, PodSSHD
from rpdevd.sync.destination import ConnectOptions, connect, parse_destination
from rpdevd.sync.model import LocalEntry, RemoteEntry
from rpdevd.sync.plan import Op
from rpdevd.sync.sftpops import SftpApplier

OURS = b"what rpdev wrote\n"
POD_EDIT = b"edited on the pod after the plan listed it\n"


def pinned_options(tmp_path: Path, pod: PodSSHD, key: KeyPair) -> ConnectOptions:
    """Strict host-key checking against the pod's own key, pinned under an alias."""
    known = tmp_path / "known_hosts"
    known.write_text(f"test-pod {pod.host_public_key}\n")
    return ConnectOptions(
        identities=[key.private],
        options={
            "stricthostkeychecking": "yes",
            "userknownhostsfile": str(known),
            "hostkeyalias": "test-pod",
        },
    )


class Pod:
    def __init__(self, root: Path, local: Path, applier: SftpApplier) -> None:
        self.root, self.local, self.applier = root, local, applier

    def write(self, rel: str, data: bytes, mtime: int = 1_700_000_000) -> None:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        os.utime(path, (mtime, mtime))

    async def seen(self, rel: str) -> RemoteEntry:
        entry = await self.applier.look(rel)
        assert entry is not None
        return entry

    def local_file(self, rel: str, data: bytes) -> LocalEntry:
        path = self.local / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        st = path.stat()
        return LocalEntry("file", st.st_size, st.st_mtime_ns, st.st_mode & 0o777, st.st_ino)

    def files(self) -> dict[str, bytes]:
        return {
            str(p.relative_to(self.root)): p.read_bytes()
            for p in sorted(self.root.rglob("*"))
            if p.is_file()
        }


@pytest.fixture
async def pod(tmp_path: Path, pod_sshd: PodSSHD, client_key: KeyPair) -> AsyncIterator[Pod]:
    root = tmp_path / "pod-workspace" / "proj"
    root.mkdir(parents=True)
    local = tmp_path / "local"
    local.mkdir()
    dest = parse_destination(f"{pod_sshd.user}@127.0.0.1:{pod_sshd.port}:{root}")
    conn = await connect(dest, pinned_options(tmp_path, pod_sshd, client_key))
    try:
        async with conn.start_sftp_client() as sftp:
            yield Pod(root, local, SftpApplier(sftp, str(root), local))
    finally:
        conn.close()
        await conn.wait_closed()


async def test_a_file_of_ours_unchanged_on_the_pod_is_replaced_in_place(pod: Pod) -> None:
    pod.write("a.txt", OURS)
    op = Op("put", "a.txt", local=pod.local_file("a.txt", b"local version\n"))
    op = Op("put", "a.txt", local=op.local, expect=await pod.seen("a.txt"))
    (result,) = await pod.applier.apply([op])
    assert (result.status, result.info) == ("ok", "")
    assert pod.files() == {"a.txt": b"local version\n"}


async def test_a_pod_edit_after_the_plan_becomes_a_conflict_copy_not_overwritten(
    pod: Pod,
) -> None:
    pod.write("src/a.txt", OURS)
    expect = await pod.seen("src/a.txt")  # what the plan listed
    pod.write("src/a.txt", POD_EDIT, mtime=1_700_000_100)  # then someone edits it on the pod
    op = Op(
        "put", "src/a.txt", local=pod.local_file("src/a.txt", b"local version\n"), expect=expect
    )
    (result,) = await pod.applier.apply([op])
    assert result.status == "ok"
    assert result.info.startswith("src/a.txt.rpdev-conflict-")
    assert pod.files() == {"src/a.txt": b"local version\n", result.info: POD_EDIT}


async def test_a_pod_edit_while_the_file_is_on_the_wire_is_kept(pod: Pod) -> None:
    """The check runs after the upload, just before the rename: an edit made while a large file
    was being sent is still caught."""
    pod.write("big.bin", OURS)
    expect = await pod.seen("big.bin")
    big = os.urandom(3 << 20)
    edited: list[int] = []

    def progress(done: int, total: int, files_done: int, count: int) -> None:
        if done and not edited:
            pod.write("big.bin", POD_EDIT, mtime=1_700_000_100)
            edited.append(done)

    op = Op("put", "big.bin", local=pod.local_file("big.bin", big), expect=expect)
    (result,) = await pod.applier.apply([op], progress)
    assert edited, "the upload reported no progress"
    assert result.status == "ok" and result.info.startswith("big.bin.rpdev-conflict-")
    assert pod.files() == {"big.bin": big, result.info: POD_EDIT}


async def test_something_not_ours_where_a_file_goes_is_kept_as_a_copy(pod: Pod) -> None:
    # The plan saw nothing there (expect None); a file appeared on the pod since.
    op = Op("put", "new.txt", local=pod.local_file("new.txt", b"local version\n"))
    pod.write("new.txt", POD_EDIT)
    (result,) = await pod.applier.apply([op])
    assert result.status == "ok" and result.info.startswith("new.txt.rpdev-conflict-")
    assert pod.files() == {"new.txt": b"local version\n", result.info: POD_EDIT}


async def test_a_second_conflict_in_the_same_second_gets_its_own_name(pod: Pod) -> None:
    local = pod.local_file("a.txt", b"local version\n")
    pod.write("a.txt", b"first pod edit\n")
    (first,) = await pod.applier.apply([Op("put", "a.txt", local=local)])
    pod.write("a.txt", b"second pod edit\n")
    # The same stamp, as two batches within one second would have.
    pod.applier.stamp = first.info.removeprefix("a.txt.rpdev-conflict-")
    second = await pod.applier._one(Op("put", "a.txt", local=local), lambda n: None)
    assert second.info == first.info + "-2"
    assert pod.files() == {
        "a.txt": b"local version\n",
        first.info: b"first pod edit\n",
        second.info: b"second pod edit\n",
    }


async def test_a_deletion_of_a_file_edited_on_the_pod_keeps_it(pod: Pod) -> None:
    pod.write("gone.txt", OURS)
    expect = await pod.seen("gone.txt")
    pod.write("gone.txt", POD_EDIT, mtime=1_700_000_100)
    (result,) = await pod.applier.apply([Op("delete", "gone.txt", expect=expect)])
    assert (result.status, result.info) == ("kept", "changed on the pod")
    assert pod.files() == {"gone.txt": POD_EDIT}


async def test_a_deletion_of_our_unchanged_file_removes_it(pod: Pod) -> None:
    pod.write("gone.txt", OURS)
    (result,) = await pod.applier.apply(
        [Op("delete", "gone.txt", expect=await pod.seen("gone.txt"))]
    )
    assert result.status == "ok"
    assert pod.files() == {}


async def test_a_chmod_of_a_file_edited_on_the_pod_leaves_it_alone(pod: Pod) -> None:
    pod.write("run.sh", OURS)
    os.chmod(pod.root / "run.sh", 0o644)
    expect = await pod.seen("run.sh")
    pod.write("run.sh", POD_EDIT, mtime=1_700_000_100)
    local = pod.local_file("run.sh", OURS)._replace(mode=0o755)
    (result,) = await pod.applier.apply([Op("chmod", "run.sh", local=local, expect=expect)])
    assert (result.status, result.info) == ("kept", "changed on the pod")
    assert (pod.root / "run.sh").stat().st_mode & 0o777 == 0o644
    assert pod.files() == {"run.sh": POD_EDIT}


async def test_a_rename_whose_source_was_edited_on_the_pod_is_not_made(pod: Pod) -> None:
    pod.write("old.txt", OURS)
    src_expect = await pod.seen("old.txt")
    pod.write("old.txt", POD_EDIT, mtime=1_700_000_100)
    local = pod.local_file("new.txt", OURS)
    op = Op("move", "new.txt", local=local, src="old.txt", src_expect=src_expect)
    (result,) = await pod.applier.apply([op])
    assert (result.status, result.info) == ("failed", "the source changed on the pod")
    assert pod.files() == {"old.txt": POD_EDIT}


async def test_a_file_that_appeared_where_a_directory_goes_is_kept_as_a_copy(pod: Pod) -> None:
    local = LocalEntry("dir", 0, 0, 0o755)
    pod.write("pkg", POD_EDIT)
    (result,) = await pod.applier.apply([Op("mkdir", "pkg", local=local)])
    assert result.status == "ok" and result.info.startswith("pkg.rpdev-conflict-")
    assert (pod.root / "pkg").is_dir()
    assert pod.files() == {result.info: POD_EDIT}


async def test_an_edit_below_a_directory_swapped_for_a_symlink_is_not_read_through(
    pod: Pod, tmp_path: Path
) -> None:
    """The local side, read the same way: each file through its directories as the walk saw
    them. A directory swapped for a symlink after the plan (by another user who can write in the
    tree, or a race) is never read through; the edit is reported unreadable, nothing sent."""
    secret = b"outside the tree: never sent\n"
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "a.txt").write_bytes(secret)
    op = Op("put", "src/a.txt", local=pod.local_file("src/a.txt", b"local version\n"))
    (pod.local / "src" / "a.txt").unlink()
    (pod.local / "src").rmdir()
    (pod.local / "src").symlink_to(outside)
    (result,) = await pod.applier.apply([op])
    assert result.status == "unreadable"
    assert "replaced by a symlink" in result.info
    assert pod.files() == {}
