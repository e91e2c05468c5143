"""No API key the daemon uses reaches a log line, whatever text carries it there: the daemon's one
log formatter redacts it on every handler (its log file and, in the foreground, stderr)."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import pytest

from rpdevd import paths
from rpdevd.client import Client
from rpdevd.daemon.main import LogFormatter, RedactKey
from tests.integration.harness import API_KEY, SimThread, wait_until, write_config

pytestmark = pytest.mark.timeout(120)


def test_a_key_in_text_from_runpod_is_redacted_in_the_daemons_logs(
    sim: SimThread, home: Path, start_daemon
) -> None:
    # A pod name is text from RunPod's API; this one carries the key into the daemon's events.
    name = f"leak {API_KEY}"
    sim.run(sim.sim.add_pod(name=name))
    write_config(home, f'poll_interval = "1s"\n[[pod]]\nname = "{name}"\n')
    daemon = start_daemon()

    def added() -> list[dict]:
        with Client(timeout=10) as c:
            return [
                e for e in c.call("events", {"limit": 100})["events"] if e["kind"] == "pod.added"
            ]

    wait_until(added, what="the pod.added event")
    log = paths.log_file().read_text()
    assert "pod.added" in log and "leak <redacted>" in log
    assert API_KEY not in log
    assert API_KEY not in daemon.output()  # the foreground stderr


def test_a_key_in_a_traceback_is_redacted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(RedactKey, "secrets", {API_KEY})
    logger = logging.getLogger("rpdevd.test")
    try:
        raise RuntimeError(f"request failed with {API_KEY}")
    except RuntimeError:
        record = logger.makeRecord(
            logger.name, logging.ERROR, __file__, 1, "call with %s", (API_KEY,), sys.exc_info()
        )
    text = LogFormatter("%(levelname)s %(message)s").format(record)
    assert API_KEY not in text
    assert "call with <redacted>" in text and "RuntimeError: request failed with <redacted>" in text
