"""The Include block in ~/.ssh/config: properties over generated config files, checked by ssh."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rpdevd.sshconfig import include
from rpdevd.sshconfig.include import BEGIN, BOM, END, MarkerError

GENERATED = Path("/state dir/rpdev/ssh/config")

words = st.text("abcdefghijklmnopqrstuvwxyz0123456789-.", min_size=1, max_size=12)
unicode_words = st.text(
    st.characters(codec="utf-8", exclude_categories=("C", "Z"), exclude_characters="\"'\\#=%$"),
    min_size=1,
    max_size=10,
)
patterns = st.one_of(words, unicode_words, st.sampled_from(["*", "*.example", "!bad", "h?st"]))
space = st.sampled_from([" ", "\t", "  ", " \t"])
indent = st.sampled_from(["", "  ", "\t", "    "])
comment_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cs")), max_size=30)


@st.composite
def host_line(draw: st.DrawFn) -> str:
    names = draw(st.lists(patterns, min_size=1, max_size=3))
    sep = draw(space)
    return draw(st.sampled_from(["Host", "host", "HOST"])) + sep + sep.join(names)


@st.composite
def option_line(draw: st.DrawFn) -> str:
    key, value = draw(
        st.sampled_from(
            [
                ("User", "bob"),
                ("Port", "2222"),
                ("ServerAliveInterval", "30"),
                ("IdentityFile", '"/keys dir/id_ed25519"'),
                ("ForwardAgent", "no"),
                ("LocalForward", "8080 localhost:80"),
                ("HostName", "203.0.113.5"),
                ("ProxyJump", "none"),
                ("SetEnv", 'FOO="a b"'),
                ("User", "jörg"),
            ]
        )
    )
    sep = draw(st.sampled_from([" ", "=", " = ", "\t", "= "]))
    return draw(indent) + key + sep + value


match_line = st.sampled_from(
    [
        "Match all",
        "Match host foo,bar",
        "Match user root",
        "Match originalhost *.x,!y.x",
        "match Host\tbaz",
    ]
)
include_line = st.sampled_from(
    ["Include /nonexistent/rpdev-test/*", 'Include "/nonexistent/a b/c"', "Include=/nonexistent/x"]
)
comment_line = st.builds(lambda i, t: i + "#" + t, indent, comment_text)
blank_line = st.sampled_from(["", "  ", "\t"])
line = st.one_of(host_line(), option_line(), match_line, include_line, comment_line, blank_line)


@st.composite
def ssh_config(draw: st.DrawFn, bom: bool = False) -> bytes:
    lines = draw(st.lists(line, max_size=25))
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    text = newline.join(lines)
    if lines and draw(st.booleans()):
        text += newline
    data = text.encode("utf-8")
    if bom:
        data = BOM + data
    return data


def ssh_g(config: Path, host: str) -> str:
    out = subprocess.run(
        ["ssh", "-G", "-F", str(config), host],
        capture_output=True,
        timeout=10,
        stdin=subprocess.DEVNULL,
    )
    assert out.returncode == 0, out.stderr.decode(errors="replace")
    return out.stdout.decode(errors="replace")


@settings(max_examples=150, deadline=None)
@given(ssh_config(bom=False) | ssh_config(bom=True))
def test_install_keeps_every_byte_outside_the_block(data: bytes) -> None:
    installed = include.install(data, GENERATED)
    head = BOM if data.startswith(BOM) else b""
    block = include.block_bytes(GENERATED, include.newline_of(data[len(head) :]))
    assert installed == head + block + data[len(head) :]
    assert include.uninstall(installed) == data
    assert include.install(installed, GENERATED) == installed  # idempotent
    assert include.installed_at_top(installed)


@settings(max_examples=60, deadline=None)
@given(ssh_config())
def test_crlf_files_get_a_crlf_block(data: bytes) -> None:
    installed = include.install(data, GENERATED)
    block = installed[: len(installed) - len(data)]
    if b"\r\n" in data[: data.find(b"\n") + 1] and data.find(b"\n") > 0:
        assert block.count(b"\r\n") == block.count(b"\n") == 4
    else:
        assert b"\r" not in block


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ssh_config())
def test_ssh_accepts_the_result_and_reads_it_the_same(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        generated = d / "generated config"
        generated.write_text("Host pod.runpod\n  HostName 192.0.2.77\n  Port 41000\n")
        original = d / "original"
        original.write_bytes(data)
        result = d / "result"
        result.write_bytes(include.install(data, generated))
        # Hosts rpdev does not manage are configured exactly as before...
        for host in ("somehost", "foo"):
            assert ssh_g(result, host) == ssh_g(original, host)
        # ... and rpdev's hosts take rpdev's values, whatever the user's file says.
        settings_ = ssh_g(result, "pod.runpod").splitlines()
        assert "hostname 192.0.2.77" in settings_
        assert "port 41000" in settings_
        restored = d / "restored"
        restored.write_bytes(include.uninstall(result.read_bytes()))
        assert restored.read_bytes() == data


def test_an_empty_or_missing_file_gets_just_the_block() -> None:
    assert include.install(b"", GENERATED) == include.block_bytes(GENERATED)
    assert include.uninstall(include.install(b"", GENERATED)) == b""


def test_a_block_moved_down_goes_back_to_the_top() -> None:
    block = include.block_bytes(GENERATED)
    data = b"Host a\n  User x\n" + block + b"Host b\n"
    assert not include.installed_at_top(data)
    assert include.install(data, GENERATED) == block + b"Host a\n  User x\nHost b\n"


def test_an_old_block_is_replaced_when_the_path_changes() -> None:
    old = include.install(b"Host a\n", Path("/old/place/config"))
    assert include.install(old, GENERATED) == include.install(b"Host a\n", GENERATED)


def test_the_include_path_is_quoted_and_checked() -> None:
    assert b'Include "/state dir/rpdev/ssh/config"' in include.block_bytes(GENERATED)
    for bad in ("relative/config", "/a*b/config", '/a"b', "/a\nb", "/x/%d"):
        with pytest.raises(ValueError):
            include.block_bytes(Path(bad))


BROKEN = {
    "duplicated begin": BEGIN + b"\n" + BEGIN + b"\nInclude x\n" + END + b"\n",
    "duplicated block": (BEGIN + b"\n" + END + b"\n") * 2,
    "reversed": END + b"\nInclude x\n" + BEGIN + b"\n",
    "begin only": b"Host a\n" + BEGIN + b"\nInclude x\n",
    "end only": b"Include x\n" + END + b"\nHost a\n",
    "edited end": BEGIN + b"\n" + b"# <<< rpdev was here\n" + END + b"\n",
}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_broken_markers_are_refused_with_an_explanation(name: str) -> None:
    data = b"Host keep\n  User me\n" + BROKEN[name]
    with pytest.raises(MarkerError) as info:
        include.install(data, GENERATED)
    assert "line" in str(info.value) and "rpdev" in str(info.value)
    with pytest.raises(MarkerError):
        include.uninstall(data)


@settings(max_examples=60, deadline=None)
@given(ssh_config(), st.data())
def test_any_broken_marker_layout_is_refused(data: bytes, draw: st.DataObject) -> None:
    lines = data.split(b"\n")
    markers = draw.draw(st.lists(st.sampled_from([BEGIN, END]), min_size=1, max_size=4))
    for marker in markers:
        lines.insert(draw.draw(st.integers(0, len(lines))), marker)
    broken = b"\n".join(lines)
    if [line for line in lines if line in (BEGIN, END)] == [BEGIN, END]:
        include.install(broken, GENERATED)  # a proper block after all: accepted
        return
    with pytest.raises(MarkerError):
        include.install(broken, GENERATED)
    with pytest.raises(MarkerError):
        include.uninstall(broken)
