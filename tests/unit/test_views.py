"""The names and shapes of the socket are declared once (rpdevd/protocol.py, rpdevd/views.py), and
the code keeps to them: every event the daemon emits has a declared kind, every declared kind is
emitted somewhere, and the daemon refuses to answer a method that is not declared."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from rpdevd import protocol
from rpdevd.protocol import EVENT_KINDS, METHODS, EventKind

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "rpdevd"

# Where a kind is handed on rather than named: the bus's and the engine's `emit(kind, ...)`, the
# store reading its rows back. Each names a parameter or a column, never a new kind.
PASS_THROUGH = {
    ("rpdevd/daemon/bus.py", "kind"),
    ("rpdevd/sync/engine.py", "kind"),
    ("rpdevd/sync/pull.py", "kind"),
    ("rpdevd/daemon/store.py", "r[2]"),
}


def _kinds(node: ast.expr) -> list[str] | None:
    """The kinds an expression can be: a literal, `EventKind.X`, or a choice of those."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if (
        isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "EventKind"
    ):
        return [EventKind[node.attr].value]
    if isinstance(node, ast.IfExp):
        a, b = _kinds(node.body), _kinds(node.orelse)
        return None if a is None or b is None else a + b
    return None


def emitted_kinds() -> tuple[dict[str, list[str]], list[str]]:
    """kind -> where it is emitted, over the whole package; and the places whose kind is not
    a name this test can read."""
    found: dict[str, list[str]] = {}
    unreadable: list[str] = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            exprs: list[ast.expr] = []
            if isinstance(node, ast.Call):
                f = node.func
                name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", None)
                if name in ("emit", "Event") and node.args:
                    exprs.append(node.args[0])
                if name == "Event":
                    exprs += [k.value for k in node.keywords if k.arg == "kind"]
            elif isinstance(node, ast.Assign):  # ev.kind = "live.sync"
                if any(isinstance(t, ast.Attribute) and t.attr == "kind" for t in node.targets):
                    exprs.append(node.value)
            for expr in exprs:
                kinds = _kinds(expr)
                if kinds is None:
                    if (rel, ast.unparse(expr)) not in PASS_THROUGH:
                        unreadable.append(f"{rel}:{node.lineno}: {ast.unparse(expr)}")
                    continue
                for kind in kinds:
                    found.setdefault(kind, []).append(f"{rel}:{node.lineno}")
    return found, unreadable


def test_every_emitted_event_kind_is_declared() -> None:
    found, unreadable = emitted_kinds()
    assert not unreadable, "event kinds must be literals or EventKind members"
    undeclared = {kind: where for kind, where in found.items() if kind not in EVENT_KINDS}
    assert not undeclared, "declare these in protocol.EventKind"


def test_every_declared_event_kind_is_emitted() -> None:
    found, _ = emitted_kinds()
    assert sorted(EVENT_KINDS - set(found)) == []


def test_the_names_are_dotted_lowercase_and_unique() -> None:
    for name in METHODS | EVENT_KINDS:
        assert protocol.METHOD_RE.match(name), name
    assert len({m.value for m in protocol.Method}) == len(protocol.Method)
    assert len({k.value for k in EventKind}) == len(EventKind)


async def test_the_daemon_refuses_to_register_an_undeclared_method(tmp_path: Path) -> None:
    from rpdevd.daemon.bus import EventBus
    from rpdevd.daemon.server import Server
    from rpdevd.daemon.store import Store

    store = Store(tmp_path / "state.db")
    server = Server(tmp_path / "sock", tmp_path / "lock", EventBus(store), "rpdevd test")

    async def handler(params: dict[str, object]) -> object:
        return None

    with pytest.raises(ValueError, match="not declared"):
        server.register("pod.explode", handler)
    server.register(protocol.Method.PING, handler)
    server.register("status", handler)  # a plain string is the same name
    assert set(server.handlers) == {"ping", "status"}
    store.close()


def test_the_extension_reads_the_declared_views() -> None:
    """contrib/vscode/src/model.ts carries the views as TypeScript interfaces, written from
    rpdevd/views.py; its parsers read the daemon's JSON through them (a key the daemon does not
    send fails `tsc`), so the extension cannot drift from the declaration unnoticed."""
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "views_ts.py")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    model = (ROOT / "contrib" / "vscode" / "src" / "model.ts").read_text(encoding="utf-8")
    for view in ("PodView", "WarningView", "StatusView", "DaemonView", "ApiView"):
        assert f"Loose<{view}>" in model, f"model.ts parses {view} without its declaration"


def test_the_typescript_interfaces_follow_the_views() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("views_ts", ROOT / "scripts" / "views_ts.py")
    assert spec and spec.loader
    views_ts = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(views_ts)
    text = views_ts.render()
    assert "  ssh_alias: string | null;" in text
    assert "  hold_until: number | string | null;" in text
    assert "  sync: SyncRootView[];" in text
    assert "  last_sample: Record<string, unknown> | null;" in text


def test_read_gives_every_declared_key_of_its_declared_type() -> None:
    from rpdevd import views

    hostile = {
        "id": "p1",
        "name": 7,
        "cost_per_hr": float("nan"),
        "gpu_count": True,
        "sync": [{"held": "3", "progress": {"bytes_done": 5}}, "junk"],
        "hold_until": "forever",
        "warning": "x",
        "future_key": 1,
    }
    view = views.read(views.PodView, hostile)
    assert set(view) == set(views.PodView.__annotations__)
    assert (view["id"], view["name"], view["cost_per_hr"], view["gpu_count"]) == ("p1", "", None, 0)
    assert view["hold_until"] == "forever" and view["warning"] is None
    assert view["sync"][0]["held"] == 0 and view["sync"][0]["progress"] is not None
    assert view["sync"][0]["progress"]["bytes_done"] == 5 and view["sync"][1]["id"] == ""
    assert views.read(views.StatusView, "not an object")["pods"] == []
