"""A stop asked of RunPod is recorded as rpdev's before the call: keep-alive must not resume a
pod whose stop is under way, or whose stop went through but whose reply was lost."""

from __future__ import annotations

from pathlib import Path

import pytest

from rpdevd.api_errors import QueryFailed, TransientAPIError
from rpdevd.daemon.app import Daemon
from rpdevd.daemon.server import RequestError
from rpdevd.daemon.state import PodState
from rpdevd.models import Pod


class API:
    def __init__(self, error: Exception | None) -> None:
        self.error = error
        self.seen_during_call: bool | None = None
        self.state: PodState | None = None

    async def list_pods(self) -> list[Pod]:
        return []

    async def stop_pod(self, pod_id: str) -> None:
        assert self.state is not None
        self.seen_during_call = self.state.stopped_by_rpdev
        if self.error is not None:
            raise self.error

    async def resume_pod(self, pod: Pod) -> None:
        pass


@pytest.mark.parametrize(
    ("error", "after"),
    [
        (None, True),
        (TransientAPIError("no answer within 20s"), True),  # it may well have stopped
        (QueryFailed("this pod cannot be stopped"), False),  # a definite no
    ],
)
async def test_the_stop_is_recorded_before_the_call(
    home: Path, monkeypatch: pytest.MonkeyPatch, error: Exception | None, after: bool
) -> None:
    monkeypatch.setenv("RUNPOD_API_KEY", "test-key-0123456789")
    api = API(error)
    daemon = Daemon(api_factory=lambda key: api)
    try:
        state = PodState(
            pod=Pod.from_api({"id": "abc123", "name": "p", "desiredStatus": "RUNNING"})
        )
        daemon.pods[state.id] = state
        api.state = state
        if error is None:
            await daemon.stop_pod(state, "test")
        else:
            with pytest.raises(RequestError):
                await daemon.stop_pod(state, "test")
        assert api.seen_during_call is True
        assert state.stopped_by_rpdev is after
    finally:
        daemon.store.close()
