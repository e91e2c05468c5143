"""rpdev: keep RunPod GPU pods reachable, synced, and stopped when idle."""

__version__ = "0.1.0"
