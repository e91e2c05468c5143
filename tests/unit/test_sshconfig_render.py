"""The generated Host file: every value checked, and `ssh -G` sees only what rpdev wrote."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from rpdevd.sshconfig.files import read_aliases, update_generated
from rpdevd.sshconfig.render import (
    HostEntry,
    RenderOptions,
    config_word,
    parse_slugs,
    proxy_command,
    render_config,
)
from tests.unit.test_sshconfig_slugs import HOSTILE

OPTIONS = RenderOptions(known_hosts=Path("/state/rpdev/ssh/known_hosts"))


def ssh_g(config: Path, alias: str, *options: str) -> dict[str, str]:
    out = subprocess.run(
        ["ssh", "-G", "-F", str(config), *options, alias],
        capture_output=True,
        text=True,
        timeout=10,
        stdin=subprocess.DEVNULL,
    )
    assert out.returncode == 0, out.stderr
    return dict(
        line.split(" ", 1) if " " in line else (line, "") for line in out.stdout.splitlines()
    )


def written_directives(text: str, alias: str) -> list[str]:
    """The directive lines of `alias`'s block, as `Keyword value` strings."""
    lines = text.splitlines()
    start = lines.index(f"Host {alias}")
    block = []
    for line in lines[start + 1 :]:
        if not line.startswith("  "):
            break
        block.append(line.strip())
    return block


def test_a_running_pod_gets_every_directive() -> None:
    entry = HostEntry("abc123", "trainer", "203.0.113.7", 40022, "root", "~/.ssh/id_ed25519")
    text = render_config([entry], OPTIONS, {}).text
    assert written_directives(text, "trainer.runpod") == [
        "HostName 203.0.113.7",
        "Port 40022",
        "User root",
        "IdentityFile ~/.ssh/id_ed25519",
        "IdentitiesOnly yes",
        "HostKeyAlias rpdev-abc123",
        "UserKnownHostsFile /state/rpdev/ssh/known_hosts",
        "StrictHostKeyChecking yes",
        "UpdateHostKeys no",
        "CheckHostIP no",
        "ServerAliveInterval 15",
        "LogLevel ERROR",
    ]
    assert "StrictHostKeyChecking no" not in text


def test_wake_on_connect_goes_through_the_proxy() -> None:
    entry = HostEntry("abc123", "t", None, None, wake_on_connect=True)
    text = render_config([entry], OPTIONS, {}).text
    assert "  ProxyCommand rpdev proxy abc123\n" in text
    assert "HostName" not in text


@pytest.mark.parametrize(
    ("running", "says"),
    [(False, "pod abc123 is not running"), (True, "pod abc123 is starting")],
    ids=["stopped", "starting"],
)
def test_a_pod_without_a_confirmed_endpoint_says_why(
    tmp_path: Path, running: bool, says: str
) -> None:
    """Stopped, or running with its new endpoint not confirmed yet (a restart): ssh is told
    what is going on instead of trying an address."""
    config = tmp_path / "config"
    entry = HostEntry("abc123", "t", None, None, running=running)
    config.write_text(render_config([entry], OPTIONS, {}).text)
    assert "HostName" not in config.read_text()
    out = subprocess.run(
        ["ssh", "-F", str(config), "-o", "BatchMode=yes", "t.runpod", "true"],
        capture_output=True,
        text=True,
        timeout=10,
        stdin=subprocess.DEVNULL,
    )
    assert out.returncode != 0 and says in out.stderr


def test_percent_is_escaped_where_ssh_expands_tokens() -> None:
    assert config_word("/keys/100%/id", tokens=True) == "/keys/100%%/id"
    assert config_word("/a b/id", tokens=True) == '"/a b/id"'
    assert proxy_command(("/opt/r%d/rpdev",), "proxy", "abc") == "/opt/r%%d/rpdev proxy abc"


@pytest.mark.parametrize("value", ['/a"b', "/a\nb", "/a\\b", "/a'b", "/${HOME}/x", ""])
def test_paths_ssh_cannot_carry_are_refused(value: str) -> None:
    with pytest.raises(ValueError):
        config_word(value, tokens=True)


