"""Errors of the RunPod boundary, and how RunPod's messages map onto them (stdlib only).

RunPod reports most failures as a GraphQL error whose only content is a message, so failures
are told apart by message text. The texts matched here are RunPod's own where known (see the
RunPod facts guide); each error carries a `hint` that tells the user what to do next and a
machine-readable `code` for the socket protocol.
"""

from __future__ import annotations

import re


class APIError(Exception):
    """A RunPod call that did not do what was asked."""

    code = "api_error"
    default_hint = "Check RunPod's status page and try again."

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint or self.default_hint

    @property
    def user_message(self) -> str:
        return f"{self.message} {self.hint}"

    def to_json(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message, "hint": self.hint}


class AuthError(APIError):
    """The key is missing, wrong or revoked. Never retried."""

    code = "auth"
    default_hint = (
        "Check the API key (RunPod console > Settings > API Keys) and run `rpdev login` again."
    )


class NoFreeGPUs(APIError):
    """The pod's machine has no free GPUs right now (a stopped pod is tied to its machine)."""

    code = "no_free_gpus"
    default_hint = (
        "RunPod's advice: wait and try again later, or start a new pod (with another GPU type "
        "or data center) and move the work over through a network volume."
    )


class SpotResumeMisuse(APIError):
    """A spot (interruptible) pod was resumed as on-demand, or no bid is known for it."""

    code = "spot_resume"
    default_hint = "Resume a spot pod with a bid per GPU (podBidResume)."


class PodNotFound(APIError):
    code = "pod_not_found"
    default_hint = "The pod may have been terminated; run `rpdev pods` to see the account's pods."


class TransientAPIError(APIError):
    """RunPod could not be reached or answered badly, even after retries."""

    code = "api_unavailable"
    default_hint = (
        "RunPod did not answer properly. The poll retries by itself; a stop or resume is not "
        "repeated: check `rpdev status`, then run it again if needed."
    )


class QueryFailed(APIError):
    """RunPod refused the request for another reason; its message is kept."""

    code = "query_failed"
    default_hint = "See RunPod's message above; the RunPod console may say more."


class StopUnsupported(QueryFailed):
    """A pod with a network volume cannot be stopped, only terminated."""

    code = "stop_unsupported"
    default_hint = (
        "Pods with a network volume cannot be stopped, only terminated (the volume keeps the "
        "data). rpdev will not terminate a pod; set its policy to `manual`."
    )


class Retryable(Exception):
    """Internal: a failed attempt that is worth repeating."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


# (pattern, error class) in order; first match wins. RunPod's exact texts where known.
_RULES: tuple[tuple[re.Pattern[str], type[APIError]], ...] = (
    (re.compile(r"not enough free gpus", re.I), NoFreeGPUs),
    (re.compile(r"cannot resume a spot pod as an on demand pod", re.I), SpotResumeMisuse),
    (
        re.compile(
            r"network volume.*(cannot|can't|not) be stopped|cannot stop.*network volume", re.I
        ),
        StopUnsupported,
    ),
    (
        re.compile(r"unauthori[sz]ed|api key|authenticat|not authori[sz]ed|forbidden", re.I),
        AuthError,
    ),
    (re.compile(r"pod not found|no pod|does not exist|been terminated", re.I), PodNotFound),
)

# Messages that mean "try again": server trouble surfaced as a GraphQL error.
_TRANSIENT = re.compile(
    r"internal server error|too many requests|rate limit|timed? ?out|temporar|"
    r"service unavailable|bad gateway|gateway timeout|try again later|something went wrong",
    re.I,
)


def classify_message(message: str, pod_id: str | None = None) -> APIError | Retryable:
    """Map one GraphQL error message (already scrubbed of the key) to an error to raise."""
    for pattern, cls in _RULES:
        if pattern.search(message):
            return cls(_with_pod(message, pod_id))
    if _TRANSIENT.search(message):
        return Retryable(f"RunPod said: {message}")
    return QueryFailed(_with_pod(message, pod_id))


def _with_pod(message: str, pod_id: str | None) -> str:
    text = f"RunPod: {message.strip()}"
    return f"{text} (pod {pod_id})" if pod_id else text
