"""A pod's SSH endpoint: found in the API's `runtime.ports`, confirmed from inside the pod.

The API can report a stale port (or IP) for a while after a resume, and a port may by then belong
to another pod. So a candidate endpoint is trusted only after connecting to it and reading, inside
the pod, `RUNPOD_POD_ID`, `RUNPOD_TCP_PORT_22` and `RUNPOD_PUBLIC_IP`: the id must be the pod's and
the port (and the address, when the pod reports one) must be the one connected to.

The pod's host key is new after every restart, so the connection accepts whatever key the server
offers, only to read it; it is pinned (rpdevd.sshconfig.known_hosts) only once the identity
matched. Nothing here writes a file: a failed confirmation leaves every file as it was.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

from rpdevd.sshconfig.known_hosts import HostKey, Pinned, parse_key, pin_host_key
from rpdevd.sshconfig.render import host_key_alias

VARIABLES = ("RUNPOD_POD_ID", "RUNPOD_PUBLIC_IP", "RUNPOD_TCP_PORT_22")
MAX_OUTPUT = 16 * 1024

# Runs under POSIX sh in the pod (fed on stdin, so the login shell's quoting never matters).
# Each variable comes from the session, else /etc/rp_environment (RunPod's start script writes
# `export NAME="value"` lines there, sourced only by interactive shells), else PID 1's
# environment. $1/$2 override those two paths, for tests only.
IDENTITY_SCRIPT = r"""
rp_file=${1:-/etc/rp_environment}
init_env=${2:-/proc/1/environ}
for name in RUNPOD_POD_ID RUNPOD_PUBLIC_IP RUNPOD_TCP_PORT_22; do
  eval "value=\${$name-}"
  src=session
  if [ -z "$value" ] && [ -r "$rp_file" ]; then
    value=$(sed -n "s/^[[:space:]]*\(export[[:space:]][[:space:]]*\)\{0,1\}$name=//p" \
      "$rp_file" 2>/dev/null | tail -n 1)
    src=file
  fi
  if [ -z "$value" ] && [ -r "$init_env" ]; then
    value=$(tr '\000' '\n' 2>/dev/null < "$init_env" | sed -n "s/^$name=//p" | head -n 1)
    src=init
  fi
  [ -n "$value" ] || src=none
  printf '%s\t%s\t%s\n' "$name" "$src" "$value"
done
"""

FailureKind = Literal["unreachable", "auth_failed", "wrong_pod", "stale_endpoint", "no_identity"]


@dataclass(frozen=True)
class Identity:
    """What the pod says about itself, and where each value was found."""

    pod_id: str | None
    public_ip: str | None
    port: int | None
    sources: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ConfirmedEndpoint:
    pod_id: str
    host: str
    port: int
    host_key: str  # OpenSSH public key line, `ssh-ed25519 AAAA...`
    fingerprint: str  # `SHA256:...`, as ssh-keygen -l shows it
    identity: Identity


@dataclass(frozen=True)
class EndpointFailure:
    kind: FailureKind
    message: str
    pod_id: str
    host: str
    port: int

    @property
    def retry(self) -> bool:
        """Worth trying again on the next poll (the API may still report an old endpoint)."""
        return self.kind != "auth_failed"


Confirmation = ConfirmedEndpoint | EndpointFailure


def ssh_endpoint(runtime: Mapping[str, Any] | None) -> tuple[str, int] | None:
    """The candidate (ip, public port) from a pod's GraphQL `runtime`, None while there is none
    (runtime null: the pod is starting; or no public port 22 yet)."""
    if not runtime:
        return None
    for port in runtime.get("ports") or ():
        if not isinstance(port, Mapping):
            continue
        if port.get("privatePort") == 22 and port.get("isIpPublic") is True:
            ip, public = port.get("ip"), port.get("publicPort")
            if isinstance(ip, str) and isinstance(public, int) and 0 < public < 65536:
                return ip, public
    return None


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


def parse_identity(output: str) -> Identity:
    """The identity script's output, every value checked (the pod's word is input like any)."""
    values: dict[str, str] = {}
    sources: dict[str, str] = {}
    for line in output.splitlines():
        parts = line.split("\t", 2)
        if len(parts) == 3 and parts[0] in VARIABLES and parts[0] not in values:
            sources[parts[0]] = parts[1]
            values[parts[0]] = _unquote(parts[2])
    pod_id = values.get("RUNPOD_POD_ID") or None
    if pod_id is not None and not re.fullmatch(r"[a-z0-9]{1,64}", pod_id):
        pod_id = None
    port_text = values.get("RUNPOD_TCP_PORT_22", "")
    port = int(port_text) if port_text.isdigit() and 0 < int(port_text) < 65536 else None
    ip = values.get("RUNPOD_PUBLIC_IP") or None
    if ip is not None:
        try:
            ip = str(ipaddress.ip_address(ip))
        except ValueError:
            ip = None
    return Identity(pod_id=pod_id, public_ip=ip, port=port, sources=sources)


def _same_address(a: str, b: str) -> bool:
    try:
        return ipaddress.ip_address(a) == ipaddress.ip_address(b)
    except ValueError:
        return a == b


def judge(pod_id: str, host: str, port: int, identity: Identity) -> EndpointFailure | None:
    """Pure: does what the pod said prove that `host:port` is `pod_id`'s SSH endpoint?"""

    def fail(kind: FailureKind, message: str) -> EndpointFailure:
        return EndpointFailure(kind, message, pod_id, host, port)

    if identity.pod_id is None or identity.port is None:
        return fail("no_identity", f"{host}:{port} did not say which pod it is")
    if identity.pod_id != pod_id:
        return fail("wrong_pod", f"{host}:{port} is pod {identity.pod_id}, not {pod_id}")
    if identity.port != port:
        return fail(
            "stale_endpoint",
            f"pod {pod_id} says its SSH port is {identity.port}, not {port} (stale API data)",
        )
    if identity.public_ip is not None and not _same_address(identity.public_ip, host):
        return fail(
            "stale_endpoint",
            f"pod {pod_id} says its address is {identity.public_ip}, not {host} (stale API data)",
        )
    return None


