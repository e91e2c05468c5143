"""Port forwards at their edges: `[[forward]]` validated with `file:line: key: what`, the
forward's state as a pure decision, `LOCAL[:REMOTE]`, and who holds a taken local port (a real
listening socket of this process, found through /proc)."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

import pytest

from rpdevd.commands.forward import parse_ports
from rpdevd.config import ConfigError, parse_config
from rpdevd.daemon.forwards import forward_state
from rpdevd.daemon.port_owner import Owner, describe, listeners, who_holds
from rpdevd.daemon.state import PodState
from rpdevd.labels import forward_label
from rpdevd.models import Pod

CONFIG = Path("c.toml")


def forward(body: str) -> str:
    return f'poll_interval = "15s"\n\n[[forward]]\npod = "trainer"\n{body}'


def error(text: str) -> str:
    with pytest.raises(ConfigError) as exc:
        parse_config(text, CONFIG)
    return str(exc.value)


def test_a_forward_reads_with_loopback_as_the_default_address() -> None:
    cfg = parse_config(forward("local = 8888\nremote = 8889\n"), CONFIG)
    (f,) = cfg.forwards
    assert (f.pod, f.local, f.remote, f.bind) == ("trainer", 8888, 8889, "127.0.0.1")


@pytest.mark.parametrize("bind", ["0.0.0.0", "::1", "::", "localhost", "192.168.1.20"])
def test_an_address_written_out_is_accepted(bind: str) -> None:
    cfg = parse_config(forward(f'local = 8888\nremote = 8888\nbind = "{bind}"\n'), CONFIG)
    assert cfg.forwards[0].bind == bind


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("local = 8888\n", "c.toml:3: forward[0].remote: is required (a TCP port, 1-65535)"),
        ("remote = 8888\n", "c.toml:3: forward[0].local: is required"),
        ("local = 0\nremote = 8888\n", "c.toml:5: forward[0].local: 0 is not a TCP port"),
        ("local = 8888\nremote = 65536\n", "c.toml:6: forward[0].remote: 65536 is not a TCP port"),
        ('local = "8888"\nremote = 1\n', "c.toml:5: forward[0].local: must be an integer"),
        ("local = true\nremote = 1\n", "c.toml:5: forward[0].local: must be an integer"),
        (
            'local = 1\nremote = 1\nbind = "my-laptop.lan"\n',
            "c.toml:7: forward[0].bind: 'my-laptop.lan' is not an IP address",
        ),
        ("local = 1\nremote = 1\nport = 2\n", "c.toml:7: forward[0].port: unknown key"),
    ],
)
def test_a_bad_forward_names_file_line_and_key(body: str, expected: str) -> None:
    assert error(forward(body)).startswith(expected)


def test_a_forward_needs_a_pod() -> None:
    assert error("[[forward]]\nlocal = 1\nremote = 1\n").startswith(
        "c.toml:1: forward[0].pod: is required"
    )


def test_two_forwards_never_share_a_local_port_whatever_their_addresses() -> None:
    text = forward("local = 8888\nremote = 8888\n") + (
        '\n[[forward]]\npod = "other"\nlocal = 8888\nremote = 9999\nbind = "0.0.0.0"\n'
    )
    assert (
        error(text) == "c.toml:10: forward[1].local: port 8888 is already forwarded by forward[0]"
    )


def pod_state(status: str = "RUNNING", managed: bool = True) -> PodState:
    pod = Pod.from_api({"id": "p1", "name": "trainer", "desiredStatus": status})
    return PodState(pod, managed=managed)


@pytest.mark.parametrize(
    ("listening", "pod", "api_ok", "ready", "connected", "expected"),
    [
        (False, pod_state(), True, True, True, "error"),
        (True, None, False, False, False, "waiting"),  # RunPod has not answered yet
        (True, None, True, False, False, "pod gone"),
        (True, pod_state(managed=False), True, False, False, "not managed"),
        (True, pod_state("EXITED"), True, False, False, "pod stopped"),
        (True, pod_state("EXITED"), True, True, True, "pod stopped"),
        (True, pod_state(), True, False, False, "waiting"),  # endpoint not confirmed yet
        (True, pod_state(), True, True, False, "connecting"),
        (True, pod_state(), True, True, True, "up"),
    ],
)
def test_forward_state(
    listening: bool,
    pod: PodState | None,
    api_ok: bool,
    ready: bool,
    connected: bool,
    expected: str,
) -> None:
    got = forward_state(
        listening=listening, pod=pod, api_ok=api_ok, ready=ready, connected=connected
    )
    assert got == expected


def test_ports_read_as_local_and_remote() -> None:
    assert parse_ports("8888") == (8888, 8888)
    assert parse_ports("16006:6006") == (16006, 6006)
    for bad in ("", "0", "65536", "88a", "1:", ":1", "1:2:3", "-1", "٣"):
        with pytest.raises(ValueError):
            parse_ports(bad)


def test_the_label_shows_the_address_only_where_it_is_not_loopback() -> None:
    view = {"bind": "127.0.0.1", "local": 8888, "remote": 8889, "state": "up"}
    assert forward_label(view) == "8888->8889 up"
    assert forward_label({**view, "bind": "0.0.0.0"}) == "0.0.0.0:8888->8889 up"


PROC_TCP = """\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:22B8 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 4242 1
   1: 0100007F:22B8 0100007F:9C40 01 00000000:00000000 00:00000000 00000000  1000        0 4343 1
   2: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 77 1
"""


def test_only_listening_sockets_on_the_port_are_read() -> None:
    found = listeners(PROC_TCP, 0x22B8)
    assert [(f.inode, f.uid) for f in found] == [(4242, 1000)]  # not the connection
    assert [f.inode for f in listeners(PROC_TCP, 8080)] == [77]
    assert listeners(PROC_TCP, 1) == []


def test_what_is_known_of_the_holder_is_said() -> None:
    owner = Owner(pid=7, name="jupyter-lab", command="/usr/bin/python3 -m jupyter lab")
    assert describe(owner) == "in use by jupyter-lab (pid 7: /usr/bin/python3 -m jupyter lab)"
    assert describe(Owner(pid=7, name="nc", command="nc")) == "in use by nc (pid 7)"
    assert (
        describe(None, os.getuid() + 1)
        == f"in use by a program of another user (uid {os.getuid() + 1})"
    )
    assert describe(None, os.getuid()) == "in use by another program"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_the_process_holding_a_port_is_named() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        said = who_holds(port)
    assert said.startswith("in use by ")
    assert f"(pid {os.getpid()}: " in said
