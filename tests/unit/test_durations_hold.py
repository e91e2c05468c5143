"""Durations for the CLI and config, and the hold file's formats."""

from __future__ import annotations

import datetime as dt
import math

import pytest

from rpdevd.activity.hold import parse_hold
from rpdevd.activity.samples import FOREVER
from rpdevd.durations import format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30m", 1800),
        ("1h30m", 5400),
        ("90", 90),
        ("90s", 90),
        ("1.5h", 5400),
        ("2d", 172800),
        ("250ms", 0.25),
        (" 5 m ", 300),
        ("1H", 3600),
        (45, 45),
        (2.5, 2.5),
        ("0", 0),
    ],
)
def test_parse_duration(text: str | float, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "m",
        "-5m",
        "5x",
        "5m3",
        "1e9",
        "nan",
        "inf",
        "30m 30m" * 20,
        True,
        math.nan,
        -1,
        "99999999d",
    ],
)
def test_parse_duration_refuses(text: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (45, "45s"),
        (1800, "30m"),
        (5400, "1h30m"),
        (90061, "1d1h"),
        (-300, "-5m"),
    ],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
    if seconds > 0 and seconds < 86400:
        assert parse_duration(text) == seconds


NOW = 1_795_800_000.0
EVENING = dt.datetime(2026, 11, 28, 18, tzinfo=dt.UTC).timestamp()


@pytest.mark.parametrize(
    ("text", "until"),
    [
        ("", FOREVER),
        ("Forever", FOREVER),
        ("2h", NOW - 100 + 7200),
        ("1h30m", NOW - 100 + 5400),
        ("1795900000", 1795900000.0),
        ("2026-11-28T18:00:00Z", EVENING),
        ("2026-11-28 19:00+01:00", EVENING),
        ("2026-11-28T18:00", EVENING),
    ],
)
def test_parse_hold(text: str, until: object) -> None:
    # mtime 100 s ago on the pod, whose clock runs an hour behind this machine's.
    got, err = parse_hold(text, mtime=NOW - 3600 - 100, pod_now=NOW - 3600, local_now=NOW)
    assert err is None and got == until


@pytest.mark.parametrize("text", ["tomorrow", "3600", "2026-13-45", "x" * 500])
def test_parse_hold_errors(text: str) -> None:
    got, err = parse_hold(text, mtime=NOW, pod_now=NOW, local_now=NOW)
    assert got is None and err


def test_hold_in_the_past_is_over() -> None:
    assert parse_hold("1h", mtime=NOW - 7200, pod_now=NOW, local_now=NOW) == (None, None)
    assert parse_hold("2020-01-01", mtime=NOW, pod_now=NOW, local_now=NOW) == (None, None)
