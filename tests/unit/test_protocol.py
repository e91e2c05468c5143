"""Frames: encoding, limits, validation of every field a client sends."""

import pytest

from rpdevd import protocol
from rpdevd.protocol import ProtocolError


def test_roundtrip_and_newline_framing() -> None:
    data = protocol.encode(protocol.request(7, "pod.stop", {"pod": "näme\nx"}))
    assert data.endswith(b"\n") and data.count(b"\n") == 1
    msg = protocol.decode(data.strip())
    req = protocol.parse_request(msg)
    assert (req.id, req.method, req.params) == (7, "pod.stop", {"pod": "näme\nx"})


@pytest.mark.parametrize("line", [b"nope", b"[1,2]", b"{}", b'{"type": 3}', b"\xff\xfe"])
def test_malformed_frames_are_refused(line: bytes) -> None:
    with pytest.raises(ProtocolError):
        protocol.decode(line)


def test_oversized_frames_are_refused_both_ways() -> None:
    with pytest.raises(ProtocolError) as exc:
        protocol.decode(b"x" * (protocol.MAX_FRAME + 1))
    assert exc.value.code == "too_large"
    with pytest.raises(ProtocolError):
        protocol.encode({"type": "request", "blob": "x" * protocol.MAX_FRAME})


@pytest.mark.parametrize(
    "msg",
    [
        {"type": "request", "id": -1, "method": "status"},
        {"type": "request", "id": True, "method": "status"},
        {"type": "request", "id": "1", "method": "status"},
        {"type": "request", "id": 1, "method": "Status!"},
        {"type": "request", "id": 1, "method": "a" * 100},
        {"type": "request", "id": 1, "method": "status", "params": [1]},
        {"type": "response", "id": 1},
    ],
)
def test_invalid_requests(msg: dict) -> None:
    with pytest.raises(ProtocolError):
        protocol.parse_request(msg)


def test_hello_version_negotiation() -> None:
    assert protocol.check_client_hello(protocol.hello("t")) == protocol.PROTOCOL_VERSION
    with pytest.raises(ProtocolError) as exc:
        protocol.check_client_hello({"type": "hello", "protocol": [999]})
    assert exc.value.code == "version" and "upgrade" in exc.value.message
    with pytest.raises(ProtocolError):
        protocol.check_client_hello({"type": "request", "id": 1, "method": "status"})


def test_param_helpers_check_types() -> None:
    assert protocol.param_str({"pod": "a"}, "pod") == "a"
    for bad in ({"pod": 3}, {"pod": "a\x00b"}, {"pod": "x" * 300}, {}):
        with pytest.raises(ProtocolError):
            protocol.param_str(bad, "pod")
    assert protocol.param_num({"n": 2}, "n", minimum=0) == 2.0
    for bad in ({"n": True}, {"n": "2"}, {"n": float("nan")}, {"n": -1}):
        with pytest.raises(ProtocolError):
            protocol.param_num(bad, "n", minimum=0)


def test_cli_command_table_matches_the_modules() -> None:
    import importlib

    from rpdevd.cli import COMMAND_MODULES, build_parser

    full = build_parser()
    sub = next(a for a in full._actions if a.dest == "command")
    assert set(sub.choices) == set(COMMAND_MODULES)
    for command, module in COMMAND_MODULES.items():
        fast = build_parser(command)
        fast_sub = next(a for a in fast._actions if a.dest == "command")
        assert command in fast_sub.choices, (command, module)
        importlib.import_module(f"rpdevd.commands.{module}")
