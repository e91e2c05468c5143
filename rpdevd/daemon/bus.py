"""The event bus: every event gets a sequence number, is stored, logged, and fanned out to
subscribers. A subscriber that cannot keep up is cut off rather than slowing the daemon down."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

from rpdevd.daemon.store import Store
from rpdevd.protocol import Event

log = logging.getLogger("rpdevd.events")

QUEUE_LIMIT = 1000
LIVE = "live."


@dataclass(eq=False)
class Subscription:
    kinds: tuple[str, ...] = ()
    pod_id: str | None = None
    queue: asyncio.Queue[Event | None] = field(default_factory=lambda: asyncio.Queue(QUEUE_LIMIT))
    overflowed: bool = False

    def wants(self, ev: Event) -> bool:
        if self.pod_id and ev.pod_id != self.pod_id:
            return False
        return not self.kinds or any(ev.kind.startswith(k) for k in self.kinds)


class EventBus:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.seq = store.last_seq()
        self.subscribers: set[Subscription] = set()

    def publish(self, ev: Event) -> Event:
        """Store, log and fan out. `live.*` events (a new activity sample, sync progress) are
        frequent and only tell clients to refresh: they are fanned out, never stored or logged."""
        ev.t = ev.t or time.time()
        if ev.kind.startswith(LIVE):
            ev.seq = self.seq
        else:
            self.seq += 1
            ev.seq = self.seq
            self.store.add_event(ev)
            level = {"error": logging.ERROR, "warning": logging.WARNING}.get(ev.level, logging.INFO)
            log.log(level, "%s%s: %s", ev.kind, f" [{ev.pod_id}]" if ev.pod_id else "", ev.message)
        for sub in list(self.subscribers):
            if not sub.wants(ev):
                continue
            try:
                sub.queue.put_nowait(ev)
            except asyncio.QueueFull:
                sub.overflowed = True
                self.subscribers.discard(sub)
                with_room = sub.queue
                while not with_room.empty():
                    with_room.get_nowait()
                with_room.put_nowait(None)
        return ev

    def emit(
        self,
        kind: str,
        message: str,
        pod_id: str | None = None,
        level: str = "info",
        **data: object,
    ) -> Event:
        return self.publish(
            Event(kind=kind, message=message, pod_id=pod_id, level=level, data=dict(data))
        )

    def subscribe(self, kinds: tuple[str, ...] = (), pod_id: str | None = None) -> Subscription:
        sub = Subscription(kinds=kinds, pod_id=pod_id)
        self.subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self.subscribers.discard(sub)
