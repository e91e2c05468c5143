"""DEST:REMOTE parsing and SSH options: hostile input is refused before anything connects."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rpdevd.sync.destination import (
    Destination,
    DestinationError,
    normalize_remote,
    parse_destination,
    parse_option,
)


@pytest.mark.parametrize(
    ("spec", "want"),
    [
        ("mypod.runpod:/workspace/proj", Destination("mypod.runpod", "/workspace/proj")),
        ("root@1.2.3.4:/w", Destination("1.2.3.4", "/w", "root")),
        ("root@1.2.3.4:22022:/w/x", Destination("1.2.3.4", "/w/x", "root", 22022)),
        ("host:2222:rel/dir", Destination("host", "rel/dir", None, 2222)),
        ("u@[::1]:2200:/w", Destination("::1", "/w", "u", 2200)),
        ("host:~/proj/", Destination("host", "proj")),
        ("host:", Destination("host", ".")),
        ("host:/w/with:colon", Destination("host", "/w/with:colon")),
    ],
)
def test_parse(spec: str, want: Destination) -> None:
    assert parse_destination(spec) == want


@pytest.mark.parametrize(
    "spec",
    [
        "no-colon",
        "-oProxyCommand=evil:/w",
        "host:/w/../etc",
        "u@host:99999:/w",
        "host:/w\nx",
        "@host:/w",
        "-u@host:/w",
        "ho st:/w",
        "host:~root/x",
    ],
)
def test_refused(spec: str) -> None:
    with pytest.raises(DestinationError):
        parse_destination(spec)


def test_label_keys_the_pair() -> None:
    assert parse_destination("u@h:2:/w").label == "u@h:2"
    assert parse_destination("alias:/w").label == "alias"


def test_options() -> None:
    assert parse_option("StrictHostKeyChecking=accept-new") == (
        "stricthostkeychecking",
        "accept-new",
    )
    assert parse_option("Port 2222") == ("port", "2222")
    with pytest.raises(DestinationError):
        parse_option("ProxyCommand=sh -c evil")
    with pytest.raises(DestinationError):
        parse_option("Port=")


def test_normalize_remote() -> None:
    assert normalize_remote("/workspace/") == "/workspace"
    assert normalize_remote("/") == "/"
    assert normalize_remote("~") == "."


def test_ssh_argv_puts_the_host_after_the_options() -> None:
    from rpdevd.sync.sshproc import ssh_argv

    argv = ssh_argv(
        "/usr/bin/ssh",
        "-oProxyCommand=evil",
        user="root",
        port=2222,
        identities=["/k"],
        options={"stricthostkeychecking": "accept-new"},
        config_file="/cfg",
    )
    assert argv[-2:] == ["--", "-oProxyCommand=evil"]
    assert "BatchMode=yes" in argv and "StrictHostKeyChecking=accept-new" in argv
    assert argv[argv.index("-p") + 1] == "2222" and argv[argv.index("-l") + 1] == "root"
    assert argv[argv.index("-F") + 1] == "/cfg" and argv[argv.index("-i") + 1] == "/k"


# The grammar as a regular expression: the hand-written parser (no `re` before `ssh` starts)
# must agree with it on every input.
_REFERENCE = __import__("re").compile(
    r"^(?:(?P<user>[^@:/\s]+)@)?(?P<host>\[[0-9A-Fa-f:.]+\]|[^@:/\[\]\s]+)"
    r"(?::(?P<port>[0-9]{1,5})(?=:))?:(?P<path>.*)$",
    __import__("re").S,
)


@settings(max_examples=400, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            ["a", "1", "2", "@", ":", "/", "[", "]", ":", " ", "\n", "\t", "-", ".", "é"]
        ),
        max_size=14,
    ).map("".join)
)
def test_hand_parser_matches_the_grammar(spec: str) -> None:
    from rpdevd.sync.destination import _split_destination

    m = _REFERENCE.match(spec)
    want = None if m is None else (m["user"], m["host"], m["port"], m["path"])
    assert _split_destination(spec) == want