async def read_identity(conn: Any, timeout: float) -> Identity:
    """Run the identity script over `conn` (an asyncssh connection); read at most MAX_OUTPUT."""

    async def run() -> str:
        async with conn.create_process("sh -s") as process:
            process.stdin.write(IDENTITY_SCRIPT)
            process.stdin.write_eof()
            chunks: list[str] = []
            size = 0
            while size < MAX_OUTPUT:  # a hostile server cannot make this grow without bound
                chunk = await process.stdout.read(MAX_OUTPUT - size)
                if not isinstance(chunk, str) or not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
            return "".join(chunks)

    return parse_identity(await asyncio.wait_for(run(), timeout))


async def confirm_endpoint(
    pod_id: str,
    host: str,
    port: int,
    username: str,
    client_keys: Sequence[str | Path] | None,
    *,
    timeout: float = 10.0,
) -> Confirmation:
    """Connect to `host:port`, check from inside that it is `pod_id`, and return its host key.

    Never raises for a pod-side problem: every failure comes back as an EndpointFailure."""
    from rpdevd.sshlib import asyncssh  # the CLI never needs it

    def fail(kind: FailureKind, message: str) -> EndpointFailure:
        return EndpointFailure(kind, message, pod_id, host, port)

    keys: Any = ()  # () = asyncssh's defaults: ~/.ssh/id_* and the agent
    agent: Any = ()
    if client_keys is not None:
        try:
            keys, agent = await asyncio.to_thread(asyncssh.load_keypairs, list(client_keys)), None
        except (OSError, ValueError) as e:
            if not os.environ.get("SSH_AUTH_SOCK"):
                names = ", ".join(str(k) for k in client_keys)
                return fail("auth_failed", f"cannot use identity file {names}: {e}")
            # A passphrase-protected key: the agent holding it may still get us in.
    try:
        conn = await asyncio.wait_for(
            asyncssh.connect(
                host,
                port,
                username=username,
                client_keys=keys,
                known_hosts=None,  # accept the (new) key to read it; pinned only if confirmed
                config=None,  # never the user's ~/.ssh/config, which includes ours
                agent_path=agent,
                preferred_auth="publickey",
                connect_timeout=timeout,
                login_timeout=timeout,
                keepalive_interval=0,
            ),
            timeout + 1,
        )
    except asyncssh.PermissionDenied as e:
        return fail("auth_failed", f"{host}:{port} refused rpdev's key for {username}: {e}")
    except (TimeoutError, OSError, asyncssh.Error) as e:
        return fail("unreachable", f"cannot reach {host}:{port}: {e or type(e).__name__}")
    try:
        key = conn.get_server_host_key()
        if key is None:
            return fail("unreachable", f"{host}:{port} presented no host key")
        try:
            host_key: HostKey = parse_key(key.export_public_key("openssh").decode("ascii"))
        except ValueError as e:  # a key type or form rpdev cannot pin
            return fail("unreachable", f"{host}:{port} offered a host key rpdev cannot pin: {e}")
        try:
            identity = await read_identity(conn, timeout)
        except (TimeoutError, OSError, asyncssh.Error) as e:
            return fail("unreachable", f"{host}:{port} dropped the identity check: {e}")
    finally:
        conn.close()
        try:
            await asyncio.wait_for(conn.wait_closed(), 2)
        except (TimeoutError, OSError, asyncssh.Error):
            pass
    failure = judge(pod_id, host, port, identity)
    if failure is not None:
        return failure
    return ConfirmedEndpoint(pod_id, host, port, host_key.line, host_key.fingerprint, identity)


