"""The RunPod API boundary: the one module that talks to RunPod and imports `runpod`.

Every call is one GraphQL POST to `{RUNPOD_API_BASE_URL or https://api.runpod.io}/graphql` with
`Authorization: Bearer <key>`, exactly what the runpod SDK's `run_graphql_query` sends (same URL,
headers and User-Agent; the SDK's own query texts for stop, resume and the user). The POST itself
is made here with `requests` rather than through `run_graphql_query`, because that function
throws away what a retry policy needs: the HTTP status (a 429 or a 502 with a JSON body becomes an
ordinary `QueryError`), control of the timeout (fixed at 30 s) and a clean failure on a non-JSON
body (it raises `JSONDecodeError`).

Calls are blocking, so they run on a small private thread pool (not the loop's default executor:
a hung RunPod must not starve the daemon's other thread users, DNS lookups included). `runpod`
and `requests` are imported lazily, in that pool, so importing this module costs nothing and the
first call does not block the event loop for the SDK's ~1.7 s import.

The key is held in a `_Secret` (its repr is `'***'`) and scrubbed from every message built from
outside text; it never reaches a log line, an exception or a repr.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import os
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from rpdevd.api_errors import (
    APIError,
    AuthError,
    NoFreeGPUs,
    PodNotFound,
    QueryFailed,
    Retryable,
    SpotResumeMisuse,
    StopUnsupported,
    TransientAPIError,
    classify_message,
)
from rpdevd.models import Pod, User, validate_pod_id

__all__ = [
    "APIError",
    "AuthError",
    "NoFreeGPUs",
    "PodNotFound",
    "QueryFailed",
    "RetryPolicy",
    "RunPodAPI",
    "SpotResumeMisuse",
    "StopUnsupported",
    "TransientAPIError",
    "resume_bid",
]

log = logging.getLogger("rpdevd.api")

DEFAULT_BASE_URL = "https://api.runpod.io"
MAX_BODY = 16 << 20  # a pod list of thousands of pods is well under this

POD_FIELDS = """
    id name desiredStatus podType gpuCount costPerHr lastStatusChange uptimeSeconds imageName
    volumeMountPath lowestBidPriceToResume
    machine { podHostId gpuDisplayName }
    runtime {
      uptimeInSeconds
      ports { ip isIpPublic privatePort publicPort type }
      gpus { id gpuUtilPercent memoryUtilPercent }
      container { cpuPercent memoryPercent }
    }
"""
LIST_PODS_QUERY = "query rpdevPods { myself { pods {" + POD_FIELDS + "} } }"


def get_pod_query(pod_id: str) -> str:
    pod_filter = '{podId: "' + validate_pod_id(pod_id) + '"}'
    return "query rpdevPod { pod(input: " + pod_filter + ") {" + POD_FIELDS + "} }"


def bid_resume_mutation(pod_id: str, bid_per_gpu: float, gpu_count: int) -> str:
    # Only validated ids and formatted numbers reach the query text.
    args = (
        f'podId: "{validate_pod_id(pod_id)}", bidPerGpu: {bid_per_gpu:.4f}, gpuCount: {gpu_count:d}'
    )
    return "mutation { podBidResume(input: {" + args + "}) { id desiredStatus costPerHr } }"


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries with exponential backoff and jitter.

    Attempt n (1-based) that fails transiently is followed by a sleep drawn from
    [d/2, d] with d = min(max_delay, base_delay * 2**(n-1)) ("equal jitter": spreads clients
    apart without ever retrying at once), stretched to a server's Retry-After (capped at
    max_delay). No attempt starts once `total_timeout` would be exceeded.
    """

    attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 8.0
    attempt_timeout: float = 20.0
    total_timeout: float = 60.0

    def delay(
        self,
        attempt: int,
        retry_after: float | None = None,
        rand: Callable[[], float] = random.random,
    ) -> float:
        d = min(self.max_delay, self.base_delay * 2.0 ** (attempt - 1))
        d = d / 2 + rand() * d / 2
        if retry_after is not None:
            d = max(d, min(retry_after, self.max_delay))
        return d


