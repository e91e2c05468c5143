"""Slugs: safe, unique, stable across renames of other pods, falling back to the id."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rpdevd.sshconfig.slugs import SLUG_RE, PodName, assign_slugs, base_slug

HOSTILE = [
    "x\n  ProxyCommand evil",
    "a b",
    "%h%p%%",
    "'quoted' \"double\"",
    "*",
    "y" * 500,
    "тренер",
    "Café Crème",
    "🚀🚀",
    "",
    "-rf",
    "..",
    ".runpod",
    "trainer",
    "trainer",
    "Trainer",
    "trainer!",
]


def test_names_fold_to_lowercase_ascii() -> None:
    assert base_slug("My Trainer (A100)", "abc123") == "my-trainer-a100"
    assert base_slug("Café Crème", "abc123") == "cafe-creme"
    assert base_slug("--x--", "abc123") == "x"


def test_unusable_names_fall_back_to_the_id() -> None:
    for name in ("", "тренер", "🚀", "***", "..."):
        assert base_slug(name, "abc123") == "abc123"


def test_long_names_are_cut() -> None:
    slug = base_slug("y" * 500, "abc123")
    assert SLUG_RE.match(slug) and len(slug) <= 48


def test_hostile_names_give_safe_unique_slugs() -> None:
    pods = [PodName(f"pod{i:02d}x", name) for i, name in enumerate(HOSTILE)]
    slugs = assign_slugs(pods, {})
    assert len(set(slugs.values())) == len(pods)
    for slug in slugs.values():
        assert SLUG_RE.match(slug), slug
        assert len(slug) <= 64


def test_duplicates_are_qualified_by_the_pod_id() -> None:
    slugs = assign_slugs([PodName("bbb222", "trainer"), PodName("aaa111", "trainer")], {})
    assert slugs == {"aaa111": "trainer", "bbb222": "trainer-bbb222"}


def test_renaming_another_pod_never_moves_an_alias() -> None:
    before = assign_slugs([PodName("zzz999", "trainer")], {})
    assert before == {"zzz999": "trainer"}
    # A pod whose id sorts first is renamed to the same name: the first holder keeps it.
    after = assign_slugs([PodName("aaa111", "trainer"), PodName("zzz999", "trainer")], before)
    assert after["zzz999"] == "trainer"
    assert after["aaa111"] == "trainer-aaa111"
    # ... and keeps its qualified slug on the next round as well.
    again = assign_slugs([PodName("aaa111", "trainer"), PodName("zzz999", "trainer")], after)
    assert again == after


def test_a_renamed_pod_follows_its_new_name() -> None:
    before = assign_slugs([PodName("aaa111", "old")], {})
    assert assign_slugs([PodName("aaa111", "new")], before) == {"aaa111": "new"}


def test_corrupt_previous_slugs_are_ignored() -> None:
    previous = {"aaa111": "Evil\nHost", "bbb222": "trainer"}
    slugs = assign_slugs([PodName("aaa111", "a"), PodName("bbb222", "b")], previous)
    assert slugs == {"aaa111": "a", "bbb222": "b"}


def test_invalid_pod_ids_are_refused() -> None:
    with pytest.raises(ValueError):
        assign_slugs([PodName("abc\nHost *", "x")], {})


pod_ids = st.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=24)


@given(
    st.lists(st.tuples(pod_ids, st.text(max_size=60)), max_size=12, unique_by=lambda p: p[0]),
    st.lists(st.tuples(pod_ids, st.text(max_size=60)), max_size=12),
)
def test_assignment_is_unique_and_stable(
    first: list[tuple[str, str]], renames: list[tuple[str, str]]
) -> None:
    pods = [PodName(i, n) for i, n in first]
    slugs = assign_slugs(pods, {})
    assert len(set(slugs.values())) == len(slugs) == len(pods)
    assert all(SLUG_RE.match(s) for s in slugs.values())
    assert assign_slugs(pods, slugs) == slugs  # nothing changed: nothing moves
    names = dict(first)
    renamed = {i: n for i, n in renames if i in names}
    later = [PodName(i, renamed.get(i, n)) for i, n in first]
    after = assign_slugs(later, slugs)
    assert len(set(after.values())) == len(after)
    for pod_id in names:
        if pod_id not in renamed:  # a pod that was not renamed keeps its alias
            assert after[pod_id] == slugs[pod_id]


def test_a_counted_alias_stays_when_the_slug_it_was_counted_from_frees_up() -> None:
    """Found by the property test above: pod `i` (no name) lost `i` to a pod named `I` and
    was counted to `i-2`; renaming that other pod must not move `i-2` under VS Code."""
    first = assign_slugs([PodName("0", "I"), PodName("i", "")], {})
    assert first == {"0": "i", "i": "i-2"}
    after = assign_slugs([PodName("0", ""), PodName("i", "")], first)
    assert after["i"] == "i-2"
