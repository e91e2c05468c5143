"""The forward service's refusals and what it takes back from the store, on a small daemon core
with the real store and bus (no pod needed: nothing here reaches one)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rpdevd.config import Config, ForwardConfig
from rpdevd.daemon.connections import ConnectionPool
from rpdevd.daemon.forwards import FORWARDS_KEY, ForwardService
from rpdevd.daemon.server import RequestError
from rpdevd.daemon.state import PodState
from rpdevd.models import Pod
from rpdevd.protocol import ProtocolError
from tests.daemon_core import Core


def core(tmp_path: Path, managed: bool = True) -> Core:
    c = Core(tmp_path / "db.sqlite", Config(forwards=(ForwardConfig("trainer", 8888, 8888),)))
    pod = Pod.from_api({"id": "p1", "name": "trainer", "desiredStatus": "RUNNING"})
    c.pods["p1"] = PodState(pod, managed=managed)
    return c


def test_only_well_formed_runtime_forwards_come_back_from_the_store(tmp_path: Path) -> None:
    c = core(tmp_path)
    c.store.put(
        FORWARDS_KEY,
        [
            {"pod": "p1", "local": 6006, "remote": 6006, "bind": "127.0.0.1"},
            {"pod": "p1", "local": 8888, "remote": 1},  # config's port wins
            {"pod": "p1", "local": 70000, "remote": 1},
            {"pod": "p1", "local": 7000, "remote": 0},
            {"pod": "p1", "local": 7001, "remote": 1, "bind": "evil.example"},
            {"pod": "p1", "remote": 1},
            "junk",
        ],
    )
    service = ForwardService(c, ConnectionPool(), c.register)
    assert {(f.local, f.remote, f.source) for f in service.forwards.values()} == {
        (8888, 8888, "config"),
        (6006, 6006, "runtime"),
    }
    assert set(c.methods) == {"forward.list", "forward.add", "forward.remove"}


async def test_an_unmanaged_pod_a_host_name_or_a_half_port_is_refused(tmp_path: Path) -> None:
    c = core(tmp_path, managed=False)
    service = ForwardService(c, ConnectionPool(), c.register)
    with pytest.raises(RequestError) as exc:
        await service.m_add({"pod": "trainer", "local": 18888})
    assert exc.value.code == "not_managed" and exc.value.hint == "rpdev manage p1"
    c.pods["p1"].managed = True
    with pytest.raises(RequestError) as exc:
        await service.m_add({"pod": "trainer", "local": 18888, "bind": "my-laptop.lan"})
    assert exc.value.code == "bad_bind"
    with pytest.raises(RequestError) as exc:
        await service.m_add({"pod": "trainer", "local": 18888.5})
    assert exc.value.code == "bad_params"
    for bad in (0, 65536, "8888", True):
        with pytest.raises(ProtocolError):
            await service.m_add({"pod": "trainer", "local": bad})
    with pytest.raises(RequestError) as exc:
        await service.m_remove({"pod": "trainer", "local": 18888})
    assert exc.value.code == "not_found"
    assert 18888 not in service.forwards and c.kinds("forward.") == []