@pytest.mark.parametrize(
    "change",
    [
        {"host": "1.2.3.4\n  ProxyCommand evil"},
        {"host": "fe80::1%eth0"},
        {"host": "-oProxyCommand=x"},
        {"port": 0},
        {"port": 70000},
        {"user": "root\n  ProxyCommand evil"},
        {"user": "%u"},
        {"pod_id": "abc\nHost *"},
        {"identity_file": "/k\n  ProxyCommand evil"},
    ],
)
def test_unsafe_values_leave_out_that_entry_only(change: dict[str, object]) -> None:
    fields: dict[str, object] = {
        "pod_id": "abc123",
        "name": "n",
        "host": "1.2.3.4",
        "port": 22,
        "user": "root",
    }
    fields.update(change)
    good = HostEntry("def456", "other", "5.6.7.8", 22, "root")
    out = render_config([HostEntry(**fields), good], OPTIONS, {})  # type: ignore[arg-type]
    bad_id = str(fields["pod_id"])
    # The bad entry is left out and named; the other pods keep theirs.
    assert bad_id in out.refused and bad_id not in out.aliases
    assert out.text.count("\nHost ") == 1 and "Host other.runpod" in out.text
    assert "5.6.7.8" in out.text


def test_hostile_names_only_produce_directives_rpdev_wrote(tmp_path: Path) -> None:
    identity = tmp_path / "keys dir" / "id 100%"
    known = tmp_path / "state dir" / "known_hosts"
    entries = [
        HostEntry(
            f"pod{i:02d}x",
            name,
            "203.0.113.9",
            40000 + i,
            "root",
            identity,
            wake_on_connect=(i % 3 == 0),
        )
        for i, name in enumerate(HOSTILE)
    ]
    generated = render_config(entries, RenderOptions(known_hosts=known), {})
    config = tmp_path / "generated"
    config.write_text(generated.text)
    aliases = generated.aliases
    assert len(set(aliases.values())) == len(entries)
    host_lines = [line for line in generated.text.splitlines() if line.startswith("Host ")]
    assert len(host_lines) == len(entries)
    for line in generated.text.splitlines():
        assert line == "" or line.startswith(("#", "Host ", "  ")), line
    empty = tmp_path / "empty"
    empty.write_text("")
    for pod_id, alias in aliases.items():
        directives = written_directives(generated.text, alias)
        options = [arg for d in directives for arg in ("-o", d)]
        # The same directives given on the command line must yield the very same settings:
        # then the file holds nothing rpdev did not write, whatever the pod's name was.
        assert ssh_g(config, alias) == ssh_g(empty, alias, *options)
        settings = ssh_g(config, alias)
        assert settings["hostkeyalias"] == f"rpdev-{pod_id}"
        assert settings["stricthostkeychecking"] == "true"
        assert settings["identityfile"] == f"{identity}".replace("%", "%%")
        assert settings["userknownhostsfile"] == str(known)
        proxy = settings.get("proxycommand")
        if proxy is not None:
            assert proxy == f"rpdev proxy {pod_id}"


def test_aliases_stay_when_the_file_is_rewritten(home: Path) -> None:
    path = home / "gen" / "config"
    first = update_generated([HostEntry("zzz999", "trainer", "1.2.3.4", 22)], path)
    assert first.changed and first.aliases == {"zzz999": "trainer.runpod"}
    second = update_generated(
        [
            HostEntry("aaa111", "trainer", "1.2.3.5", 22),
            HostEntry("zzz999", "trainer", "1.2.3.4", 23),
        ],
        path,
    )
    assert second.aliases == {"zzz999": "trainer.runpod", "aaa111": "trainer-aaa111.runpod"}
    assert read_aliases(path) == second.aliases
    assert parse_slugs(path.read_text()) == {"zzz999": "trainer", "aaa111": "trainer-aaa111"}
    assert (path.stat().st_mode & 0o777) == 0o600
    same = update_generated(
        [
            HostEntry("aaa111", "trainer", "1.2.3.5", 22),
            HostEntry("zzz999", "trainer", "1.2.3.4", 23),
        ],
        path,
    )
    assert not same.changed


@pytest.mark.parametrize("word", ["/opt/py\\", "/opt/a\\'b/python", '/opt/a"b/python'])
def test_proxy_words_ssh_would_misread_are_refused(word: str) -> None:
    """ssh reads quotes and backslashes in ProxyCommand itself; a line it cannot read makes it
    refuse the whole file (every host on the machine)."""
    with pytest.raises(ValueError):
        proxy_command((word,), "proxy", "abc")


def test_an_impossible_keepalive_interval_is_refused() -> None:
    from rpdevd.sshconfig.render import check_interval

    assert check_interval(30) == 30
    for bad in (-1, 10**12):
        with pytest.raises(ValueError):
            check_interval(bad)
