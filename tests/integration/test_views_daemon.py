"""A real daemon answers `status`, `pods` and `events` in exactly the declared shapes
(rpdevd/views.py), and answers every declared method."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from rpdevd import views
from rpdevd.client import Client
from rpdevd.protocol import Method, RemoteError
from tests.integration.harness import SimThread, wait_until, write_config

pytestmark = pytest.mark.timeout(120)


def keys_of(view: type, value: Any) -> None:
    """`value` has exactly the view's keys (recursively for the nested views it holds)."""
    assert isinstance(value, dict)
    assert sorted(value) == sorted(view.__annotations__), view.__name__


def test_the_daemon_answers_in_the_declared_shapes(
    sim: SimThread, home: Path, start_daemon
) -> None:
    sim.run(sim.sim.add_pod(name="trainer", sshd=False))
    write_config(home, 'poll_interval = "1s"\n[[pod]]\nname = "trainer"\npolicy = "idle-stop"\n')
    start_daemon()
    with Client() as c:
        status = wait_until(
            lambda: (s := c.call(Method.STATUS))["api"]["ok"] and s["pods"] and s, what="a pod"
        )
        keys_of(views.StatusView, status)
        keys_of(views.DaemonView, status["daemon"])
        keys_of(views.ApiView, status["api"])
        keys_of(views.PodView, status["pods"][0])
        assert views.read(views.StatusView, status) == status  # every value of its type
        pods = c.call(Method.PODS)
        keys_of(views.PodsView, pods)
        events = c.call(Method.EVENTS)["events"]
        assert events
        for ev in events:
            keys_of(views.EventView, ev)
        for method in Method:
            if method in (Method.SHUTDOWN, Method.SUBSCRIBE, Method.POLL):
                continue
            try:
                c.call(method, {})
            except RemoteError as exc:
                assert exc.code != "unknown_method", method
