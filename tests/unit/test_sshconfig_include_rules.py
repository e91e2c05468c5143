"""The Include block's rules at their edges: line spans and line endings byte by byte, the line
numbers each refusal names, and the answers for a file without a block."""

from __future__ import annotations

from pathlib import Path

import pytest

from rpdevd.sshconfig.include import (
    BEGIN,
    END,
    MarkerError,
    find_block,
    include_word,
    installed_at_top,
    newline_of,
    split_lines,
    uninstall,
)


@pytest.mark.parametrize(
    ("data", "spans"),
    [
        (b"", []),
        (b"a\n", [(0, 1, 2)]),
        (b"a", [(0, 1, 1)]),
        (b"\nx", [(0, 0, 1), (1, 2, 2)]),
        (b"a\r\nb\nc", [(0, 1, 3), (3, 4, 5), (5, 6, 6)]),
        (b"\r\n\r\n", [(0, 0, 2), (2, 2, 4)]),
        (b"a\rb\n", [(0, 3, 4)]),  # a lone CR inside a line is content
    ],
)
def test_lines_are_spans_of_content_and_ending(data: bytes, spans: list[tuple[int, ...]]) -> None:
    assert split_lines(data) == spans


@pytest.mark.parametrize(
    ("data", "newline"),
    [
        (b"", b"\n"),
        (b"no ending", b"\n"),
        (b"a\nb\r\n", b"\n"),  # the first line's ending decides
        (b"a\r\nb\n", b"\r\n"),
        (b"\r\nHost x\n", b"\r\n"),
        (b"\nHost x\r\n", b"\n"),
    ],
)
def test_the_files_own_line_ending_is_its_first_lines(data: bytes, newline: bytes) -> None:
    assert newline_of(data) == newline


def test_a_plain_absolute_path_is_quoted_as_is() -> None:
    assert include_word(Path("/X/state dir/ssh config")) == b'"/X/state dir/ssh config"'
    assert include_word(Path("/état/cfg")) == '"/état/cfg"'.encode()


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("relative/cfg", "the generated config path must be absolute: 'relative/cfg'"),
        ("/a\x7fb", "cannot write an Include for '/a\\x7fb': unsupported character"),
        ("/a*b", "cannot write an Include for '/a*b': unsupported character"),
        ("/${HOME}/cfg", "cannot write an Include for '/${HOME}/cfg': unsupported character"),
        ("/a$b{c", None),
    ],
)
def test_include_paths_ssh_would_read_differently_are_refused(
    path: str, message: str | None
) -> None:
    if message is None:  # `$` and `{` apart are plain characters
        assert include_word(Path(path)) == b'"/a$b{c"'
        return
    with pytest.raises(ValueError) as caught:
        include_word(Path(path))
    assert str(caught.value) == message


def lines(*items: bytes) -> bytes:
    return b"".join(item + b"\n" for item in items)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            lines(BEGIN, b"x", BEGIN, END),
            "rpdev's block markers appear more than once (line 1, line 3, line 4); keep one "
            "'# >>> rpdev >>>' ... '# <<< rpdev <<<' pair or remove them all, then retry",
        ),
        (
            lines(b"Host a", BEGIN),
            "rpdev's begin marker (line 2) has no end marker '# <<< rpdev <<<'; "
            "fix or remove it by hand, then retry",
        ),
        (
            lines(b"Host a", b"  User b", END),
            "rpdev's end marker (line 3) has no begin marker '# >>> rpdev >>>'; "
            "fix or remove it by hand, then retry",
        ),
        (
            lines(b"Host a", END, b"x", BEGIN),
            "rpdev's end marker (line 2) comes before its begin marker (line 4); "
            "fix or remove them by hand, then retry",
        ),
        (
            lines(END, BEGIN),
            "rpdev's end marker (line 1) comes before its begin marker (line 2); "
            "fix or remove them by hand, then retry",
        ),
    ],
    ids=["duplicated", "no-end", "no-begin", "reversed", "reversed-adjacent"],
)
def test_each_refusal_names_the_lines_by_number(data: bytes, message: str) -> None:
    with pytest.raises(MarkerError) as caught:
        find_block(data)
    assert str(caught.value) == message


def test_a_file_without_a_block_is_left_as_it_is() -> None:
    data = b"Host mine\r\n  User me"
    assert find_block(data) is None
    assert uninstall(data) == data
    assert installed_at_top(data) is False
