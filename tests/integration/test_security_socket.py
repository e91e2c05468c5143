"""The socket's protections. Whatever a client sends, the daemon's socket server answers with the
protocol's frames and its connection handler never raises: frames from hypothesis against the real
server on a real Unix socket, and the frames that once crashed it against a real daemon process.
A client that sends no hello is cut off; a subscriber that stops reading is dropped."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rpdevd import paths, protocol
from rpdevd.daemon import server as server_module
from rpdevd.daemon.bus import QUEUE_LIMIT, EventBus
from rpdevd.daemon.server import Server
from rpdevd.daemon.store import Store
from tests.integration.harness import DaemonProcess

pytestmark = pytest.mark.timeout(300)

PING_ID = protocol.MAX_ID - 1
HELLO = protocol.encode(protocol.hello("fuzz"))
PING = protocol.encode(protocol.request(PING_ID, "ping"))

# The frames that crashed the handler (RecursionError, ValueError from int()) before.
DEEP_LIST = b"[" * 400_000 + b"]" * 400_000 + b"\n"
DEEP_OBJECT = b'{"a":' * 100_000 + b"1" + b"}" * 100_000 + b"\n"
HUGE_INT_HELLO = b'{"type":"hello","protocol":[' + b"7" * 5000 + b"]}\n"
HUGE_INT_REQUEST = b'{"type":"request","id":' + b"7" * 5000 + b',"method":"ping"}\n'
LONE_SURROGATE = b'{"type":"request","id":3,"method":"echo","params":{"s":"\\ud800"}}\n'


class Trouble(logging.Handler):
    """Every ERROR the server logs, and every exception the event loop is told about."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.seen: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.seen.append(self.format(record))

    def loop_exception(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        self.seen.append(f"loop: {context.get('message')} {context.get('exception')!r}")


class ServerThread:
    """The daemon's real `Server` on a real socket, on its own loop, with `ping` and `echo`."""

    def __init__(self, root: Path) -> None:
        self.trouble = Trouble()
        for name in ("rpdevd", "asyncio"):
            logging.getLogger(name).addHandler(self.trouble)
        self.loop = asyncio.new_event_loop()
        self.loop.set_exception_handler(self.trouble.loop_exception)
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        root.mkdir(parents=True, exist_ok=True)
        self.socket_path = root / "run" / "rpdevd.sock"
        self.store = Store(root / "state.sqlite3")
        self.server = Server(
            self.socket_path, root / "run" / "rpdevd.lock", EventBus(self.store), "rpdevd fuzz"
        )

        async def ping(params: dict[str, Any]) -> Any:
            return {"pong": True}

        async def echo(params: dict[str, Any]) -> Any:
            return params

        self.server.register("ping", ping)
        # A test-only method that hands its parameters back; `register` takes declared names
        # only, so it goes into the table directly.
        self.server.handlers["echo"] = echo
        self.server.acquire()
        self.run(self.server.start())

    def run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)

    def stop(self) -> None:
        try:
            self.run(self.server.close())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            self.loop.close()
            self.store.close()
            for name in ("rpdevd", "asyncio"):
                logging.getLogger(name).removeHandler(self.trouble)


def exchange(sock_path: Path, frames: list[bytes], replies: int) -> list[dict[str, Any]]:
    """Send `frames` on a new connection; read up to `replies` frames (fewer if it closes)."""
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(30)
    s.connect(str(sock_path))
    try:
        s.sendall(b"".join(frames))
        buf, out = b"", []
        while len(out) < replies:
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
            while b"\n" in buf and len(out) < replies:
                line, buf = buf.split(b"\n", 1)
                out.append(json.loads(line))
        return out
    finally:
        s.close()


def answers_then_goes_on(sock_path: Path, frame: bytes) -> dict[str, Any]:
    """After a hello, `frame` gets exactly one answer, and a ping sent after it is answered:
    the connection lived on. Returns the answer to `frame`."""
    got = exchange(sock_path, [HELLO, frame, PING], 3)
    assert len(got) == 3, got
    assert got[0]["type"] == "hello"
    pings = [r for r in got[1:] if r.get("id") == PING_ID and "result" in r]
    assert len(pings) == 1, got  # answered concurrently: in either order
    (answer,) = [r for r in got[1:] if r is not pings[0]]
    assert answer["type"] in ("error", "response"), answer
    assert "error" in answer or "result" in answer
    return answer


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    st = ServerThread(tmp_path_factory.mktemp("frames"))
    yield st
    st.stop()


