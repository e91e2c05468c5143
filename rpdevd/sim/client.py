"""A stdlib client for the simulator's controls, for processes other than the simulator's own.

control(base_url, api_key, "interrupt", pod_id="abc")  ->  the action's result
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any


class SimControlError(Exception):
    pass


def control(base_url: str, api_key: str, action: str, timeout: float = 30.0, **kwargs: Any) -> Any:
    request = urllib.request.Request(
        f"{base_url.rstrip('/')}/_sim/{action}",
        data=json.dumps(kwargs).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {api_key}"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            body = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        try:
            detail = json.loads(exc.read()).get("error", "")
        except ValueError:
            detail = ""
        raise SimControlError(f"{action}: HTTP {exc.code} {detail}".strip()) from None
    return body.get("result")
