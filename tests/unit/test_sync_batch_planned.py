"""What a batch tells of itself once it has run (`BatchRunner.as_planned`, `generation`): a first
sync keeps its walk's digest for the next resync only where everything landed as it was
walked (engine.SyncEngine._keep_walked)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from rpdevd.sync.baseline import Baseline
from rpdevd.sync.batch import BatchRunner, SyncReport
from rpdevd.sync.model import LocalEntry, RemoteEntry
from rpdevd.sync.plan import Op, Plan
from rpdevd.sync.transfer import OpResult

LO = LocalEntry("file", 3, 5 * 10**9, 0o644, 7)
POD = RemoteEntry("file", 3, 5, 0o644)


class Host:
    state = "idle"

    def emit(self, kind: str, message: str, level: str = "info", **data: Any) -> None:
        pass

    def report_unreadable(self, unknown: dict[str, str], report: SyncReport) -> None:
        report.unreadable += list(unknown)


def run(tmp_path: Path, results: list[OpResult], held: tuple[Op, ...] = ()) -> BatchRunner:
    class Applier:
        async def apply(self, ops: list[Op], progress: Any) -> list[OpResult]:
            return results

    async def sftp() -> Any:
        return Applier()

    db = Baseline(tmp_path / "db.sqlite")
    db.start_sets("pair")
    runner = BatchRunner(
        Host(),
        baseline=db,
        pair_id="pair",
        local_root=tmp_path,
        max_delete=None,
        bulk_min=16,
        bulk_always=False,
        sftp=sftp,
    )
    plan = Plan(ops=[r.op for r in results], held=list(held))
    asyncio.run(runner.run(plan, SyncReport(), None, full=True))
    db.close()
    return runner


def put(path: str) -> Op:
    return Op("put", path, LO)


def test_a_batch_that_landed_as_planned_says_so_with_its_generation(tmp_path: Path) -> None:
    runner = run(
        tmp_path,
        [OpResult(put("a"), "ok", POD, sent=LO), OpResult(Op("mkdir", "d", LO), "ok", POD)],
    )
    assert runner.as_planned is True and runner.generation is not None


@pytest.mark.parametrize(
    "result",
    [
        OpResult(put("a"), "ok", POD, sent=LO, torn=True),  # changed while it was read
        OpResult(put("a"), "ok", POD, sent=LO._replace(size=4)),  # read otherwise than walked
        OpResult(put("a"), "failed", None, "disk full"),
        OpResult(put("a"), "kept", None, "changed on the pod"),
        OpResult(put("a"), "unreadable", None, "Permission denied"),
    ],
)
def test_a_batch_that_did_not_says_so(tmp_path: Path, result: OpResult) -> None:
    runner = run(tmp_path, [OpResult(put("b"), "ok", POD, sent=LO), result])
    assert runner.as_planned is False


def test_a_batch_with_deletions_held_did_not_land_as_planned(tmp_path: Path) -> None:
    runner = run(
        tmp_path, [OpResult(put("b"), "ok", POD, sent=LO)], held=(Op("delete", "x", None, POD),)
    )
    assert runner.as_planned is False
