"""The endpoint's state machine, pure (`endpoint.after_poll`, `endpoint.after_check`): every
state under every kind of poll and every answer of the check inside the pod."""

from __future__ import annotations

import itertools
from typing import get_args

import pytest

from rpdevd.endpoint import (
    ENDPOINT_STATES,
    EndpointState,
    FailureKind,
    Seen,
    Transition,
    after_check,
    after_poll,
)

A, B = ("1.2.3.4", 40001), ("1.2.3.4", 40002)

STOPPED = Seen(running=False, candidate=None, confirmed=A)
NO_PORT = Seen(running=True, candidate=None, confirmed=A)
SAME = Seen(running=True, candidate=A, confirmed=A)  # the API reports the confirmed endpoint
MOVED = Seen(running=True, candidate=B, confirmed=A)
CHECKING = Seen(running=True, candidate=B, confirmed=A, checking=True)
BACKING_OFF = Seen(running=True, candidate=B, confirmed=A, due=False)

STAY = "stay"
# state -> what each poll makes of it (STAY: unchanged, nothing to do)
POLLS: dict[EndpointState, dict[Seen, object]] = {
    "none": {
        STOPPED: STAY,
        NO_PORT: Transition("starting"),
        SAME: Transition("confirming", confirm=True),
        MOVED: Transition("confirming", confirm=True),
        CHECKING: STAY,
        BACKING_OFF: STAY,
    },
    "stopped": {
        STOPPED: STAY,
        NO_PORT: Transition("starting"),
        SAME: Transition("confirming", confirm=True),  # resumed: confirmed again, every time
        MOVED: Transition("confirming", confirm=True),
        CHECKING: STAY,
        BACKING_OFF: STAY,
    },
    "starting": {
        STOPPED: Transition("stopped"),
        NO_PORT: STAY,
        SAME: Transition("confirming", confirm=True),
        MOVED: Transition("confirming", confirm=True),
        CHECKING: STAY,
        BACKING_OFF: STAY,
    },
    "confirming": {
        STOPPED: Transition("stopped"),
        NO_PORT: Transition("starting"),
        SAME: Transition("confirming", confirm=True),
        MOVED: Transition("confirming", confirm=True),
        CHECKING: STAY,
        BACKING_OFF: STAY,
    },
    "confirmed": {
        STOPPED: Transition("stopped", withdraw=True),
        NO_PORT: Transition("starting", withdraw=True),
        SAME: STAY,
        MOVED: Transition("confirming", withdraw=True, confirm=True),
        CHECKING: STAY,
        BACKING_OFF: STAY,
    },
    "unreachable": {
        STOPPED: Transition("stopped"),
        NO_PORT: Transition("starting"),
        SAME: Transition("confirming", confirm=True),
        MOVED: Transition("confirming", confirm=True),
        CHECKING: STAY,
        BACKING_OFF: STAY,
    },
}

POLL_CASES = [(state, seen, want) for state, row in POLLS.items() for seen, want in row.items()]


def test_the_table_covers_every_state() -> None:
    assert set(POLLS) == set(ENDPOINT_STATES) == set(get_args(EndpointState))
    assert "stopped" in ENDPOINT_STATES


@pytest.mark.parametrize(("state", "seen", "want"), POLL_CASES)
def test_after_a_poll(state: EndpointState, seen: Seen, want: object) -> None:
    assert after_poll(state, seen) == (Transition(state) if want == STAY else want)


FAILURES: tuple[FailureKind, ...] = get_args(FailureKind)


@pytest.mark.parametrize("state", ENDPOINT_STATES)
def test_a_confirmation_inside_the_pod_confirms(state: EndpointState) -> None:
    # Withdrawn nothing: the new endpoint replaces the old one in the pool.
    assert after_check(state, None) == Transition("confirmed")


@pytest.mark.parametrize(("state", "failure"), itertools.product(ENDPOINT_STATES, FAILURES))
def test_a_failed_check(state: EndpointState, failure: FailureKind) -> None:
    if state == "confirmed" and failure == "unreachable":
        # A confirmed endpoint not answering for a moment stays; a wrong pod or a stale port
        # at it means it is nobody's to use now.
        want = Transition("confirmed")
    else:
        want = Transition("unreachable", withdraw=state == "confirmed")
    assert after_check(state, failure) == want


def test_only_leaving_confirmed_withdraws_and_only_a_check_confirms() -> None:
    """Whatever happens, the pool holds an endpoint exactly while the state is confirmed."""
    seens = [STOPPED, NO_PORT, SAME, MOVED, CHECKING, BACKING_OFF]
    for state in ENDPOINT_STATES:
        steps = [after_poll(state, s) for s in seens]
        steps += [after_check(state, f) for f in (None, *FAILURES)]
        for step in steps:
            leaving = state == "confirmed" and step.state != "confirmed"
            assert step.withdraw == leaving, (state, step)
            assert not step.confirm or step.state == "confirming"
        assert all(after_poll(state, s).state != "confirmed" or state == "confirmed" for s in seens)
