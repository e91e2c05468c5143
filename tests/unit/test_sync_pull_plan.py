"""The pull plan's rules (docs/sync.md, "Results back"), pure, and `pull` in config.toml."""

from __future__ import annotations

from pathlib import Path

import pathspec
import pytest

from rpdevd.config import ConfigError, parse_config
from rpdevd.sync.model import LocalEntry, RemoteEntry
from rpdevd.sync.pullplan import Pulled, PullPatterns, plan_pull, push_excludes, wanted

POD = RemoteEntry("file", 10, 1_700_000_000, 0o644)
NEWER = RemoteEntry("file", 12, 1_700_000_100, 0o644)
LANDED = LocalEntry("file", 10, 1_700_000_000 * 10**9, 0o644, 7)
EDITED = LocalEntry("file", 11, 1_700_000_050 * 10**9, 0o644, 7)
BASE = {"a.png": Pulled(10, 1_700_000_000, 10, 1_700_000_000 * 10**9)}


def test_a_new_pod_file_comes_down() -> None:
    p = plan_pull({"a.png": POD}, {"a.png": None}, {})
    assert [(op.path, op.expect, op.conflict) for op in p.gets] == [("a.png", None, False)]


def test_unchanged_on_both_sides_is_nothing() -> None:
    assert plan_pull({"a.png": POD}, {"a.png": LANDED}, BASE).empty()


def test_changed_on_the_pod_only_replaces_the_pulled_file() -> None:
    p = plan_pull({"a.png": NEWER}, {"a.png": LANDED}, BASE)
    assert [(op.expect, op.conflict) for op in p.gets] == [(LANDED, False)]


def test_changed_here_only_is_kept_and_said() -> None:
    p = plan_pull({"a.png": POD}, {"a.png": EDITED}, BASE)
    assert not p.gets and p.notes


def test_changed_on_both_sides_makes_a_conflict_copy() -> None:
    p = plan_pull({"a.png": NEWER}, {"a.png": EDITED}, BASE)
    assert [(op.expect, op.conflict) for op in p.gets] == [(None, True)]


def test_a_file_of_yours_in_the_way_is_kept_as_a_conflict_copy() -> None:
    p = plan_pull({"a.png": POD}, {"a.png": EDITED}, {})
    assert [(op.expect, op.conflict) for op in p.gets] == [(None, True)]
    d = plan_pull({"a.png": POD}, {"a.png": LocalEntry("dir")}, {})
    assert d.gets[0].conflict


def test_an_equal_file_is_adopted_without_moving() -> None:
    p = plan_pull({"a.png": POD}, {"a.png": LANDED}, {})
    assert not p.gets and p.adopt == {"a.png": BASE["a.png"]}


def test_deleted_here_stays_deleted_until_it_changes_on_the_pod() -> None:
    assert plan_pull({"a.png": POD}, {"a.png": None}, BASE).empty()
    assert [op.path for op in plan_pull({"a.png": NEWER}, {"a.png": None}, BASE).gets] == ["a.png"]


def test_an_unreadable_path_is_untouched() -> None:
    p = plan_pull({"a.png": NEWER}, {"a.png": "Permission denied"}, BASE)
    assert not p.gets and p.unknown == {"a.png": "Permission denied"} and not p.forget


def test_gone_from_the_pod_nothing_is_deleted_here() -> None:
    kept = plan_pull({}, {"a.png": LANDED}, BASE)
    assert kept.empty()  # the row stays: a file coming back replaces it without a copy
    assert plan_pull({}, {"a.png": None}, BASE).forget == ["a.png"]
    assert plan_pull({}, {"a.png": EDITED}, BASE).forget == ["a.png"]


def test_patterns_pick_regular_files_never_rpdev_temporaries() -> None:
    pod = {
        "outputs/a.png": POD,
        "outputs/x/b.png": POD,
        "outputs/c.txt": POD,
        "logs/t.log": POD,
        "logs/.t.log.rpdev-tmp-1234": POD,
        "logs/keep": RemoteEntry("dir"),
        "logs/link": RemoteEntry("symlink", 3, 0, 0o777, "t.log"),
        "src/m.py": POD,
    }
    pats = PullPatterns(["outputs/**/*.png", "logs/", "!logs/secret.log"])
    assert sorted(wanted(pod, pats)) == ["logs/t.log", "outputs/a.png", "outputs/x/b.png"]
    assert not PullPatterns([]) and not PullPatterns(["# only a comment"]).matches("x")


@pytest.mark.parametrize(
    ("prefix", "path", "excluded"),
    [
        ("", "outputs/a.png", True),
        ("", "outputs/a.png.rpdev-conflict-20260101-000000", True),
        ("", "logs/deep/t.log", True),
        ("", "train.py", False),
        ("res", "res/outputs/a.png", True),
        ("res", "outputs/a.png", False),
        ("res", "res/x/logs/t.log", True),  # an unanchored pattern, at any depth below
        ("we*ird", "we*ird/outputs/a.png", True),
        ("we*ird", "weXird/outputs/a.png", False),
    ],
)
def test_push_excludes_follow_the_pull(prefix: str, path: str, excluded: bool) -> None:
    lines = push_excludes(["outputs/**/*.png", "logs/"], prefix)
    assert pathspec.GitIgnoreSpec.from_lines(lines).match_file(path) is excluded


def test_pull_in_config() -> None:
    cfg = parse_config(
        '[[sync]]\npod = "p"\nlocal = "/a"\nremote = "/b"\npull = ["outputs/**/*.png", "logs/"]\n'
        'pull_interval = "10s"\n',
        Path("c.toml"),
    )
    assert cfg.syncs[0].pull == ("outputs/**/*.png", "logs/")
    assert cfg.syncs[0].pull_interval == 10
    assert parse_config('[[sync]]\npod = "p"\nlocal = "/a"\nremote = "/b"\n').syncs[0].pull == ()


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ('"logs/"', "must be a list"),
        ("[1]", "must be a list of strings"),
        ('[""]', "empty pattern"),
        ('["../up"]', "'..'"),
    ],
)
def test_bad_pull_is_refused_with_its_line(value: str, words: str) -> None:
    text = f'[[sync]]\npod = "p"\nlocal = "/a"\nremote = "/b"\npull = {value}\n'
    with pytest.raises(ConfigError) as err:
        parse_config(text, Path("c.toml"))
    assert err.value.key == "sync[0].pull" and err.value.line == 5
    assert words in str(err.value)
