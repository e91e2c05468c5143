"""The daemon's parts, built at start with what each needs, and wired to each other here only.

    ConnectionPool ◄── confirmed / withdrawn ── EndpointService ──► SshConfigWriter
      │  get(pod) · subscribe(on confirmed)
      ├──► LifecycleService (probe, `wall`)      ◄── edits ── SyncService
      ├──► SyncService (its roots reconnect on each confirmation)
      ├──► ForwardService (port forwards: channels on each pod's connection)
      ├──► GuardService (the pod-side guard: install, heartbeat, removal; the lifecycle's
      │     policy and ledger)
      └──► Waker (`pod.wake` waits for a confirmed endpoint)

Every part gets the daemon as a `DaemonCore` (core.py) and `register` for its socket methods;
none reaches another through the daemon.
"""

from __future__ import annotations

from rpdevd.daemon.app import Daemon
from rpdevd.daemon.connections import ConnectionPool
from rpdevd.daemon.endpoints import EndpointService
from rpdevd.daemon.forwards import ForwardService
from rpdevd.daemon.guard import GuardService
from rpdevd.daemon.lifecycle import LifecycleService
from rpdevd.daemon.lifecycle_methods import register_lifecycle_methods
from rpdevd.daemon.methods import register_core_methods
from rpdevd.daemon.ssh_config import SshConfigWriter
from rpdevd.daemon.sync_methods import register_sync_methods
from rpdevd.daemon.syncs import SyncService
from rpdevd.daemon.wake import Waker


def attach_services(daemon: Daemon, pool: ConnectionPool | None = None) -> ConnectionPool:
    """Build the parts on `daemon` (its socket methods included); returns the connection pool,
    which the pod-side parts to come (a guard, port forwards) are handed too."""
    register = daemon.server.register
    register_core_methods(daemon)
    pool = pool or ConnectionPool()
    writer = SshConfigWriter(daemon, register)
    endpoints = EndpointService(daemon, pool, writer)
    Waker(daemon, pool, register)
    syncs = SyncService(daemon, pool)
    register_sync_methods(register, daemon, syncs)
    lifecycle = LifecycleService(daemon, pool, edits=syncs.edits)
    register_lifecycle_methods(register, daemon, lifecycle)
    guard = GuardService(daemon, pool, lifecycle.policy, lifecycle.record_guard_stop)
    pool.subscribe(guard.endpoint_confirmed)
    pool.subscribe(syncs.endpoint_confirmed)
    daemon.reloader.hooks.append(syncs.apply)  # config.toml read again: its roots
    forwards = ForwardService(daemon, pool, register)
    pool.subscribe(forwards.endpoint_confirmed)
    daemon.reloader.hooks.append(forwards.apply)  # config.toml read again: its forwards
    daemon.services += [pool, endpoints, lifecycle, syncs, forwards, guard]
    return pool
