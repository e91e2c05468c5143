"""The `runpodctl` a simulated pod has first on its PATH, as every RunPod pod has RunPod's CLI.

It knows what code on a pod needs of it: `runpodctl get pod [ID]` and `runpodctl stop pod ID`
(also `runpodctl stop pod` with no ID: the pod it runs on, from `RUNPOD_POD_ID`). It talks to the
simulated RunPod's GraphQL API with the key in `RUNPOD_API_KEY`, which on a pod is the pod's own
scoped key: the simulated API accepts it for that pod only. Output and exit statuses follow
runpodctl's: a table for `get`, `pod "ID" stopped` for `stop`, `Error: ...` and status 1 on
failure. It is a Python script run by the simulator's own interpreter (the simulated pod is a
process on this machine, which has that Python; a real pod may have none).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

SCRIPT = '''#!{python}
"""runpodctl of the simulated RunPod (rpdevd/sim/runpodctl.py): get pod [ID], stop pod [ID]."""
import json
import os
import re
import sys
import urllib.error
import urllib.request

API = {api!r}
FIELDS = "id name desiredStatus gpuCount imageName machine {{ gpuDisplayName }}"


def fail(message):
    print("Error: " + message, file=sys.stderr)
    sys.exit(1)


def call(query, variables):
    key = os.environ.get("RUNPOD_API_KEY", "")
    if not key:
        fail("API key not found (RUNPOD_API_KEY is not set)")
    if not API:
        fail("the simulated RunPod is not listening")
    body = json.dumps({{"query": query, "variables": variables}}).encode()
    request = urllib.request.Request(
        API + "/graphql",
        data=body,
        headers={{"Content-Type": "application/json", "Authorization": "Bearer " + key}},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            payload = json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        try:
            payload = json.loads(exc.read())
        except ValueError:
            fail("HTTP %d from the API" % exc.code)
        if not payload.get("errors"):
            fail("HTTP %d from the API" % exc.code)
    except (OSError, ValueError) as exc:
        fail("cannot reach the API: %s" % exc)
    if payload.get("errors"):
        fail(payload["errors"][0].get("message", "unknown error"))
    return payload.get("data") or {{}}


def pod_id(args):
    pid = args[0] if args else os.environ.get("RUNPOD_POD_ID", "")
    if not re.fullmatch(r"[a-z0-9]+", pid or ""):
        fail("a pod id is required (letters and digits)")
    return pid


def table(pods):
    rows = [("ID", "NAME", "GPU", "IMAGE NAME", "STATUS")]
    for p in pods:
        gpu = "%s %s" % (p.get("gpuCount"), (p.get("machine") or {{}}).get("gpuDisplayName") or "")
        rows.append((p["id"], p["name"], gpu.strip(), p.get("imageName") or "", p["desiredStatus"]))
    widths = [max(len(str(r[i])) for r in rows) for i in range(5)]
    for r in rows:
        print("\\t".join(str(v).ljust(w) for v, w in zip(r, widths)).rstrip())


def main(argv):
    if argv[:2] == ["get", "pod"]:
        if len(argv) > 2:
            query = "query ($id: String) {{ pod(input: {{podId: $id}}) {{ %s }} }}" % FIELDS
            pod = call(query, {{"id": pod_id(argv[2:])}}).get("pod")
            if not pod:
                fail("pod not found")
            table([pod])
        else:
            table((call("query {{ myself {{ pods {{ %s }} }} }}" % FIELDS, {{}}).get("myself")
                   or {{}}).get("pods") or [])
        return 0
    if argv[:2] == ["stop", "pod"]:
        pid = pod_id(argv[2:])
        mutation = "mutation ($id: String!) {{ podStop(input: {{podId: $id}}) {{ id desiredStatus }} }}"
        call(mutation, {{"id": pid}})
        print('pod "%s" stopped' % pid)
        return 0
    print("usage: runpodctl get pod [ID] | runpodctl stop pod [ID]"
          " (the simulated RunPod's runpodctl knows only these)", file=sys.stderr)
    return 1


sys.exit(main(sys.argv[1:]))
'''


def install(bindir: Path, api_url: str | None) -> Path:
    """Write `runpodctl` into `bindir` (created) for a simulated RunPod at `api_url`."""
    bindir.mkdir(parents=True, exist_ok=True)
    path = bindir / "runpodctl"
    tmp = path.with_name(".runpodctl.tmp")
    tmp.write_text(SCRIPT.format(python=sys.executable, api=api_url or ""))
    os.chmod(tmp, 0o755)
    os.replace(tmp, path)
    return path
