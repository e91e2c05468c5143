"""The login service: systemd user unit and launchd agent, on a private home.

`systemctl`/`launchctl` are never the real ones: a recording runner stands in, or (to exercise
the real subprocess plumbing) a fake `systemctl` script first on PATH.
"""

from __future__ import annotations

import os
import plistlib
import shutil
import stat
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from rpdevd import service
from rpdevd.service import RunResult, ServiceError, ServiceHost

REPO = Path(__file__).resolve().parents[2]
BUS_DOWN = "Failed to connect to bus: No medium found"


class Recorder:
    """Answers like systemctl/launchctl would; records every call."""

    def __init__(self, answers: dict[str, RunResult] | None = None) -> None:
        self.calls: list[list[str]] = []
        self.answers = answers or {}

    def __call__(self, args: Sequence[str]) -> RunResult:
        self.calls.append(list(args))
        for key, result in self.answers.items():
            if key in " ".join(args):
                return result
        return RunResult(0)


def linux(home: Path, runner: Recorder, **env: str) -> ServiceHost:
    return ServiceHost("Linux", home, {**os.environ, **env}, 1000, runner)


def mac(home: Path, runner: Recorder) -> ServiceHost:
    return ServiceHost("Darwin", home, {"HOME": str(home)}, 501, runner)


def exec_start(unit: str) -> str:
    return next(line for line in unit.splitlines() if line.startswith("ExecStart="))


CMD = ["/opt/rpdev venv/bin/rpdevd"]


def test_linux_install_writes_the_unit_and_enables_it(home: Path) -> None:
    runner = Recorder()
    message = service.install_service(linux(home, runner), CMD)
    unit = home / ".config/systemd/user/rpdevd.service"
    text = unit.read_text()
    assert exec_start(text) == 'ExecStart="/opt/rpdev venv/bin/rpdevd"'
    assert "WantedBy=default.target" in text
    assert "RestartPreventExitStatus=2 3" in text
    assert stat.S_IMODE(unit.stat().st_mode) == 0o644
    assert runner.calls == [
        ["systemctl", "--user", "show-environment"],
        ["systemctl", "--user", "daemon-reload"],
        ["systemctl", "--user", "enable", "--now", "rpdevd.service"],
    ]
    assert "starts at login" in message
    assert str(unit) in message
    # Installing again replaces the unit in place and leaves no temporary file behind.
    service.install_service(linux(home, runner), ["/other/rpdevd"])
    assert exec_start(unit.read_text()) == 'ExecStart="/other/rpdevd"'
    assert sorted(p.name for p in unit.parent.iterdir()) == ["rpdevd.service"]


def test_linux_without_a_user_manager_says_what_to_do_instead(home: Path) -> None:
    runner = Recorder({"show-environment": RunResult(1, "", BUS_DOWN + "\n")})
    with pytest.raises(ServiceError) as err:
        service.install_service(linux(home, runner), CMD)
    text = str(err.value)
    assert BUS_DOWN in text
    assert "containers" in text
    assert "rpdev daemon start" in text
    assert "systemctl --user enable --now rpdevd.service" in text
    assert (home / ".config/systemd/user/rpdevd.service").is_file()
    assert runner.calls == [["systemctl", "--user", "show-environment"]]


def test_linux_enable_failure_is_reported_with_a_hint(home: Path) -> None:
    runner = Recorder({"enable": RunResult(1, "", "Job for rpdevd.service failed.\n")})
    with pytest.raises(ServiceError) as err:
        service.install_service(linux(home, runner), CMD)
    assert "Job for rpdevd.service failed." in str(err.value)
    assert "rpdev daemon stop" in str(err.value)
    assert "journalctl --user -u rpdevd" in str(err.value)


def test_non_default_locations_reach_the_service(home: Path) -> None:
    # The `home` fixture moves XDG_RUNTIME_DIR away from /run/user/<uid>; the other two are at
    # their defaults under this HOME and need no line.
    runner = Recorder()
    service.install_service(linux(home, runner, XDG_STATE_HOME=str(home / "state dir")), CMD)
    text = (home / ".config/systemd/user/rpdevd.service").read_text()
    env_lines = [line for line in text.splitlines() if line.startswith("Environment=")]
    assert env_lines == [
        f'Environment="XDG_RUNTIME_DIR={home}/run"',
        f'Environment="XDG_STATE_HOME={home}/state dir"',
    ]