@dataclass(frozen=True)
class Rediscovered:
    endpoint: ConfirmedEndpoint
    pinned: Pinned


async def confirm_and_pin(
    pod_id: str,
    host: str,
    port: int,
    username: str,
    client_keys: Sequence[str | Path] | None,
    known_hosts: Path,
    *,
    timeout: float = 10.0,
) -> Rediscovered | EndpointFailure:
    """Confirm, then (only then) pin the key under the pod's HostKeyAlias. The caller rewrites
    the generated config next, and records an event when `pinned.changed`."""
    result = await confirm_endpoint(pod_id, host, port, username, client_keys, timeout=timeout)
    if isinstance(result, EndpointFailure):
        return result
    pinned = await asyncio.to_thread(
        pin_host_key, host_key_alias(pod_id), result.host_key, known_hosts
    )
    return Rediscovered(result, pinned)


# The endpoint's state, as the daemon keeps it per managed pod ----------------------------------

EndpointState = Literal["none", "stopped", "starting", "confirming", "confirmed", "unreachable"]
"""none: never seen running; stopped: not running; starting: running, no public port 22 yet;
confirming: a candidate is being checked inside the pod; confirmed: the pod proved the endpoint
(its key pinned); unreachable: the last check failed, retried with backoff."""

ENDPOINT_STATES: tuple[EndpointState, ...] = get_args(EndpointState)


@dataclass(frozen=True)
class Seen:
    """What the latest poll says of a pod, and where its confirmation stands."""

    running: bool
    candidate: tuple[str, int] | None  # the API's (host, port) for port 22, None while none
    confirmed: tuple[str, int] | None  # the endpoint confirmed last, if any
    checking: bool = False  # a confirmation is in flight
    due: bool = True  # the backoff after the last failure is over (or the candidate is new)


@dataclass(frozen=True)
class Transition:
    """The next state, and what the daemon does about it."""

    state: EndpointState
    withdraw: bool = False  # the confirmed endpoint is nobody's to use any more
    confirm: bool = False  # check the candidate inside the pod now


def _to(old: EndpointState, new: EndpointState, *, confirm: bool = False) -> Transition:
    return Transition(new, withdraw=old == "confirmed" and new != "confirmed", confirm=confirm)


def after_poll(state: EndpointState, seen: Seen) -> Transition:
    """Pure: the endpoint's state once a poll reported the pod. Only a confirmed endpoint is
    anyone's to use; leaving `confirmed` withdraws it, whatever the reason."""
    if not seen.running:
        return Transition(state) if state in ("none", "stopped") else _to(state, "stopped")
    if seen.candidate is None:
        return Transition(state) if state == "starting" else _to(state, "starting")
    if state == "confirmed" and seen.candidate == seen.confirmed:
        return Transition(state)
    if seen.checking or not seen.due:
        return Transition(state)
    # A new candidate, or one to try again; a confirmed pod that moved (a restart the polls
    # never showed stopped) has its old endpoint withdrawn until the new one is confirmed.
    return _to(state, "confirming", confirm=True)


def after_check(state: EndpointState, failure: FailureKind | None) -> Transition:
    """Pure: the endpoint's state once a check inside the pod answered (`failure` None: it
    confirmed the candidate). A confirmed endpoint only unreachable for a moment stays."""
    if failure is None:
        return Transition("confirmed")
    if state == "confirmed" and failure == "unreachable":
        return Transition(state)
    return _to(state, "unreachable")
