"""`endpoint.judge`: what the pod says about itself proves an endpoint, or names what is wrong."""

from __future__ import annotations

import pytest

from rpdevd.endpoint import EndpointFailure, Identity, judge


def me(pod_id: str | None = "abc123", ip: str | None = "203.0.113.7", port: int | None = 40022):
    return Identity(pod_id=pod_id, public_ip=ip, port=port)


def test_a_pod_that_names_itself_and_its_endpoint_is_confirmed() -> None:
    assert judge("abc123", "203.0.113.7", 40022, me()) is None


def test_a_pod_without_a_public_ip_is_judged_on_id_and_port() -> None:
    # RUNPOD_PUBLIC_IP is absent on some pods (community cloud): id and port still prove it.
    assert judge("abc123", "203.0.113.7", 40022, me(ip=None)) is None


def test_the_same_address_written_differently_is_the_same() -> None:
    assert judge("abc123", "2001:db8::7", 40022, me(ip="2001:0db8:0:0::7")) is None


@pytest.mark.parametrize(
    ("identity", "kind", "message"),
    [
        (me(pod_id=None), "no_identity", "203.0.113.7:40022 did not say which pod it is"),
        (me(port=None), "no_identity", "203.0.113.7:40022 did not say which pod it is"),
        (me(pod_id="zzz999"), "wrong_pod", "203.0.113.7:40022 is pod zzz999, not abc123"),
        (
            me(port=40023),
            "stale_endpoint",
            "pod abc123 says its SSH port is 40023, not 40022 (stale API data)",
        ),
        (
            me(ip="203.0.113.8"),
            "stale_endpoint",
            "pod abc123 says its address is 203.0.113.8, not 203.0.113.7 (stale API data)",
        ),
        (
            me(ip="pod.example"),
            "stale_endpoint",
            "pod abc123 says its address is pod.example, not 203.0.113.7 (stale API data)",
        ),
    ],
)
def test_each_mismatch_is_named(identity: Identity, kind: str, message: str) -> None:
    assert judge("abc123", "203.0.113.7", 40022, identity) == EndpointFailure(
        kind,  # type: ignore[arg-type]
        message,
        "abc123",
        "203.0.113.7",
        40022,
    )


def test_a_host_name_matches_only_itself() -> None:
    assert judge("abc123", "pod.example", 40022, me(ip="pod.example")) is None
    assert judge("abc123", "pod.example", 40022, me(ip="POD.example")) is not None