@pytest.fixture
def no_trouble(server: ServerThread) -> Iterator[None]:
    server.trouble.seen.clear()
    yield
    gc.collect()  # "Task exception was never retrieved" is told when the task is collected
    server.run(asyncio.sleep(0))
    assert server.trouble.seen == []


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
request_like = st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from(["request", "hello", "response", "event", ""]) | json_values,
        "id": st.integers(min_value=-(2**64), max_value=2**64).filter(lambda i: i != PING_ID)
        | json_values,
        "method": st.sampled_from(["ping", "echo", "subscribe", "nope", "Ping", "a..b"])
        | json_values,
        "params": st.fixed_dictionaries(
            {}, optional={"kinds": json_values, "pod": json_values, "s": json_values}
        )
        | json_values,
    },
)
# Well-formed requests with odd parameters: what reaches the handlers (and their answers).
client_text = st.text(st.characters(categories=["L", "N", "P", "Cc", "Cs"]), max_size=20)
requests = st.fixed_dictionaries(
    {
        "type": st.just("request"),
        "id": st.integers(min_value=0, max_value=PING_ID - 1),
        "method": st.sampled_from(["ping", "echo", "subscribe"]),
        "params": st.fixed_dictionaries(
            {},
            optional={
                "kinds": json_values | st.lists(client_text, max_size=3),
                "pod": json_values | client_text,
                "s": client_text,
            },
        ),
    }
)
frames = (
    st.binary(max_size=300).map(lambda b: b.replace(b"\n", b"") + b"\n")
    | json_values.map(lambda v: json.dumps(v).encode() + b"\n")
    | request_like.map(
        lambda v: json.dumps(v, ensure_ascii=False).encode("utf-8", "surrogatepass") + b"\n"
    )
    | requests.map(lambda v: json.dumps(v).encode() + b"\n")
)


@pytest.mark.usefixtures("no_trouble")
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frame=frames)
def test_any_frame_after_hello_is_answered_and_the_connection_goes_on(
    server: ServerThread, frame: bytes
) -> None:
    answers_then_goes_on(server.socket_path, frame)


@pytest.mark.usefixtures("no_trouble")
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    frame=frames | request_like.map(lambda v: json.dumps({**v, "type": "hello"}).encode() + b"\n")
)
def test_any_first_frame_gets_a_hello_or_an_error(server: ServerThread, frame: bytes) -> None:
    (reply,) = exchange(server.socket_path, [frame], 1)
    assert reply["type"] in ("hello", "error"), reply


@pytest.mark.usefixtures("no_trouble")
@pytest.mark.parametrize(
    "frame",
    [DEEP_LIST, DEEP_OBJECT, HUGE_INT_REQUEST, LONE_SURROGATE],
    ids=["deep-list", "deep-object", "huge-int-id", "lone-surrogate"],
)
def test_frames_that_once_crashed_the_handler_are_answered(
    server: ServerThread, frame: bytes
) -> None:
    answer = answers_then_goes_on(server.socket_path, frame)
    if frame is LONE_SURROGATE:
        assert answer["result"] == {"s": "\ud800"}  # escaped on the way back, still valid UTF-8
    else:
        assert answer["error"]["code"] == "bad_json", answer


@pytest.mark.usefixtures("no_trouble")
def test_a_hello_with_a_5000_digit_version_gets_an_error(server: ServerThread) -> None:
    (reply,) = exchange(server.socket_path, [HUGE_INT_HELLO], 1)
    assert reply["type"] == "error" and reply["error"]["code"] == "bad_json"


def test_the_real_daemon_answers_each_and_logs_no_traceback(home: Path, tmp_path: Path) -> None:
    d = DaemonProcess(tmp_path / "d").start()
    try:
        sock = paths.socket_path()
        for frame in (DEEP_LIST, DEEP_OBJECT, HUGE_INT_REQUEST):
            assert answers_then_goes_on(sock, frame)["error"]["code"] == "bad_json"
        (reply,) = exchange(sock, [HUGE_INT_HELLO], 1)
        assert reply["error"]["code"] == "bad_json"
    finally:
        d.stop()
    log = paths.log_file().read_text()
    assert "Traceback" not in log and "client connection failed" not in log, log[-3000:]


def test_a_client_that_sends_no_hello_is_cut_off(
    server: ServerThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert server_module.HELLO_TIMEOUT <= 5  # as docs/security.md says
    monkeypatch.setattr(server_module, "HELLO_TIMEOUT", 0.2)
    for sent in (b"", b'{"type":"hel'):  # nothing, or half a frame: the socket is closed
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(30)  # far past the deadline: a server without one fails here
        s.connect(str(server.socket_path))
        try:
            s.sendall(sent)
            assert s.recv(65536) == b""
        finally:
            s.close()


@pytest.mark.usefixtures("no_trouble")
def test_a_subscriber_that_stops_reading_is_dropped(server: ServerThread) -> None:
    bus = server.server.bus
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(30)
    s.connect(str(server.socket_path))
    try:
        s.sendall(HELLO + protocol.encode(protocol.request(1, "subscribe", {"kinds": ["live."]})))
        reader = s.makefile("rb")
        assert json.loads(reader.readline())["type"] == "hello"
        assert json.loads(reader.readline())["result"]["subscribed"] is True
        assert len(bus.subscribers) == 1

        async def flood() -> None:  # more than the queue holds, before the server can send any
            for i in range(QUEUE_LIMIT + 10):
                bus.emit("live.flood", f"event {i}")

        server.run(flood())
        assert bus.subscribers == set()  # the daemon holds nothing more for it
        rest = [json.loads(line) for line in reader]  # to the end: the server closes it
        assert rest and rest[-1]["type"] == "error" and rest[-1]["error"]["code"] == "overflow"
        assert all(f["type"] == "event" for f in rest[:-1])
    finally:
        s.close()
