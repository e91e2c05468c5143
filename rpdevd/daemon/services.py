"""The parts that act on pods, attached to the daemon at start."""

from __future__ import annotations

from rpdevd.daemon.app import Daemon


def attach_services(daemon: Daemon) -> None:
    from rpdevd.daemon.endpoints import EndpointService
    from rpdevd.daemon.lifecycle import LifecycleService
    from rpdevd.daemon.syncs import SyncService

    endpoints = EndpointService(daemon)
    daemon.services.append(endpoints)
    daemon.endpoints = endpoints
    lifecycle = LifecycleService(daemon)
    daemon.services.append(lifecycle)
    daemon.lifecycle = lifecycle
    syncs = SyncService(daemon)
    daemon.services.append(syncs)
    lifecycle.edit_counter = syncs.edits
    endpoints.on_confirmed.append(syncs.endpoint_confirmed)