def test_unit_goes_where_xdg_config_home_points(home: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "cfg"
    service.install_service(linux(home, Recorder(), XDG_CONFIG_HOME=str(elsewhere)), CMD)
    assert (elsewhere / "systemd/user/rpdevd.service").is_file()
    assert not (home / ".config/systemd").exists()


def test_api_key_in_the_shell_gets_a_note(home: Path) -> None:
    message = service.install_service(linux(home, Recorder(), RUNPOD_API_KEY="rk_x"), CMD)
    assert "rpdev login" in message
    assert "rk_x" not in message
    assert "rpdev login" not in service.install_service(linux(home, Recorder()), CMD)


def test_linux_uninstall(home: Path) -> None:
    runner = Recorder()
    assert "No rpdevd service" in service.uninstall_service(linux(home, runner))
    assert runner.calls == []
    service.install_service(linux(home, runner), CMD)
    runner.calls.clear()
    message = service.uninstall_service(linux(home, runner))
    assert not (home / ".config/systemd/user/rpdevd.service").exists()
    assert runner.calls == [
        ["systemctl", "--user", "show-environment"],
        ["systemctl", "--user", "disable", "--now", "rpdevd.service"],
        ["systemctl", "--user", "daemon-reload"],
    ]
    assert "no longer starts at login" in message


def test_linux_uninstall_without_a_user_manager_still_removes_the_unit(home: Path) -> None:
    service.install_service(linux(home, Recorder()), CMD)
    runner = Recorder({"show-environment": RunResult(1, "", BUS_DOWN)})
    message = service.uninstall_service(linux(home, runner))
    assert not (home / ".config/systemd/user/rpdevd.service").exists()
    assert "nothing was stopped" in message
    assert runner.calls == [["systemctl", "--user", "show-environment"]]


def test_macos_install_writes_the_agent_and_bootstraps_it(home: Path) -> None:
    runner = Recorder({"bootout": RunResult(3, "", "Boot-out failed: 3: No such process")})
    message = service.install_service(mac(home, runner), CMD)
    plist = home / "Library/LaunchAgents/io.rpdev.rpdevd.plist"
    data = plistlib.loads(plist.read_bytes())
    assert data["Label"] == "io.rpdev.rpdevd"
    assert data["ProgramArguments"] == CMD
    assert data["RunAtLoad"] is True
    assert data["KeepAlive"] == {"SuccessfulExit": False}
    assert data["StandardErrorPath"] == str(home / "Library/Logs/rpdev/rpdevd.err.log")
    assert (home / "Library/Logs/rpdev").is_dir()
    assert runner.calls == [
        ["launchctl", "bootout", "gui/501/io.rpdev.rpdevd"],
        ["launchctl", "enable", "gui/501/io.rpdev.rpdevd"],
        ["launchctl", "bootstrap", "gui/501", str(plist)],
    ]
    assert "starts at login" in message


def test_macos_bootstrap_failure_is_reported(home: Path) -> None:
    runner = Recorder(
        {
            "bootstrap": RunResult(
                125, "", "Bootstrap failed: 125: Domain does not support specified action"
            )
        }
    )
    with pytest.raises(ServiceError, match="Domain does not support") as err:
        service.install_service(mac(home, runner), CMD)
    assert "rpdev daemon start" in str(err.value)


def test_macos_uninstall(home: Path) -> None:
    service.install_service(mac(home, Recorder()), CMD)
    runner = Recorder()
    message = service.uninstall_service(mac(home, runner))
    assert not (home / "Library/LaunchAgents/io.rpdev.rpdevd.plist").exists()
    assert runner.calls == [["launchctl", "bootout", "gui/501/io.rpdev.rpdevd"]]
    assert "no longer starts at login" in message
    assert "No rpdevd service" in service.uninstall_service(mac(home, runner))


def test_other_systems_are_refused(home: Path) -> None:
    host = ServiceHost("Windows", home, {}, 0, Recorder())
    with pytest.raises(ServiceError, match="rpdev daemon start"):
        service.install_service(host, CMD)
    with pytest.raises(ServiceError, match="Linux"):
        service.uninstall_service(host)


@pytest.mark.parametrize(
    ("arg", "quoted"),
    [
        ("/usr/bin/rpdevd", '"/usr/bin/rpdevd"'),
        ("/home/a b/rpdevd", '"/home/a b/rpdevd"'),
        ("/x/100%/$HOME/rpdevd", '"/x/100%%/$$HOME/rpdevd"'),
        ('/x/"q"\\/rpdevd', '"/x/\\"q\\"\\\\/rpdevd"'),
    ],
)
def test_systemd_quoting(arg: str, quoted: str) -> None:
    assert service.systemd_quote(arg) == quoted


def test_exec_start_escapes_dollars_only_where_systemd_expands_them() -> None:
    # systemd expands $VAR in ExecStart= arguments but not in the program path.
    assert service.exec_line(["/a $b/python", "-m", "x$y"]) == '"/a $b/python" "-m" "x$$y"'
    unit = service.render_systemd_unit(["/p"], {"XDG_STATE_HOME": "/s/$t%"})
    assert 'Environment="XDG_STATE_HOME=/s/$t%%"' in unit.splitlines()
    with pytest.raises(ServiceError):
        service.exec_line([])


@pytest.mark.parametrize("bad", ["/x\n[Service]\nExecStartPre=/bin/evil", "", "/x\0y"])
def test_a_path_that_would_inject_lines_is_refused_before_writing(home: Path, bad: str) -> None:
    with pytest.raises(ServiceError):
        service.install_service(linux(home, Recorder()), [bad])
    with pytest.raises(ServiceError):
        service.install_service(mac(home, Recorder()), [bad])
    assert not (home / ".config/systemd").exists()
    assert not (home / "Library/LaunchAgents").exists()


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="needs systemd-analyze")
def test_systemd_accepts_the_unit_with_an_awkward_path(home: Path, tmp_path: Path) -> None:
    # systemd's own parser reads the generated unit and checks that ExecStart names an
    # executable: a path with a space, "%" and "$" must survive quoting as one literal path.
    odd = tmp_path / "my dir" / "100% $sure"
    odd.mkdir(parents=True)
    exe = odd / "rpdevd"
    exe.write_text("#!/bin/sh\nexit 0\n")
    exe.chmod(0o755)
    service.install_service(linux(home, Recorder(), XDG_STATE_HOME=str(home / "s t")), [str(exe)])
    unit = home / ".config/systemd/user/rpdevd.service"
    done = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    # And a path that does not exist is caught by the same check, so the check has teeth.
    service.install_service(linux(home, Recorder()), [str(odd / "missing")])
    done = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=30
    )
    assert done.returncode != 0


