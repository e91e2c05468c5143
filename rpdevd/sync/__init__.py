"""Live sync: one local directory kept in step with one directory on a pod.

Public entry points (see docs/sync.md for the semantics):

    from rpdevd.sync.engine import SyncEngine, SyncSpec, SyncStopped
    from rpdevd.sync.batch import SyncReport  # what a pass or batch did
    from rpdevd.sync.live import LiveSync      # a SyncEngine kept live (watch, reconnects)
    from rpdevd.sync.baseline import Baseline
    from rpdevd.sync.destination import parse_destination, connect, ConnectOptions
    from rpdevd.sync.plan import plan          # the pure planner
"""
