"""The snapshot tests' canned daemon answers (tests/tui/fixtures.py) have the daemon's shapes:
every key the daemon's views declare (rpdevd/views.py, which the daemon builds its answers as), no
key it does not send, each value of the declared type. A view that grows or changes a key fails
here until the canned answers follow, so the snapshots never run on answers the daemon no longer
gives."""

from __future__ import annotations

from collections.abc import Callable
from types import UnionType
from typing import Any, NotRequired, Union, get_args, get_origin, get_type_hints, is_typeddict

import pytest

from rpdevd import views
from rpdevd.labels import gpu_label
from tests.tui import fixtures

SCALARS: dict[Any, tuple[str, Callable[[object], bool]]] = {
    type(None): ("None", lambda v: v is None),
    bool: ("a bool", lambda v: isinstance(v, bool)),
    str: ("a str", lambda v: isinstance(v, str)),
    int: ("an int", lambda v: isinstance(v, int) and not isinstance(v, bool)),
    float: ("a number", lambda v: isinstance(v, int | float) and not isinstance(v, bool)),
}


def mismatches(tp: Any, value: object, where: str) -> list[str]:
    """Where `value` differs from what `tp` declares (strictly: exact keys, exact types)."""
    if tp is Any:
        return []
    if tp in SCALARS:
        name, fits = SCALARS[tp]
        return [] if fits(value) else [f"{where}: {value!r} is not {name}"]
    if is_typeddict(tp):
        if not isinstance(value, dict):
            return [f"{where}: {value!r} is not a {tp.__name__}"]
        hints = get_type_hints(tp)
        # A key declared NotRequired came later within the protocol version: it may be absent.
        extras = get_type_hints(tp, include_extras=True)
        required = {k for k, h in extras.items() if get_origin(h) is not NotRequired}
        out = [f"{where}: no {k!r} ({tp.__name__})" for k in hints if k in required - value.keys()]
        out += [f"{where}: {k!r} is not in {tp.__name__}" for k in value if k not in hints]
        for key, sub in hints.items():
            if key in value:
                out += mismatches(sub, value[key], f"{where}.{key}")
        return out
    origin, args = get_origin(tp), get_args(tp)
    if origin is list:
        if not isinstance(value, list):
            return [f"{where}: {value!r} is not a list"]
        return [m for i, v in enumerate(value) for m in mismatches(args[0], v, f"{where}[{i}]")]
    if origin is dict:
        return [] if isinstance(value, dict) else [f"{where}: {value!r} is not a dict"]
    if origin in (Union, UnionType):
        if any(not mismatches(arg, value, where) for arg in args):
            return []
        return [f"{where}: {value!r} is none of {tp}"]
    raise TypeError(f"cannot check {tp!r}")


def answer(method: str, params: dict[str, Any] | None = None) -> object:
    canned = fixtures.answers()[method]
    return canned(params or {}) if callable(canned) else canned


@pytest.mark.parametrize(
    ("method", "view", "params"),
    [
        ("status", views.StatusView, None),
        ("pods", views.PodsView, None),
        ("events", views.EventsView, None),
        ("sync.list", views.SyncListView, None),
    ],
)
def test_each_canned_answer_has_the_daemons_shape(
    method: str, view: type, params: dict[str, Any] | None
) -> None:
    assert mismatches(view, answer(method, params), method) == []


def test_each_canned_gpu_reads_as_the_daemon_names_it() -> None:
    # The daemon's `gpu` is gpu_label's (no vendor, the count): "H100 80GB HBM3 x2".
    for pod in fixtures.answers()["pods"]["pods"]:
        assert pod["gpu"] == gpu_label(pod["gpu_type"], pod["gpu_count"]), pod["name"]


def test_the_canned_samples_have_the_probes_fields() -> None:
    samples = answer("idle.samples", {"pod": "k7trainer00001"})
    assert isinstance(samples, dict) and samples["samples"]
    for sample in samples["samples"]:
        assert mismatches(views.SampleView, sample, "sample") == []


def test_the_checker_catches_drift() -> None:
    pod = fixtures.answers()["pods"]["pods"][0]
    assert mismatches(views.PodView, {**pod, "ssh_port": "22"}, "p") == [
        "p.ssh_port: '22' is none of int | None"
    ]
    missing = {k: v for k, v in pod.items() if k != "gpu"}
    assert mismatches(views.PodView, missing, "p") == ["p: no 'gpu' (PodView)"]
    assert mismatches(views.PodView, {**pod, "extra": 1}, "p") == ["p: 'extra' is not in PodView"]
