"""A reload of config.toml (rpdevd/daemon/reload.py) over a small daemon: the real Config read
from a real file, the real Store and EventBus; the services and the hooks record what they are
told. The whole daemon under `rpdev daemon reload` and SIGHUP is
tests/integration/test_daemon_reload.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from rpdevd.config import Config, ConfigError, load_config
from rpdevd.daemon.core import Service
from rpdevd.daemon.reload import Reloader
from rpdevd.daemon.state import PodState
from rpdevd.models import Pod
from tests.daemon_core import Core

POD = '[[pod]]\nname = "p"\npolicy = "idle-stop"\nidle_timeout = "{timeout}"\n'


class Daemon(Core):
    """The daemon as a reload sees it (a `ReloadTarget`)."""

    def __init__(self, db: Path, config: Config) -> None:
        super().__init__(db, config)
        self.services: list[Service] = []


class Told:
    name = "told"

    def __init__(self) -> None:
        self.changed: list[list[str]] = []

    async def run(self) -> None:
        pass

    def pods_changed(self, changed: list[PodState]) -> None:
        self.changed.append([s.id for s in changed])


@pytest.fixture
def rig(tmp_path: Path) -> Any:
    path = tmp_path / "config.toml"
    path.write_text('poll_interval = "15s"\n' + POD.format(timeout="30m"))
    daemon = Daemon(tmp_path / "state.db", load_config(path))
    told = Told()
    daemon.services.append(told)
    state = PodState(pod=Pod.from_api({"id": "abc123", "name": "p", "desiredStatus": "RUNNING"}))
    daemon.pods[state.id] = state
    return daemon, path, told, state


async def test_a_key_edited_in_config_replaces_its_run_time_setting_and_only_that_one(
    rig: Any,
) -> None:
    daemon, path, told, state = rig
    daemon.store.set_pod_settings(state.id, {"policy": "keep-alive", "idle_timeout": 3600.0})
    state.apply_settings(daemon.config, daemon.store.pod_settings()[state.id])
    assert (state.policy, state.idle_timeout) == ("keep-alive", 3600.0)
    path.write_text('poll_interval = "15s"\n' + POD.format(timeout="10m"))
    change = await Reloader(daemon).reload()
    assert change.lines()
    assert (state.policy, state.idle_timeout) == ("keep-alive", 600.0)
    assert daemon.store.pod_settings()[state.id] == {"policy": "keep-alive"}
    assert told.changed == [[state.id]]  # every service hears of every pod again
    assert not daemon.poll_now.is_set()  # the poll interval did not change


async def test_a_failing_hook_does_not_keep_the_others_on_the_old_config(rig: Any) -> None:
    daemon, path, _, _ = rig
    reloader = Reloader(daemon)
    handed: list[Config] = []

    async def broken(config: Config) -> None:
        raise RuntimeError("no")

    async def works(config: Config) -> None:
        handed.append(config)

    reloader.hooks += [broken, works]
    path.write_text('poll_interval = "5s"\n' + POD.format(timeout="30m"))
    await reloader.reload()
    assert handed == [daemon.config] and daemon.config.poll_interval == 5.0
    assert daemon.poll_now.is_set()  # the poll loop waits out the new interval from now on
    assert daemon.kinds() == ["daemon.error", "config.reloaded"]


async def test_a_config_with_an_error_changes_nothing(rig: Any) -> None:
    daemon, path, told, state = rig
    running = daemon.config
    reloader = Reloader(daemon)
    handed: list[Config] = []

    async def hook(config: Config) -> None:
        handed.append(config)

    reloader.hooks.append(hook)
    path.write_text('poll_interval = "soon"\n')
    with pytest.raises(ConfigError):
        await reloader.reload()
    assert daemon.config is running and handed == [] and told.changed == []
    assert daemon.kinds() == ["config.rejected"]
