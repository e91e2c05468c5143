#!/usr/bin/env python3
"""Write the VS Code extension's wire interfaces from rpdevd/views.py.

The block between the two marker lines of contrib/vscode/src/model.ts is this script's output:
one TypeScript interface per view, keys as the daemon sends them. The extension's parsers read
the raw JSON through these interfaces, so a key the daemon does not send fails to compile there,
and tests/unit/test_views.py fails while the block differs from what this script writes.

    scripts/views_ts.py            # exit 1 (and show the difference) when model.ts is stale
    scripts/views_ts.py --write    # rewrite the block
"""

from __future__ import annotations

import difflib
import sys
import types
import typing
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "contrib" / "vscode" / "src" / "model.ts"
BEGIN = "// --- views: written by scripts/views_ts.py from rpdevd/views.py; do not edit by hand ---"
END = "// --- end of views ---"

sys.path.insert(0, str(ROOT))
from rpdevd import views  # noqa: E402


def ts_type(tp: object) -> str:
    origin = typing.get_origin(tp)
    if tp is typing.Any:
        return "unknown"
    if tp is type(None):
        return "null"
    if tp is str:
        return "string"
    if tp in (int, float):
        return "number"
    if tp is bool:
        return "boolean"
    if typing.is_typeddict(tp):
        return tp.__name__  # type: ignore[attr-defined]
    if origin in (typing.Union, types.UnionType):
        parts: list[str] = []
        for arg in typing.get_args(tp):
            text = ts_type(arg)
            if text not in parts:
                parts.append(text)
        return " | ".join(parts)
    if origin is typing.Literal:
        return " | ".join(f'"{a}"' for a in typing.get_args(tp))
    if origin is list:
        (item,) = typing.get_args(tp)
        inner = ts_type(item)
        return f"({inner})[]" if " | " in inner else f"{inner}[]"
    if origin is dict:
        key, value = typing.get_args(tp)
        return f"Record<{ts_type(key)}, {ts_type(value)}>"
    raise TypeError(f"no TypeScript for {tp!r}")


def render() -> str:
    lines = [BEGIN]
    for view in views.VIEWS:
        # With postponed annotations `__optional_keys__` misses NotRequired: read the marks.
        hints = typing.get_type_hints(view, include_extras=True)
        lines.append(f"export interface {view.__name__} {{")
        for key, tp in hints.items():
            mark = "?" if key in view.__optional_keys__ else ""  # type: ignore[attr-defined]
            if typing.get_origin(tp) is typing.NotRequired:
                mark, tp = "?", typing.get_args(tp)[0]
            lines.append(f"  {key}{mark}: {ts_type(tp)};")
        lines.append("}")
    lines.append(END)
    return "\n".join(lines)


def current(text: str) -> str:
    start, end = text.index(BEGIN), text.index(END) + len(END)
    return text[start:end]


def main(argv: list[str]) -> int:
    text = MODEL.read_text(encoding="utf-8")
    want = render()
    have = current(text)
    if have == want:
        return 0
    if "--write" in argv:
        MODEL.write_text(text.replace(have, want), encoding="utf-8")
        return 0
    sys.stdout.writelines(
        difflib.unified_diff(
            have.splitlines(True), (want + "\n").splitlines(True), "model.ts", "views.py"
        )
    )
    print(f"\n{MODEL.relative_to(ROOT)} is stale: run scripts/views_ts.py --write")
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