def resume_bid(pod: Pod, explicit: float | None = None) -> float | None:
    """The bid per GPU to resume a spot pod with.

    An explicit bid wins. Otherwise RunPod's `lowestBidPriceToResume` (the price at which this
    pod can start again now: never more than needed), else the pod's previous bid
    (`costPerHr / gpuCount`, what the user last agreed to pay). Both readings are inferences
    from the API's field names and from how a spot pod is billed.
    """
    for bid in (explicit, pod.lowest_bid_to_resume, pod.bid_per_gpu):
        if bid is not None and bid > 0:
            return bid
    return None


class _Secret:
    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "'***'"

    __str__ = __repr__


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None  # an HTTP date: rare here; the backoff applies


class RunPodAPI:
    """Async access to RunPod for one API key. Safe to share; close with `aclose()`."""

    def __init__(
        self, api_key: str, *, policy: RetryPolicy | None = None, base_url: str | None = None
    ) -> None:
        if not api_key or not isinstance(api_key, str):
            raise AuthError("No RunPod API key.")
        self._key = _Secret(api_key)
        self.policy = policy or RetryPolicy()
        self._base_url = base_url  # None: RUNPOD_API_BASE_URL at each call, as the SDK does
        self._pool = concurrent.futures.ThreadPoolExecutor(4, thread_name_prefix="rpdev-api")
        self._session: Any = None
        self._session_lock = threading.Lock()  # the pool's threads create it once, lazily
        self._user_agent = "rpdev"

    def __repr__(self) -> str:
        return f"RunPodAPI(url={self.url!r})"

    @property
    def url(self) -> str:
        base = self._base_url or os.environ.get("RUNPOD_API_BASE_URL", DEFAULT_BASE_URL)
        return base.rstrip("/") + "/graphql"

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            session.close()
        self._pool.shutdown(wait=False, cancel_futures=True)

    # ---- public calls ------------------------------------------------------------------------

    async def list_pods(self) -> list[Pod]:
        """Every pod of the account, in ONE request. Entries without a valid id are skipped."""
        data = await self._query(LIST_PODS_QUERY, "list_pods")
        myself = data.get("myself")
        pods = myself.get("pods") if isinstance(myself, Mapping) else None
        if not isinstance(pods, list):
            raise TransientAPIError("RunPod answered without a pod list.")
        result = []
        for raw in pods:
            try:
                result.append(Pod.from_api(raw))
            except ValueError as exc:
                log.warning("skipping a pod entry from RunPod: %s", self._scrub(str(exc)))
        return result

    async def get_pod(self, pod_id: str) -> Pod:
        data = await self._query(get_pod_query(pod_id), "get_pod", pod_id)
        raw = data.get("pod")
        if raw is None:
            raise PodNotFound(f"Pod {pod_id} does not exist (or not on this account).")
        try:
            return Pod.from_api(raw)
        except ValueError as exc:
            raise TransientAPIError(f"RunPod answered with a bad pod: {exc}") from None

    async def stop_pod(self, pod_id: str) -> None:
        validate_pod_id(pod_id)
        from runpod.api.mutations.pods import generate_pod_stop_mutation

        await self._query(generate_pod_stop_mutation(pod_id), "stop_pod", pod_id)

    async def resume_pod(self, pod: Pod, *, bid_per_gpu: float | None = None) -> None:
        """Start a stopped pod: podResume, or podBidResume for a spot pod (see `resume_bid`)."""
        validate_pod_id(pod.id)
        if pod.is_spot:
            bid = resume_bid(pod, bid_per_gpu)
            if bid is None:
                raise SpotResumeMisuse(
                    f"Pod {pod.id} is a spot pod and RunPod reports no bid for it.",
                    hint="Give a bid per GPU (dollars per hour) to resume it.",
                )
            query = bid_resume_mutation(pod.id, bid, max(pod.gpu_count, 1))
            await self._query(query, "resume_pod", pod.id)
            return
        from runpod.api.mutations.pods import generate_pod_resume_mutation

        query = generate_pod_resume_mutation(pod.id, pod.gpu_count)
        await self._query(query, "resume_pod", pod.id)

    async def get_user(self) -> User:
        """The account behind the key: the way to check a key (`rpdev login`)."""
        from runpod.api.queries.user import QUERY_USER

        data = await self._query(QUERY_USER, "get_user")
        if not isinstance(data.get("myself"), Mapping):
            raise AuthError("RunPod did not recognise this API key.")
        return User.from_api(data["myself"])

    # ---- the retry loop ----------------------------------------------------------------------

    async def _query(self, query: str, what: str, pod_id: str | None = None) -> Mapping[str, Any]:
        policy = self.policy
        loop = asyncio.get_running_loop()
        deadline = loop.time() + policy.total_timeout
        last: Retryable | None = None
        for attempt in range(1, policy.attempts + 1):
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            timeout = min(policy.attempt_timeout, remaining)
            try:
                fut = loop.run_in_executor(self._pool, self._post, query, timeout, pod_id)
                # The socket timeout bounds each read; this bounds the whole attempt.
                return await asyncio.wait_for(fut, timeout + 1.0)
            except Retryable as exc:
                last = exc
            except TimeoutError:
                last = Retryable(f"no answer within {timeout:.1f}s")
            if attempt == policy.attempts:
                break
            delay = policy.delay(attempt, last.retry_after)
            if loop.time() + delay >= deadline:
                break
            log.warning(
                "RunPod %s: %s (attempt %d/%d); retrying in %.1fs",
                what,
                last.reason,
                attempt,
                policy.attempts,
                delay,
            )
            await asyncio.sleep(delay)
        reason = last.reason if last else "out of time"
        raise TransientAPIError(f"RunPod did not answer {what} properly: {reason}.")

    def _scrub(self, text: str, limit: int = 300) -> str:
        key = self._key.reveal()
        text = text.replace(key, "***") if key else text
        return text if len(text) <= limit else text[: limit - 3] + "..."

    def _post(self, query: str, timeout: float, pod_id: str | None) -> Mapping[str, Any]:
        """One blocking attempt (runs in the pool). Raises Retryable or an APIError."""
        import requests

        with self._session_lock:
            if self._session is None:
                from runpod.user_agent import USER_AGENT

                self._user_agent = USER_AGENT
                self._session = requests.Session()
            session = self._session
        headers = {
            "Content-Type": "application/json",
            "User-Agent": self._user_agent,
            "Authorization": f"Bearer {self._key.reveal()}",
        }
        started = time.monotonic()
        try:
            resp = session.post(
                self.url, headers=headers, timeout=timeout, data=json.dumps({"query": query})
            )
            content = resp.content
        except requests.Timeout:
            raise Retryable(f"no answer within {timeout:.1f}s") from None
        except requests.RequestException as exc:
            raise Retryable(self._scrub(f"network error: {type(exc).__name__}: {exc}")) from None
        log.debug("RunPod POST -> HTTP %d in %.2fs", resp.status_code, time.monotonic() - started)
        return self._parse(resp.status_code, resp.headers.get("Retry-After"), content, pod_id)

    def _parse(
        self, status: int, retry_after: str | None, content: bytes, pod_id: str | None
    ) -> Mapping[str, Any]:
        if status in (401, 403):
            raise AuthError(f"RunPod refused the API key (HTTP {status}).")
        throttled = status == 429 or status >= 500
        if throttled:
            raise Retryable(f"HTTP {status}", _retry_after(retry_after))
        if len(content) > MAX_BODY:
            raise Retryable(f"an oversized answer ({len(content)} bytes)")
        try:
            body = json.loads(content)
        except ValueError:
            raise Retryable(f"a malformed answer (HTTP {status}, not JSON)") from None
        if not isinstance(body, Mapping):
            raise Retryable(f"a malformed answer (HTTP {status}, not an object)")
        errors = body.get("errors")
        if errors:
            first = errors[0] if isinstance(errors, list) and errors else None
            message = first.get("message") if isinstance(first, Mapping) else None
            if not isinstance(message, str):
                raise Retryable("a malformed error answer")
            raise classify_message(self._scrub(message), pod_id)
        if status >= 400:
            raise QueryFailed(f"RunPod answered HTTP {status}.")
        data = body.get("data")
        if not isinstance(data, Mapping):
            raise Retryable("a malformed answer (no data)")
        return data
