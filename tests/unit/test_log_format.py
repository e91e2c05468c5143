"""The daemon's log formatter: one line per record whatever a name holds, keys redacted."""

from __future__ import annotations

import logging
import re

from rpdevd.daemon.main import LogFormatter, RedactKey

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def record(msg: str, *args: object, exc: BaseException | None = None) -> logging.LogRecord:
    exc_info = (type(exc), exc, exc.__traceback__) if exc else None
    return logging.LogRecord("rpdevd.test", logging.INFO, __file__, 1, msg, args, exc_info)


def test_a_name_cannot_forge_lines_or_send_escapes() -> None:
    name = "x\n  ProxyCommand evil\nHost *\x1b]0;pwned\x07\r\u202e"
    text = LogFormatter(FORMAT).format(record("pod %s stopped", name))
    assert "\n" not in text and text.isprintable()
    assert text.endswith("pod x?  ProxyCommand evil?Host *?]0;pwned??? stopped")


def test_a_traceback_keeps_its_lines_cleaned_indented_and_redacted() -> None:
    RedactKey.secrets.add("sekret-key-0123456789")
    try:
        raise ValueError("bad\x1b[31m pod\n2026-01-01 INFO forged sekret-key-0123456789")
    except ValueError as exc:
        text = LogFormatter(FORMAT).format(record("failed", exc=exc))
    lines = text.split("\n")
    assert re.match(r"\d{4}-\d\d-\d\d .* INFO rpdevd.test: failed$", lines[0])
    assert all(line.startswith("  ") and line.isprintable() for line in lines[1:])
    assert "sekret-key-0123456789" not in text and "<redacted>" in text


def test_the_record_itself_is_left_for_other_handlers() -> None:
    r = record("name %s", "a\x1bb")
    LogFormatter(FORMAT).format(r)
    assert r.getMessage() == "name a\x1bb"
