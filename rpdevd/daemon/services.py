"""The parts that act on pods, attached to the daemon at start."""

from __future__ import annotations

from rpdevd.daemon.app import Daemon


def attach_services(daemon: Daemon) -> None:
    """Endpoint rediscovery, lifecycle and sync attach here as they land."""
