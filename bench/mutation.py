"""Mutation score of the pure cores: how many small deliberate bugs their fast unit tests catch.

    .venv/bin/python bench/mutation.py [MODULE ...] [--max-children 2] [--show-survivors]

For each module (names below, default: all) it copies `rpdevd/`, `tests/` and `pyproject.toml`
into a scratch directory, adds a `[tool.mutmut]` table there that mutates that one module and runs
only its unit tests, and runs mutmut (`pip install -e '.[dev]'`). The checkout itself is never
touched, so the run is safe beside other work. Prints one row per module: mutants, killed,
survived, timeouts, score; `--show-survivors` also prints each survivor's diff.

Survivors that are equivalent mutants (no behaviour can tell them apart) are listed, with why,
in docs/benchmarks.md ("Mutation score"). Exit status 1 when a module scores under `--goal`.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MUTMUT = Path(sys.executable).with_name("mutmut")


@dataclass(frozen=True)
class Target:
    name: str
    source: str  # the file mutated
    tests: tuple[str, ...]  # the fast unit tests that hold it
    only: tuple[str, ...] = ()  # mutant-name globs: a part of the file (endpoint's pure core)
    slow: tuple[str, ...] = ()  # tests left out: each runs for seconds (real ssh), not ms


TARGETS = (
    Target(
        "activity/decide.py",
        "rpdevd/activity/decide.py",
        (
            "tests/unit/test_decide.py",
            "tests/unit/test_decide_history.py",
            "tests/unit/test_decide_traces.py",
            "tests/unit/test_decide_boundaries.py",
        ),
    ),
    Target(
        "activity/signals.py",
        "rpdevd/activity/signals.py",
        (
            "tests/unit/test_decide.py",
            "tests/unit/test_decide_boundaries.py",
            "tests/unit/test_signals_rules.py",
        ),
    ),
    Target(
        "sync/plan.py",
        "rpdevd/sync/plan.py",
        (
            "tests/unit/test_sync_plan.py",
            "tests/unit/test_plan_rules.py",
            "tests/unit/test_sync_fresh_plan.py",
        ),
    ),
    Target(
        "sshconfig/render.py",
        "rpdevd/sshconfig/render.py",
        ("tests/unit/test_sshconfig_render.py", "tests/unit/test_sshconfig_render_rules.py"),
    ),
    Target(
        "sshconfig/include.py",
        "rpdevd/sshconfig/include.py",
        ("tests/unit/test_sshconfig_include.py", "tests/unit/test_sshconfig_include_rules.py"),
        slow=(
            "tests/unit/test_sshconfig_include.py::test_ssh_accepts_the_result_and_reads_it_the_same",
        ),
    ),
    Target(
        "sync/compare.py",
        "rpdevd/sync/compare.py",
        ("tests/unit/test_sync_compare.py", "tests/unit/test_sync_remote.py"),
    ),
    Target(
        "sync/remote.records",
        "rpdevd/sync/remote.py",
        ("tests/unit/test_sync_compare.py", "tests/unit/test_sync_remote.py"),
        # The listing's records gathered as they come (in whole seconds), or from a whole one.
        only=("*ListingRecords*", "*_whole_records*", "*record_set*"),
    ),
    Target(
        "sync/remote.listing",
        "rpdevd/sync/remote.py",
        ("tests/unit/test_sync_compare.py", "tests/unit/test_sync_remote.py"),
        # The listing parsed, whole or for a few paths (searched for, or split out).
        only=("*parse_listing*", "*_rows_naming*"),
    ),
    Target(
        "sync/recordsets.py",
        "rpdevd/sync/recordsets.py",
        ("tests/unit/test_sync_baseline.py",),
    ),
    Target(
        "sync/baseline.sets",
        "rpdevd/sync/baseline.py",
        ("tests/unit/test_sync_baseline.py",),
        # The record sets as the baseline reads and keeps them (from its rows where they are not
        # kept), and the rows written many to a statement.
        only=tuple(
            f"*{name}__mutmut_*"
            for name in (
                "record_sets",
                "start_sets",
                "_sets_marked",
                "seen",
                "remember",
                "commit",
                "_per_statement",
            )
        ),
    ),
    Target(
        "sync/readahead.py",
        "rpdevd/sync/readahead.py",
        ("tests/unit/test_sync_readahead.py",),
    ),
    Target(
        "sync/ignore.names",
        "rpdevd/sync/ignore.py",
        ("tests/unit/test_sync_ignore_scan.py",),
        # The name filter and the matcher that uses it.
        only=("*_Names*", "*dir_matcher*", "*by_name*"),
    ),
    Target(
        "endpoint.judge",
        "rpdevd/endpoint.py",
        ("tests/unit/test_endpoint_judge.py", "tests/unit/test_endpoint_transition.py"),
        # judge and the address comparison it uses; the state machine's pure steps beside it.
        only=tuple(
            f"rpdevd.endpoint.x_{name}__mutmut_*"
            for name in ("judge", "_same_address", "after_poll", "after_check", "_to")
        ),
    ),
)

RESULT = re.compile(r"^\s*(\S+__mutmut_\d+): (.+)$")


@dataclass
class Score:
    name: str
    counts: dict[str, int]
    survivors: list[str]
    seconds: float

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def caught(self) -> int:
        # A mutant that hangs the tests is caught by the timeout: it changed behaviour.
        return self.counts.get("killed", 0) + self.counts.get("timeout", 0)

    @property
    def score(self) -> float:
        return 100.0 * self.caught / self.total if self.total else 0.0


def _scratch(target: Target, root: Path) -> None:
    shutil.copytree(REPO / "rpdevd", root / "rpdevd", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(
        REPO / "tests",
        root / "tests",
        ignore=shutil.ignore_patterns("__pycache__", "__snapshots__", "fixtures"),
    )
    tests = [t for t in target.tests if (REPO / t).exists()]
    # One process: mutmut drives pytest itself (the suite's own `-n` would spread it over workers).
    args = ["-p", "no:cacheprovider", "-q", "--timeout=0", "-n", "0"]
    for test in target.slow:
        args += ["--deselect", test]
    table = "\n".join(
        [
            "",
            "[tool.mutmut]",
            'source_paths = ["rpdevd"]',
            f"only_mutate = [{target.source!r}]",
            f"pytest_add_cli_args_test_selection = {tests!r}",
            # Our pytest options, less the timeout plugin's 60 s: mutmut times each mutant itself.
            f"pytest_add_cli_args = {args!r}",
            "use_git_change_detection = false",
            "",
        ]
    )
    text = (REPO / "pyproject.toml").read_text()
    (root / "pyproject.toml").write_text(text + table.replace("'", '"'))


def run_one(target: Target, max_children: int, show: bool) -> Score:
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="rpdev-mutation-") as tmp:
        root = Path(tmp)
        _scratch(target, root)
        env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
        cmd = [str(MUTMUT), "run", "--max-children", str(max_children)]
        cmd += target.only
        run = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True)
        if run.returncode != 0:
            sys.stderr.write(run.stdout[-4000:] + run.stderr[-4000:])
            raise SystemExit(f"mutmut failed on {target.name} (exit {run.returncode})")
        res = subprocess.run(
            [str(MUTMUT), "results", "--all", "true"],
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        counts: dict[str, int] = {}
        survivors: list[str] = []
        for line in res.stdout.splitlines():
            m = RESULT.match(line)
            if not m or not _wanted(m.group(1), target):
                continue
            status = m.group(2).strip()
            counts[status] = counts.get(status, 0) + 1
            if status not in ("killed", "timeout"):
                survivors.append(m.group(1))
        if show:
            for name in survivors:
                diff = subprocess.run(
                    [str(MUTMUT), "show", name], cwd=root, env=env, capture_output=True, text=True
                )
                print(f"--- {name}\n{diff.stdout.strip()}\n")
    return Score(target.name, counts, survivors, time.monotonic() - started)


def _wanted(mutant: str, target: Target) -> bool:
    if not target.only:
        return True
    import fnmatch

    return any(fnmatch.fnmatchcase(mutant, glob) for glob in target.only)


def _row(s: Score) -> str:
    return (
        f"{s.name:<22} {s.total:>7} {s.counts.get('killed', 0):>6} "
        f"{s.counts.get('timeout', 0):>7} {s.total - s.caught:>8} {s.score:>5.1f}%"
        f"   ({s.seconds:.0f} s)"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("modules", nargs="*", help="names from the table (default: all)")
    ap.add_argument("--max-children", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--show-survivors", action="store_true")
    ap.add_argument("--goal", type=float, default=95.0, help="per-module score to reach (%%)")
    args = ap.parse_args()
    if not MUTMUT.exists():
        raise SystemExit("mutmut is not installed: pip install -e '.[dev]'")
    chosen = [t for t in TARGETS if not args.modules or t.name in args.modules]
    if not chosen:
        raise SystemExit(f"no such module; choose from {', '.join(t.name for t in TARGETS)}")
    scores = []
    for target in chosen:
        scores.append(run_one(target, args.max_children, args.show_survivors))
        print(_row(scores[-1]), file=sys.stderr, flush=True)  # progress, module by module
    print(
        f"{'module':<22} {'mutants':>7} {'killed':>6} {'timeout':>7} {'survived':>8} {'score':>6}"
    )
    for s in scores:
        print(_row(s))
    for s in scores:
        for name in s.survivors:
            print(f"survivor {name}")
    return 0 if all(s.score >= args.goal for s in scores) else 1


if __name__ == "__main__":
    sys.exit(main())
