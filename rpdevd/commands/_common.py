"""Helpers shared by the command modules: talking to the daemon, printing results and errors."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Coroutine
from typing import Any, Protocol, TypeVar

from rpdevd.client import Client, DaemonNotRunning
from rpdevd.protocol import ProtocolError, RemoteError
from rpdevd.text import clean, json_dumps
from rpdevd.views import PodView

# Help texts every command gives the same way.
POD_HELP = "the pod: its id, its name, or its SSH alias (`rpdev pods` lists them)"
JSON_HELP = "print the result as JSON, for scripts"


def fail(message: str, hint: str | None = None, code: int = 1) -> int:
    """An error on stderr, `rpdev: ` first; both lines cleaned (they often quote a pod's name)."""
    print(f"rpdev: {clean(message)}", file=sys.stderr)
    if hint:
        print(f"  hint: {clean(hint)}", file=sys.stderr)
    return code


def say(*parts: object) -> None:
    """One line of output made of text from the daemon (a pod's name, a message): cleaned."""
    print(" ".join(clean(p) for p in parts))


def print_json(value: Any) -> None:
    print(json_dumps(value, indent=2))


def daemon_call(
    method: str, params: dict[str, Any] | None = None, *, timeout: float = 60.0
) -> tuple[Any, int]:
    """(result, 0) or (None, exit code) after printing what went wrong and what to do."""
    try:
        with Client(timeout=timeout) as c:
            return c.call(method, params), 0
    except DaemonNotRunning as exc:
        return None, fail(str(exc), code=3)
    except RemoteError as exc:
        return None, fail(exc.message, exc.hint)
    except (ProtocolError, OSError, TimeoutError) as exc:
        return None, fail(
            f"talking to rpdevd failed: {exc}",
            "check `rpdev daemon status`; restart it with "
            "`rpdev daemon stop && rpdev daemon start`",
        )


def run_call(
    method: str,
    params: dict[str, Any] | None,
    as_json: bool,
    render: Callable[[Any], None],
    timeout: float = 60.0,
) -> int:
    result, code = daemon_call(method, params, timeout=timeout)
    if code:
        return code
    if as_json:
        print_json(result)
    else:
        render(result)
    return 0


class PassReport(Protocol):
    """What a one-shot pass (`sync once`, `pull`) reports: `ok`, and the rest as JSON."""

    @property
    def ok(self) -> bool: ...

    def to_json(self) -> dict[str, Any]: ...


R = TypeVar("R", bound=PassReport)


def run_pass(
    main: Callable[[], Coroutine[Any, Any, R]],
    *,
    as_json: bool,
    fail: Callable[[str], int],
    end_bar: Callable[[], None],
    close: Callable[[], None],
) -> tuple[R | None, int]:
    """Run a one-shot command's pass to its report: (report, 0), the report already printed
    as JSON with `as_json` (`ok` first); or (None, what `fail` returned) once it has said what
    went wrong. Any error (a lost connection, asyncssh's, a local folder gone) is shown as
    its message, never as a traceback. `end_bar` ends a progress bar before anything else
    is printed; `close` (the baseline's database) runs whatever happens."""
    import asyncio

    try:
        report = asyncio.run(main())
    except Exception as exc:  # noqa: BLE001 - every failure is reported the same way
        end_bar()
        return None, fail(str(exc) or type(exc).__name__)
    finally:
        close()
    end_bar()
    if as_json:
        print(json_dumps({"ok": report.ok, **report.to_json()}))
    return report, 0


class PodChoiceError(Exception):
    """No pod, or several, answer to what the user typed: what went wrong and what to do."""

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.message, self.hint = message, hint


def pick_pod(pods: list[PodView], ref: str) -> PodView:
    """The pod `ref` names among the daemon's pod views, chosen as the daemon chooses: an id
    first, then a name, then an SSH alias (with or without `.runpod`). PodChoiceError when
    none or several match."""
    for p in pods:
        if p["id"] == ref:
            return p
    matches = [p for p in pods if p["name"] == ref] or [
        p for p in pods if p["ssh_alias"] in (ref, f"{ref}.runpod")
    ]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise PodChoiceError(f"no pod named or with id {ref!r}", "`rpdev pods` lists them")
    ids = ", ".join(p["id"] for p in matches)
    raise PodChoiceError(f"several pods are named {ref!r}: {ids}", "use the pod id instead")


def table(rows: list[list[str]], headers: list[str]) -> str:
    rows = [[clean(c) for c in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    for row in rows:
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    return "\n".join(lines)


def safe_text(text: object, limit: int = 40) -> str:
    """A name from the API, made safe for a terminal: no control characters, bounded."""
    return clean(text, limit)


def money(value: float | None) -> str:
    return "-" if value is None else f"${value:.2f}"


def ago(t: float | None) -> str:
    if not t:
        return "never"
    s = max(0, int(time.time() - t))
    return f"{s}s ago" if s < 120 else f"{s // 60}m ago" if s < 7200 else f"{s // 3600}h ago"


def countdown(deadline: float | None) -> str:
    if not deadline:
        return ""
    s = int(deadline - time.time())
    if s <= 0:
        return "now"
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"