def test_systemctl_reload_sends_the_daemon_the_sighup_it_reloads_on(tmp_path: Path) -> None:
    """`systemctl --user reload rpdevd` runs ExecReload with $MAINPID set to the daemon's pid; the
    daemon reads config.toml again on SIGHUP (tests/integration/test_daemon_reload.py)."""
    unit = service.render_systemd_unit(CMD)
    (line,) = [x for x in unit.splitlines() if x.startswith("ExecReload=")]
    got = tmp_path / "hup"
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import pathlib, signal, sys, time\n"
            f"signal.signal(signal.SIGHUP, lambda *_: pathlib.Path({str(got)!r}).touch())\n"
            "print('ready', flush=True)\n"
            "time.sleep(60)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None and child.stdout.readline() == "ready\n"
        argv = line.removeprefix("ExecReload=").replace("$MAINPID", str(child.pid)).split()
        done = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, done.stderr
        deadline = time.monotonic() + 20
        while not got.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert got.exists()
        assert child.poll() is None  # a HUP, not a stop
    finally:
        child.kill()
        child.communicate()


def test_daemon_command_prefers_the_rpdevd_beside_the_interpreter(tmp_path: Path) -> None:
    bindir = tmp_path / "venv/bin"
    bindir.mkdir(parents=True)
    python = bindir / "python"
    python.symlink_to(sys.executable)
    assert service.daemon_command(str(python)) == [str(python), "-m", "rpdevd.daemon.main"]
    script = bindir / "rpdevd"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    assert service.daemon_command(str(python)) == [str(script)]
    # This checkout's venv has the script; the command must run the daemon, not just exist.
    cmd = service.daemon_command()
    done = subprocess.run([*cmd, "--help"], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0 and "rpdevd" in done.stdout


def test_default_runner_drives_the_systemctl_on_path(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    log = tmp_path / "systemctl.log"
    fake = bindir / "systemctl"
    fake.write_text(
        "#!/bin/sh\n"
        f'echo "$*" >> "{log}"\n'
        'if [ "$2" = show-environment ]; then echo "Failed to connect to bus: No medium found" >&2;'
        " exit 1; fi\n"
    )
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    host = ServiceHost("Linux", home, dict(os.environ), os.getuid())  # the real runner
    with pytest.raises(ServiceError, match="No medium found"):
        service.install_service(host, CMD)
    assert log.read_text().splitlines() == ["--user show-environment"]


def test_default_runner_reports_a_missing_program() -> None:
    result = service.run_command(["rpdev-no-such-program-xyz"])
    assert result.returncode == 127
    assert "not found" in result.stderr


def _strip(text: str) -> list[str]:
    return [
        line
        for line in text.splitlines()
        if not line.startswith(("#", "ExecStart=", "Environment="))
    ]


def test_contrib_unit_matches_what_install_service_writes() -> None:
    shipped = (REPO / "contrib/systemd/rpdevd.service").read_text()
    assert exec_start(shipped) == "ExecStart=%h/.local/bin/rpdevd"
    assert _strip(shipped) == _strip(service.render_systemd_unit(CMD))


def test_contrib_plist_matches_what_install_service_writes(tmp_path: Path) -> None:
    shipped = plistlib.loads((REPO / "contrib/launchd/io.rpdev.rpdevd.plist").read_bytes())
    written = plistlib.loads(service.render_launchd_plist(CMD, tmp_path))
    assert shipped["ProgramArguments"][-1].endswith('/.local/bin/rpdevd"')
    for key in ("Label", "RunAtLoad", "KeepAlive", "ThrottleInterval"):
        assert shipped[key] == written[key]
