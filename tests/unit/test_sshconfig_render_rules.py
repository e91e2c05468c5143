"""The generated Host file's rules at their edges: each check's range, what it says when it refuses,
the exact words a pod without an endpoint prints, and the order of the blocks."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from rpdevd.sshconfig.render import (
    HostEntry,
    RenderOptions,
    check_host,
    check_interval,
    check_port,
    check_user,
    comment_text,
    config_word,
    proxy_command,
    render_config,
    render_host,
)

OPTIONS = RenderOptions(known_hosts=Path("/state/rpdev/ssh/known_hosts"))


def directives(block: str) -> list[str]:
    return [line.strip() for line in block.splitlines() if line.startswith("  ")]


def test_addresses_are_written_in_their_canonical_form() -> None:
    assert check_host("2001:0db8:0:0::0001") == "2001:db8::1"
    assert check_host("203.0.113.7") == "203.0.113.7"
    assert check_host("pod-7.example.com") == "pod-7.example.com"


@pytest.mark.parametrize(
    ("check", "value", "message"),
    [
        (check_host, "fe80::1%eth0", "scoped IPv6 addresses are not supported: 'fe80::1%eth0'"),
        (check_host, "-oProxy", "not an IP address or host name: '-oProxy'"),
        (check_port, 0, "not a TCP port: 0"),
        (check_user, "a b", "not a safe user name: 'a b'"),
        (check_interval, 86401, "ServerAliveInterval 86401 is out of range"),
    ],
)
def test_each_check_says_which_value_it_refused(check, value, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError) as caught:
        check(value)
    assert str(caught.value) == message


@pytest.mark.parametrize("port", [1, 22, 65535])
def test_every_tcp_port_is_accepted(port: int) -> None:
    assert check_port(port) == port


@pytest.mark.parametrize("port", [0, 65536, -1, True, "22", 22.0])
def test_what_is_not_a_tcp_port_is_refused(port: object) -> None:
    with pytest.raises(ValueError, match="not a TCP port"):
        check_port(port)  # type: ignore[arg-type]


@pytest.mark.parametrize("seconds", [0, 1, 86400])
def test_the_keepalive_interval_runs_from_off_to_a_day(seconds: int) -> None:
    assert check_interval(seconds) == seconds


@pytest.mark.parametrize("seconds", [-1, 86401])
def test_a_keepalive_interval_outside_that_is_refused(seconds: int) -> None:
    with pytest.raises(ValueError, match=f"ServerAliveInterval {seconds} is out of range"):
        check_interval(seconds)


def test_config_words_keep_every_plain_character() -> None:
    assert config_word("/XX/Keys/id_X", tokens=False) == "/XX/Keys/id_X"
    assert config_word("/a%b", tokens=False) == "/a%b"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "empty value"),
        ("/a\x7fb", "unsupported character '\\x7f' in '/a\\x7fb'"),
        ("/a\x1fb", "unsupported character '\\x1f' in '/a\\x1fb'"),
        ("/a'b", 'unsupported character "\'" in "/a\'b"'),
        ("/${HOME}/k", "unsupported '${' in '/${HOME}/k'"),
    ],
)
def test_config_words_say_what_they_cannot_carry(value: str, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        config_word(value, tokens=True)
    assert str(caught.value) == message


def test_proxy_words_keep_every_plain_character() -> None:
    assert proxy_command(("/opt/X/rpdev",), "proxy", "X") == "/opt/X/rpdev proxy X"
    assert proxy_command(("r",), "it's") == "r 'it'\"'\"'s'"


@pytest.mark.parametrize("word", ["a\nb", "a\x7fb", 'a"b', "a\\b"])
def test_proxy_words_ssh_would_misread_are_refused(word: str) -> None:
    with pytest.raises(ValueError) as caught:
        proxy_command(("rpdev",), "proxy", word)
    assert str(caught.value) == f"unsupported character in proxy command word {word!r}"


def test_comments_keep_printable_ascii_and_mark_the_rest() -> None:
    printable = "".join(chr(c) for c in range(0x20, 0x7F))[:80]
    assert comment_text(printable) == printable
    assert comment_text(" a~") == " a~"
    assert comment_text("a\x1fb\x7fc\x80dé") == "a?b?c?d?"


def test_comments_are_cut_to_eighty_characters_with_an_ellipsis() -> None:
    assert comment_text("n" * 80) == "n" * 80
    assert comment_text("n" * 81) == "n" * 77 + "..."
    assert comment_text("abcdefgh", limit=6) == "abc..."


def test_the_known_hosts_path_has_its_percent_doubled() -> None:
    options = RenderOptions(known_hosts=Path("/state/100%/known_hosts"))
    block = render_host(HostEntry("abc123", "t", "1.2.3.4", 22), "t.runpod", options)
    assert "UserKnownHostsFile /state/100%%/known_hosts" in directives(block)


def proxy_words(block: str) -> list[str]:
    (line,) = [d for d in directives(block) if d.startswith("ProxyCommand ")]
    return shlex.split(line.removeprefix("ProxyCommand "))


@pytest.mark.parametrize(
    ("entry", "says"),
    [
        (
            HostEntry("abc123", "t", None, None, running=True),
            "rpdev: pod abc123 is starting; its SSH endpoint is not confirmed yet "
            "(try again in a minute; rpdev status shows it)",
        ),
        (
            HostEntry("abc123", "t", "1.2.3.4", None, running=True),
            "rpdev: pod abc123 is starting; its SSH endpoint is not confirmed yet "
            "(try again in a minute; rpdev status shows it)",
        ),
        (
            HostEntry("abc123", "t", None, 22),
            "rpdev: pod abc123 is not running (start it with: rpdev resume abc123)",
        ),
    ],
    ids=["starting", "host-only", "port-only"],
)
def test_a_pod_missing_half_its_endpoint_explains_itself(entry: HostEntry, says: str) -> None:
    words = proxy_words(render_host(entry, "t.runpod", OPTIONS))
    assert words == ["sh", "-c", f"echo {shlex.quote(says)} >&2; exit 1"]


def test_blocks_are_in_alias_order_not_pod_id_order() -> None:
    out = render_config(
        [HostEntry("aaa111", "zeta", "1.2.3.4", 22), HostEntry("bbb222", "alpha", "1.2.3.5", 22)],
        OPTIONS,
        {},
    )
    assert out.text.index("Host alpha.runpod") < out.text.index("Host zeta.runpod")


def test_a_refused_entry_is_named_with_the_reason() -> None:
    out = render_config(
        [
            HostEntry("ABC!", "bad id", "1.2.3.4", 22),
            HostEntry("abc123", "bad port", "1.2.3.4", 0),
        ],
        OPTIONS,
        {},
    )
    assert out.refused == {
        "ABC!": "not a RunPod pod id: 'ABC!'",
        "abc123": "not a TCP port: 0",
    }
    assert out.aliases == {}
