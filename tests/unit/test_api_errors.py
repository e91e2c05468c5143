"""RunPod's error messages map to errors that say what to do; the key never leaks."""

from __future__ import annotations

import pytest

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


@pytest.mark.parametrize(
    "message,expected",
    [
        ("There are not enough free GPUs on the host machine to start this pod.", NoFreeGPUs),
        ("Cannot resume a spot pod as an on demand pod.", SpotResumeMisuse),
        (
            "This pod has a network volume attached and cannot be stopped, only terminated.",
            StopUnsupported,
        ),
        ("Unauthorized", AuthError),
        ("Invalid API key", AuthError),
        ("Pod not found.", PodNotFound),
        ("This pod has been terminated.", PodNotFound),
        ('Cannot query field "bogus" on type "Pod".', QueryFailed),
        ("gpuCount must be at least 1", QueryFailed),
    ],
)
def test_messages_are_classified(message: str, expected: type[APIError]) -> None:
    err = classify_message(message, "abc123")
    assert type(err) is expected
    assert isinstance(err, APIError)
    assert message.strip() in err.message and "abc123" in err.message


@pytest.mark.parametrize(
    "message",
    [
        "Internal server error",
        "Too Many Requests",
        "Something went wrong. Please try again later or contact support.",
        "upstream timed out",
        "Service Unavailable",
    ],
)
def test_server_trouble_messages_are_retryable(message: str) -> None:
    assert isinstance(classify_message(message), Retryable)


def test_every_error_tells_the_user_what_to_do() -> None:
    for cls in (
        AuthError,
        NoFreeGPUs,
        SpotResumeMisuse,
        PodNotFound,
        TransientAPIError,
        QueryFailed,
        StopUnsupported,
    ):
        err = cls("something happened")
        assert err.hint and err.hint in err.user_message
        assert err.to_json() == {
            "code": cls.code,
            "message": "something happened",
            "hint": err.hint,
        }
    assert "wait" in NoFreeGPUs("x").hint and "new pod" in NoFreeGPUs("x").hint
    assert "rpdev login" in AuthError("x").hint


def test_codes_are_distinct() -> None:
    classes = [
        AuthError,
        NoFreeGPUs,
        SpotResumeMisuse,
        PodNotFound,
        TransientAPIError,
        QueryFailed,
        StopUnsupported,
    ]
    assert len({c.code for c in classes}) == len(classes)
    assert issubclass(StopUnsupported, QueryFailed)
