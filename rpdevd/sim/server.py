"""A simulated RunPod on loopback: GraphQL at `/graphql`, controls at `/_sim/<action>`.

    sim = SimRunPod(root, api_key="sim-key", authorized_keys=client_key.public)
    os.environ["RUNPOD_API_BASE_URL"] = await sim.start()
    pod = await sim.add_pod(name="trainer")
    ...
    await sim.stop()

Requests need `Authorization: Bearer <api_key>` (or `?api_key=`, which RunPod also accepts);
anything else gets HTTP 401, as on RunPod. A pod's own key (its `RUNPOD_API_KEY`) is accepted
for that pod only: `pod` and `podStop` naming it; anything else with it is a GraphQL error. GraphQL errors come back as HTTP 200 with an `errors`
array carrying RunPod's message texts; a query that does not parse or names an unknown field
gets HTTP 400. Lifecycle, controls and faults live in `SimRunPod` (lifecycle.py).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from pathlib import Path
from typing import Any

from aiohttp import web
from graphql import graphql

from rpdevd.sim.controls import CONTROL_ACTIONS, call_control
from rpdevd.sim.lifecycle import SimLifecycle
from rpdevd.sim.schema import SCHEMA, root_value

log = logging.getLogger("rpdevd.sim")

MAX_REQUEST = 1 << 20


class SimRunPod(SimLifecycle):
    """The simulated RunPod account: pods, faults, a call log, and its HTTP server."""

    def __init__(
        self,
        root: Path,
        api_key: str,
        authorized_keys: str,
        *,
        host: str = "127.0.0.1",
        private_workspace: bool = False,
    ) -> None:
        super().__init__(Path(root), authorized_keys, private_workspace=private_workspace)
        if not api_key:
            raise ValueError("the simulated RunPod needs an API key to check")
        self._api_key = api_key
        self.host = host
        self.base_url: str | None = None
        self._runner: web.AppRunner | None = None
        self._root_value = root_value(self)

    def __repr__(self) -> str:
        return f"SimRunPod(url={self.base_url!r}, pods={len(self.pods)})"

    async def start(self, port: int = 0) -> str:
        """Listen on `host:port` (a free port by default); return the base URL."""
        app = web.Application(client_max_size=MAX_REQUEST)
        app.router.add_post("/graphql", self._handle_graphql)
        app.router.add_post("/_sim/{action}", self._handle_control)
        app.router.add_get("/_sim/{action}", self._handle_control)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, port)
        await site.start()
        bound = self._runner.addresses[0][1]
        self.base_url = f"http://{self.host}:{bound}"
        return self.base_url

    async def stop(self) -> None:
        """Stop every pod's sshd and the HTTP server."""
        await self.stop_all_sshd()
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> SimRunPod:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ---- HTTP ---------------------------------------------------------------------------------

    def _given_key(self, request: web.Request) -> str:
        header = request.headers.get("Authorization", "")
        return header[7:] if header.startswith("Bearer ") else request.query.get("api_key", "")

    def _authorized(self, request: web.Request) -> bool:
        return hmac.compare_digest(self._given_key(request).encode(), self._api_key.encode())

    def _key_scope(self, request: web.Request) -> str | None:
        """The pod whose own key the request carries, or None (the account's key, or none)."""
        given = self._given_key(request).encode()
        for pod in self.pods.values():
            if hmac.compare_digest(given, pod.api_key.encode()):
                return pod.id
        return None

    async def _handle_graphql(self, request: web.Request) -> web.Response:
        self.requests += 1
        delay = self.faults.take_slow()
        if delay:
            await asyncio.sleep(delay)
        scope = None if self._authorized(request) else self._key_scope(request)
        if scope is None and not self._authorized(request):
            return web.json_response({"errors": [{"message": "Unauthorized"}]}, status=401)
        fault = self.faults.take_http()
        if fault is not None:
            headers = {}
            if fault.retry_after is not None:
                headers["Retry-After"] = str(int(fault.retry_after))
            if fault.body == "json":
                return web.json_response(
                    {"errors": [{"message": f"HTTP {fault.status} from the simulator"}]},
                    status=fault.status,
                    headers=headers,
                )
            return web.Response(
                status=fault.status,
                headers=headers,
                content_type="text/html",
                text=f"<html><body><h1>{fault.status}</h1></body></html>",
            )
        if self.faults.take_malformed():
            return web.Response(
                status=200, content_type="application/json", text='{"data": {"myself": {"pods": ['
            )
        try:
            body = await request.json()
            query = body.get("query") if isinstance(body, dict) else None
            variables = body.get("variables") if isinstance(body, dict) else None
        except (ValueError, UnicodeDecodeError):
            query = variables = None
        if not isinstance(query, str):
            return web.json_response(
                {"errors": [{"message": "Must provide query string."}]}, status=400
            )
        result = await graphql(
            SCHEMA,
            query,
            root_value=self._root_value,
            context_value={"pod_scope": scope},
            variable_values=variables if isinstance(variables, dict) else None,
        )
        payload: dict[str, Any] = {"data": result.data}
        if result.errors:
            payload["errors"] = [{"message": e.message, "path": e.path} for e in result.errors]
        # Parse and validation errors have no data at all: RunPod answers those with HTTP 400.
        status = 400 if result.errors and result.data is None else 200
        return web.json_response(payload, status=status)

    async def _handle_control(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return web.json_response({"ok": False, "error": "Unauthorized"}, status=401)
        action = request.match_info["action"]
        if action not in CONTROL_ACTIONS:
            return web.json_response(
                {"ok": False, "error": f"unknown action; one of {sorted(CONTROL_ACTIONS)}"},
                status=404,
            )
        kwargs: Any = {}
        if request.method == "POST" and request.can_read_body:
            try:
                kwargs = await request.json()
            except (ValueError, UnicodeDecodeError):
                kwargs = None
        if not isinstance(kwargs, dict):
            return web.json_response(
                {"ok": False, "error": "body must be a JSON object"}, status=400
            )
        try:
            result = await call_control(self, action, kwargs)
        except (KeyError, ValueError, TypeError) as exc:
            return web.json_response({"ok": False, "error": str(exc)}, status=400)
        return web.json_response({"ok": True, "result": result}, dumps=_dumps)


def _dumps(obj: Any) -> str:
    return json.dumps(obj, default=str)
