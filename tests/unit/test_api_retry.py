"""The retry policy: bounded, backed off with jitter, never on authentication errors."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from rpdevd.api import (
    AuthError,
    NoFreeGPUs,
    QueryFailed,
    RetryPolicy,
    RunPodAPI,
    TransientAPIError,
    bid_resume_mutation,
    get_pod_query,
    resume_bid,
)
from rpdevd.api_errors import Retryable
from rpdevd.models import Pod

KEY = "rpa_SECRETKEY0123456789"
FAST = RetryPolicy(
    attempts=4, base_delay=0.001, max_delay=0.01, attempt_timeout=2, total_timeout=10
)


def test_delays_grow_exponentially_within_jitter_bounds() -> None:
    p = RetryPolicy(base_delay=1, max_delay=8)
    for attempt, full in [(1, 1), (2, 2), (3, 4), (4, 8), (5, 8), (9, 8)]:
        assert p.delay(attempt, rand=lambda: 0.0) == full / 2
        assert p.delay(attempt, rand=lambda: 1.0) == full


def test_retry_after_stretches_the_delay_but_stays_capped() -> None:
    p = RetryPolicy(base_delay=1, max_delay=8)
    assert p.delay(1, retry_after=5, rand=lambda: 0) == 5
    assert p.delay(1, retry_after=3600, rand=lambda: 0) == 8


def scripted(api: RunPodAPI, outcomes: list[Any]) -> list[str]:
    """Replace one attempt with the next scripted outcome; return the queries sent."""
    sent: list[str] = []
    it: Iterator[Any] = iter(outcomes)

    def post(query: str, timeout: float, pod_id: str | None) -> Any:
        sent.append(query)
        outcome = next(it)
        if isinstance(outcome, BaseException):
            raise outcome
        if callable(outcome):
            return outcome()
        return outcome

    api._post = post  # type: ignore[method-assign]
    return sent


@pytest.fixture
async def api() -> Any:
    client = RunPodAPI(KEY, policy=FAST, base_url="http://127.0.0.1:9")
    yield client
    await client.aclose()


async def test_transient_failures_are_retried_then_succeed(api: RunPodAPI) -> None:
    sent = scripted(
        api,
        [
            Retryable("HTTP 503"),
            Retryable("HTTP 429", 0.001),
            Retryable("a malformed answer"),
            {"myself": {"pods": []}},
        ],
    )
    assert await api.list_pods() == []
    assert len(sent) == 4


async def test_retries_are_bounded(api: RunPodAPI) -> None:
    sent = scripted(api, [Retryable("HTTP 500")] * 10)
    with pytest.raises(TransientAPIError) as info:
        await api.list_pods()
    assert len(sent) == FAST.attempts
    assert "HTTP 500" in info.value.message


async def test_total_time_is_bounded() -> None:
    policy = RetryPolicy(
        attempts=100, base_delay=0.05, max_delay=0.05, attempt_timeout=1, total_timeout=0.3
    )
    client = RunPodAPI(KEY, policy=policy, base_url="http://127.0.0.1:9")
    try:
        sent = scripted(client, [Retryable("HTTP 502")] * 100)
        with pytest.raises(TransientAPIError):
            await client.list_pods()
        assert 2 <= len(sent) < 15
    finally:
        await client.aclose()


async def test_a_hung_attempt_times_out_and_is_retried() -> None:
    import threading

    release = threading.Event()
    policy = RetryPolicy(
        attempts=2, base_delay=0.001, max_delay=0.001, attempt_timeout=0.05, total_timeout=10
    )
    client = RunPodAPI(KEY, policy=policy, base_url="http://127.0.0.1:9")
    try:

        def hang() -> Any:
            release.wait(5)
            return {}

        sent = scripted(client, [hang, {"myself": {"pods": []}}])
        assert await client.list_pods() == []
        assert len(sent) == 2
    finally:
        release.set()
        await client.aclose()


@pytest.mark.parametrize(
    "error",
    [
        AuthError("RunPod refused the API key (HTTP 401)."),
        NoFreeGPUs("no GPUs"),
        QueryFailed("bad query"),
    ],
)
async def test_definite_errors_are_never_retried(api: RunPodAPI, error: Exception) -> None:
    sent = scripted(api, [error, {"myself": {"pods": []}}])
    with pytest.raises(type(error)):
        await api.list_pods()
    assert len(sent) == 1


def parse(api: RunPodAPI, status: int, body: Any, retry_after: str | None = None) -> Any:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return api._parse(status, retry_after, raw, "abc123")


@pytest.mark.parametrize(
    "status,body",
    [
        (500, b"<html>oops</html>"),
        (502, {"errors": [{"message": "Bad gateway"}]}),
        (429, {"errors": [{"message": "slow down"}]}),
        (200, b"{not json"),
        (200, b"[1, 2]"),
        (200, {"data": None}),
        (200, {"errors": [{"no": "message"}]}),
        (200, b""),
    ],
)
def test_throttling_server_errors_and_garbage_are_retryable(
    api: RunPodAPI, status: int, body: Any
) -> None:
    with pytest.raises(Retryable):
        parse(api, status, body)


def test_retry_after_header_is_read(api: RunPodAPI) -> None:
    with pytest.raises(Retryable) as info:
        parse(api, 429, b"", retry_after="3")
    assert info.value.retry_after == 3.0


@pytest.mark.parametrize("status", [401, 403])
def test_http_auth_failures_are_auth_errors(api: RunPodAPI, status: int) -> None:
    with pytest.raises(AuthError):
        parse(api, status, {"errors": [{"message": "Unauthorized"}]})


def test_graphql_errors_are_classified(api: RunPodAPI) -> None:
    with pytest.raises(NoFreeGPUs):
        parse(
            api,
            200,
            {
                "errors": [
                    {
                        "message": "There are not enough free GPUs on the host "
                        "machine to start this pod."
                    }
                ]
            },
        )
    with pytest.raises(QueryFailed):
        parse(api, 400, {"errors": [{"message": 'Cannot query field "x" on type "Pod".'}]})


def test_the_key_never_appears_in_errors_or_reprs(
    api: RunPodAPI, caplog: pytest.LogCaptureFixture
) -> None:
    assert KEY not in repr(api) and KEY not in str(vars(api))
    with pytest.raises(QueryFailed) as info:
        parse(api, 200, {"errors": [{"message": f"bad key {KEY} given"}]})
    assert KEY not in str(info.value) and KEY not in info.value.user_message
    assert "***" in str(info.value)


async def test_the_key_never_appears_in_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    client = RunPodAPI(KEY, policy=FAST, base_url=f"http://{KEY}.invalid:1")
    try:
        with pytest.raises(TransientAPIError) as info:
            await client.list_pods()
    finally:
        await client.aclose()
    assert KEY not in caplog.text and KEY not in str(info.value)


def test_an_empty_key_is_refused() -> None:
    with pytest.raises(AuthError):
        RunPodAPI("")


@pytest.mark.parametrize("bad", ['abc"}) { x }', "ABC", "", "a\n"])
async def test_ids_are_validated_before_any_query(api: RunPodAPI, bad: str) -> None:
    sent = scripted(api, [])
    with pytest.raises(ValueError):
        await api.get_pod(bad)
    with pytest.raises(ValueError):
        await api.stop_pod(bad)
    with pytest.raises(ValueError):
        get_pod_query(bad)
    with pytest.raises(ValueError):
        bid_resume_mutation(bad, 0.3, 1)
    assert sent == []


def test_bid_resume_mutation_text() -> None:
    q = bid_resume_mutation("abc123", 0.35, 2)
    assert 'podId: "abc123", bidPerGpu: 0.3500, gpuCount: 2' in q


def spot(**over: Any) -> Pod:
    raw = {"id": "abc", "podType": "INTERRUPTABLE", "gpuCount": 2, "costPerHr": 0.8}
    raw.update(over)
    return Pod.from_api(raw)


def test_resume_bid_prefers_explicit_then_lowest_then_previous() -> None:
    assert resume_bid(spot(lowestBidPriceToResume=0.3), 0.5) == 0.5
    assert resume_bid(spot(lowestBidPriceToResume=0.3)) == 0.3
    assert resume_bid(spot()) == pytest.approx(0.4)
    assert resume_bid(spot(costPerHr=None)) is None


async def test_on_demand_resume_uses_pod_resume_with_gpu_count(api: RunPodAPI) -> None:
    sent = scripted(api, [{"podResume": {"id": "abc"}}])
    await api.resume_pod(Pod.from_api({"id": "abc", "podType": "RESERVED", "gpuCount": 3}))
    assert "podResume" in sent[0] and "gpuCount: 3" in sent[0]


async def test_spot_resume_uses_bid_resume(api: RunPodAPI) -> None:
    sent = scripted(api, [{"podBidResume": {"id": "abc"}}])
    await api.resume_pod(spot(lowestBidPriceToResume=0.31))
    assert "podBidResume" in sent[0] and "bidPerGpu: 0.3100" in sent[0]


async def test_a_spot_pod_without_any_bid_is_refused_before_calling(api: RunPodAPI) -> None:
    from rpdevd.api import SpotResumeMisuse

    sent = scripted(api, [])
    with pytest.raises(SpotResumeMisuse):
        await api.resume_pod(spot(costPerHr=None))
    assert sent == []


async def test_pods_without_a_valid_id_are_skipped(api: RunPodAPI) -> None:
    scripted(api, [{"myself": {"pods": [{"id": "good1"}, {"id": "BAD"}, None, {"id": "good2"}]}}])
    assert [p.id for p in await api.list_pods()] == ["good1", "good2"]


async def test_get_pod_null_is_pod_not_found(api: RunPodAPI) -> None:
    from rpdevd.api import PodNotFound

    scripted(api, [{"pod": None}])
    with pytest.raises(PodNotFound):
        await api.get_pod("abc123")


def test_importing_the_boundary_does_not_import_runpod() -> None:
    import subprocess
    import sys

    code = "import sys, rpdevd.api; print('runpod' in sys.modules, 'requests' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
